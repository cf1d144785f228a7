//! Custody history is made only by what the policy's keys signed (security review 2, R2-D1 and
//! R2-D5, and the custody spec review): re-wrapped copies of signed statements, statements by
//! strangers and malformed ones change no count, clock, quota or violation, in the audit, the
//! gateway, lookup and the site; and the audit checks what a release claims and reports every
//! rule it breaks. Logs are hand-built with custody_audit's `Book` and custody_release's
//! gateway helpers.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use glassbox::attest::custody::{Decision, DecisionKind, Release};
use glassbox::attest::dsse::Signature;
use glassbox::attest::{Envelope, Statement, SAMPLE_DECISION_V1, SAMPLE_RELEASE_V1, SAMPLE_REQUEST_V1};
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::transparency::{store, LogDir, Loggable};
use serde_json::{json, Value};

use crate::custody_audit::{at, Book, Logged, HOUR};
use crate::custody_release::{approve_both, intake, logged_releases, now, release, request_cli};
use crate::custody_support::Center;
use crate::support::*;

/// The clock every audit here is run with: after every statement, inside break-glass windows.
fn as_of() -> String {
    at(40 * HOUR)
}

/// Ways to wrap a signed payload in a new envelope without any key.
#[derive(Clone, Copy, Debug)]
enum Rewrap {
    /// The signature list repeated.
    Repeated,
    /// The key id dropped.
    NoKeyId,
    /// A junk signature put first.
    Reordered,
    /// The key id changed to one no key has.
    OtherKeyId,
}

const REWRAPS: [Rewrap; 4] = [Rewrap::Repeated, Rewrap::NoKeyId, Rewrap::Reordered, Rewrap::OtherKeyId];

fn rewrap(envelope: &Envelope, how: Rewrap) -> Envelope {
    let mut e = envelope.clone();
    match how {
        Rewrap::Repeated => e.signatures = [e.signatures.clone(), e.signatures.clone()].concat(),
        Rewrap::NoKeyId => e.signatures.iter_mut().for_each(|s| s.keyid.clear()),
        Rewrap::Reordered => e.signatures.insert(0, Signature { keyid: String::new(), sig: BASE64.encode([7u8; 64]) }),
        Rewrap::OtherKeyId => e.signatures.iter_mut().for_each(|s| s.keyid = "not-a-key-id".into()),
    }
    e
}

/// The envelope logged at `index`.
fn logged_envelope(log: &LogDir, index: u64) -> Envelope {
    let (_, checkpoint) = log.read_checkpoint().unwrap();
    let line = log.envelopes(index, index + 1, checkpoint.size).unwrap().remove(0);
    serde_json::from_slice(&line).unwrap()
}

/// Appends with only the log's key (anyone who can append); returns the new entry's index.
fn append_as_anyone(log: &LogDir, log_key: &PrivateKey, envelope: &Envelope) -> u64 {
    try_append(log, log_key, envelope).expect("a re-wrapped copy is a new envelope to the log")
}

/// The new entry's index, or `None` if the very same envelope is already logged.
fn try_append(log: &LogDir, log_key: &PrivateKey, envelope: &Envelope) -> Option<u64> {
    let item = Loggable::from_envelope(envelope, "test").unwrap();
    let appended = store::append(log, log_key, std::slice::from_ref(&item)).unwrap();
    appended.added.first().map(|a| a.0)
}

fn audit_json(center: &Center, as_of: &str) -> (i32, Value) {
    center.cosign();
    let out = output(
        glassbox()
            .args(["sample", "audit", "--json", "--as-of", as_of, "--log"])
            .arg(&center.log)
            .arg("--policy")
            .arg(&center.policy),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

/// The violations as (index, kind).
pub(crate) fn violations(json: &Value) -> Vec<(u64, String)> {
    json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["index"].as_u64().unwrap(), v["kind"].as_str().unwrap().to_string()))
        .collect()
}

/// What must not change when only noise is appended: everything but the log's size and root,
/// the entry counts and the ignored list.
fn history(json: &Value) -> Value {
    let mut j = json.clone();
    let o = j.as_object_mut().unwrap();
    for k in ["log", "entries", "custodyEntries", "ignored"] {
        o.remove(k);
    }
    j
}

#[test]
fn r2_d1_rewrapped_release_and_intake_count_once_and_the_gateway_still_releases() {
    let center = Center::new();
    center.write_policy(&center.policy_text("quota = { period = \"month\", releases = 2 }\n"));
    let files = center.sample_files(3, 100);
    let samples = intake(&center, &files);
    let log = LogDir::new(&center.log);
    let log_key = PrivateKey::read(&center.log_key).unwrap();
    let mut copies = Vec::new();
    // Someone with no custody key re-wraps the intake batch.
    copies.push(append_as_anyone(&log, &log_key, &rewrap(&logged_envelope(&log, 0), Rewrap::NoKeyId)));
    let first = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &first);
    let out = center.path().join("out");
    let released = release(&center, &first, &out);
    assert_eq!(released.status.code(), Some(0), "{}", String::from_utf8_lossy(&released.stderr));
    let (_, checkpoint) = log.read_checkpoint().unwrap();
    let release_entry = logged_envelope(&log, checkpoint.size - 1);
    // ... and the genuine release, twice, and an approval of the next request.
    for how in [Rewrap::Repeated, Rewrap::Reordered] {
        copies.push(append_as_anyone(&log, &log_key, &rewrap(&release_entry, how)));
    }
    let second = request_cli(&center, &samples[1].0, &[], true);
    approve_both(&center, &second);
    let (_, checkpoint) = log.read_checkpoint().unwrap();
    copies.push(append_as_anyone(
        &log,
        &log_key,
        &rewrap(&logged_envelope(&log, checkpoint.size - 1), Rewrap::Repeated),
    ));
    assert_eq!(logged_releases(&center).len(), 3, "one release and two copies in the log");

    // The gateway: the copies use up no quota (2 a month), so the next legitimate request goes.
    let released = release(&center, &second, &center.path().join("out2"));
    assert_eq!(released.status.code(), Some(0), "{}", String::from_utf8_lossy(&released.stderr));

    let (code, json) = audit_json(&center, &now().rfc3339());
    assert_eq!((code, violations(&json)), (0, vec![]), "{json:#}");
    let p = &json["periods"][0];
    assert_eq!(json["periods"].as_array().unwrap().len(), 1, "{json:#}");
    let counts: Vec<u64> =
        ["samplesIn", "batches", "requests", "approvals", "releases"].iter().map(|k| p[*k].as_u64().unwrap()).collect();
    assert_eq!(counts, [3, 1, 2, 4, 2], "{p:#}");
    assert_eq!(p["byDestination"]["hq-lab"]["releases"], 2);
    let repeats: Vec<Value> = copies.iter().map(|i| json!({"index": i, "reason": "repeat"})).collect();
    assert_eq!(json["ignored"], Value::Array(repeats), "{json:#}");
}

#[test]
fn r2_d1_rewrapped_statements_change_nothing_in_lookup_or_on_the_site() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.approved(&s[0]);
    b.release("gateway", &r, 4 * HOUR);
    let before = audit_json(&b.c, &as_of());
    let (_, checkpoint) = b.log.read_checkpoint().unwrap();
    for index in 0..checkpoint.size {
        for how in REWRAPS {
            append_as_anyone(&b.log, &b.log_key, &rewrap(&logged_envelope(&b.log, index), how));
        }
    }
    let after = audit_json(&b.c, &as_of());
    assert_eq!((after.0, history(&after.1)), (before.0, history(&before.1)));
    assert_eq!(after.1["ignored"].as_array().unwrap().len(), REWRAPS.len() * checkpoint.size as usize);

    let receipt = b.receipt(&s[0], "released");
    let policy = b.c.policy.to_str().unwrap().to_string();
    let (code, stdout, stderr) = b.lookup(&receipt, &["--json", "--policy", &policy]);
    assert_eq!(code, 0, "{stderr}");
    let found: Value = serde_json::from_str(&stdout).unwrap();
    let requests = found["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{found:#}");
    assert_eq!(requests[0]["decisions"].as_array().unwrap().len(), 2, "{found:#}");
    assert_eq!(requests[0]["releases"].as_array().unwrap().len(), 1, "{found:#}");

    let page = site_custody_page(&b);
    assert!(page.contains("sample audit finds no violation"), "{page}");
    assert_eq!(page.matches("trusted gateway").count(), 1, "one release row");
}

/// `glassbox site` of the book's log (no attestations), and its custody page.
fn site_custody_page(b: &Book) -> String {
    let attestations = b.c.path().join("attestations");
    std::fs::create_dir_all(&attestations).unwrap();
    let out = b.c.path().join("site");
    let _ = std::fs::remove_dir_all(&out);
    b.c.cosign();
    let o = output(
        glassbox()
            .arg("site")
            .arg("--attestations")
            .arg(&attestations)
            .arg("--log")
            .arg(&b.c.log)
            .arg("--policy")
            .arg(&b.c.policy)
            .arg("--out")
            .arg(&out),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("custody.html")).unwrap()
}

#[test]
fn r2_d5_a_self_signed_statement_dated_2099_moves_no_clock() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    // A break-glass release whose outside approval is not due yet at the newest trusted time.
    let urgent = b.request("analyst", &s[0], HOUR, true);
    b.decide("sec1", &urgent, DecisionKind::Approve, 2 * HOUR);
    b.release("gateway", &urgent, 3 * HOUR);
    let open = b.request("support", &s[1], 4 * HOUR, false);
    let before = audit_json(&b.c, &as_of());
    let page = site_custody_page(&b);
    assert!(page.contains("sample audit finds no violation"), "{page}");

    // A stranger's request dated 2099, and a stranger's approval of the open request.
    let mut late = b.request_value("outsider", &s[1], 0, false);
    late.requested_at = "2099-01-01T00:00:00Z".into();
    late.expires_at = "2099-01-02T00:00:00Z".into();
    b.append(&statements::sign_request(&late, &s[1].commitment, &b.key("outsider")));
    let d = Decision {
        request: open.digest.prefixed(),
        decision: DecisionKind::Approve,
        why: String::new(),
        decided_at: "2099-01-01T00:00:00Z".into(),
    };
    b.append(&statements::sign_decision(&d, &open.digest, &open.commitment, &b.key("outsider")));

    let after = audit_json(&b.c, &as_of());
    assert_eq!((after.0, history(&after.1)), (before.0, history(&before.1)));
    let page = site_custody_page(&b);
    assert!(page.contains("sample audit finds no violation"), "the stranger moved the site's clock: {page}");
    // The audit's own clock rule: the newest statement that counts.
    let (_, json) = audit_json(&b.c, &as_of());
    assert_eq!(json["clock"], json!({"source": "as-of", "time": as_of()}));
}

#[test]
fn spec_a_decision_about_another_sample_counts_nowhere() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, false);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    let d = Decision {
        request: r.digest.prefixed(),
        decision: DecisionKind::Approve,
        why: String::new(),
        decided_at: at(3 * HOUR),
    };
    // Signed by an outside auditor, about the request, but naming another sample.
    let (wrong, _) = b.append(&statements::sign_decision(&d, &r.digest, &s[1].commitment, &b.key("auditor1")));
    let release = b.release("gateway", &r, 4 * HOUR);
    let (code, json) = audit_json(&b.c, &as_of());
    assert_eq!((code, violations(&json)), (1, vec![(release, "missing-approvals".to_string())]), "{json:#}");
    assert_eq!(json["ignored"], json!([{"index": wrong, "reason": "sample-mismatch"}]));
    assert_eq!(json["periods"][0]["approvals"], 1);
}

#[test]
fn spec_an_intake_logged_after_its_request_is_not_in_intake() {
    let b = Book::new();
    b.intake(2, "a", "center");
    b.c.publish_policy();
    let (_, checkpoint) = b.log.read_checkpoint().unwrap();
    // The request cites the batch that will be logged right after it.
    let (batch, s) = b.intake_unlogged(2, "later", "center", checkpoint.size + 1);
    let r = b.request("analyst", &s[0], HOUR, false);
    assert_eq!(b.append(&batch).0, checkpoint.size + 1);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    b.decide("auditor1", &r, DecisionKind::Approve, 3 * HOUR);
    let release = b.release("gateway", &r, 4 * HOUR);
    let (code, json) = audit_json(&b.c, &as_of());
    assert_eq!((code, violations(&json)), (1, vec![(release, "not-in-intake".to_string())]), "{json:#}");
}

/// Changes a release's claims; given the release's own log index.
type Forgery = fn(&mut Release, u64);

#[test]
fn spec_a_release_with_forged_approvals_or_checkpoint() {
    let b = Book::new();
    let s = b.intake(3, "a", "center");
    let mut expected = Vec::new();
    let forgeries: [(&str, Forgery); 3] = [
        ("approvals-mismatch", |r, _| r.approvals = vec![Sha256Digest::of(b"no such approval").prefixed()]),
        ("checkpoint-mismatch", |r, _| r.checkpoint.root = "0".repeat(64)),
        ("checkpoint-mismatch", |r, next| r.checkpoint.size = next + 1),
    ];
    for (sample, (kind, forge)) in s.iter().zip(forgeries) {
        let r: Logged = b.approved(sample);
        let mut release = b.release_value(&r, 4 * HOUR);
        let (_, checkpoint) = b.log.read_checkpoint().unwrap();
        forge(&mut release, checkpoint.size);
        let (index, _) = b.release_signed("gateway", &r, &release);
        expected.push((index, kind.to_string()));
    }
    // Claims left empty, as a forger would: both wrong.
    let r = b.request("support", &b.intake(1, "b", "center")[0], HOUR, false);
    b.decide("sec2", &r, DecisionKind::Approve, 2 * HOUR);
    b.decide("auditor2", &r, DecisionKind::Approve, 3 * HOUR);
    let mut release = b.release_value(&r, 4 * HOUR);
    release.approvals.clear();
    release.checkpoint.root = Sha256Digest::of(b"root").hex();
    let (index, _) = b.release_signed("gateway", &r, &release);
    expected.push((index, "approvals-mismatch".into()));
    expected.push((index, "checkpoint-mismatch".into()));
    let (code, json) = audit_json(&b.c, &as_of());
    assert_eq!((code, violations(&json)), (1, expected), "{json:#}");
}

#[test]
fn spec_every_broken_rule_of_a_release_is_reported_in_order() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, false);
    b.decide("auditor2", &r, DecisionKind::Deny, 2 * HOUR);
    let mut release = b.release_value(&r, 4 * HOUR);
    release.destination = "elsewhere".into();
    let (index, _) = b.release_signed("gateway", &r, &release);
    let (code, json) = audit_json(&b.c, &as_of());
    let kinds = ["denied", "missing-approvals", "missing-approvals", "release-mismatch"];
    let expected: Vec<(u64, String)> = kinds.iter().map(|k| (index, k.to_string())).collect();
    assert_eq!((code, violations(&json)), (1, expected), "{json:#}");
    let (code, _, text) = b.audit(&["--as-of", &as_of()]);
    assert_eq!(code, 1);
    assert_eq!(text.matches(&format!("entry {index}: missing-approvals")).count(), 2, "{text}");
}

#[test]
fn spec_as_of_makes_the_audit_reproducible() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, true);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    let index = b.release("gateway", &r, 3 * HOUR);
    // Within the 72h post-hoc window: no violation, and the same answer every time.
    let (code, json) = audit_json(&b.c, &as_of());
    assert_eq!((code, violations(&json)), (0, vec![]), "{json:#}");
    assert_eq!(audit_json(&b.c, &as_of()).1, json);
    assert_eq!(json["clock"], json!({"source": "as-of", "time": as_of()}));
    // After it: overdue.
    let (code, json) = audit_json(&b.c, &at(100 * HOUR));
    assert_eq!((code, violations(&json)), (1, vec![(index, "break-glass-overdue".to_string())]), "{json:#}");
    // Without --as-of, the auditor's clock is named.
    let (_, json, _) = b.audit(&["--json"]);
    assert_eq!(json["clock"]["source"], "system-clock");
    let (code, _, text) = b.audit(&["--as-of", "tomorrow"]);
    assert_eq!(code, 2);
    assert!(text.contains("--as-of") && text.contains("tomorrow"), "{text}");
}

/// A small deterministic generator (xorshift64*): the noise is the same on every run.
struct Noise(u64);

impl Noise {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A custody statement nobody the policy trusts for it signed, or one that does not decode.
fn noise_statement(b: &Book, rng: &mut Noise, r: &Logged, size: u64) -> Envelope {
    let signers = ["outsider", "center", "analyst", "sec1", "auditor2", "gateway"];
    let when = ["2099-01-01T00:00:00Z".to_string(), at(-1000 * HOUR), at(5 * HOUR)];
    let time = when[rng.below(3) as usize].clone();
    match rng.below(5) {
        // A stranger's request, approval or release of the real request.
        0 => {
            let mut q = b.request_value("outsider", &b.intake_unlogged(1, "n", "outsider", size).1[0], 0, false);
            q.requested_at = time;
            q.expires_at = "2099-12-31T00:00:00Z".into();
            statements::sign_request(&q, &r.commitment, &b.key("outsider"))
        }
        1 => {
            let d = Decision {
                request: r.digest.prefixed(),
                decision: DecisionKind::Deny,
                why: "x".into(),
                decided_at: time,
            };
            statements::sign_decision(&d, &r.digest, &r.commitment, &b.key("outsider"))
        }
        2 => {
            let mut release = b.release_value(r, 5 * HOUR);
            release.released_at = time;
            statements::sign_release(&release, &r.digest, &r.commitment, &b.key("outsider"))
        }
        // Malformed (an unknown predicate field), signed by anyone but a gateway for a release.
        kind => {
            let signer = signers[rng.below(5) as usize];
            let (predicate_type, predicate) = if kind == 3 {
                (
                    SAMPLE_DECISION_V1,
                    json!({"request": r.digest.prefixed(), "decision": "approve", "decidedAt": time, "extra": 1}),
                )
            } else if rng.below(2) == 0 {
                (SAMPLE_REQUEST_V1, json!({"requestId": "nope", "requestedAt": time}))
            } else {
                (SAMPLE_RELEASE_V1, json!({"request": r.digest.prefixed(), "releasedAt": time}))
            };
            let subjects = statements::request_subjects(&r.digest, &r.commitment);
            Statement::new(subjects, predicate_type, &predicate).sign(&b.key(signer))
        }
    }
}

#[test]
fn spec_rewrapped_stranger_and_malformed_statements_change_only_the_ignored_list() {
    let b = Book::new();
    let s = b.intake(3, "a", "center");
    let released = b.approved(&s[0]);
    b.release("gateway", &released, 4 * HOUR);
    let denied = b.request("support", &s[1], 5 * HOUR, false);
    b.decide("auditor2", &denied, DecisionKind::Deny, 6 * HOUR);
    let urgent = b.request("analyst", &s[2], 7 * HOUR, true);
    b.decide("sec2", &urgent, DecisionKind::Approve, 8 * HOUR);
    b.release("gateway", &urgent, 9 * HOUR);
    let (code, base) = audit_json(&b.c, &as_of());
    assert_eq!(code, 0, "{base:#}");
    let (_, checkpoint) = b.log.read_checkpoint().unwrap();
    let genuine = checkpoint.size;
    let mut rng = Noise(0x9e37_79b9_7f4a_7c15);
    let mut ignored = base["ignored"].as_array().unwrap().len();
    // A modest, fixed number of rounds (each runs the audit once).
    for _round in 0..8 {
        for _ in 0..3 {
            let (_, checkpoint) = b.log.read_checkpoint().unwrap();
            let envelope = match rng.below(2) {
                0 => rewrap(&logged_envelope(&b.log, rng.below(genuine)), REWRAPS[rng.below(4) as usize]),
                _ => {
                    let r = if rng.below(2) == 0 { &released } else { &denied };
                    noise_statement(&b, &mut rng, r, checkpoint.size)
                }
            };
            if try_append(&b.log, &b.log_key, &envelope).is_some() {
                ignored += 1;
            }
        }
        let (code, json) = audit_json(&b.c, &as_of());
        assert_eq!((code, history(&json)), (0, history(&base)), "{json:#}");
        assert_eq!(json["ignored"].as_array().unwrap().len(), ignored, "{json:#}");
    }
}
