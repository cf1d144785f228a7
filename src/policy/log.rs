//! The transparency log as `verify` sees it: verified once (checkpoint, witnesses), then every
//! entry read from the entry bundles and authenticated by recomputing the checkpoint's root
//! from them. Statements are found in the log through those entries, which name each envelope
//! by digest, so a mirror that serves only `checkpoint`, `tile/` and `envelopes/` answers as
//! well as the log's own directory (the `envelope-index` is never read). Verdicts about the
//! artifact are fetched from the stored envelopes, so a verdict left out of the attestations
//! directory is still weighed.
//!
//! When the log publishes a subject index signed by the log key (`subjects/`,
//! [`crate::transparency::subject_index`]), only the entries after it are read; what is before
//! it is looked up in the index, every hit proved against the root, and an index that does not
//! verify stops `verify` (exit 2) rather than being trusted for what it leaves out.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::collections::HashMap;

use super::evaluate::Evidence;
use super::evidence::{Collected, Found};
use super::Policy;
use crate::attest::{Envelope, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::digest::Sha256Digest as Digest;
use crate::error::{Error, Result};
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{self, WitnessPolicy};
use crate::transparency::follow::{FollowedLog, LogTrust};
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::subject_index::{self, Kind, Manifest};
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
    /// The entries read: all of them, or those from `from` on when a subject index covers the
    /// first `from`.
    from: u64,
    entries: std::sync::Arc<Vec<LogEntry>>,
    /// Envelope digest → its first index (among the entries read).
    index: HashMap<Sha256Digest, u64>,
    /// Subject sha256 (read leniently, as `mentions` reads it) → the VSA entries naming it, in
    /// log order: a verdict is found without a scan of the log per artifact.
    verdicts: HashMap<Sha256Digest, Vec<u64>>,
    /// The signed subject index of the first `from` entries, and the entries found (and
    /// proved) through it.
    indexed: Option<subject_index::Reader>,
    proved: RefCell<BTreeMap<u64, LogEntry>>,
    /// Why an index lookup failed: the log then does not verify.
    broken: RefCell<Option<String>>,
    /// Envelope bundles read so far (verdicts of one release share bundles).
    bundles: EnvelopeBundles,
    /// `inputAttestations` digest → the verdict entries (among those read) naming it: read from
    /// the verdicts' envelopes the first time a provenance is looked up.
    inputs: std::cell::OnceCell<HashMap<Sha256Digest, Vec<u64>>>,
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
    /// `entries` are its entries, parsed, in order; `bundles` the caller's envelope bundles of
    /// it, shared, so that what either reads is read once.
    pub fn of_authenticated(
        policy: &Policy,
        dir: &LogDir,
        verified: &audit::Verified,
        entries: std::sync::Arc<Vec<LogEntry>>,
        bundles: EnvelopeBundles,
    ) -> LogView {
        let required = policy.log.as_ref().is_some_and(|lp| lp.required);
        let log = match &policy.log {
            None => Err("no log in the policy".into()),
            Some(_) => {
                let what = describe(&verified.origin, verified.size, &verified.cosigned_by);
                let mut log = index_entries(dir.clone(), &what, 0, entries, None);
                if let Ok(log) = &mut log {
                    log.bundles = bundles;
                }
                log.map_err(|e| e.to_string())
            }
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
        let log = self.log.as_ref().ok()?;
        match log.first_index(&f.digest) {
            Ok(found) => found,
            Err(e) => {
                log.broken.borrow_mut().get_or_insert(e.to_string());
                None
            }
        }
    }

    /// Every verdict (VSA) the log holds about one of `digests` that `known` (the attestations
    /// directory) does not hold. A verdict the log names but whose stored envelope is missing
    /// or is not the one named leaves `verify` unable to answer.
    pub fn verdicts_about(
        &self,
        known: &Collected,
        digests: &[Sha256Digest],
        provenances: &[Sha256Digest],
    ) -> Result<Collected> {
        let mut out = Collected::default();
        let Ok(log) = &self.log else { return Ok(out) };
        let mut about = Vec::new();
        for d in digests {
            about.extend(log.verdicts_naming(d)?);
        }
        for p in provenances {
            about.extend(log.verdicts_on(p)?);
        }
        about.sort_unstable();
        about.dedup();
        for i in about {
            let Some(digest) = log.entry(i).as_ref().and_then(envelope_digest) else { continue };
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
        key: Option<&super::TrustedKey>,
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
                key: key.map(|k| k.id.clone()),
                key_path: key.map(|k| k.path.clone()),
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
        let broken = self.log.as_ref().ok().and_then(|log| log.broken.borrow().clone());
        let (met, summary) = match &self.log {
            Err(why) => (false, format!("the log does not verify: {why}")),
            Ok(_) if broken.is_some() => {
                (false, format!("the log's subject index does not verify: {}", broken.unwrap_or_default()))
            }
            Ok(log) if missing.is_empty() && self.present.get() == 0 => {
                (true, format!("no statement counted, so none had to be found in the log {}", log.what))
            }
            Ok(log) if missing.is_empty() => {
                (true, format!("every counted statement ({}) is in the log {}", self.present.get(), log.what))
            }
            Ok(log) => (false, format!("{} trusted statement(s) are not in the log {}", missing.len(), log.what)),
        };
        Some(super::Requirement { name: "log".into(), met, summary, evidence: missing })
    }
}

/// Verifies the checkpoint, reads the entries from the entry bundles and checks that they hash
/// to the checkpoint's root: from then on, what an entry says is what the log says. With a
/// subject index signed by the log key, only the entries after it are read, starting from the
/// index's own root (which the tail must lead from to the checkpoint's).
fn authenticate(dir: LogDir, lp: &super::LogPolicy, witnesses: &WitnessPolicy) -> Result<Authenticated> {
    // Without an index the whole log is read, which is always right: so an index that cannot
    // be fetched (a mirror without one, a bucket answering 403 for a missing object) is no
    // index. One that is there but does not verify is a lie, and refused.
    //
    // The manifest is the log key's word alone: no witness cosigns it. Where the policy counts
    // on witnesses (so that the log key alone cannot show one reader another history), the
    // index is not used and every entry is read.
    let manifest = match dir.read_optional(subject_index::MANIFEST, subject_index::MAX_MANIFEST) {
        _ if witnesses.threshold > 0 => None,
        Ok(Some(bytes)) => Some(Manifest::verify(&bytes, &lp.vkey)?),
        Ok(None) | Err(_) => None,
    };
    let (_, checkpoint) = dir.read_checkpoint()?;
    let Some(manifest) = manifest.filter(|m| m.size > 0 && m.size <= checkpoint.size) else {
        let (v, raw) = audit::authenticated_entries(&dir, &lp.vkey, witnesses)?;
        let entries: Vec<LogEntry> = raw
            .iter()
            .enumerate()
            .map(|(i, bytes)| LogEntry::parse(bytes, &format!("log entry {i}")))
            .collect::<Result<_>>()?;
        return index_entries(dir, &describe(&v.origin, v.size, &v.cosigned_by), 0, entries.into(), None);
    };
    let mut position = FollowedLog::starting_at(&dir, manifest.size)?;
    if position.root() != manifest.root {
        return Err(Error::rejected(
            dir.file(subject_index::MANIFEST).display(),
            format!("names another tree of {} entries than the log's", manifest.size),
        ));
    }
    let trust = LogTrust { vkey: lp.vkey.clone(), witnesses: witnesses.clone() };
    let from = manifest.size;
    let entries =
        position.advance(&dir, &trust, |i, bytes| LogEntry::parse(bytes, &format!("log entry {i}")).map(Some))?;
    let bytes = dir.read_checkpoint_bytes()?;
    let (_, checkpoint, cosigned_by) =
        audit::authenticate_checkpoint(&bytes, &dir.checkpoint_path().display().to_string(), &lp.vkey, witnesses)?;
    if checkpoint.size != position.size() {
        return Err(Error::invalid(dir.checkpoint_path().display(), "changed while it was read; try again"));
    }
    let what = describe(&checkpoint.origin, checkpoint.size, &cosigned_by);
    index_entries(dir, &what, from, entries.into(), Some((manifest, checkpoint.root)))
}

fn describe(origin: &str, size: u64, cosigned_by: &[String]) -> String {
    let cosigned =
        if cosigned_by.is_empty() { String::new() } else { format!(", cosigned by {}", cosigned_by.join(", ")) };
    format!("{origin} at size {size}{cosigned}")
}

impl Authenticated {
    /// The stored envelope line of entry `i` (not checked here: callers compare its digest).
    fn envelope_line(&self, i: u64) -> Result<Vec<u8>> {
        let lines = self.bundles.bundle_of(&self.dir, i, self.size)?;
        Ok(lines.get((i % TILE_WIDTH) as usize).cloned().unwrap_or_default())
    }
}

/// Indexes the authenticated, parsed entries (from entry `from` on) by the envelope each names,
/// and the verdicts by the subjects they name.
fn index_entries(
    dir: LogDir,
    what: &str,
    from: u64,
    entries: std::sync::Arc<Vec<LogEntry>>,
    indexed: Option<(Manifest, crate::tlog::Hash)>,
) -> Result<Authenticated> {
    let mut index = HashMap::new();
    let mut verdicts: HashMap<Sha256Digest, Vec<u64>> = HashMap::new();
    for (k, entry) in entries.iter().enumerate() {
        let i = from + k as u64;
        let digest = envelope_digest(entry).ok_or_else(|| {
            Error::rejected(format!("log entry {i}"), "does not name its envelope as sha256:<64 lowercase hex digits>")
        })?;
        index.entry(digest).or_insert(i);
        if entry.predicate_type == SLSA_VSA_V1 {
            for subject in entry.subjects.iter().filter_map(|s| s.sha256_lenient()) {
                let list = verdicts.entry(subject).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
    }
    let size = from + entries.len() as u64;
    let indexed = indexed.map(|(manifest, root)| subject_index::Reader::new(dir.clone(), manifest, size, root));
    Ok(Authenticated {
        dir,
        size,
        what: what.to_string(),
        from,
        entries,
        index,
        verdicts,
        indexed,
        proved: Default::default(),
        broken: Default::default(),
        bundles: Default::default(),
        inputs: Default::default(),
    })
}

impl Authenticated {
    /// Looks `digest` up as `kind` in the subject index (nothing when there is none); each
    /// entry found is proved and kept.
    fn through_index(&self, kind: Kind, digest: &Digest) -> Result<Vec<u64>> {
        let Some(reader) = &self.indexed else { return Ok(Vec::new()) };
        let found = reader.find(kind, digest)?;
        let mut proved = self.proved.borrow_mut();
        Ok(found
            .into_iter()
            .map(|(i, entry)| {
                proved.insert(i, entry);
                i
            })
            .collect())
    }

    /// The first entry that names the envelope `digest`.
    fn first_index(&self, digest: &Digest) -> Result<Option<u64>> {
        if let Some(first) = self.through_index(Kind::Envelope, digest)?.first() {
            return Ok(Some(*first));
        }
        Ok(self.index.get(digest).copied())
    }

    /// The verdict entries naming the subject `digest`, in log order.
    fn verdicts_naming(&self, digest: &Digest) -> Result<Vec<u64>> {
        let mut found = self.through_index(Kind::VerdictSubject, digest)?;
        found.extend(self.verdicts.get(digest).into_iter().flatten());
        Ok(found)
    }

    /// The verdict entries whose `inputAttestations` name the provenance envelope `digest`, in
    /// log order: from the index, and from the envelopes of the verdicts read (all of them
    /// once, the first time).
    fn verdicts_on(&self, digest: &Digest) -> Result<Vec<u64>> {
        let mut found = self.through_index(Kind::VerdictInput, digest)?;
        if self.inputs.get().is_none() {
            let mut inputs: HashMap<Sha256Digest, Vec<u64>> = HashMap::new();
            for (k, entry) in self.entries.iter().enumerate().filter(|(_, e)| e.predicate_type == SLSA_VSA_V1) {
                let i = self.from + k as u64;
                let at = format!("log entry {i}");
                for input in subject_index::verdict_inputs(&self.envelope_line(i)?, entry, &at)? {
                    inputs.entry(input).or_default().push(i);
                }
            }
            let _ = self.inputs.set(inputs);
        }
        found.extend(self.inputs.get().and_then(|m| m.get(digest)).into_iter().flatten());
        Ok(found)
    }

    /// Entry `i`, if it was read or proved.
    fn entry(&self, i: u64) -> Option<LogEntry> {
        match i.checked_sub(self.from) {
            Some(k) => self.entries.get(k as usize).cloned(),
            None => self.proved.borrow().get(&i).cloned(),
        }
    }
}

/// The envelope digest an entry names, in the one spelling glassbox writes.
fn envelope_digest(entry: &LogEntry) -> Option<Sha256Digest> {
    entry.envelope.strip_prefix("sha256:").and_then(Sha256Digest::from_hex)
}
