//! The transparency log as `verify` sees it: verified once (checkpoint, witnesses, tiles), then
//! every entry read from the entry bundles and authenticated by recomputing the checkpoint's
//! root from them. Statements are found in the log through those entries, which name each
//! envelope by digest, so a mirror that serves only `checkpoint`, `tile/` and `envelopes/`
//! answers as well as the log's own directory (the `envelope-index` is never read). Verdicts
//! about the artifact are fetched from the stored envelopes, so a verdict left out of the
//! attestations directory is still weighed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::evaluate::Evidence;
use super::evidence::{Collected, Found};
use super::Policy;
use crate::attest::{Envelope, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{self, WitnessPolicy};
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::{LogDir, LogEntry};

/// The log as the policy sees it.
pub(super) struct LogView {
    pub required: bool,
    /// The authenticated log, or why it could not be verified.
    log: std::result::Result<Authenticated, String>,
    missing: RefCell<Vec<Evidence>>,
    present: Cell<usize>,
}

struct Authenticated {
    dir: LogDir,
    size: u64,
    /// `<origin> at size N[, cosigned by …]`.
    what: String,
    entries: Vec<LogEntry>,
    /// Envelope digest → its first index.
    index: HashMap<Sha256Digest, u64>,
    /// Subject sha256 (read leniently, as `mentions` reads it) → the VSA entries naming it, in
    /// log order: a verdict is found without a scan of the log per artifact.
    verdicts: HashMap<Sha256Digest, Vec<u64>>,
    /// Envelope bundles read so far (verdicts of one release share bundles).
    bundles: EnvelopeBundles,
}

impl LogView {
    pub fn open(policy: &Policy, dir: LogDir) -> LogView {
        let view = |required, log| LogView { required, log, missing: Default::default(), present: Default::default() };
        match &policy.log {
            None => view(false, Err("no log in the policy".into())),
            Some(lp) => {
                let witnesses = WitnessPolicy { witnesses: lp.witnesses.clone(), threshold: lp.witness_threshold };
                view(lp.required, authenticate(dir, lp, &witnesses).map_err(|e| e.to_string()))
            }
        }
    }

    /// The view of a log the caller has already authenticated
    /// (`transparency::audit::authenticated_entries` for this `dir` and the policy's `[log]`).
    /// `entries` are its entries, parsed, in order.
    pub fn of_authenticated(
        policy: &Policy,
        dir: &LogDir,
        verified: &audit::Verified,
        entries: Vec<LogEntry>,
    ) -> LogView {
        let required = policy.log.as_ref().is_some_and(|lp| lp.required);
        let log = match &policy.log {
            None => Err("no log in the policy".into()),
            Some(_) => index_entries(dir.clone(), verified, entries).map_err(|e| e.to_string()),
        };
        LogView { required, log, missing: Default::default(), present: Default::default() }
    }

    /// Forgets what the last verification counted, for the next artifact.
    pub fn reset(&self) {
        self.missing.borrow_mut().clear();
        self.present.set(0);
    }

    /// The authenticated log index of a statement, if it is in the log.
    pub fn index_of(&self, f: &Found) -> Option<u64> {
        self.log.as_ref().ok()?.index.get(&f.digest).copied()
    }

    /// Every verdict (VSA) the log holds about one of `digests` that `known` (the attestations
    /// directory) does not hold. A verdict the log names but whose stored envelope is missing
    /// or is not the one named leaves `verify` unable to answer.
    pub fn verdicts_about(&self, known: &Collected, digests: &[Sha256Digest]) -> Result<Collected> {
        let mut out = Collected::default();
        let Ok(log) = &self.log else { return Ok(out) };
        let mut about: Vec<u64> = digests.iter().filter_map(|d| log.verdicts.get(d)).flatten().copied().collect();
        about.sort_unstable();
        about.dedup();
        for i in about {
            let entry = &log.entries[i as usize];
            let Some(digest) = envelope_digest(entry) else { continue };
            if known.holds(&digest) || out.holds(&digest) {
                continue;
            }
            let what = format!("log entry {i}");
            let line = log.envelope_line(i).map_err(|e| {
                Error::invalid(&what, format!("a verdict about the artifact, but its envelope cannot be read ({e})"))
            })?;
            let envelope: Envelope = serde_json::from_slice(&line)
                .ok()
                .filter(|e: &Envelope| Sha256Digest::of(&line) == digest && e.digest() == digest)
                .ok_or_else(|| {
                    Error::invalid(
                        &what,
                        "a verdict about the artifact, but the stored envelope is not the one it names",
                    )
                })?;
            out.add(envelope, what);
        }
        Ok(out)
    }

    /// Whether a statement that would count (`would`) does count, with the detail to show and
    /// its log index; a statement that would count but is not in a required log is recorded.
    pub fn count(
        &self,
        f: &Found,
        key: Option<String>,
        would: bool,
        detail: impl FnOnce() -> String,
    ) -> (bool, String, Option<u64>) {
        let index = self.index_of(f);
        let mut detail = detail();
        let counted = would && (index.is_some() || !self.required);
        if would && index.is_none() && self.required {
            detail.push_str(" — NOT in the log, not counted");
            self.missing.borrow_mut().push(Evidence {
                statement: f.location.clone(),
                key,
                counted: false,
                detail: "not in the log".into(),
                log_index: None,
            });
        }
        if would && index.is_some() {
            self.present.set(self.present.get() + 1);
        }
        if !would {
            detail.push_str(" (not counted)");
        }
        (counted, detail, index)
    }

    pub fn requirement(&self) -> Option<super::Requirement> {
        if !self.required {
            return None;
        }
        let missing = self.missing.borrow().clone();
        let (met, summary) = match &self.log {
            Err(why) => (false, format!("the log does not verify: {why}")),
            Ok(log) if missing.is_empty() => {
                (true, format!("every counted statement ({}) is in the log {}", self.present.get(), log.what))
            }
            Ok(log) => (false, format!("{} trusted statement(s) are not in the log {}", missing.len(), log.what)),
        };
        Some(super::Requirement { name: "log".into(), met, summary, evidence: missing })
    }
}

/// Verifies the checkpoint and tiles, reads every entry from the entry bundles and checks that
/// they hash to the checkpoint's root: from then on, what an entry says is what the log says.
fn authenticate(dir: LogDir, lp: &super::LogPolicy, witnesses: &WitnessPolicy) -> Result<Authenticated> {
    let (v, raw) = audit::authenticated_entries(&dir, &lp.vkey, witnesses)?;
    let entries = raw
        .iter()
        .enumerate()
        .map(|(i, bytes)| LogEntry::parse(bytes, &format!("log entry {i}")))
        .collect::<Result<_>>()?;
    index_entries(dir, &v, entries)
}

impl Authenticated {
    /// The stored envelope line of entry `i` (not checked here: callers compare its digest).
    fn envelope_line(&self, i: u64) -> Result<Vec<u8>> {
        let lines = self.bundles.bundle_of(&self.dir, i, self.size)?;
        Ok(lines.get((i % TILE_WIDTH) as usize).cloned().unwrap_or_default())
    }
}

/// Indexes the authenticated, parsed entries by the envelope each names, and the verdicts by
/// the subjects they name.
fn index_entries(dir: LogDir, v: &audit::Verified, entries: Vec<LogEntry>) -> Result<Authenticated> {
    let mut index = HashMap::new();
    let mut verdicts: HashMap<Sha256Digest, Vec<u64>> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let digest = envelope_digest(entry).ok_or_else(|| {
            Error::rejected(format!("log entry {i}"), "does not name its envelope as sha256:<64 lowercase hex digits>")
        })?;
        index.entry(digest).or_insert(i as u64);
        if entry.predicate_type == SLSA_VSA_V1 {
            for subject in entry.subjects.iter().filter_map(|s| s.sha256_lenient()) {
                let list = verdicts.entry(subject).or_default();
                if list.last() != Some(&(i as u64)) {
                    list.push(i as u64);
                }
            }
        }
    }
    let cosigned =
        if v.cosigned_by.is_empty() { String::new() } else { format!(", cosigned by {}", v.cosigned_by.join(", ")) };
    let what = format!("{} at size {}{cosigned}", v.origin, v.size);
    Ok(Authenticated { dir, size: v.size, what, entries, index, verdicts, bundles: Default::default() })
}

/// The envelope digest an entry names, in the one spelling glassbox writes.
fn envelope_digest(entry: &LogEntry) -> Option<Sha256Digest> {
    entry.envelope.strip_prefix("sha256:").and_then(Sha256Digest::from_hex)
}
