//! `sample release`: the gateway, the only code path that lets a sample out.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args)]
pub struct ReleaseArgs {}

pub fn run_release(_args: ReleaseArgs) -> Result<ExitCode> {
    bail!("not built yet")
}
