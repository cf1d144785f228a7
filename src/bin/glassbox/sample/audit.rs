//! `sample audit` and `sample lookup`: the auditor's and the customer's commands.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::custody::audit::{self, ClockSource, Options, PeriodStats};
use glassbox::custody::lookup;
use glassbox::policy::Policy;
use glassbox::text::escape;
use glassbox::time::{Period, Timestamp};

use super::{LogArg, LOG_HELP};
use crate::render::{print_json, table};

#[derive(Args)]
pub struct AuditArgs {
    #[arg(long, help = LOG_HELP)]
    log: String,
    /// The trust policy with the `[samples]` and `[log]` sections.
    #[arg(long)]
    policy: PathBuf,
    /// Report only entries at or after this time (RFC 3339, UTC).
    #[arg(long)]
    from: Option<String>,
    /// Report only entries at or before this time (RFC 3339, UTC).
    #[arg(long)]
    to: Option<String>,
    /// Judge expiries and break-glass windows as of this time (RFC 3339, UTC) instead of the
    /// system clock, so that the output is reproducible.
    #[arg(long)]
    as_of: Option<String>,
    /// Statistics per day, month or year.
    #[arg(long, default_value = "month")]
    period: String,
    /// Print the audit as JSON on stdout (docs/formats.md section 18).
    #[arg(long, conflicts_with = "jsonl")]
    json: bool,
    /// One line per decoded custody entry, for a SIEM.
    #[arg(long)]
    jsonl: bool,
}

#[derive(Args)]
pub struct LookupArgs {
    /// The receipt the center handed back for the sample.
    #[arg(long)]
    receipt: PathBuf,
    #[arg(long, help = LOG_HELP)]
    log: String,
    /// A trust policy: verify the log with its `[log]` and say which statements its keys signed.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The log's verifier key (file or string), obtained independently of the receipt. Without
    /// it or `--policy`, the receipt's own key is used, and the answer says it is unchecked.
    #[arg(long, conflicts_with = "policy")]
    vkey: Option<String>,
    /// The customer's copy of the file: check that it opens the receipt's commitment.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

fn time_flag(text: &Option<String>, flag: &str) -> Result<Option<Timestamp>> {
    match text {
        None => Ok(None),
        Some(t) => Timestamp::parse_rfc3339(t).map(Some).ok_or_else(|| {
            glassbox::Error::invalid(flag, format!("{:?} is not an RFC 3339 UTC time", escape(t))).into()
        }),
    }
}

pub fn run_audit(args: AuditArgs) -> Result<ExitCode> {
    let period = Period::parse(&args.period)
        .ok_or_else(|| glassbox::Error::invalid("--period", "must be day, month or year"))?;
    let options = Options {
        from: time_flag(&args.from, "--from")?,
        to: time_flag(&args.to, "--to")?,
        period,
        now: Some(match time_flag(&args.as_of, "--as-of")? {
            Some(t) => (t, ClockSource::AsOf),
            None => (crate::context::now(), ClockSource::SystemClock),
        }),
    };
    let policy = Policy::load(&args.policy)?;
    let report = audit::audit(&LogArg::open(&args.log)?.log, &policy, &options)?;
    if args.jsonl {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for c in &report.decoded {
            serde_json::to_writer(&mut out, &audit::jsonl_record(c))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    } else if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(if report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_report(r: &audit::Report) {
    println!(
        "log {} at size {}: {} custody entries, {} ignored (undecodable, repeated, or not signed by a policy key allowed to make it)",
        escape(&r.log.origin),
        r.log.size,
        r.custody_entries,
        r.ignored.len()
    );
    match r.policies.last() {
        Some(p) => println!(
            "policies: {} logged; in force since entry {}: {} (effective {})",
            r.policies.len(),
            p.index,
            p.policy,
            p.effective_at
        ),
        None => println!("policies: none logged (every release is policy-unlogged)"),
    }
    println!("clock: {} ({:?})", r.clock.time, r.clock.source);
    let headers = [
        "period",
        "samples in",
        "batches",
        "requests",
        "approvals",
        "denials",
        "invalid.",
        "expired",
        "releases",
        "rate",
        "break-glass",
        "latency p50/p90/p99 s",
    ];
    let rows: Vec<Vec<String>> = r.periods.iter().map(row).collect();
    if rows.is_empty() {
        println!("no custody statements in range");
    } else {
        print!("{}", table(&headers, &rows));
    }
    for p in &r.periods {
        for (name, map) in [
            ("reason", &p.by_reason),
            ("destination", &p.by_destination),
            ("role", &p.by_role),
            ("country", &p.by_country),
        ] {
            if map.is_empty() {
                continue;
            }
            let parts: Vec<String> =
                map.iter().map(|(k, c)| format!("{} {}/{}", escape(k), c.requests, c.releases)).collect();
            println!("{} by {name} (requests/releases): {}", p.period, parts.join(", "));
        }
    }
    if r.violations.is_empty() {
        println!("no violations");
    } else {
        println!("{} violation(s):", r.violations.len());
        for v in &r.violations {
            println!("  entry {}: {}: {}", v.index, v.kind, escape(&v.detail));
        }
    }
}

fn row(p: &PeriodStats) -> Vec<String> {
    let l = &p.approval_latency;
    let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    vec![
        p.period.clone(),
        p.samples_in.to_string(),
        p.batches.to_string(),
        p.requests.to_string(),
        p.approvals.to_string(),
        p.denials.to_string(),
        p.invalidations.to_string(),
        p.expired.to_string(),
        p.releases.to_string(),
        p.release_rate.map_or("-".into(), |r| format!("{:.3}%", r * 100.0)),
        format!("{}/{}", p.break_glass.requests, p.break_glass.releases),
        format!("{}/{}/{}", opt(l.p50), opt(l.p90), opt(l.p99)),
    ]
}

pub fn run_lookup(args: LookupArgs) -> Result<ExitCode> {
    let receipt = lookup::read_receipt(&args.receipt)?;
    let policy = args.policy.as_ref().map(|p| Policy::load(p)).transpose()?;
    let vkey = args.vkey.as_deref().map(|v| crate::log::vkey(v, "--vkey")).transpose()?;
    let found = lookup::lookup(
        &receipt,
        &args.receipt,
        &LogArg::open(&args.log)?.log,
        policy.as_ref(),
        vkey.as_ref(),
        args.file.as_deref(),
    )?;
    if args.json {
        print_json(&found)?;
    } else {
        let trust = |t: Option<bool>| match t {
            Some(true) => " (signed by a policy key)",
            Some(false) => " (NOT signed by a policy key)",
            None => "",
        };
        println!("sample {}", found.commitment);
        // The answer about the file comes first: whatever follows is about the receipt's sample.
        match found.file_matches {
            Some(true) => println!("  the file opens the commitment: it is this sample"),
            Some(false) => println!(
                "  the file does NOT open the commitment: it is not this sample (what follows is about the \
                 receipt's sample, not this file)"
            ),
            None => {}
        }
        match found.log_key {
            lookup::LogKeySource::Policy => println!("  log key: the policy's [log] vkey (the receipt's equals it)"),
            lookup::LogKeySource::Vkey => println!("  log key: --vkey (the receipt's equals it)"),
            lookup::LogKeySource::Receipt => println!(
                "  log key: taken from the receipt itself, UNVERIFIED: compare it with the log's key obtained \
                 independently, or give --vkey or --policy"
            ),
        }
        println!("  taken in: intake batch at log entry {}{}", found.intake_index, trust(found.intake_trusted));
        if found.requests.is_empty() {
            println!("  no request names it");
        }
        for r in &found.requests {
            println!(
                "  request at entry {}{}: {} to {} by a {} in {}, {}{}",
                r.index,
                trust(r.trusted),
                escape(&r.reason),
                escape(&r.destination),
                escape(&r.requester.role),
                escape(&r.requester.country),
                escape(&r.requested_at),
                if r.break_glass { " (break-glass)" } else { "" }
            );
            for s in r.decisions.iter().chain(&r.releases) {
                let by = s.by.as_deref().map_or(String::new(), |by| format!(" by {}", escape(by)));
                println!("    {} at entry {}{}{by}, {}", s.kind, s.index, trust(s.trusted), escape(&s.at));
            }
        }
        for s in &found.orphans {
            println!("  {} at entry {} of a request not in the log{}", s.kind, s.index, trust(s.trusted));
        }
        let released = if found.released { "YES" } else { "no" };
        match found.file_matches {
            Some(false) => println!("  released: {released} (the receipt's sample; the file given is not it)"),
            _ => println!("  released: {released}"),
        }
    }
    Ok(if found.file_matches == Some(false) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
