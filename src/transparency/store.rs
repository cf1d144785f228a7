//! The log directory: static files any web server can serve. C2SP tlog-tiles paths for hash
//! tiles and entry bundles, the signed checkpoint, and every logged envelope in envelope
//! bundles beside the entry bundles (`envelopes/<N>[.p/<W>]`, one envelope line per entry, in
//! entry order), each checked against the digest its entry names. Appends are serialised by a lock and crash-safe: everything a new
//! checkpoint refers to is made durable (one `syncfs`) before the checkpoint is replaced
//! atomically, so a process killed at any instant leaves the old, complete log. Nothing stored
//! is believed: an append first authenticates the tiles, bundles and index records it builds
//! on against the checkpoint it extends, and every file is read and written without following
//! symlinks (see [`super::files`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::entry::{LogEntry, Loggable, MAX_ENTRY_BYTES, MAX_ENVELOPE_BYTES};
use super::files::MAX_TILE_BYTES;
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::keys::PrivateKey;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{self, NodeSource};
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::tiles::{self, TILE_WIDTH};
use crate::tlog::Hash;

/// The signed checkpoint, at the top of the log directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The digests of the logged envelopes, 32 bytes per entry in entry order: how the log finds
/// an envelope's index. Not part of what verifiers read.
const INDEX_FILE: &str = "envelope-index";
const LOCK_FILE: &str = ".lock";

/// A log directory.
#[derive(Clone, Debug)]
pub struct LogDir {
    pub root: PathBuf,
}

impl LogDir {
    pub fn new(root: impl Into<PathBuf>) -> LogDir {
        LogDir { root: root.into() }
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.root.join(CHECKPOINT_FILE)
    }

    /// The envelope bundle holding entries `[256 * index, 256 * index + width)`.
    pub fn envelopes_path(index: u64, width: u64) -> String {
        format!("envelopes/{}{}", tiles::index_path(index), tiles::width_suffix(width))
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The current checkpoint note's bytes (a regular file of at most 1 MiB, not a link).
    pub fn read_checkpoint_bytes(&self) -> Result<Vec<u8>> {
        self.read_file(CHECKPOINT_FILE, crate::fs::limits::CHECKPOINT)
    }

    /// Reads the current checkpoint note and its body (signatures not checked).
    pub fn read_checkpoint(&self) -> Result<(Note, Checkpoint)> {
        let path = self.checkpoint_path();
        let bytes = self.read_checkpoint_bytes()?;
        let note = Note::parse(&bytes).map_err(|e| Error::invalid(path.display(), e.to_string()))?;
        let checkpoint = Checkpoint::parse(&note.text).map_err(|e| Error::invalid(path.display(), e.to_string()))?;
        Ok((note, checkpoint))
    }

    /// Tiles and bundles as of a tree of `size` entries.
    pub fn tree(&self, size: u64) -> TileReader<'_> {
        TileReader { log: self, size, cache: RefCell::new(HashMap::new()) }
    }

    /// The index of the envelope with `digest` among the first `size` entries according to
    /// `envelope-index`, which nothing authenticates: callers confirm a hit against the entry
    /// ([`LogDir::confirm_logged`]) before believing it.
    pub fn find_envelope(&self, digest: &Sha256Digest, size: u64) -> Result<Option<u64>> {
        let records = self.read_index(size)?;
        Ok(records.chunks_exact(32).position(|d| d == digest.0).map(|i| i as u64))
    }

    /// The index of the envelope with `digest` in the tree `tree` whose signed root is `root`:
    /// the index's hit, confirmed by the entry's inclusion under `root` and by the digest the
    /// entry names. A hit the entry does not confirm is refused (exit 1), never believed.
    pub fn find_logged(&self, tree: &TileReader<'_>, root: &Hash, digest: &Sha256Digest) -> Result<Option<u64>> {
        match self.find_envelope(digest, tree.size())? {
            Some(index) => self.confirm_logged(tree, root, index, digest, &mut HashMap::new()).map(Some),
            None => Ok(None),
        }
    }

    /// Checks that entry `index` of `tree` (signed root `root`) names the envelope `digest`.
    /// `bundles` keeps the entry bundles read so far, by bundle index, for the next hit.
    fn confirm_logged(
        &self,
        tree: &TileReader<'_>,
        root: &Hash,
        index: u64,
        digest: &Sha256Digest,
        bundles: &mut HashMap<u64, Items>,
    ) -> Result<u64> {
        let size = tree.size();
        let at = format!("entry {index}");
        let bundle = index / TILE_WIDTH;
        let entries = match bundles.entry(bundle) {
            std::collections::hash_map::Entry::Occupied(read) => read.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let start = bundle * TILE_WIDTH;
                slot.insert(self.entries(start, (start + TILE_WIDTH).min(size), size)?)
            }
        };
        let entry = entries
            .get((index % TILE_WIDTH) as usize)
            .ok_or_else(|| Error::invalid(&at, format!("beyond a tree of {size} entries")))?;
        let proof = merkle::inclusion_proof(tree, index, size)?;
        if !merkle::verify_inclusion(&merkle::leaf_hash(entry), index, size, &proof, root) {
            return Err(Error::rejected(&at, "its bundle is not the entry the checkpoint's root commits to"));
        }
        if LogEntry::parse(entry, &at)?.envelope_digest() != Some(*digest) {
            return Err(Error::rejected(
                self.file(INDEX_FILE).display(),
                format!("says envelope {} is entry {index}, but that entry names another envelope", digest.prefixed()),
            ));
        }
        Ok(index)
    }

    /// The committed records of `envelope-index`: 32 bytes per entry, in entry order.
    fn read_index(&self, size: u64) -> Result<Vec<u8>> {
        let path = self.root.join(INDEX_FILE);
        // Records past the committed size are leftovers of a killed append: read only the
        // committed ones, so a huge (or endless) file costs nothing.
        let committed = size.saturating_mul(32);
        let mut bytes = self.read_prefix(INDEX_FILE, committed)?.unwrap_or_default();
        if (bytes.len() as u64) < committed {
            return Err(Error::invalid(path.display(), format!("holds fewer than the {size} committed entries")));
        }
        bytes.truncate(committed as usize);
        Ok(bytes)
    }

    /// The entries `[start, end)` of a tree of `size` entries, from the entry bundles.
    pub fn entries(&self, start: u64, end: u64, size: u64) -> Result<Vec<Vec<u8>>> {
        let max = TILE_WIDTH * (2 + MAX_ENTRY_BYTES as u64);
        self.read_bundles(start, end, size, max, tiles::entries_path, |data, width| {
            tiles::decode_bundle_of_width(data, width).map_err(|e| e.to_string())
        })
    }

    /// The stored envelope lines of entries `[start, end)`, from the envelope bundles.
    pub fn envelopes(&self, start: u64, end: u64, size: u64) -> Result<Vec<Vec<u8>>> {
        let max = TILE_WIDTH * (1 + MAX_ENVELOPE_BYTES as u64);
        self.read_bundles(start, end, size, max, LogDir::envelopes_path, |data, _| Ok(split_lines(data)))
    }

    /// Reads the items `[start, end)` from bundles of 256 (the last one partial).
    fn read_bundles(
        &self,
        start: u64,
        end: u64,
        size: u64,
        max: u64,
        path_of: impl Fn(u64, u64) -> String,
        decode: impl Fn(&[u8], u64) -> std::result::Result<Vec<Vec<u8>>, String>,
    ) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            let bundle = i / TILE_WIDTH;
            let width = (size - bundle * TILE_WIDTH).min(TILE_WIDTH);
            let rel = path_of(bundle, width);
            let path = self.file(&rel);
            let data = self.read_file(&rel, max)?;
            let items = decode(&data, width).map_err(|why| Error::rejected(path.display(), why))?;
            if items.len() as u64 != width {
                return Err(Error::rejected(path.display(), format!("holds {} items, not {width}", items.len())));
            }
            let from = (i - bundle * TILE_WIDTH) as usize;
            let to = ((end - bundle * TILE_WIDTH).min(width)) as usize;
            out.extend(items.into_iter().skip(from).take(to - from));
            i = bundle * TILE_WIDTH + to as u64;
        }
        Ok(out)
    }
}

/// The lines of an envelope bundle (each ends with a newline).
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n').map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec()).collect()
}

/// The envelope bundles of a tree, each read once: for readers that fetch the envelopes of
/// many scattered entries (the site, `verify`'s verdicts found in the log). The lines are not
/// checked here; callers compare each with the digest its entry names.
#[derive(Default)]
pub struct EnvelopeBundles {
    read: RefCell<HashMap<u64, Rc<Vec<Vec<u8>>>>>,
}

impl EnvelopeBundles {
    /// The lines of the envelope bundle that holds entry `i` of a tree of `size` entries (entry
    /// `i`'s is line `i mod 256`), read from `dir` the first time it is asked for.
    pub fn bundle_of(&self, dir: &LogDir, i: u64, size: u64) -> Result<Rc<Vec<Vec<u8>>>> {
        let bundle = i / TILE_WIDTH;
        if let Some(lines) = self.read.borrow().get(&bundle) {
            return Ok(lines.clone());
        }
        let end = ((bundle + 1) * TILE_WIDTH).min(size);
        let lines = Rc::new(dir.envelopes(bundle * TILE_WIDTH, end, size)?);
        self.read.borrow_mut().insert(bundle, lines.clone());
        Ok(lines)
    }
}

/// (tile level, tile index).
type TileId = (u8, u64);

/// Reads complete subtree hashes from the hash tiles of a tree of a given size. It trusts what
/// it reads: verifiers compare the root it yields with a signed checkpoint.
pub struct TileReader<'a> {
    log: &'a LogDir,
    size: u64,
    cache: RefCell<HashMap<TileId, Rc<Vec<Hash>>>>,
}

impl TileReader<'_> {
    /// The hashes of the tile at `tile_level`, `index`, full or partial as the tree's size says.
    pub fn tile(&self, tile_level: u8, index: u64) -> Result<Rc<Vec<Hash>>> {
        if let Some(t) = self.cache.borrow().get(&(tile_level, index)) {
            return Ok(t.clone());
        }
        let nodes = self.size >> (u32::from(tile_level) * u32::from(tiles::TILE_HEIGHT));
        let width = nodes.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH);
        if width == 0 {
            return Err(Error::invalid(
                format!("tile {tile_level}/{index}"),
                format!("beyond a tree of {} entries", self.size),
            ));
        }
        let rel = tiles::tile_path(tile_level, index, width);
        let path = self.log.file(&rel);
        let data = self.log.read_file(&rel, MAX_TILE_BYTES)?;
        let hashes =
            tiles::decode_hash_tile(&data, width).map_err(|e| Error::rejected(path.display(), e.to_string()))?;
        let hashes = Rc::new(hashes);
        self.cache.borrow_mut().insert((tile_level, index), hashes.clone());
        Ok(hashes)
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl NodeSource for TileReader<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        let (tile_level, tile_index, index_in_tile, level_in_tile) = tiles::node_location(level, index);
        let tile = self.tile(tile_level, tile_index)?;
        tiles::node_from_tile(&tile, level_in_tile, index_in_tile)
    }
}

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
    let checkpoint =
        Checkpoint { origin: origin.to_string(), size: 0, root: merkle::EMPTY_ROOT, extensions: Vec::new() };
    publish(dir, &checkpoint, key)?;
    Ok(NoteVerifier::ed25519(origin, &key.public()))
}

/// Appends every envelope not yet in the log, then publishes one new checkpoint. Returns only
/// once the new checkpoint and everything it covers are durable. Refuses (exit 1), signing
/// nothing, when the stored tree is not the one the checkpoint signs.
pub fn append(dir: &LogDir, key: &PrivateKey, items: &[Loggable]) -> Result<Appended> {
    let _lock = lock(dir)?;
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
    let _lock = lock(dir)?;
    append_locked(dir, key, items, Some(expected_size))
}

fn append_locked(dir: &LogDir, key: &PrivateKey, items: &[Loggable], expected: Option<u64>) -> Result<AppendAt> {
    let (note, checkpoint) = dir.read_checkpoint()?;
    let verifier = NoteVerifier::ed25519(&checkpoint.origin, &key.public());
    if !note.verified_by(&verifier) {
        return Err(Error::invalid(
            dir.checkpoint_path().display(),
            "is not signed by this key under the log's origin: wrong --key for this log",
        ));
    }
    let old = checkpoint.size;
    if expected.is_some_and(|e| e != old) {
        return Ok(AppendAt::Moved { size: old });
    }
    // The tiles this append combines with are the right edge of the old tree, and every hash of
    // every partial tile goes into the old root: if the root is the signed one, so is the edge.
    // The same reader (which caches what it read) is used to build the new tiles.
    let reader = dir.tree(old);
    if merkle::root(&reader, old)? != checkpoint.root {
        return Err(Error::rejected(
            dir.root.display(),
            "the stored hash tiles do not add up to the checkpoint's root: refusing to extend a tree that is not the signed one",
        ));
    }
    let (existing_entries, existing_lines) = authenticated_edge(dir, &reader, old)?;
    // Where the index says each submitted envelope is (a set of the batch, not a map of the
    // whole index: the index grows with the log, the batch does not).
    // A typical append (one release, one request) is a few envelopes against a long index:
    // comparing each record with them directly is several times faster than hashing every
    // record into a set, which only pays for large batches.
    let wanted: HashSet<Hash> = items.iter().map(|i| i.digest.0).collect();
    let few: Vec<Hash> = if wanted.len() <= 8 { wanted.iter().copied().collect() } else { Vec::new() };
    let mut known: HashMap<Hash, u64> = HashMap::new();
    for (i, d) in dir.read_index(old)?.chunks_exact(32).enumerate() {
        let hit = if few.is_empty() { wanted.contains(d) } else { few.iter().any(|w| w == d) };
        if hit {
            // `chunks_exact(32)` yields 32-byte slices only.
            let d: Hash = d.try_into().unwrap_or([0; 32]);
            known.entry(d).or_insert(i as u64);
        }
    }
    let mut added = Vec::new();
    let mut already_logged = Vec::new();
    let mut fresh: Vec<&Loggable> = Vec::new();
    let mut in_batch = HashSet::new();
    let mut bundles = HashMap::new();
    for item in items {
        if let Some(&i) = known.get(&item.digest.0) {
            already_logged
                .push((dir.confirm_logged(&reader, &checkpoint.root, i, &item.digest, &mut bundles)?, item.digest));
        } else if in_batch.insert(item.digest) {
            added.push((old + fresh.len() as u64, item.digest));
            fresh.push(item);
        }
    }
    if fresh.is_empty() {
        return Ok(AppendAt::Appended(Appended {
            added,
            already_logged,
            size: old,
            root: Sha256Digest(checkpoint.root),
        }));
    }

    // 1. The index: records past the committed size are leftovers of a killed append.
    let index_path = dir.root.join(INDEX_FILE);
    let mut index = dir.open_own_file(INDEX_FILE)?;
    index.set_len(old * 32).at(&index_path)?;
    index.seek(SeekFrom::End(0)).at(&index_path)?;
    let mut records = Vec::with_capacity(fresh.len() * 32);
    for item in &fresh {
        records.extend_from_slice(&item.digest.0);
    }
    index.write_all(&records).at(&index_path)?;
    // 2. Envelope bundles, entry bundles and hash tiles covering [old, new). Only paths the
    //    committed checkpoint does not use are written (see `write_bundles`).
    let lines: Vec<&[u8]> = fresh.iter().map(|i| i.envelope_line.as_bytes()).collect();
    write_bundles(dir, old, existing_lines, &lines, LogDir::envelopes_path, |items| {
        Ok(items.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect())
    })?;
    let entries: Vec<&[u8]> = fresh.iter().map(|i| i.entry_bytes.as_slice()).collect();
    write_tiles(dir, &reader, existing_entries, &entries)?;
    // 3. Make all of it durable at once, then commit by replacing the checkpoint.
    rustix::fs::syncfs(&index).map_err(|e| Error::io(&dir.root, e.into()))?;
    let size = old + fresh.len() as u64;
    let root = merkle::root(&dir.tree(size), size)?;
    publish(dir, &Checkpoint { origin: checkpoint.origin, size, root, extensions: Vec::new() }, key)?;
    Ok(AppendAt::Appended(Appended { added, already_logged, size, root: Sha256Digest(root) }))
}

/// Entries or envelope lines of one bundle.
type Items = Vec<Vec<u8>>;

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

/// Writes the entry bundles and hash tiles (every level) touched by appending `entries` to the
/// tree `reader` reads (whose last, partial bundle holds `existing`, authenticated). Tiles of
/// the committed tree are never modified: a partial tile is written under a new path for its
/// new width.
fn write_tiles(dir: &LogDir, reader: &TileReader<'_>, existing: Vec<Vec<u8>>, entries: &[&[u8]]) -> Result<()> {
    let old = reader.size();
    write_bundles(dir, old, existing, entries, tiles::entries_path, |items| {
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        tiles::encode_bundle(&refs)
    })?;
    let mut level_hashes: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
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
                dir.write_file(&tiles::tile_path(tile_level, tile_index, TILE_WIDTH), &concat(&tile), false)?;
                parents.push(tile_root(&tile));
                tile.clear();
                tile_index += 1;
            }
        }
        if !tile.is_empty() {
            dir.write_file(&tiles::tile_path(tile_level, tile_index, tile.len() as u64), &concat(&tile), false)?;
        }
        level_hashes = parents;
        old_nodes /= TILE_WIDTH;
        tile_level += 1;
    }
    Ok(())
}

/// Appends `new` items to the bundles of 256 that end at `old` (whose last, partial bundle
/// holds `existing`): full bundles when they fill, then the new partial one under its width.
/// Files are not fsynced one by one: the append syncs the file system once before committing.
fn write_bundles(
    dir: &LogDir,
    old: u64,
    existing: Vec<Vec<u8>>,
    new: &[&[u8]],
    path_of: impl Fn(u64, u64) -> String,
    encode: impl Fn(&[Vec<u8>]) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut bundle = existing;
    let mut index = old / TILE_WIDTH;
    for item in new {
        bundle.push(item.to_vec());
        if bundle.len() as u64 == TILE_WIDTH {
            dir.write_file(&path_of(index, TILE_WIDTH), &encode(&bundle)?, false)?;
            bundle.clear();
            index += 1;
        }
    }
    if !bundle.is_empty() {
        dir.write_file(&path_of(index, bundle.len() as u64), &encode(&bundle)?, false)?;
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

/// Verifies that `note` is signed by `verifier` (the log's key).
pub fn check_signed(note: &Note, verifier: &NoteVerifier, path: &Path) -> Result<()> {
    if note.verified_by(verifier) {
        Ok(())
    } else {
        Err(Error::rejected(path.display(), format!("checkpoint is not signed by {}", verifier.name)))
    }
}
