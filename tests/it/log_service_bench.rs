//! The log service's performance (issue 20), run by `cargo xtask bench log-service`: an
//! `#[ignore]`d test, because the Ceph RGW harness lives in this crate. Client threads `submit`
//! one envelope per request through `glassbox log serve` into a bucket, with one real witness
//! (threshold 1): half the envelopes from 100 clients, half from 1,000 (each waits for its
//! receipt before its next submission); against `store::append` of the same envelopes into a
//! directory log in batches of the pool size. Then latency, the service's own CPU per entry,
//! object writes per batch, bytes per entry, and inclusion proofs from the bucket and the
//! directory with a warm tile cache. Prints a report; asserts only correctness (every
//! acknowledged entry durable, at its index, under a witnessed checkpoint), never a timing.
//!
//! Parameters (environment): `GLASSBOX_BENCH_ENTRIES` (20,000), `GLASSBOX_BENCH_CLIENTS` (100),
//! `GLASSBOX_BENCH_LOAD_CLIENTS` (1,000), `GLASSBOX_BENCH_POOL` (1,000),
//! `GLASSBOX_BENCH_PERIOD` (milliseconds, 20), `GLASSBOX_BENCH_PROOFS` (1,000).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::remote::objects::Objects;
use glassbox::remote::{Location, StoreSettings};
use glassbox::tlog::merkle;
use glassbox::tlog::note::NoteVerifier;
use glassbox::transparency::audit::{authenticate_checkpoint, committed_entries, WitnessPolicy};
use glassbox::transparency::submit::{submit, SubmitOptions};
use glassbox::transparency::{store, LogDir, LogEntry, Loggable};

use crate::log::{envelopes, ORIGIN};
use crate::log_service::{bucket_log, Service};
use crate::support::*;
use crate::witness_service::{serve as witness_serve, setup as witness_setup};

const BUCKET: &str = "glassbox-bench";
/// The issue's targets at 1,000,000 entries.
const TARGET_SUBMISSIONS: f64 = 10_000.0;
const TARGET_PROOF_MS: f64 = 5.0;

fn param(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Counts what is in the bucket after the run: the objects and bytes stored outside
/// `.glassbox/` (what a reader sees: every object a batch listed), and the sizes of the lock
/// and the checkpoint. Prints JSON.
const PY_COUNT: &str = r#"
bucket, prefix = sys.argv[1], sys.argv[2]
staged_prefix = prefix + "/.glassbox/staged/"
batches = listed = staged_bytes = listed_bytes = stored = stored_objects = lock = checkpoint = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for obj in page.get("Contents", []):
        key, size = obj["Key"], obj["Size"]
        if key.startswith(staged_prefix):
            batches += 1
            staged_bytes += size
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            while data:
                end = data.index(b"\n")
                n = int(data[:end].rsplit(b" ", 1)[1])
                listed += 1
                listed_bytes += n
                data = data[end + 1 + n:]
            continue
        stored += size
        stored_objects += 1
        if key == prefix + "/.glassbox/lock":
            lock = size
        if key == prefix + "/checkpoint":
            checkpoint = size
print(json.dumps({"batches": batches, "listed": listed, "staged_bytes": staged_bytes,
    "listed_bytes": listed_bytes, "stored": stored, "stored_objects": stored_objects,
    "lock": lock, "checkpoint": checkpoint}))
"#;

/// A deterministic index generator (an LCG), so runs can be repeated.
struct Indices(u64);

impl Indices {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) % below
    }
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median time of one inclusion proof with one kept `TileReader`: a first pass over `samples`
/// random indices fetches the tiles they need (cold: at a million entries most proofs fetch a
/// level-0 tile), a second pass over the same indices finds them in its tile cache (warm).
/// Returns (cold, warm).
fn proof_times(log: &LogDir, size: u64, samples: u64, seed: u64) -> (Duration, Duration) {
    let tree = log.tree(size);
    let pass = || {
        let mut indices = Indices(seed);
        let times: Vec<Duration> = (0..samples)
            .map(|_| {
                let index = indices.next(size);
                let started = Instant::now();
                let proof = merkle::inclusion_proof(&tree, index, size).expect("inclusion proof");
                let took = started.elapsed();
                assert!(!proof.is_empty() || size == 1);
                took
            })
            .collect();
        median(times)
    };
    let cold = pass();
    (cold, pass())
}

/// An acknowledged submission: its envelope, index, latency and the receipt's checkpoint.
type Acknowledged = (Sha256Digest, u64, Duration, Vec<u8>);

/// What one load phase measured.
struct Phase {
    clients: usize,
    entries: usize,
    took: Duration,
    /// Each submission's latency, sorted.
    latencies: Vec<Duration>,
    /// CPU seconds the `log serve` process used during the phase (from /proc).
    service_cpu: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.entries as f64 / self.took.as_secs_f64()
    }
}

/// CPU seconds (user and system) process `pid` has used, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// `clients` threads submit `items` (each the next one until none are left) and keep what
/// they were acknowledged: (envelope, index, latency, the receipt's checkpoint). Each receipt's
/// inclusion proof is checked as it comes; the checkpoints (one per published batch) are
/// authenticated by the caller after the clock stops, so that the clients' signature checks,
/// on the same two cores, are not counted against the service.
fn load(
    url: &str,
    pid: u32,
    items: &[Loggable],
    clients: usize,
    acknowledged: &Mutex<Vec<Acknowledged>>,
) -> Result<Phase, String> {
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(items.len()));
    let failures = Mutex::new(Vec::new());
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                let no_witnesses = WitnessPolicy::default();
                let options = SubmitOptions {
                    log_key: None,
                    witnesses: &no_witnesses,
                    retries: 100,
                    timeout: Duration::from_secs(120),
                };
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let sent = Instant::now();
                    match submit(url, item, &options) {
                        Ok(done) => mine.push((done.envelope, done.index, sent.elapsed(), done.receipt.checkpoint)),
                        Err(e) => {
                            failures.lock().unwrap().push(format!("submission {i}: {e}"));
                            break;
                        }
                    }
                }
                latencies.lock().unwrap().extend(mine.iter().map(|m| m.2));
                acknowledged.lock().unwrap().extend(mine);
            });
        }
    });
    let took = started.elapsed();
    let failures = failures.into_inner().unwrap();
    if let Some(first) = failures.first() {
        return Err(format!("{} submissions failed; the first: {first}", failures.len()));
    }
    let service_cpu = cpu_seconds(pid) - cpu_before;
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort();
    Ok(Phase { clients, entries: items.len(), took, latencies, service_cpu })
}

#[test]
#[ignore = "a benchmark: run by `cargo xtask bench log-service`"]
fn log_service_bench() {
    let entries = param("GLASSBOX_BENCH_ENTRIES", 20_000) as usize;
    let clients = param("GLASSBOX_BENCH_CLIENTS", 100) as usize;
    let load_clients = param("GLASSBOX_BENCH_LOAD_CLIENTS", 1000) as usize;
    let pool = param("GLASSBOX_BENCH_POOL", 1000);
    let period = param("GLASSBOX_BENCH_PERIOD", 20);
    let samples = param("GLASSBOX_BENCH_PROOFS", 1000);
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, vkey)) = bucket_log(dir.path(), BUCKET) else {
        println!("log-service bench skipped: Ceph RGW or boto3 missing (GLASSBOX_REQUIRE_TOOLS unset)");
        return;
    };
    let ws = witness_setup(dir.path());
    let witness = witness_serve(&ws, &[format!("{ORIGIN}={vkey}")]);
    let peer = format!("{}={}", witness.url, witness.vkey);
    let (pool_arg, period_arg) = (pool.to_string(), period.to_string());
    let flags = [
        "--witness",
        peer.as_str(),
        "--witness-threshold",
        "1",
        "--pool",
        pool_arg.as_str(),
        "--period",
        period_arg.as_str(),
        // Every client connects from 127.0.0.1, as behind a proxy.
        "--max-connections",
        "4096",
        "--max-per-client",
        "4096",
    ];
    let service = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &flags);

    let lines = envelopes(&dir.path().join("all.jsonl"), 0, entries);
    let items: Vec<Loggable> = lines.iter().map(|l| Loggable::from_line(l, "envelope").unwrap()).collect();
    let log_key = NoteVerifier::parse(&vkey).unwrap();
    let witnesses = WitnessPolicy { witnesses: vec![witness.vkey.clone()], threshold: 1 };

    // Two phases on one log: the issue's 100 clients (each waiting for its receipt before the
    // next submission, so the rate is clients / latency), then `GLASSBOX_BENCH_LOAD_CLIENTS`
    // to load the service (the rate is then bounded by what the machine's two cores give the
    // service beside the clients, RGW and the witness).
    let acknowledged = Mutex::new(Vec::with_capacity(entries));
    let pid = service.child.id();
    let (first, second) = items.split_at(entries / 2);
    let phases = match [(first, clients), (second, load_clients)]
        .into_iter()
        .map(|(items, clients)| load(&service.url, pid, items, clients, &acknowledged))
        .collect::<Result<Vec<Phase>, String>>()
    {
        Ok(phases) => phases,
        // What the service said is the first thing to read.
        Err(e) => panic!("{e}\nlog serve printed:\n{}", service.kill_and_read()),
    };
    let acknowledged = acknowledged.into_inner().unwrap();
    assert_eq!(acknowledged.len(), entries);
    let mut checkpoints: Vec<&Vec<u8>> = acknowledged.iter().map(|a| &a.3).collect();
    checkpoints.sort();
    checkpoints.dedup();
    for note in checkpoints {
        authenticate_checkpoint(note, "a receipt", &log_key, &witnesses).expect("every receipt is witnessed");
    }

    // Every acknowledged entry is in the committed log at its index, and the published
    // checkpoint verifies with the witness's cosignature.
    let settings = StoreSettings { vars: rgw.env() };
    let bucket = LogDir::open(&Location::parse(&storage).unwrap(), &settings).unwrap();
    let (checkpoint, committed) = committed_entries(&bucket).unwrap();
    assert_eq!(checkpoint.size, entries as u64);
    let logged: HashMap<Sha256Digest, u64> = committed
        .iter()
        .enumerate()
        .map(|(i, bytes)| (LogEntry::parse(bytes, "entry").unwrap().envelope_digest().unwrap(), i as u64))
        .collect();
    for (digest, index, _, _) in &acknowledged {
        assert_eq!(logged.get(digest), Some(index), "acknowledged {} at {index}", digest.prefixed());
    }
    let wvkey = witness.vkey.to_string();
    ok(glassbox().args([
        "log",
        "verify",
        &service.url,
        "--vkey",
        &vkey,
        "--witness",
        &wvkey,
        "--witness-threshold",
        "1",
    ]));
    drop(service);

    // The baseline: the same envelopes appended to a directory log in batches of the pool size.
    let dir_log = LogDir::new(dir.path().join("dir-log"));
    let dir_key = PrivateKey::from_seed(&[7; 32]);
    store::init(&dir_log, ORIGIN, &dir_key).unwrap();
    let started = Instant::now();
    for batch in items.chunks(pool as usize) {
        store::append(&dir_log, &dir_key, batch).unwrap();
    }
    let dir_time = started.elapsed();

    // One object-store round trip: the median of small create-only PUTs beside the log.
    let rtt_objects = Objects::open(&Location::parse(&format!("s3://{BUCKET}/rtt")).unwrap(), &settings).unwrap();
    let rtt = median(
        (0..21)
            .map(|i| {
                let started = Instant::now();
                rtt_objects.create_blocking(&format!("probe-{i}"), b"x").unwrap();
                started.elapsed()
            })
            .collect(),
    );

    let counts: serde_json::Value = serde_json::from_str(rgw.python(PY_COUNT, &[BUCKET, "log"]).trim()).unwrap();
    let count = |k: &str| counts[k].as_u64().unwrap();
    // Each batch's staged copy is removed once the next batch is written, so batches are
    // counted from what the receipts name: the published checkpoints (one per committed batch,
    // or one for several that waited together for the witness).
    let published = {
        let mut sizes: Vec<u64> = acknowledged
            .iter()
            .map(|a| {
                let note = glassbox::tlog::note::Note::parse(&a.3).unwrap();
                glassbox::tlog::checkpoint::Checkpoint::parse(&note.text).unwrap().size
            })
            .collect();
        sizes.sort();
        sizes.dedup();
        sizes.len() as u64
    };
    // Every object a batch lists is stored (create-only, never replaced); each batch also
    // PUTs its staged copy of them, swaps the lock and publishes the checkpoint.
    let listed = count("stored_objects") - 2;
    let listed_bytes = count("stored") - count("checkpoint") - count("lock");
    let puts = listed + 3 * published;
    let written = 2 * listed_bytes + published * (count("lock") + count("checkpoint"));
    let size = entries as u64;
    let (bucket_first, bucket_warm) = proof_times(&bucket, size, samples, 1);
    let (dir_first, dir_warm) = proof_times(&dir_log, size, samples, 1);

    let p99_target = Duration::from_millis(period) + 2 * rtt;
    let dir_rate = entries as f64 / dir_time.as_secs_f64();
    let verdict = |met: bool| if met { "ok" } else { "MISSED" };

    println!();
    println!("log service: {entries} entries, `log serve --pool {pool} --period {period}`, 1 witness (threshold 1), Ceph RGW on loopback; each client sends one envelope per request and waits for its receipt");
    println!(
        "  directory     {dir_rate:>9.0} entries/s      ({:.1} s, store::append in batches of {pool})",
        dir_time.as_secs_f64()
    );
    for phase in &phases {
        let rate = phase.rate();
        let (p50, p99) = (percentile(&phase.latencies, 50.0), percentile(&phase.latencies, 99.0));
        println!(
            "  {:>4} clients {rate:>9.0} submissions/s  ({} entries in {:.1} s); service / directory = {:.3}; service / target {TARGET_SUBMISSIONS:.0}/s = {:.3} {}",
            phase.clients,
            phase.entries,
            phase.took.as_secs_f64(),
            rate / dir_rate,
            rate / TARGET_SUBMISSIONS,
            verdict(rate >= TARGET_SUBMISSIONS)
        );
        println!(
            "               latency P50 {:.1} ms, P99 {:.1} ms; P99 / (period + 2 round trips = {:.1} ms) = {:.2} {}",
            ms(p50),
            ms(p99),
            ms(p99_target),
            p99.as_secs_f64() / p99_target.as_secs_f64(),
            verdict(p99 <= p99_target)
        );
        println!(
            "               log serve's own CPU: {:.0} µs per entry ({:.1} s), i.e. {:.0} entries/s per core",
            phase.service_cpu * 1e6 / phase.entries as f64,
            phase.service_cpu,
            phase.entries as f64 / phase.service_cpu.max(1e-9)
        );
    }
    println!(
        "  object-store PUT round trip {:.1} ms (median of 21 small create-only PUTs); {published} published checkpoints, {:.0} entries each",
        ms(rtt),
        size as f64 / published as f64
    );
    println!(
        "  object writes {:.1} PUTs per published checkpoint (staged + lock swap + {:.1} listed objects + checkpoint; and one DELETE of the previous staged copy)",
        puts as f64 / published as f64,
        listed as f64 / published as f64
    );
    println!(
        "  bytes written {:.0} per entry (staged copy, listed objects, lock and checkpoint); {:.0} per entry stored in {} objects",
        written as f64 / size as f64,
        count("stored") as f64 / size as f64,
        count("stored_objects")
    );
    println!(
        "  inclusion proof, bucket    {:.3} ms median warm ({:.3} ms cold, fetching tiles)  (target < {TARGET_PROOF_MS} ms warm) {}",
        ms(bucket_warm),
        ms(bucket_first),
        verdict(ms(bucket_warm) < TARGET_PROOF_MS)
    );
    println!(
        "  inclusion proof, directory {:.3} ms median warm ({:.3} ms cold, reading tiles)",
        ms(dir_warm),
        ms(dir_first)
    );
    println!("  bucket / directory (warm) = {:.2}", bucket_warm.as_secs_f64() / dir_warm.as_secs_f64().max(1e-9));
    drop(witness);
}
