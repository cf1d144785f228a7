//! `glassbox log serve --storage DIR`: the log service keeping its log in a local directory,
//! through the same objects and the same commit protocol as a bucket ([`super::bucket`]).
//!
//! The service holds the directory's append lock (`.lock`) for as long as it runs: a second
//! server, `log append` or `log mirror` on the directory is refused at once rather than
//! interleaving writes, and that lock is what makes the directory's compare-and-swap (read,
//! compare, replace) atomic. A directory log made by `log init` and `log append` is taken over
//! on the first start: it must verify with the service's key, a killed append's leftovers are
//! removed, its envelope index is rebuilt into index tiles from the authenticated entries, the
//! lock object is created from its checkpoint, and once the service's writer has opened it the
//! `envelope-index` file is removed (a served directory keeps the bucket layout, which every
//! reader of a directory also reads). From then on `log append DIR`
//! refuses the directory: the service is its only writer.

use std::fs::{File, TryLockError};

use super::bucket::{self, LOCK_OBJECT};
use super::store::{LogDir, INDEX_FILE, LOCK_FILE};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::remote::objects::Objects;
use crate::tlog::tiles::{self, TILE_WIDTH};

/// A log directory held by the log service.
pub struct ServedDir {
    objects: Objects,
    /// The directory's append lock, held until this is dropped.
    _lock: File,
}

impl ServedDir {
    /// Takes the directory `dir` over for the holder of `key`: on the first start (no lock
    /// object yet) the log must verify with `key`, and a killed `log append`'s leftovers are
    /// removed (`log gc`) before anything is written; then the directory's lock (refused if
    /// anyone holds it) and the lock object (created from the directory's checkpoint).
    pub fn open(dir: &LogDir, key: &PrivateKey) -> Result<ServedDir> {
        if dir.read_prefix(super::store::CHECKPOINT_FILE, 0)?.is_none() {
            return Err(Error::invalid(
                dir.root.display(),
                "holds no log (create one with glassbox log init DIR --key KEY)",
            ));
        }
        let first_start = dir.read_prefix(LOCK_OBJECT, 0)?.is_none();
        if first_start {
            // Verifies the whole log with this key and removes the partial files a killed
            // append left, which create-only writes would otherwise collide with.
            let (_, _, verifier) = dir.read_checkpoint_signed_by(key)?;
            super::gc::collect(dir, &verifier, false)?;
        }
        let lock_path = dir.file(LOCK_FILE);
        let lock = dir.open_own_file(LOCK_FILE)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::invalid(
                lock_path.display(),
                "is held by another writer of this log (a log serve, log append or log mirror): one writer at a time",
            )),
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let objects = Objects::open_dir(&dir.root)?;
        if objects.get_blocking(LOCK_OBJECT, 1 << 20)?.is_none() {
            adopt(dir, &objects)?;
        }
        Ok(ServedDir { objects, _lock: lock })
    }

    /// The directory's objects, for the service's writer and its static files.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// Removes the directory's `envelope-index` file, once the service's writer has opened the
    /// log (a start that fails before leaves the directory as `log append` knows it): from then
    /// on the index tiles are the index, and a stale file would mislead readers.
    pub fn retire_index(&self) -> Result<()> {
        self.objects.delete_blocking(INDEX_FILE)
    }
}

/// Creates the lock object from the directory log's checkpoint, with index tiles rebuilt from
/// the entries (authenticated against the checkpoint's root), not copied from the directory's
/// unauthenticated `envelope-index`: the service answers conditional submissions from them.
fn adopt(dir: &LogDir, objects: &Objects) -> Result<()> {
    let note = dir.read_checkpoint_bytes()?;
    let (checkpoint, entries) = super::audit::committed_entries(dir)?;
    let mut records = Vec::with_capacity(entries.len() * 32);
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{} entry {i}", dir.root.display());
        let digest = super::LogEntry::parse(entry, &at)?
            .envelope_digest()
            .ok_or_else(|| Error::rejected(&at, "names no envelope"))?;
        records.extend_from_slice(&digest.0);
    }
    let mut batch = Vec::new();
    for (n, width) in tiles::bundles_for_size(checkpoint.size) {
        let start = (n * TILE_WIDTH * 32) as usize;
        let end = start + width as usize * 32;
        // `records` holds 32 bytes for each of the checkpoint's entries.
        batch.push((LogDir::index_path(n, width), records[start..end].to_vec()));
    }
    bucket::write_all(objects, &batch)?;
    bucket::adopt(objects, &note, &checkpoint)
}

/// Refuses a directory the log service keeps (it has the lock object): only the service
/// writes there; others submit to it.
pub(crate) fn refuse_if_served(dir: &LogDir) -> Result<()> {
    if dir.objects().is_none() && dir.read_prefix(LOCK_OBJECT, 0)?.is_some() {
        return Err(Error::invalid(
            dir.file(LOCK_OBJECT).display(),
            "exists: this directory is kept by glassbox log serve, its only writer (submit with --log URL)",
        ));
    }
    Ok(())
}
