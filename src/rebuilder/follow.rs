//! `glassbox rebuilder follow`: one organisation's follower. It follows the public log (every
//! new entry authenticated against a signed checkpoint, `transparency::follow`) and publishes
//! one job per provenance entry to its own stream, then a mark of how far it got. A follower
//! restarted from its mark (or killed between the jobs and the mark) republishes jobs the
//! stream already holds under the same message ids, which the stream drops.

use super::queue::Queue;
use super::{Job, Mark};
use crate::attest::SLSA_PROVENANCE_V1;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::transparency::follow::{FollowedLog, LogTrust};
use crate::transparency::{LogDir, LogEntry};

/// A follower between rounds.
pub struct Follower<'a> {
    log: &'a LogDir,
    trust: &'a LogTrust,
    queue: &'a Queue,
    position: FollowedLog,
}

/// What one round did.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowRound {
    /// The log size the round started from and reached.
    pub from: u64,
    pub size: u64,
    /// Provenance entries among the new entries.
    pub provenances: u64,
    /// Jobs the stream did not hold yet.
    pub published: u64,
}

impl<'a> Follower<'a> {
    /// A follower that starts at `from_index`, or else where the stream's mark says, or else
    /// at the start of the log. The stream is created when missing, on `replicas` servers. A
    /// mark whose root is not the log's root at that size means the log was rewritten (or the
    /// mark was), and is refused.
    pub fn new(
        log: &'a LogDir,
        trust: &'a LogTrust,
        queue: &'a Queue,
        from_index: Option<u64>,
        replicas: usize,
    ) -> Result<Follower<'a>> {
        queue.ensure_stream(replicas)?;
        let position = match (from_index, queue.mark()?) {
            (Some(n), _) => FollowedLog::starting_at(log, n)?,
            (None, None) => FollowedLog::from_start(),
            (None, Some(mark)) => {
                let what = format!("the mark in stream {}", queue.stream);
                if mark.log != trust.vkey.name {
                    return Err(Error::invalid(
                        what,
                        format!("is for the log {:?}, not {:?}: use a stream per log", mark.log, trust.vkey.name),
                    ));
                }
                let (_, checkpoint) = log.read_checkpoint()?;
                if mark.size > checkpoint.size {
                    return Err(Error::rejected(
                        what,
                        format!(
                            "says {} entries were followed, but the log holds {}: the mark is not this log's, or the \
                             log was rewritten; pass --from-index to start elsewhere",
                            mark.size, checkpoint.size
                        ),
                    ));
                }
                let position = FollowedLog::starting_at(log, mark.size)?;
                if Sha256Digest(position.root()).hex() != mark.root {
                    return Err(Error::rejected(
                        what,
                        format!(
                            "names another tree of {} entries than the log's: the log or the mark was rewritten",
                            mark.size
                        ),
                    ));
                }
                position
            }
        };
        Ok(Follower { log, trust, queue, position })
    }

    /// How many entries have been followed.
    pub fn size(&self) -> u64 {
        self.position.size()
    }

    /// Reads what was appended since the last round, publishes a job per provenance, and
    /// moves the mark. The position moves only once the jobs are stored.
    pub fn round(&mut self) -> Result<FollowRound> {
        let from = self.position.size();
        let mut next = self.position.clone();
        let origin = self.trust.vkey.name.clone();
        let jobs = next.advance(self.log, self.trust, |index, bytes| {
            let entry = LogEntry::parse(bytes, &format!("log entry {index}"))?;
            if entry.predicate_type != SLSA_PROVENANCE_V1 {
                return Ok(None);
            }
            Ok(Some(Job { log: origin.clone(), index, provenance: entry.envelope }))
        })?;
        let published = self.queue.publish_jobs(&jobs)?;
        if next.size() != from {
            let root = Sha256Digest(next.root()).hex();
            self.queue.save_mark(&Mark { log: origin, size: next.size(), root })?;
        }
        self.position = next;
        Ok(FollowRound { from, size: self.position.size(), provenances: jobs.len() as u64, published })
    }
}
