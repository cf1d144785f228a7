//! `sample audit` and `sample lookup`: the auditor's and the customer's commands.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args)]
pub struct AuditArgs {}

#[derive(Args)]
pub struct LookupArgs {}

pub fn run_audit(_args: AuditArgs) -> Result<ExitCode> {
    bail!("not built yet")
}

pub fn run_lookup(_args: LookupArgs) -> Result<ExitCode> {
    bail!("not built yet")
}
