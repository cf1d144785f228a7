//! `sample intake`, `sample receipts`, `sample forget`: the center operator's commands.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args)]
pub struct IntakeArgs {}

#[derive(Args)]
pub struct ReceiptsArgs {}

#[derive(Args)]
pub struct ForgetArgs {}

pub fn run_intake(_args: IntakeArgs) -> Result<ExitCode> {
    bail!("not built yet")
}

pub fn run_receipts(_args: ReceiptsArgs) -> Result<ExitCode> {
    bail!("not built yet")
}

pub fn run_forget(_args: ForgetArgs) -> Result<ExitCode> {
    bail!("not built yet")
}
