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
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub use super::append::{append, append_at, init, AppendAt, Appended};
pub(crate) use super::append::{lock, tile_root, Items};
use super::entry::{LogEntry, MAX_ENTRY_BYTES, MAX_ENVELOPE_BYTES};
use super::files::MAX_TILE_BYTES;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::remote::objects::Objects;
use crate::remote::{Location, StoreSettings};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{self, NodeSource};
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::tiles::{self, TILE_WIDTH};
use crate::tlog::Hash;

/// The largest bundle (256 envelopes of the largest size, each with its newline).
pub const MAX_BUNDLE_BYTES: u64 = TILE_WIDTH * (1 + MAX_ENVELOPE_BYTES as u64);

/// The signed checkpoint, at the top of the log directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The digests of the logged envelopes, 32 bytes per entry in entry order: how the log finds
/// an envelope's index. Not part of what verifiers read.
pub(crate) const INDEX_FILE: &str = "envelope-index";
/// The envelope index of a log in a bucket: the same records, in tiles of 256 (32 bytes each)
/// written create-only like every other object (`index/<N>[.p/<W>]`).
const INDEX_TILES: &str = "index";
pub(crate) const LOCK_FILE: &str = ".lock";

/// A log: a directory, or the objects of a bucket or a base URL (read here; written only by the
/// log service). `root` names it in messages (for objects, its `s3://` or `https://` location).
#[derive(Clone, Debug)]
pub struct LogDir {
    pub root: PathBuf,
    objects: Option<Objects>,
}

impl LogDir {
    pub fn new(root: impl Into<PathBuf>) -> LogDir {
        LogDir { root: root.into(), objects: None }
    }

    /// A log held in objects (a bucket prefix or a base URL).
    pub fn in_objects(objects: Objects) -> LogDir {
        LogDir { root: PathBuf::from(objects.display()), objects: Some(objects) }
    }

    /// The log at `location`: a directory, a bucket or a base URL.
    pub fn open(location: &Location, settings: &StoreSettings) -> Result<LogDir> {
        match location {
            Location::Dir(path) => Ok(LogDir::new(path)),
            _ => Ok(LogDir::in_objects(Objects::open(location, settings)?)),
        }
    }

    /// The objects the log is in, when it is not a directory.
    pub fn objects(&self) -> Option<&Objects> {
        self.objects.as_ref()
    }

    /// The envelope-index tile holding the records of entries `[256 * index, 256 * index + width)`.
    pub fn index_path(index: u64, width: u64) -> String {
        format!("{INDEX_TILES}/{}{}", tiles::index_path(index), tiles::width_suffix(width))
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

    /// The current checkpoint, which must be signed by `key` under its own origin (the key of
    /// whoever writes the log), with the verifier for that key.
    pub(crate) fn read_checkpoint_signed_by(&self, key: &PrivateKey) -> Result<(Note, Checkpoint, NoteVerifier)> {
        let (note, checkpoint) = self.read_checkpoint()?;
        let verifier = NoteVerifier::ed25519(&checkpoint.origin, &key.public());
        if !note.verified_by(&verifier) {
            return Err(Error::invalid(
                self.checkpoint_path().display(),
                "is not signed by this key under the log's origin: wrong --key for this log",
            ));
        }
        Ok((note, checkpoint, verifier))
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
        TileReader { log: self, size, cache: RefCell::default(), computed: RefCell::default() }
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
    pub(super) fn confirm_logged(
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
                format!("the envelope index of {}", self.root.display()),
                format!("says envelope {} is entry {index}, but that entry names another envelope", digest.prefixed()),
            ));
        }
        Ok(index)
    }

    /// The committed records of the envelope index: 32 bytes per entry, in entry order. A
    /// directory keeps them in one file (`envelope-index`), a bucket in tiles; a directory
    /// copied from a bucket has the tiles and no file.
    pub(super) fn read_index(&self, size: u64) -> Result<Vec<u8>> {
        if self.objects.is_some() || self.read_prefix(INDEX_FILE, 0)?.is_none() {
            let mut records = Vec::with_capacity(size as usize * 32);
            for bundle in self.read_bundles(0, size, size, TILE_WIDTH * 32, LogDir::index_path, index_records)? {
                records.extend_from_slice(&bundle);
            }
            return Ok(records);
        }
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

    /// The envelope index's committed records for a tree of `size` entries, as digests.
    pub fn read_index_records(&self, size: u64) -> Result<Vec<Hash>> {
        let records = self.read_index(size)?;
        // `chunks_exact(32)` yields 32-byte slices only.
        Ok(records.chunks_exact(32).map(|d| d.try_into().unwrap_or([0; 32])).collect())
    }

    /// The records of the envelope index's last, partial tile for a tree of `size` entries (which
    /// a bucket append copies into the next one); nothing authenticates them, as nothing
    /// authenticates the index.
    pub(super) fn index_edge(&self, size: u64) -> Result<Vec<Vec<u8>>> {
        if size.is_multiple_of(TILE_WIDTH) {
            return Ok(Vec::new());
        }
        self.read_bundles(size - size % TILE_WIDTH, size, size, TILE_WIDTH * 32, LogDir::index_path, index_records)
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
        self.read_bundles(start, end, size, MAX_BUNDLE_BYTES, LogDir::envelopes_path, |data, _| Ok(split_lines(data)))
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

/// The 32-byte records of an envelope-index tile of `width` records.
fn index_records(data: &[u8], width: u64) -> std::result::Result<Vec<Vec<u8>>, String> {
    if data.len() as u64 != width * 32 {
        return Err(format!("holds {} bytes, not the {} of {width} records", data.len(), width * 32));
    }
    Ok(data.chunks_exact(32).map(<[u8]>::to_vec).collect())
}

/// The lines of an envelope bundle (each ends with a newline).
pub(super) fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n').map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec()).collect()
}

/// The envelope bundles of a tree, each read once: for readers that fetch the envelopes of
/// many scattered entries (the site, `verify`'s verdicts found in the log). Clones share what
/// was read, across threads, so the site, its verdicts and its custody audit read each bundle
/// once between them. The lines are not checked here; callers compare each with the digest its
/// entry names.
#[derive(Clone, Default)]
pub struct EnvelopeBundles {
    read: Arc<Mutex<HashMap<u64, Lines>>>,
    /// Read every time, kept by nobody: for a reader that walks the log once, bundle by bundle,
    /// and must not hold a large log in memory (`sample audit`).
    transient: bool,
}

impl EnvelopeBundles {
    /// Bundles read and dropped, never kept.
    pub fn transient() -> EnvelopeBundles {
        EnvelopeBundles { transient: true, ..Default::default() }
    }

    /// The lines of the envelope bundle that holds entry `i` of a tree of `size` entries (entry
    /// `i`'s is line `i mod 256`), read from `dir` the first time it is asked for.
    pub fn bundle_of(&self, dir: &LogDir, i: u64, size: u64) -> Result<Lines> {
        let bundle = i / TILE_WIDTH;
        if let Some(lines) = self.kept().get(&bundle) {
            return Ok(lines.clone());
        }
        let end = ((bundle + 1) * TILE_WIDTH).min(size);
        let lines = Arc::new(dir.envelopes(bundle * TILE_WIDTH, end, size)?);
        if !self.transient {
            self.kept().insert(bundle, lines.clone());
        }
        Ok(lines)
    }

    /// Reads every bundle of a tree of `size` entries not read yet, on all cores: for a reader
    /// that will want nearly all of them.
    pub fn read_all(&self, dir: &LogDir, size: u64) -> Result<()> {
        use rayon::prelude::*;
        let missing: Vec<u64> = (0..size.div_ceil(TILE_WIDTH)).filter(|b| !self.kept().contains_key(b)).collect();
        let read: Vec<(u64, Lines)> = missing
            .into_par_iter()
            .map(|b| {
                let end = ((b + 1) * TILE_WIDTH).min(size);
                Ok((b, Arc::new(dir.envelopes(b * TILE_WIDTH, end, size)?)))
            })
            .collect::<Result<_>>()?;
        if !self.transient {
            self.kept().extend(read);
        }
        Ok(())
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Lines>> {
        // A panic while the map was held cannot leave it half-updated (one insert or extend):
        // what it holds is still bundles read whole.
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The lines of one envelope bundle, shared.
type Lines = Arc<Vec<Vec<u8>>>;

/// (tile level, tile index).
type TileId = (u8, u64);

/// Reads complete subtree hashes from the hash tiles of a tree of a given size. It trusts what
/// it reads: verifiers compare the root it yields with a signed checkpoint.
pub struct TileReader<'a> {
    log: &'a LogDir,
    size: u64,
    cache: RefCell<HashMap<TileId, Rc<Vec<Hash>>>>,
    /// Nodes hashed together from inside a tile (up to 128 hashes each), kept: the log
    /// service's receipts for one batch ask for the same edge nodes a thousand times.
    computed: RefCell<HashMap<(u8, u64), Hash>>,
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
        if level_in_tile == 0 {
            return tiles::node_from_tile(&self.tile(tile_level, tile_index)?, 0, index_in_tile);
        }
        if let Some(hash) = self.computed.borrow().get(&(level, index)) {
            return Ok(*hash);
        }
        let hash = tiles::node_from_tile(&self.tile(tile_level, tile_index)?, level_in_tile, index_in_tile)?;
        self.computed.borrow_mut().insert((level, index), hash);
        Ok(hash)
    }
}

/// Verifies that `note` is signed by `verifier` (the log's key).
pub fn check_signed(note: &Note, verifier: &NoteVerifier, path: &Path) -> Result<()> {
    if note.verified_by(verifier) {
        Ok(())
    } else {
        Err(Error::rejected(path.display(), format!("checkpoint is not signed by {}", verifier.name)))
    }
}
