//! `cargo xtask check`: `glassbox check` on `examples/avscan`: is the example reproducible under
//! every variation, and if not, why.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::util::{glassbox_binary, repo_root, sandbox_ready, status};

pub fn run(args: &[String]) -> Result<ExitCode> {
    sandbox_ready("check", args)?;
    let root = repo_root();
    let glassbox = glassbox_binary(false)?;
    let mut cmd = Command::new(&glassbox);
    cmd.current_dir(&root).arg("check");
    if !args.iter().any(|a| a == "--manifest-path" || a.starts_with("--manifest-path=")) {
        cmd.args(["--manifest-path", "examples/avscan/Cargo.toml"]);
    }
    cmd.args(args);
    let code = status(&mut cmd).context("running glassbox check")?.code().unwrap_or(2);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)))
}
