//! `glassbox site --attestations DIR --log LOG --policy P [--log-url URL] --out SITE`: the static
//! transparency site (docs/site.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::site::{generate, SiteRequest, SiteSummary};

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
    /// Where the pages fetch the log from: an https:// URL, or a path relative to the site (then copy
    /// the log there; a copy already there must be this log, at least as large).
    #[arg(long, default_value = "log/")]
    log_url: String,
    /// The output directory (created; only files whose bytes change are rewritten, and files an
    /// earlier run wrote that the site no longer has are removed).
    #[arg(long)]
    out: PathBuf,
    /// A file glassbox keeps between runs (created if missing, mode 0600; never inside --out), so
    /// that a run over a grown log redoes only what the new entries need; the site written is the
    /// same with or without it (docs/site.md, "Regenerating after every append").
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: SiteArgs) -> Result<ExitCode> {
    let log_arg = args.log.clone();
    let summary = generate(&SiteRequest {
        attestations: args.attestations,
        log: crate::log::open_log(&args.log)?,
        policy: args.policy,
        log_url: args.log_url,
        out: args.out,
        state: args.state,
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
        if let Some(state) = &summary.state {
            match &state.discarded {
                Some(why) => println!("state: {} was not used ({why}); it now holds this run's", state.file.display()),
                None => println!(
                    "state: {} custody entries taken from {}, which now holds this run's",
                    state.custody_entries_reused,
                    state.file.display()
                ),
            }
        }
        println!("{}", next_step(&summary, &log_arg));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the operator does next for the pages to find the log (docs/site.md, "Publishing").
fn next_step(summary: &SiteSummary, log: &str) -> String {
    let out = summary.out.display();
    let serve = "serve it over HTTPS (browsers check signatures only on https:// pages, or http://localhost)";
    match &summary.log.log_copy {
        None => format!(
            "next: {serve}; the pages fetch the log from {}, which must serve it with \
             Access-Control-Allow-Origin for the site's origin",
            summary.log.log_url
        ),
        Some(copy) if summary.log.log_copy_present => {
            format!("next: {serve}; the log is already at {}", summary.out.join(copy).display())
        }
        Some(copy) => {
            let dest = summary.out.join(copy);
            let dest = dest.display();
            format!(
                "next: the pages fetch the log from {dest}/ (--log-url {}), which holds no log yet.\n\
                 \x20 copy the log there, and again each time it grows:  cp -a {log}/. {dest}/\n\
                 \x20 (from a bucket or URL: glassbox log mirror {log} {dest} --vkey <log.vkey>),\n\
                 \x20 or pass --log-url with the https:// URL the log is served from;\n\
                 \x20 then {serve}: {out}",
                summary.log.log_url
            )
        }
    }
}
