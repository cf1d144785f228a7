//! The rebuilder pool (docs/rebuilders.md): every rebuilding organisation follows the public
//! log itself, turns every provenance in it into a job on its own NATS JetStream stream
//! (`follow`), and its workers pull the jobs, rebuild with exactly `glassbox rebuild`'s code,
//! and log a signed verdict before they acknowledge (`work`); `status` shows the queue and,
//! from the log, which rebuilder has judged which provenance.
//!
//! The queue only carries pointers into the log (an index and an envelope digest). It is not
//! trusted: a worker reads the provenance from the log it authenticated and the source from
//! its own sources, so the queue can delay or drop work but not choose what is built.

pub mod follow;
pub mod queue;
pub mod status;
pub mod work;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

/// The largest job body a worker reads.
const MAX_JOB: usize = 4096;

/// One provenance to rebuild: where it is in the log (formats.md section 20).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Job {
    /// The log's origin (its checkpoint's first line).
    pub log: String,
    /// The provenance's entry.
    pub index: u64,
    /// `sha256:<hex>` of the provenance envelope the entry names.
    pub provenance: String,
}

impl Job {
    /// The JetStream message id: one per entry and envelope, so a republished job is dropped.
    pub fn message_id(&self) -> String {
        format!("{}-{}", self.index, self.provenance.trim_start_matches("sha256:"))
    }

    /// The provenance envelope's digest.
    pub fn provenance_digest(&self) -> Option<Sha256Digest> {
        self.provenance.strip_prefix("sha256:").and_then(Sha256Digest::from_hex)
    }

    /// Reads a job from the queue: bounded, exact fields, a well-formed digest.
    pub fn parse(body: &[u8]) -> Result<Job> {
        let bad = |why: String| Error::invalid("a job from the queue", why);
        if body.len() > MAX_JOB {
            return Err(bad(format!("{} bytes, more than {MAX_JOB}", body.len())));
        }
        let job: Job = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if job.provenance_digest().is_none() {
            return Err(bad(format!("provenance {:?} is not sha256:<64 lowercase hex digits>", job.provenance)));
        }
        Ok(job)
    }
}

/// How far a follower got: the log's size and root when it had published every job before
/// that size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mark {
    pub log: String,
    pub size: u64,
    /// Hex root hash of the log at `size`.
    pub root: String,
}

/// A job given up, with why.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The job as the queue delivered it (cut to 4 KiB, lossily decoded).
    pub job: String,
    pub reason: String,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// The key id of the worker that gave it up.
    pub worker: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_read_strictly() {
        let digest = "ab".repeat(32);
        let good = format!(r#"{{"log":"example.org/log","index":7,"provenance":"sha256:{digest}"}}"#);
        let job = Job::parse(good.as_bytes()).unwrap();
        assert_eq!(job.message_id(), format!("7-{digest}"));
        for bad in [
            format!(r#"{{"log":"l","index":7,"provenance":"sha256:{}"}}"#, "AB".repeat(32)),
            format!(r#"{{"log":"l","index":-1,"provenance":"sha256:{digest}"}}"#),
            format!(r#"{{"log":"l","index":7,"provenance":"sha256:{digest}","extra":1}}"#),
            format!(r#"{{"log":"l","index":7,"provenance":"sha256:{digest}","pad":"{}"}}"#, "x".repeat(5000)),
            "not json".to_string(),
        ] {
            assert!(Job::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
