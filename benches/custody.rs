//! Sample custody at scale, run by `cargo xtask bench custody` (or `cargo bench --bench
//! custody -- [ENTRIES]`): builds a log of 1,000,000 custody entries with the library (mostly
//! intake batches, then requests, approvals by both groups and releases, every one really
//! signed), then times `sample audit`'s library replay of it against the 200,000 entries/s
//! target, and `glassbox log audit`'s library check of the same log (every leaf, every stored
//! envelope, every signature one by one) as the baseline. Prints rates and ratios; asserts only
//! that the audit finds the log clean.
//!
//! Then the gateway on that same log: a few real sample files were taken in through the library
//! before the synthetic entries (so the store holds them and their intake entry is in the log);
//! each of 21 rounds signs and appends (untimed) a fresh request for one of them and approvals
//! by both groups, and times one `gateway::release`. The first release includes the ledger's
//! first sync of the whole log and is reported apart; the median and max of the other 20 are
//! held against the 20 ms target, beside the median of one bare log append (its durability).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use glassbox::attest::custody::{
    CheckpointRef, Decision, DecisionKind, Intake, IntakeRef, Period, Release, Request, Requester, BATCH_TREE,
};
use glassbox::custody::audit::{self, Options};
use glassbox::custody::commitment::{commit, commit_detail, BatchTree};
use glassbox::custody::gateway::{self, GatewayRequest, Outcome};
use glassbox::custody::intake::{self, IntakeOptions};
use glassbox::custody::log_writer::LogWriter;
use glassbox::custody::request::{self, RequestSpec};
use glassbox::custody::statements;
use glassbox::custody::store::SampleStore;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::policy::Policy;
use glassbox::time::Timestamp;
use glassbox::transparency::audit::WitnessPolicy;
use glassbox::transparency::{store, LogDir, Loggable};
use rayon::prelude::*;

/// Custody entries replayed per second the audit should reach.
const TARGET: f64 = 200_000.0;
/// Milliseconds one release may take on the big log.
const RELEASE_TARGET_MS: f64 = 20.0;
/// Timed releases: the first (which includes the ledger's first sync) and 20 more.
const ROUNDS: usize = 21;
/// Real sample files taken in through the library, and their size.
const REAL_SAMPLES: usize = 4;
const REAL_SAMPLE_BYTES: usize = 512 << 10;
/// Entries per cycle of the generated log: 40 intake batches of 25 samples, 3 requests, 6
/// approvals and 1 release (one release per 1,000 samples taken in, a tenth of a percent).
const CYCLE: usize = 50;
const BATCHES: usize = 40;
const SAMPLES: usize = 25;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;

const ROLES: [&str; 7] = ["center", "gateway", "analyst", "sec1", "auditor1", "log", "witness"];
/// The witness the policy requires (the gateway judges only under a witnessed checkpoint).
const WITNESS: &str = "witness.bench.glassbox.dev";

fn main() {
    let total: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let total = total.div_ceil(CYCLE) * CYCLE;
    let dir =
        tempfile::Builder::new().prefix("glassbox-bench-custody-").tempdir_in(bench_dir()).expect("bench directory");
    let keys: Vec<PrivateKey> = (0..ROLES.len()).map(|i| PrivateKey::from_seed(&[i as u8 + 1; 32])).collect();
    let key = |name: &str| &keys[ROLES.iter().position(|r| *r == name).expect("role")];
    let log = LogDir::new(dir.path().join("log"));
    let vkey = store::init(&log, "bench.glassbox.dev/custody", key("log")).expect("init");
    let policy_path = write_policy(dir.path(), &keys, &vkey.to_string());
    let cosign = || {
        glassbox::transparency::witness::cosign(&glassbox::transparency::witness::Cosign {
            checkpoint: log.checkpoint_path(),
            key: key("witness"),
            name: WITNESS.to_string(),
            state: dir.path().join("witness.state"),
            log_key: vkey.clone(),
            log_dir: Some(log.root.clone()),
            now: Timestamp(T0),
        })
        .expect("cosign");
    };
    let policy = Policy::load(&policy_path).expect("policy");
    // The center publishes the policy before anything is requested under it.
    let statement =
        glassbox::custody::policies::sign_policy(&policy, None, Timestamp(T0), key("center")).expect("policy");
    store::append(&log, key("log"), &[Loggable::from_envelope(&statement, "policy").expect("loggable")])
        .expect("append");
    let policy_digest = policy.digest.prefixed();

    // Real samples, taken in through the library before the synthetic entries.
    let store_dir = dir.path().join("store");
    let real = take_in_real_samples(dir.path(), &store_dir, &log, key("center"), key("log"));
    let first_synthetic = log.read_checkpoint().expect("checkpoint").1.size;

    println!("custody: building a log of {total} custody entries ({CYCLE} per cycle: {BATCHES} intake batches of {SAMPLES} samples, 3 requests, 6 approvals, 1 release)");
    let started = Instant::now();
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let mut index = first_synthetic;
    for chunk in (0..total / CYCLE).collect::<Vec<_>>().chunks(200) {
        // Each cycle's entries depend on the index of its own batches, known in advance.
        let (_, checkpoint) = log.read_checkpoint().expect("checkpoint");
        let judged = CheckpointRef { size: checkpoint.size, root: Sha256Digest(checkpoint.root).hex() };
        let lines: Vec<Vec<Loggable>> = chunk
            .par_iter()
            .map(|&cycle| {
                cycle_entries(
                    cycle,
                    index + ((cycle - chunk[0]) * CYCLE) as u64,
                    &judged,
                    &key,
                    &recipient,
                    &policy_digest,
                )
            })
            .collect();
        let batch: Vec<Loggable> = lines.into_iter().flatten().collect();
        index += batch.len() as u64;
        store::append(&log, key("log"), &batch).expect("append");
    }
    println!("  built in {:.1} s (signing and appending, not timed below)", started.elapsed().as_secs_f64());

    {
        let k = key("center");
        let public = k.public();
        let messages: Vec<Vec<u8>> = (0..256u32).map(|i| format!("message {i}").into_bytes()).collect();
        let sigs: Vec<[u8; 64]> = messages.iter().map(|m| k.sign(m)).collect();
        let started = Instant::now();
        for _ in 0..4 {
            for (m, s) in messages.iter().zip(&sigs) {
                assert!(public.verify(m, s));
            }
        }
        let single = started.elapsed().as_secs_f64() / 1024.0;
        let items: Vec<glassbox::keys::BatchItem<'_>> = messages
            .iter()
            .zip(&sigs)
            .map(|(m, s)| glassbox::keys::BatchItem { message: m, signature: *s, key: &public })
            .collect();
        let started = Instant::now();
        for _ in 0..4 {
            assert!(glassbox::keys::verify_batch(&items));
        }
        let batch = started.elapsed().as_secs_f64() / 1024.0;
        println!(
            "  Ed25519 on one core: {:.1} us per signature one by one, {:.1} us in batches of 256",
            single * 1e6,
            batch * 1e6
        );
    }
    let options = Options {
        from: None,
        to: None,
        period: glassbox::time::Period::Month,
        now: Some((Timestamp(T0 + 400 * 86_400), audit::ClockSource::AsOf)),
    };
    cosign();
    let started = Instant::now();
    let report = audit::audit(&log, &policy, &options).expect("audit");
    let took = started.elapsed().as_secs_f64();
    assert!(report.violations.is_empty(), "the generated log has violations: {:?}", &report.violations[..1]);
    assert_eq!(report.custody_entries, total as u64 + first_synthetic);
    let rate = total as f64 / took;
    let releases: u64 = report.periods.iter().map(|p| p.releases).sum();
    println!(
        "  sample audit           {rate:>10.0} entries/s  ({took:.2} s, {releases} releases judged, 0 violations)"
    );
    println!(
        "  sample audit / target {TARGET:.0}/s = {:.2} (target >= 1.00) {}",
        rate / TARGET,
        verdict(rate >= TARGET)
    );

    let lp = policy.log.as_ref().expect("[log]");
    let witnesses = WitnessPolicy::default();
    let started = Instant::now();
    glassbox::transparency::audit::verify(&log, &lp.vkey, &witnesses, None).expect("verify");
    let verify = started.elapsed().as_secs_f64();
    let started = Instant::now();
    glassbox::transparency::audit::authenticated_entries(&log, &lp.vkey, &witnesses).expect("entries");
    let entries = started.elapsed().as_secs_f64();
    println!("  of which: checkpoint and tiles {verify:.2} s, reading and authenticating every entry {entries:.2} s");
    let started = Instant::now();
    glassbox::transparency::audit::audit(&log, &lp.vkey, &witnesses, &[]).expect("log audit");
    let plain = started.elapsed().as_secs_f64();
    let trusted: Vec<_> = keys.iter().map(PrivateKey::public).collect();
    let started = Instant::now();
    glassbox::transparency::audit::audit(&log, &lp.vkey, &witnesses, &trusted).expect("log audit --trust");
    let signed = started.elapsed().as_secs_f64();
    println!(
        "  log audit (no --trust)  {:>10.0} entries/s  ({plain:.2} s): leaves and stored envelopes, no signature",
        total as f64 / plain
    );
    println!(
        "  log audit --trust       {:>10.0} entries/s  ({signed:.2} s): every signature one by one",
        total as f64 / signed
    );
    println!("  sample audit / log audit --trust = {:.2} (both check every signature)", signed / took);
    println!("  sample audit / log audit (no --trust) = {:.2}", plain / took);

    let bench = ReleaseBench {
        dir: dir.path(),
        store: &store_dir,
        policy: &policy,
        log: &log,
        analyst: key("analyst"),
        approvers: [key("sec1"), key("auditor1")],
        gateway: key("gateway"),
        log_key: key("log"),
        recipient: &recipient,
        cosign: &cosign,
    };
    bench.run(&real, total);
}

/// Writes `REAL_SAMPLES` sample files (pseudo-random bytes, distinct) and takes them in as one
/// batch with the library's intake, appended to `log`. Returns their commitments.
fn take_in_real_samples(
    dir: &Path,
    store: &Path,
    log: &LogDir,
    center: &PrivateKey,
    log_key: &PrivateKey,
) -> Vec<Sha256Digest> {
    let inputs_dir = dir.join("inputs");
    std::fs::create_dir_all(&inputs_dir).expect("inputs");
    let inputs: Vec<PathBuf> = (0..REAL_SAMPLES)
        .map(|i| {
            let mut bytes = Vec::with_capacity(REAL_SAMPLE_BYTES);
            let mut block = Sha256Digest::of(format!("real sample {i}").as_bytes());
            while bytes.len() < REAL_SAMPLE_BYTES {
                bytes.extend_from_slice(&block.0);
                block = Sha256Digest::of(&block.0);
            }
            let path = inputs_dir.join(format!("sample-{i}.bin"));
            std::fs::write(&path, &bytes).expect("sample file");
            path
        })
        .collect();
    let opts = IntakeOptions {
        key: center,
        log,
        writer: Some(LogWriter::Dir { log, key: log_key }),
        vkey: None,
        out: None,
        receipts: None,
        now: Timestamp(T0),
    };
    let outcome = intake::intake(store, &inputs, &opts).expect("intake of the real samples");
    assert!(outcome.log_index.is_some(), "the real samples' intake is not in the log");
    outcome.samples.iter().map(|t| t.commitment).collect()
}

/// What the release rounds need.
struct ReleaseBench<'a> {
    dir: &'a Path,
    store: &'a Path,
    policy: &'a Policy,
    log: &'a LogDir,
    analyst: &'a PrivateKey,
    approvers: [&'a PrivateKey; 2],
    gateway: &'a PrivateKey,
    log_key: &'a PrivateKey,
    recipient: &'a str,
    /// The witness cosigns the checkpoint (not timed: it is the witness's work, not the gateway's).
    cosign: &'a dyn Fn(),
}

impl ReleaseBench<'_> {
    /// The release rounds and the bare append, printed.
    fn run(&self, real: &[Sha256Digest], total: usize) {
        let samples = self.policy.samples.as_ref().expect("[samples]");
        // Long after every synthetic entry (they span T0 .. T0 + 360 days), in a month of its own.
        let start = T0 + 400 * 86_400;
        if let Some(q) = samples.quota {
            // The rounds' month holds no synthetic release: only the rounds count against the quota.
            assert!(q.releases > ROUNDS as u64, "the policy's quota would stop the release rounds");
        }
        let out = self.dir.join("out");
        std::fs::create_dir_all(&out).expect("out");
        let requests = self.dir.join("requests");
        std::fs::create_dir_all(&requests).expect("requests");
        let mut times = Vec::with_capacity(ROUNDS);
        let mut read = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            let now = start + round as i64 * 60;
            let file = self.request(real[round % real.len()], &requests, round, now);
            let request = GatewayRequest {
                request_file: &file,
                store: self.store,
                policy: self.policy,
                log: self.log,
                writer: LogWriter::Dir { log: self.log, key: self.log_key },
                gateway_key: self.gateway,
                out: &out,
                now: Timestamp(now + 30),
            };
            (self.cosign)();
            let started = Instant::now();
            let released = gateway::release(&request).expect("release");
            times.push(started.elapsed());
            assert_eq!(released.outcome, Outcome::Released);
            read.push(released.entries_read);
        }
        println!("  first release, ledger catches up with {} entries: {:.2} s", read[0], times[0].as_secs_f64());
        let mut rest: Vec<Duration> = times[1..].to_vec();
        rest.sort();
        let median = ms(rest[rest.len() / 2]);
        let max = ms(rest[rest.len() - 1]);
        let most_read = read[1..].iter().max().copied().unwrap_or(0);
        println!(
            "  release on a log of {total} entries: median {median:.1} ms, max {max:.1} ms; target < {RELEASE_TARGET_MS:.0} ms: {}",
            if max < RELEASE_TARGET_MS { "met" } else { "MISSED" }
        );
        println!("    (each of the {} read at most {most_read} new log entries: no scan of the log)", rest.len());
        let append = self.bare_appends(start + ROUNDS as i64 * 60);
        println!(
            "  log append of one envelope alone: median {append:.1} ms = {:.0}% of the release median (its durability: syncfs, checkpoint rename)",
            100.0 * append / median
        );
    }

    /// Signs a fresh request for `commitment` at `now` with approvals by both groups, appends
    /// the three (not timed), and returns the request file.
    fn request(&self, commitment: Sha256Digest, dir: &Path, round: usize, now: i64) -> PathBuf {
        let store = SampleStore::open(self.store, false).expect("store");
        let spec = RequestSpec {
            commitment,
            reason: "anomaly-manual-review",
            detail: "release benchmark",
            destination: "hq-lab",
            recipient: self.recipient,
            lifetime: None,
            break_glass: false,
            now: Timestamp(now),
        };
        let signed = request::sign_request(&store, self.log, self.policy, self.analyst, &spec).expect("request");
        drop(store);
        let file = dir.join(format!("round-{round}.intoto.jsonl"));
        std::fs::write(&file, format!("{}\n", signed.envelope.to_line())).expect("request file");
        let samples = self.policy.samples.as_ref().expect("[samples]");
        let (_, logged) = request::read_request_file(&file, samples).expect("request file");
        let mut entries = vec![Loggable::from_envelope(&signed.envelope, "request").expect("loggable")];
        for (i, key) in self.approvers.iter().enumerate() {
            let decision =
                request::sign_decision(&logged, DecisionKind::Approve, "", key, Timestamp(now + 1 + i as i64))
                    .expect("decision");
            entries.push(Loggable::from_envelope(&decision, "decision").expect("loggable"));
        }
        store::append(self.log, self.log_key, &entries).expect("append request and approvals");
        file
    }

    /// The median of a few appends of one fresh envelope each, in ms.
    fn bare_appends(&self, at: i64) -> f64 {
        let mut times: Vec<Duration> = (0..7)
            .map(|i| {
                let d = Decision {
                    request: Sha256Digest::of(format!("bare append {i}").as_bytes()).prefixed(),
                    decision: DecisionKind::Approve,
                    why: String::new(),
                    decided_at: Timestamp(at + i).rfc3339(),
                };
                let digest = Sha256Digest::of(b"no such request");
                let envelope = statements::sign_decision(&d, &digest, &digest, self.approvers[0]);
                let loggable = Loggable::from_envelope(&envelope, "bare append").expect("loggable");
                let started = Instant::now();
                store::append(self.log, self.log_key, std::slice::from_ref(&loggable)).expect("append");
                started.elapsed()
            })
            .collect();
        times.sort();
        ms(times[times.len() / 2])
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The entries of one cycle, whose first entry is log index `first`.
fn cycle_entries<'k>(
    cycle: usize,
    first: u64,
    judged: &CheckpointRef,
    key: &(impl Fn(&str) -> &'k PrivateKey + Sync),
    recipient: &str,
    policy: &str,
) -> Vec<Loggable> {
    let day = T0 + (cycle as i64 % 360) * 86_400;
    let time = |offset: i64| Timestamp(day + offset).rfc3339();
    let mut out = Vec::with_capacity(CYCLE);
    let mut batches = Vec::new();
    for b in 0..BATCHES {
        let commitments: Vec<Sha256Digest> = (0..SAMPLES)
            .map(|s| {
                let seed = Sha256Digest::of(format!("{cycle}/{b}/{s}").as_bytes());
                commit(&seed.0, &seed)
            })
            .collect();
        let tree = BatchTree::new(commitments).expect("batch");
        let intake = Intake {
            batch_id: Sha256Digest::of(format!("{cycle}/{b}").as_bytes()).hex()[..32].to_string(),
            count: SAMPLES as u64,
            period: Period { start: time(0), end: time(60) },
            merkle_root: tree.root().hex(),
            tree: BATCH_TREE.into(),
        };
        let envelope = statements::sign_intake(&intake, &tree.root(), key("center"));
        let loggable = Loggable::from_envelope(&envelope, "bench").expect("loggable");
        batches.push((first + b as u64, loggable.digest, tree));
        out.push(loggable);
    }
    let mut requests = Vec::new();
    for r in 0..3 {
        let (log_index, envelope, tree) = &batches[r * 7];
        let commitment = tree.commitments()[r];
        let intake = IntakeRef {
            log_index: *log_index,
            envelope: envelope.prefixed(),
            batch_root: tree.root().hex(),
            batch_size: tree.len(),
            leaf_index: r as u64,
            proof: tree.proof(r as u64).expect("proof").iter().map(Sha256Digest::hex).collect(),
        };
        let request = Request {
            request_id: Sha256Digest::of(format!("request {cycle}/{r}").as_bytes()).hex()[..32].to_string(),
            intake,
            reason: ["anomaly-manual-review", "detection-quality", "customer-support"][r].into(),
            detail: commit_detail(&[r as u8; 32], "an anomaly").hex(),
            requester: Requester { role: "malware-analyst".into(), country: "CH".into() },
            destination: "hq-lab".into(),
            recipient: recipient.into(),
            requested_at: time(3600),
            expires_at: time(3600 + 72 * 3600),
            break_glass: false,
            policy: policy.into(),
        };
        let envelope = statements::sign_request(&request, &commitment, key("analyst"));
        let loggable = Loggable::from_envelope(&envelope, "bench").expect("loggable");
        requests.push((loggable.digest, commitment, request));
        out.push(loggable);
    }
    for (digest, commitment, _) in &requests {
        for (who, at) in [("sec1", 7200), ("auditor1", 10_800)] {
            let d = Decision {
                request: digest.prefixed(),
                decision: DecisionKind::Approve,
                why: String::new(),
                decided_at: time(at),
            };
            let envelope = statements::sign_decision(&d, digest, commitment, key(who));
            out.push(Loggable::from_envelope(&envelope, "bench").expect("loggable"));
        }
    }
    let (digest, commitment, request) = &requests[0];
    let release = Release {
        request: digest.prefixed(),
        // Judged under the checkpoint before this cycle's chunk was appended, where none of its
        // approvals counted yet: the claims the audit checks are then true.
        approvals: Vec::new(),
        break_glass: false,
        destination: request.destination.clone(),
        recipient: request.recipient.clone(),
        released_at: time(14_400),
        checkpoint: judged.clone(),
        ciphertext: Sha256Digest::of(b"ciphertext").prefixed(),
    };
    let envelope = statements::sign_release(&release, digest, commitment, key("gateway"));
    out.push(Loggable::from_envelope(&envelope, "bench").expect("loggable"));
    assert_eq!(out.len(), CYCLE);
    out
}

/// The keys' public halves and the custody policy, in `dir`.
fn write_policy(dir: &Path, keys: &[PrivateKey], vkey: &str) -> PathBuf {
    let key_dir = dir.join("keys");
    std::fs::create_dir_all(&key_dir).expect("keys");
    for (name, key) in ROLES.iter().zip(keys) {
        std::fs::write(key_dir.join(format!("{name}.pub")), key.public().to_pem()).expect("public key");
    }
    std::fs::write(key_dir.join("log.vkey"), format!("{vkey}\n")).expect("vkey");
    let witness = glassbox::tlog::note::NoteVerifier::cosignature_v1(WITNESS, &keys[6].public());
    std::fs::write(key_dir.join("witness.vkey"), format!("{witness}\n")).expect("witness vkey");
    let text = "[log]\nvkey = \"keys/log.vkey\"\nwitnesses = [\"keys/witness.vkey\"]\nwitness_threshold = 1\n\n[samples]\ncenters = [\"keys/center.pub\"]\n\
        gateways = [\"keys/gateway.pub\"]\nreasons = [\"anomaly-manual-review\", \"detection-quality\", \"customer-support\"]\n\
        destinations = [\"hq-lab\"]\nrequest_lifetime = \"7d\"\nquota = { period = \"month\", releases = 1000000 }\n\n\
        [[samples.requesters]]\nkey = \"keys/analyst.pub\"\nrole = \"malware-analyst\"\ncountry = \"CH\"\n\n\
        [[samples.approvers]]\ngroup = \"vendor-security\"\nkeys = [\"keys/sec1.pub\"]\nrequired = 1\n\n\
        [[samples.approvers]]\ngroup = \"outside-auditor\"\nkeys = [\"keys/auditor1.pub\"]\nrequired = 1\noutside = true\n";
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("policy");
    path
}

fn bench_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

fn verdict(met: bool) -> &'static str {
    if met {
        "ok"
    } else {
        "MISSED"
    }
}
