//! The transparency log at scale, run by `cargo xtask bench log` (or `cargo bench --bench
//! tlog -- [ENTRIES]`): appends 1,000,000 entries in durable batches through the library,
//! then times inclusion proofs at that size. Prints rates and ratios; asserts nothing.

use std::time::{Duration, Instant};

use glassbox::attest::{Envelope, ResourceDescriptor, Signature, Statement};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::tlog::{merkle, proof::TlogProof};
use glassbox::transparency::proofs::{self, Target};
use glassbox::transparency::{store, LogDir, Loggable};

const BATCH: usize = 10_000;
/// Appends per second the log should reach with every batch durable.
const APPEND_TARGET: f64 = 50_000.0;
/// Tessera's published figure on NVMe (not measured here).
const TESSERA_PUBLISHED: f64 = 10_000.0;

fn main() {
    let total: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::Builder::new().prefix("glassbox-bench-log-").tempdir_in(bench_dir()).expect("bench directory");
    let log = LogDir::new(dir.path().join("log"));
    let key = PrivateKey::from_seed(&[7; 32]);
    store::init(&log, "bench.glassbox.dev/log", &key).expect("init");

    // Envelopes are built outside the timed part. Their signatures are not checked by the log
    // (anyone may log), so a placeholder keeps setup fast.
    let mut appending = Duration::ZERO;
    let mut made = 0;
    while made < total {
        let batch: Vec<Loggable> = (made..(made + BATCH).min(total)).map(envelope).collect();
        let started = Instant::now();
        store::append(&log, &key, &batch).expect("append");
        appending += started.elapsed();
        made += batch.len();
    }
    let rate = total as f64 / appending.as_secs_f64();
    let stored = disk_bytes(dir.path());

    // Proofs at the final size, for indices spread over the log.
    let samples = 1000u64;
    let (mut proving, mut checking) = (Duration::ZERO, Duration::ZERO);
    let (_, checkpoint) = log.read_checkpoint().expect("checkpoint");
    for i in 0..samples {
        let index = (i * 7919 * 131) % total as u64;
        let started = Instant::now();
        let (proof, _) = proofs::prove(&log, Target::Index(index)).expect("prove");
        proving += started.elapsed();
        let entry = log.entries(index, index + 1, checkpoint.size).expect("entry").remove(0);
        let text = proof.to_text();
        let started = Instant::now();
        let parsed = TlogProof::parse(&text).expect("parse");
        let ok = merkle::verify_inclusion(
            &merkle::leaf_hash(&entry),
            parsed.index,
            checkpoint.size,
            &parsed.hashes,
            &checkpoint.root,
        );
        checking += started.elapsed();
        assert!(ok, "proof for {index} does not verify");
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / samples as f64;

    println!("log: {total} entries in batches of {BATCH}, each batch durable (syncfs) before its checkpoint");
    println!("  append                 {rate:>10.0} entries/s  ({:.1} s)", appending.as_secs_f64());
    println!(
        "  append / target {APPEND_TARGET:.0}/s = {:.2} (target >= 1.00) {}",
        rate / APPEND_TARGET,
        verdict(rate >= APPEND_TARGET)
    );
    println!("  append / Tessera's published ~{TESSERA_PUBLISHED:.0}/s on NVMe = {:.1} (a published figure, not measured here)", rate / TESSERA_PUBLISHED);
    println!(
        "  inclusion proof        {:.3} ms to generate (target < 1 ms) {}",
        per(proving),
        verdict(per(proving) < 1.0)
    );
    println!(
        "  inclusion proof        {:.3} ms to verify (target < 1 ms) {}",
        per(checking),
        verdict(per(checking) < 1.0)
    );
    println!(
        "  stored                 {:.0} bytes per entry on disk (envelopes, entries, tiles, index)",
        stored as f64 / total as f64
    );
}

fn envelope(i: usize) -> Loggable {
    let subject =
        ResourceDescriptor::named(format!("x86_64-unknown-linux-gnu/app-{i}"), Sha256Digest::of(&i.to_le_bytes()));
    let statement = Statement::new(vec![subject], "https://slsa.dev/provenance/v1", serde_json::json!({"n": i}));
    let payload = glassbox::json::to_compact(&statement);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let env = Envelope {
        payload: b64.encode(payload),
        payload_type: glassbox::attest::PAYLOAD_TYPE_INTOTO.into(),
        signatures: vec![Signature { keyid: "0".repeat(64), sig: b64.encode([0u8; 64]) }],
    };
    Loggable::from_envelope(&env, "bench").expect("loggable")
}

fn bench_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

/// Bytes of all files below `dir` as the file system allocates them.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir).into_iter().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.blocks() * 512).sum()
}

fn verdict(met: bool) -> &'static str {
    if met {
        "ok"
    } else {
        "MISSED"
    }
}
