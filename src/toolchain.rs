//! The Rust toolchain a build uses: `rustc -vV`, `cargo -V`, the linker and the sha256 of the
//! rustc binary. A rebuild must use the same toolchain; this is what the provenance pins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};

/// `rustc -vV`, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RustcVersion {
    pub release: String,
    pub commit_hash: String,
    pub commit_date: String,
    pub host: String,
    pub llvm_version: String,
}

/// A toolchain found on this machine.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// `rustc --print sysroot`: the toolchain directory (`<sysroot>/bin/rustc`).
    pub sysroot: PathBuf,
    pub rustc: PathBuf,
    pub cargo: PathBuf,
    pub rustc_version: RustcVersion,
    /// `cargo -V`.
    pub cargo_version: String,
    pub rustc_sha256: Sha256Digest,
    /// First line of `cc --version`.
    pub linker_version: String,
    /// sha256 of the linker driver the build's `PATH` finds (symlinks resolved).
    pub linker_sha256: Sha256Digest,
    /// When the toolchain lives in a rustup home: (RUSTUP_HOME, toolchain name).
    pub rustup: Option<(PathBuf, String)>,
}

/// The linker glassbox's builds use (cargo's default for Linux targets).
pub const LINKER: &str = "cc";

/// The system part of a build's `PATH`, after the toolchain's own `bin`: where the linker lives.
pub const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

impl Toolchain {
    /// Finds the toolchain that `rustc` resolves to in the environment `env` (so a rustup
    /// `RUSTUP_TOOLCHAIN` or override is honoured). `toolchain` names a rustup toolchain to use
    /// instead (`+1.95.0`).
    pub fn detect(env: &BTreeMap<String, String>, toolchain: Option<&str>) -> Result<Toolchain> {
        let mut env = env.clone();
        if let Some(name) = toolchain {
            env.insert("RUSTUP_TOOLCHAIN".into(), name.into());
        }
        let sysroot = PathBuf::from(run(Command::new("rustc").args(["--print", "sysroot"]), &env)?.trim());
        let rustc = sysroot.join("bin/rustc");
        let cargo = [sysroot.join("bin/cargo"), PathBuf::from("/usr/bin/cargo")]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| Error::tool("cargo", format!("no cargo beside {}", rustc.display())))?;
        let vv = run(Command::new(&rustc).arg("-vV"), &env)?;
        let rustc_version = parse_rustc_vv(&vv)?;
        let cargo_version = run(Command::new(&cargo).arg("-V"), &env)?.trim().to_string();
        let rustc_bytes = std::fs::read(&rustc).at(&rustc)?;
        // The linker the build will find: the toolchain's bin first, then the system dirs.
        let build_path = format!("{}:{SYSTEM_PATH}", sysroot.join("bin").display());
        let linker = which(LINKER, &build_path)
            .ok_or_else(|| Error::tool(LINKER, format!("no {LINKER} in {SYSTEM_PATH}; install a C toolchain (gcc)")))?;
        let linker_version =
            run(Command::new(&linker).arg("--version"), &env)?.lines().next().unwrap_or_default().to_string();
        let linker_real = std::fs::canonicalize(&linker).at(&linker)?;
        let linker_sha256 = Sha256Digest::of(&std::fs::read(&linker_real).at(&linker_real)?);
        let rustup = match (sysroot.parent(), sysroot.file_name()) {
            (Some(dir), Some(name)) if dir.file_name().is_some_and(|n| n == "toolchains") => {
                dir.parent().map(|home| (home.to_path_buf(), name.to_string_lossy().into_owned()))
            }
            _ => None,
        };
        Ok(Toolchain {
            rustc_sha256: Sha256Digest::of(&rustc_bytes),
            sysroot,
            rustc,
            cargo,
            rustc_version,
            cargo_version,
            linker_version,
            linker_sha256,
            rustup,
        })
    }

    /// The path rust-src sources are remapped from: `<sysroot>/lib/rustlib/src/rust`.
    pub fn rust_src(&self) -> PathBuf {
        self.sysroot.join("lib/rustlib/src/rust")
    }
}

/// Which toolchain a rebuild uses.
#[derive(Debug)]
pub enum ToolchainChoice {
    /// The toolchain `rustc` resolves to is the attested one.
    Local(Toolchain),
    /// Another installed rustup toolchain is the attested one.
    Selected(Toolchain),
    /// None installed is; this is the local one.
    Mismatch(Toolchain),
}

impl RustcVersion {
    /// Same compiler: release, commit and host (the LLVM version follows from the commit).
    pub fn same_compiler(&self, other: &RustcVersion) -> bool {
        self.release == other.release && self.commit_hash == other.commit_hash && self.host == other.host
    }

    /// `1.95.0 (59807616e 2026-04-14)`.
    pub fn describe(&self) -> String {
        format!("{} ({} {})", self.release, self.commit_hash.get(..9).unwrap_or(&self.commit_hash), self.commit_date)
    }

    /// The rustup command that installs this toolchain.
    pub fn install_hint(&self) -> String {
        let channel = if self.release.contains("nightly") {
            format!("nightly-{}", self.commit_date)
        } else if self.release.contains("beta") {
            format!("beta-{}", self.commit_date)
        } else {
            self.release.clone()
        };
        format!("rustup toolchain install {channel} --profile minimal --target {}", self.host)
    }
}

impl ToolchainChoice {
    /// Finds the attested compiler: the local toolchain, else any installed rustup toolchain.
    pub fn find(env: &BTreeMap<String, String>, attested: &RustcVersion) -> Result<ToolchainChoice> {
        let local = Toolchain::detect(env, None)?;
        if local.rustc_version.same_compiler(attested) {
            return Ok(ToolchainChoice::Local(local));
        }
        let listed = run(Command::new("rustup").args(["toolchain", "list"]), env).unwrap_or_default();
        for line in listed.lines() {
            let Some(name) = line.split_whitespace().next() else { continue };
            if let Ok(tc) = Toolchain::detect(env, Some(name)) {
                if tc.rustc_version.same_compiler(attested) {
                    return Ok(ToolchainChoice::Selected(tc));
                }
            }
        }
        Ok(ToolchainChoice::Mismatch(local))
    }
}

/// Parses `rustc -vV` output.
pub fn parse_rustc_vv(text: &str) -> Result<RustcVersion> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
            .map(str::to_string)
            .ok_or_else(|| Error::tool("rustc -vV", format!("output has no {name:?} line")))
    };
    Ok(RustcVersion {
        release: field("release")?,
        commit_hash: field("commit-hash")?,
        commit_date: field("commit-date")?,
        host: field("host")?,
        llvm_version: field("LLVM version").unwrap_or_default(),
    })
}

fn run(cmd: &mut Command, env: &BTreeMap<String, String>) -> Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .env_clear()
        .envs(env)
        .output()
        .map_err(|e| Error::tool(&program, format!("cannot run {program} ({e}); is it installed and on PATH?")))?;
    if !out.status.success() {
        return Err(Error::tool(&program, String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    String::from_utf8(out.stdout).map_err(|_| Error::tool(&program, "printed non-UTF-8 output"))
}

/// The absolute path of `program` found in `path_var` (a `PATH` value).
pub fn which(program: &str, path_var: &str) -> Option<PathBuf> {
    path_var.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rustc_vv() {
        let text = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\n\
                    commit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860\ncommit-date: 2026-04-14\n\
                    host: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        let v = parse_rustc_vv(text).unwrap();
        assert_eq!(v.release, "1.95.0");
        assert_eq!(v.commit_hash, "59807616e1fa2540724bfbac14d7976d7e4a3860");
        assert_eq!(v.host, "x86_64-unknown-linux-gnu");
        assert_eq!(v.llvm_version, "22.1.2");
        assert!(parse_rustc_vv("rustc 1.0").is_err());
        assert_eq!(v.describe(), "1.95.0 (59807616e 2026-04-14)");
        assert_eq!(
            v.install_hint(),
            "rustup toolchain install 1.95.0 --profile minimal --target x86_64-unknown-linux-gnu"
        );
        let mut other = v.clone();
        other.commit_hash.push('0');
        assert!(v.same_compiler(&v) && !v.same_compiler(&other));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            #[test]
            fn any_rustc_output_is_handled(text in "\\PC{0,300}") {
                let _ = parse_rustc_vv(&text);
            }

            /// The fields `rustc -vV` prints read back as themselves.
            #[test]
            fn printed_fields_read_back(release in "[0-9a-z.-]{1,16}", hash in "[0-9a-f]{1,40}", host in "[a-z0-9_-]{1,30}") {
                let text = format!("rustc {release}\nbinary: rustc\ncommit-hash: {hash}\ncommit-date: 2026-04-14\nhost: {host}\nrelease: {release}\nLLVM version: 22\n");
                let v = parse_rustc_vv(&text).unwrap();
                prop_assert_eq!((v.release, v.commit_hash, v.host), (release, hash, host));
            }
        }
    }
}
