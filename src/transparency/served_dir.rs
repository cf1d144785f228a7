//! `glassbox log serve --storage DIR`: the log service keeping its log in a local directory,
//! through the same objects and the same commit protocol as a bucket ([`super::bucket`]).
//!
//! The service holds the directory's append lock (`.lock`) for as long as it runs: a second
//! server, `log append` or `log mirror` on the directory is refused at once rather than
//! interleaving writes, and that lock is what makes the directory's compare-and-swap (read,
//! compare, replace) atomic. A directory log made by `log init` and `log append` is taken over
//! on the first start: its envelope index is copied into index tiles, the lock object is created
//! from its checkpoint, and the `envelope-index` file is removed (a served directory keeps the
//! bucket layout, which every reader of a directory also reads). From then on `log append DIR`
//! refuses the directory: the service is its only writer.

use std::fs::{File, TryLockError};

use super::bucket::{self, LOCK_OBJECT};
use super::store::{LogDir, INDEX_FILE, LOCK_FILE};
use crate::error::{Error, Result};
use crate::remote::objects::Objects;
use crate::tlog::tiles::{self, TILE_WIDTH};

/// A log directory held by the log service.
pub struct ServedDir {
    objects: Objects,
    /// The directory's append lock, held until this is dropped.
    _lock: File,
}

impl ServedDir {
    /// Takes the directory `dir` over: its lock (refused if anyone holds it), then the lock
    /// object (created from the directory's checkpoint on the first start).
    pub fn open(dir: &LogDir) -> Result<ServedDir> {
        if dir.read_prefix(super::store::CHECKPOINT_FILE, 0)?.is_none() {
            return Err(Error::invalid(
                dir.root.display(),
                "holds no log (create one with glassbox log init DIR --key KEY)",
            ));
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
        // Removed only once the lock object exists (a start killed before that adopts again);
        // from then on the index tiles are the index.
        objects.delete_blocking(INDEX_FILE)?;
        Ok(ServedDir { objects, _lock: lock })
    }

    /// The directory's objects, for the service's writer and its static files.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }
}

/// Copies the directory log's envelope index into index tiles and creates the lock object from
/// its checkpoint. Nothing here is trusted more than in any directory: the writer checks the
/// tree against the checkpoint's root, and every index hit is confirmed against its entry.
fn adopt(dir: &LogDir, objects: &Objects) -> Result<()> {
    let note = dir.read_checkpoint_bytes()?;
    let (_, checkpoint) = dir.read_checkpoint()?;
    let records = dir.read_index(checkpoint.size)?;
    let mut batch = Vec::new();
    for (n, width) in tiles::bundles_for_size(checkpoint.size) {
        let start = (n * TILE_WIDTH * 32) as usize;
        let end = start + width as usize * 32;
        let tile = records.get(start..end).ok_or_else(|| {
            Error::invalid(dir.file(INDEX_FILE).display(), "holds fewer records than the checkpoint has entries")
        })?;
        batch.push((LogDir::index_path(n, width), tile.to_vec()));
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
