//! `glassbox verify ARTIFACT --policy FILE`: accept or reject an artifact with the evidence.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::policy::{verify, Policy, Verdict};
use glassbox::text::escape;

use crate::render::print_json;

#[derive(Args)]
pub struct VerifyArgs {
    /// The artifact: a bundle or a single binary.
    artifact: PathBuf,
    /// The trust policy (TOML); key paths in it are relative to it.
    #[arg(long)]
    policy: PathBuf,
    /// Where the statements are (default: the policy file's directory).
    #[arg(long)]
    attestations: Option<PathBuf>,
    /// The transparency log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`)
    /// (default: <attestations>/log).
    #[arg(long)]
    log: Option<String>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let attestations = args.attestations.unwrap_or_else(|| {
        args.policy.parent().map(PathBuf::from).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| ".".into())
    });
    let log = args.log.as_deref().map(crate::log::open_log).transpose()?;
    let verdict = verify(&args.artifact, &policy, &attestations, log.as_ref())?;
    if args.json {
        print_json(&verdict)?;
    } else {
        print!("{}", render(&verdict));
    }
    Ok(if verdict.accepted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The report. Every name in it (the artifact, statement files, key paths, anything a statement
/// says) is escaped: a file named with a newline must not forge a `[met]` or `ACCEPTED` line.
fn render(v: &Verdict) -> String {
    let mut out = format!("{} sha256:{}\n", escape(&v.artifact.display().to_string()), v.sha256.hex());
    for r in &v.requirements {
        out.push_str(&format!(
            "\n[{}] {}: {}\n",
            if r.met { "met" } else { "UNMET" },
            escape(&r.name),
            escape(&r.summary)
        ));
        for e in &r.evidence {
            let key = e.key.as_deref().map_or("untrusted or unknown key".to_string(), |k| format!("key {}", escape(k)));
            let log = e.log_index.map_or(String::new(), |i| format!(", log index {i}"));
            out.push_str(&format!(
                "    {} {}: {}, {key}{log}\n",
                if e.counted { "+" } else { "-" },
                escape(&e.statement),
                escape(&e.detail)
            ));
        }
    }
    out.push_str(if v.accepted { "\nACCEPTED\n" } else { "\nREJECTED\n" });
    out
}
