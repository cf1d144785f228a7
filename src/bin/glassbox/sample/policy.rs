//! `sample policy`: the center operator publishes the custody policy. It signs the policy
//! statement (the policy's text and key files, formats.md section 18) and writes the envelope;
//! the log's operator appends it (`glassbox log append`) before the first request under it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::custody::policies::{refuse_operator_paths, sign_policy};
use glassbox::policy::Policy;
use glassbox::text::escape;
use glassbox::time::Timestamp;
use serde_json::json;

use crate::context::{now, private_key};
use crate::render::print_json;

#[derive(Args)]
pub struct PolicyArgs {
    /// The custody policy to publish (with `[samples]` and `[log]`).
    #[arg(long)]
    policy: PathBuf,
    /// The center key that signs the statement: a center key of `--policy`, or of `--previous`.
    #[arg(long)]
    key: PathBuf,
    /// The policy in force before this one, when its center key signs the change (a new center
    /// key).
    #[arg(long)]
    previous: Option<PathBuf>,
    /// When the policy takes effect (RFC 3339, UTC; default now).
    #[arg(long)]
    effective_at: Option<String>,
    /// Where the envelope goes (default `<policy's directory>/policy.<first 16 hex of its
    /// digest>.intoto.jsonl`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Publish key paths that are absolute or climb out of the policy's directory with `..`
    /// (refused otherwise: the statement carries every key path as the policy writes it, and
    /// would show anyone the operator's file layout).
    #[arg(long)]
    allow_operator_paths: bool,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run_policy(args: PolicyArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    // Before anything is signed or written.
    if !args.allow_operator_paths {
        refuse_operator_paths(&policy)?;
    }
    let previous = args.previous.as_deref().map(Policy::load).transpose()?;
    let effective_at = match &args.effective_at {
        Some(t) => Timestamp::parse_rfc3339(t).ok_or_else(|| {
            glassbox::Error::invalid("--effective-at", format!("{:?} is not an RFC 3339 UTC time", escape(t)))
        })?,
        None => now(),
    };
    let key = private_key(&args.key)?;
    let envelope = sign_policy(&policy, previous.as_ref(), effective_at, &key)?;
    let out = args.out.unwrap_or_else(|| {
        let dir = args.policy.parent().unwrap_or(std::path::Path::new("."));
        dir.join(format!("policy.{}.intoto.jsonl", &policy.digest.hex()[..16]))
    });
    let line = envelope.to_line();
    glassbox::fs::write_atomic(&out, format!("{line}\n").as_bytes(), 0o644)?;
    if args.json {
        print_json(&json!({
            "policy": policy.digest.prefixed(),
            "effectiveAt": effective_at.rfc3339(),
            "keys": policy.key_files.keys().collect::<Vec<_>>(),
            "envelope": glassbox::digest::Sha256Digest::of(line.as_bytes()).prefixed(),
            "out": out,
        }))?;
    } else {
        println!("policy {} in force from {}", policy.digest.prefixed(), effective_at.rfc3339());
        println!(
            "signed statement: {} (append it to the log before the first request under it)",
            escape(&out.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
