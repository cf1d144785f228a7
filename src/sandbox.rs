//! The sandbox the vendor's build code runs in. Build scripts and proc macros are the vendor's
//! code; `build`, `check` and `rebuild` run cargo (and `cargo metadata` on the staged tree)
//! under bubblewrap: no network, no view of the caller's home, keys or other files, only the
//! toolchain, the system's programs and libraries, a private `/tmp`, and the build root
//! (writable) mounted at a canonical path below [`INSIDE_BASE`], whose ancestors glassbox
//! controls, so no `.cargo/config.toml` but the project's own is ever found.
//!
//! The library never searches `PATH`: the caller finds `bwrap` and passes it in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, Result};

/// Where build roots are mounted inside the sandbox: the same path as the default build base,
/// so that provenance built there before the sandbox existed (the legacy layout) rebuilds at
/// the same paths.
pub const INSIDE_BASE: &str = "/tmp/glassbox";

/// The command that installs bubblewrap (Debian, Ubuntu).
pub const INSTALL_HINT: &str = "apt-get install bubblewrap";

/// The name a sandboxed build records as its tool.
pub const TOOL_BUBBLEWRAP: &str = "bubblewrap";

/// The name a build without a sandbox (`--no-sandbox`) records as its tool.
pub const TOOL_NONE: &str = "none";

/// System directories the linker and the C compiler need, read-only. Those that are symlinks
/// on the host (merged `/usr`) are recreated as the same symlinks.
const SYSTEM_DIRS: [&str; 7] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The few files of `/etc` that the dynamic loader and `cc` (a Debian alternative) read.
const SYSTEM_ETC: [&str; 4] = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"];

/// How the vendor's code is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sandbox {
    /// Under bubblewrap.
    Bubblewrap {
        program: PathBuf,
        /// `bwrap --version` without the name, e.g. `0.8.0`.
        version: String,
    },
    /// Directly on the host (`--no-sandbox`).
    Disabled,
}

impl Sandbox {
    /// The sandbox for a build: bubblewrap at `bwrap` (found by the caller), or none when
    /// `disabled`. Refuses (could not answer) when the sandbox is wanted and there is no bwrap.
    pub fn choose(bwrap: Option<&Path>, disabled: bool) -> Result<Sandbox> {
        if disabled {
            return Ok(Sandbox::Disabled);
        }
        let Some(program) = bwrap else {
            return Err(Error::invalid(
                "bwrap",
                format!(
                    "bubblewrap is not installed, and the vendor's build code runs only in its sandbox: `{INSTALL_HINT}` (or pass --no-sandbox to run it unconfined)"
                ),
            ));
        };
        let out =
            Command::new(program).arg("--version").env_clear().output().map_err(|e| {
                Error::tool("bwrap", format!("cannot run {} ({e}); `{INSTALL_HINT}`", program.display()))
            })?;
        let printed = String::from_utf8_lossy(&out.stdout);
        let version = printed.trim().strip_prefix("bubblewrap ").unwrap_or(printed.trim()).to_string();
        if !out.status.success() || version.is_empty() {
            return Err(Error::tool("bwrap", format!("{} --version failed", program.display())));
        }
        Ok(Sandbox::Bubblewrap { program: program.to_path_buf(), version })
    }

    /// The recorded tool name: [`TOOL_BUBBLEWRAP`] or [`TOOL_NONE`].
    pub fn tool(&self) -> &'static str {
        match self {
            Sandbox::Bubblewrap { .. } => TOOL_BUBBLEWRAP,
            Sandbox::Disabled => TOOL_NONE,
        }
    }

    pub fn version(&self) -> Option<&str> {
        match self {
            Sandbox::Bubblewrap { version, .. } => Some(version),
            Sandbox::Disabled => None,
        }
    }

    /// How the build in `host` (a build root below `host_base`) sees its directories. In the
    /// sandbox every path below `host_base` appears below [`INSIDE_BASE`] instead; without one,
    /// the build sees the host paths, and a `.cargo` directory in any ancestor of the build
    /// root (which cargo would read) is refused.
    pub fn view(&self, host: &BuildRoot, host_base: &Path, sysroot: &Path) -> Result<View> {
        let Sandbox::Bubblewrap { program, .. } = self else {
            refuse_foreign_cargo_config(&host.root)?;
            return Ok(View { inside: host.clone(), mounts: Vec::new(), bwrap: None });
        };
        let inside_of = |path: &Path| -> Result<PathBuf> {
            let rel = path
                .strip_prefix(host_base)
                .map_err(|_| Error::invalid(path.display(), format!("is not below {}", host_base.display())))?;
            Ok(Path::new(INSIDE_BASE).join(rel))
        };
        let inside = BuildRoot {
            root: inside_of(&host.root)?,
            src: inside_of(&host.src)?,
            cargo_home: inside_of(&host.cargo_home)?,
            home: inside_of(&host.home)?,
            target_dir: inside_of(&host.target_dir)?,
        };
        // The root, plus the cargo home and home when `check` moved them out of it.
        let mut mounts = vec![(host.root.clone(), inside.root.clone())];
        for (h, i) in [(&host.cargo_home, &inside.cargo_home), (&host.home, &inside.home)] {
            if !h.starts_with(&host.root) {
                mounts.push((h.clone(), i.clone()));
            }
        }
        mounts.sort_by_key(|(_, i)| i.as_os_str().len());
        let bwrap = Bwrap { program: program.clone(), sysroot: sysroot.to_path_buf() };
        Ok(View { inside, mounts, bwrap: Some(bwrap) })
    }
}

/// The canonical build root of a source inside the sandbox: `/tmp/glassbox/<16 hex>`.
pub fn canonical_root(source_digest: &Sha256Digest) -> PathBuf {
    BuildRoot::for_source(Path::new(INSIDE_BASE), source_digest).root
}

#[derive(Clone, Debug)]
struct Bwrap {
    program: PathBuf,
    sysroot: PathBuf,
}

/// One build root as the build sees it, and the mounts that make it so.
#[derive(Clone, Debug)]
pub struct View {
    /// The build root's directories as cargo sees them.
    pub inside: BuildRoot,
    /// (host directory, inside path), shortest inside path first; empty without a sandbox.
    mounts: Vec<(PathBuf, PathBuf)>,
    bwrap: Option<Bwrap>,
}

impl View {
    /// True when the build runs in the sandbox.
    pub fn sandboxed(&self) -> bool {
        self.bwrap.is_some()
    }

    /// `text` (a cargo argument) with host paths of the build replaced by inside paths.
    pub fn inside_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (host, inside) in self.mounts.iter().rev() {
            out = out.replace(&host.display().to_string(), &inside.display().to_string());
        }
        out
    }

    /// The host path of a path the build reported (an artifact).
    pub fn host_path(&self, path: &Path) -> PathBuf {
        for (host, inside) in self.mounts.iter().rev() {
            if let Ok(rel) = path.strip_prefix(inside) {
                return host.join(rel);
            }
        }
        path.to_path_buf()
    }

    /// A command that runs `program` in `cwd` (an inside path) with exactly the variables
    /// `env`: in the sandbox, or directly without one. The caller adds the arguments.
    pub fn command(&self, program: &Path, cwd: &Path, env: &BTreeMap<String, String>) -> Command {
        self.command_on(program, cwd, env, None)
    }

    /// [`View::command`], seeing the host name `hostname` instead of the host's (only in the
    /// sandbox, whose UTS namespace is its own; `check` varies it).
    pub fn command_on(
        &self,
        program: &Path,
        cwd: &Path,
        env: &BTreeMap<String, String>,
        hostname: Option<&str>,
    ) -> Command {
        let Some(bwrap) = &self.bwrap else {
            let mut cmd = Command::new(program);
            cmd.current_dir(cwd).env_clear().envs(env);
            return cmd;
        };
        let mut cmd = Command::new(&bwrap.program);
        cmd.env_clear().current_dir("/");
        cmd.args(["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]);
        if let Some(name) = hostname {
            cmd.arg("--hostname").arg(name);
        }
        cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        for dir in SYSTEM_DIRS {
            match std::fs::read_link(dir) {
                Ok(target) => {
                    cmd.arg("--symlink").arg(target).arg(dir);
                }
                Err(_) if Path::new(dir).is_dir() => {
                    cmd.args(["--ro-bind", dir, dir]);
                }
                Err(_) => {}
            }
        }
        for file in SYSTEM_ETC {
            cmd.args(["--ro-bind-try", file, file]);
        }
        cmd.arg("--ro-bind").arg(&bwrap.sysroot).arg(&bwrap.sysroot);
        for (host, inside) in &self.mounts {
            cmd.arg("--bind").arg(host).arg(inside);
        }
        cmd.arg("--chdir").arg(cwd);
        for (k, v) in env {
            cmd.args(["--setenv", k, v]);
        }
        cmd.arg("--").arg(program);
        cmd
    }
}

/// Without a sandbox cargo reads `.cargo/config.toml` in every ancestor of its working
/// directory; one above the build root (say `/tmp/.cargo`, which any local user can create)
/// could set `build.rustc-wrapper`. Refuse rather than run it.
fn refuse_foreign_cargo_config(root: &Path) -> Result<()> {
    for dir in root.ancestors() {
        let candidate = dir.join(".cargo");
        if std::fs::symlink_metadata(&candidate).is_ok() {
            return Err(Error::invalid(
                candidate.display(),
                "cargo would read this directory's configuration in a build outside the sandbox; remove it, choose another --build-base, or drop --no-sandbox",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bwrap() -> Sandbox {
        Sandbox::Bubblewrap { program: "/usr/bin/bwrap".into(), version: "0.8.0".into() }
    }

    #[test]
    fn the_build_root_appears_at_the_canonical_path() {
        let digest = Sha256Digest::of(b"x");
        let host = BuildRoot::for_source(Path::new("/home/u/.cache/gb"), &digest);
        let view = bwrap().view(&host, Path::new("/home/u/.cache/gb"), Path::new("/opt/rust")).unwrap();
        assert_eq!(view.inside.root, canonical_root(&digest));
        assert_eq!(view.inside.root, Path::new("/tmp/glassbox/2d711642b726b044"));
        assert_eq!(view.inside.src, view.inside.root.join("src"));
        assert_eq!(view.mounts, [(host.root.clone(), view.inside.root.clone())]);
        let flag = format!("source.\"v\".directory=\"{}\"", host.vendor_dir().display());
        assert_eq!(
            view.inside_text(&flag),
            format!("source.\"v\".directory=\"{}\"", view.inside.vendor_dir().display())
        );
        let artifact = view.inside.target_dir.join("release/app");
        assert_eq!(view.host_path(&artifact), host.target_dir.join("release/app"));
        let cmd = view.command(Path::new("/bin/sh"), &view.inside.src, &BTreeMap::from([("A".into(), "1".into())]));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        for expected in ["--unshare-all", "--clearenv", "--die-with-parent", "--new-session", "/opt/rust"] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing from {args:?}");
        }
        assert!(!args.iter().any(|a| a.starts_with("/home/u") && !a.starts_with("/home/u/.cache/gb")), "{args:?}");
        assert_eq!(args[args.len() - 2..], ["--", "/bin/sh"]);
        assert!(!args.iter().any(|a| a == "--hostname"), "{args:?}");
        let cmd = view.command_on(Path::new("/bin/sh"), &view.inside.src, &BTreeMap::new(), Some("other"));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["--hostname", "other"]), "{args:?}");
    }

    #[test]
    fn moved_cargo_homes_are_mounted_too_and_paths_outside_the_base_are_refused() {
        let mut host = BuildRoot::at("/b/check-1/varied/root".into());
        host.cargo_home = "/b/check-1/varied/cargo".into();
        let view = bwrap().view(&host, Path::new("/b"), Path::new("/opt/rust")).unwrap();
        assert_eq!(view.inside.cargo_home, Path::new("/tmp/glassbox/check-1/varied/cargo"));
        assert_eq!(view.mounts.len(), 2);
        host.home = "/elsewhere/home".into();
        assert!(bwrap().view(&host, Path::new("/b"), Path::new("/opt/rust")).is_err());
    }

    #[test]
    fn without_a_sandbox_paths_stay_and_an_ancestor_cargo_config_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let host = BuildRoot::at(dir.path().join("base/root"));
        let view = Sandbox::Disabled.view(&host, &dir.path().join("base"), Path::new("/opt/rust")).unwrap();
        assert_eq!(view.inside, host);
        assert!(!view.sandboxed());
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        let err = Sandbox::Disabled.view(&host, &dir.path().join("base"), Path::new("/")).unwrap_err();
        assert!(err.to_string().contains(".cargo"), "{err}");
    }

    #[test]
    fn a_missing_bwrap_is_refused_with_the_install_line() {
        let err = Sandbox::choose(None, false).unwrap_err();
        assert!(err.to_string().contains(INSTALL_HINT), "{err}");
        assert_eq!(Sandbox::choose(None, true).unwrap(), Sandbox::Disabled);
    }
}
