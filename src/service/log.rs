//! `glassbox log serve`'s sequencer: the one thread that holds the log key. Submissions arrive
//! from the HTTP front end ([`super::log_http`]) through a bounded queue; the sequencer pools
//! them (at most `pool` entries, at most `period` after the first), plans the batch in arrival
//! order, commits it to the store ([`BucketWriter`]) and hands it to the publisher
//! ([`super::log_publish`]), which has the new checkpoint cosigned by the witnesses, publishes
//! it, and only then answers each submitter with a `c2sp.org/tlog-proof@v1` receipt at that
//! published checkpoint. Both are synchronous library code on plain threads; only the front end
//! is async.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::log_publish::Committed;
use crate::digest::Sha256Digest;
use crate::error::Result;
use crate::tlog::note::NoteVerifier;
use crate::tlog::Hash;
use crate::transparency::append::{plan, Known};
use crate::transparency::bucket::BucketWriter;
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

/// How the sequencer pools.
pub struct SequencerConfig {
    pub pool: usize,
    pub period: Duration,
}

/// The sequencer's state between batches.
pub struct Sequencer {
    writer: BucketWriter,
    config: SequencerConfig,
    /// Every logged envelope's index (confirmed against its entry before a receipt is given).
    known: HashMap<Hash, u64>,
    /// Where committed batches go to be witnessed, published and answered.
    publisher: Sender<Committed>,
}

impl Sequencer {
    /// Takes over the log's writer and loads the envelope index.
    pub fn start(writer: BucketWriter, config: SequencerConfig, publisher: Sender<Committed>) -> Result<Sequencer> {
        let size = writer.checkpoint().size;
        let records = writer.log().read_index_records(size)?;
        let known = records.into_iter().enumerate().map(|(i, d)| (d, i as u64)).rev().collect();
        Ok(Sequencer { writer, config, known, publisher })
    }

    /// Runs until the queue closes (Ok) or a commit fails (Err: the server must stop; a lost
    /// compare-and-swap names the other writer's checkpoint). The publisher ends once this
    /// returns (its channel closes) after answering what was committed.
    pub fn run(mut self, queue: Receiver<Submission>) -> Result<()> {
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

    /// Sequences one pooled batch: plan, commit, hand to the publisher.
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
                // Already logged as exactly the expected entry (a retried submission whose
                // answer was lost): its receipt, as for any resubmission. Otherwise the log has
                // moved past what the submitter judged.
                let same = logged && self.known.get(&digest) == Some(&expected);
                if !same && (logged || expected != next) {
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
        let committed = plan(self.writer.log(), &old, &items, Known::Map(&self.known), true)
            .and_then(|plan| Ok((self.writer.commit(&plan)?, plan)));
        let (note, plan) = match committed {
            Ok(done) => done,
            Err(e) => {
                // The stored tree no longer matches the committed checkpoint, or another writer
                // took the store over: nothing can be appended safely. Tell everyone and stop.
                for s in batch {
                    let _ = s.reply.send(Err(Refusal::Unavailable(format!("not logged: {e}"))));
                }
                return Err(e);
            }
        };
        for (offset, digest) in plan.records.iter().enumerate() {
            self.known.insert(*digest, old.size + offset as u64);
        }
        let mut indices: HashMap<Hash, u64> = HashMap::new();
        for (index, digest) in plan.appended.added.iter().chain(&plan.appended.already_logged) {
            indices.insert(digest.0, *index);
        }
        let mut answers = Vec::with_capacity(batch.len());
        for s in batch {
            match indices.get(&s.item.digest.0) {
                Some(&index) => answers.push((s, index)),
                None => {
                    let _ = s.reply.send(Err(Refusal::Unavailable("the batch lost this envelope".to_string())));
                }
            }
        }
        // A publisher that is gone means the service is stopping: its submitters' replies are
        // dropped with it, which the front end answers as unavailable.
        let _ = self.publisher.send(Committed { note, size: plan.new.size, answers });
        Ok(())
    }
}
