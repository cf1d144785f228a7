//! `cargo xtask bench rebuilder`: what the rebuilder pool costs, on a real `nats-server`.
//!
//! - Queue overhead per job: a job published, fetched by a worker's consumer and acknowledged
//!   (with the server's confirmation), one after another, against the time `glassbox rebuild`
//!   takes for `examples/avscan` (target: under 1%).
//! - The follower: `glassbox rebuilder follow --once` over a log of 1,000,000 entries (100,000
//!   with `--quick`; `--entries N`), all of them releases (a provenance, two verdicts and a
//!   review each: a provenance every fourth entry), in jobs published per second (target: at
//!   least 10,000), against publishing the same number of jobs straight to JetStream.
//! - `glassbox verify` of one artifact whose verdicts are only in that log, with the subject
//!   index `glassbox log index` writes (target: under 1 s), against the same verify reading
//!   the whole log without the index.
//!
//! The log is the `site` benchmark's generator at another size, cached under `target/bench/`.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use glassbox::digest::Sha256Digest;
use glassbox::rebuilder::queue::Queue;
use glassbox::rebuilder::Job;

use super::site_log::{self, Fixture};
use super::{remove_dir, timed, Ratio, Target};
use crate::util::repo_root;

const OVERHEAD_JOBS: u64 = 500;
const OVERHEAD_TARGET_PERCENT: f64 = 1.0;
const FOLLOW_TARGET: f64 = 10_000.0;
const VERIFY_TARGET_SECONDS: f64 = 1.0;

/// A `nats-server -js` on a free loopback port, killed (by PID) when dropped.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    fn start(store: &Path) -> Result<Nats> {
        remove_dir(store)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nats-server (apt install nats-server)")?;
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("nats-server did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Nats { child, url: format!("nats://127.0.0.1:{port}") })
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn bench_rebuilder(
    glassbox: &Path,
    bench_dir: &Path,
    quick: bool,
    entries: Option<u64>,
) -> Result<Vec<Ratio>> {
    let entries = entries.map_or(if quick { 100_000 } else { 1_000_000 }, |n| n as usize);
    println!();
    println!("rebuilder: a log of {entries} entries, all releases");
    let fixture = site_log::ensure_sized(bench_dir, entries, entries / 4)?;
    let nats = Nats::start(&bench_dir.join("rebuilder-nats"))?;
    let mut ratios = Vec::new();

    // Queue overhead per job, against one rebuild of avscan.
    let rebuild = avscan_rebuild_time(glassbox, bench_dir)?;
    let overhead = queue_overhead(&nats.url)?;
    println!(
        "  queue: {:.3} ms per job (publish, fetch, ack) over {OVERHEAD_JOBS} jobs; glassbox rebuild of avscan {:.1} s",
        overhead.as_secs_f64() * 1e3,
        rebuild.as_secs_f64()
    );
    ratios.push(Ratio {
        label: "queue overhead per job / rebuild of avscan, in %",
        value: 100.0 * overhead.as_secs_f64() / rebuild.as_secs_f64(),
        target: Some(Target::AtMost(OVERHEAD_TARGET_PERCENT)),
    });

    // The follower over the whole log, against publishing as many jobs straight to the stream.
    let mut follow = Command::new(glassbox);
    follow.args(["rebuilder", "follow", "--log"]).arg(&fixture.log).arg("--vkey").arg(&fixture.vkey);
    follow.args(["--queue", &nats.url, "--stream", "follow", "--once", "--json"]);
    let (out, follow_time) = timed(&mut follow)?;
    let round: serde_json::Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
        .context("rebuilder follow --json")?;
    let published = round["published"].as_u64().unwrap_or(0);
    if published != fixture.releases as u64 {
        bail!("the follower published {published} jobs, not one per release ({})", fixture.releases);
    }
    let raw = raw_publish_time(&nats.url, published)?;
    let follow_rate = published as f64 / follow_time.as_secs_f64();
    println!(
        "  follower: {published} jobs from {entries} entries in {:.2} s ({follow_rate:.0} jobs/s, {:.0} entries/s); \
         the same jobs published straight to JetStream in {:.2} s",
        follow_time.as_secs_f64(),
        entries as f64 / follow_time.as_secs_f64(),
        raw.as_secs_f64()
    );
    ratios.push(Ratio { label: "follower jobs/s", value: follow_rate, target: Some(Target::AtLeast(FOLLOW_TARGET)) });
    ratios.push(Ratio {
        label: "follower time / raw JetStream publishing",
        value: follow_time.as_secs_f64() / raw.as_secs_f64(),
        target: None,
    });

    // verify of one release's binary, with the subject index and without it.
    let (indexed, full) = verify_times(glassbox, bench_dir, &fixture)?;
    println!(
        "  verify of one artifact, verdicts only in the log: {:.2} s with the subject index, {:.2} s reading all {entries} entries",
        indexed.as_secs_f64(),
        full.as_secs_f64()
    );
    ratios.push(Ratio {
        label: "verify with the index, seconds",
        value: indexed.as_secs_f64(),
        target: Some(Target::AtMost(VERIFY_TARGET_SECONDS)),
    });
    ratios.push(Ratio {
        label: "verify with the index / verify reading the whole log",
        value: indexed.as_secs_f64() / full.as_secs_f64(),
        target: None,
    });
    Ok(ratios)
}

/// The mean time of a job's round trip through JetStream: published (stored, acknowledged by
/// the server), fetched by a durable pull consumer, acknowledged with the server's confirmation.
fn queue_overhead(url: &str) -> Result<Duration> {
    let queue = Queue::connect(url, "overhead", None)?;
    queue.ensure_stream(1)?;
    let consumer = queue.consumer("pool", Duration::from_secs(30))?;
    let started = Instant::now();
    for i in 0..OVERHEAD_JOBS {
        queue.publish_jobs(&[job(i)])?;
        let delivery = consumer.next(Duration::from_secs(5))?.context("no job came back")?;
        delivery.ack()?;
    }
    Ok(started.elapsed() / OVERHEAD_JOBS as u32)
}

/// Publishing `count` jobs straight to a fresh stream: what the follower adds to is this.
fn raw_publish_time(url: &str, count: u64) -> Result<Duration> {
    let queue = Queue::connect(url, "raw", None)?;
    queue.ensure_stream(1)?;
    let jobs: Vec<Job> = (0..count).map(job).collect();
    let started = Instant::now();
    queue.publish_jobs(&jobs)?;
    Ok(started.elapsed())
}

fn job(i: u64) -> Job {
    Job { log: "bench".into(), index: i, provenance: Sha256Digest::of(&i.to_le_bytes()).prefixed() }
}

/// One `glassbox rebuild` of avscan, from a build made once and kept under `target/bench/`.
fn avscan_rebuild_time(glassbox: &Path, bench_dir: &Path) -> Result<Duration> {
    let work = bench_dir.join("rebuilder-avscan");
    let (out, att) = (work.join("out"), work.join("att"));
    let provenance = att.join("avscan/0.1.0/x86_64-unknown-linux-gnu.provenance.intoto.jsonl");
    let key = work.join("builder.key");
    if !provenance.is_file() {
        remove_dir(&work)?;
        fs::create_dir_all(&work)?;
        crate::util::run(Command::new(glassbox).args(["key", "generate", "--out"]).arg(work.join("builder")))?;
        let mut build = Command::new(glassbox);
        build.arg("build").arg("--manifest-path").arg(repo_root().join("examples/avscan/Cargo.toml"));
        build.arg("--key").arg(&key).arg("--out").arg(&out).arg("--attestations").arg(&att);
        let (_, took) = timed(&mut build)?;
        println!("  built avscan once for the rebuild ({:.1} s)", took.as_secs_f64());
    }
    let mut rebuild = Command::new(glassbox);
    rebuild.arg("rebuild").arg(&provenance).arg("--source").arg(out.join("avscan-0.1.0-src.tar.gz"));
    rebuild.arg("--trust").arg(key.with_extension("pub"));
    Ok(timed(&mut rebuild)?.1)
}

/// verify of the middle release's binary against the fixture's log: with a subject index
/// written by `glassbox log index`, and with the index moved aside. The attestations hold the
/// release's provenance and review as a vendor publishes them; its verdicts are only in the log.
fn verify_times(glassbox: &Path, bench_dir: &Path, fixture: &Fixture) -> Result<(Duration, Duration)> {
    let n = fixture.releases / 2;
    let artifact = bench_dir.join("rebuilder-artifact");
    fs::write(&artifact, site_log::binary_of(n))?;
    let attestations = bench_dir.join("rebuilder-attestations");
    remove_dir(&attestations)?;
    fs::create_dir_all(&attestations)?;
    let log = glassbox::transparency::LogDir::new(&fixture.log);
    let size = log.read_checkpoint()?.1.size;
    let first = 4 * n as u64;
    let lines = log.envelopes(first, first + 4, size)?;
    let (provenance, review) = (&lines[0], &lines[3]);
    let text = [provenance.as_slice(), b"\n", review.as_slice(), b"\n"].concat();
    fs::write(attestations.join("release.intoto.jsonl"), text)?;
    let key = bench_dir.join("rebuilder-log.key");
    if !key.exists() {
        site_log::role_key("log").write_pair(&bench_dir.join("rebuilder-log"))?;
    }
    let index = fixture.log.join("subjects");
    let aside = bench_dir.join("rebuilder-subjects-aside");
    if aside.exists() && !index.exists() {
        fs::rename(&aside, &index)?;
    }
    let mut write_index = Command::new(glassbox);
    write_index.args(["log", "index"]).arg(&fixture.log).arg("--key").arg(&key);
    timed(&mut write_index)?;
    let verify = || -> Result<Duration> {
        let mut cmd = Command::new(glassbox);
        cmd.arg("verify").arg(&artifact).arg("--policy").arg(&fixture.policy);
        cmd.arg("--attestations").arg(&attestations).arg("--log").arg(&fixture.log);
        let (out, took) = timed(&mut cmd)?;
        if !String::from_utf8_lossy(&out.stdout).contains("ACCEPTED") {
            bail!("verify did not accept release {n}:\n{}", String::from_utf8_lossy(&out.stdout));
        }
        Ok(took)
    };
    let indexed = verify()?;
    fs::rename(&index, &aside)?;
    let full = verify();
    fs::rename(&aside, &index)?;
    Ok((indexed, full?))
}
