//! `glassbox log serve`'s indexer: the thread that keeps the subject index
//! ([`crate::transparency::subject_index`]) up with the published log. Each time the published
//! checkpoint completes a segment, it reads that segment's entries back from the store, writes
//! its 256 shards and their list (create-only: a segment never changes), and then replaces the
//! manifest, signed with the log key, which this process alone holds.
//!
//! The index is a convenience for readers, never a part of the log: if writing it fails, the
//! log goes on and the next published checkpoint tries again.

use std::sync::mpsc::Receiver;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::tlog::merkle;
use crate::tlog::note::NoteVerifier;
use crate::transparency::subject_index::{self as index, Manifest};
use crate::transparency::LogDir;

/// The indexer between published checkpoints.
pub struct Indexer {
    log: LogDir,
    key: PrivateKey,
    origin: String,
    segment: u64,
    /// The `shards` digest of every segment written so far.
    segments: Vec<Sha256Digest>,
}

impl Indexer {
    /// An indexer for the served log `log` with segments of `segment` entries, continuing from
    /// the manifest the store holds when it is this key's and of this segment size.
    pub fn open(log: LogDir, key: PrivateKey, origin: String, segment: u64) -> Result<Indexer> {
        if segment < 256 || !segment.is_power_of_two() {
            return Err(Error::invalid("--index-segment", format!("{segment} is not a power of two of at least 256")));
        }
        let vkey = NoteVerifier::ed25519(&origin, &key.public());
        let segments = match log.read_optional(index::MANIFEST, index::MAX_MANIFEST)? {
            Some(bytes) => match Manifest::verify(&bytes, &vkey) {
                Ok(m) if m.segment == segment => m.segments,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok(Indexer { log, key, origin, segment, segments })
    }

    /// Indexes each published size it is told of until the publisher hangs up. Sizes that
    /// arrived meanwhile are folded into the latest.
    pub fn run(&mut self, published: Receiver<u64>) {
        while let Ok(first) = published.recv() {
            let size = published.try_iter().last().unwrap_or(first);
            // A failure leaves the index where it was; the next checkpoint retries.
            let _ = self.catch_up(size);
        }
    }

    /// Writes every segment the published tree of `size` entries completes, then the manifest.
    pub fn catch_up(&mut self, size: u64) -> Result<()> {
        let objects = self.log.objects().ok_or_else(|| Error::invalid("the indexer", "the log is not in a store"))?;
        let before = self.segments.len();
        while (self.segments.len() as u64 + 1) * self.segment <= size {
            let k = self.segments.len() as u64;
            let entries = self.log.entries(k * self.segment, (k + 1) * self.segment, size)?;
            let shards = index::build_segment(k * self.segment, &entries)?;
            for (xx, shard) in shards.iter().enumerate() {
                objects.create_blocking(&index::shard_path(k, xx as u8), shard)?;
            }
            let list = index::shards_list(&shards);
            objects.create_blocking(&index::shards_path(k), &list)?;
            self.segments.push(Sha256Digest::of(&list));
        }
        if self.segments.len() == before {
            return Ok(());
        }
        let covered = self.segments.len() as u64 * self.segment;
        let root = merkle::subtree_root(&self.log.tree(size), 0, covered)?;
        let manifest = Manifest {
            origin: self.origin.clone(),
            segment: self.segment,
            size: covered,
            root,
            segments: self.segments.clone(),
        };
        objects.put_blocking(index::MANIFEST, &manifest.sign(&self.key)?)
    }
}
