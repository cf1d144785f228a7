//! `glassbox rebuilder work`: one worker. It pulls a job, checks it against the log it
//! authenticated itself (the entry must be the provenance the job names), looks for its own
//! verdict on that provenance in the log (a redelivery after a crash signs nothing twice),
//! rebuilds with exactly `glassbox rebuild`'s code while telling the queue it is still working,
//! logs the signed verdict, and acknowledges only once the log's receipt is held.
//!
//! A job `glassbox rebuild` refuses (a definite no: an untrusted signer, a source that does not
//! match) goes to the dead-letter subject at once, since the same inputs give the same answer;
//! one it cannot answer (sources or log unreachable) is given back with a growing delay and
//! dead-lettered after `max_deliver` deliveries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use super::queue::{Consumer, Delivery, Queue};
use super::{DeadLetter, Job};
use crate::attest::vsa::VerificationSummary;
use crate::attest::{Envelope, Statement, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use crate::custody::log_writer::{LogWriter, ReceiptCheck, Written};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::rebuild::{self, plan, RebuildRequest};
use crate::sandbox::Sandbox;
use crate::time::Timestamp;
use crate::transparency::follow::{FollowedLog, LogTrust};
use crate::transparency::{LogDir, LogEntry, Loggable};

/// The largest source or binary bundle a worker fetches.
const MAX_BUNDLE: u64 = 4 << 30;
/// How long a bundle download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);
/// Conditional submissions of one verdict before the job is given back.
const LOG_ATTEMPTS: u32 = 20;

/// Where a worker's organisation keeps the vendor's bundles (checked against the provenance by
/// the rebuild, so a mirror is as good as the vendor).
#[derive(Clone, Debug)]
pub enum Sources {
    Dir(PathBuf),
    /// A base URL: `<url>/<stem>-src.tar.gz`.
    Url(String),
}

/// Everything a worker needs.
pub struct WorkerSetup<'a> {
    pub queue: &'a Queue,
    pub consumer: Consumer,
    pub key: &'a PrivateKey,
    /// Builder keys whose provenance is rebuilt.
    pub trusted: Vec<PublicKey>,
    pub sources: Sources,
    /// The log read (a directory, bucket or URL) and whose checkpoints are believed.
    pub log: &'a LogDir,
    pub trust: &'a LogTrust,
    /// Where verdicts are logged.
    pub writer: LogWriter<'a>,
    pub verifier_id: String,
    pub build_base: PathBuf,
    pub sandbox: Sandbox,
    pub host_env: BTreeMap<String, String>,
    pub clock: fn() -> Timestamp,
    /// The consumer's ack deadline: progress is reported three times per deadline.
    pub ack_wait: Duration,
    /// Deliveries after which a job that cannot be answered is dead-lettered.
    pub max_deliver: u64,
    /// Where job directories are made (each removed when its job ends).
    pub work_dir: PathBuf,
    /// Where each verdict's build log (`<sha256>.log`) and a FAILED verdict's mismatch reports
    /// (`<sha256>.diff.json`) are kept, named by the digest the signed verdict gives them.
    pub reports: Option<PathBuf>,
}

/// What became of one delivered job.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// A verdict was signed and logged.
    Logged {
        verdict_index: u64,
        result: String,
    },
    /// This key's verdict was in the log already.
    AlreadyJudged {
        verdict_index: u64,
    },
    DeadLettered {
        reason: String,
    },
    Retried {
        reason: String,
        delay_seconds: u64,
    },
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handled {
    pub job: Option<Job>,
    pub delivered: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A worker and its authenticated view of the log.
pub struct Worker<'a> {
    setup: WorkerSetup<'a>,
    view: Option<View>,
}

/// The log from entry `start` on, as far as it was authenticated: for each entry its envelope
/// digest, whether it is a provenance, and whether this worker's key claims to have signed it.
struct View {
    position: FollowedLog,
    start: u64,
    seen: Vec<Seen>,
}

struct Seen {
    envelope: Option<Sha256Digest>,
    provenance: bool,
    mine: bool,
}

impl<'a> Worker<'a> {
    pub fn new(setup: WorkerSetup<'a>) -> Worker<'a> {
        Worker { setup, view: None }
    }

    /// Takes the next job (waiting up to `wait`) and carries it through. `Ok(None)` when there
    /// was none; an error only when the queue itself fails.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Handled>> {
        let Some(delivery) = self.setup.consumer.next(wait)? else { return Ok(None) };
        let job = Job::parse(&delivery.body);
        let outcome = match &job {
            Err(e) => self.give_up(&delivery, e.to_string())?,
            Ok(job) => match self.judging(job, &delivery) {
                Ok(outcome) => {
                    delivery.ack()?;
                    outcome
                }
                Err(e) if matches!(e, Error::Rejected { .. }) || delivery.delivered >= self.setup.max_deliver => {
                    self.give_up(&delivery, e.to_string())?
                }
                Err(e) => {
                    let delay = Duration::from_secs(2u64.saturating_pow(delivery.delivered as u32).min(60));
                    delivery.retry_after(delay)?;
                    Outcome::Retried { reason: e.to_string(), delay_seconds: delay.as_secs() }
                }
            },
        };
        Ok(Some(Handled { job: job.ok(), delivered: delivery.delivered, outcome }))
    }

    fn give_up(&self, delivery: &Delivery, reason: String) -> Result<Outcome> {
        let cut = &delivery.body[..delivery.body.len().min(4096)];
        self.setup.queue.dead_letter(&DeadLetter {
            job: String::from_utf8_lossy(cut).into_owned(),
            reason: reason.clone(),
            deliveries: delivery.delivered,
            worker: self.setup.key.public().key_id().to_string(),
        })?;
        delivery.give_up()?;
        Ok(Outcome::DeadLettered { reason })
    }

    /// [`Worker::judge`] on a thread of its own, telling the queue the job is in progress
    /// three times per ack deadline meanwhile: reading the log, fetching the sources, building
    /// and logging can each outlast the deadline, and a job handed to a second worker while the
    /// first still works on it is work done twice.
    fn judging(&mut self, job: &Job, delivery: &Delivery) -> Result<Outcome> {
        let every = (self.setup.ack_wait / 3).max(Duration::from_millis(100));
        let (done, finished) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                // The receiver waits for this; if it is gone the worker is failing anyway.
                let _ = done.send(self.judge(job));
            });
            loop {
                match finished.recv_timeout(every) {
                    Ok(result) => return result,
                    Err(mpsc::RecvTimeoutError::Timeout) => delivery.progress()?,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(Error::invalid("the rebuild", "ended without an answer"))
                    }
                }
            }
        })
    }

    /// Everything between taking a job and acknowledging it.
    fn judge(&mut self, job: &Job) -> Result<Outcome> {
        let trust = self.setup.trust;
        if job.log != trust.vkey.name {
            return Err(Error::rejected("the job", format!("is for the log {:?}, not {:?}", job.log, trust.vkey.name)));
        }
        self.catch_up(job.index).map_err(unavailable)?;
        let view = self.view.as_ref().ok_or_else(|| Error::invalid("the log", "not read"))?;
        let seen = view.seen.get((job.index - view.start) as usize).ok_or_else(|| {
            Error::invalid("the log", format!("does not hold entry {} yet (size {})", job.index, view.position.size()))
        })?;
        let digest = job.provenance_digest().unwrap_or(Sha256Digest([0; 32]));
        if !seen.provenance || seen.envelope != Some(digest) {
            return Err(Error::rejected(
                format!("log entry {}", job.index),
                format!("is not the provenance {} the job names", job.provenance),
            ));
        }
        if let Some(verdict_index) = self.own_verdict(job.index, &digest).map_err(unavailable)? {
            return Ok(Outcome::AlreadyJudged { verdict_index });
        }
        let size = self.view.as_ref().map_or(0, |v| v.position.size());
        let line = self.envelope_line(job.index, size, &digest).map_err(unavailable)?;

        let job_dir = tempfile::Builder::new()
            .prefix("glassbox-job-")
            .tempdir_in(&self.setup.work_dir)
            .map_err(|e| Error::io(&self.setup.work_dir, e))?;
        let att = job_dir.path().join("att");
        std::fs::create_dir(&att).map_err(|e| Error::io(&att, e))?;
        let unnamed = att.join("provenance.intoto.jsonl");
        crate::fs::write_atomic(&unnamed, &[line.as_slice(), b"\n"].concat(), 0o644)?;
        let trusted = plan::verify(&unnamed, &self.setup.trusted)?;
        let plan = plan::plan(&trusted)?;
        let target = &plan.params.target;
        let provenance = att.join(format!("{target}.provenance.intoto.jsonl"));
        std::fs::rename(&unnamed, &provenance).map_err(|e| Error::io(&provenance, e))?;
        let source = job_dir.path().join(format!("{}-src.tar.gz", plan.stem));
        self.fetch(&format!("{}-src.tar.gz", plan.stem), &source)?;
        // The vendor's binary bundle explains a mismatch; without it the verdict still stands.
        let expected = job_dir.path().join(format!("{}-{target}.tar.gz", plan.stem));
        let expected = self.fetch(&format!("{}-{target}.tar.gz", plan.stem), &expected).ok().map(|_| expected);

        let s = &self.setup;
        let outcome = rebuild::rebuild(&RebuildRequest {
            provenance: provenance.clone(),
            source,
            trusted: s.trusted.clone(),
            key: Some(s.key),
            verifier_id: s.verifier_id.clone(),
            out_dir: None,
            expected,
            allow_toolchain_mismatch: false,
            build_base: s.build_base.clone(),
            sandbox: s.sandbox.clone(),
            host_env: s.host_env.clone(),
            clock: &s.clock,
            progress: &crate::progress::Silent,
        })?;
        let verdict = outcome.verdict_file.as_ref().ok_or_else(|| Error::invalid("the rebuild", "wrote no verdict"))?;
        if let Some(reports) = &self.setup.reports {
            let beside = [(&outcome.differences_file, "diff.json"), (&outcome.build_log_file, "log")];
            for (file, extension) in beside.iter().filter_map(|(f, e)| Some(((*f).as_ref()?, *e))) {
                let bytes = crate::fs::read_regular(file, 1 << 30)?;
                let name = format!("{}.{extension}", Sha256Digest::of(&bytes).hex());
                crate::fs::write_atomic(&reports.join(name), &bytes, 0o644)?;
            }
        }
        let text = crate::fs::read_regular_text(verdict, 1 << 24)?;
        let items = Loggable::parse_lines(&text, &verdict.display().to_string())?;
        let item = items.first().ok_or_else(|| Error::invalid(verdict.display(), "holds no verdict"))?;
        let passed = outcome.reproduced && !outcome.toolchain_mismatch;
        self.log_once(job.index, &digest, item, if passed { "PASSED" } else { "FAILED" })
    }

    /// Logs the verdict only if this key has none on the provenance yet: a compare-and-swap on
    /// the log's size (the service's `Glassbox-Expect-Size`, a directory's lock), retried from
    /// the new size while the log grows. Two workers with one key that built the same
    /// provenance at once (a job published twice) log one verdict; the other finds it.
    fn log_once(&mut self, index: u64, provenance: &Sha256Digest, item: &Loggable, result: &str) -> Result<Outcome> {
        let trust = self.setup.trust;
        let check = ReceiptCheck { vkey: Some(&trust.vkey), witnesses: &trust.witnesses };
        for _ in 0..LOG_ATTEMPTS {
            self.catch_up(index).map_err(unavailable)?;
            if let Some(verdict_index) = self.own_verdict(index, provenance).map_err(unavailable)? {
                return Ok(Outcome::AlreadyJudged { verdict_index });
            }
            let size = self.view.as_ref().map_or(0, |v| v.position.size());
            if let Written::Logged(logged) = self.setup.writer.append_at(item, Some(size), &check)? {
                return Ok(Outcome::Logged { verdict_index: logged.index, result: result.into() });
            }
        }
        Err(Error::invalid("the log", format!("grew under each of {LOG_ATTEMPTS} attempts to log the verdict")))
    }

    /// Copies the bundle `name` from the organisation's sources into `dest`.
    fn fetch(&self, name: &str, dest: &Path) -> Result<()> {
        match &self.setup.sources {
            Sources::Dir(dir) => {
                crate::beneath::HostileDir::open(dir)?.copy_file(Path::new(name), MAX_BUNDLE, dest, 0o644).map(drop)
            }
            Sources::Url(base) => {
                let url = format!("{}/{name}", base.trim_end_matches('/'));
                let response = crate::remote::http::get_blocking(&url, MAX_BUNDLE, FETCH_TIMEOUT)?;
                if response.status != 200 {
                    return Err(Error::invalid(
                        crate::remote::redact(&url, &[]),
                        format!("answered {} ({})", response.status, response.body_summary()),
                    ));
                }
                crate::fs::write_atomic(dest, &response.body, 0o644)
            }
        }
    }

    /// Makes the view cover the log's current checkpoint, from entry `index` at the latest.
    fn catch_up(&mut self, index: u64) -> Result<()> {
        if self.view.as_ref().is_none_or(|v| v.start > index) {
            let position = FollowedLog::starting_at(self.setup.log, index)?;
            self.view = Some(View { position, start: index, seen: Vec::new() });
        }
        let mine = self.setup.key.public().key_id().to_string();
        let (log, trust) = (self.setup.log, self.setup.trust);
        let Some(view) = self.view.as_mut() else { return Ok(()) };
        let new = view.position.advance(log, trust, |i, bytes| {
            let entry = LogEntry::parse(bytes, &format!("log entry {i}"))?;
            let vsa = entry.predicate_type == SLSA_VSA_V1;
            Ok(Some(Seen {
                envelope: entry.envelope_digest(),
                provenance: entry.predicate_type == SLSA_PROVENANCE_V1,
                mine: vsa && entry.signers.contains(&mine),
            }))
        })?;
        view.seen.extend(new);
        Ok(())
    }

    /// This worker's key's verdict on the provenance of entry `index`, if one is logged after
    /// it: the entry claims this key, and the stored envelope verifies for it and names the
    /// provenance.
    fn own_verdict(&self, index: u64, provenance: &Sha256Digest) -> Result<Option<u64>> {
        let Some(view) = &self.view else { return Ok(None) };
        let public = [self.setup.key.public()];
        let size = view.position.size();
        for (k, seen) in view.seen.iter().enumerate().skip((index + 1 - view.start) as usize) {
            let (true, Some(digest)) = (seen.mine, seen.envelope) else { continue };
            let at = view.start + k as u64;
            let line = self.envelope_line(at, size, &digest)?;
            let what = format!("log entry {at}");
            let Ok(envelope) = serde_json::from_slice::<Envelope>(&line) else { continue };
            if envelope.verified_by(&public)?.is_empty() {
                continue;
            }
            let Ok(vsa) = Statement::<VerificationSummary>::from_envelope(&envelope, SLSA_VSA_V1, &what) else {
                continue;
            };
            let names = |a: &crate::attest::ResourceDescriptor| a.sha256().as_ref() == Some(provenance);
            if vsa.predicate.input_attestations.iter().any(names) {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    /// The stored envelope of entry `index`, which must hash to `digest`.
    fn envelope_line(&self, index: u64, size: u64, digest: &Sha256Digest) -> Result<Vec<u8>> {
        let line = self.setup.log.envelopes(index, index + 1, size)?.pop().unwrap_or_default();
        if Sha256Digest::of(&line) != *digest {
            return Err(Error::rejected(
                format!("log entry {index}"),
                "the stored envelope is not the one the entry names",
            ));
        }
        Ok(line)
    }
}

/// A failure to read the log is the log's (or its mirror's) for now, not the job's: a stale
/// checkpoint, a bundle that does not add up, a rewrite. The job is given back and retried,
/// and dead-lettered with this reason only after `--max-deliver` deliveries.
fn unavailable(e: Error) -> Error {
    Error::invalid("the log", format!("cannot be read as it must be ({e})"))
}
