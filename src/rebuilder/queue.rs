//! One rebuilding organisation's work queue: a NATS JetStream stream with file storage and
//! three subjects, `<stream>.jobs` (one message per provenance, named by a message id so a
//! republish is dropped), `<stream>.followed` (how far the follower got: one message, rolled
//! up) and `<stream>.dead` (jobs given up, with the reason). Workers pull from one durable
//! consumer with explicit acks. The queue is not trusted (docs/rebuilders.md): it can delay or
//! drop work, and whatever it hands over is checked against the log.
//!
//! The NATS client is async; this module keeps it on a runtime of its own and offers a
//! blocking API, so the rest of the rebuilder is plain synchronous code.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures_util::StreamExt;
use serde::Serialize;

use super::{DeadLetter, Job, Mark};
use crate::error::{Error, Result};

/// The largest job, mark or dead letter read from the queue.
const MAX_MESSAGE: usize = 16 << 10;
/// How long a republished job id is remembered by the stream (a follower restarted within it
/// publishes nothing twice; after it, workers find their verdict in the log).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// Jobs published before their acknowledgements are awaited.
const PUBLISH_WINDOW: usize = 2048;

/// A connection to one organisation's stream.
pub struct Queue {
    runtime: Arc<tokio::runtime::Runtime>,
    jetstream: jetstream::Context,
    /// The stream's name (letters, digits, '-' and '_').
    pub stream: String,
    /// The server's address without credentials, for messages.
    pub server: String,
}

/// The queue's counts, as `rebuilder status` shows them.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub jobs: u64,
    pub dead: u64,
    /// How far the follower got (the log size of its last mark).
    pub followed: Option<u64>,
    pub consumers: Vec<ConsumerCounts>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerCounts {
    pub name: String,
    /// Not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged: being built.
    pub in_progress: u64,
    /// Acknowledged (a verdict logged, or given up to the dead-letter subject).
    pub acknowledged: u64,
    pub redelivered: u64,
}

impl Queue {
    /// Connects to `url` (`nats://host:port`, credentials in the URL or in a `.creds` file).
    pub fn connect(url: &str, stream: &str, creds: Option<&Path>) -> Result<Queue> {
        check_stream_name(stream)?;
        let server = strip_userinfo(&crate::remote::redact(url, &[]));
        // The user and password in the URL, if any, never appear in an error.
        let secrets: Vec<String> = userinfo(url)
            .into_iter()
            .flat_map(|u| {
                let password = u.split_once(':').map(|(_, p)| p.to_string());
                std::iter::once(u).chain(password)
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("glassbox-queue")
            .enable_all()
            .build()
            .map_err(|e| Error::invalid("the queue's runtime", e.to_string()))?;
        crate::remote::install_crypto();
        let fail = |e: String| Error::invalid(&server, format!("cannot connect to the queue ({e})"));
        let client = runtime.block_on(async {
            let mut options = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(10))
                .request_timeout(Some(Duration::from_secs(10)));
            if let Some(path) = creds {
                options = options
                    .credentials_file(path)
                    .await
                    .map_err(|e| Error::invalid(path.display(), format!("not a NATS credentials file ({e})")))?;
            }
            options.connect(url).await.map_err(|e| fail(crate::remote::redact(&e.to_string(), &secrets)))
        })?;
        // The JetStream context starts a task of its own: on this runtime.
        let jetstream = {
            let _inside = runtime.enter();
            jetstream::new(client)
        };
        Ok(Queue { runtime: Arc::new(runtime), jetstream, stream: stream.to_string(), server })
    }

    fn subject(&self, name: &str) -> String {
        format!("{}.{name}", self.stream)
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::invalid(format!("stream {} on {}", self.stream, self.server), format!("{what}: {e}"))
    }

    /// Creates the stream if it does not exist (file storage on `replicas` servers, the three
    /// subjects, rollups for the mark, an hour's duplicate window); an existing stream is used
    /// as it is.
    pub fn ensure_stream(&self, replicas: usize) -> Result<()> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: ["jobs", "followed", "dead"].iter().map(|s| self.subject(s)).collect(),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: DUPLICATE_WINDOW,
            allow_rollup: true,
            num_replicas: replicas,
            ..Default::default()
        };
        self.runtime
            .block_on(self.jetstream.get_or_create_stream(config))
            .map(drop)
            .map_err(|e| self.fail("cannot create the stream", e))
    }

    /// Publishes jobs, each under its message id, and waits until the stream has stored (or
    /// recognised as a duplicate) every one. Returns how many were new.
    pub fn publish_jobs(&self, jobs: &[Job]) -> Result<u64> {
        self.runtime.block_on(async {
            let mut fresh = 0;
            for window in jobs.chunks(PUBLISH_WINDOW) {
                let mut acks = Vec::with_capacity(window.len());
                for job in window {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", job.message_id().as_str());
                    let body = serde_json::to_vec(job).map_err(|e| self.fail("cannot encode a job", e))?;
                    let ack = self
                        .jetstream
                        .publish_with_headers(self.subject("jobs"), headers, body.into())
                        .await
                        .map_err(|e| self.fail("cannot publish a job", e))?;
                    acks.push(ack);
                }
                for ack in acks {
                    let ack = ack.await.map_err(|e| self.fail("a job was not stored", e))?;
                    if !ack.duplicate {
                        fresh += 1;
                    }
                }
            }
            Ok(fresh)
        })
    }

    /// Publishes `job` again under the message id `id` instead of its own (which the stream
    /// drops as a repeat for an hour): to retry, on purpose, a job that was dead-lettered once
    /// its cause is fixed. Returns whether the stream stored it (not a repeat of `id`).
    pub fn republish(&self, job: &Job, id: &str) -> Result<bool> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let body = serde_json::to_vec(job).map_err(|e| self.fail("cannot encode a job", e))?;
        self.publish_one("jobs", headers, body)
    }

    /// The follower's last mark, if it left one.
    pub fn mark(&self) -> Result<Option<Mark>> {
        let subject = self.subject("followed");
        self.runtime.block_on(async {
            let stream = self.jetstream.get_stream(&self.stream).await.map_err(|e| self.fail("no stream", e))?;
            match stream.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => {
                    let body = &message.payload;
                    if body.len() > MAX_MESSAGE {
                        return Err(self.fail("the follower's mark", "is too large"));
                    }
                    serde_json::from_slice(body).map(Some).map_err(|e| self.fail("the follower's mark is not one", e))
                }
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(self.fail("cannot read the follower's mark", e)),
            }
        })
    }

    /// Replaces the follower's mark (a rollup: older marks are removed).
    pub fn save_mark(&self, mark: &Mark) -> Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Rollup", "sub");
        self.publish_acked("followed", headers, serde_json::to_vec(mark).map_err(|e| self.fail("mark", e))?)
    }

    /// Gives a job up: its dead letter goes to `<stream>.dead`.
    pub fn dead_letter(&self, dead: &DeadLetter) -> Result<()> {
        let body = serde_json::to_vec(dead).map_err(|e| self.fail("dead letter", e))?;
        self.publish_acked("dead", async_nats::HeaderMap::new(), body)
    }

    fn publish_acked(&self, subject: &str, headers: async_nats::HeaderMap, body: Vec<u8>) -> Result<()> {
        self.publish_one(subject, headers, body).map(drop)
    }

    /// Publishes one message to `<stream>.<subject>` and waits until the stream has stored it;
    /// returns whether it was new (not a repeat of its message id).
    fn publish_one(&self, subject: &str, headers: async_nats::HeaderMap, body: Vec<u8>) -> Result<bool> {
        self.runtime.block_on(async {
            let ack = self
                .jetstream
                .publish_with_headers(self.subject(subject), headers, body.into())
                .await
                .map_err(|e| self.fail("cannot publish", e))?;
            let ack = ack.await.map_err(|e| self.fail("not stored", e))?;
            Ok(!ack.duplicate)
        })
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let subject = self.subject("dead");
        self.runtime.block_on(async {
            let stream = self.jetstream.get_stream(&self.stream).await.map_err(|e| self.fail("no stream", e))?;
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig { filter_subject: subject, ..Default::default() })
                .await
                .map_err(|e| self.fail("cannot read the dead letters", e))?;
            let info = stream.get_info().await.map_err(|e| self.fail("no stream info", e))?;
            let mut out = Vec::new();
            if info.state.messages == 0 {
                return Ok(out);
            }
            let mut messages = consumer.messages().await.map_err(|e| self.fail("cannot read the dead letters", e))?;
            loop {
                let next = tokio::time::timeout(Duration::from_millis(500), messages.next()).await;
                let Ok(Some(Ok(message))) = next else { break };
                let Some(pending) = message.info().ok().map(|i| i.pending) else { break };
                if message.payload.len() <= MAX_MESSAGE {
                    if let Ok(dead) = serde_json::from_slice(&message.payload) {
                        out.push(dead);
                    }
                }
                if pending == 0 {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// The durable pull consumer `name` over the jobs (created when missing): explicit acks,
    /// `ack_wait` before an unacknowledged job is redelivered, no delivery limit (a worker
    /// dead-letters a job itself, with the reason).
    pub fn consumer(&self, name: &str, ack_wait: Duration) -> Result<Consumer> {
        check_stream_name(name)?;
        let config = consumer::pull::Config {
            durable_name: Some(name.to_string()),
            filter_subject: self.subject("jobs"),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            max_deliver: -1,
            ..Default::default()
        };
        let consumer = self.runtime.block_on(async {
            let stream = self.jetstream.get_stream(&self.stream).await.map_err(|e| self.fail("no stream", e))?;
            stream.get_or_create_consumer(name, config).await.map_err(|e| self.fail("cannot open the consumer", e))
        })?;
        Ok(Consumer { runtime: self.runtime.clone(), consumer, what: format!("consumer {name} of {}", self.stream) })
    }

    /// The counts of the stream and its consumers.
    pub fn counts(&self) -> Result<QueueCounts> {
        let followed = self.mark()?.map(|m| m.size);
        self.runtime.block_on(async {
            let stream = self.jetstream.get_stream(&self.stream).await.map_err(|e| self.fail("no stream", e))?;
            let mut counts = QueueCounts { followed, ..Default::default() };
            let mut subjects =
                stream.info_with_subjects(self.subject(">")).await.map_err(|e| self.fail("no stream info", e))?;
            while let Some(item) = subjects.next().await {
                let (subject, n) = item.map_err(|e| self.fail("no stream info", e))?;
                if subject == self.subject("jobs") {
                    counts.jobs = n as u64;
                } else if subject == self.subject("dead") {
                    counts.dead = n as u64;
                }
            }
            let mut names = stream.consumer_names();
            while let Some(name) = names.next().await {
                let name = name.map_err(|e| self.fail("cannot list consumers", e))?;
                let info = stream.consumer_info(&name).await.map_err(|e| self.fail("no consumer info", e))?;
                if info.config.filter_subject != self.subject("jobs") {
                    continue;
                }
                counts.consumers.push(ConsumerCounts {
                    name,
                    pending: info.num_pending,
                    in_progress: info.num_ack_pending as u64,
                    acknowledged: info.ack_floor.stream_sequence.min(counts.jobs),
                    redelivered: info.num_redelivered as u64,
                });
            }
            Ok(counts)
        })
    }
}

/// A durable pull consumer.
pub struct Consumer {
    runtime: Arc<tokio::runtime::Runtime>,
    consumer: consumer::PullConsumer,
    what: String,
}

/// A job handed to this worker, until it is acknowledged.
pub struct Delivery {
    runtime: Arc<tokio::runtime::Runtime>,
    message: jetstream::Message,
    /// The job as the queue gave it (not yet checked against anything).
    pub body: Vec<u8>,
    /// How many times the job has been delivered, this time included.
    pub delivered: u64,
}

impl Consumer {
    /// The next job, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Result<Option<Delivery>> {
        let fail = |e: String| Error::invalid(&self.what, format!("cannot fetch a job ({e})"));
        self.runtime.block_on(async {
            let mut batch = self
                .consumer
                .fetch()
                .max_messages(1)
                .expires(wait)
                .messages()
                .await
                .map_err(|e| fail(e.to_string()))?;
            match batch.next().await {
                None => Ok(None),
                Some(Err(e)) => Err(fail(e.to_string())),
                Some(Ok(message)) => {
                    let delivered = message.info().map(|i| i.delivered.max(1) as u64).unwrap_or(1);
                    let body = message.payload.to_vec();
                    Ok(Some(Delivery { runtime: self.runtime.clone(), message, body, delivered }))
                }
            }
        })
    }
}

impl Delivery {
    fn send(&self, kind: AckKind, what: &str) -> Result<()> {
        self.runtime
            .block_on(self.message.ack_with(kind))
            .map_err(|e| Error::invalid("the queue", format!("cannot {what} a job ({e})")))
    }

    /// Tells the queue the job is still being worked on (`+WPI`): its ack deadline restarts.
    pub fn progress(&self) -> Result<()> {
        self.send(AckKind::Progress, "report progress on")
    }

    /// Done: the queue confirms it has recorded the acknowledgement.
    pub fn ack(&self) -> Result<()> {
        self.runtime
            .block_on(self.message.double_ack())
            .map_err(|e| Error::invalid("the queue", format!("cannot acknowledge a job ({e})")))
    }

    /// Not done: deliver it again after `delay`.
    pub fn retry_after(&self, delay: Duration) -> Result<()> {
        self.send(AckKind::Nak(Some(delay)), "give back")
    }

    /// Never deliver it again.
    pub fn give_up(&self) -> Result<()> {
        self.runtime
            .block_on(self.message.double_ack_with(AckKind::Term))
            .map_err(|e| Error::invalid("the queue", format!("cannot terminate a job ({e})")))
    }
}

/// Stream and consumer names: NATS allows more, but these are also subject tokens and file
/// names on the server.
fn check_stream_name(name: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(Error::invalid(
            format!("{name:?}"),
            "is not a stream or consumer name (1 to 64 letters, digits, '-' and '_')",
        ));
    }
    Ok(())
}

/// The `user:pass` of `nats://user:pass@host:port` (or of `user:pass@host:port`, which the
/// NATS client also takes).
fn userinfo(url: &str) -> Option<String> {
    let start = url.find("://").map_or(0, |s| s + 3);
    let at = url[start..].rfind('@')? + start;
    (at > start).then(|| url[start..at].to_string())
}

/// The server's address without `user:pass@`, with or without a scheme.
fn strip_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |s| s + 3);
    match url[start..].rfind('@') {
        Some(at) => format!("{}{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_never_reach_a_message() {
        let url = "nats://lab-worker:s3cret@nats.lab:4222";
        assert_eq!(strip_userinfo(url), "nats://nats.lab:4222");
        assert_eq!(userinfo(url).as_deref(), Some("lab-worker:s3cret"));
        assert_eq!(userinfo("nats://nats.lab:4222"), None);
        // The client takes a URL without a scheme too.
        assert_eq!(strip_userinfo("lab:pw@127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(userinfo("lab:pw@127.0.0.1:4222").as_deref(), Some("lab:pw"));
        let said =
            crate::remote::redact("cannot reach nats://lab-worker:s3cret@nats.lab:4222", &[userinfo(url).unwrap()]);
        assert!(!said.contains("s3cret"), "{said}");
    }

    #[test]
    fn stream_names_are_plain() {
        assert!(check_stream_name("lab-rebuilds_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(check_stream_name(bad).is_err(), "{bad:?}");
        }
    }
}
