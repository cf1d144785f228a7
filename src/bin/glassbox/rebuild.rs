//! `glassbox rebuild`: rebuild a vendor's provenance from the source, offline, and sign a
//! verdict.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use glassbox::attest::DEFAULT_VERIFIER_ID;
use glassbox::env::DEFAULT_BUILD_BASE;
use glassbox::keys::PublicKey;
use glassbox::rebuild::{rebuild, RebuildOutcome, RebuildRequest};

use crate::build::SandboxArgs;
use crate::context::{host_env, now, TerminalProgress};
use crate::render::{print_json, table};

#[derive(Args)]
pub struct RebuildArgs {
    /// The vendor's `<target>.provenance.intoto.jsonl`.
    provenance: PathBuf,
    /// The source bundle (`*-src.tar.gz`) or a source directory.
    #[arg(long)]
    source: PathBuf,
    /// A builder public key to trust (repeatable; at least one).
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Sign a verdict (SLSA VSA) with this private key, written next to the provenance.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The verdict's `verifier.id`: who rebuilt (a URI).
    #[arg(long, default_value = DEFAULT_VERIFIER_ID)]
    verifier_id: String,
    /// Copy the rebuilt artifacts and bundle here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The vendor's binary bundle (or --out directory) to explain a mismatch against; default:
    /// the binary bundle next to the source bundle.
    #[arg(long)]
    expected: Option<PathBuf>,
    /// Rebuild with the local toolchain even when it is not the attested one (never PASSED).
    #[arg(long)]
    allow_toolchain_mismatch: bool,
    /// Parent directory of the canonical build roots.
    #[arg(long, default_value = DEFAULT_BUILD_BASE)]
    build_base: PathBuf,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    publish: crate::log_serve::PublishArgs,
}

pub fn run(args: RebuildArgs) -> Result<ExitCode> {
    args.publish.check()?;
    let trusted =
        args.trust.iter().map(|p| PublicKey::read(p).context("reading a --trust key")).collect::<Result<Vec<_>>>()?;
    let key =
        args.key.as_deref().map(crate::context::private_key).transpose().context("reading the verdict key (--key)")?;
    let progress = TerminalProgress::new();
    let outcome = rebuild(&RebuildRequest {
        provenance: args.provenance,
        source: args.source,
        trusted,
        key: key.as_ref(),
        verifier_id: args.verifier_id,
        out_dir: args.out,
        expected: args.expected,
        allow_toolchain_mismatch: args.allow_toolchain_mismatch,
        build_base: args.build_base,
        sandbox: args.sandbox.sandbox()?,
        host_env: host_env(),
        clock: &now,
        progress: &progress,
    })?;
    drop(progress);
    // The verdict goes to the log service (with --log) before it is reported as written.
    let published = match &outcome.verdict_file {
        Some(file) => crate::log_serve::publish(&args.publish, file)?,
        None if args.publish.requested() => {
            anyhow::bail!(glassbox::Error::invalid("--log", "there is no verdict to log without --key"))
        }
        None => Vec::new(),
    };
    if args.json {
        print_json(&outcome)?;
    } else {
        print!("{}", render(&outcome));
        for p in &published {
            println!("verdict logged as entry {}; receipt {}", p.index, p.receipt.display());
        }
    }
    Ok(if outcome.reproduced { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn short(hex: &Option<String>) -> String {
    hex.as_deref().map_or("(none)".to_string(), |h| format!("{}…", &h[..16.min(h.len())]))
}

fn render(o: &RebuildOutcome) -> String {
    let rows: Vec<Vec<String>> = o
        .artifacts
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                short(&a.expected),
                short(&a.actual),
                if a.matches { "MATCH" } else { "DIFFER" }.into(),
            ]
        })
        .collect();
    let mut out = format!(
        "rebuilt {} for {} from source {}\nprovenance signed by {}\ntoolchain {}\nsandbox {}\n\n",
        o.stem,
        o.target,
        o.source_digest.prefixed(),
        o.builder_key,
        o.toolchain,
        match &o.sandbox.version {
            Some(version) => format!("{} {version}", o.sandbox.tool),
            None => format!("{} (--no-sandbox: the vendor's build code ran unconfined)", o.sandbox.tool),
        }
    );
    out.push_str(&table(&["artifact", "expected", "actual", ""], &rows));
    for note in &o.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    for d in &o.differences {
        out.push_str(&format!("\n{} differs from the vendor's copy: {}\n", d.name, d.report.summary()));
        out.push_str(&crate::diff::render(&d.report));
    }
    out.push('\n');
    out.push_str(if o.reproduced { "REPRODUCED: every artifact matches\n" } else { "NOT REPRODUCED\n" });
    for f in &o.rebuilt_files {
        out.push_str(&format!("wrote {}\n", f.display()));
    }
    if let Some(v) = &o.verdict_file {
        out.push_str(&format!(
            "wrote {} ({})\n",
            v.display(),
            if o.reproduced && !o.toolchain_mismatch { "PASSED" } else { "FAILED" }
        ));
    }
    if let Some(l) = &o.build_log_file {
        out.push_str(&format!("wrote {} (the build's log, which the verdict names)\n", l.display()));
    }
    if let Some(d) = &o.differences_file {
        out.push_str(&format!("wrote {} (the mismatch reports the verdict names)\n", d.display()));
    }
    out
}
