//! `glassbox rebuilder follow | work | status`: one rebuilding organisation's follower of the
//! public log, its workers on a NATS JetStream queue, and where the work stands
//! (docs/rebuilders.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use glassbox::attest::DEFAULT_VERIFIER_ID;
use glassbox::custody::log_writer::LogWriter;
use glassbox::env::DEFAULT_BUILD_BASE;
use glassbox::keys::PublicKey;
use glassbox::policy::Policy;
use glassbox::rebuilder::follow::Follower;
use glassbox::rebuilder::queue::{Queue, QueueCounts};
use glassbox::rebuilder::status::{rebuilds, Rebuilds};
use glassbox::rebuilder::work::{Handled, Outcome, Sources, Worker, WorkerSetup};
use glassbox::remote::Location;
use glassbox::transparency::audit::WitnessPolicy;
use glassbox::transparency::follow::LogTrust;
use glassbox::transparency::LogDir;

use crate::build::SandboxArgs;
use crate::context::{host_env, now};
use crate::log::{open_log, vkey, witnesses, WitnessArgs};
use crate::render::{print_json, table};

#[derive(Subcommand)]
pub enum RebuilderCommand {
    /// Follow the log and publish one job per provenance to this organisation's stream.
    Follow(Box<FollowArgs>),
    /// Pull jobs, rebuild, log the signed verdict, then acknowledge.
    Work(Box<WorkArgs>),
    /// Jobs pending, in progress, done and dead-lettered; each rebuilder's verdict per release.
    Status(Box<StatusArgs>),
}

/// The queue: a NATS server and this organisation's stream.
#[derive(Args)]
pub struct QueueArgs {
    /// The NATS server (`nats://host:port`; a user and password may be in the URL).
    #[arg(long)]
    queue: String,
    /// The JetStream stream (one per organisation and log).
    #[arg(long)]
    stream: String,
    /// A NATS credentials file (`.creds`).
    #[arg(long)]
    creds: Option<PathBuf>,
}

impl QueueArgs {
    fn connect(&self) -> Result<Queue> {
        Ok(Queue::connect(&self.queue, &self.stream, self.creds.as_deref())?)
    }
}

/// The log and whose checkpoints to believe.
#[derive(Args)]
pub struct LogArgs {
    /// The log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    #[arg(long)]
    log: String,
    /// The log's verifier key (file or string).
    #[arg(long)]
    vkey: String,
    #[command(flatten)]
    witness: WitnessArgs,
}

impl LogArgs {
    fn open(&self) -> Result<(LogDir, LogTrust)> {
        let trust = LogTrust { vkey: vkey(&self.vkey, "--vkey")?, witnesses: witnesses(&self.witness)? };
        Ok((open_log(&self.log)?, trust))
    }
}

#[derive(Args)]
pub struct FollowArgs {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    queue: QueueArgs,
    /// Start at this entry instead of the stream's mark (jobs already published are dropped
    /// by the stream for an hour; after that, workers find their verdicts in the log).
    #[arg(long)]
    from_index: Option<u64>,
    /// Publish what is in the log now, then exit.
    #[arg(long)]
    once: bool,
    /// Servers that keep a copy of the stream, when the follower creates it (a clustered NATS).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=5))]
    replicas: u64,
    /// Seconds between looks at the log.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct WorkArgs {
    #[command(flatten)]
    queue: QueueArgs,
    /// The durable consumer this organisation's workers share.
    #[arg(long)]
    consumer: String,
    /// The rebuilder's private key: signs the verdicts.
    #[arg(long)]
    key: PathBuf,
    /// A builder public key whose provenance is rebuilt (repeatable; at least one).
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Where the vendor's bundles are: a directory or a base URL (`https://…`).
    #[arg(long)]
    sources: String,
    #[command(flatten)]
    log: LogArgs,
    /// The log service verdicts are submitted to (default: --log when it is a URL).
    #[arg(long)]
    submit: Option<String>,
    /// The log's private key, to append verdicts to a log directory directly.
    #[arg(long, conflicts_with = "submit")]
    log_key: Option<PathBuf>,
    /// Seconds before an unacknowledged job is redelivered (progress is reported three times
    /// as often while a build runs).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    ack_wait: u64,
    /// Deliveries after which a job that cannot be answered goes to the dead-letter subject.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_deliver: u64,
    /// Keep each verdict's build log (`<sha256>.log`) and a FAILED verdict's mismatch reports
    /// (`<sha256>.diff.json`) here, named by the digest the verdict gives them.
    #[arg(long)]
    reports: Option<PathBuf>,
    /// Where job directories are made (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The verdicts' `verifier.id`: who rebuilt (a URI).
    #[arg(long, default_value = DEFAULT_VERIFIER_ID)]
    verifier_id: String,
    /// Parent directory of the canonical build roots.
    #[arg(long, default_value = DEFAULT_BUILD_BASE)]
    build_base: PathBuf,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Work until the queue has had no job for 5 seconds, then exit.
    #[arg(long)]
    once: bool,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    queue: QueueArgs,
    /// The log: a directory, a bucket or a base URL.
    #[arg(long)]
    log: String,
    /// The trust policy: its rebuilder keys are the columns, its `[log]` authenticates the log.
    #[arg(long)]
    policy: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: RebuilderCommand) -> Result<ExitCode> {
    match cmd {
        RebuilderCommand::Follow(args) => follow(*args),
        RebuilderCommand::Work(args) => work(*args),
        RebuilderCommand::Status(args) => status(*args),
    }
}

fn follow(args: FollowArgs) -> Result<ExitCode> {
    let (log, trust) = args.log.open()?;
    let queue = args.queue.connect()?;
    let mut follower = Follower::new(&log, &trust, &queue, args.from_index, args.replicas as usize)?;
    loop {
        let round = follower.round()?;
        if args.json {
            println!("{}", serde_json::to_string(&round)?);
        } else if round.size != round.from {
            println!(
                "entries {}..{}: {} provenance(s), {} new job(s) on {}",
                round.from, round.size, round.provenances, round.published, queue.stream
            );
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

fn work(args: WorkArgs) -> Result<ExitCode> {
    let key = crate::context::private_key(&args.key).context("reading the rebuilder key (--key)")?;
    let trusted =
        args.trust.iter().map(|p| PublicKey::read(p).context("reading a --trust key")).collect::<Result<Vec<_>>>()?;
    let sources = match Location::parse(&args.sources)? {
        Location::Url(url) => Sources::Url(url),
        Location::Dir(dir) => Sources::Dir(dir),
        other => anyhow::bail!(glassbox::Error::invalid(other, "--sources takes a directory or an https:// URL")),
    };
    let (log, trust) = args.log.open()?;
    let log_key = args.log_key.as_deref().map(crate::context::private_key).transpose().context("reading --log-key")?;
    let submit = match (&args.submit, Location::parse(&args.log.log)?) {
        (Some(url), _) => Some(url.clone()),
        (None, Location::Url(url)) => Some(url),
        _ => None,
    };
    let writer = match (&submit, &log_key) {
        (Some(url), _) => LogWriter::Service { url },
        (None, Some(key)) => LogWriter::Dir { log: &log, key },
        (None, None) => anyhow::bail!(glassbox::Error::invalid(
            "--log",
            "a worker needs somewhere to log its verdicts: a log service (--submit, or a URL --log) or --log-key"
        )),
    };
    let queue = args.queue.connect()?;
    let ack_wait = Duration::from_secs(args.ack_wait);
    let consumer = queue.consumer(&args.consumer, ack_wait)?;
    let mut worker = Worker::new(WorkerSetup {
        queue: &queue,
        consumer,
        key: &key,
        trusted,
        sources,
        log: &log,
        trust: &trust,
        writer,
        verifier_id: args.verifier_id,
        build_base: args.build_base,
        sandbox: args.sandbox.sandbox()?,
        host_env: host_env(),
        clock: now,
        ack_wait,
        max_deliver: args.max_deliver,
        work_dir: args.work_dir.unwrap_or_else(std::env::temp_dir),
        reports: args.reports,
    });
    loop {
        match worker.next(Duration::from_secs(5))? {
            Some(handled) if args.json => println!("{}", serde_json::to_string(&handled)?),
            Some(handled) => println!("{}", render_handled(&handled)),
            None if args.once => return Ok(ExitCode::SUCCESS),
            None => {}
        }
    }
}

fn render_handled(h: &Handled) -> String {
    let job =
        h.job.as_ref().map_or("an unreadable job".to_string(), |j| format!("entry {} ({})", j.index, j.provenance));
    match &h.outcome {
        Outcome::Logged { verdict_index, result } => {
            format!("{job}: {result}, verdict logged as entry {verdict_index}")
        }
        Outcome::AlreadyJudged { verdict_index } => {
            format!("{job}: already judged by this key in entry {verdict_index}")
        }
        Outcome::DeadLettered { reason } => format!("{job}: given up after {} deliveries: {reason}", h.delivered),
        Outcome::Retried { reason, delay_seconds } => {
            format!("{job}: delivery {} failed, retrying in {delay_seconds} s: {reason}", h.delivered)
        }
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusReport {
    queue: QueueCounts,
    dead_letters: Vec<glassbox::rebuilder::DeadLetter>,
    #[serde(flatten)]
    rebuilds: Rebuilds,
}

fn status(args: StatusArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let lp =
        policy.log.as_ref().ok_or_else(|| glassbox::Error::invalid(args.policy.display(), "has no [log] section"))?;
    let trust = LogTrust {
        vkey: lp.vkey.clone(),
        witnesses: WitnessPolicy { witnesses: lp.witnesses.clone(), threshold: lp.witness_threshold },
    };
    let log = open_log(&args.log)?;
    let rebuilds = rebuilds(&log, &trust, &policy.rebuilds.keys)?;
    let queue = args.queue.connect()?;
    let report = StatusReport { queue: queue.counts()?, dead_letters: queue.dead_letters()?, rebuilds };
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let q = &report.queue;
    println!("stream {} on {}: {} job(s), {} dead-lettered", queue.stream, queue.server, q.jobs, q.dead);
    if let Some(size) = q.followed {
        println!("the follower has published every provenance of the first {size} entries");
    }
    for c in &q.consumers {
        println!(
            "consumer {}: {} pending, {} in progress, {} acknowledged, {} redelivered",
            c.name, c.pending, c.in_progress, c.acknowledged, c.redelivered
        );
    }
    for d in &report.dead_letters {
        println!("dead letter after {} deliveries (worker {}): {} — {}", d.deliveries, d.worker, d.job, d.reason);
    }
    let r = &report.rebuilds;
    println!("\n{} at size {}: {} release(s)\n", r.log, r.size, r.releases.len());
    let mut header = vec!["entry".to_string(), "release".to_string()];
    header.extend(policy.rebuilds.keys.iter().map(|k| k.id.short().to_string()));
    let rows: Vec<Vec<String>> = r
        .releases
        .iter()
        .map(|rel| {
            let mut row = vec![rel.index.to_string(), rel.name.clone()];
            row.extend(rel.verdicts.iter().map(|v| match v.index {
                Some(i) => format!("{} (entry {i})", v.result),
                None => v.result.clone(),
            }));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}
