//! Helpers shared by xtask tasks: the repository root, running commands, the glassbox binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{bail, Context, Result};

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    let xtask_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().map(Path::to_path_buf).unwrap_or(xtask_dir)
}

/// The cargo that runs us (falls back to `cargo` on PATH).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd`, echoing it; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd`, echoing it, and returns its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("$ {}", describe(cmd));
    cmd.status().with_context(|| format!("cannot run `{}`", describe(cmd)))
}

pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// Builds the glassbox binary (profile `release` or `dev`) and returns its path.
pub fn glassbox_binary(release: bool) -> Result<PathBuf> {
    let root = repo_root();
    let mut cmd = cargo();
    cmd.current_dir(&root).args(["build", "--locked", "--quiet", "--bin", "glassbox"]);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    Ok(dir.join(if release { "release" } else { "debug" }).join("glassbox"))
}
