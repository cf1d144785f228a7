//! `cargo xtask build`: builds `examples/avscan` with `glassbox build` into
//! `target/glassbox/dist` and the repository's `attestations/`, signing with `$GLASSBOX_KEY` or
//! a development key kept under `target/glassbox/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::util::{glassbox_binary, repo_root, sandbox_ready, status};

/// `$GLASSBOX_KEY`, or the development builder key (created on first use), announced loudly.
pub fn signing_key(glassbox: &Path) -> Result<PathBuf> {
    match std::env::var_os("GLASSBOX_KEY").filter(|k| !k.is_empty()) {
        Some(key) => Ok(PathBuf::from(key)),
        None => dev_key(glassbox, "dev-builder"),
    }
}

/// A development key `target/glassbox/<name>.key`, created on first use. Says loudly that
/// nobody should trust what it signs.
pub fn dev_key(glassbox: &Path, name: &str) -> Result<PathBuf> {
    let prefix = repo_root().join("target/glassbox").join(name);
    let key = prefix.with_extension("key");
    if !key.exists() {
        let ok = Command::new(glassbox).args(["key", "generate", "--out"]).arg(&prefix).status()?.success();
        anyhow::ensure!(ok, "could not generate the development key {}", key.display());
    }
    let rule = "*".repeat(76);
    eprintln!("{rule}\n* signing with the DEVELOPMENT key {}", key.display());
    eprintln!("* Nobody should trust what it signs. Set GLASSBOX_KEY / GLASSBOX_REVIEWER_KEY.\n{rule}");
    Ok(key)
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    sandbox_ready("build", args)?;
    let root = repo_root();
    let glassbox = glassbox_binary(false)?;
    let has = |flag: &str| args.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let mut cmd = Command::new(&glassbox);
    cmd.current_dir(&root).arg("build");
    if !has("--key") {
        cmd.arg("--key").arg(signing_key(&glassbox)?);
    }
    if !has("--manifest-path") {
        cmd.args(["--manifest-path", "examples/avscan/Cargo.toml"]);
    }
    if !has("--out") {
        cmd.args(["--out", "target/glassbox/dist"]);
    }
    if !has("--attestations") {
        cmd.args(["--attestations", "attestations"]);
    }
    cmd.args(args);
    let code = status(&mut cmd).context("running glassbox build")?.code().unwrap_or(2);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)))
}
