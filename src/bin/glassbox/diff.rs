//! `glassbox diff A B`: where and why two files differ. (Being written: see issue 3.)

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct DiffArgs {
    a: PathBuf,
    b: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(_args: DiffArgs) -> Result<ExitCode> {
    anyhow::bail!("glassbox diff is not written yet")
}
