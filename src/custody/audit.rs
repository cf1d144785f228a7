//! `sample audit`: replays every custody entry of the log as an outsider can, from the log's
//! static files and the policy alone. The log is verified (the policy's `[log]` key and
//! witnesses), every entry is authenticated against the checkpoint's root, the custody
//! envelopes are read bundle by bundle and checked against the digests their entries name, and
//! their signatures are verified in batches on every core. Then each release is judged by the
//! same rules as the gateway's ([`rules::judge`]) against what the log held before it, and the
//! statistics are counted per period by each statement's own time.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::attest::custody::{Decision, DecisionKind, Intake, Request};
use crate::attest::{Envelope, SAMPLE_RELEASE_V1};
use crate::custody::rules::{self, Case};
use crate::custody::statements::{self, prefixed, Custody, Logged};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::{verify_batch, BatchItem};
use crate::policy::samples::SamplesPolicy;
use crate::policy::{LogPolicy, Policy};
use crate::time::{Period, Timestamp};
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{authenticated_entries, Verified, WitnessPolicy};
use crate::transparency::LogDir;

/// What to report.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Only entries whose own time is at or after this.
    pub from: Option<Timestamp>,
    /// Only entries whose own time is at or before this.
    pub to: Option<Timestamp>,
    pub period: Period,
    /// The auditor's clock: break-glass windows and expiries are judged against it. `None`
    /// judges them as of the newest custody statement's own time, for a reader without a clock
    /// (the static site, whose files must not depend on when they were made).
    pub now: Option<Timestamp>,
}

/// The audit's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub log: LogSummary,
    /// Entries in the log.
    pub entries: u64,
    /// Entries whose predicate type is custody's.
    pub custody_entries: u64,
    /// Custody entries that do not decode, repeat an earlier envelope, or that no policy key of
    /// their role signed (anyone may append to the log); releases are never ignored.
    pub ignored: u64,
    pub periods: Vec<PeriodStats>,
    pub violations: Vec<Violation>,
    /// Every decoded custody entry whose time is in range, in log order (for `--jsonl`).
    #[serde(skip)]
    pub decoded: Vec<Custody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSummary {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub cosigned_by: Vec<String>,
}

impl LogSummary {
    pub fn of(v: &Verified) -> LogSummary {
        LogSummary { origin: v.origin.clone(), size: v.size, root: v.root.hex(), cosigned_by: v.cosigned_by.clone() }
    }
}

/// One violation of the policy, at the log entry that commits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub index: u64,
    /// A kebab-case name: the gateway's refusal kinds (`missing-approvals`, `already-released`,
    /// …) and the audit's own (`no-request`, `not-gateway`, `break-glass-overdue`,
    /// `release-mismatch`, `malformed-release`).
    pub kind: String,
    pub detail: String,
}

/// The statistics of one period.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodStats {
    /// `2026-12`, `2026-12-01` or `2026`.
    pub period: String,
    /// The sum of the intake batches' counts.
    pub samples_in: u64,
    pub batches: u64,
    pub requests: u64,
    pub approvals: u64,
    pub denials: u64,
    pub invalidations: u64,
    /// Requests whose expiry passed (in this period, before the audit's clock) unreleased.
    pub expired: u64,
    pub releases: u64,
    /// releases / samplesIn (`null` without intake).
    pub release_rate: Option<f64>,
    pub break_glass: BreakGlassStats,
    pub by_reason: BTreeMap<String, Counts>,
    pub by_destination: BTreeMap<String, Counts>,
    pub by_role: BTreeMap<String, Counts>,
    pub by_country: BTreeMap<String, Counts>,
    /// Seconds from requestedAt to decidedAt of each trusted approval of a trusted request.
    pub approval_latency: Latency,
    #[serde(skip)]
    latencies: Vec<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BreakGlassStats {
    pub requests: u64,
    pub releases: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub releases: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
}

/// The sections of `policy` the audit needs.
pub fn sections(policy: &Policy) -> Result<(&LogPolicy, &SamplesPolicy)> {
    let origin = policy.path.display();
    let samples = policy
        .samples
        .as_ref()
        .ok_or_else(|| Error::invalid(&origin, "has no [samples] section: there is no custody policy to audit"))?;
    let log = policy.log.as_ref().ok_or_else(|| Error::invalid(&origin, "has no [log] section"))?;
    Ok((log, samples))
}

/// The log verified with the policy's `[log]` key and witness threshold, and its entries.
pub fn open_log(dir: &LogDir, log: &LogPolicy) -> Result<(Verified, Vec<Vec<u8>>)> {
    let witnesses = WitnessPolicy { witnesses: log.witnesses.clone(), threshold: log.witness_threshold };
    authenticated_entries(dir, &log.vkey, &witnesses)
}

/// Audits the custody entries of the log at `dir` under `policy`.
pub fn audit(dir: &LogDir, policy: &Policy, options: &Options) -> Result<Report> {
    let (log, _) = sections(policy)?;
    let (verified, raw) = open_log(dir, log)?;
    audit_in(dir, policy, &verified, &raw, options)
}

/// [`audit`] of a log already authenticated ([`open_log`]'s answer for this `dir` and policy),
/// for a caller that reads the log for other reasons too and so reads and verifies it once.
pub fn audit_in(
    dir: &LogDir,
    policy: &Policy,
    verified: &Verified,
    raw: &[Vec<u8>],
    options: &Options,
) -> Result<Report> {
    let (_, samples) = sections(policy)?;
    let size = verified.size;
    // Which entries are custody's, and the envelope each names.
    let named: Vec<Option<Sha256Digest>> = raw
        .par_iter()
        .enumerate()
        .map(|(i, bytes)| {
            // The entry is authenticated by the root; only two of its fields matter here, so
            // they are all that is read (`glassbox log audit` checks the entries' form).
            let entry: EntryHead<'_> = serde_json::from_slice(bytes)
                .map_err(|e| Error::rejected(format!("log entry {i}"), format!("not a glassbox log entry ({e})")))?;
            if !statements::is_custody_type(&entry.predicate_type) {
                return Ok(None);
            }
            let digest = entry.envelope.strip_prefix("sha256:").and_then(Sha256Digest::from_hex).ok_or_else(|| {
                Error::rejected(
                    format!("log entry {i}"),
                    "does not name its envelope as sha256:<64 lowercase hex digits>",
                )
            })?;
            Ok(Some(digest))
        })
        .collect::<Result<_>>()?;
    let custody_entries = named.iter().filter(|n| n.is_some()).count() as u64;
    let bundles: Vec<Vec<Outcome>> = (0..size.div_ceil(TILE_WIDTH))
        .into_par_iter()
        .map(|b| read_bundle(dir, b, size, &named, samples))
        .collect::<Result<_>>()?;
    let outcomes: Vec<Outcome> = bundles.into_iter().flatten().collect();
    let now = options.now.unwrap_or_else(|| {
        let decoded = outcomes.iter().filter_map(|o| if let Outcome::Decoded(c) = o { Some(c.time()) } else { None });
        decoded.max().unwrap_or(Timestamp(0))
    });
    let mut replay = Replay::new(samples, options, now);
    for outcome in &outcomes {
        replay.step(outcome);
    }
    let (periods, mut violations, ignored) = replay.finish();
    violations.sort_by_key(|v| v.index);
    let decoded = outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Decoded(c) if in_range(options, c.time()) => Some(c),
            _ => None,
        })
        .collect();
    Ok(Report { log: LogSummary::of(verified), entries: size, custody_entries, ignored, periods, violations, decoded })
}

/// The two fields of a log entry the audit reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryHead<'a> {
    #[serde(borrow)]
    envelope: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    predicate_type: std::borrow::Cow<'a, str>,
}

/// What one custody entry turned out to be. Nearly every outcome is `Decoded`, so the small
/// variants' wasted space costs nothing that boxing the large one would save.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Decoded(Custody),
    /// Not a custody statement that decodes.
    Ignored,
    /// A release that does not decode, signed by a gateway key.
    MalformedRelease {
        index: u64,
        detail: String,
    },
}

/// A statement parsed, with the signature to try first.
struct Pending<'p> {
    parsed: statements::Parsed,
    envelope: Envelope,
    keys: Vec<&'p crate::policy::TrustedKey>,
    first: Option<([u8; 64], &'p crate::policy::TrustedKey)>,
}

/// Reads the custody envelopes of entry bundle `b` and decodes them, verifying their
/// signatures as one batch (each one on its own only if the batch fails).
fn read_bundle(
    dir: &LogDir,
    b: u64,
    size: u64,
    named: &[Option<Sha256Digest>],
    policy: &SamplesPolicy,
) -> Result<Vec<Outcome>> {
    let start = b * TILE_WIDTH;
    let end = (start + TILE_WIDTH).min(size);
    let wanted = &named[start as usize..end as usize];
    if wanted.iter().all(Option::is_none) {
        return Ok(Vec::new());
    }
    let lines = dir.envelopes(start, end, size)?;
    let bundle = dir.file(&LogDir::envelopes_path(b, end - start));
    let mut out = Vec::new();
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for (offset, (digest, line)) in wanted.iter().zip(&lines).enumerate() {
        let Some(digest) = digest else { continue };
        let index = start + offset as u64;
        let origin = format!("{} (entry {index})", bundle.display());
        if Sha256Digest::of(line) != *digest {
            return Err(Error::rejected(&origin, "the stored envelope does not hash to the entry's digest"));
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(line) else {
            out.push(Outcome::Ignored);
            continue;
        };
        match statements::parse(&envelope, *digest, index, &origin) {
            Ok(Some(parsed)) => {
                let keys = parsed.custody.role_keys(policy);
                let first = statements::first_candidate(&envelope, &keys);
                pending.push(Pending { parsed, envelope, keys, first });
            }
            Ok(None) => out.push(Outcome::Ignored),
            Err(e) => out.push(malformed(&envelope, index, policy, e)),
        }
    }
    let items: Vec<BatchItem<'_>> = pending
        .iter()
        .filter_map(|p| p.first.map(|(signature, k)| BatchItem { message: &p.parsed.message, signature, key: &k.key }))
        .collect();
    let all_good = verify_batch(&items);
    drop(items);
    for p in pending {
        let signer = match p.first {
            Some((sig, key)) if all_good || key.key.verify(&p.parsed.message, &sig) => Some(key.clone()),
            _ => statements::find_signer(&p.envelope, &p.parsed.message, &p.keys),
        };
        let mut custody = p.parsed.custody;
        custody.set_signer(signer);
        out.push(Outcome::Decoded(custody));
    }
    // Malformed entries were pushed first: put the bundle back in log order.
    out.sort_by_key(outcome_index);
    Ok(out)
}

fn outcome_index(o: &Outcome) -> u64 {
    match o {
        Outcome::Decoded(c) => c.index(),
        // Ignored entries carry no index and do not need one: only counted.
        Outcome::Ignored => 0,
        Outcome::MalformedRelease { index, .. } => *index,
    }
}

/// A custody entry that does not decode: ignored, unless it is a release a gateway signed.
fn malformed(envelope: &Envelope, index: u64, policy: &SamplesPolicy, e: Error) -> Outcome {
    let Ok(payload) = envelope.payload_bytes() else { return Outcome::Ignored };
    let head: std::result::Result<crate::attest::Statement<serde::de::IgnoredAny>, _> =
        serde_json::from_slice(&payload);
    if head.is_ok_and(|h| h.predicate_type == SAMPLE_RELEASE_V1) {
        let message = crate::attest::dsse::pae(&envelope.payload_type, &payload);
        let gateways: Vec<_> = policy.gateways.iter().collect();
        if statements::find_signer(envelope, &message, &gateways).is_some() {
            return Outcome::MalformedRelease {
                index,
                detail: format!("a gateway signed a release that does not decode: {e}"),
            };
        }
    }
    Outcome::Ignored
}

fn in_range(options: &Options, t: Timestamp) -> bool {
    options.from.is_none_or(|f| t >= f) && options.to.is_none_or(|to| t <= to)
}

/// What the log says about one request so far.
struct RequestState<'a> {
    logged: &'a Logged<Request>,
    /// The first gateway release of it.
    released: Option<u64>,
}

/// The replay in log order.
struct Replay<'a> {
    policy: &'a SamplesPolicy,
    options: &'a Options,
    /// The clock, resolved (`Options::now`).
    now: Timestamp,
    intakes: HashMap<u64, &'a Logged<Intake>>,
    requests: HashMap<Sha256Digest, RequestState<'a>>,
    decisions: HashMap<Sha256Digest, Vec<&'a Logged<Decision>>>,
    seen: HashSet<Sha256Digest>,
    /// Gateway releases per quota period.
    quota: HashMap<String, u64>,
    /// Break-glass releases whose post-hoc approval is checked at the end: (release index,
    /// request, releasedAt).
    post_hoc: Vec<(u64, Sha256Digest, Timestamp)>,
    stats: BTreeMap<String, PeriodStats>,
    violations: Vec<Violation>,
    ignored: u64,
}

impl<'a> Replay<'a> {
    fn new(policy: &'a SamplesPolicy, options: &'a Options, now: Timestamp) -> Replay<'a> {
        Replay {
            policy,
            options,
            now,
            intakes: HashMap::new(),
            requests: HashMap::new(),
            decisions: HashMap::new(),
            seen: HashSet::new(),
            quota: HashMap::new(),
            post_hoc: Vec::new(),
            stats: BTreeMap::new(),
            violations: Vec::new(),
            ignored: 0,
        }
    }

    /// The statistics of `t`'s period, if `t` is in range.
    fn at(&mut self, t: Timestamp) -> Option<&mut PeriodStats> {
        if !in_range(self.options, t) {
            return None;
        }
        let period = t.period(self.options.period);
        Some(self.stats.entry(period.clone()).or_insert_with(|| PeriodStats { period, ..Default::default() }))
    }

    fn violation(&mut self, index: u64, time: Timestamp, kind: &str, detail: impl Into<String>) {
        if in_range(self.options, time) {
            self.violations.push(Violation { index, kind: kind.into(), detail: detail.into() });
        }
    }

    fn step(&mut self, outcome: &'a Outcome) {
        let custody = match outcome {
            Outcome::Ignored => {
                self.ignored += 1;
                return;
            }
            Outcome::MalformedRelease { index, detail } => {
                self.violations.push(Violation {
                    index: *index,
                    kind: "malformed-release".into(),
                    detail: detail.clone(),
                });
                return;
            }
            Outcome::Decoded(c) => c,
        };
        let repeat = !self.seen.insert(custody.envelope());
        if let Custody::Release(r) = custody {
            return self.release(r);
        }
        if repeat || custody.signer().is_none() {
            self.ignored += 1;
            // An untrusted request is still remembered: a release of it is a violation.
            if let (Custody::Request(r), false) = (custody, repeat) {
                self.requests.insert(r.envelope, RequestState { logged: r, released: None });
            }
            return;
        }
        match custody {
            Custody::Intake(l) => {
                self.intakes.insert(l.index, l);
                if let Some(s) = self.at(l.time) {
                    s.batches += 1;
                    s.samples_in += l.predicate.count;
                }
            }
            Custody::Request(l) => {
                self.requests.insert(l.envelope, RequestState { logged: l, released: None });
                if let Some(s) = self.at(l.time) {
                    s.requests += 1;
                    s.break_glass.requests += u64::from(l.predicate.break_glass);
                    for (map, key) in breakdown(s, &l.predicate) {
                        map.entry(key).or_default().requests += 1;
                    }
                }
            }
            Custody::Decision(l) => {
                let Some(request) = prefixed(&l.predicate.request) else { return };
                self.decisions.entry(request).or_default().push(l);
                let latency = self
                    .requests
                    .get(&request)
                    .filter(|r| r.logged.signer.is_some())
                    .map(|r| l.time.0 - r.logged.time.0);
                if let Some(s) = self.at(l.time) {
                    match l.predicate.decision {
                        DecisionKind::Approve => {
                            s.approvals += 1;
                            s.latencies.extend(latency);
                        }
                        DecisionKind::Deny => s.denials += 1,
                        DecisionKind::Invalidate => s.invalidations += 1,
                    }
                }
            }
            Custody::Release(_) => {}
        }
    }

    fn release(&mut self, r: &'a Logged<crate::attest::custody::Release>) {
        let p = &r.predicate;
        if r.signer.is_none() {
            return self.violation(
                r.index,
                r.time,
                "not-gateway",
                "the release is signed by no gateway key of the policy",
            );
        }
        let quota_period = self.policy.quota.map(|q| r.time.period(q.period)).unwrap_or_default();
        let in_period = self.quota.get(&quota_period).copied().unwrap_or(0);
        *self.quota.entry(quota_period).or_default() += 1;
        let Some(request_digest) = prefixed(&p.request) else { return };
        let Some(state) = self.requests.get(&request_digest) else {
            if let Some(s) = self.at(r.time) {
                s.releases += 1;
            }
            return self.violation(
                r.index,
                r.time,
                "no-request",
                format!("no request {} was logged before the release", p.request),
            );
        };
        let request = state.logged;
        let released_before = state.released;
        let decisions = self.decisions.get(&request_digest).cloned().unwrap_or_default();
        let case = Case {
            request,
            intake: self.intakes.get(&request.predicate.intake.log_index).copied(),
            decisions,
            released_before,
            releases_in_period: in_period,
        };
        match rules::judge(self.policy, &case, r.time) {
            Err(refusal) => {
                let kind = serde_json::to_value(refusal.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "refused".into());
                self.violation(r.index, r.time, &kind, refusal.detail);
            }
            Ok(approved) => {
                if request.predicate.break_glass && !approved.waived.is_empty() {
                    self.post_hoc.push((r.index, request_digest, r.time));
                }
            }
        }
        let q = &request.predicate;
        if p.destination != q.destination || p.recipient != q.recipient || p.break_glass != q.break_glass {
            self.violation(
                r.index,
                r.time,
                "release-mismatch",
                "the release's destination, recipient or breakGlass differ from its request's",
            );
        }
        if let Some(state) = self.requests.get_mut(&request_digest) {
            state.released.get_or_insert(r.index);
        }
        if let Some(s) = self.at(r.time) {
            s.releases += 1;
            s.break_glass.releases += u64::from(q.break_glass);
            for (map, key) in breakdown(s, q) {
                map.entry(key).or_default().releases += 1;
            }
        }
    }

    fn finish(mut self) -> (Vec<PeriodStats>, Vec<Violation>, u64) {
        for (index, request, released_at) in std::mem::take(&mut self.post_hoc) {
            let Some(state) = self.requests.get(&request) else { continue };
            let decisions = self.decisions.get(&request).cloned().unwrap_or_default();
            if rules::post_hoc_approved(self.policy, state.logged, released_at, &decisions, self.now) == Some(false) {
                let window = self.policy.break_glass.map_or(0, |b| b.post_hoc_within);
                self.violation(
                    index,
                    released_at,
                    "break-glass-overdue",
                    format!(
                        "a break-glass release whose outside approvals were due by {} and are not in the log",
                        Timestamp(released_at.0.saturating_add(window)).rfc3339()
                    ),
                );
            }
        }
        let expired: Vec<Timestamp> = self
            .requests
            .values()
            .filter(|r| r.released.is_none() && r.logged.signer.is_some())
            .filter_map(|r| Timestamp::parse_rfc3339(&r.logged.predicate.expires_at))
            .filter(|t| *t <= self.now)
            .collect();
        for t in expired {
            if let Some(s) = self.at(t) {
                s.expired += 1;
            }
        }
        let mut periods: Vec<PeriodStats> = self.stats.into_values().collect();
        for s in &mut periods {
            s.release_rate = (s.samples_in > 0).then(|| s.releases as f64 / s.samples_in as f64);
            s.latencies.sort_unstable();
            let pick = |p: usize| -> Option<i64> {
                let n = s.latencies.len();
                (n > 0).then(|| s.latencies[(p * n).div_ceil(100).clamp(1, n) - 1])
            };
            s.approval_latency =
                Latency { count: s.latencies.len() as u64, p50: pick(50), p90: pick(90), p99: pick(99) };
        }
        (periods, self.violations, self.ignored)
    }
}

/// The four breakdowns a request or release is counted in, with its key in each.
fn breakdown<'s>(s: &'s mut PeriodStats, r: &Request) -> [(&'s mut BTreeMap<String, Counts>, String); 4] {
    [
        (&mut s.by_reason, r.reason.clone()),
        (&mut s.by_destination, r.destination.clone()),
        (&mut s.by_role, r.requester.role.clone()),
        (&mut s.by_country, r.requester.country.clone()),
    ]
}

/// One `--jsonl` line: a decoded custody entry for a SIEM.
pub fn jsonl_record(c: &Custody) -> serde_json::Value {
    serde_json::json!({
        "index": c.index(),
        "kind": c.kind(),
        "envelope": c.envelope().prefixed(),
        "signer": c.signer().map(|k| k.id.to_string()),
        "predicate": c.predicate_json(),
    })
}
