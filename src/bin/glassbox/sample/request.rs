//! `sample request` and `sample decide`: the requester's and the approvers' commands. Each signs
//! one statement and writes its envelope as one compact line; the log's operator appends it
//! (`glassbox log append`). No requester or approver holds the log's key: whoever holds it could
//! rewrite the log (security review 2, R2-D8).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::attest::custody::DecisionKind;
use glassbox::attest::Envelope;
use glassbox::custody::commitment::parse_commitment;
use glassbox::custody::ledger::samples_policy;
use glassbox::custody::request::{self, RequestSpec};
use glassbox::custody::store::SampleStore;
use glassbox::policy::Policy;
use glassbox::text::escape;
use glassbox::time::parse_duration;
use glassbox::transparency::Loggable;
use glassbox::Error;
use serde::Serialize;

use super::LogArg;
use crate::context::{now, private_key};
use crate::render::print_json;

#[derive(Args)]
pub struct RequestArgs {
    /// The center's private sample store (where the detail's salt is kept).
    #[arg(long)]
    store: PathBuf,
    /// The trust policy in force: the request names its digest.
    #[arg(long)]
    policy: PathBuf,
    /// The sample's commitment: 64 hex digits, bare (a receipt's name) or `sha256:<hex>` (as
    /// `--json` reports write it).
    #[arg(long)]
    sample: String,
    /// A reason code of the policy.
    #[arg(long)]
    reason: String,
    /// Free text; the request carries only a salted commitment to it (kept in the store).
    #[arg(long)]
    detail: String,
    /// Where the sample goes: a destination of the policy.
    #[arg(long)]
    destination: String,
    /// The age X25519 recipient (age1…) the sample is to be encrypted to.
    #[arg(long)]
    recipient: String,
    /// How long the request lives, e.g. 72h (default and maximum: the policy's request_lifetime).
    #[arg(long)]
    expires: Option<String>,
    /// An emergency release under the policy's break-glass rule (audited as such).
    #[arg(long)]
    break_glass: bool,
    /// The requester's private key.
    #[arg(long)]
    key: PathBuf,
    /// The log, read only (where the sample's intake batch is): a directory, a log service's
    /// base URL or a bucket.
    #[arg(long)]
    log: String,
    /// Where to write the envelope (default: <store>/requests/<requestId>.intoto.jsonl).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("decision").required(true).args(["approve", "deny", "invalidate"])))]
pub struct DecideArgs {
    /// The request envelope file.
    request: PathBuf,
    /// Approve the request.
    #[arg(long)]
    approve: bool,
    /// Deny the request (with --why).
    #[arg(long, requires = "why")]
    deny: bool,
    /// Why the request is denied.
    #[arg(long, requires = "deny")]
    why: Option<String>,
    /// Withdraw the request (its requester only).
    #[arg(long)]
    invalidate: bool,
    /// The approver's (or, to invalidate, the requester's) private key.
    #[arg(long)]
    key: PathBuf,
    /// The log, read only (the request must be in it): a directory, a log service's base URL or
    /// a bucket.
    #[arg(long)]
    log: String,
    /// The policy the request cites: checks that this key's decision counts for it (the
    /// gateway's rule) and refuses (exit 1) one that never would, e.g. the requester approving
    /// their own request or a key in no approver group. Without it nothing is checked.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Sign and write a decision even though --policy says it will never count.
    #[arg(long, requires = "policy")]
    force: bool,
    /// Where to write the envelope (default: beside the request file,
    /// <request-hex>.<decision-hex>.decision.intoto.jsonl).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Signed {
    kind: &'static str,
    envelope: String,
    file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Decisions only: `counts` (checked under --policy), `forced` (will never count, signed
    /// under --force), `unchecked` (no --policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'static str>,
    /// Why a forced decision will never count, or what an unchecked one was not checked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

pub fn run_request(args: RequestArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let commitment = parse_commitment(&args.sample).ok_or_else(|| {
        Error::invalid(
            "--sample",
            format!("{:?} is not a commitment (64 hex digits, bare or sha256:<hex>)", args.sample),
        )
    })?;
    let lifetime = match &args.expires {
        Some(text) => Some(parse_duration(text).ok_or_else(|| {
            Error::invalid("--expires", format!("{text:?} is not a duration like 90s, 30m, 72h or 7d"))
        })?),
        None => None,
    };
    let key = private_key(&args.key)?;
    let sample_store = SampleStore::open(&args.store, false)?;
    let log = LogArg::open(&args.log)?.log;
    let spec = RequestSpec {
        commitment,
        reason: &args.reason,
        detail: &args.detail,
        destination: &args.destination,
        recipient: &args.recipient,
        lifetime,
        break_glass: args.break_glass,
        now: now(),
    };
    let signed = request::sign_request(&sample_store, &log, &policy, &key, &spec)?;
    let file = match args.out {
        Some(path) => path,
        None => sample_store.subdir("requests")?.join(format!("{}.intoto.jsonl", signed.request.request_id)),
    };
    write_envelope(&signed.envelope, &file)?;
    let out = Signed {
        kind: "request",
        envelope: signed.digest.prefixed(),
        file,
        request_id: Some(signed.request.request_id),
        expires_at: Some(signed.request.expires_at),
        check: None,
        warning: None,
    };
    render(&out, args.json)
}

pub fn run_decide(args: DecideArgs) -> Result<ExitCode> {
    let kind = if args.approve {
        DecisionKind::Approve
    } else if args.deny {
        DecisionKind::Deny
    } else {
        DecisionKind::Invalidate
    };
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    let request = match &policy {
        Some(policy) => request::read_request_file(&args.request, samples_policy(policy)?)?.1,
        None => request::read_request_structure(&args.request)?,
    };
    let key = private_key(&args.key)?;
    let log = LogArg::open(&args.log)?.log;
    let index = request::check_logged(&log, &request.envelope)?;
    let envelope = request::sign_decision(&request, kind, args.why.as_deref().unwrap_or(""), &key, now())?;
    // The gateway's own rule, before anything is written: a decision that can never count is
    // refused here, where its signer can still do something about it.
    let (check, warning) = match &policy {
        None => (
            "unchecked",
            Some("not checked that this key's decision counts for the request: pass --policy POLICY".to_string()),
        ),
        Some(policy) => match request::decision_never_counts(policy, &request, index, &envelope)? {
            None => ("counts", None),
            Some(reason) if args.force => ("forced", Some(reason)),
            Some(reason) => {
                return Err(Error::rejected(
                    format!(
                        "decision by {} on request {}",
                        escape(&args.key.display().to_string()),
                        request.envelope.prefixed()
                    ),
                    format!("refused: {reason}; nothing written (pass --force to sign it anyway)"),
                )
                .into())
            }
        },
    };
    let digest = envelope.digest();
    let file = match args.out {
        Some(path) => path,
        None => beside(&args.request, &format!("{}.{}.decision.intoto.jsonl", request.envelope.hex(), digest.hex())),
    };
    write_envelope(&envelope, &file)?;
    let out = Signed {
        kind: "decision",
        envelope: digest.prefixed(),
        file,
        request_id: None,
        expires_at: None,
        check: Some(check),
        warning,
    };
    render(&out, args.json)
}

fn beside(path: &Path, name: &str) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(name)
}

/// Writes the envelope's line (its compact form, as the log stores it) to `file` atomically.
fn write_envelope(envelope: &Envelope, file: &Path) -> Result<()> {
    let loggable = Loggable::from_envelope(envelope, &file.display().to_string())?;
    glassbox::fs::write_atomic(file, format!("{}\n", loggable.envelope_line).as_bytes(), 0o644)?;
    Ok(())
}

fn render(out: &Signed, json: bool) -> Result<ExitCode> {
    if let Some(warning) = &out.warning {
        match out.check {
            Some("forced") => eprintln!("glassbox: warning: signed under --force, but it will never count: {warning}"),
            _ => eprintln!("glassbox: note: {warning}"),
        }
    }
    if json {
        print_json(out)?;
    } else {
        println!("signed {} {}", out.kind, out.envelope);
        if let Some(id) = &out.request_id {
            println!("request id: {id}");
        }
        if let Some(expires) = &out.expires_at {
            println!("expires:    {expires}");
        }
        println!("written to: {}", escape(&out.file.display().to_string()));
        println!(
            "next:       the log's operator appends it: glassbox log append LOG --key LOG_KEY FILE (or anyone: glassbox log append SERVICE_URL FILE)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
