//! `glassbox log serve`'s sequencer: the one thread that holds the log key. Submissions arrive
//! from the HTTP front end ([`super::log_http`]) through a bounded queue; the sequencer pools
//! them (at most `pool` entries, at most `period` after the first), plans the batch in arrival
//! order, commits it to the bucket ([`BucketWriter`]), has the new checkpoint cosigned by the
//! witnesses, publishes it, and only then answers each submitter with a
//! `c2sp.org/tlog-proof@v1` receipt at that published checkpoint. The sequencer is synchronous
//! library code on a plain thread; only the front end is async.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::tlog::merkle;
use crate::tlog::note::NoteVerifier;
use crate::tlog::proof::TlogProof;
use crate::tlog::Hash;
use crate::transparency::append::{plan, Known};
use crate::transparency::bucket::BucketWriter;
use crate::transparency::witness_client::request_cosignature;
use crate::transparency::Loggable;

/// One submission waiting for its receipt.
pub struct Submission {
    pub item: Loggable,
    /// Log the envelope only as entry `expect_size` (only if the log then has exactly that many
    /// entries before it): a compare-and-swap for a writer whose decision rests on the log up
    /// to that size (the custody gateway).
    pub expect_size: Option<u64>,
    pub reply: tokio::sync::oneshot::Sender<std::result::Result<Receipt, Refusal>>,
}

/// Why a submission got no receipt.
#[derive(Clone, Debug)]
pub enum Refusal {
    /// The log had `size` entries, not the expected number: nothing was logged.
    Moved { size: u64 },
    /// The service could not log it, or not yet in a published checkpoint: retry.
    Unavailable(String),
}

/// What a submitter gets back.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// The stored (canonical) envelope's digest, which names it in the log.
    pub envelope: Sha256Digest,
    pub index: u64,
    /// Whether the submitted bytes were rewritten into the canonical form.
    pub rewritten: bool,
    /// The `c2sp.org/tlog-proof@v1` text at the published, cosigned checkpoint.
    pub proof: Vec<u8>,
}

/// A witness the service asks for cosignatures.
#[derive(Clone, Debug)]
pub struct WitnessPeer {
    /// Its base URL (`…/add-checkpoint` is appended).
    pub url: String,
    pub vkey: NoteVerifier,
}

/// How the sequencer runs.
pub struct SequencerConfig {
    pub pool: usize,
    pub period: Duration,
    pub witnesses: Vec<WitnessPeer>,
    pub threshold: usize,
    pub witness_timeout: Duration,
}

/// The sequencer's state between batches.
pub struct Sequencer {
    writer: BucketWriter,
    config: SequencerConfig,
    /// Every logged envelope's index (confirmed against its entry before a receipt is given).
    known: HashMap<Hash, u64>,
    /// The size each witness last cosigned, as far as the service knows.
    witnessed: Vec<Option<u64>>,
    /// The checkpoint last published (with cosignatures) and its tree size.
    published: Vec<u8>,
    published_size: u64,
}

impl Sequencer {
    /// Takes over the log (finishing a staged batch), loads the envelope index, and publishes
    /// the committed checkpoint once enough witnesses cosign it.
    pub fn start(writer: BucketWriter, config: SequencerConfig) -> Result<Sequencer> {
        let size = writer.checkpoint().size;
        let records = writer.log().read_index_records(size)?;
        let known = records.into_iter().enumerate().map(|(i, d)| (d, i as u64)).rev().collect();
        let witnessed = vec![None; config.witnesses.len()];
        let mut sequencer = Sequencer { writer, config, known, witnessed, published: Vec::new(), published_size: 0 };
        // Without enough cosignatures now (a witness down, or one that refuses this history)
        // the service still starts: it publishes nothing, and every submitter is told why.
        let _ = sequencer.cosign_and_publish();
        Ok(sequencer)
    }

    /// The committed tree size.
    pub fn size(&self) -> u64 {
        self.writer.checkpoint().size
    }

    /// The published checkpoint (with cosignatures).
    pub fn published(&self) -> &[u8] {
        &self.published
    }

    /// Runs until the queue closes (Ok) or a commit fails (Err: the server must stop; a lost
    /// compare-and-swap names the other writer's checkpoint).
    pub fn run(&mut self, queue: Receiver<Submission>) -> Result<()> {
        loop {
            let Ok(first) = queue.recv() else { return Ok(()) };
            let mut batch = vec![first];
            let deadline = Instant::now() + self.config.period;
            while batch.len() < self.config.pool {
                match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(next) => batch.push(next),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            self.sequence(batch)?;
        }
    }

    /// Sequences one pooled batch: commit, cosign, publish, answer.
    fn sequence(&mut self, pooled: Vec<Submission>) -> Result<()> {
        // Conditional submissions first learn their index: arrival order, after the entries
        // ahead of them in the batch.
        let mut next = self.writer.checkpoint().size;
        let mut seen = std::collections::HashSet::new();
        let mut batch = Vec::with_capacity(pooled.len());
        for s in pooled {
            let digest = s.item.digest.0;
            let logged = self.known.contains_key(&digest) || seen.contains(&digest);
            if let Some(expected) = s.expect_size {
                if logged || expected != next {
                    let _ = s.reply.send(Err(Refusal::Moved { size: next }));
                    continue;
                }
            }
            if !logged {
                seen.insert(digest);
                next += 1;
            }
            batch.push(s);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let items: Vec<Loggable> = batch.iter().map(|s| s.item.clone()).collect();
        let old = self.writer.checkpoint().clone();
        let plan = match plan(self.writer.log(), &old, &items, Known::Map(&self.known), true) {
            Ok(plan) => plan,
            Err(e) => {
                // The stored tree no longer matches the committed checkpoint: nothing can be
                // appended safely. Tell everyone and stop.
                let why = e.to_string();
                for s in batch {
                    let _ = s.reply.send(Err(Refusal::Unavailable(why.clone())));
                }
                return Err(e);
            }
        };
        if let Err(e) = self.writer.commit(&plan) {
            for s in batch {
                let _ = s.reply.send(Err(Refusal::Unavailable(format!("not logged: {e}"))));
            }
            return Err(e);
        }
        for (offset, digest) in plan.records.iter().enumerate() {
            self.known.insert(*digest, old.size + offset as u64);
        }
        if let Err(e) = self.cosign_and_publish() {
            // Committed but not witnessed: the entries are in the log and will be in the next
            // published checkpoint; a submitter who retries gets the receipt then.
            for s in batch {
                let why = format!("logged, but not yet in a published checkpoint: {e}");
                let _ = s.reply.send(Err(Refusal::Unavailable(why)));
            }
            return Ok(());
        }
        let mut indices: HashMap<Hash, u64> = HashMap::new();
        for (index, digest) in plan.appended.added.iter().chain(&plan.appended.already_logged) {
            indices.insert(digest.0, *index);
        }
        let tree = self.writer.log().tree(self.published_size);
        for s in batch {
            let answer = match indices.get(&s.item.digest.0) {
                Some(&index) => self.receipt(&tree, &s.item, index).map_err(|e| Refusal::Unavailable(e.to_string())),
                None => Err(Refusal::Unavailable("the batch lost this envelope".to_string())),
            };
            let _ = s.reply.send(answer);
        }
        Ok(())
    }

    /// The receipt for entry `index` at the published checkpoint.
    fn receipt(
        &self,
        tree: &crate::transparency::store::TileReader<'_>,
        item: &Loggable,
        index: u64,
    ) -> Result<Receipt> {
        let hashes = merkle::inclusion_proof(tree, index, self.published_size)?;
        let proof = TlogProof { index, hashes, checkpoint: self.published.clone(), extra: None };
        Ok(Receipt { envelope: item.digest, index, rewritten: item.rewritten(), proof: proof.to_bytes() })
    }

    /// Has the committed checkpoint cosigned by at least `threshold` witnesses and publishes it
    /// with their cosignatures. Nothing is published below the threshold.
    fn cosign_and_publish(&mut self) -> Result<()> {
        let note = self.writer.note().to_vec();
        let size = self.writer.checkpoint().size;
        let mut published = note.clone();
        let mut cosigned = 0;
        let mut failures = Vec::new();
        for i in 0..self.config.witnesses.len() {
            let peer = &self.config.witnesses[i];
            // What the witness last cosigned, as far as the service knows (a 409 corrects it).
            let old = self.witnessed[i].unwrap_or(0).min(size);
            let timeout = self.config.witness_timeout;
            match request_cosignature(&peer.url, &peer.vkey, self.writer.log(), &note, old, timeout) {
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
        self.writer.publish(&published)?;
        self.published = published;
        self.published_size = size;
        Ok(())
    }
}
