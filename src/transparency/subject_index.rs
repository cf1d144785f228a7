//! The subject index (formats.md section 21): what lets `verify` find every verdict about an
//! artifact, and every statement it was shown, in a million-entry log without reading it all.
//!
//! The log is cut into segments of `W` entries. For each complete segment the log service
//! writes 256 shard files, `subjects/<k>/<xx>`: sorted lines `e <envelope sha256> <index>` for
//! every entry and `s <subject sha256> <index>` for every subject of every verdict (SLSA VSA)
//! entry, each in the shard named by the first two hex digits of its digest; then
//! `subjects/<k>/shards`, the 256 shards' sha256 in order. A manifest signed with the log's key,
//! `subjects/manifest`, names the segment size, the number of entries covered `N`, the root of
//! the log's tree of `N` entries and each segment's `shards` digest.
//!
//! A reader believes a shard only through that chain (signed manifest → segment list → shard
//! digest) and only for a tree its checkpoint extends; everything after `N` it reads and
//! authenticates itself. A mirror cannot leave a verdict out of the index without the log key,
//! and `log audit` recomputes the index from the entries, so the key holder cannot either
//! without being caught.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::attest::SLSA_VSA_V1;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::tlog::compact::CompactRange;
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::Hash;
use crate::transparency::{LogDir, LogEntry};

/// The manifest's first line.
pub const HEADER: &str = "glassbox subject index v1";
pub const MANIFEST: &str = "subjects/manifest";
/// The default segment size: a reader scans at most this many entries past the index.
pub const DEFAULT_SEGMENT: u64 = 1 << 16;
/// The largest manifest, shards list and shard a reader accepts.
pub const MAX_MANIFEST: u64 = 1 << 20;
pub const MAX_SHARDS_LIST: u64 = 256 * 65;
pub const MAX_SHARD: u64 = 64 << 20;

/// What a line of a shard says an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The entry's envelope digest.
    Envelope,
    /// A subject of a verdict entry.
    VerdictSubject,
    /// An `inputAttestations` digest of a verdict entry (the provenance it is on).
    VerdictInput,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Envelope => 'e',
            Kind::VerdictSubject => 's',
            Kind::VerdictInput => 'i',
        }
    }
}

/// The signed manifest's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub origin: String,
    pub segment: u64,
    /// Entries covered: `segments.len() * segment`.
    pub size: u64,
    pub root: Hash,
    /// sha256 of each segment's `shards` file.
    pub segments: Vec<Sha256Digest>,
}

pub fn shard_path(segment: u64, shard: u8) -> String {
    format!("subjects/{segment}/{shard:02x}")
}

pub fn shards_path(segment: u64) -> String {
    format!("subjects/{segment}/shards")
}

/// The 256 shard files of the segment whose entries, from entry `first` on, are `entries`
/// and whose stored envelopes are `envelopes` (a verdict's inputs are only in its envelope).
pub fn build_segment(first: u64, entries: &[Vec<u8>], envelopes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let mut lines: Vec<Vec<(Kind, Sha256Digest, u64)>> = vec![Vec::new(); 256];
    for (k, bytes) in entries.iter().enumerate() {
        let index = first + k as u64;
        let at = format!("log entry {index}");
        let entry = LogEntry::parse(bytes, &at)?;
        let mut add = |kind, digest: Sha256Digest| lines[usize::from(digest.0[0])].push((kind, digest, index));
        if let Some(envelope) = entry.envelope_digest() {
            add(Kind::Envelope, envelope);
        }
        if entry.predicate_type == SLSA_VSA_V1 {
            for subject in entry.subjects.iter().filter_map(|s| s.sha256_lenient()) {
                add(Kind::VerdictSubject, subject);
            }
            let line = envelopes.get(k).map(Vec::as_slice).unwrap_or_default();
            for input in verdict_inputs(line, &entry, &at)? {
                add(Kind::VerdictInput, input);
            }
        }
    }
    Ok(lines
        .into_iter()
        .map(|mut shard| {
            shard.sort();
            shard.dedup();
            shard
                .iter()
                .map(|(kind, d, i)| format!("{} {} {i}\n", kind.letter(), d.hex()))
                .collect::<String>()
                .into_bytes()
        })
        .collect())
}

/// The `inputAttestations` of the verdict whose stored envelope is `line` (it must be the one
/// `entry` names), read as `verify` reads them.
pub fn verdict_inputs(line: &[u8], entry: &LogEntry, at: &str) -> Result<Vec<Sha256Digest>> {
    if entry.envelope_digest() != Some(Sha256Digest::of(line)) {
        return Err(Error::rejected(at, "the stored envelope is not the one the entry names"));
    }
    let payload = serde_json::from_slice::<crate::attest::Envelope>(line)
        .ok()
        .and_then(|e| e.payload_bytes().ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok());
    Ok(payload.and_then(|p| p.get("predicate").map(crate::attest::vsa::input_attestations_lenient)).unwrap_or_default())
}

/// The `shards` file of a segment: each shard's sha256, one per line.
pub fn shards_list(shards: &[Vec<u8>]) -> Vec<u8> {
    shards.iter().map(|s| format!("{}\n", Sha256Digest::of(s).hex())).collect::<String>().into_bytes()
}

impl Manifest {
    /// The signed note.
    pub fn sign(&self, key: &PrivateKey) -> Result<Vec<u8>> {
        let mut text = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            self.origin,
            self.segment,
            self.size,
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, self.root)
        );
        for s in &self.segments {
            text.push_str(&format!("{}\n", s.hex()));
        }
        Ok(Note::sign(&text, &self.origin, key)?.to_bytes())
    }

    /// Reads a manifest signed by `vkey` (whose name is the log's origin), strictly.
    pub fn verify(bytes: &[u8], vkey: &NoteVerifier) -> Result<Manifest> {
        let bad = |why: String| Error::rejected(MANIFEST, why);
        let note = Note::parse(bytes).map_err(|e| bad(format!("not a signed note ({e})")))?;
        if !note.verified_by(vkey) {
            return Err(bad(format!("is not signed by the log key {}", vkey.name)));
        }
        let lines: Vec<&str> = note.text.lines().collect();
        let [header, origin, segment, size, root, segments @ ..] = lines.as_slice() else {
            return Err(bad("has fewer than five lines".into()));
        };
        if *header != HEADER || *origin != vkey.name {
            return Err(bad(format!("is not a subject index of {}", vkey.name)));
        }
        let number = |s: &str, what: &str| {
            s.parse::<u64>()
                .ok()
                .filter(|n| n.to_string() == s)
                .ok_or_else(|| bad(format!("{what} {s:?} is not a number")))
        };
        let segment = number(segment, "segment size")?;
        let size = number(size, "size")?;
        if segment < 256 || !segment.is_power_of_two() || size != segment.saturating_mul(segments.len() as u64) {
            return Err(bad(format!("segment size {segment} and size {size} do not fit {} segments", segments.len())));
        }
        let root: Hash = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root is not 32 bytes of base64".into()))?;
        let segments = segments
            .iter()
            .map(|s| Sha256Digest::from_hex(s).ok_or_else(|| bad(format!("{s:?} is not a sha256"))))
            .collect::<Result<_>>()?;
        Ok(Manifest { origin: origin.to_string(), segment, size, root, segments })
    }
}

/// Reads a shard file (already checked against its digest): the entries its lines name for
/// `kind` and `digest`, each of which must be in the segment's `range`.
pub fn lookup(
    shard: &[u8],
    kind: Kind,
    digest: &Sha256Digest,
    range: std::ops::Range<u64>,
    what: &str,
) -> Result<Vec<u64>> {
    let text = std::str::from_utf8(shard).map_err(|_| Error::rejected(what, "not UTF-8"))?;
    let prefix = format!("{} {} ", kind.letter(), digest.hex());
    let mut found = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let index = line[prefix.len()..]
            .parse::<u64>()
            .ok()
            .filter(|i| range.contains(i))
            .ok_or_else(|| Error::rejected(what, format!("names an entry outside its segment: {line:?}")))?;
        found.push(index);
    }
    Ok(found)
}

/// How far a writer of the index got: the segments written and the log's compact range at
/// their end (authenticated: it led to a signed root).
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub segments: Vec<Sha256Digest>,
    pub range: CompactRange,
}

/// The index `log` holds, if its manifest is signed by `key` and names the tree the log's hash
/// tiles give; else nothing (the index is then written again from the start). A manifest of
/// another segment size is refused: its files would collide with the new ones.
pub fn existing(log: &LogDir, key: &PrivateKey, origin: &str, segment: u64) -> Result<Written> {
    let vkey = NoteVerifier::ed25519(origin, &key.public());
    let Some(bytes) = log.read_optional(MANIFEST, MAX_MANIFEST)? else { return Ok(Written::default()) };
    let Ok(manifest) = Manifest::verify(&bytes, &vkey) else { return Ok(Written::default()) };
    if manifest.segment != segment {
        // Its segments are written create-only and would collide with the new size's.
        return Err(Error::invalid(
            log.file(MANIFEST).display(),
            format!(
                "the index has segments of {} entries, not {segment}: keep {} (--segment, --index-segment), \
                 or remove subjects/ to index the log again",
                manifest.segment, manifest.segment
            ),
        ));
    }
    let (_, checkpoint) = log.read_checkpoint()?;
    if manifest.size > checkpoint.size {
        return Ok(Written::default());
    }
    let range = CompactRange::from_nodes(&log.tree(checkpoint.size), manifest.size)?;
    if range.root() != manifest.root {
        return Ok(Written::default());
    }
    Ok(Written { segments: manifest.segments, range })
}

/// Extends the subject index of `log` (kept in a store: a bucket, or a directory opened as
/// objects) to every segment of `segment` entries that the tree of `size` entries completes,
/// whose root `root` the caller has authenticated, and signs the new manifest with `key` (the
/// log's). The entries read must lead from `written.range` to `root`, so the key signs an
/// index only of entries the log holds. Returns whether anything was written.
pub fn extend(
    log: &LogDir,
    key: &PrivateKey,
    origin: &str,
    segment: u64,
    written: &mut Written,
    size: u64,
    root: Hash,
) -> Result<bool> {
    let objects = log.objects().ok_or_else(|| Error::invalid(log.root.display(), "is not opened as a store"))?;
    let start = written.range.size();
    if start + segment > size {
        return Ok(false);
    }
    let entries = log.entries(start, size, size)?;
    // Envelopes only of the segments completed (a verdict's inputs are in its envelope); the
    // entries after them are read only to reach the signed root.
    let complete = (size - start) / segment * segment;
    let envelopes = log.envelopes(start, start + complete, size)?;
    let mut range = written.range.clone();
    let mut ends = Vec::new();
    for entry in &entries {
        range.push(merkle::leaf_hash(entry));
        if range.size().is_multiple_of(segment) {
            ends.push(range.clone());
        }
    }
    if range.root() != root {
        return Err(Error::rejected(
            log.root.display(),
            format!("entries {start}..{size} do not lead to the checkpoint's root: nothing is indexed"),
        ));
    }
    let w = segment as usize;
    for (j, chunk) in entries.chunks_exact(w).enumerate() {
        let k = start / segment + j as u64;
        let shards = build_segment(k * segment, chunk, &envelopes[j * w..(j + 1) * w])?;
        for (xx, shard) in shards.iter().enumerate() {
            objects.create_blocking(&shard_path(k, xx as u8), shard)?;
        }
        let list = shards_list(&shards);
        objects.create_blocking(&shards_path(k), &list)?;
        written.segments.push(Sha256Digest::of(&list));
    }
    if let Some(end) = ends.pop() {
        written.range = end;
    }
    let manifest = Manifest {
        origin: origin.to_string(),
        segment,
        size: written.range.size(),
        root: written.range.root(),
        segments: written.segments.clone(),
    };
    objects.put_blocking(MANIFEST, &manifest.sign(key)?)?;
    Ok(true)
}

/// What `glassbox log index` did.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Indexed {
    pub origin: String,
    pub size: u64,
    /// Entries the index covers, and its segments.
    pub covered: u64,
    pub segments: usize,
    /// Whether new segments were written.
    pub extended: bool,
}

/// `glassbox log index`: brings the subject index of `log` (opened as a store) up to its
/// checkpoint, which must be signed by `key`, the log's key.
pub fn index_log(log: &LogDir, key: &PrivateKey, segment: u64) -> Result<Indexed> {
    if segment < 256 || !segment.is_power_of_two() {
        return Err(Error::invalid("--segment", format!("{segment} is not a power of two of at least 256")));
    }
    let (_, checkpoint, _) = log.read_checkpoint_signed_by(key)?;
    let mut written = existing(log, key, &checkpoint.origin, segment)?;
    let extended = extend(log, key, &checkpoint.origin, segment, &mut written, checkpoint.size, checkpoint.root)?;
    Ok(Indexed {
        origin: checkpoint.origin,
        size: checkpoint.size,
        covered: written.range.size(),
        segments: written.segments.len(),
        extended,
    })
}

/// What `log audit` adds: the subject index (if the log has one) recomputed from the entries
/// of a tree of `size` entries and compared with the signed manifest, so that the key holder
/// cannot leave a verdict out of it unseen. Returns the number of entries it covers.
pub fn check(dir: &LogDir, vkey: &NoteVerifier, size: u64) -> Result<Option<u64>> {
    let Some(bytes) = dir.read_optional(MANIFEST, MAX_MANIFEST)? else { return Ok(None) };
    let manifest = Manifest::verify(&bytes, vkey)?;
    if manifest.size > size {
        return Ok(None);
    }
    let what = dir.file(MANIFEST).display().to_string();
    if merkle::subtree_root(&dir.tree(size), 0, manifest.size)? != manifest.root {
        return Err(Error::rejected(&what, format!("names another tree of {} entries than the log's", manifest.size)));
    }
    let w = manifest.segment;
    for (k, signed) in manifest.segments.iter().enumerate() {
        let k = k as u64;
        let (from, to) = (k * w, (k + 1) * w);
        let shards = build_segment(from, &dir.entries(from, to, size)?, &dir.envelopes(from, to, size)?)?;
        if Sha256Digest::of(&shards_list(&shards)) != *signed {
            return Err(Error::rejected(
                &what,
                format!("signs an index of entries {}..{} that is not the one the entries give", k * w, (k + 1) * w),
            ));
        }
    }
    Ok(Some(manifest.size))
}

/// A reader of a log's subject index, for a tree of `size` entries with the authenticated root
/// `root` that extends the index's (the caller checked that). Every hit is proved: the entry
/// is read, its inclusion under `root` checked, and it must say what the index says of it.
pub struct Reader {
    dir: LogDir,
    pub manifest: Manifest,
    size: u64,
    root: Hash,
    /// Each segment's shard digests, and the shards read, by (segment, shard).
    lists: RefCell<HashMap<u64, Rc<Vec<Sha256Digest>>>>,
    shards: RefCell<ShardCache>,
}

type ShardCache = HashMap<(u64, u8), Rc<Vec<u8>>>;

impl Reader {
    pub fn new(dir: LogDir, manifest: Manifest, size: u64, root: Hash) -> Reader {
        Reader { dir, manifest, size, root, lists: Default::default(), shards: Default::default() }
    }

    /// The 256 shard digests of segment `k`, checked against the manifest.
    fn list(&self, k: u64) -> Result<Rc<Vec<Sha256Digest>>> {
        if let Some(list) = self.lists.borrow().get(&k) {
            return Ok(list.clone());
        }
        let path = shards_path(k);
        let bytes = self.dir.read_file(&path, MAX_SHARDS_LIST)?;
        if Some(&Sha256Digest::of(&bytes)) != self.manifest.segments.get(k as usize) {
            return Err(Error::rejected(self.dir.file(&path).display(), "is not the list the signed manifest names"));
        }
        let text = std::str::from_utf8(&bytes).unwrap_or_default();
        let list: Vec<Sha256Digest> = text.lines().filter_map(Sha256Digest::from_hex).collect();
        if list.len() != 256 {
            return Err(Error::rejected(self.dir.file(&path).display(), "does not list 256 shards"));
        }
        let list = Rc::new(list);
        self.lists.borrow_mut().insert(k, list.clone());
        Ok(list)
    }

    fn shard(&self, k: u64, xx: u8) -> Result<Rc<Vec<u8>>> {
        if let Some(shard) = self.shards.borrow().get(&(k, xx)) {
            return Ok(shard.clone());
        }
        let list = self.list(k)?;
        let path = shard_path(k, xx);
        let bytes = self.dir.read_file(&path, MAX_SHARD)?;
        if Sha256Digest::of(&bytes) != list[usize::from(xx)] {
            return Err(Error::rejected(self.dir.file(&path).display(), "is not the shard its segment's list names"));
        }
        let shard = Rc::new(bytes);
        self.shards.borrow_mut().insert((k, xx), shard.clone());
        Ok(shard)
    }

    /// The entries the index says hold `digest` as `kind`, in log order, each proved.
    pub fn find(&self, kind: Kind, digest: &Sha256Digest) -> Result<Vec<(u64, LogEntry)>> {
        let w = self.manifest.segment;
        let tree = self.dir.tree(self.size);
        let mut found = Vec::new();
        for k in 0..self.manifest.segments.len() as u64 {
            let path = shard_path(k, digest.0[0]);
            let shard = self.shard(k, digest.0[0])?;
            for index in lookup(&shard, kind, digest, k * w..(k + 1) * w, &path)? {
                let at = format!("log entry {index} (found through {path})");
                let bytes = self.dir.entries(index, index + 1, self.size)?.pop().unwrap_or_default();
                let proof = merkle::inclusion_proof(&tree, index, self.size)?;
                if !merkle::verify_inclusion(&merkle::leaf_hash(&bytes), index, self.size, &proof, &self.root) {
                    return Err(Error::rejected(&at, "its bundle is not the entry the checkpoint's root commits to"));
                }
                let entry = LogEntry::parse(&bytes, &at)?;
                let holds = match kind {
                    Kind::Envelope => entry.envelope_digest() == Some(*digest),
                    Kind::VerdictSubject => {
                        entry.predicate_type == SLSA_VSA_V1
                            && entry.subjects.iter().any(|s| s.sha256_lenient() == Some(*digest))
                    }
                    // What the verdict is on is in its envelope, which the caller reads and
                    // checks; the entry must at least be a verdict.
                    Kind::VerdictInput => entry.predicate_type == SLSA_VSA_V1,
                };
                if !holds {
                    return Err(Error::rejected(
                        &at,
                        format!("does not hold {} as the signed index says", digest.prefixed()),
                    ));
                }
                found.push((index, entry));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_only_the_log_key_signs_it() {
        let key = PrivateKey::from_seed(&[3; 32]);
        let vkey = NoteVerifier::ed25519("example.org/log", &key.public());
        let m = Manifest {
            origin: "example.org/log".into(),
            segment: 256,
            size: 512,
            root: [7; 32],
            segments: vec![Sha256Digest([1; 32]), Sha256Digest([2; 32])],
        };
        assert_eq!(Manifest::verify(&m.sign(&key).unwrap(), &vkey).unwrap(), m);
        let other = PrivateKey::from_seed(&[4; 32]);
        let forged = Manifest { ..m.clone() }.sign(&other);
        assert!(forged.is_err() || Manifest::verify(&forged.unwrap(), &vkey).is_err());
        let wrong = Manifest { size: 300, ..m };
        assert!(Manifest::verify(&wrong.sign(&key).unwrap(), &vkey).is_err());
    }

    #[test]
    fn lookups_find_only_their_kind_and_digest_inside_the_segment() {
        let d = Sha256Digest([0xab; 32]);
        let shard = format!("e {} 5\ns {} 7\ns {} 9\n", d.hex(), d.hex(), d.hex()).into_bytes();
        assert_eq!(lookup(&shard, Kind::VerdictSubject, &d, 0..256, "s").unwrap(), [7, 9]);
        assert_eq!(lookup(&shard, Kind::Envelope, &d, 0..256, "s").unwrap(), [5]);
        assert!(lookup(&shard, Kind::Envelope, &d, 256..512, "s").is_err());
    }
}
