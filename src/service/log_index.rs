//! `glassbox log serve`'s indexer: the thread that keeps the subject index
//! ([`crate::transparency::subject_index`]) up with the published log. Each time a published
//! checkpoint completes a segment, it reads the entries since the last segment back from the
//! store, checks that they lead to that checkpoint's root, writes each new segment's 256 shards
//! and their list (create-only: a segment never changes), and then replaces the manifest,
//! signed with the log key, which this process alone holds.
//!
//! The index is a convenience for readers, never a part of the log: if writing it fails, the
//! log goes on and the next published checkpoint tries again.

use std::sync::mpsc::Receiver;

use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::tlog::Hash;
use crate::transparency::subject_index::{self, Written};
use crate::transparency::LogDir;

/// The indexer between published checkpoints.
pub struct Indexer {
    log: LogDir,
    key: PrivateKey,
    origin: String,
    segment: u64,
    /// The segments written so far, and where they end.
    written: Written,
}

impl Indexer {
    /// An indexer for the served log `log` with segments of `segment` entries, continuing from
    /// the manifest the store holds when it is this key's and of this segment size.
    pub fn open(log: LogDir, key: PrivateKey, origin: String, segment: u64) -> Result<Indexer> {
        if segment < 256 || !segment.is_power_of_two() {
            return Err(Error::invalid("--index-segment", format!("{segment} is not a power of two of at least 256")));
        }
        let written = subject_index::existing(&log, &key, &origin, segment)?;
        Ok(Indexer { log, key, origin, segment, written })
    }

    /// Indexes each published size it is told of until the publisher hangs up. Sizes that
    /// arrived meanwhile are folded into the latest.
    pub fn run(&mut self, published: Receiver<(u64, Hash)>) {
        while let Ok(first) = published.recv() {
            let (size, root) = published.try_iter().last().unwrap_or(first);
            // A failure leaves the index where it was; the next checkpoint retries.
            let (log, key) = (&self.log, &self.key);
            let _ = subject_index::extend(log, key, &self.origin, self.segment, &mut self.written, size, root);
        }
    }
}
