//! `glassbox site` (the generator only; the browser's checks are `site_browser`): a small log
//! written with the library (a release with a provenance, two PASSED verdicts by one rebuilder
//! and a FAILED one by an outsider with its mismatch report, a review, a hostile release only in
//! the log with a FAILED verdict by each of the two rebuilders, and a custody run), the site
//! generated twice and checked with Python's html.parser and json, the log's bundles and
//! sha256sum.

use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox::attest::custody::{
    CheckpointRef, Decision, DecisionKind, Intake, IntakeRef, Period, Release, Request, Requester, BATCH_TREE,
};
use glassbox::attest::review::{Component, Finding, Review, Reviewer, Scope};
use glassbox::attest::{Envelope, ResourceDescriptor, Statement, REVIEW_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use glassbox::custody::commitment::{commit, commit_detail, BatchTree};
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::transparency::{store, LogDir, Loggable};
use serde_json::{json, Value};

use crate::custody_support::{Center, DESTINATION};
use crate::support::*;

pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
/// When the witness cosigned (2026-11-10T00:00:00Z).
const COSIGNED: u64 = 1_794_268_800;
const HOSTILE_SUBJECT: &str = "x86_64-unknown-linux-gnu/<script>alert(1)</script>";

/// The inputs of a site.
pub(crate) struct Story {
    pub c: Center,
    pub attestations: PathBuf,
    pub provenance: Sha256Digest,
    failed: Sha256Digest,
    source: Sha256Digest,
    binary: Sha256Digest,
    /// The rebuilders' verdicts: avscan's PASSED by `rebuilder` in the directory and the one only
    /// in the log (logged first), the hostile release's FAILED by `rebuilder` only in the log and
    /// by `rebuilder2` in the directory with its mismatch report.
    passed: Sha256Digest,
    passed_first: Sha256Digest,
    evil_failed: Sha256Digest,
    pub evil_failed_report: Sha256Digest,
}

pub(crate) fn key(c: &Center, name: &str) -> PrivateKey {
    PrivateKey::read(&c.key(name)).unwrap()
}

pub(crate) fn provenance(
    component: &str,
    source: &Sha256Digest,
    subjects: Vec<ResourceDescriptor>,
) -> Statement<Value> {
    let predicate = json!({
        "buildDefinition": {
            "buildType": "https://glassbox.dev/cargo-build/v1",
            "externalParameters": {
                "source": {"name": "source", "uri": format!("{component}-src.tar.gz"),
                           "digest": {"sha256": source.hex(), "gitCommit": "0123456789abcdef0123456789abcdef01234567"}},
                "manifestPath": "Cargo.toml", "packages": [], "profile": "release", "target": TARGET, "features": []
            },
            "internalParameters": {
                "sourceDateEpoch": 1, "environment": {}, "rustflags": [], "cargoArgs": [], "umask": "022",
                "bundle": {"format": "tar.gz", "gzipLevel": 9, "gzipMtime": 0, "entryOrder": "name"}, "dirty": false
            },
            "resolvedDependencies": []
        },
        "runDetails": {
            "builder": {"id": "https://glassbox.dev/builders/local/v1", "version": {}},
            "metadata": {"invocationId": "x", "startedOn": "2026-11-01T00:00:00Z", "finishedOn": "2026-11-01T00:01:00Z"},
            "byproducts": []
        }
    });
    Statement::new(subjects, SLSA_PROVENANCE_V1, predicate)
}

fn verdict(
    subjects: Vec<ResourceDescriptor>,
    provenance: &Sha256Digest,
    result: &str,
    extra: Value,
) -> Statement<Value> {
    // The bundle rebuilt, as `glassbox rebuild` names it: the subject that is one.
    let bundle = subjects.iter().filter_map(|d| d.name.clone()).find(|n| n.ends_with(".tar.gz")).unwrap_or_default();
    let mut predicate = json!({
        "verifier": {"id": "https://glassbox.dev/rebuilders/local/v1", "version": {}},
        "timeVerified": "2026-11-03T12:00:00Z",
        "resourceUri": bundle,
        "inputAttestations": [{"name": "p", "digest": {"sha256": provenance.hex()}}],
        "verificationResult": result,
        "reproduction": extra,
    });
    predicate["policy"] = json!({"uri": "https://glassbox.dev/policies/bit-for-bit-rebuild/v1"});
    Statement::new(subjects, SLSA_VSA_V1, predicate)
}

pub(crate) fn append(log: &Path, log_key: &PrivateKey, envelopes: &[&Envelope]) -> Vec<u64> {
    let items: Vec<Loggable> = envelopes.iter().map(|e| Loggable::from_envelope(e, "test").unwrap()).collect();
    store::append(&LogDir::new(log), log_key, &items).unwrap().added.iter().map(|a| a.0).collect()
}

fn write_lines(path: &Path, envelopes: &[&Envelope]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = envelopes.iter().map(|e| format!("{}\n", e.to_line())).collect();
    std::fs::write(path, text).unwrap();
}

/// A log and an attestations directory holding one release and a custody run.
pub(crate) fn story() -> Story {
    let c = Center::new();
    for name in ["vendor", "rebuilder", "rebuilder2", "reviewer"] {
        keypair(&c.keys, name);
    }
    let mut policy = c.policy_text("");
    policy.push_str(
        "\n[builders]\nkeys = [\"keys/vendor.pub\"]\n[rebuilds]\nkeys = [\"keys/rebuilder.pub\", \"keys/rebuilder2.pub\"]\nrequired = 1\n\
         [reviews]\nkeys = [\"keys/reviewer.pub\"]\nrequired = 1\n",
    );
    let witness = PrivateKey::from_seed(&[5; 32]);
    let w = glassbox::tlog::note::NoteVerifier::cosignature_v1("witness.example/w1", &witness.public());
    std::fs::write(c.keys.join("w1.vkey"), w.to_string()).unwrap();
    // A second witness beside the test center's own (whose cosignature `site` adds first).
    let policy = policy.replacen(
        "witnesses = [\"keys/witness.vkey\"]",
        "witnesses = [\"keys/witness.vkey\", \"keys/w1.vkey\"]",
        1,
    );
    c.write_policy(&policy);
    let log_key = PrivateKey::read(&c.log_key).unwrap();
    let attestations = c.path().join("attestations");
    let dir = attestations.join("avscan/0.1.0");

    let source = Sha256Digest::of(b"source");
    let binary = Sha256Digest::of(b"binary");
    let subjects = vec![
        ResourceDescriptor::named(format!("{TARGET}/avscan"), binary),
        ResourceDescriptor::named(HOSTILE_SUBJECT, Sha256Digest::of(b"odd")),
        ResourceDescriptor::named(format!("avscan-0.1.0-{TARGET}.tar.gz"), Sha256Digest::of(b"bundle")),
    ];
    let prov = provenance("avscan-0.1.0", &source, subjects.clone()).sign(&key(&c, "vendor"));
    write_lines(&dir.join(format!("{TARGET}.provenance.intoto.jsonl")), &[&prov]);
    let passed = verdict(subjects.clone(), &prov.digest(), "PASSED", json!({})).sign(&key(&c, "rebuilder"));
    write_lines(&dir.join(format!("{TARGET}.rebuild.rebuilder.intoto.jsonl")), &[&passed]);
    // A FAILED verdict by a key the policy does not trust, with its mismatch report beside it.
    let report = glassbox::diff::diff_bytes("avscan", b"one\x00two", b"one\x00six").unwrap();
    let report_bytes = serde_json::to_vec(&json!([{"name": format!("{TARGET}/avscan"), "report": report}])).unwrap();
    std::fs::write(dir.join("mismatch.json"), &report_bytes).unwrap();
    let differences =
        json!({"differences": {"name": "mismatch.json", "digest": {"sha256": Sha256Digest::of(&report_bytes).hex()}}});
    let failed = verdict(subjects.clone(), &prov.digest(), "FAILED", differences.clone()).sign(&key(&c, "outsider"));
    write_lines(&dir.join(format!("{TARGET}.rebuild.outsider.intoto.jsonl")), &[&failed]);
    let review = Review {
        reviewer: Reviewer { keyid: key(&c, "reviewer").public().key_id().to_string(), name: String::new() },
        criteria: "safe-to-deploy".into(),
        scope: Scope::Full,
        component: Component { name: "avscan".into(), version: "0.1.0".into() },
        findings: vec![Finding {
            path: "src/main.rs".into(),
            line: 3,
            severity: "low".into(),
            text: "<b>odd</b> & more".into(),
        }],
        notes: String::new(),
        time_reviewed: "2026-11-02T00:00:00Z".into(),
    };
    let subject = ResourceDescriptor::named("avscan-0.1.0 source", source);
    let review = Statement::new(vec![subject], REVIEW_V1, &review).sign(&key(&c, "reviewer"));
    write_lines(&dir.join("review.reviewer.intoto.jsonl"), &[&review]);
    // A release only in the log, by nobody the policy trusts, whose name is no file name (it
    // starts with a dot). (A name with a `/` is no release's at all: `plain_release_name`.)
    let evil_subjects = vec![
        ResourceDescriptor::named(format!("{TARGET}/evil"), Sha256Digest::of(b"evil binary")),
        ResourceDescriptor::named(format!(".evil-1.0-{TARGET}.tar.gz"), Sha256Digest::of(b"evil")),
    ];
    let evil = provenance(".evil-1.0", &source, evil_subjects.clone()).sign(&key(&c, "outsider"));
    // The rebuilders' other verdicts: a PASSED of avscan only in the log, logged before the
    // directory's; the hostile release rebuilt by both rebuilders and FAILED, once only in the
    // log (so no report beside it) and once in the directory with its mismatch report.
    let first = verdict(subjects.clone(), &prov.digest(), "PASSED", json!({"attempt": 1})).sign(&key(&c, "rebuilder"));
    let evil_failed =
        verdict(evil_subjects.clone(), &evil.digest(), "FAILED", differences.clone()).sign(&key(&c, "rebuilder"));
    let evil_dir = attestations.join("evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    std::fs::write(evil_dir.join("mismatch.json"), &report_bytes).unwrap();
    let evil_failed_report = verdict(evil_subjects, &evil.digest(), "FAILED", differences).sign(&key(&c, "rebuilder2"));
    write_lines(&evil_dir.join("evil.rebuild.rebuilder2.intoto.jsonl"), &[&evil_failed_report]);
    append(&c.log, &log_key, &[&prov, &first, &passed, &failed, &review, &evil, &evil_failed, &evil_failed_report]);

    custody(&c, &log_key);
    // The witness cosigns the final checkpoint.
    let mut note = glassbox::tlog::note::Note::parse(&std::fs::read(c.log.join("checkpoint")).unwrap()).unwrap();
    note.add_signature(glassbox::tlog::checkpoint::cosign(&note.text, "witness.example/w1", &witness, COSIGNED));
    std::fs::write(c.log.join("checkpoint"), note.to_bytes()).unwrap();
    Story {
        c,
        attestations,
        provenance: prov.digest(),
        failed: failed.digest(),
        source,
        binary,
        passed: passed.digest(),
        passed_first: first.digest(),
        evil_failed: evil_failed.digest(),
        evil_failed_report: evil_failed_report.digest(),
    }
}

/// Intake of two samples; the first one requested, approved by both groups and released.
fn custody(c: &Center, log_key: &PrivateKey) {
    let at = |h: i64| glassbox::time::Timestamp(1_793_613_600 + h * 3600).rfc3339();
    let commitments: Vec<Sha256Digest> = (0..2u8).map(|i| commit(&[i; 32], &Sha256Digest::of(&[i]))).collect();
    let batch = BatchTree::new(commitments.clone()).unwrap();
    let intake = Intake {
        batch_id: "0".repeat(32),
        count: 2,
        period: Period { start: at(-1), end: at(0) },
        merkle_root: batch.root().hex(),
        tree: BATCH_TREE.into(),
    };
    let intake_env = statements::sign_intake(&intake, &batch.root(), &key(c, "center"));
    let index = append(&c.log, log_key, &[&intake_env])[0];
    let leaf = batch.position(&commitments[0]).unwrap();
    let request = Request {
        request_id: "1".repeat(32),
        intake: IntakeRef {
            log_index: index,
            envelope: intake_env.digest().prefixed(),
            batch_root: batch.root().hex(),
            batch_size: batch.len(),
            leaf_index: leaf,
            proof: batch.proof(leaf).unwrap().iter().map(Sha256Digest::hex).collect(),
        },
        reason: "anomaly-manual-review".into(),
        detail: commit_detail(&[7; 32], "looks odd").hex(),
        requester: Requester { role: "malware-analyst".into(), country: "CH".into() },
        destination: DESTINATION.into(),
        recipient: c.recipient.clone(),
        requested_at: at(1),
        expires_at: at(72),
        break_glass: false,
        policy: c.publish_policy().prefixed(),
    };
    let req = statements::sign_request(&request, &commitments[0], &key(c, "analyst"));
    append(&c.log, log_key, &[&req]);
    let mut approvals = Vec::new();
    for (who, h) in [("sec1", 2), ("auditor1", 3)] {
        let d = Decision {
            request: req.digest().prefixed(),
            decision: DecisionKind::Approve,
            why: String::new(),
            decided_at: at(h),
        };
        let approval = statements::sign_decision(&d, &req.digest(), &commitments[0], &key(c, who));
        approvals.push(approval.digest().prefixed());
        append(&c.log, log_key, &[&approval]);
    }
    // The claims a gateway makes: the checkpoint it judged under and the approvals counted there.
    let (_, checkpoint) = glassbox::transparency::LogDir::new(&c.log).read_checkpoint().unwrap();
    let release = Release {
        request: req.digest().prefixed(),
        approvals,
        break_glass: false,
        destination: DESTINATION.into(),
        recipient: c.recipient.clone(),
        released_at: at(4),
        checkpoint: CheckpointRef { size: checkpoint.size, root: Sha256Digest(checkpoint.root).hex() },
        ciphertext: Sha256Digest::of(b"ciphertext").prefixed(),
    };
    append(&c.log, log_key, &[&statements::sign_release(&release, &req.digest(), &commitments[0], &key(c, "gateway"))]);
}

pub(crate) fn site(s: &Story, out: &Path, extra: &[&str]) -> std::process::Output {
    s.c.cosign();
    output(
        glassbox()
            .arg("site")
            .arg("--attestations")
            .arg(&s.attestations)
            .arg("--log")
            .arg(&s.c.log)
            .arg("--policy")
            .arg(&s.c.policy)
            .arg("--out")
            .arg(out)
            .args(extra),
    )
}

/// What Python's html.parser sees in a page: statement rows and their status cells, ids,
/// scripts, and the glassbox-data block.
const PARSE: &str = r#"
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows = []; self.ids = []; self.scripts = []; self.data = None; self.in_data = False
        self.cur = None; self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.append(a['id'])
        if tag == 'script':
            self.scripts.append(a)
            self.in_data = a.get('id') == 'glassbox-data'
        if tag == 'tr' and 'data-statement' in a:
            self.cur = {'row': a['data-statement'], 'status': 0, 'cells': []}
            self.rows.append(self.cur)
        if tag == 'td' and self.cur is not None:
            if 'gb-status' in (a.get('class') or '').split(): self.cur['status'] += 1
            self.cur['cells'].append('')
            self.cur.setdefault('attrs', []).append(a)
    def handle_endtag(self, tag):
        if tag == 'tr': self.cur = None
        if tag == 'script': self.in_data = False
    def handle_data(self, d):
        self.text.append(d)
        if self.in_data: self.data = json.loads(d)
        elif self.cur is not None and self.cur['cells']: self.cur['cells'][-1] += d
out = {}
for path in sys.argv[1:]:
    p = P(); p.feed(open(path, encoding='utf-8').read()); p.close()
    out[path] = {'rows': p.rows, 'ids': p.ids, 'scripts': p.scripts, 'data': p.data, 'text': ''.join(p.text)}
print(json.dumps(out))
"#;

fn parse_pages(out: &Path) -> Option<Value> {
    if !have_tool("python3", &["--version"]) {
        return None;
    }
    let mut pages = Vec::new();
    for entry in walkdir::WalkDir::new(out).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "html") {
            pages.push(entry.into_path());
        }
    }
    let o = output(Command::new("python3").arg("-c").arg(PARSE).args(&pages));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn the_site_shows_every_statement_with_a_record_and_is_deterministic() {
    let s = story();
    let (one, two) = (s.c.path().join("site1"), s.c.path().join("site2"));
    for out in [&one, &two] {
        let o = site(&s, out, &["--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(read_all(&one), read_all(&two), "two runs, different directories: the same bytes");
    let summary: Value = serde_json::from_slice(&site(&s, &one, &["--json"]).stdout).unwrap();
    assert_eq!(summary["releases"], 2, "{summary}");

    let release = one.join(format!("releases/avscan-0.1.0-{TARGET}.html"));
    let text = std::fs::read_to_string(&release).unwrap();
    for needle in [
        s.binary.hex(),
        s.source.hex(),
        "0123456789abcdef0123456789abcdef01234567".into(),
        "PASSED".into(),
        "FAILED".into(),
        "safe-to-deploy".into(),
    ] {
        assert!(text.contains(&needle), "the release page shows {needle}");
    }
    assert!(!text.contains("<script>alert") && text.contains("&lt;script&gt;alert(1)"), "names are escaped");
    assert!(text.contains("&lt;b&gt;odd&lt;/b&gt; &amp; more"));
    assert!(text.contains(&format!("../reports/{}.html", s.failed.hex())));
    assert!(one.join(format!("reports/{}.html", s.failed.hex())).is_file());
    let index = std::fs::read_to_string(one.join("index.html")).unwrap();
    assert!(index.contains("<td class=\"gb-positive\">accepted</td>") && index.contains("custody.html"), "{index}");
    assert!(index.contains(&format!("<time class=\"gb-age\" data-unix=\"{COSIGNED}\"")), "{index}");
    assert!(index.contains("witness.example/w1"), "the witnesses that cosigned");
    // The hostile release's page is named by a digest, and nothing is written outside the site.
    let releases: Vec<String> = std::fs::read_dir(one.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(releases.len(), 2, "{releases:?}");
    assert!(releases.iter().any(|r| r.starts_with("release-")), "{releases:?}");
    assert!(
        !one.join("releases/.evil-1.0-x86_64-unknown-linux-gnu.html").exists()
            && !s.c.path().join("evil-1.0").exists()
            && !one.parent().unwrap().join("evil-1.0-x86_64-unknown-linux-gnu.html").exists()
    );
    assert_eq!(std::fs::read(one.join("verify.js")).unwrap(), glassbox::site::VERIFY_JS.as_bytes());
    assert_eq!(std::fs::read_dir(one.join("custody/lookup")).unwrap().count(), 256);

    if have_tool("sha256sum", &["--version"]) {
        let o = output(Command::new("sh").arg("-c").arg("sha256sum envelopes/*.json").current_dir(&one));
        let listing = String::from_utf8(o.stdout).unwrap();
        assert!(
            o.status.success() && listing.lines().count() == 12,
            "8 release statements, and a sample release with its request and two approvals (intakes are read \
             from the log): {listing}"
        );
        for line in listing.lines() {
            let (hex, name) = line.split_once("  ").unwrap();
            assert_eq!(name, format!("envelopes/{hex}.json"), "each envelope copy is named by its sha256");
        }
    }
    let Some(pages) = parse_pages(&one) else { return };
    let size = glassbox::transparency::LogDir::new(&s.c.log).read_checkpoint().unwrap().1.size;
    assert_eq!(size, 14, "thirteen statements and the custody policy's");
    let bundle = std::fs::read(s.c.log.join(glassbox::tlog::tiles::entries_path(0, size))).unwrap();
    for (path, page) in pages.as_object().unwrap() {
        let scripts = page["scripts"].as_array().unwrap();
        if path.contains("/reports/") {
            assert!(scripts.is_empty(), "{path}: the report page (glassbox diff --html's) has no script");
            continue;
        }
        let data = &page["data"];
        assert_eq!(data["version"], 1, "{path}");
        assert!(page["ids"].as_array().unwrap().contains(&json!("gb-banner")), "{path}");
        assert_eq!(scripts.len(), 2, "{path}: the data block and the module, nothing else");
        let records = data["statements"].as_array().unwrap();
        let rows = page["rows"].as_array().unwrap();
        for row in rows {
            assert_eq!(row["status"], 1, "{path}: one status cell per row");
            assert!(records.iter().any(|r| r["row"] == row["row"]), "{path}: row {} has a record", row["row"]);
            // Both texts are written; the page's <noscript> style shows the second only without
            // JavaScript (tests/it/site_browser.rs sees which one a reader sees).
            assert_eq!(row["cells"].as_array().unwrap().last().unwrap(), "checking…not checked (JavaScript is off)");
            // R2-D2: every other cell is one verify.js checks (a claim, the log index, the signer,
            // the envelope link) or is marked as not checked; a claim cell shows the payload's value.
            let record = records.iter().find(|r| r["row"] == row["row"]).unwrap();
            let copy = std::fs::read(one.join(record["envelopeUrl"].as_str().unwrap())).unwrap();
            let envelope: Envelope = serde_json::from_slice(&copy).unwrap();
            let payload: Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
            let cells = row["cells"].as_array().unwrap();
            for (cell, attrs) in cells.iter().zip(row["attrs"].as_array().unwrap()) {
                let class = attrs["class"].as_str().unwrap_or_default();
                let checked = ["data-claim", "data-log-index", "data-signer", "data-envelope"]
                    .iter()
                    .any(|a| attrs.get(*a).is_some());
                assert!(
                    checked || class.contains("gb-status") || class.contains("gb-unverified"),
                    "{path}: a cell neither checked nor marked: {cell} {attrs}"
                );
                if let (Some(claim), None) = (attrs["data-claim"].as_str(), attrs.get("data-format")) {
                    let value = payload.pointer(&format!("/{}", claim.replace('.', "/")));
                    assert_eq!(cell.as_str().unwrap(), glassbox::site::shown(value), "{path}: {claim}");
                }
                if attrs.get("data-log-index").is_some() {
                    assert_eq!(cell.as_str().unwrap(), record["logIndex"].to_string(), "{path}");
                }
            }
        }
        for r in records {
            assert!(rows.iter().any(|row| row["row"] == r["row"]), "{path}: record {} has rows", r["row"]);
            let hex = r["envelope"].as_str().unwrap();
            let copy = std::fs::read(one.join(r["envelopeUrl"].as_str().unwrap())).unwrap();
            assert_eq!(Sha256Digest::of(&copy).hex(), hex, "the envelope copy is the logged line");
            let (Some(offset), Some(len)) = (r["entryOffset"].as_u64(), r["entryLength"].as_u64()) else {
                panic!("{path}: every statement shown here is logged: {r}")
            };
            let (offset, len) = (offset as usize, len as usize);
            assert_eq!(u16::from_be_bytes([bundle[offset], bundle[offset + 1]]) as usize, len);
            let entry: Value = serde_json::from_slice(&bundle[offset + 2..offset + 2 + len]).unwrap();
            assert_eq!(entry["envelope"], format!("sha256:{hex}"), "{path}: the span is this statement's entry");
            // Every claim is what the signed payload says.
            let envelope: Envelope = serde_json::from_slice(&copy).unwrap();
            let payload: Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
            for claim in r["claims"].as_array().unwrap() {
                let pointer = format!("/{}", claim["path"].as_str().unwrap().replace('.', "/"));
                assert_eq!(payload.pointer(&pointer), Some(&claim["value"]), "{path}: {claim}");
            }
        }
        if path.ends_with(&format!("avscan-0.1.0-{TARGET}.html")) {
            let prov = records.iter().find(|r| r["envelope"] == s.provenance.hex()).unwrap();
            assert!(prov["claims"]
                .as_array()
                .unwrap()
                .contains(&json!({"path": "subject.0.digest.sha256", "value": s.binary.hex()})));
            assert_eq!(prov["keys"].as_array().unwrap().len(), 1, "the builder keys of the policy");
            let failed = records.iter().find(|r| r["envelope"] == s.failed.hex()).unwrap();
            assert!(failed["claims"]
                .as_array()
                .unwrap()
                .contains(&json!({"path": "predicate.verificationResult", "value": "FAILED"})));
        }
        if path.ends_with("custody.html") {
            for id in ["gb-receipt", "gb-receipt-check", "gb-receipt-answer"] {
                assert!(page["ids"].as_array().unwrap().contains(&json!(id)), "{id}");
            }
            for id in ["gb-receipt-file", "release-13"] {
                assert!(page["ids"].as_array().unwrap().contains(&json!(id)), "{id}");
            }
            assert_eq!(records.len(), 4, "one release, its request and its two approvals");
            let roles: Vec<&str> = records.iter().map(|r| r["role"].as_str().unwrap()).collect();
            assert_eq!(
                roles,
                [
                    "gateway",
                    "requester (malware-analyst, CH)",
                    "approver (vendor-security)",
                    "approver (outside-auditor, outside the vendor)"
                ],
                "the release first, then its request and approvals, each trusting the keys the policy gives \
                 that role, group or country"
            );
            let text = page["text"].as_str().unwrap();
            for needle in ["break-glass released", "By requester's country", "Choose your receipt file"] {
                assert!(text.contains(needle), "{needle}");
            }
            assert!(page["text"].as_str().unwrap().contains("50.00%"), "one of two samples released");
        }
    }
    let intakes: Value = serde_json::from_slice(&std::fs::read(one.join("custody/intakes/0.json")).unwrap()).unwrap();
    assert_eq!(intakes[0]["logIndex"], 8, "{intakes}");
    // An intake batch has no copy on the site: its record names the line in the log's bundle.
    assert_eq!(intakes[0]["envelopeUrl"], Value::Null, "{intakes}");
    let bundle = std::fs::read(s.c.log.join(glassbox::transparency::LogDir::envelopes_path(0, size))).unwrap();
    let (offset, len) =
        (intakes[0]["envelopeOffset"].as_u64().unwrap(), intakes[0]["envelopeLength"].as_u64().unwrap());
    let line = &bundle[offset as usize..(offset + len) as usize];
    assert_eq!(
        Sha256Digest::of(line).hex(),
        intakes[0]["envelope"].as_str().unwrap(),
        "the range is the intake's line"
    );
    assert_eq!(bundle.get((offset + len) as usize), Some(&b'\n'), "a whole line");
}

/// The rows of rebuilds.html, each `(release page stem, [cell HTML per rebuilder column])`.
fn rebuild_matrix(html: &str) -> Vec<(String, Vec<String>)> {
    html.split("<tr data-release=\"")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>\n").unwrap_or(row.len())];
            let (file, rest) = row.split_once('"').unwrap();
            (file.to_string(), rest.split("<td data-rebuilder=\"").skip(1).map(String::from).collect())
        })
        .collect()
}

#[test]
fn the_rebuilds_page_shows_each_release_against_each_rebuilder() {
    let s = story();
    let out = s.c.path().join("site");
    let o = site(&s, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("rebuilds.html")).unwrap();
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let release = std::fs::read_to_string(out.join(format!("releases/avscan-0.1.0-{TARGET}.html"))).unwrap();
    assert!(index.contains("<a href=\"rebuilds.html\">Rebuilds</a>"), "the index links the page");
    assert!(release.contains("href=\"../rebuilds.html\""), "a release page links it");

    // One column per [rebuilds] key, in the policy's order, headed by key id and name (the
    // policy's file name without its directory: no operator path is published).
    let ids = ["rebuilder", "rebuilder2"].map(|n| key(&s.c, n).public().key_id());
    let head = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
    let at = |needle: &str| head.find(needle).unwrap_or_else(|| panic!("no {needle} in {head}"));
    assert!(at(ids[0].short()) < at(">rebuilder<") && at(">rebuilder<") < at(ids[1].short()));
    assert!(at(ids[1].short()) < at(">rebuilder2<") && !head.contains("keys/"), "{head}");
    assert_eq!(head.matches("</th>").count(), 3, "the release and two rebuilders: {head}");

    // One row per release: the hostile one (named by a digest) sorts first.
    let rows = rebuild_matrix(&html);
    let files: Vec<&str> = rows.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("release-") && files[1] == format!("avscan-0.1.0-{TARGET}"), "{files:?}");
    for (_, cells) in &rows {
        assert_eq!(cells.len(), 2, "a cell per rebuilder: {cells:?}");
        assert!(cells[0].starts_with(ids[0].as_str()) && cells[1].starts_with(ids[1].as_str()), "{cells:?}");
    }
    let (evil, avscan) = (&rows[0].1, &rows[1].1);
    let report = Sha256Digest::of(&std::fs::read(s.attestations.join("evil/mismatch.json")).unwrap()).hex();
    let contains = |cell: &str, needles: &[String]| {
        for needle in needles {
            assert!(cell.contains(needle.as_str()), "{needle} is not in {cell}");
        }
    };
    // avscan by rebuilder: the first PASSED in log order (the one only in the log), and one more.
    contains(
        &avscan[0],
        &[
            format!("<tr data-statement=\"s-{}-k0\">", s.passed_first.hex()),
            "<td class=\"gb-positive\" data-claim=\"predicate.verificationResult\">PASSED</td>".into(),
            "<td data-log-index>1</td>".into(),
            "and 1 more by this key: see the release page</a>".into(),
            format!("<td data-signer>{} (rebuilder), trusted rebuilder</td>", &ids[0].as_str()[..16]),
        ],
    );
    assert!(!avscan[0].contains(&s.passed.hex()), "only the first verdict is shown");
    // avscan by rebuilder2: none, and the status says absence is not checked.
    contains(&avscan[1], &["<tr data-absent>".into(), ">not yet</td>".into(), ">not checked: absence</td>".into()]);
    assert!(!avscan[1].contains("data-statement"), "{}", avscan[1]);
    // The hostile release by rebuilder: FAILED, only in the log, so the report digest it names.
    contains(
        &evil[0],
        &[
            format!("<tr data-statement=\"s-{}-k0\">", s.evil_failed.hex()),
            ">FAILED</td>".into(),
            format!("<td data-claim=\"predicate.reproduction.differences.digest.sha256\"><code>{report}</code></td>"),
            "<td data-log-index>6</td>".into(),
        ],
    );
    assert!(!evil[0].contains("mismatch report") && !evil[0].contains(" more "), "{}", evil[0]);
    // By rebuilder2: FAILED, in the directory with its report beside it, so the report's link.
    let href = format!("reports/{}.html", s.evil_failed_report.hex());
    contains(
        &evil[1],
        &[
            format!("<tr data-statement=\"s-{}-k1\">", s.evil_failed_report.hex()),
            ">FAILED</td>".into(),
            format!("<a href=\"{href}\">mismatch report</a>"),
            "<td data-log-index>7</td>".into(),
        ],
    );
    assert!(out.join(&href).is_file());
    assert!(!html.contains(&s.failed.hex()), "a verdict by a key the policy does not trust has no column");

    // A record per verdict cell, trusting only its column's key, claiming what the cell shows.
    let start = html.find("id=\"glassbox-data\">").unwrap() + 19;
    let data: Value = serde_json::from_str(&html[start..start + html[start..].find("</script>").unwrap()]).unwrap();
    let records = data["statements"].as_array().unwrap();
    let want = [
        (s.evil_failed, 0, "rebuilder", "FAILED"),
        (s.evil_failed_report, 1, "rebuilder2", "FAILED"),
        (s.passed_first, 0, "rebuilder", "PASSED"),
    ];
    for ((digest, column, path, result), r) in want.iter().zip(records) {
        assert_eq!(r["row"], format!("s-{}-k{column}", digest.hex()), "{r}");
        assert_eq!((r["envelope"].as_str(), r["role"].as_str()), (Some(digest.hex().as_str()), Some("rebuilder")));
        assert_eq!(r["keys"].as_array().unwrap().len(), 1, "{r}");
        let signer = (r["keys"][0]["name"].as_str(), r["keys"][0]["keyid"].as_str());
        assert_eq!(signer, (Some(*path), Some(ids[*column].as_str())), "{r}");
        assert_eq!(r["claims"][0], json!({"path": "predicate.verificationResult", "value": result}), "{r}");
    }
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["claims"][1]["value"], report.as_str(), "the digest cell's claim");
    assert_eq!(records[1]["claims"].as_array().unwrap().len(), 1, "a report link claims nothing");
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let s = story();
    let file = s.c.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let link = s.c.path().join("a-link");
    std::os::unix::fs::symlink(s.c.path().join("elsewhere"), &link).unwrap();
    for (out, needle) in [(&file, "a-file"), (&link, "a-link")] {
        let o = site(&s, out, &[]);
        assert_eq!(o.status.code(), Some(2), "{needle}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(!s.c.path().join("elsewhere").exists(), "nothing written through the symlink");
    // A symlink to a directory, named with a trailing `/` or `/.` (which the kernel follows).
    let target = s.c.path().join("a-dir");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, s.c.path().join("a-dir-link")).unwrap();
    for named in ["a-dir-link/", "a-dir-link/."] {
        let o = site(&s, &s.c.path().join(named), &[]);
        assert_eq!(o.status.code(), Some(2), "{named}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("a-dir-link"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "nothing written through the symlink");
    for url in ["javascript:alert(1)/", "log", "\"><script>/", "https:///"] {
        let o = site(&s, &s.c.path().join("out"), &["--log-url", url]);
        assert_eq!(o.status.code(), Some(2), "{url}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--log-url"), "{url}");
    }
    // A log whose checkpoint another key signed does not verify.
    let other = PrivateKey::from_seed(&[9; 32]);
    let cp = std::fs::read_to_string(s.c.log.join("checkpoint")).unwrap();
    let text = cp.split("\n\n").next().unwrap().to_string() + "\n";
    let note = glassbox::tlog::note::Note::sign(&text, glassbox_origin(&cp), &other).unwrap();
    std::fs::write(s.c.log.join("checkpoint"), note.to_bytes()).unwrap();
    let o = site(&s, &s.c.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&s.c.log.display().to_string()) && err.contains("does not verify"), "{err}");
    assert!(!s.c.path().join("out").exists(), "nothing written for a log that does not verify");
}

/// Issue 22: the published pages name no operator path (the policy's key files, the attestation
/// files, the directories the site was generated from); `glassbox site` says where the log must
/// go next, and refuses a layout that would fail every page.
#[test]
fn the_site_carries_no_operator_path_and_says_what_to_do_next() {
    let s = story();
    let out = s.c.path().join("site");
    let o = site(&s, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let copy = out.join("log");
    assert!(
        stdout.contains(&format!("next: the pages fetch the log from {}/", copy.display()))
            && stdout.contains(&format!("cp -a {}/. {}/", s.c.log.display(), copy.display()))
            && stdout.contains("HTTPS"),
        "{stdout}"
    );
    let summary: Value = serde_json::from_slice(&site(&s, &out, &["--json"]).stdout).unwrap();
    assert_eq!(
        (&summary["logUrl"], &summary["logCopy"], &summary["logCopyPresent"]),
        (&json!("log/"), &json!("log"), &json!(false))
    );

    // No operator path in any page, nor in the custody data the receipt box reads.
    let policy = std::fs::read_to_string(&s.c.policy).unwrap();
    let key_paths: Vec<&str> = policy.split('"').filter(|p| p.starts_with("keys/")).collect();
    assert!(key_paths.len() >= 8, "{key_paths:?}");
    let temp = s.c.path().display().to_string();
    let temp_name = s.c.path().file_name().unwrap().to_string_lossy().to_string();
    for (rel, bytes) in read_all(&out) {
        // site.json is `glassbox verify --json`'s verdicts for machines (formats.md section 19),
        // which name the statements' files under the attestations directory; the pages and the
        // data they read name none. Neither names a key file or the operator's directories.
        let is_page = rel.ends_with(".html") || rel.starts_with("custody/");
        if !is_page && rel != "site.json" {
            continue;
        }
        // The one path a page names on purpose: where the vendor's repository keeps the log key,
        // for the reader to compare (docs/site.md).
        let text = String::from_utf8_lossy(&bytes).replace("<code>attestations/keys/log.vkey</code>", "");
        let statement_files: &[&str] = if is_page { &[".intoto.jsonl"] } else { &["keyPath"] };
        let needles = key_paths.iter().copied().chain([temp.as_str(), temp_name.as_str(), "/tmp/"]);
        for needle in needles.chain(statement_files.iter().copied()) {
            assert!(!text.contains(needle), "{rel} shows the operator's {needle:?}");
        }
    }
    // The mismatch report says which side is which, not the rebuilder's paths, and links back.
    let report = std::fs::read_to_string(out.join(format!("reports/{}.html", s.failed.hex()))).unwrap();
    assert!(report.contains("published: x86_64-unknown-linux-gnu/avscan") && report.contains("rebuilt: "), "{report}");
    assert!(report.contains(&format!("href=\"../releases/avscan-0.1.0-{TARGET}.html\"")), "{report}");
    assert!(report.contains("this browser does not check this page"), "{report}");

    // With the log copied beside the site, the next step is only to serve it.
    let cp = Command::new("cp").arg("-a").arg(&s.c.log).arg(&copy).status().unwrap();
    assert!(cp.success());
    let o = site(&s, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("the log is already at {}", copy.display())));
    let o = site(&s, &out, &["--log-url", "https://log.example/glassbox/"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("the pages fetch the log from https://log.example/glassbox/"));

    // Layouts that would fail every page: refused (exit 2), nothing written.
    let fresh = s.c.path().join("fresh");
    let other = s.c.path().join("fresh/log");
    ok(glassbox().args(["log", "init"]).arg(&other).args(["--origin", "other.example/log", "--key"]).arg(&s.c.log_key));
    for (url, needle) in [
        ("http://log.example/glassbox/", "https://"),
        ("./", "the site's own root"),
        ("envelopes/log/", "which glassbox site writes"),
        ("log/", "holds the log \"other.example/log\""),
    ] {
        let o = site(&s, &fresh, &["--log-url", url]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains("--log-url") && err.contains(needle), "{url}: {err}");
        assert!(!fresh.join("index.html").exists(), "{url}: nothing written");
    }
}

fn glassbox_origin(checkpoint: &str) -> &str {
    checkpoint.lines().next().unwrap()
}

#[test]
fn without_a_samples_policy_there_is_no_custody_page() {
    let s = story();
    let text = std::fs::read_to_string(&s.c.policy).unwrap();
    // The same policy without its [samples] tables: the custody entries are then not audited.
    let kept: Vec<&str> =
        text.split("\n[").filter(|t| !t.starts_with("samples") && !t.starts_with("[samples")).collect();
    let policy = kept.join("\n[");
    assert!(!policy.contains("samples") && policy.contains("[builders]"), "{policy}");
    s.c.write_policy(&policy);
    let out = s.c.path().join("site");
    let o = site(&s, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("custody.html").exists() && !out.join("custody").exists());
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!index.contains("custody.html") && index.contains("<td class=\"gb-positive\">accepted</td>"), "{index}");
}
