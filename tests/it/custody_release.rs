//! The release gateway (`glassbox sample request`, `decide`, `release`): a happy path the
//! Debian `age` tool decrypts, each release rule refusing on its own (exit 1, nothing in
//! --out), exactly-once delivery under concurrent gateways and SIGKILL at random instants, and
//! bad request files (exit 2, named, nothing written).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use glassbox::attest::custody::{DecisionKind, Intake, Period, Request};
use glassbox::attest::{Envelope, SAMPLE_RELEASE_V1};
use glassbox::custody::commitment::{commit, fresh_salt, BatchTree};
use glassbox::custody::request::{self, RequestSpec};
use glassbox::custody::statements;
use glassbox::custody::store::{BatchRecord, SampleRecord, SampleStore};
use glassbox::digest::{hex_encode, Sha256Digest};
use glassbox::keys::PrivateKey;
use glassbox::policy::Policy;
use glassbox::time::Timestamp;
use glassbox::transparency::{store, LogDir, LogEntry, Loggable};

use crate::custody_support::{Center, DESTINATION};
use crate::support::*;

pub(crate) fn now() -> Timestamp {
    Timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
}

pub(crate) fn key(center: &Center, name: &str) -> PrivateKey {
    PrivateKey::read(&center.key(name)).unwrap()
}

pub(crate) fn append(center: &Center, envelopes: &[&Envelope]) {
    let items: Vec<Loggable> = envelopes.iter().map(|e| Loggable::from_envelope(e, "test").unwrap()).collect();
    store::append(&LogDir::new(&center.log), &PrivateKey::read(&center.log_key).unwrap(), &items).unwrap();
}

/// A test-local intake through the library: the files go into the store, one batch is signed
/// by the center key and logged. Returns (commitment, bytes) of each file.
pub(crate) fn intake(center: &Center, files: &[PathBuf]) -> Vec<(Sha256Digest, Vec<u8>)> {
    let mut sample_store = SampleStore::open(&center.store, true).unwrap();
    let mut samples = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let sha = Sha256Digest::of(&bytes);
        let salt = fresh_salt();
        sample_store.put_sample(&sha, &bytes).unwrap();
        samples.push((commit(&salt, &sha), sha, salt, bytes));
    }
    sample_store.sync().unwrap();
    let tree = BatchTree::new(samples.iter().map(|s| s.0).collect()).unwrap();
    let mut id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    let batch_id = hex_encode(&id);
    let t = now().rfc3339();
    let statement = Intake {
        batch_id: batch_id.clone(),
        count: tree.len(),
        period: Period { start: t.clone(), end: t },
        merkle_root: tree.root().hex(),
        tree: glassbox::attest::custody::BATCH_TREE.into(),
    };
    let envelope = statements::sign_intake(&statement, &tree.root(), &key(center, "center"));
    let log = LogDir::new(&center.log);
    let item = Loggable::from_envelope(&envelope, "intake").unwrap();
    let appended =
        store::append(&log, &PrivateKey::read(&center.log_key).unwrap(), std::slice::from_ref(&item)).unwrap();
    let batch = BatchRecord {
        batch_id: batch_id.clone(),
        root: tree.root(),
        size: tree.len(),
        envelope: item.digest,
        log_index: Some(appended.added[0].0),
    };
    let records: Vec<SampleRecord> = samples
        .iter()
        .map(|(c, sha, salt, _)| SampleRecord {
            commitment: *c,
            sha256: *sha,
            salt: *salt,
            batch_id: batch_id.clone(),
            leaf_index: tree.position(c).unwrap(),
        })
        .collect();
    sample_store.record_batch(&batch, &records).unwrap();
    samples.into_iter().map(|(c, _, _, bytes)| (c, bytes)).collect()
}

/// `sample request` through the CLI (then appended by the log's operator, unless `log` is false);
/// returns the request file.
pub(crate) fn request_cli(center: &Center, commitment: &Sha256Digest, extra: &[&str], log: bool) -> PathBuf {
    center.publish_policy();
    let file = center.path().join(format!("request-{}.intoto.jsonl", &commitment.hex()[..12]));
    let mut cmd = glassbox();
    cmd.args(["sample", "request", "--store"]).arg(&center.store).arg("--policy").arg(&center.policy);
    cmd.args(["--sample", &commitment.hex(), "--reason", "anomaly-manual-review", "--detail", "heuristic hit"]);
    cmd.args(["--destination", DESTINATION, "--recipient", &center.recipient, "--key"]).arg(center.key("analyst"));
    cmd.arg("--log").arg(&center.log).arg("--out").arg(&file).args(extra);
    ok(&mut cmd);
    if log {
        operator_appends(center, &file);
    }
    file
}

/// The log's operator appends an envelope file (requesters and approvers have no log key).
pub(crate) fn operator_appends(center: &Center, file: &Path) {
    ok(glassbox().args(["log", "append"]).arg(&center.log).arg("--key").arg(&center.log_key).arg(file));
}

/// `sample decide` through the CLI, then appended by the log's operator.
fn decide_cli(center: &Center, request: &Path, who: &str, decision: &[&str]) {
    let out = center.path().join(format!("decision-{who}-{}.intoto.jsonl", decision[0].trim_start_matches('-')));
    ok(glassbox()
        .args(["sample", "decide"])
        .arg(request)
        .args(decision)
        .arg("--key")
        .arg(center.key(who))
        .arg("--log")
        .arg(&center.log)
        .arg("--out")
        .arg(&out));
    operator_appends(center, &out);
}

/// A decision signed through the library (logged if `log`); returns its envelope.
fn decide_lib(center: &Center, request: &Path, who: &str, kind: DecisionKind, log: bool) -> Envelope {
    let logged = request::read_request_structure(request).unwrap();
    let envelope = request::sign_decision(&logged, kind, "not needed", &key(center, who), now()).unwrap();
    if log {
        append(center, &[&envelope]);
    }
    envelope
}

/// The usual approvals: one of each group.
pub(crate) fn approve_both(center: &Center, request: &Path) {
    decide_lib(center, request, "sec1", DecisionKind::Approve, true);
    decide_lib(center, request, "auditor1", DecisionKind::Approve, true);
}

/// A request signed through the library, changed by `edit` after the library built it (so a
/// value the CLI would refuse early reaches the gateway) and logged.
fn request_lib(center: &Center, commitment: &Sha256Digest, edit: impl FnOnce(&mut Request)) -> PathBuf {
    center.publish_policy();
    let policy = Policy::load(&center.policy).unwrap();
    let sample_store = SampleStore::open(&center.store, false).unwrap();
    let analyst = key(center, "analyst");
    let spec = RequestSpec {
        commitment: *commitment,
        reason: "detection-quality",
        detail: "edited",
        destination: DESTINATION,
        recipient: &center.recipient,
        lifetime: None,
        break_glass: false,
        now: now(),
    };
    let mut r =
        request::sign_request(&sample_store, &LogDir::new(&center.log), &policy, &analyst, &spec).unwrap().request;
    edit(&mut r);
    let envelope = statements::sign_request(&r, commitment, &analyst);
    let file = center.path().join(format!("lib-request-{}.intoto.jsonl", r.request_id));
    std::fs::write(&file, envelope.to_line() + "\n").unwrap();
    append(center, &[&envelope]);
    file
}

/// The gateway's command, after the witness has cosigned the log's checkpoint (the gateway
/// judges only under a witnessed one).
fn release_cmd(center: &Center, request: &Path, out: &Path) -> Command {
    center.cosign();
    release_cmd_on(center, &center.store, request, out)
}

/// The gateway's command on the store `store` (the center's, or a copy of it), without a
/// cosignature first.
pub(crate) fn release_cmd_on(center: &Center, store: &Path, request: &Path, out: &Path) -> Command {
    let mut cmd = glassbox();
    cmd.args(["sample", "release"]).arg(request).arg("--store").arg(store);
    cmd.arg("--policy").arg(&center.policy).arg("--log").arg(&center.log).arg("--log-key").arg(&center.log_key);
    cmd.arg("--key").arg(center.key("gateway")).arg("--out").arg(out);
    cmd
}

pub(crate) fn release(center: &Center, request: &Path, out: &Path) -> Output {
    output(&mut release_cmd(center, request, out))
}

/// The release entries of the log: (request digest, ciphertext digest) of each.
pub(crate) fn logged_releases(center: &Center) -> Vec<(String, String)> {
    let log = LogDir::new(&center.log);
    let (_, checkpoint) = log.read_checkpoint().unwrap();
    let entries = log.entries(0, checkpoint.size, checkpoint.size).unwrap();
    let lines = log.envelopes(0, checkpoint.size, checkpoint.size).unwrap();
    let mut out = Vec::new();
    for (entry, line) in entries.iter().zip(&lines) {
        if LogEntry::parse(entry, "entry").unwrap().predicate_type != SAMPLE_RELEASE_V1 {
            continue;
        }
        let envelope: Envelope = serde_json::from_slice(line).unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
        let p = &statement["predicate"];
        out.push((p["request"].as_str().unwrap().to_string(), p["ciphertext"].as_str().unwrap().to_string()));
    }
    out
}

fn request_digest(request: &Path) -> Sha256Digest {
    let text = std::fs::read_to_string(request).unwrap();
    Sha256Digest::of(text.trim_end_matches('\n').as_bytes())
}

fn empty(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Asserts a refusal: exit 1, the rule named on stderr, nothing in --out, no release logged.
fn assert_refused(center: &Center, request: &Path, rule: &str) {
    let out = center.path().join("out");
    let result = release(center, request, &out);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "expected a refusal ({rule}), got:\n{stderr}");
    assert!(stderr.contains(rule), "the refusal does not name {rule}:\n{stderr}");
    assert!(empty(&out), "a refused release wrote into --out");
    assert!(logged_releases(center).is_empty(), "a refused release was logged");
}

/// A center with three samples taken in; returns it and the samples.
fn center_with_samples() -> (Center, Vec<(Sha256Digest, Vec<u8>)>) {
    let center = Center::new();
    let files = center.sample_files(3, 4096);
    let samples = intake(&center, &files);
    (center, samples)
}

#[test]
fn a_released_sample_decrypts_with_the_age_tool_and_is_released_once() {
    let (center, samples) = center_with_samples();
    let (commitment, bytes) = &samples[1];
    let request = request_cli(&center, commitment, &["--expires", "72h"], true);
    decide_cli(&center, &request, "sec1", &["--approve"]);
    decide_cli(&center, &request, "auditor1", &["--approve"]);
    let out = center.path().join("out");
    let json = ok(release_cmd(&center, &request, &out).arg("--json"));
    let released: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(released["outcome"], "released", "{json}");
    assert_eq!(released["approvals"].as_array().unwrap().len(), 2, "{json}");
    let file = out.join(format!("{}.age", request_digest(&request).hex()));
    assert!(file.is_file(), "{json}");
    let ciphertext = std::fs::read(&file).unwrap();
    let logged = logged_releases(&center);
    assert_eq!(logged, [(request_digest(&request).prefixed(), Sha256Digest::of(&ciphertext).prefixed())]);
    // The report writes every digest `sha256:<hex>`, the checkpoint's root included (the
    // signed release keeps it bare).
    assert_eq!(released["request"], request_digest(&request).prefixed(), "{json}");
    assert_eq!(released["commitment"], commitment.prefixed(), "{json}");
    assert_eq!(released["ciphertext"], Sha256Digest::of(&ciphertext).prefixed(), "{json}");
    crate::cli_json::assert_prefixed_digests(&released, &["releaseEnvelope", "approvals", "root"]);
    assert!(std::fs::read_dir(center.store.join("pending")).unwrap().next().is_none(), "pending left behind");
    assert!(center.store.join("releases").join(format!("{}.intoto.jsonl", request_digest(&request).hex())).is_file());
    if have_tool("age", &["--version"]) {
        let decrypted = ok(Command::new("age").arg("-d").arg("-i").arg(&center.identity).arg(&file));
        assert_eq!(decrypted.as_bytes(), bytes.as_slice(), "age decrypts to something else");
    }
    // Again to the same --out: already delivered, no second entry.
    let again = ok(release_cmd(&center, &request, &out).arg("--json"));
    assert!(again.contains("\"already-delivered\""), "{again}");
    // To another --out: the second release of one request is refused, nothing written.
    let other = center.path().join("other-out");
    let second = release(&center, &request, &other);
    assert_eq!(second.status.code(), Some(1), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already-released"));
    assert!(empty(&other));
    assert_eq!(logged_releases(&center).len(), 1);
    // The gateway's appends keep the log verifiable.
    ok(glassbox().args(["log", "verify"]).arg(&center.log).args(["--vkey", &center.vkey]));
}

#[test]
fn a_missing_approval_group_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    decide_lib(&center, &request, "sec1", DecisionKind::Approve, true);
    decide_lib(&center, &request, "sec2", DecisionKind::Approve, true);
    assert_refused(&center, &request, "missing-approvals");
}

#[test]
fn one_key_under_two_key_ids_is_one_approval() {
    let center = Center::new();
    // The vendor's security team needs two distinct keys.
    center.write_policy(&center.policy_text("").replacen("required = 1", "required = 2", 1));
    let files = center.sample_files(2, 100);
    let samples = intake(&center, &files);
    let request = request_cli(&center, &samples[0].0, &[], true);
    decide_lib(&center, &request, "auditor1", DecisionKind::Approve, true);
    let approval = decide_lib(&center, &request, "sec1", DecisionKind::Approve, true);
    let mut no_keyid = approval.clone();
    no_keyid.signatures[0].keyid = String::new();
    let mut other_keyid = approval;
    other_keyid.signatures[0].keyid = "sec2".into();
    append(&center, &[&no_keyid, &other_keyid]);
    assert_refused(&center, &request, "missing-approvals");
    // The second key's approval is what was missing: the rule can pass.
    decide_lib(&center, &request, "sec2", DecisionKind::Approve, true);
    let out = center.path().join("out");
    let ok_release = release(&center, &request, &out);
    assert_eq!(ok_release.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok_release.stderr));
}

#[test]
fn the_requester_approving_their_own_request_is_refused() {
    let center = Center::new();
    center.write_policy(&center.policy_text("").replacen("keys/sec2.pub", "keys/analyst.pub", 1));
    let files = center.sample_files(2, 100);
    let samples = intake(&center, &files);
    let request = request_cli(&center, &samples[0].0, &[], true);
    decide_lib(&center, &request, "analyst", DecisionKind::Approve, true);
    decide_lib(&center, &request, "auditor1", DecisionKind::Approve, true);
    assert_refused(&center, &request, "missing-approvals");
}

#[test]
fn a_denial_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    decide_cli(&center, &request, "auditor2", &["--deny", "--why", "not proportionate"]);
    assert_refused(&center, &request, "denied");
}

#[test]
fn an_invalidation_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    decide_cli(&center, &request, "analyst", &["--invalidate"]);
    assert_refused(&center, &request, "invalidated");
}

#[test]
fn an_expired_request_is_refused() {
    let (center, samples) = center_with_samples();
    // Too long a lifetime is caught at request time.
    let mut cmd = glassbox();
    cmd.args(["sample", "request", "--store"]).arg(&center.store).arg("--policy").arg(&center.policy);
    cmd.args(["--sample", &samples[0].0.hex(), "--reason", "legal-process", "--detail", "x"]);
    cmd.args(["--destination", DESTINATION, "--recipient", &center.recipient, "--expires", "8d", "--key"]);
    cmd.arg(center.key("analyst")).arg("--log").arg(&center.log);
    let long = output(&mut cmd);
    assert_eq!(long.status.code(), Some(2), "{}", String::from_utf8_lossy(&long.stderr));
    assert!(String::from_utf8_lossy(&long.stderr).contains("--expires"));
    // A request made two days ago that expired yesterday.
    let request = request_lib(&center, &samples[0].0, |r| {
        r.requested_at = Timestamp(now().0 - 2 * 86_400).rfc3339();
        r.expires_at = Timestamp(now().0 - 86_400).rfc3339();
    });
    approve_both(&center, &request);
    assert_refused(&center, &request, "expired");
}

#[test]
fn an_unknown_reason_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_lib(&center, &samples[0].0, |r| r.reason = "curiosity".into());
    approve_both(&center, &request);
    assert_refused(&center, &request, "reason-not-allowed");
}

#[test]
fn a_destination_not_allowed_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_lib(&center, &samples[0].0, |r| r.destination = "elsewhere".into());
    approve_both(&center, &request);
    assert_refused(&center, &request, "destination-not-allowed");
}

#[test]
fn a_changed_policy_is_refused() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    center.write_policy(&center.policy_text("").replace("request_lifetime = \"7d\"", "request_lifetime = \"6d\""));
    assert_refused(&center, &request, "policy-changed");
}

#[test]
fn the_quota_is_enforced() {
    let center = Center::new();
    center.write_policy(&center.policy_text("quota = { period = \"month\", releases = 1 }\n"));
    let files = center.sample_files(2, 100);
    let samples = intake(&center, &files);
    let first = request_cli(&center, &samples[0].0, &[], true);
    let second = request_cli(&center, &samples[1].0, &[], true);
    approve_both(&center, &first);
    approve_both(&center, &second);
    let out = center.path().join("first-out");
    let released = release(&center, &first, &out);
    assert_eq!(released.status.code(), Some(0), "{}", String::from_utf8_lossy(&released.stderr));
    let out2 = center.path().join("out");
    let refused = release(&center, &second, &out2);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("quota-exceeded"));
    assert!(empty(&out2));
    assert_eq!(logged_releases(&center).len(), 1);
}

#[test]
fn a_request_or_approval_not_in_the_log_is_refused() {
    let (center, samples) = center_with_samples();
    // The request itself was never logged (its approvals were).
    let unlogged = request_cli(&center, &samples[0].0, &[], false);
    approve_both(&center, &unlogged);
    assert_refused(&center, &unlogged, "not-logged");
    // `decide` refuses to approve an unlogged request.
    let decided = output(
        glassbox()
            .args(["sample", "decide"])
            .arg(&unlogged)
            .arg("--approve")
            .arg("--key")
            .arg(center.key("sec2"))
            .arg("--log")
            .arg(&center.log),
    );
    assert_eq!(decided.status.code(), Some(1), "{}", String::from_utf8_lossy(&decided.stderr));
    // A logged request whose outside approval was signed but not logged.
    let request = request_cli(&center, &samples[1].0, &[], true);
    decide_lib(&center, &request, "sec1", DecisionKind::Approve, true);
    decide_lib(&center, &request, "auditor1", DecisionKind::Approve, false);
    assert_refused(&center, &request, "missing-approvals");
}

#[test]
fn a_store_file_that_no_longer_matches_is_refused() {
    let (center, samples) = center_with_samples();
    let (commitment, bytes) = &samples[2];
    let request = request_cli(&center, commitment, &[], true);
    approve_both(&center, &request);
    let stored = center.store.join("samples").join(Sha256Digest::of(bytes).hex());
    let mut tampered = bytes.clone();
    tampered[0] ^= 1;
    std::fs::write(&stored, tampered).unwrap();
    assert_refused(&center, &request, "store-mismatch");
    assert!(std::fs::read_dir(center.store.join("pending")).map_or(true, |mut d| d.next().is_none()));
}

#[test]
fn two_gateways_at_once_release_once() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    let out = center.path().join("out");
    let children: Vec<_> = (0..2)
        .map(|_| {
            release_cmd(&center, &request, &out)
                .arg("--json")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The second gateway waits for the store's lock, then finds the release logged: it confirms
    // the delivery, or (the release's checkpoint not being witnessed yet) refuses to judge.
    let outcomes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            match o.status.code() {
                Some(0) => serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["outcome"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                Some(1) if stderr.contains("witness") => "unwitnessed".to_string(),
                _ => panic!("{stderr}"),
            }
        })
        .collect();
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert!(sorted == ["already-delivered", "released"] || sorted == ["released", "unwitnessed"], "{outcomes:?}");
    assert_eq!(logged_releases(&center).len(), 1);
    // Once the witness has cosigned, a rerun confirms the delivery.
    let json = ok(release_cmd(&center, &request, &out).arg("--json"));
    assert!(json.contains("already-delivered"), "{json}");
}

#[test]
fn a_gateway_killed_at_random_instants_never_leaves_an_output_without_a_logged_release() {
    const ROUNDS: usize = 30;
    let center = Center::new();
    let files = center.sample_files(ROUNDS + 1, 2048);
    let samples = intake(&center, &files);
    center.publish_policy();
    // Every request and approval, signed through the library and logged in one append.
    let policy = Policy::load(&center.policy).unwrap();
    let sample_store = SampleStore::open(&center.store, false).unwrap();
    let log = LogDir::new(&center.log);
    let analyst = key(&center, "analyst");
    let mut envelopes = Vec::new();
    let mut requests = Vec::new();
    for (n, (commitment, _)) in samples.iter().enumerate() {
        let spec = RequestSpec {
            commitment: *commitment,
            reason: "anomaly-manual-review",
            detail: "round",
            destination: DESTINATION,
            recipient: &center.recipient,
            lifetime: None,
            break_glass: false,
            now: now(),
        };
        let signed = request::sign_request(&sample_store, &log, &policy, &analyst, &spec).unwrap();
        let file = center.path().join(format!("round-{n}.intoto.jsonl"));
        std::fs::write(&file, signed.envelope.to_line() + "\n").unwrap();
        let logged = request::read_request_structure(&file).unwrap();
        // A decision counts only when logged after its request.
        envelopes.push(signed.envelope);
        for who in ["sec2", "auditor2"] {
            envelopes
                .push(request::sign_decision(&logged, DecisionKind::Approve, "", &key(&center, who), now()).unwrap());
        }
        requests.push(file);
    }
    drop(sample_store);
    append(&center, &envelopes.iter().collect::<Vec<_>>());
    let out = center.path().join("out");
    // How long one release takes here bounds the random instants.
    let started = std::time::Instant::now();
    let first = release(&center, &requests[ROUNDS], &out);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let span = (started.elapsed().as_micros() as u64 * 5 / 4).max(1);
    let mut killed_before_the_entry = 0;
    let mut completed = 0;
    for request in &requests[..ROUNDS] {
        let delay = rand_core::RngCore::next_u64(&mut rand_core::OsRng) % span;
        let mut child =
            release_cmd(&center, request, &out).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_micros(delay));
        // SIGKILL (a child that already exited is simply reaped).
        let _ = child.kill();
        let _ = child.wait();
        let digest = request_digest(request);
        let delivered = out.join(format!("{}.age", digest.hex()));
        let logged: Vec<_> = logged_releases(&center).into_iter().filter(|(r, _)| *r == digest.prefixed()).collect();
        assert!(logged.len() <= 1, "two release entries for one request");
        if delivered.exists() {
            let ciphertext = Sha256Digest::of(&std::fs::read(&delivered).unwrap()).prefixed();
            assert_eq!(logged.first().map(|l| &l.1), Some(&ciphertext), "an output without its logged release");
        }
        if logged.is_empty() {
            killed_before_the_entry += 1;
        }
        // The rerun completes the delivery (or releases), never a second entry.
        let rerun = output(release_cmd(&center, request, &out).arg("--json"));
        assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stderr));
        let outcome: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
        if outcome["outcome"] == "completed" {
            completed += 1;
        }
        let logged: Vec<_> = logged_releases(&center).into_iter().filter(|(r, _)| *r == digest.prefixed()).collect();
        assert_eq!(logged.len(), 1, "not exactly one release entry after the rerun");
        let ciphertext = Sha256Digest::of(&std::fs::read(&delivered).unwrap()).prefixed();
        assert_eq!(logged[0].1, ciphertext);
    }
    assert_eq!(logged_releases(&center).len(), ROUNDS + 1);
    eprintln!(
        "of {ROUNDS} gateways, {killed_before_the_entry} were killed before their release entry and \
         {completed} after it but before delivery (their rerun completed it)"
    );
}

#[test]
fn a_malformed_request_file_is_bad_input_named_and_nothing_is_written() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    let line = std::fs::read_to_string(&request).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "this is not an envelope\n".into()),
        ("two-lines", format!("{line}{line}")),
        ("pretty", serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&line).unwrap()).unwrap()),
        ("empty", String::new()),
    ];
    let out = center.path().join("out");
    for (name, text) in cases {
        let file = center.path().join(format!("bad-{name}.intoto.jsonl"));
        std::fs::write(&file, text).unwrap();
        let result = release(&center, &file, &out);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{name}: the file is not named: {stderr}");
        assert!(empty(&out), "{name}: something was written");
    }
    // A decision is not a request.
    let decision = center.path().join("decision-sec1.intoto.jsonl");
    let envelope = decide_lib(&center, &request, "sec1", DecisionKind::Approve, false);
    std::fs::write(&decision, envelope.to_line() + "\n").unwrap();
    let result = release(&center, &decision, &out);
    assert_eq!(result.status.code(), Some(2), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(empty(&out));
    assert!(logged_releases(&center).is_empty());
}

/// Appends `n` envelopes that are not custody statements.
fn filler(center: &Center, n: usize) {
    let filler_key = PrivateKey::from_seed(&[7; 32]);
    let items: Vec<Loggable> = (0..n)
        .map(|i| {
            let subject =
                glassbox::attest::ResourceDescriptor::named(format!("f{i}"), Sha256Digest::of(&i.to_le_bytes()));
            let e =
                glassbox::attest::Statement::new(vec![subject], "https://example.com/filler/v1", serde_json::json!({}))
                    .sign(&filler_key);
            Loggable::from_envelope(&e, "filler").unwrap()
        })
        .collect();
    store::append(&LogDir::new(&center.log), &PrivateKey::read(&center.log_key).unwrap(), &items).unwrap();
}

/// A first sync of more than a thousand entries authenticates every tile at once; later syncs
/// read only the new entries, one inclusion proof each.
#[test]
fn a_long_log_is_synced_in_bulk_then_incrementally() {
    let center = Center::new();
    filler(&center, 1500);
    let files = center.sample_files(2, 1000);
    let samples = intake(&center, &files);
    let out = center.path().join("out");
    for (commitment, _) in &samples {
        let request = request_cli(&center, commitment, &[], true);
        approve_both(&center, &request);
        filler(&center, 3);
        let json = ok(release_cmd(&center, &request, &out).arg("--json"));
        let released: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(released["outcome"], "released", "{json}");
    }
    assert_eq!(logged_releases(&center).len(), 2);
    // A log rewritten behind the ledger's back is refused: replace the checkpoint by one of
    // a fresh log with the same key and origin.
    let rewritten = center.path().join("rewritten");
    std::fs::create_dir(&rewritten).unwrap();
    let log_key = PrivateKey::read(&center.log_key).unwrap();
    store::init(&LogDir::new(&rewritten), crate::log::ORIGIN, &log_key).unwrap();
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    std::fs::remove_dir_all(&center.log).unwrap();
    std::fs::rename(&rewritten, &center.log).unwrap();
    let other = center.path().join("other-out");
    let refused = release(&center, &request, &other);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    // The witness refuses to cosign it, and the ledger would not extend it either.
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not an extension") || said.contains("witness"), "{said}");
    assert!(empty(&other));
}

#[test]
fn a_break_glass_request_may_skip_the_outside_group_and_says_so() {
    let (center, samples) = center_with_samples();
    let request = request_cli(&center, &samples[0].0, &["--break-glass"], true);
    decide_lib(&center, &request, "sec1", DecisionKind::Approve, true);
    let out = center.path().join("out");
    let json = ok(release_cmd(&center, &request, &out).arg("--json"));
    let released: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((released["outcome"].as_str(), released["breakGlass"].as_bool()), (Some("released"), Some(true)));
    // Without the vendor's own approval, break-glass is no way out.
    let second = request_cli(&center, &samples[1].0, &["--break-glass"], true);
    decide_lib(&center, &second, "auditor1", DecisionKind::Approve, true);
    let other = center.path().join("other-out");
    let refused = release(&center, &second, &other);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(empty(&other));
}

/// `sample decide --policy` applies the gateway's own rule before anything is signed: the
/// requester approving their own request and a key in no approver group (the gateway's) are
/// refused (exit 1, nothing written) unless `--force`; a decision that counts passes; without
/// `--policy` it still signs, and says it checked nothing. The audit never counts the forced
/// self-approval among its approvals.
#[test]
fn decide_with_the_policy_refuses_a_decision_that_can_never_count() {
    let center = Center::new();
    // The analyst is a requester and, here, also a vendor-security approver.
    center.write_policy(&center.policy_text("").replacen("keys/sec2.pub", "keys/analyst.pub", 1));
    let files = center.sample_files(1, 100);
    let samples = intake(&center, &files);
    let request = request_cli(&center, &samples[0].0, &[], true);
    let decide = |who: &str, out: &Path, extra: &[&str]| {
        output(
            glassbox()
                .args(["sample", "decide"])
                .arg(&request)
                .arg("--approve")
                .arg("--key")
                .arg(center.key(who))
                .arg("--log")
                .arg(&center.log)
                .arg("--out")
                .arg(out)
                .args(extra),
        )
    };
    let policy = center.policy.to_str().unwrap();
    let own = center.path().join("own.intoto.jsonl");
    let refused = decide("analyst", &own, &["--policy", policy]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("signed the request itself") && stderr.contains("--force"), "{stderr}");
    assert!(!own.exists(), "a refused decision was written");
    let gateway = center.path().join("gateway.intoto.jsonl");
    let refused = decide("gateway", &gateway, &["--policy", policy]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in no approver group") && stderr.contains("vendor-security"), "{stderr}");
    assert!(!gateway.exists());
    // --force signs it, and says it will never count.
    let forced = decide("analyst", &own, &["--policy", policy, "--force", "--json"]);
    assert_eq!(forced.status.code(), Some(0), "{}", String::from_utf8_lossy(&forced.stderr));
    let json: serde_json::Value = serde_json::from_slice(&forced.stdout).unwrap();
    assert_eq!(json["check"], "forced", "{json}");
    assert!(String::from_utf8_lossy(&forced.stderr).contains("will never count"));
    assert!(own.is_file());
    // A decision that counts; and one not checked.
    let counted = center.path().join("sec1.intoto.jsonl");
    let passed = decide("sec1", &counted, &["--policy", policy, "--json"]);
    assert_eq!(passed.status.code(), Some(0), "{}", String::from_utf8_lossy(&passed.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&passed.stdout).unwrap()["check"], "counts");
    let unchecked = decide("auditor1", &center.path().join("a1.intoto.jsonl"), &[]);
    assert_eq!(unchecked.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unchecked.stderr).contains("not checked"), "{unchecked:?}");
    // A policy the request does not cite is bad input.
    let other = center.path().join("other-policy.toml");
    std::fs::write(&other, center.policy_text("").replace("request_lifetime = \"7d\"", "request_lifetime = \"6d\""))
        .unwrap();
    let wrong = decide("sec1", &center.path().join("x.intoto.jsonl"), &["--policy", other.to_str().unwrap()]);
    assert_eq!(wrong.status.code(), Some(2), "{}", String::from_utf8_lossy(&wrong.stderr));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("the request cites policy"));
    // Logged anyway, the self-approval is ignored by the audit and counts in no statistic.
    operator_appends(&center, &own);
    operator_appends(&center, &counted);
    center.cosign();
    let audit =
        output(glassbox().args(["sample", "audit", "--json", "--log"]).arg(&center.log).arg("--policy").arg(policy));
    let json: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(json["periods"][0]["approvals"], 1, "{json:#}");
    assert!(json["ignored"].as_array().unwrap().iter().any(|i| i["reason"] == "not-allowed"), "{json:#}");
}

#[test]
fn a_request_for_a_sample_not_in_the_store_names_the_store() {
    let (center, _) = center_with_samples();
    center.publish_policy();
    let mut cmd = glassbox();
    cmd.args(["sample", "request", "--store"]).arg(&center.store).arg("--policy").arg(&center.policy);
    cmd.args(["--sample", &Sha256Digest::of(b"nothing").hex(), "--reason", "anomaly-manual-review", "--detail", "x"]);
    cmd.args(["--destination", DESTINATION, "--recipient", &center.recipient, "--key"]).arg(center.key("analyst"));
    let out = output(cmd.arg("--log").arg(&center.log));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("is in the sample store at {}", center.store.display())), "{err}");
}
