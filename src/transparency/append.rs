//! Appending to a log: [`plan`] works out, from the authenticated right edge of the tree, every
//! object a batch of envelopes adds (envelope bundles, entry bundles, hash tiles at every level,
//! and for a bucket the envelope-index tiles) and the checkpoint that commits them. Two writers
//! commit a plan: [`append`] into a directory (under the directory's lock: the objects, one
//! `syncfs`, then the checkpoint replaced atomically), and the log service into a bucket
//! (`crate::service::log`, by compare-and-swap on its lock object). Paths the committed
//! checkpoint uses are never rewritten: a partial tile or bundle grows under a new path.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

use super::entry::{LogEntry, Loggable};
use super::store::{LogDir, TileReader, CHECKPOINT_FILE, INDEX_FILE, LOCK_FILE};
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::keys::PrivateKey;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::tiles::{self, TILE_WIDTH};
use crate::tlog::Hash;

/// The result of an append.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Appended {
    /// (index, envelope digest) of each envelope added by this call.
    pub added: Vec<(u64, Sha256Digest)>,
    /// (index, envelope digest) of each envelope that was already in the log.
    pub already_logged: Vec<(u64, Sha256Digest)>,
    pub size: u64,
    pub root: Sha256Digest,
}

/// Everything one append adds to a log, not yet written.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The checkpoint this plan extends, and the one that commits it (the same when every
    /// envelope was already logged).
    pub old: Checkpoint,
    pub new: Checkpoint,
    pub appended: Appended,
    /// The new objects, by path below the log's root: written before `new` is published.
    pub objects: Vec<(String, Vec<u8>)>,
    /// The digests of the new envelopes, in entry order (the envelope index's new records).
    pub records: Vec<Hash>,
}

/// How a plan finds which envelopes are already logged.
pub enum Known<'a> {
    /// Read the log's envelope index (and confirm each hit against its entry).
    ReadIndex,
    /// A map the caller keeps (the log service, which holds the whole index in memory); hits
    /// are confirmed against their entries all the same.
    Map(&'a HashMap<Hash, u64>),
}

/// Works out the objects and checkpoint that append `items` to the tree `old` (whose signature
/// the caller has checked). Refuses (exit 1) when the stored edge of the tree is not the signed
/// one. With `index_tiles`, the envelope index's new records are objects of the plan
/// (`index/<N>[.p/<W>]`, for a bucket) rather than left to the caller (a directory's file).
pub fn plan(dir: &LogDir, old: &Checkpoint, items: &[Loggable], known: Known<'_>, index_tiles: bool) -> Result<Plan> {
    let size = old.size;
    // The tiles this append combines with are the right edge of the old tree, and every hash of
    // every partial tile goes into the old root: if the root is the signed one, so is the edge.
    // The same reader (which caches what it read) is used to build the new tiles.
    let reader = dir.tree(size);
    if merkle::root(&reader, size)? != old.root {
        return Err(Error::rejected(
            dir.root.display(),
            "the stored hash tiles do not add up to the checkpoint's root: refusing to extend a tree that is not the signed one",
        ));
    }
    // A directory's appender refuses a log whose index lies (its operator must look); the log
    // service, which must stay up, logs the envelope as new when its index's hit is false (a
    // duplicate entry costs nothing, a stopped log costs everyone).
    let strict = matches!(known, Known::ReadIndex);
    let found = match known {
        Known::ReadIndex => find_in_index(dir, size, items)?,
        Known::Map(map) => items.iter().filter_map(|i| map.get(&i.digest.0).map(|&at| (i.digest.0, at))).collect(),
    };
    let mut added = Vec::new();
    let mut already_logged = Vec::new();
    let mut fresh: Vec<&Loggable> = Vec::new();
    let mut in_batch = HashSet::new();
    let mut bundles = HashMap::new();
    for item in items {
        let confirmed = match found.get(&item.digest.0) {
            Some(&i) => match dir.confirm_logged(&reader, &old.root, i, &item.digest, &mut bundles) {
                Ok(i) => Some(i),
                Err(e) if strict => return Err(e),
                Err(_) => None,
            },
            None => None,
        };
        if let Some(i) = confirmed {
            already_logged.push((i, item.digest));
        } else if in_batch.insert(item.digest) {
            added.push((size + fresh.len() as u64, item.digest));
            fresh.push(item);
        }
    }
    let records: Vec<Hash> = fresh.iter().map(|i| i.digest.0).collect();
    if fresh.is_empty() {
        let appended = Appended { added, already_logged, size, root: Sha256Digest(old.root) };
        return Ok(Plan { old: old.clone(), new: old.clone(), appended, objects: Vec::new(), records });
    }
    let (existing_entries, existing_lines) = authenticated_edge(dir, &reader, size)?;
    let mut objects = Vec::new();
    let lines: Vec<&[u8]> = fresh.iter().map(|i| i.envelope_line.as_bytes()).collect();
    bundle_objects(&mut objects, size, existing_lines, &lines, LogDir::envelopes_path, |items| {
        Ok(items.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect())
    })?;
    let entries: Vec<&[u8]> = fresh.iter().map(|i| i.entry_bytes.as_slice()).collect();
    bundle_objects(&mut objects, size, existing_entries, &entries, tiles::entries_path, |items| {
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        tiles::encode_bundle(&refs)
    })?;
    let new_root = tile_objects(&mut objects, &reader, &entries)?;
    if index_tiles {
        let existing = dir.index_edge(size)?;
        let new: Vec<&[u8]> = records.iter().map(|d| d.as_slice()).collect();
        bundle_objects(&mut objects, size, existing, &new, LogDir::index_path, |items| Ok(items.concat()))?;
    }
    let new_size = size + fresh.len() as u64;
    let new = Checkpoint { origin: old.origin.clone(), size: new_size, root: new_root, extensions: Vec::new() };
    let appended = Appended { added, already_logged, size: new_size, root: Sha256Digest(new_root) };
    Ok(Plan { old: old.clone(), new, appended, objects, records })
}

/// Where the log's envelope index says each of `items` is (only the submitted digests are
/// kept: the index grows with the log, the batch does not).
fn find_in_index(dir: &LogDir, size: u64, items: &[Loggable]) -> Result<HashMap<Hash, u64>> {
    // A typical append (one release, one request) is a few envelopes against a long index:
    // comparing each record with them directly is several times faster than hashing every
    // record into a set, which only pays for large batches.
    let wanted: HashSet<Hash> = items.iter().map(|i| i.digest.0).collect();
    let few: Vec<Hash> = if wanted.len() <= 8 { wanted.iter().copied().collect() } else { Vec::new() };
    let mut found = HashMap::new();
    for (i, d) in dir.read_index(size)?.chunks_exact(32).enumerate() {
        let hit = if few.is_empty() { wanted.contains(d) } else { few.iter().any(|w| w == d) };
        if hit {
            // `chunks_exact(32)` yields 32-byte slices only.
            let d: Hash = d.try_into().unwrap_or([0; 32]);
            found.entry(d).or_insert(i as u64);
        }
    }
    Ok(found)
}

/// Creates an empty log with origin `origin` and its first checkpoint; returns the verifier key.
pub fn init(dir: &LogDir, origin: &str, key: &PrivateKey) -> Result<NoteVerifier> {
    let path = dir.checkpoint_path();
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::invalid(path.display(), "a log already exists here"));
    }
    std::fs::create_dir_all(&dir.root).at(&dir.root)?;
    // The lock file exists from the start, so that a witness cosigning the very first
    // checkpoint and the first append serialise on it like every later pair.
    let _lock = lock(dir)?;
    publish(dir, &empty_checkpoint(origin), key)?;
    Ok(NoteVerifier::ed25519(origin, &key.public()))
}

/// The checkpoint of a log with no entries.
pub fn empty_checkpoint(origin: &str) -> Checkpoint {
    Checkpoint { origin: origin.to_string(), size: 0, root: merkle::EMPTY_ROOT, extensions: Vec::new() }
}

/// Appends every envelope not yet in the log, then publishes one new checkpoint. Returns only
/// once the new checkpoint and everything it covers are durable. Refuses (exit 1), signing
/// nothing, when the stored tree is not the one the checkpoint signs.
pub fn append(dir: &LogDir, key: &PrivateKey, items: &[Loggable]) -> Result<Appended> {
    let _lock = writer_lock(dir)?;
    match append_locked(dir, key, items, None)? {
        AppendAt::Appended(appended) => Ok(appended),
        // Without an expected size the log is never "moved"; an error rather than a panic.
        AppendAt::Moved { size } => {
            Err(Error::invalid(dir.root.display(), format!("moved to size {size} under the lock")))
        }
    }
}

/// What [`append_at`] did.
#[derive(Clone, Debug)]
pub enum AppendAt {
    Appended(Appended),
    /// The log had grown past the expected size (to `size`): nothing was appended.
    Moved {
        size: u64,
    },
}

/// [`append`], but only if the log's checkpoint still has `expected_size` entries, checked under
/// the log's append lock: a compare-and-swap on the log, for a writer (the custody gateway)
/// whose decision rests on everything logged up to that size. Two such writers that judged the
/// same log cannot both append.
pub fn append_at(dir: &LogDir, key: &PrivateKey, items: &[Loggable], expected_size: u64) -> Result<AppendAt> {
    let _lock = writer_lock(dir)?;
    append_locked(dir, key, items, Some(expected_size))
}

fn append_locked(dir: &LogDir, key: &PrivateKey, items: &[Loggable], expected: Option<u64>) -> Result<AppendAt> {
    if let Some(objects) = dir.objects() {
        return Err(Error::invalid(
            objects.display(),
            "is a bucket: only `glassbox log serve` appends to it (submit with --log URL)",
        ));
    }
    let (_, checkpoint, _) = dir.read_checkpoint_signed_by(key)?;
    if expected.is_some_and(|e| e != checkpoint.size) {
        return Ok(AppendAt::Moved { size: checkpoint.size });
    }
    let plan = plan(dir, &checkpoint, items, Known::ReadIndex, false)?;
    if plan.records.is_empty() {
        return Ok(AppendAt::Appended(plan.appended));
    }
    // 1. The index: records past the committed size are leftovers of a killed append. A
    //    directory copied from a bucket has its index in tiles and no file yet: the file starts
    //    with the tiles' records.
    let earlier = match dir.read_prefix(INDEX_FILE, 0)? {
        None => dir.read_index(checkpoint.size)?,
        Some(_) => Vec::new(),
    };
    let index_path = dir.root.join(INDEX_FILE);
    let mut index = dir.open_own_file(INDEX_FILE)?;
    index.set_len(checkpoint.size * 32 - earlier.len() as u64).at(&index_path)?;
    index.seek(SeekFrom::End(0)).at(&index_path)?;
    index.write_all(&earlier).at(&index_path)?;
    index.write_all(&plan.records.concat()).at(&index_path)?;
    // 2. Bundles and tiles, at paths the committed checkpoint does not use (a killed append's
    //    leftovers there are replaced).
    for (rel, bytes) in &plan.objects {
        dir.write_file(rel, bytes, false)?;
    }
    // 3. Make all of it durable at once, then commit by replacing the checkpoint.
    rustix::fs::syncfs(&index).map_err(|e| Error::io(&dir.root, e.into()))?;
    publish(dir, &plan.new, key)?;
    Ok(AppendAt::Appended(plan.appended))
}

/// Entries or envelope lines of one bundle.
pub(crate) type Items = Vec<Vec<u8>>;

/// The entries and envelope lines of the old tree's last, partial bundle (which the append
/// copies into the next one), each checked against the authenticated partial level-0 tile and
/// against the digest its entry names.
fn authenticated_edge(dir: &LogDir, reader: &TileReader<'_>, old: u64) -> Result<(Items, Items)> {
    if old.is_multiple_of(TILE_WIDTH) {
        return Ok((Vec::new(), Vec::new()));
    }
    let start = old - old % TILE_WIDTH;
    let entries = dir.entries(start, old, old)?;
    let lines = dir.envelopes(start, old, old)?;
    let tile = reader.tile(0, old / TILE_WIDTH)?;
    for (offset, (entry, line)) in entries.iter().zip(&lines).enumerate() {
        let at = format!("entry {}", start + offset as u64);
        if merkle::leaf_hash(entry) != tile[offset] {
            return Err(Error::rejected(&at, "its bundle does not hash to the leaf the checkpoint's root commits to"));
        }
        if LogEntry::parse(entry, &at)?.envelope_digest() != Some(Sha256Digest::of(line)) {
            return Err(Error::rejected(&at, "its stored envelope does not hash to the digest the entry names"));
        }
    }
    Ok((entries, lines))
}

/// Signs and atomically replaces the checkpoint (never through a link planted in its place).
fn publish(dir: &LogDir, checkpoint: &Checkpoint, key: &PrivateKey) -> Result<()> {
    let note = Note::sign(&checkpoint.to_text(), &checkpoint.origin, key)?;
    dir.write_file(CHECKPOINT_FILE, &note.to_bytes(), true)
}

/// The log's exclusive append lock, held until the file is dropped. The lock file must be the
/// log's own regular file: a planted (even dangling) link is refused, its target never created.
pub(crate) fn lock(dir: &LogDir) -> Result<File> {
    let file = dir.open_own_file(LOCK_FILE)?;
    file.lock().at(dir.file(LOCK_FILE))?;
    Ok(file)
}

/// The append lock of a directory that a writer other than the log service may add to:
/// refused, before waiting for the lock and again once it is held, when the directory is
/// served by `glassbox log serve` (see [`super::served_dir`]).
pub(crate) fn writer_lock(dir: &LogDir) -> Result<File> {
    super::served_dir::refuse_if_served(dir)?;
    let held = lock(dir)?;
    super::served_dir::refuse_if_served(dir)?;
    Ok(held)
}

/// Adds the hash tiles (every level) touched by appending `entries` to the tree `reader` reads;
/// returns the new tree's root. A partial tile of the committed tree is never modified: it is
/// written again under the path of its new width.
fn tile_objects(objects: &mut Vec<(String, Vec<u8>)>, reader: &TileReader<'_>, entries: &[&[u8]]) -> Result<Hash> {
    let old = reader.size();
    let mut level_hashes: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    // Every tile this append writes, by (level, index), so the new root can be computed from
    // them and the old edge without reading anything back.
    let mut written: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
    // Hash tiles, level by level: each full tile's root becomes a node of the level above.
    let mut tile_level = 0u8;
    let mut old_nodes = old;
    while !level_hashes.is_empty() {
        let mut tile: Vec<Hash> = if old_nodes.is_multiple_of(TILE_WIDTH) {
            Vec::new()
        } else {
            reader.tile(tile_level, old_nodes / TILE_WIDTH)?.as_ref().clone()
        };
        let mut tile_index = old_nodes / TILE_WIDTH;
        let mut parents = Vec::new();
        for hash in level_hashes {
            tile.push(hash);
            if tile.len() as u64 == TILE_WIDTH {
                objects.push((tiles::tile_path(tile_level, tile_index, TILE_WIDTH), concat(&tile)));
                parents.push(tile_root(&tile));
                written.insert((tile_level, tile_index), std::mem::take(&mut tile));
                tile_index += 1;
            }
        }
        if !tile.is_empty() {
            objects.push((tiles::tile_path(tile_level, tile_index, tile.len() as u64), concat(&tile)));
            written.insert((tile_level, tile_index), tile);
        }
        level_hashes = parents;
        old_nodes /= TILE_WIDTH;
        tile_level += 1;
    }
    let size = old + entries.len() as u64;
    merkle::root(&Overlay { written: &written, reader, size }, size)
}

/// The new tree's nodes: tiles this append wrote, else the old tree's.
struct Overlay<'a, 'b> {
    written: &'a HashMap<(u8, u64), Vec<Hash>>,
    reader: &'a TileReader<'b>,
    size: u64,
}

impl merkle::NodeSource for Overlay<'_, '_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        let (tile_level, tile_index, index_in_tile, level_in_tile) = tiles::node_location(level, index);
        match self.written.get(&(tile_level, tile_index)) {
            Some(tile) => tiles::node_from_tile(tile, level_in_tile, index_in_tile),
            // A tile this append did not write is the old tree's, at the same width.
            None if tile_index * TILE_WIDTH < self.reader.size() >> (8 * u32::from(tile_level)) => {
                let tile = self.reader.tile(tile_level, tile_index)?;
                tiles::node_from_tile(&tile, level_in_tile, index_in_tile)
            }
            None => Err(Error::invalid(
                format!("tile {tile_level}/{tile_index}"),
                format!("is neither in the old tree nor written for the tree of {} entries", self.size),
            )),
        }
    }
}

/// Adds the bundles of 256 that `new` items extend, from `old` (whose last, partial bundle
/// holds `existing`, authenticated): full bundles when they fill, then the new partial one
/// under its width.
fn bundle_objects<T: AsRef<[u8]>>(
    objects: &mut Vec<(String, Vec<u8>)>,
    old: u64,
    existing: Vec<Vec<u8>>,
    new: &[T],
    path_of: impl Fn(u64, u64) -> String,
    encode: impl Fn(&[Vec<u8>]) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut bundle = existing;
    let mut index = old / TILE_WIDTH;
    for item in new {
        bundle.push(item.as_ref().to_vec());
        if bundle.len() as u64 == TILE_WIDTH {
            objects.push((path_of(index, TILE_WIDTH), encode(&bundle)?));
            bundle.clear();
            index += 1;
        }
    }
    if !bundle.is_empty() {
        objects.push((path_of(index, bundle.len() as u64), encode(&bundle)?));
    }
    Ok(())
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flatten().copied().collect()
}

/// The root of a full tile's 256 hashes: the node eight levels up.
pub(crate) fn tile_root(hashes: &[Hash]) -> Hash {
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
    }
    level[0]
}
