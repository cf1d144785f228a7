//! `glassbox log serve`'s publisher: the thread that has committed checkpoints cosigned by the
//! witnesses, publishes them, and answers submitters with their receipts. It runs beside the
//! sequencer ([`super::log`]), so a batch is pooled and committed while the one before it is
//! being witnessed: committing and witnessing overlap, and when several batches were committed
//! while the witnesses answered, one cosigned checkpoint (the latest) answers them all.
//!
//! The publisher holds no key. It reads the tiles the sequencer has already written (a batch
//! reaches it only after its objects are in the store), so every checkpoint it publishes names
//! tiles that readers can fetch.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use super::log::{Receipt, Refusal, Submission, WitnessPeer};
use crate::error::{Error, Result};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::Note;
use crate::tlog::proof::TlogProof;
use crate::tlog::Hash;
use crate::transparency::bucket;
use crate::transparency::store::TileReader;
use crate::transparency::witness_client::request_cosignature;
use crate::transparency::LogDir;

/// A committed batch, handed from the sequencer to the publisher.
pub struct Committed {
    /// The committed checkpoint's note (log signature only) and its size.
    pub note: Vec<u8>,
    pub size: u64,
    /// Each submission of the batch with the index its envelope has in the log.
    pub answers: Vec<(Submission, u64)>,
}

/// Who cosigns, and how many must.
pub struct WitnessConfig {
    pub witnesses: Vec<WitnessPeer>,
    pub threshold: usize,
    pub timeout: Duration,
}

/// The publisher's state between batches.
pub struct Publisher {
    log: LogDir,
    config: WitnessConfig,
    /// The size each witness last cosigned, as far as the service knows.
    witnessed: Vec<Option<u64>>,
    /// The checkpoint last published (with cosignatures) and its tree size.
    published: Vec<u8>,
    published_size: u64,
    /// Told each newly published size and root (the indexer).
    on_published: Option<Sender<(u64, Hash)>>,
}

impl Publisher {
    /// A publisher of the log `log` (the sequencer's objects, so that it reads the tiles the
    /// sequencer just wrote from memory).
    pub fn new(log: LogDir, config: WitnessConfig) -> Publisher {
        let witnessed = vec![None; config.witnesses.len()];
        Publisher { log, config, witnessed, published: Vec::new(), published_size: 0, on_published: None }
    }

    /// From now on, tells `to` the size and root of each checkpoint published.
    pub fn tell_published(&mut self, to: Sender<(u64, Hash)>) {
        self.on_published = Some(to);
    }

    /// Has the checkpoint `note` (of `size` entries, already committed and written) cosigned by
    /// at least the threshold of witnesses and publishes it with their cosignatures. Nothing
    /// is published below the threshold.
    pub fn cosign_and_publish(&mut self, note: &[u8], size: u64) -> Result<()> {
        let mut published = note.to_vec();
        let mut cosigned = 0;
        let mut failures = Vec::new();
        for (i, peer) in self.config.witnesses.iter().enumerate() {
            // What the witness last cosigned, as far as the service knows (a 409 corrects it).
            let old = self.witnessed[i].unwrap_or(0).min(size);
            match request_cosignature(&peer.url, &peer.vkey, &self.log, note, old, self.config.timeout) {
                Ok(lines) => {
                    // Cosignature lines go after the log's signature: a note's signatures are a
                    // list of lines, in any order.
                    published.extend_from_slice(lines.as_bytes());
                    self.witnessed[i] = Some(size);
                    cosigned += 1;
                }
                Err(e) => failures.push(format!("{}: {e}", peer.url)),
            }
        }
        if cosigned < self.config.threshold {
            return Err(Error::invalid(
                "the witnesses",
                format!(
                    "{cosigned} of the {} needed cosigned the checkpoint of size {size}: {}",
                    self.config.threshold,
                    failures.join("; ")
                ),
            ));
        }
        let objects = self.log.objects().ok_or_else(|| Error::invalid(self.log.root.display(), "is not a store"))?;
        bucket::publish(objects, &published)?;
        self.published = published;
        self.published_size = size;
        let root = Note::parse(note).ok().and_then(|n| Checkpoint::parse(&n.text).ok()).map(|c| c.root);
        if let (Some(to), Some(root)) = (&self.on_published, root) {
            // The indexer gone (it only ends with the service) costs readers speed, not truth.
            let _ = to.send((size, root));
        }
        Ok(())
    }

    /// Publishes and answers committed batches until the sequencer hangs up. Batches waiting
    /// together are answered from one cosigned checkpoint, the latest.
    pub fn run(&mut self, committed: Receiver<Committed>) {
        while let Ok(first) = committed.recv() {
            let mut batches = vec![first];
            batches.extend(committed.try_iter());
            // `batches` has at least the first.
            let (note, size) = match batches.last() {
                Some(last) => (last.note.clone(), last.size),
                None => continue,
            };
            if let Err(e) = self.cosign_and_publish(&note, size) {
                // Committed but not witnessed: the entries are in the log and will be in the
                // next published checkpoint; a submitter who retries gets the receipt then.
                let why = format!("logged, but not yet in a published checkpoint: {e}");
                for (s, _) in batches.into_iter().flat_map(|b| b.answers) {
                    let _ = s.reply.send(Err(Refusal::Unavailable(why.clone())));
                }
                continue;
            }
            let tree = self.log.tree(self.published_size);
            for (s, index) in batches.into_iter().flat_map(|b| b.answers) {
                let answer = self.receipt(&tree, &s, index).map_err(|e| Refusal::Unavailable(e.to_string()));
                let _ = s.reply.send(answer);
            }
        }
    }

    /// The receipt for entry `index` at the published checkpoint.
    fn receipt(&self, tree: &TileReader<'_>, s: &Submission, index: u64) -> Result<Receipt> {
        let hashes = merkle::inclusion_proof(tree, index, self.published_size)?;
        let proof = TlogProof { index, hashes, checkpoint: self.published.clone(), extra: None };
        Ok(Receipt { envelope: s.item.digest, index, rewritten: s.item.rewritten(), proof: proof.to_bytes() })
    }
}
