//! The gateway's authenticated view of the log's custody entries, kept in the store's SQLite
//! database and extended incrementally: each release reads only the entries logged since the
//! last one, so a release costs the same on a log of a million entries as on an empty one.
//!
//! [`sync`] authenticates the log's checkpoint with the policy's `[log]` key and witness
//! threshold, proves that it extends the (size, root) the ledger saw last (a log that was
//! rewritten is refused), authenticates each new entry by its inclusion under the new root, and
//! indexes the custody statements among them (their stored envelopes checked against the digest
//! the entry names): requests by envelope digest, decisions and releases by request digest,
//! intake batches by index. The envelope lines are kept, and every query decodes them again
//! under the policy it is given, so a signer is always judged by the policy in force.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Transaction};

use super::policies::{is_policy_type, parse_policy};
use super::statements::{decode, is_custody_type, Custody, Identity, Logged};
use super::store::SampleStore;
use crate::attest::custody::{Decision, Intake, Release, Request};
use crate::attest::Envelope;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::policy::{Policy, SamplesPolicy};
use crate::time::{Period, Timestamp};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{authenticate_checkpoint, authenticate_tree, check_consistent, WitnessPolicy};
use crate::transparency::{LogDir, LogEntry};

/// Tables of the ledger (created with the store's schema).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_entries (
    log_index INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,              -- intake, request, decision, release or policy
    envelope TEXT NOT NULL,          -- sha256 hex of the envelope line
    payload TEXT NOT NULL,           -- sha256 hex of the signed payload (with the signer: which statement)
    request TEXT,                    -- decisions and releases: the request envelope's sha256 hex
    signer TEXT,                     -- hex public key of the policy key that verified at sync (policy: none)
    time INTEGER NOT NULL,           -- the statement's own time (Unix seconds)
    line TEXT NOT NULL               -- the envelope line as logged
);
CREATE INDEX IF NOT EXISTS ledger_by_envelope ON ledger_entries(envelope);
CREATE INDEX IF NOT EXISTS ledger_by_payload ON ledger_entries(payload);
CREATE INDEX IF NOT EXISTS ledger_by_request ON ledger_entries(request, kind);
CREATE INDEX IF NOT EXISTS ledger_releases_by_time ON ledger_entries(kind, time);
";

/// What a sync established: the checkpoint the ledger now reflects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    pub size: u64,
    pub root: Sha256Digest,
    /// Entries read by this sync (those logged since the last one).
    pub read: u64,
    /// Custody statements among them that were indexed.
    pub indexed: u64,
}

/// The (size, root) the ledger last synced to, if any.
pub fn state(store: &SampleStore) -> Result<Option<(u64, Sha256Digest)>> {
    let row = store
        .db
        .query_row("SELECT size, root FROM ledger_state WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(|e| store.err(e))?;
    let Some((size, root)) = row else { return Ok(None) };
    let bad = || Error::invalid(store.db_path().display(), "the ledger's state row is corrupt");
    Ok(Some((u64::try_from(size).map_err(|_| bad())?, Sha256Digest::from_hex(&root).ok_or_else(bad)?)))
}

/// Brings the ledger up to the log's current checkpoint, in one transaction. Refuses (exit 1)
/// a checkpoint that does not verify under the policy's `[log]` key and witness threshold, a
/// log that does not extend what the ledger saw, and any new entry or custody envelope the
/// checkpoint does not commit to.
pub fn sync(store: &mut SampleStore, log: &LogDir, policy: &Policy) -> Result<Synced> {
    let samples = samples_policy(policy)?;
    let log_policy = policy.log.as_ref().ok_or_else(|| {
        Error::invalid(policy.path.display(), "has no [log] section: the gateway releases only what the log holds")
    })?;
    let witnesses = WitnessPolicy { witnesses: log_policy.witnesses.clone(), threshold: log_policy.witness_threshold };
    let bytes = log.read_checkpoint_bytes()?;
    let (_, checkpoint, _) =
        authenticate_checkpoint(&bytes, &log.checkpoint_path().display().to_string(), &log_policy.vkey, &witnesses)?;
    let (old_size, old_root) = state(store)?.unwrap_or((0, Sha256Digest(merkle::EMPTY_ROOT)));
    let new_size = checkpoint.size;
    let new_root = Sha256Digest(checkpoint.root);
    if old_size > 0 {
        let old =
            Checkpoint { origin: checkpoint.origin.clone(), size: old_size, root: old_root.0, extensions: Vec::new() };
        check_consistent(log, &old, &checkpoint).map_err(|e| {
            Error::rejected(
                log.root.display(),
                format!("is not an extension of the log the gateway's ledger saw (size {old_size}): {e}"),
            )
        })?;
    }
    if new_size == old_size {
        // The consistency check above proved the roots equal: nothing to record.
        return Ok(Synced { size: new_size, root: new_root, read: 0, indexed: 0 });
    }
    let db_path = store.db_path();
    // The ledger is a cache of the log: a commit lost to a power cut is read from the log again
    // by the next sync (the state it falls back to is older, and still checked for
    // consistency). So its commits need not wait for the disk (WAL with synchronous=NORMAL
    // stays consistent), which saves a release one flush of the disk.
    store.db.execute_batch("PRAGMA synchronous=NORMAL").map_err(|e| db_error(&db_path, e))?;
    let tx = store.db.transaction().map_err(|e| db_error(&db_path, e))?;
    let mut indexed = 0;
    if new_size > old_size {
        let tree = log.tree(new_size);
        // Many new entries (a first sync): authenticate every tile against the checkpoint once,
        // then each entry by its leaf in the (cached, authenticated) level-0 tile. A few: an
        // inclusion proof each, which reads O(log n) tiles instead of all of them.
        let bulk = new_size - old_size > BULK_SYNC;
        if bulk {
            authenticate_tree(log, &tree, &checkpoint)?;
        }
        let mut start = old_size;
        while start < new_size {
            let end = ((start / TILE_WIDTH + 1) * TILE_WIDTH).min(new_size);
            let entries = log.entries(start, end, new_size)?;
            let mut envelopes: Option<Vec<Vec<u8>>> = None;
            for (offset, entry_bytes) in entries.iter().enumerate() {
                let index = start + offset as u64;
                let at = format!("{} entry {index}", log.root.display());
                let leaf = merkle::leaf_hash(entry_bytes);
                let included = if bulk {
                    tree.tile(0, index / TILE_WIDTH)?.get((index % TILE_WIDTH) as usize) == Some(&leaf)
                } else {
                    let proof = merkle::inclusion_proof(&tree, index, new_size)?;
                    merkle::verify_inclusion(&leaf, index, new_size, &proof, &checkpoint.root)
                };
                if !included {
                    return Err(Error::rejected(&at, "its bundle is not the entry the checkpoint's root commits to"));
                }
                // Canonical JSON writes the predicate type literally: entries without this
                // text are not custody statements and need no parsing.
                if !contains(entry_bytes, CUSTODY_MARK) {
                    continue;
                }
                let entry = LogEntry::parse(entry_bytes, &at)?;
                if !is_custody_type(&entry.predicate_type) && !is_policy_type(&entry.predicate_type) {
                    continue;
                }
                let digest = entry.envelope_digest().ok_or_else(|| Error::rejected(&at, "names no envelope digest"))?;
                if envelopes.is_none() {
                    envelopes = Some(log.envelopes(start, end, new_size)?);
                }
                let line = envelopes
                    .as_ref()
                    .and_then(|e| e.get(offset))
                    .ok_or_else(|| Error::rejected(&at, "its envelope bundle holds fewer envelopes than entries"))?;
                if Sha256Digest::of(line) != digest {
                    return Err(Error::rejected(&at, "the stored envelope does not hash to the entry's digest"));
                }
                if index_entry(&tx, samples, index, digest, line, &at)? {
                    indexed += 1;
                }
            }
            start = end;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO ledger_state (id, size, root) VALUES (1, ?1, ?2)",
        params![new_size as i64, new_root.hex()],
    )
    .map_err(|e| db_error(&db_path, e))?;
    tx.commit().map_err(|e| db_error(&db_path, e))?;
    store.db.execute_batch("PRAGMA synchronous=FULL").map_err(|e| db_error(&db_path, e))?;
    Ok(Synced { size: new_size, root: new_root, read: new_size.saturating_sub(old_size), indexed })
}

/// Above this many new entries a sync authenticates all tiles instead of one proof per entry.
const BULK_SYNC: u64 = 1024;

/// What every custody entry's canonical JSON contains.
const CUSTODY_MARK: &[u8] = b"\"predicateType\":\"https://glassbox.dev/sample-";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Indexes one custody envelope; returns whether it was one the ledger keeps. An envelope that
/// does not decode as a custody statement is not indexed: anyone may append to the log, and a
/// malformed statement can neither ask, approve nor release.
fn index_entry(
    tx: &Transaction<'_>,
    policy: &SamplesPolicy,
    index: u64,
    digest: Sha256Digest,
    line: &[u8],
    at: &str,
) -> Result<bool> {
    let Ok(text) = std::str::from_utf8(line) else { return Ok(false) };
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else { return Ok(false) };
    if is_policy_type(&envelope_predicate_type(&envelope)) {
        // Kept as logged: its signer depends on the policies before it ([`policy_lines`]).
        let Ok(p) = parse_policy(&envelope, at) else { return Ok(false) };
        tx.execute(
            "INSERT OR REPLACE INTO ledger_entries (log_index, kind, envelope, payload, request, signer, time, line)
             VALUES (?1, 'policy', ?2, ?3, NULL, NULL, ?4, ?5)",
            params![index as i64, digest.hex(), p.payload.hex(), p.effective_at.0, text],
        )
        .map_err(|e| Error::invalid(at, format!("ledger: {e}")))?;
        return Ok(true);
    }
    let Ok(Some(custody)) = decode(&envelope, digest, index, policy, at) else { return Ok(false) };
    let (kind, request, signer, time) = match &custody {
        Custody::Intake(l) => ("intake", None, signer_hex(l), l.time),
        Custody::Request(l) => ("request", None, signer_hex(l), l.time),
        Custody::Decision(l) => ("decision", request_hex(&l.predicate.request), signer_hex(l), l.time),
        Custody::Release(l) => ("release", request_hex(&l.predicate.request), signer_hex(l), l.time),
    };
    tx.execute(
        "INSERT OR REPLACE INTO ledger_entries (log_index, kind, envelope, payload, request, signer, time, line)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![index as i64, kind, digest.hex(), custody.payload().hex(), request, signer, time.0, text],
    )
    .map_err(|e| Error::invalid(at, format!("ledger: {e}")))?;
    Ok(true)
}

/// The predicate type of an in-toto envelope's statement (empty if it has none).
fn envelope_predicate_type(envelope: &Envelope) -> String {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "predicateType", default)]
        predicate_type: String,
    }
    envelope
        .payload_bytes()
        .ok()
        .and_then(|p| serde_json::from_slice::<Head>(&p).ok())
        .map(|h| h.predicate_type)
        .unwrap_or_default()
}

/// Every logged policy statement (log index, envelope line), in log order: few, read whole
/// by [`super::policies::history_of`].
pub fn policy_lines(store: &SampleStore) -> Result<Vec<(u64, String)>> {
    Ok(rows(store, "SELECT log_index, line FROM ledger_entries WHERE kind = 'policy' ORDER BY log_index", [])?
        .into_iter()
        .map(|r| (r.index, r.line))
        .collect())
}

fn signer_hex<P>(l: &Logged<P>) -> Option<String> {
    l.signer.as_ref().map(|k| crate::digest::hex_encode(k.key.as_bytes()))
}

fn request_hex(field: &str) -> Option<String> {
    super::statements::prefixed(field).map(|d| d.hex())
}

fn db_error(path: &std::path::Path, e: rusqlite::Error) -> Error {
    Error::invalid(path.display(), format!("ledger: {e}"))
}

/// The `[samples]` section, which every custody command needs.
pub fn samples_policy(policy: &Policy) -> Result<&SamplesPolicy> {
    policy
        .samples
        .as_ref()
        .ok_or_else(|| Error::invalid(policy.path.display(), "has no [samples] section: it governs no samples"))
}

/// One indexed entry: its log index and envelope line.
struct Row {
    index: u64,
    line: String,
}

fn rows(store: &SampleStore, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Row>> {
    let mut stmt = store.db.prepare_cached(sql).map_err(|e| store.err(e))?;
    let found =
        stmt.query_map(args, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(|e| store.err(e))?;
    let mut out = Vec::new();
    for row in found {
        let (index, line) = row.map_err(|e| store.err(e))?;
        let index = u64::try_from(index)
            .map_err(|_| Error::invalid(store.db_path().display(), "the ledger holds a negative log index"))?;
        out.push(Row { index, line });
    }
    Ok(out)
}

/// Decodes an indexed line again under `policy` (the signer is the policy's, now).
fn decoded(policy: &SamplesPolicy, row: &Row) -> Result<Option<Custody>> {
    let origin = format!("log entry {}", row.index);
    let envelope: Envelope = serde_json::from_str(&row.line)
        .map_err(|e| Error::invalid(&origin, format!("the ledger's copy is not a DSSE envelope ({e})")))?;
    Ok(decode(&envelope, Sha256Digest::of(row.line.as_bytes()), row.index, policy, &origin).ok().flatten())
}

/// The log index of an earlier entry with the same identity as `c` (its signed payload and
/// its signer under `policy`): `c` is then a repeat, which counts for nothing.
pub fn repeat_of(store: &SampleStore, policy: &SamplesPolicy, c: &Custody) -> Result<Option<u64>> {
    let found = rows(
        store,
        "SELECT log_index, line FROM ledger_entries WHERE payload = ?1 AND log_index < ?2 ORDER BY log_index",
        params![c.payload().hex(), i64::try_from(c.index()).unwrap_or(i64::MAX)],
    )?;
    for row in &found {
        if decoded(policy, row)?.is_some_and(|earlier| earlier.identity() == c.identity()) {
            return Ok(Some(row.index));
        }
    }
    Ok(None)
}

/// Drops repeats (same identity as an earlier one in the list), keeping log order.
fn distinct<P>(all: Vec<Logged<P>>, wrap: impl Fn(&Logged<P>) -> Identity) -> Vec<Logged<P>> {
    let mut seen = HashSet::new();
    all.into_iter().filter(|l| seen.insert(wrap(l))).collect()
}

fn identity<P>(l: &Logged<P>) -> Identity {
    (l.payload, l.signer.as_ref().map(|k| *k.key.as_bytes()))
}

/// The logged request whose envelope digest is `digest` (the first, if logged twice), and the
/// index of an earlier request it repeats, if any.
pub fn request(
    store: &SampleStore,
    policy: &SamplesPolicy,
    digest: &Sha256Digest,
) -> Result<Option<(Logged<Request>, Option<u64>)>> {
    let found = rows(
        store,
        "SELECT log_index, line FROM ledger_entries WHERE envelope = ?1 AND kind = 'request' ORDER BY log_index LIMIT 1",
        params![digest.hex()],
    )?;
    for row in &found {
        if let Some(c @ Custody::Request(_)) = decoded(policy, row)? {
            let repeat = repeat_of(store, policy, &c)?;
            if let Custody::Request(l) = c {
                return Ok(Some((l, repeat)));
            }
        }
    }
    Ok(None)
}

/// The logged envelope line of a request (to write beside a release, or to show).
pub fn line_at(store: &SampleStore, index: u64) -> Result<Option<String>> {
    Ok(rows(store, "SELECT log_index, line FROM ledger_entries WHERE log_index = ?1", params![index as i64])?
        .into_iter()
        .next()
        .map(|r| r.line))
}

/// The intake statement at log index `index`, if the ledger holds one there that is not a
/// repeat of an earlier one (a re-wrapped batch takes no sample in).
pub fn intake_at(store: &SampleStore, policy: &SamplesPolicy, index: u64) -> Result<Option<Logged<Intake>>> {
    let found = rows(
        store,
        "SELECT log_index, line FROM ledger_entries WHERE log_index = ?1 AND kind = 'intake'",
        params![i64::try_from(index).unwrap_or(-1)],
    )?;
    for row in &found {
        if let Some(c @ Custody::Intake(_)) = decoded(policy, row)? {
            if repeat_of(store, policy, &c)?.is_some() {
                return Ok(None);
            }
            if let Custody::Intake(l) = c {
                return Ok(Some(l));
            }
        }
    }
    Ok(None)
}

/// Every logged decision about the request `request`, in log order, repeats dropped (a repeat
/// names the same request, so it is in this list after the statement it repeats).
pub fn decisions(store: &SampleStore, policy: &SamplesPolicy, request: &Sha256Digest) -> Result<Vec<Logged<Decision>>> {
    let found = rows(
        store,
        "SELECT log_index, line FROM ledger_entries WHERE request = ?1 AND kind = 'decision' ORDER BY log_index",
        params![request.hex()],
    )?;
    let mut out = Vec::new();
    for row in &found {
        if let Some(Custody::Decision(l)) = decoded(policy, row)? {
            out.push(l);
        }
    }
    Ok(distinct(out, identity))
}

/// The logged releases of the request `request` signed by a gateway key of `policy`, in log
/// order, repeats dropped. (A release signed by anyone else releases nothing.)
pub fn releases(store: &SampleStore, policy: &SamplesPolicy, request: &Sha256Digest) -> Result<Vec<Logged<Release>>> {
    let found = rows(
        store,
        "SELECT log_index, line FROM ledger_entries WHERE request = ?1 AND kind = 'release' ORDER BY log_index",
        params![request.hex()],
    )?;
    let mut out = Vec::new();
    for row in &found {
        if let Some(Custody::Release(l)) = decoded(policy, row)? {
            if l.signer.is_some() {
                out.push(l);
            }
        }
    }
    Ok(distinct(out, identity))
}

/// How many releases signed by a gateway key of `policy` are dated in the calendar `period`
/// that `at` falls in (what the quota counts): every one, proper or not, a repeat once (its
/// copies carry the same releasedAt, so they are all in this period).
pub fn releases_in_period(store: &SampleStore, policy: &SamplesPolicy, period: Period, at: Timestamp) -> Result<u64> {
    let (start, end) = period_bounds(period, at);
    let mut stmt = store
        .db
        .prepare_cached(
            "SELECT signer, payload FROM ledger_entries WHERE kind = 'release' AND time >= ?1 AND time < ?2",
        )
        .map_err(|e| store.err(e))?;
    let found = stmt
        .query_map(params![start.0, end.0], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| store.err(e))?;
    let gateways: Vec<String> = policy.gateways.iter().map(|k| crate::digest::hex_encode(k.key.as_bytes())).collect();
    let mut counted = HashSet::new();
    for row in found {
        let (signer, payload) = row.map_err(|e| store.err(e))?;
        // The stored signer is the one that verified at sync; it still counts only if the
        // policy in force names it.
        if let Some(signer) = signer.filter(|s| gateways.contains(s)) {
            counted.insert((payload, signer));
        }
    }
    Ok(counted.len() as u64)
}

/// The first instant of the calendar period `at` falls in, and of the next one (UTC).
pub fn period_bounds(period: Period, at: Timestamp) -> (Timestamp, Timestamp) {
    let name = at.period(period);
    let parse = |text: String| Timestamp::parse_rfc3339(&text).unwrap_or(at);
    match period {
        Period::Day => {
            let start = parse(format!("{name}T00:00:00Z"));
            (start, Timestamp(start.0 + 86_400))
        }
        Period::Month => {
            let start = parse(format!("{name}-01T00:00:00Z"));
            // The 1st of the month plus 32 days is always in the next month.
            let next = Timestamp(start.0 + 32 * 86_400).period(Period::Month);
            (start, parse(format!("{next}-01T00:00:00Z")))
        }
        Period::Year => {
            let start = parse(format!("{name}-01-01T00:00:00Z"));
            let next = Timestamp(start.0 + 367 * 86_400).period(Period::Year);
            (start, parse(format!("{next}-01-01T00:00:00Z")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_periods() {
        let at = Timestamp::parse_rfc3339("2024-02-29T13:14:15Z").unwrap();
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        assert_eq!(period_bounds(Period::Day, at), (t("2024-02-29T00:00:00Z"), t("2024-03-01T00:00:00Z")));
        assert_eq!(period_bounds(Period::Month, at), (t("2024-02-01T00:00:00Z"), t("2024-03-01T00:00:00Z")));
        assert_eq!(period_bounds(Period::Year, at), (t("2024-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z")));
        let dec = t("2026-12-31T23:59:59Z");
        assert_eq!(period_bounds(Period::Month, dec), (t("2026-12-01T00:00:00Z"), t("2027-01-01T00:00:00Z")));
    }
}
