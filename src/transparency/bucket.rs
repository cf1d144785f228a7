//! A log in a bucket, written by one process (the log service) and committed by compare-and-swap
//! on one small lock object, as Sunlight does, so that the bucket is all the state there is.
//!
//! Each batch: (1) stage every new object in one create-only object `.glassbox/staged/<size>-<root>`;
//! (2) swap the lock object `.glassbox/lock` to `{checkpoint, staged}`, conditional on the
//! version this writer last wrote (the point of commit: the signed checkpoint in the lock is the
//! log's true head); (3) write the staged objects create-only (identical bytes already there
//! are success); (4) the caller has the checkpoint cosigned and publishes `checkpoint`.
//! A writer killed at any instant leaves a log that verifies: before (2) nothing the lock names
//! changed; after it, [`BucketWriter::open`] finishes the staged batch before anything else. A
//! second writer loses its first swap and stops, naming the checkpoint the other one committed.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::append::{empty_checkpoint, Plan};
use super::store::{LogDir, CHECKPOINT_FILE};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::remote::block_on;
use crate::remote::objects::{Objects, Swap, Version};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::Hash;

/// The lock object: the log's committed head.
pub const LOCK_OBJECT: &str = ".glassbox/lock";
const STAGED_PREFIX: &str = ".glassbox/staged";
/// The largest lock object (a checkpoint note and a name).
const MAX_LOCK_BYTES: u64 = 1 << 20;
/// The largest staged batch: 4,096 envelopes at the largest size, with their tiles.
const MAX_STAGED_BYTES: u64 = 20 << 30;
/// Objects written at once when a batch is applied.
const PARALLEL_WRITES: usize = 16;

/// What the lock object holds (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockRecord {
    /// The committed checkpoint, signed by the log key (no cosignatures).
    checkpoint: String,
    /// The staged batch this checkpoint commits, applied by whoever opens the log next.
    staged: Option<String>,
}

/// The only writer of a bucket log.
pub struct BucketWriter {
    log: LogDir,
    key: PrivateKey,
    verifier: NoteVerifier,
    version: Version,
    checkpoint: Checkpoint,
    /// The committed checkpoint's note, signed by the log key only.
    note: Vec<u8>,
    /// The staged batch the lock object names (removed once the next batch is committed and
    /// written, so that staged batches do not pile up and none the lock names is ever missing).
    staged: Option<String>,
}

/// Creates an empty log in `objects`: the lock object (create-only, so two inits cannot both
/// succeed) and the public checkpoint. Returns the log's verifier key.
pub fn init(objects: &Objects, origin: &str, key: &PrivateKey) -> Result<NoteVerifier> {
    if objects.get_blocking(CHECKPOINT_FILE, MAX_LOCK_BYTES)?.is_some() {
        return Err(Error::invalid(objects.name(CHECKPOINT_FILE), "a log already exists here"));
    }
    let note = Note::sign(&empty_checkpoint(origin).to_text(), origin, key)?.to_bytes();
    let record = LockRecord { checkpoint: text(&note)?, staged: None };
    match objects.swap_blocking(LOCK_OBJECT, &serde_json::to_vec(&record).map_err(json_error)?, None)? {
        Swap::Swapped(_) => {}
        Swap::Lost => return Err(Error::invalid(objects.name(LOCK_OBJECT), "a log already exists here")),
    }
    objects.put_blocking(CHECKPOINT_FILE, &note)?;
    Ok(NoteVerifier::ed25519(origin, &key.public()))
}

impl BucketWriter {
    /// Takes over the log in `objects`: reads the lock object, checks its checkpoint is signed
    /// by `key`, finishes the batch it staged, and checks the tree adds up to its root.
    pub fn open(objects: &Objects, key: PrivateKey) -> Result<BucketWriter> {
        let lock_name = objects.name(LOCK_OBJECT);
        let Some((bytes, version)) = objects.get_blocking(LOCK_OBJECT, MAX_LOCK_BYTES)? else {
            return Err(Error::invalid(&lock_name, "does not exist: no log here (create one with glassbox log init)"));
        };
        let record: LockRecord = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(&lock_name, format!("is not a glassbox lock object: {e}")))?;
        let note = record.checkpoint.into_bytes();
        let (checkpoint, verifier) = signed_checkpoint(&note, &key, &lock_name)?;
        let log = LogDir::in_objects(objects.clone());
        if let Some(staged) = &record.staged {
            apply_staged(objects, staged)?;
        }
        if merkle::root(&log.tree(checkpoint.size), checkpoint.size)? != checkpoint.root {
            return Err(Error::rejected(
                objects.display(),
                format!(
                    "the stored tiles do not add up to the root of the committed checkpoint (size {})",
                    checkpoint.size
                ),
            ));
        }
        Ok(BucketWriter { log, key, verifier, version, checkpoint, note, staged: record.staged })
    }

    /// The log, for planning batches and reading proofs.
    pub fn log(&self) -> &LogDir {
        &self.log
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The committed checkpoint's note, signed by the log key only.
    pub fn note(&self) -> &[u8] {
        &self.note
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Commits `plan` (made from this writer's checkpoint): stage, swap the lock, write the
    /// objects. Returns the new checkpoint's note (log signature only). A lost swap means
    /// another writer has taken over the bucket: an error naming its checkpoint, after which
    /// this writer must stop.
    pub fn commit(&mut self, plan: &Plan) -> Result<Vec<u8>> {
        if plan.old != self.checkpoint {
            return Err(Error::invalid("the batch", "was planned from another checkpoint than the committed one"));
        }
        if plan.records.is_empty() {
            return Ok(self.note.clone());
        }
        let objects = self.log.objects().ok_or_else(|| Error::invalid(self.log.root.display(), "is not a bucket"))?;
        let note = Note::sign(&plan.new.to_text(), &plan.new.origin, &self.key)?.to_bytes();
        let staged = format!("{STAGED_PREFIX}/{}-{}", plan.new.size, hex(&plan.new.root));
        objects.create_blocking(&staged, &encode_staged(&plan.objects))?;
        let record = LockRecord { checkpoint: text(&note)?, staged: Some(staged.clone()) };
        let bytes = serde_json::to_vec(&record).map_err(json_error)?;
        match objects.swap_blocking(LOCK_OBJECT, &bytes, Some(&self.version))? {
            Swap::Swapped(version) => self.version = version,
            Swap::Lost => return Err(self.taken_over(objects)),
        }
        write_all(objects, &plan.objects)?;
        // The lock names the new batch now and its objects are written: the one before is
        // needed no more. Removed off the batch's path (a DELETE is slow on some stores); a
        // failed or unfinished removal only leaves an object behind.
        if let Some(previous) = self.staged.replace(staged) {
            let objects = objects.clone();
            crate::remote::spawn_detached(async move {
                let _ = objects.delete(&previous).await;
            });
        }
        self.checkpoint = plan.new.clone();
        self.note = note.clone();
        Ok(note)
    }

    /// The error for a lost compare-and-swap: who holds the log now.
    fn taken_over(&self, objects: &Objects) -> Error {
        let theirs = objects
            .get_blocking(LOCK_OBJECT, MAX_LOCK_BYTES)
            .ok()
            .flatten()
            .and_then(|(bytes, _)| serde_json::from_slice::<LockRecord>(&bytes).ok())
            .and_then(|r| Note::parse(r.checkpoint.as_bytes()).ok())
            .and_then(|n| Checkpoint::parse(&n.text).ok());
        let who = match theirs {
            Some(c) => format!("size {}, root {}", c.size, hex(&c.root)),
            None => "unreadable".to_string(),
        };
        Error::rejected(
            objects.name(LOCK_OBJECT),
            format!(
                "another writer committed to this log (its checkpoint: {who}); this server stops, nothing it acknowledged is lost"
            ),
        )
    }
}

/// Publishes `note` (a committed checkpoint with its cosignatures) as `checkpoint`.
pub fn publish(objects: &Objects, note: &[u8]) -> Result<()> {
    objects.put_blocking(CHECKPOINT_FILE, note)
}

/// Points the lock object at `note` (the tree `checkpoint`), for a log mirrored into the bucket
/// (`glassbox log mirror`): created if absent, else moved forward only from an earlier size
/// (a log service running on the bucket and ahead of the mirror is never overruled).
pub fn adopt(objects: &Objects, note: &[u8], checkpoint: &Checkpoint) -> Result<()> {
    let record = serde_json::to_vec(&LockRecord { checkpoint: text(note)?, staged: None }).map_err(json_error)?;
    let current = objects.get_blocking(LOCK_OBJECT, MAX_LOCK_BYTES)?;
    let expected = match &current {
        None => None,
        Some((bytes, version)) => {
            let theirs = serde_json::from_slice::<LockRecord>(bytes)
                .ok()
                .and_then(|r| Note::parse(r.checkpoint.as_bytes()).ok())
                .and_then(|n| Checkpoint::parse(&n.text).ok())
                .ok_or_else(|| Error::invalid(objects.name(LOCK_OBJECT), "is not a glassbox lock object"))?;
            if theirs.size > checkpoint.size || (theirs.size == checkpoint.size && theirs.root != checkpoint.root) {
                return Err(Error::invalid(
                    objects.name(LOCK_OBJECT),
                    format!(
                        "commits a log of size {} that this mirror does not extend (is a log service writing here?)",
                        theirs.size
                    ),
                ));
            }
            Some(version)
        }
    };
    match objects.swap_blocking(LOCK_OBJECT, &record, expected)? {
        Swap::Swapped(_) => Ok(()),
        Swap::Lost => {
            Err(Error::invalid(objects.name(LOCK_OBJECT), "changed while the log was mirrored: another writer"))
        }
    }
}

/// Refuses (exit 2, naming the failed check) a store that ignores create-only writes or
/// compare-and-swap, as some S3 clones silently do: the log's safety rests on both. Probes
/// with an object of its own under `.glassbox/`, removed afterwards.
pub fn check_store(objects: &Objects) -> Result<()> {
    use rand_core::{OsRng, RngCore};
    let mut nonce = [0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    let probe = format!(".glassbox/probe-{}", hex_bytes(&nonce));
    let fail = |check: &str| {
        Error::invalid(
            objects.display(),
            format!("the store does not honour {check}: a log cannot be kept here safely (see docs/log.md, \"Object storage\")"),
        )
    };
    let first = match objects.swap_blocking(&probe, b"glassbox probe 1", None)? {
        Swap::Swapped(version) => version,
        Swap::Lost => return Err(fail("create-only writes (a new object was refused)")),
    };
    let outcome = (|| {
        if !matches!(objects.swap_blocking(&probe, b"glassbox probe 2", None)?, Swap::Lost) {
            return Err(fail("create-only writes (If-None-Match: * replaced an existing object)"));
        }
        let second = match objects.swap_blocking(&probe, b"glassbox probe 3", Some(&first))? {
            Swap::Swapped(version) => version,
            Swap::Lost => return Err(fail("compare-and-swap (a write at the current version was refused)")),
        };
        if !matches!(objects.swap_blocking(&probe, b"glassbox probe 4", Some(&first))?, Swap::Lost) {
            return Err(fail("compare-and-swap (a write at a stale version replaced the object)"));
        }
        let _ = second;
        match objects.get_blocking(&probe, 64)? {
            Some((bytes, _)) if bytes == b"glassbox probe 3" => Ok(()),
            _ => Err(fail("compare-and-swap (the object does not hold the last winning write)")),
        }
    })();
    // The verdict comes first: a store that fails a check may fail the clean-up too.
    let cleaned = objects.delete_blocking(&probe);
    outcome?;
    cleaned
}

/// The checkpoint in `note`, which must be signed by `key` under its own origin.
fn signed_checkpoint(note: &[u8], key: &PrivateKey, what: &str) -> Result<(Checkpoint, NoteVerifier)> {
    let parsed = Note::parse(note).map_err(|e| Error::invalid(what, e.to_string()))?;
    let checkpoint = Checkpoint::parse(&parsed.text).map_err(|e| Error::invalid(what, e.to_string()))?;
    let verifier = NoteVerifier::ed25519(&checkpoint.origin, &key.public());
    if !parsed.verified_by(&verifier) {
        return Err(Error::invalid(what, "holds a checkpoint not signed by this key: wrong --key for this log"));
    }
    Ok((checkpoint, verifier))
}

/// Writes the staged batch `staged` names (create-only: identical objects already there are
/// success, so applying a batch twice is harmless).
fn apply_staged(objects: &Objects, staged: &str) -> Result<()> {
    if !staged.starts_with(STAGED_PREFIX) || staged.contains("..") {
        return Err(Error::invalid(objects.name(LOCK_OBJECT), format!("names a staged batch outside {STAGED_PREFIX}")));
    }
    let Some((bytes, _)) = objects.get_blocking(staged, MAX_STAGED_BYTES)? else {
        return Err(Error::invalid(objects.name(staged), "is missing: the committed batch cannot be finished"));
    };
    let batch = decode_staged(&bytes).map_err(|why| Error::invalid(objects.name(staged), why))?;
    write_all(objects, &batch)
}

pub(crate) fn write_all(objects: &Objects, batch: &[(String, Vec<u8>)]) -> Result<()> {
    let results: Vec<Result<()>> = block_on(
        futures_util::stream::iter(batch.iter().map(|(rel, bytes)| objects.create(rel, bytes)))
            .buffer_unordered(PARALLEL_WRITES)
            .collect(),
    )?;
    results.into_iter().collect()
}

/// A staged batch: for each object, a line `<path> <length>` and then its bytes.
fn encode_staged(batch: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (rel, bytes) in batch {
        out.extend_from_slice(format!("{rel} {}\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn decode_staged(mut data: &[u8]) -> std::result::Result<Vec<(String, Vec<u8>)>, String> {
    let mut batch = Vec::new();
    let mut seen = HashMap::new();
    while !data.is_empty() {
        let end = data.iter().position(|b| *b == b'\n').ok_or("a header line does not end")?;
        let header = std::str::from_utf8(&data[..end]).map_err(|_| "a header is not UTF-8")?;
        let (rel, len) = header.rsplit_once(' ').ok_or("a header has no length")?;
        let len: usize = len.parse().map_err(|_| format!("{rel}: the length is not a number"))?;
        let safe = ["tile/", "envelopes/", "index/"].iter().any(|p| rel.starts_with(p))
            && rel.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
        if !safe || seen.insert(rel.to_string(), ()).is_some() {
            return Err(format!("{rel}: not a path a batch writes, or named twice"));
        }
        let body = data.get(end + 1..end + 1 + len).ok_or(format!("{rel}: shorter than its length"))?;
        batch.push((rel.to_string(), body.to_vec()));
        data = &data[end + 1 + len..];
    }
    Ok(batch)
}

fn text(note: &[u8]) -> Result<String> {
    String::from_utf8(note.to_vec()).map_err(|_| Error::invalid("the checkpoint", "is not UTF-8"))
}

fn json_error(e: serde_json::Error) -> Error {
    Error::invalid("the lock object", e.to_string())
}

fn hex(hash: &Hash) -> String {
    hex_bytes(hash)
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_batches_round_trip_and_refuse_other_paths() {
        let batch =
            vec![("tile/0/000.p/1".to_string(), vec![1u8; 32]), ("envelopes/000.p/1".to_string(), b"x\n".to_vec())];
        assert_eq!(decode_staged(&encode_staged(&batch)).unwrap(), batch);
        for bad in
            [&b"checkpoint 1\nx"[..], b"tile/../x 1\nx", b"tile/0/000 5\nab", b".glassbox/lock 1\nx", b"tile/0/000"]
        {
            assert!(decode_staged(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let twice = encode_staged(&[batch[0].clone(), batch[0].clone()]);
        assert!(decode_staged(&twice).is_err());
    }
}
