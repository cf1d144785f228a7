//! `sample request` and `sample decide`: the requester's and the approvers' commands.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args)]
pub struct RequestArgs {}

#[derive(Args)]
pub struct DecideArgs {}

pub fn run_request(_args: RequestArgs) -> Result<ExitCode> {
    bail!("not built yet")
}

pub fn run_decide(_args: DecideArgs) -> Result<ExitCode> {
    bail!("not built yet")
}
