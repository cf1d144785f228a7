//! `glassbox log mirror SRC DST`: copies a log between any two of a directory, a bucket and a
//! base URL (a URL only as the source), authenticating every tile, entry bundle and envelope
//! bundle against the source's signed checkpoint on the way: a mirror never spreads bytes the
//! checkpoint does not commit to. The envelope index is not copied but rebuilt from the
//! authenticated entries (it is unauthenticated wherever it is read). The destination's
//! checkpoint is written last, and only over one it extends. A bucket destination also gets the
//! lock object, so that `glassbox log serve` can take the mirrored log over.

use serde::Serialize;

use super::audit::{authenticate_checkpoint, authenticate_tree, check_consistent, WitnessPolicy};
use super::bucket;
use super::entry::LogEntry;
use super::store::{split_lines, LogDir, CHECKPOINT_FILE, MAX_BUNDLE_BYTES};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::tlog::merkle;
use crate::tlog::note::NoteVerifier;
use crate::tlog::tiles::{self, TILE_WIDTH};

/// What a mirror copied.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirrored {
    pub origin: String,
    pub size: u64,
    /// The destination's size before (0 for a new mirror).
    pub previous: u64,
    pub objects: u64,
    pub bytes: u64,
}

/// Copies the log at `src` (whose checkpoint must verify with `vkey` and `witnesses`) to `dst`.
pub fn mirror(src: &LogDir, dst: &LogDir, vkey: &NoteVerifier, witnesses: &WitnessPolicy) -> Result<Mirrored> {
    // A directory destination is written under its append lock, like an append.
    let _lock = match dst.objects() {
        Some(_) => None,
        None => {
            std::fs::create_dir_all(&dst.root).map_err(|e| Error::io(&dst.root, e))?;
            Some(super::append::writer_lock(dst)?)
        }
    };
    let from = src.checkpoint_path().display().to_string();
    let note = src.read_checkpoint_bytes()?;
    let (_, checkpoint, _) = authenticate_checkpoint(&note, &from, vkey, witnesses)?;
    let size = checkpoint.size;
    let tree = src.tree(size);
    authenticate_tree(src, &tree, &checkpoint)?;
    // What the destination already holds must be an earlier state of the same log.
    let previous = match dst.read_checkpoint_bytes() {
        Ok(old) => {
            let at = dst.checkpoint_path().display().to_string();
            let (_, old, _) = authenticate_checkpoint(&old, &at, vkey, &WitnessPolicy::default())?;
            check_consistent(src, &old, &checkpoint)?;
            old.size
        }
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let mut copied = Mirrored { origin: checkpoint.origin.clone(), size, previous, objects: 0, bytes: 0 };
    let mut batch = Vec::new();
    for (level, index, width) in tiles::tiles_for_size(size) {
        let hashes = tree.tile(level, index)?;
        batch.push((tiles::tile_path(level, index, width), hashes.iter().flatten().copied().collect()));
        write(dst, &mut batch, &mut copied, false)?;
    }
    for (n, width) in tiles::bundles_for_size(size) {
        let start = n * TILE_WIDTH;
        let leaves = tree.tile(0, n)?;
        let entries_path = tiles::entries_path(n, width);
        let envelopes_path = LogDir::envelopes_path(n, width);
        let entries_bytes = src.read_file(&entries_path, MAX_BUNDLE_BYTES)?;
        let envelopes_bytes = src.read_file(&envelopes_path, MAX_BUNDLE_BYTES)?;
        // Each bundle is read once: decoded from the bytes that are copied.
        let entries = tiles::decode_bundle_of_width(&entries_bytes, width)
            .map_err(|e| Error::rejected(src.file(&entries_path).display(), e.to_string()))?;
        let lines = split_lines(&envelopes_bytes);
        if entries.len() as u64 != width || lines.len() as u64 != width {
            return Err(Error::rejected(
                src.file(&envelopes_path).display(),
                format!("holds {} entries and {} envelopes, not {width} of each", entries.len(), lines.len()),
            ));
        }
        let mut index = Vec::with_capacity(width as usize * 32);
        for (k, (entry, line)) in entries.iter().zip(&lines).enumerate() {
            let at = format!("{} entry {}", src.root.display(), start + k as u64);
            if leaves.get(k) != Some(&merkle::leaf_hash(entry)) {
                return Err(Error::rejected(at, "its bundle does not hash to the leaf in the tile"));
            }
            let digest = Sha256Digest::of(line);
            if LogEntry::parse(entry, &at)?.envelope_digest() != Some(digest) {
                return Err(Error::rejected(at, "the stored envelope does not hash to the entry's digest"));
            }
            index.extend_from_slice(&digest.0);
        }
        batch.push((entries_path, entries_bytes));
        batch.push((envelopes_path, envelopes_bytes));
        batch.push((LogDir::index_path(n, width), index));
        write(dst, &mut batch, &mut copied, false)?;
    }
    write(dst, &mut batch, &mut copied, true)?;
    match dst.objects() {
        Some(objects) => {
            bucket::adopt(objects, &note, &checkpoint)?;
            objects.put_blocking(CHECKPOINT_FILE, &note)?;
        }
        None => dst.write_file(CHECKPOINT_FILE, &note, true)?,
    }
    Ok(copied)
}

/// Writes the pending `batch` to `dst` once it holds enough objects (or when `flush`).
fn write(dst: &LogDir, batch: &mut Vec<(String, Vec<u8>)>, copied: &mut Mirrored, flush: bool) -> Result<()> {
    if batch.len() < 64 && !flush {
        return Ok(());
    }
    copied.objects += batch.len() as u64;
    copied.bytes += batch.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    match dst.objects() {
        Some(objects) => bucket::write_all(objects, batch)?,
        None => {
            for (rel, bytes) in batch.iter() {
                dst.write_file(rel, bytes, false)?;
            }
            if flush {
                dst.sync()?;
            }
        }
    }
    batch.clear();
    Ok(())
}
