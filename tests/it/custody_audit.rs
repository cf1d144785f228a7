//! `sample audit` and `sample lookup` on logs built by hand: statements signed with the
//! library's `statements::sign_*` and the test center's keys, appended with the library's
//! `transparency::store::append`, each log holding one violation (or none), and receipts written
//! in the format of docs/formats.md.

use std::path::{Path, PathBuf};

use glassbox::attest::custody::{
    CheckpointRef, Decision, DecisionKind, Intake, IntakeRef, Period, Release, Request, Requester,
};
use glassbox::attest::Envelope;
use glassbox::custody::commitment::{commit, commit_detail, BatchTree};
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::time::Timestamp;
use glassbox::transparency::{store, LogDir, Loggable};
use serde_json::Value;

use crate::custody_support::{Center, DESTINATION, GROUPS};
use crate::support::*;

/// 2026-11-02T10:00:00Z: every statement of these logs is dated from here, weeks before the
/// audit's clock.
pub(crate) const T0: i64 = 1_793_613_600;
pub(crate) const HOUR: i64 = 3600;

pub(crate) fn at(offset: i64) -> String {
    Timestamp(T0 + offset).rfc3339()
}

/// A log being written by hand.
pub(crate) struct Book {
    pub(crate) c: Center,
    pub(crate) log: LogDir,
    pub(crate) log_key: PrivateKey,
    /// Every approval logged: (request digest, approver, approval envelope digest), so that a
    /// release lists the approvals that count, as the gateway does.
    approvals: std::cell::RefCell<Vec<(Sha256Digest, String, Sha256Digest)>>,
}

/// A sample taken in: its commitment, salt and where it is.
#[derive(Clone)]
pub(crate) struct Sample {
    pub(crate) commitment: Sha256Digest,
    salt: [u8; 32],
    file: Vec<u8>,
    pub(crate) intake: IntakeRef,
}

/// A request in the log.
pub(crate) struct Logged {
    pub(crate) index: u64,
    pub(crate) digest: Sha256Digest,
    pub(crate) request: Request,
    pub(crate) commitment: Sha256Digest,
}

impl Book {
    pub(crate) fn new() -> Book {
        let c = Center::new();
        let log = LogDir::new(&c.log);
        let log_key = PrivateKey::read(&c.log_key).unwrap();
        Book { c, log, log_key, approvals: Default::default() }
    }

    pub(crate) fn key(&self, name: &str) -> PrivateKey {
        PrivateKey::read(&self.c.key(name)).unwrap()
    }

    pub(crate) fn append(&self, envelope: &Envelope) -> (u64, Sha256Digest) {
        let l = Loggable::from_envelope(envelope, "test").unwrap();
        let appended = store::append(&self.log, &self.log_key, std::slice::from_ref(&l)).unwrap();
        assert_eq!(appended.added.len(), 1, "every statement of these logs is new");
        (appended.added[0].0, l.digest)
    }

    /// One intake batch of `count` samples, signed by `signer`.
    pub(crate) fn intake(&self, count: usize, tag: &str, signer: &str) -> Vec<Sample> {
        let (_, checkpoint) = self.log.read_checkpoint().unwrap();
        let (envelope, samples) = self.intake_unlogged(count, tag, signer, checkpoint.size);
        let (index, _) = self.append(&envelope);
        assert_eq!(index, checkpoint.size);
        samples
    }

    /// An intake batch signed but not logged, and its samples as if it were logged at `index`.
    pub(crate) fn intake_unlogged(&self, count: usize, tag: &str, signer: &str, index: u64) -> (Envelope, Vec<Sample>) {
        let files: Vec<Vec<u8>> = (0..count).map(|i| format!("{tag} sample {i}").into_bytes()).collect();
        let salts: Vec<[u8; 32]> = (0..count).map(|i| Sha256Digest::of(format!("{tag}/{i}").as_bytes()).0).collect();
        let commitments: Vec<Sha256Digest> =
            files.iter().zip(&salts).map(|(f, s)| commit(s, &Sha256Digest::of(f))).collect();
        let batch = BatchTree::new(commitments.clone()).unwrap();
        let intake = Intake {
            batch_id: Sha256Digest::of(tag.as_bytes()).hex()[..32].to_string(),
            count: count as u64,
            period: Period { start: at(-HOUR), end: at(0) },
            merkle_root: batch.root().hex(),
            tree: glassbox::attest::custody::BATCH_TREE.into(),
        };
        let envelope = statements::sign_intake(&intake, &batch.root(), &self.key(signer));
        let digest = Loggable::from_envelope(&envelope, "test").unwrap().digest;
        let samples = commitments
            .iter()
            .zip(files)
            .zip(salts)
            .map(|((c, file), salt)| {
                let leaf = batch.position(c).unwrap();
                Sample {
                    commitment: *c,
                    salt,
                    file,
                    intake: IntakeRef {
                        log_index: index,
                        envelope: digest.prefixed(),
                        batch_root: batch.root().hex(),
                        batch_size: batch.len(),
                        leaf_index: leaf,
                        proof: batch.proof(leaf).unwrap().iter().map(Sha256Digest::hex).collect(),
                    },
                }
            })
            .collect();
        (envelope, samples)
    }

    /// A request by `who` (a requester of the test policy, or `outsider`) made at `offset`.
    pub(crate) fn request(&self, who: &str, sample: &Sample, offset: i64, break_glass: bool) -> Logged {
        self.c.publish_policy();
        let request = self.request_value(who, sample, offset, break_glass);
        let (index, digest) = self.append(&statements::sign_request(&request, &sample.commitment, &self.key(who)));
        Logged { index, digest, request, commitment: sample.commitment }
    }

    pub(crate) fn request_value(&self, who: &str, sample: &Sample, offset: i64, break_glass: bool) -> Request {
        let (role, country) = match who {
            "support" => ("support-engineer", "DE"),
            _ => ("malware-analyst", "CH"),
        };
        Request {
            request_id: Sha256Digest::of(format!("{who}{offset}{}", sample.commitment).as_bytes()).hex()[..32]
                .to_string(),
            intake: sample.intake.clone(),
            reason: "anomaly-manual-review".into(),
            detail: commit_detail(&[7; 32], "looks odd").hex(),
            requester: Requester { role: role.into(), country: country.into() },
            destination: DESTINATION.into(),
            recipient: self.c.recipient.clone(),
            requested_at: at(offset),
            expires_at: at(offset + 72 * HOUR),
            break_glass,
            policy: glassbox::policy::Policy::load(&self.c.policy).unwrap().digest.prefixed(),
        }
    }

    pub(crate) fn decide(&self, who: &str, r: &Logged, decision: DecisionKind, offset: i64) -> u64 {
        let d = Decision {
            request: r.digest.prefixed(),
            decision,
            why: if decision == DecisionKind::Deny { "no".into() } else { String::new() },
            decided_at: at(offset),
        };
        let (index, digest) = self.append(&statements::sign_decision(&d, &r.digest, &r.commitment, &self.key(who)));
        if decision == DecisionKind::Approve {
            self.approvals.borrow_mut().push((r.digest, who.to_string(), digest));
        }
        index
    }

    /// The release a gateway would sign now: judged under the log's current checkpoint, listing
    /// the approvals that count there (the first of each approver key, in log order).
    pub(crate) fn release_value(&self, r: &Logged, offset: i64) -> Release {
        let (_, checkpoint) = self.log.read_checkpoint().unwrap();
        let mut approvers: Vec<&str> = Vec::new();
        let mut approvals = Vec::new();
        let logged = self.approvals.borrow();
        for (request, who, digest) in logged.iter() {
            let approver = GROUPS.iter().any(|g| g.1.contains(&who.as_str()));
            if *request == r.digest && approver && !approvers.contains(&who.as_str()) {
                approvers.push(who);
                approvals.push(digest.prefixed());
            }
        }
        Release {
            request: r.digest.prefixed(),
            approvals,
            break_glass: r.request.break_glass,
            destination: r.request.destination.clone(),
            recipient: r.request.recipient.clone(),
            released_at: at(offset),
            checkpoint: CheckpointRef { size: checkpoint.size, root: Sha256Digest(checkpoint.root).hex() },
            ciphertext: Sha256Digest::of(b"ciphertext").prefixed(),
        }
    }

    pub(crate) fn release(&self, who: &str, r: &Logged, offset: i64) -> u64 {
        self.release_signed(who, r, &self.release_value(r, offset)).0
    }

    pub(crate) fn release_signed(&self, who: &str, r: &Logged, release: &Release) -> (u64, Sha256Digest) {
        self.append(&statements::sign_release(release, &r.digest, &r.commitment, &self.key(who)))
    }

    /// A request by the analyst approved by both groups, at the usual times.
    pub(crate) fn approved(&self, sample: &Sample) -> Logged {
        let r = self.request("analyst", sample, HOUR, false);
        self.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
        self.decide("auditor1", &r, DecisionKind::Approve, 3 * HOUR);
        r
    }

    pub(crate) fn audit(&self, extra: &[&str]) -> (i32, Value, String) {
        self.c.cosign();
        let out = output(
            glassbox()
                .args(["sample", "audit", "--log"])
                .arg(&self.c.log)
                .arg("--policy")
                .arg(&self.c.policy)
                .args(extra),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = if extra.contains(&"--json") {
            serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
        } else {
            Value::Null
        };
        (out.status.code().unwrap(), json, stdout + &String::from_utf8_lossy(&out.stderr))
    }

    /// The audit must exit 1 with exactly one violation: `kind` at `index`.
    pub(crate) fn assert_violation(&self, index: u64, kind: &str) {
        let (code, json, _) = self.audit(&["--json"]);
        let violations: Vec<(u64, String)> = json["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["index"].as_u64().unwrap(), v["kind"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(violations, [(index, kind.to_string())], "{json:#}");
        assert_eq!(code, 1);
        let (code, _, text) = self.audit(&[]);
        assert_eq!(code, 1);
        assert!(text.contains(&format!("entry {index}: {kind}")), "{text}");
    }

    pub(crate) fn receipt(&self, sample: &Sample, name: &str) -> PathBuf {
        let path = self.c.path().join(format!("{name}.json"));
        let receipt = serde_json::json!({
            "_type": "https://glassbox.dev/sample-receipt/v1",
            "commitment": sample.commitment.hex(),
            "salt": glassbox::digest::hex_encode(&sample.salt),
            "log": {"origin": crate::log::ORIGIN, "vkey": self.c.vkey},
            "intake": sample.intake,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&receipt).unwrap()).unwrap();
        path
    }

    pub(crate) fn lookup(&self, receipt: &Path, extra: &[&str]) -> (i32, String, String) {
        self.c.cosign();
        let out = output(
            glassbox().args(["sample", "lookup", "--receipt"]).arg(receipt).arg("--log").arg(&self.c.log).args(extra),
        );
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn a_clean_log_passes_with_exact_counts() {
    let b = Book::new();
    let first = b.intake(3, "a", "center");
    let second = b.intake(2, "b", "center");
    // Anyone may append: an intake signed by no center key is ignored, not a violation.
    b.intake(4, "c", "outsider");
    let released = b.approved(&first[0]);
    b.release("gateway", &released, 4 * HOUR);
    // Approved by one group only, never released, expired.
    let lapsed = b.request("support", &second[1], 5 * HOUR, false);
    b.decide("sec2", &lapsed, DecisionKind::Approve, 7 * HOUR);
    let denied = b.request("analyst", &first[2], 6 * HOUR, false);
    b.decide("auditor2", &denied, DecisionKind::Deny, 8 * HOUR);
    // A break-glass release whose outside approval came within the window.
    let urgent = b.request("analyst", &second[0], 9 * HOUR, true);
    b.decide("sec1", &urgent, DecisionKind::Approve, 10 * HOUR);
    b.release("gateway", &urgent, 11 * HOUR);
    b.decide("auditor1", &urgent, DecisionKind::Approve, 30 * HOUR);

    let (code, json, _) = b.audit(&["--json"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["violations"], serde_json::json!([]));
    // The policy statement, logged before the first request, is the 16th custody entry.
    assert_eq!((json["entries"].as_u64(), json["custodyEntries"].as_u64()), (Some(16), Some(16)));
    assert_eq!(json["policies"][0]["index"], 3, "{json:#}");
    assert_eq!(json["ignored"], serde_json::json!([{"index": 2, "reason": "untrusted"}]), "the outsider's batch");
    let periods = json["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 1, "{json:#}");
    let p = &periods[0];
    assert_eq!(p["period"], "2026-11");
    let counts: Vec<u64> =
        ["samplesIn", "batches", "requests", "approvals", "denials", "invalidations", "expired", "releases"]
            .iter()
            .map(|k| p[*k].as_u64().unwrap())
            .collect();
    assert_eq!(counts, [5, 2, 4, 5, 1, 0, 2, 2], "{p:#}");
    assert_eq!(p["releaseRate"].as_f64(), Some(0.4));
    assert_eq!(p["breakGlass"], serde_json::json!({"requests": 1, "releases": 1}));
    assert_eq!(p["byRole"]["malware-analyst"], serde_json::json!({"requests": 3, "releases": 2}));
    assert_eq!(p["byCountry"]["DE"], serde_json::json!({"requests": 1, "releases": 0}));
    assert_eq!(p["byReason"]["anomaly-manual-review"]["releases"], 2);
    // Latencies (s): 3600, 7200 (released), 7200 (lapsed), 3600 and 75600 (urgent).
    assert_eq!(p["approvalLatency"], serde_json::json!({"count": 5, "p50": 7200, "p90": 75600, "p99": 75600}));

    // One line per decoded custody entry, the outsider's batch included.
    let (code, _, text) = b.audit(&["--jsonl"]);
    assert_eq!(code, 0);
    let lines: Vec<Value> =
        text.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(lines[2]["signer"], Value::Null, "the outsider's batch");
    assert_eq!(lines[4]["kind"], "decision");
    assert!(lines[0]["envelope"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(lines[0]["predicate"]["count"], 3);

    // The human table.
    let (code, _, text) = b.audit(&[]);
    assert_eq!(code, 0);
    assert!(text.contains("2026-11") && text.contains("no violations"), "{text}");
}

#[test]
fn a_release_with_no_request() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    // A proper request is in the log, but the release names one that never was.
    b.approved(&s[0]);
    let request = b.request_value("analyst", &s[0], 2 * HOUR, false);
    let digest = Sha256Digest::of(b"a request never logged");
    let r = Logged { index: u64::MAX, digest, request, commitment: s[0].commitment };
    let index = b.release("gateway", &r, 4 * HOUR);
    b.assert_violation(index, "no-request");
}

#[test]
fn a_release_before_its_approvals() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, false);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    let index = b.release("gateway", &r, 3 * HOUR);
    b.decide("auditor1", &r, DecisionKind::Approve, 4 * HOUR);
    b.assert_violation(index, "missing-approvals");
}

#[test]
fn a_double_release_and_the_time_window() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.approved(&s[0]);
    b.release("gateway", &r, 4 * HOUR);
    let second = b.release("gateway", &r, 5 * HOUR);
    b.assert_violation(second, "already-released");
    // --from/--to restrict what is reported to the statements dated in range.
    let (code, json, _) = b.audit(&["--json", "--from", &at(4 * HOUR + 1)]);
    assert_eq!(code, 1);
    assert_eq!(json["violations"][0]["index"], second);
    assert_eq!(json["periods"][0]["releases"], 1);
    assert_eq!(json["periods"][0]["samplesIn"], 0);
    let (code, json, _) = b.audit(&["--json", "--to", &at(4 * HOUR)]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["periods"][0]["releases"], 1);
    assert_eq!(json["periods"][0]["samplesIn"], 2);
    assert_eq!(json["periods"][0]["approvals"], 2);
    let (code, json, _) = b.audit(&["--json", "--from", "2027-01-01T00:00:00Z"]);
    assert_eq!((code, json["periods"].as_array().unwrap().len()), (0, 0));
    let (code, _, text) = b.audit(&["--from", "yesterday"]);
    assert_eq!(code, 2);
    assert!(text.contains("--from"), "{text}");
}

#[test]
fn an_overdue_break_glass_release() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, true);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    let index = b.release("gateway", &r, 3 * HOUR);
    // The outside auditor approves, but after the 72h window.
    b.decide("auditor1", &r, DecisionKind::Approve, 80 * HOUR);
    b.assert_violation(index, "break-glass-overdue");
}

#[test]
fn a_release_by_a_key_that_is_not_the_gateway_is_ignored() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let r = b.approved(&s[0]);
    // Anyone may append: a stranger's "release" releases nothing and is no violation.
    let index = b.release("outsider", &r, 4 * HOUR);
    let (code, json, _) = b.audit(&["--json"]);
    assert_eq!((code, &json["violations"]), (0, &serde_json::json!([])), "{json:#}");
    assert_eq!(json["ignored"], serde_json::json!([{"index": index, "reason": "untrusted"}]));
    assert_eq!(json["periods"][0]["releases"], 0);
    // The gateway's own release afterwards is the first real one.
    b.release("gateway", &r, 5 * HOUR);
    let (code, json, _) = b.audit(&["--json"]);
    assert_eq!((code, &json["violations"]), (0, &serde_json::json!([])), "{json:#}");
    assert_eq!(json["periods"][0]["releases"], 1);
}

#[test]
fn a_release_of_a_sample_in_no_intake_batch() {
    let b = Book::new();
    let real = b.intake(2, "a", "center");
    // A batch the center never signed, and a request proving its sample against it.
    let forged = b.intake(2, "f", "outsider");
    let _ = real;
    let r = b.approved(&forged[0]);
    let index = b.release("gateway", &r, 4 * HOUR);
    b.assert_violation(index, "not-in-intake");
}

#[test]
fn lookup_answers_for_released_and_unreleased_samples() {
    let b = Book::new();
    let s = b.intake(3, "a", "center");
    let r = b.approved(&s[0]);
    let release = b.release("gateway", &r, 4 * HOUR);
    let policy = b.c.policy.to_str().unwrap().to_string();

    let receipt = b.receipt(&s[0], "released");
    let (code, stdout, stderr) = b.lookup(&receipt, &["--json", "--policy", &policy]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["commitment"], s[0].commitment.prefixed());
    // Every digest of the report is `sha256:<hex>`: the log's root, each request's envelope,
    // each decision's and release's request.
    crate::cli_json::assert_prefixed_digests(&json, &["commitment", "root", "envelope", "request"]);
    assert_eq!(json["requests"][0]["envelope"], r.digest.prefixed(), "{json:#}");
    assert_eq!(json["intakeIndex"], 0);
    assert_eq!(json["intakeTrusted"], true);
    assert_eq!((json["requested"].as_bool(), json["released"].as_bool()), (Some(true), Some(true)));
    let requests = json["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["index"], r.index);
    assert_eq!(requests[0]["trusted"], true);
    assert_eq!(requests[0]["decisions"].as_array().unwrap().len(), 2);
    assert_eq!(requests[0]["releases"][0]["index"], release);
    // Each decision names the approver group that made it.
    let by: Vec<&str> =
        requests[0]["decisions"].as_array().unwrap().iter().map(|d| d["by"].as_str().unwrap()).collect();
    assert_eq!(by, ["vendor-security", "outside-auditor"], "{json:#}");
    let (_, text, _) = b.lookup(&receipt, &["--policy", &policy]);
    assert!(text.contains("(signed by a policy key) by vendor-security"), "{text}");

    let unreleased = b.receipt(&s[1], "unreleased");
    let file = b.c.path().join("mine.bin");
    std::fs::write(&file, &s[1].file).unwrap();
    let (code, stdout, stderr) = b.lookup(&unreleased, &["--json", "--file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((json["requested"].as_bool(), json["released"].as_bool()), (Some(false), Some(false)));
    assert_eq!(json["requests"], serde_json::json!([]));
    assert_eq!(json["fileMatches"], true);
    assert_eq!(json["intakeTrusted"], Value::Null, "no policy: no trust to say");
    // Another file does not open the commitment: a definite no.
    std::fs::write(&file, b"another file").unwrap();
    let (code, stdout, _) = b.lookup(&unreleased, &["--file", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.contains("does NOT open"), "{stdout}");
    let (code, stdout, _) = b.lookup(&receipt, &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("released: YES"), "{stdout}");
    // The wrong file given with a released sample's receipt: the mismatch is said first.
    let (code, stdout, _) = b.lookup(&receipt, &["--file", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    let (mismatch, released) = (stdout.find("does NOT open").unwrap(), stdout.find("released: YES").unwrap());
    assert!(mismatch < released, "{stdout}");
    assert!(stdout.contains("released: YES (the receipt's sample; the file given is not it)"), "{stdout}");
}

#[test]
fn lookup_without_a_policy_shows_two_approvals_of_the_same_second() {
    // Two approvers deciding the same request in the same second sign the same payload; with no
    // policy nobody's key is known, and neither approval may vanish from the answer.
    let b = Book::new();
    let s = b.intake(1, "a", "center");
    let r = b.request("analyst", &s[0], HOUR, false);
    b.decide("sec1", &r, DecisionKind::Approve, 2 * HOUR);
    b.decide("auditor1", &r, DecisionKind::Approve, 2 * HOUR);
    let receipt = b.receipt(&s[0], "same-second");
    let (code, stdout, stderr) = b.lookup(&receipt, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["requests"][0]["decisions"].as_array().unwrap().len(), 2, "{json}");
}

#[test]
fn lookup_refuses_bad_receipts() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let good = b.receipt(&s[0], "good");
    let text = std::fs::read_to_string(&good).unwrap();

    let other = b.c.path().join("other-log.json");
    let elsewhere = glassbox::tlog::note::NoteVerifier::ed25519("elsewhere.example/log", &b.key("outsider").public());
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["log"] = serde_json::json!({"origin": "elsewhere.example/log", "vkey": elsewhere.to_string()});
    std::fs::write(&other, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    let (code, _, stderr) = b.lookup(&other, &["--json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("other-log.json") && stderr.contains("elsewhere.example/log"), "{stderr}");

    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["extra"] = Value::Bool(true);
    for (name, body) in [
        ("unknown-field.json", serde_json::to_string(&value).unwrap()),
        ("short-salt.json", text.replace(&glassbox::digest::hex_encode(&s[0].salt), "abcd")),
        ("not-json.json", "{".to_string()),
    ] {
        let path = b.c.path().join(name);
        std::fs::write(&path, body).unwrap();
        let (code, stdout, stderr) = b.lookup(&path, &["--json"]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        // With --json the refusal is the error object, and nothing else.
        let error: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(error["error"]["exitCode"], 2, "{stdout}");
    }
    // A proof that does not put the commitment in the batch is bad input.
    let wrong = b.receipt(&s[1], "wrong");
    let swapped =
        std::fs::read_to_string(&wrong).unwrap().replace(&s[1].commitment.hex(), &Sha256Digest::of(b"x").hex());
    std::fs::write(&wrong, swapped).unwrap();
    let (code, _, stderr) = b.lookup(&wrong, &[]);
    assert_eq!(code, 2, "{stderr}");
    // A receipt naming an entry that is not its batch is a definite no.
    b.intake(2, "b", "center");
    let mut moved = s[1].clone();
    moved.intake.log_index = 1;
    let moved = b.receipt(&moved, "moved");
    let (code, _, stderr) = b.lookup(&moved, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("intake entry 1"), "{stderr}");
}

/// formats.md section 18, "Receipts": a receipt carries its own log key, so the key lookup
/// verifies the log with must come from elsewhere (the policy or `--vkey`) and the receipt's
/// must equal it; with neither, the answer says the key is the receipt's own, unchecked.
#[test]
fn spec_lookup_checks_the_receipts_log_key_against_one_obtained_independently() {
    let b = Book::new();
    let s = b.intake(1, "a", "center");
    let good = b.receipt(&s[0], "good");
    let policy = b.c.policy.to_str().unwrap().to_string();
    for (extra, source) in
        [(vec![], "receipt"), (vec!["--vkey", &b.c.vkey], "vkey"), (vec!["--policy", &policy], "policy")]
    {
        let (code, stdout, stderr) = b.lookup(&good, &[extra.as_slice(), &["--json"]].concat());
        assert_eq!(code, 0, "{source}: {stderr}");
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["logKey"], source);
    }
    let (_, text, _) = b.lookup(&good, &[]);
    assert!(text.contains("taken from the receipt itself, UNVERIFIED"), "{text}");

    // A receipt naming this log's origin under another key: its writer chose the key.
    let forged = b.c.path().join("forged-key.json");
    let other = glassbox::tlog::note::NoteVerifier::ed25519(crate::log::ORIGIN, &b.key("outsider").public());
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    value["log"]["vkey"] = Value::String(other.to_string());
    std::fs::write(&forged, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    for (extra, names) in
        [(["--policy", &policy], "the policy's [log] vkey"), (["--vkey", &b.c.vkey], "the --vkey given")]
    {
        let (code, stdout, stderr) = b.lookup(&forged, &extra);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("forged-key.json") && stderr.contains(names), "{stderr}");
        assert!(stdout.is_empty());
    }
    // With only the receipt's key, the log's checkpoint does not verify: a definite no.
    let (code, _, stderr) = b.lookup(&forged, &[]);
    assert_eq!(code, 1, "{stderr}");
}
