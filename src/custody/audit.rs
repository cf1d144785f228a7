//! `sample audit`: replays every custody entry of the log as an outsider can, from the log's
//! static files and the policy alone. The log is verified (the policy's `[log]` key and
//! witnesses), every entry is authenticated against the checkpoint's root, the custody
//! envelopes are read bundle by bundle and checked against the digests their entries name, and
//! their signatures are verified in batches on every core. Then [`super::replay`] replays them
//! in log order (each release judged by the gateway's rules, [`super::rules::judge`]), and each
//! release's checkpoint claim is checked against the tree of the authenticated log. The
//! policy statements are read first ([`super::policies`]): the keys they give make the
//! signers of the statements logged after them, and each request is judged under the policy it
//! cites.

mod memo;

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::attest::{Envelope, SAMPLE_RELEASE_V1};
use crate::custody::policies::{self, History, Published, Role, RoleKeys};
use crate::custody::replay::{kind_rank, CheckpointClaim, Replay};
use crate::custody::statements::{self, Custody};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::{verify_batch, BatchItem};
use crate::policy::samples::SamplesPolicy;
use crate::policy::{LogPolicy, Policy};
use crate::time::{Period, Timestamp};
use crate::tlog::merkle;
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{authenticated_entries, Verified, WitnessPolicy};
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::{LogDir, LogEntry};

pub use memo::Readings;

/// What to report.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Only entries whose own time is at or after this.
    pub from: Option<Timestamp>,
    /// Only entries whose own time is at or before this.
    pub to: Option<Timestamp>,
    pub period: Period,
    /// The clock break-glass windows and expiries are judged against, and where it came from.
    /// `None` judges them as of the newest own time of a statement that counts (one a policy
    /// key signed, not a repeat), for a reader without a clock (the static site, whose files
    /// must not depend on when they were made).
    pub now: Option<(Timestamp, ClockSource)>,
}

impl Options {
    /// Whether a statement dated `t` is reported (`--from`/`--to`).
    pub fn in_range(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|to| t <= to)
    }
}

/// Where the audit's clock came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockSource {
    /// The auditor's system clock (`sample audit` without `--as-of`).
    SystemClock,
    /// `sample audit --as-of TIME`: reproducible output.
    AsOf,
    /// The newest witness cosignature of the checkpoint (the site).
    Cosignature,
    /// The newest own time of a statement that counts (none: the Unix epoch).
    NewestTrustedStatement,
}

/// The clock the audit used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Clock {
    pub source: ClockSource,
    /// RFC 3339.
    pub time: String,
}

/// A custody entry that counts for nothing, and why: `malformed` (does not decode),
/// `untrusted` (no policy key of its role signed it), `repeat` (the signed payload and signer
/// of an earlier entry, re-wrapped), `role-mismatch` (a request claiming another role or
/// country than the policy gives its key), and for decisions `no-request` (no counted request
/// with that digest logged before it), `sample-mismatch` (its sample is not its request's) and
/// `not-allowed` (its key may not make that decision about that request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub index: u64,
    pub reason: &'static str,
}

/// The audit's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub log: LogSummary,
    /// Entries in the log.
    pub entries: u64,
    /// Entries whose predicate type is custody's (the four statements and the policy's).
    pub custody_entries: u64,
    /// The policy statements that count, in log order.
    pub policies: Vec<Published>,
    /// Custody entries that count for nothing, in log order (anyone may append to the log).
    pub ignored: Vec<Ignored>,
    pub clock: Clock,
    pub periods: Vec<PeriodStats>,
    pub violations: Vec<Violation>,
    /// Every decoded custody entry whose time is in range, repeats left out, in log order (for
    /// `--jsonl` and the site).
    #[serde(skip)]
    pub decoded: Vec<Custody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSummary {
    pub origin: String,
    pub size: u64,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub root: Sha256Digest,
    pub cosigned_by: Vec<String>,
}

impl LogSummary {
    pub fn of(v: &Verified) -> LogSummary {
        LogSummary { origin: v.origin.clone(), size: v.size, root: v.root, cosigned_by: v.cosigned_by.clone() }
    }
}

/// One violation of the policy, at the log entry that commits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub index: u64,
    /// A kebab-case name: the gateway's refusal kinds (`policy-unlogged`, `policy-changed`,
    /// `missing-approvals`, `already-released`, …) and the audit's own (`no-request`, `release-mismatch`, `approvals-mismatch`,
    /// `checkpoint-mismatch`, `break-glass-overdue`, `malformed-release`).
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
    /// Seconds from requestedAt to decidedAt of each counted approval.
    pub approval_latency: Latency,
    #[serde(skip)]
    pub(super) latencies: Vec<i64>,
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
    audit_in(dir, policy, &verified, &raw, &EnvelopeBundles::transient(), options)
}

/// [`audit`] of a log already authenticated ([`open_log`]'s answer for this `dir` and policy),
/// for a caller that reads the log for other reasons too and so reads and verifies it once
/// (and its envelope bundles through `bundles`, which it may share).
pub fn audit_in(
    dir: &LogDir,
    policy: &Policy,
    verified: &Verified,
    raw: &[Vec<u8>],
    bundles: &EnvelopeBundles,
    options: &Options,
) -> Result<Report> {
    sections(policy)?;
    // The entry is authenticated by the root; only two of its fields matter here, so they are
    // all that is read (`glassbox log audit` checks the entries' form).
    let named: Vec<Option<Named>> = raw
        .par_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let entry: EntryHead<'_> = serde_json::from_slice(bytes)
                .map_err(|e| Error::rejected(format!("log entry {i}"), format!("not a glassbox log entry ({e})")))?;
            Named::of(i, &entry.predicate_type, &entry.envelope)
        })
        .collect::<Result<_>>()?;
    Ok(audit_named(dir, policy, verified, raw, named, bundles, options, (None, false))?.0)
}

/// What [`audit_parsed`] read of the custody envelopes, for the next run over the grown log.
#[derive(Default)]
pub struct Kept {
    pub readings: Readings,
    /// Custody entries whose reading was taken from the readings given, not read again.
    pub reused: u64,
}

/// [`audit_in`] for a caller that has parsed the authenticated entries already (`entries`, one
/// per entry of `raw`): they are not read a second time. `known` are the readings of an earlier
/// run ([`Kept`]): the envelopes of the bundles they cover, unchanged, are not read again.
#[allow(clippy::too_many_arguments)]
pub fn audit_parsed(
    dir: &LogDir,
    policy: &Policy,
    verified: &Verified,
    raw: &[Vec<u8>],
    entries: &[LogEntry],
    bundles: &EnvelopeBundles,
    options: &Options,
    known: Option<&Readings>,
) -> Result<(Report, Kept)> {
    sections(policy)?;
    if entries.len() != raw.len() {
        return Err(Error::invalid(dir.root.display(), "the parsed entries are not the log's entries"));
    }
    let named: Vec<Option<Named>> = entries
        .par_iter()
        .enumerate()
        .map(|(i, entry)| Named::of(i, &entry.predicate_type, &entry.envelope))
        .collect::<Result<_>>()?;
    let (report, kept) = audit_named(dir, policy, verified, raw, named, bundles, options, (known, true))?;
    // Asked for (`true` above), so made.
    Ok((report, kept.unwrap_or_default()))
}

/// The audit, once it is known which entries are custody's and the envelope each names. `known`
/// readings are taken where they still hold; with `keep`, what was read is kept ([`Kept`]).
#[allow(clippy::too_many_arguments)]
fn audit_named(
    dir: &LogDir,
    policy: &Policy,
    verified: &Verified,
    raw: &[Vec<u8>],
    named: Vec<Option<Named>>,
    bundles: &EnvelopeBundles,
    options: &Options,
    (known, keep): (Option<&Readings>, bool),
) -> Result<(Report, Option<Kept>)> {
    let size = verified.size;
    let custody_entries = named.iter().filter(|n| n.is_some()).count() as u64;
    let history = read_policies(dir, size, &named, policy)?;
    let binding = memo::binding(policy, &named);
    let known = known.filter(|k| k.bound_to(&binding));
    let bundles: Vec<(Vec<Outcome>, u64, Option<memo::Blob>)> = (0..size.div_ceil(TILE_WIDTH))
        .into_par_iter()
        .map(|b| {
            let (mut outcomes, from, blob) = match known {
                Some(k) => k.bundle(b, size, &named, &history.roles),
                None => (Vec::new(), b * TILE_WIDTH, None),
            };
            let reused = outcomes.len() as u64;
            if reused > 0 {
                // Taken from the readings, not read: the envelopes are still the log's own.
                memo::check_kept(dir, bundles, (b, from), size, &named)?;
            }
            outcomes.extend(read_bundle(dir, bundles, (b, from), size, &named, &history.roles)?);
            let blob = match (blob, keep) {
                (Some(blob), _) => Some(blob),
                (None, true) => Some(memo::encode(b, size, &outcomes, &history.roles)),
                (None, false) => None,
            };
            Ok((outcomes, reused, blob))
        })
        .collect::<Result<_>>()?;
    let reused = bundles.iter().map(|(_, reused, _)| reused).sum();
    let mut blobs = Vec::with_capacity(bundles.len());
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (o, _, blob) in bundles {
        outcomes.extend(o);
        blobs.extend(blob);
    }
    let kept = keep.then(|| Kept { readings: Readings::new(binding, blobs), reused });
    let mut replay = Replay::new(&history, options);
    let mut repeats = HashSet::new();
    for outcome in &outcomes {
        match outcome {
            Outcome::Ignored { index, .. } => replay.ignore(*index, "malformed"),
            Outcome::MalformedRelease { index, detail, .. } => replay.malformed_release(*index, detail.clone()),
            Outcome::Decoded(c) => replay.step(c),
        }
    }
    let mut replayed = replay.finish(options.now.map(|(t, _)| t));
    let source = options.now.map_or(ClockSource::NewestTrustedStatement, |(_, s)| s);
    for i in &replayed.ignored {
        if i.reason == "repeat" {
            repeats.insert(i.index);
        }
    }
    let clock = Clock { source, time: replayed.now.rfc3339() };
    let mut ignored = std::mem::take(&mut replayed.ignored);
    ignored.extend(history.ignored.iter().cloned());
    ignored.sort_by_key(|i| i.index);
    let mut violations = std::mem::take(&mut replayed.violations);
    violations.extend(check_checkpoints(raw, &replayed.checkpoints, options));
    violations.sort_by_key(|v| (v.index, kind_rank(&v.kind)));
    let decoded = outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Decoded(c) if options.in_range(c.time()) && !repeats.contains(&c.index()) => Some(c),
            _ => None,
        })
        .collect();
    let report = Report {
        log: LogSummary::of(verified),
        entries: size,
        custody_entries,
        policies: history.published(),
        ignored,
        clock,
        periods: replayed.periods,
        violations,
        decoded,
    };
    Ok((report, kept))
}

/// Checks each release's checkpoint claim: its size at most the release's own index (the tree
/// it was judged under cannot hold it), its root the root of the log's first `size` entries.
/// The roots are computed in one pass over the authenticated entries, up to the largest size.
fn check_checkpoints(raw: &[Vec<u8>], claims: &[CheckpointClaim], options: &Options) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut wanted: Vec<&CheckpointClaim> = Vec::new();
    for c in claims.iter().filter(|c| options.in_range(c.time)) {
        if c.size > c.index {
            out.push(Violation {
                index: c.index,
                kind: "checkpoint-mismatch".into(),
                detail: format!("the release claims a checkpoint of size {}, beyond its own entry", c.size),
            });
        } else {
            wanted.push(c);
        }
    }
    wanted.sort_by_key(|c| c.size);
    let Some(largest) = wanted.last().map(|c| c.size as usize) else { return out };
    let leaves: Vec<crate::tlog::Hash> = raw[..largest].par_iter().map(|e| merkle::leaf_hash(e)).collect();
    // The complete subtrees of the tree so far, left to right, with their heights.
    let mut frontier: Vec<(u32, crate::tlog::Hash)> = Vec::new();
    let mut pushed = 0usize;
    for claim in wanted {
        while pushed < claim.size as usize {
            let mut node = (0u32, leaves[pushed]);
            while frontier.last().is_some_and(|(h, _)| *h == node.0) {
                let (h, left) = frontier.pop().unwrap_or(node);
                node = (h + 1, merkle::node_hash(&left, &node.1));
            }
            frontier.push(node);
            pushed += 1;
        }
        // RFC 6962: the complete subtrees combined from the right.
        let root = frontier
            .iter()
            .rev()
            .map(|(_, h)| *h)
            .reduce(|right, left| merkle::node_hash(&left, &right))
            .unwrap_or(merkle::EMPTY_ROOT);
        if Sha256Digest(root).hex() != claim.root {
            out.push(Violation {
                index: claim.index,
                kind: "checkpoint-mismatch".into(),
                detail: format!(
                    "the release claims root {} at size {}, but the log's root at that size is {}",
                    claim.root,
                    claim.size,
                    Sha256Digest(root).hex()
                ),
            });
        }
    }
    out
}

/// A custody entry: the envelope it names, and whether it is a policy statement.
#[derive(Clone, Copy)]
struct Named {
    digest: Sha256Digest,
    is_policy: bool,
}

impl Named {
    /// Entry `i` of `predicate_type` naming `envelope`: `None` unless it is custody's.
    fn of(i: usize, predicate_type: &str, envelope: &str) -> Result<Option<Named>> {
        let is_policy = policies::is_policy_type(predicate_type);
        if !is_policy && !statements::is_custody_type(predicate_type) {
            return Ok(None);
        }
        let digest = envelope.strip_prefix("sha256:").and_then(Sha256Digest::from_hex).ok_or_else(|| {
            Error::rejected(format!("log entry {i}"), "does not name its envelope as sha256:<64 lowercase hex digits>")
        })?;
        Ok(Some(Named { digest, is_policy }))
    }
}

/// The policy history of the log under the trust root `policy`: every policy statement, read
/// in log order (there are few), each envelope checked against its entry's digest.
fn read_policies<'p>(dir: &LogDir, size: u64, named: &[Option<Named>], policy: &'p Policy) -> Result<History<'p>> {
    let mut history = History::new(policy)?;
    for (index, n) in named.iter().enumerate() {
        let Some(n) = n.filter(|n| n.is_policy) else { continue };
        let index = index as u64;
        let line = dir.envelopes(index, index + 1, size)?.pop().unwrap_or_default();
        if Sha256Digest::of(&line) != n.digest {
            return Err(Error::rejected(
                format!("{} (entry {index})", dir.root.display()),
                "the stored envelope does not hash to the entry's digest",
            ));
        }
        history.add(index, n.digest, &line);
    }
    Ok(history)
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
#[derive(Debug)]
enum Outcome {
    Decoded(Custody),
    /// A custody entry that does not decode, at this index.
    Ignored {
        index: u64,
        envelope: Sha256Digest,
    },
    /// A release that does not decode, signed by a gateway key.
    MalformedRelease {
        index: u64,
        envelope: Sha256Digest,
        detail: String,
    },
}

/// A statement parsed, with the signature to try first.
struct Pending<'p> {
    parsed: statements::Parsed,
    envelope: Envelope,
    keys: &'p [&'p crate::policy::TrustedKey],
    first: Option<([u8; 64], &'p crate::policy::TrustedKey)>,
}

/// Reads the custody envelopes of entry bundle `b` from index `from` on and decodes them,
/// verifying their signatures as one batch (each one on its own only if the batch fails).
fn read_bundle(
    dir: &LogDir,
    bundles: &EnvelopeBundles,
    (b, from): (u64, u64),
    size: u64,
    named: &[Option<Named>],
    roles: &RoleKeys,
) -> Result<Vec<Outcome>> {
    let start = b * TILE_WIDTH;
    let end = (start + TILE_WIDTH).min(size);
    let skip = from.clamp(start, end) - start;
    let wanted = &named[start as usize..end as usize];
    // Policy statements were read already.
    if wanted[skip as usize..].iter().all(|n| n.is_none_or(|n| n.is_policy)) {
        return Ok(Vec::new());
    }
    let by_role: Vec<(Role, Vec<&crate::policy::TrustedKey>)> =
        [Role::Center, Role::Requester, Role::Decider, Role::Gateway].into_iter().map(|r| (r, roles.of(r))).collect();
    let keys_of = |role: Role| by_role.iter().find(|(r, _)| *r == role).map_or(&[][..], |(_, k)| k.as_slice());
    let lines = bundles.bundle_of(dir, start, size)?;
    let bundle = dir.file(&LogDir::envelopes_path(b, end - start));
    let mut out = Vec::new();
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for (offset, (named, line)) in wanted.iter().zip(lines.iter()).enumerate().skip(skip as usize) {
        let Some(Named { digest, is_policy: false }) = named else { continue };
        let index = start + offset as u64;
        let origin = format!("{} (entry {index})", bundle.display());
        if Sha256Digest::of(line) != *digest {
            return Err(Error::rejected(&origin, "the stored envelope does not hash to the entry's digest"));
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(line) else {
            out.push(Outcome::Ignored { index, envelope: *digest });
            continue;
        };
        match statements::parse(&envelope, *digest, index, &origin) {
            Ok(Some(parsed)) => {
                let keys = keys_of(parsed.custody.role());
                let first = statements::first_candidate(&envelope, keys);
                pending.push(Pending { parsed, envelope, keys, first });
            }
            Ok(None) => out.push(Outcome::Ignored { index, envelope: *digest }),
            Err(e) => out.push(malformed(&envelope, (index, *digest), roles, keys_of(Role::Gateway), e)),
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
            _ => statements::find_signer(&p.envelope, &p.parsed.message, p.keys),
        };
        let mut custody = p.parsed.custody;
        // A key signs for its role only from the entry after the policy that gave it.
        let role = custody.role();
        custody.set_signer(signer.filter(|k| roles.holds(role, k, custody.index())));
        out.push(Outcome::Decoded(custody));
    }
    // Malformed entries were pushed first: put the bundle back in log order.
    out.sort_by_key(outcome_index);
    Ok(out)
}

fn outcome_index(o: &Outcome) -> u64 {
    match o {
        Outcome::Decoded(c) => c.index(),
        Outcome::Ignored { index, .. } => *index,
        Outcome::MalformedRelease { index, .. } => *index,
    }
}

/// A custody entry that does not decode: ignored, unless it is a release a gateway signed.
fn malformed(
    envelope: &Envelope,
    (index, digest): (u64, Sha256Digest),
    roles: &RoleKeys,
    gateways: &[&crate::policy::TrustedKey],
    e: Error,
) -> Outcome {
    let ignored = Outcome::Ignored { index, envelope: digest };
    let Ok(payload) = envelope.payload_bytes() else { return ignored };
    let head: std::result::Result<crate::attest::Statement<serde::de::IgnoredAny>, _> =
        serde_json::from_slice(&payload);
    if head.is_ok_and(|h| h.predicate_type == SAMPLE_RELEASE_V1) {
        let message = crate::attest::dsse::pae(&envelope.payload_type, &payload);
        if statements::find_signer(envelope, &message, gateways).is_some_and(|k| roles.holds(Role::Gateway, &k, index))
        {
            // Without the bundle's path, which names the operator's directory (and, for the
            // newest bundle, its width at this size): a violation the site publishes, and a
            // reading kept for the next run (`memo`), say the same whatever the path.
            let (_, why) = e.subject_and_rest();
            return Outcome::MalformedRelease {
                index,
                envelope: digest,
                detail: format!("a gateway signed a release that does not decode{why}"),
            };
        }
    }
    ignored
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
