//! The controlled build environment: where a build happens (the canonical build root) and the
//! exact environment variables cargo runs with. Nothing from the caller's environment leaks in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::toolchain::{Toolchain, SYSTEM_PATH};

/// Default parent of build roots. A build root's path depends only on the source digest, so two
/// builds of the same source run at the same path wherever the checkout is.
pub const DEFAULT_BUILD_BASE: &str = "/tmp/glassbox";

/// The directories of one build, all below `root`. glassbox keeps them on the host; the build
/// itself sees them through [`crate::sandbox::View`], at their inside paths, and the controlled
/// environment is built for those.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRoot {
    pub root: PathBuf,
    /// The staged source tree; cargo runs here.
    pub src: PathBuf,
    pub cargo_home: PathBuf,
    pub home: PathBuf,
    /// Inside the staged tree, as docs/design.md fixes.
    pub target_dir: PathBuf,
}

impl BuildRoot {
    /// `<base>/<first 16 hex of the source digest>`.
    pub fn for_source(base: &Path, source_digest: &Sha256Digest) -> BuildRoot {
        BuildRoot::at(base.join(&source_digest.hex()[..16]))
    }

    pub fn at(root: PathBuf) -> BuildRoot {
        let src = root.join("src");
        BuildRoot {
            cargo_home: root.join("cargo-home"),
            home: root.join("home"),
            target_dir: src.join("target"),
            src,
            root,
        }
    }

    /// Where dependencies are vendored inside the staged tree.
    pub fn vendor_dir(&self) -> PathBuf {
        self.src.join(VENDOR_DIR)
    }
}

/// The vendor directory, relative to the source root. `.glassbox/` is reserved for glassbox.
pub const VENDOR_DIR: &str = ".glassbox/vendor";

/// What paths are remapped to inside the binaries.
pub const REMAP_SRC: &str = "/glassbox/src";
pub const REMAP_CARGO_HOME: &str = "/glassbox/cargo";
pub const REMAP_TARGET: &str = "/glassbox/target";

/// The umask every build runs with.
pub const UMASK: &str = "022";

/// Environment variables and rustflags for one build.
#[derive(Clone, Debug)]
pub struct BuildEnv {
    pub vars: BTreeMap<String, String>,
    pub rustflags: Vec<String>,
    /// The umask cargo runs with ([`UMASK`] except when `check` varies it).
    pub umask: String,
    /// `cargo --jobs`; cargo's default (one per core) when `None`.
    pub jobs: Option<u32>,
    /// Run cargo on this many of glassbox's CPUs; all of them when `None` (only `check` varies
    /// it). Not an environment variable: the CPU affinity cargo inherits.
    pub cpus: Option<usize>,
    /// The host name the sandboxed build sees; the host's when `None` (only `check` varies it).
    pub hostname: Option<String>,
    /// (real path, placeholder), longest path first, for recording without local paths.
    substitutions: Vec<(String, String)>,
}

impl BuildEnv {
    /// The controlled environment for building in `root` with `toolchain`.
    pub fn controlled(root: &BuildRoot, toolchain: &Toolchain, source_date_epoch: i64) -> BuildEnv {
        let p = |path: &Path| path.display().to_string();
        let rustflags = vec![
            // rustc applies the last matching prefix, so the more specific ones come later.
            format!("--remap-path-prefix={}=/rustc/{}", p(&toolchain.rust_src()), toolchain.rustc_version.commit_hash),
            format!("--remap-path-prefix={}={REMAP_CARGO_HOME}", p(&root.cargo_home)),
            format!("--remap-path-prefix={}={REMAP_SRC}", p(&root.src)),
            format!("--remap-path-prefix={}={REMAP_TARGET}", p(&root.target_dir)),
        ];
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_string(), v);
        };
        set("PATH", format!("{}:{SYSTEM_PATH}", p(&toolchain.sysroot.join("bin"))));
        set("HOME", p(&root.home));
        set("CARGO_HOME", p(&root.cargo_home));
        if let Some((home, name)) = &toolchain.rustup {
            set("RUSTUP_HOME", p(home));
            set("RUSTUP_TOOLCHAIN", name.clone());
        }
        set("SOURCE_DATE_EPOCH", source_date_epoch.to_string());
        set("TZ", "UTC".into());
        set("LC_ALL", "C.UTF-8".into());
        set("CARGO_INCREMENTAL", "0".into());
        set("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"));

        let mut substitutions =
            vec![(p(&root.root), "${BUILD_ROOT}".to_string()), (p(&toolchain.sysroot), "${SYSROOT}".to_string())];
        if let Some((home, _)) = &toolchain.rustup {
            substitutions.push((p(home), "${RUSTUP_HOME}".to_string()));
        }
        substitutions.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        BuildEnv { vars, rustflags, umask: UMASK.to_string(), jobs: None, cpus: None, hostname: None, substitutions }
    }

    /// `text` with local paths replaced by placeholders, for the provenance.
    pub fn placeholders(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (path, name) in &self.substitutions {
            out = out.replace(path.as_str(), name);
        }
        out
    }

    /// The variables as recorded in the provenance.
    pub fn recorded_vars(&self) -> BTreeMap<String, String> {
        self.vars.iter().map(|(k, v)| (k.clone(), self.placeholders(v))).collect()
    }

    pub fn recorded_rustflags(&self) -> Vec<String> {
        self.rustflags.iter().map(|f| self.placeholders(f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::RustcVersion;

    fn toolchain() -> Toolchain {
        Toolchain {
            sysroot: "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu".into(),
            rustc: "/x/rustc".into(),
            cargo: "/x/cargo".into(),
            rustc_version: RustcVersion {
                release: "1.95.0".into(),
                commit_hash: "abc".into(),
                commit_date: "2026-04-14".into(),
                host: "x86_64-unknown-linux-gnu".into(),
                llvm_version: "22".into(),
            },
            cargo_version: "cargo 1.95.0".into(),
            rustc_sha256: Sha256Digest([0; 32]),
            linker_version: "cc 12".into(),
            linker_sha256: Sha256Digest([1; 32]),
            rustup: Some(("/home/u/.rustup".into(), "stable-x86_64-unknown-linux-gnu".into())),
        }
    }

    #[test]
    fn recorded_environment_has_no_local_paths() {
        let root = BuildRoot::for_source(Path::new("/tmp/glassbox"), &Sha256Digest::of(b"x"));
        assert_eq!(root.root, Path::new("/tmp/glassbox/2d711642b726b044"));
        let env = BuildEnv::controlled(&root, &toolchain(), 42);
        let rec = env.recorded_vars();
        assert_eq!(rec["HOME"], "${BUILD_ROOT}/home");
        assert_eq!(rec["PATH"], format!("${{SYSROOT}}/bin:{SYSTEM_PATH}"));
        assert_eq!(rec["RUSTUP_HOME"], "${RUSTUP_HOME}");
        assert_eq!(rec["SOURCE_DATE_EPOCH"], "42");
        assert_eq!(
            env.recorded_rustflags(),
            [
                "--remap-path-prefix=${SYSROOT}/lib/rustlib/src/rust=/rustc/abc",
                "--remap-path-prefix=${BUILD_ROOT}/cargo-home=/glassbox/cargo",
                "--remap-path-prefix=${BUILD_ROOT}/src=/glassbox/src",
                "--remap-path-prefix=${BUILD_ROOT}/src/target=/glassbox/target",
            ]
        );
        assert!(!rec.values().any(|v| v.contains("/tmp/") || v.contains("/home/u")));
    }
}
