//! `glassbox site --attestations DIR --log LOG --policy P [--log-url URL] --out SITE`: the static
//! transparency site (docs/site.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::site::{generate, SiteRequest};

use crate::render::print_json;

#[derive(Args)]
pub struct SiteArgs {
    /// The attestations directory.
    #[arg(long)]
    attestations: PathBuf,
    /// The transparency log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    #[arg(long)]
    log: String,
    /// The trust policy the verdicts are given under.
    #[arg(long)]
    policy: PathBuf,
    /// Where the pages fetch the log from: an absolute URL, or a path relative to the site.
    #[arg(long, default_value = "log/")]
    log_url: String,
    /// The output directory (created; only files whose bytes change are rewritten, and files an
    /// earlier run wrote that the site no longer has are removed).
    #[arg(long)]
    out: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: SiteArgs) -> Result<ExitCode> {
    let summary = generate(&SiteRequest {
        attestations: args.attestations,
        log: crate::log::open_log(&args.log)?,
        policy: args.policy,
        log_url: args.log_url,
        out: args.out,
    })?;
    if args.json {
        print_json(&summary)?;
    } else {
        println!(
            "wrote {} of {} files to {} ({} unchanged, {} removed): {} releases, {} statements, {} custody entries, log size {}",
            summary.files_written,
            summary.files,
            summary.out.display(),
            summary.files - summary.files_written,
            summary.files_removed,
            summary.releases,
            summary.statements,
            summary.custody_entries,
            summary.log_size
        );
    }
    Ok(ExitCode::SUCCESS)
}
