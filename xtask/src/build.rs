//! `cargo xtask build`: builds `examples/avscan` with `glassbox build` into
//! `target/glassbox/dist` and the repository's `attestations/`, signing with `$GLASSBOX_KEY` or
//! a development key kept under `target/glassbox/`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::util::{glassbox_binary, repo_root, status};

/// The development builder key's path prefix.
pub fn dev_key_prefix() -> PathBuf {
    repo_root().join("target/glassbox/dev-builder")
}

/// `$GLASSBOX_KEY`, or the development key (created on first use), announced loudly.
pub fn signing_key(glassbox: &PathBuf) -> Result<PathBuf> {
    if let Some(key) = std::env::var_os("GLASSBOX_KEY").filter(|k| !k.is_empty()) {
        return Ok(PathBuf::from(key));
    }
    let prefix = dev_key_prefix();
    let key = prefix.with_extension("key");
    if !key.exists() {
        let ok = Command::new(glassbox).args(["key", "generate", "--out"]).arg(&prefix).status()?.success();
        anyhow::ensure!(ok, "could not generate the development key {}", key.display());
    }
    let rule = "*".repeat(76);
    eprintln!("{rule}\n* GLASSBOX_KEY is not set: signing with the DEVELOPMENT key\n* {}", key.display());
    eprintln!("* Nobody should trust these attestations. Set GLASSBOX_KEY to a real key.\n{rule}");
    Ok(key)
}

pub fn run(args: &[String]) -> Result<ExitCode> {
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
