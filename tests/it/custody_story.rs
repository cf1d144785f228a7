//! The whole custody story on real files, through the CLI only: 1,000 samples taken in, one
//! requested and approved by both groups and released (the Debian `age` tool decrypts it to the
//! original bytes), one denied, the rest never asked for; the audit's counts are exact, the
//! customer's lookup answers for each kind, and no sample's sha256 is anywhere under the log.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::custody_release::operator_appends;
use crate::custody_support::*;
use crate::support::*;

/// The free-text detail of every request in the story.
const DETAIL: &str = "heuristic 4711 fires on a signed installer";

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Signs a request for `commitment` by `requester`, which the log's operator appends; returns
/// the request file.
fn request(center: &Center, commitment: &str, requester: &str, reason: &str, out: &Path) -> PathBuf {
    ok(glassbox()
        .args(["sample", "request", "--store"])
        .arg(&center.store)
        .arg("--policy")
        .arg(&center.policy)
        .args(["--sample", commitment, "--reason", reason, "--detail", DETAIL])
        .args(["--destination", DESTINATION, "--recipient", &center.recipient, "--key"])
        .arg(center.key(requester))
        .arg("--log")
        .arg(&center.log)
        .arg("--out")
        .arg(out));
    operator_appends(center, out);
    out.to_path_buf()
}

fn decide(center: &Center, request: &Path, decision: &[&str], key: &str) {
    let out = request.with_extension(format!("{key}.intoto.jsonl"));
    ok(glassbox()
        .args(["sample", "decide"])
        .arg(request)
        .args(decision)
        .arg("--key")
        .arg(center.key(key))
        .arg("--log")
        .arg(&center.log)
        .arg("--out")
        .arg(&out));
    operator_appends(center, &out);
}

#[test]
fn a_thousand_samples_one_leaves_and_everyone_can_check() {
    let center = Center::new();
    let files = center.sample_files(1000, 2048);
    let list = center.path().join("files.txt");
    std::fs::write(&list, files.iter().map(|f| f.display().to_string() + "\n").collect::<String>()).unwrap();
    let receipts = center.path().join("receipts");
    let intake = json(&ok(glassbox()
        .args(["sample", "intake", "--store"])
        .arg(&center.store)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--log")
        .arg(&center.log)
        .arg("--log-key")
        .arg(&center.log_key)
        .arg("--from-list")
        .arg(&list)
        .arg("--receipts")
        .arg(&receipts)
        .arg("--json")));
    assert_eq!(intake["count"], 1000, "{intake}");
    crate::cli_json::assert_prefixed_digests(&intake, &["root", "commitment"]);
    let samples = intake["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1000);
    let commitment_of = |i: usize| -> String {
        let file = files[i].display().to_string();
        let s = samples.iter().find(|s| s["file"] == file.as_str()).unwrap_or_else(|| panic!("{file} not in {intake}"));
        s["commitment"].as_str().unwrap().to_string()
    };
    // Commitments as the report writes them (`sha256:<hex>`), pasted back as they are into
    // `sample request --sample`; a receipt is named by the bare hex.
    let (released, denied, untouched) = (commitment_of(17), commitment_of(400), commitment_of(999));
    let receipt_of = |commitment: &str| receipts.join(format!("{}.json", report_hex(&Value::from(commitment))));

    // The center publishes its policy (a statement the log's operator appends) before the
    // first request under it.
    let statement = center.path().join("policy.intoto.jsonl");
    let published = json(&ok(glassbox()
        .args(["sample", "policy", "--policy"])
        .arg(&center.policy)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--out")
        .arg(&statement)
        .arg("--json")));
    ok(glassbox().args(["log", "append"]).arg(&center.log).arg("--key").arg(&center.log_key).arg(&statement));

    // One request, approved by one key of each group, released.
    let requests = center.path().join("requests");
    std::fs::create_dir(&requests).unwrap();
    let req = request(&center, &released, "analyst", "anomaly-manual-review", &requests.join("a.intoto.jsonl"));
    // The request carries only a commitment to its detail; the opening stays in the store, and
    // it opens that commitment to the text the requester gave.
    let envelope: glassbox::attest::Envelope =
        serde_json::from_str(std::fs::read_to_string(&req).unwrap().trim_end()).unwrap();
    let statement: Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
    let detail = glassbox::digest::Sha256Digest::from_hex(statement["predicate"]["detail"].as_str().unwrap()).unwrap();
    let store = glassbox::custody::store::SampleStore::open(&center.store, false).unwrap();
    let (salt, text) = store.detail(&detail).unwrap().expect("the store keeps the detail's opening");
    assert_eq!(text, DETAIL);
    assert_eq!(glassbox::custody::commitment::commit_detail(&salt, &text), detail);
    assert!(!statement.to_string().contains(DETAIL), "the request must not carry the detail text");
    drop(store);
    decide(&center, &req, &["--approve"], "sec1");
    decide(&center, &req, &["--approve"], "auditor1");
    let out = center.path().join("out");
    center.cosign();
    let release = json(&ok(glassbox()
        .args(["sample", "release"])
        .arg(&req)
        .arg("--store")
        .arg(&center.store)
        .arg("--policy")
        .arg(&center.policy)
        .arg("--log")
        .arg(&center.log)
        .arg("--log-key")
        .arg(&center.log_key)
        .arg("--key")
        .arg(center.key("gateway"))
        .arg("--out")
        .arg(&out)
        .arg("--json")));
    crate::cli_json::assert_prefixed_digests(
        &release,
        &["request", "commitment", "ciphertext", "releaseEnvelope", "approvals", "root"],
    );
    assert_eq!(release["commitment"], released.as_str(), "the intake's and the release's reports agree: {release}");
    let delivered: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let request_line = std::fs::read_to_string(&req).unwrap();
    let request_digest = glassbox::digest::Sha256Digest::of(request_line.trim_end().as_bytes()).hex();
    assert_eq!(delivered[0], out.join(format!("{request_digest}.age")));
    assert_eq!(release["request"], format!("sha256:{request_digest}"), "{release}");
    let ciphertext = glassbox::digest::Sha256Digest::of(&std::fs::read(&delivered[0]).unwrap());
    assert_eq!(release["ciphertext"], ciphertext.prefixed(), "{release}");
    if have_tool("age", &["--version"]) {
        let plain = ok(std::process::Command::new("age").arg("-d").arg("-i").arg(&center.identity).arg(&delivered[0]));
        assert_eq!(plain.as_bytes(), std::fs::read(&files[17]).unwrap(), "age -d does not give the sample back");
    }

    // Another request, denied by the security team.
    let req_b = request(&center, &denied, "support", "customer-support", &requests.join("b.intoto.jsonl"));
    decide(&center, &req_b, &["--deny", "--why", "not an anomaly"], "sec2");

    // The audit: no violation, exact counts.
    center.cosign();
    let audit = json(&ok(glassbox()
        .args(["sample", "audit", "--log"])
        .arg(&center.log)
        .arg("--policy")
        .arg(&center.policy)
        .arg("--json")));
    assert_eq!(audit["violations"], serde_json::json!([]), "{audit}");
    crate::cli_json::assert_prefixed_digests(&audit, &["root", "policy"]);
    assert_eq!(audit["policies"].as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit["policies"][0]["index"], 1, "{audit}");
    assert_eq!(audit["policies"][0]["policy"], published["policy"], "{audit}");
    let periods = audit["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 1, "{audit}");
    let p = &periods[0];
    for (field, want) in
        [("samplesIn", 1000), ("batches", 1), ("requests", 2), ("approvals", 2), ("denials", 1), ("releases", 1)]
    {
        assert_eq!(p[field], want, "{field} in {p}");
    }
    assert!((p["releaseRate"].as_f64().unwrap() - 0.001).abs() < 1e-12, "{p}");

    // The customer's lookups.
    for (commitment, requested, was_released) in
        [(&released, true, true), (&denied, true, false), (&untouched, false, false)]
    {
        let receipt = receipt_of(commitment);
        let answer = json(&ok(glassbox()
            .args(["sample", "lookup", "--receipt"])
            .arg(&receipt)
            .arg("--log")
            .arg(&center.log)
            .arg("--json")));
        assert_eq!(answer["commitment"], commitment.as_str(), "{answer}");
        crate::cli_json::assert_prefixed_digests(&answer, &["commitment", "root"]);
        assert_eq!(answer["intakeIndex"], 0, "{answer}");
        assert_eq!(
            (answer["requested"].as_bool(), answer["released"].as_bool()),
            (Some(requested), Some(was_released)),
            "{answer}"
        );
    }

    // No sample's sha256 is anywhere under the log, in hex or raw.
    let digests: Vec<[u8; 32]> =
        files.iter().map(|f| glassbox::digest::Sha256Digest::of(&std::fs::read(f).unwrap()).0).collect();
    let log_files = read_all(&center.log);
    assert!(log_files.len() > 5, "{}", log_files.len());
    for (name, bytes) in &log_files {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        for d in &digests {
            let hex = glassbox::digest::hex_encode(d);
            assert!(!text.contains(&hex), "{name} holds a sample's sha256");
            assert!(!bytes.windows(32).any(|w| w == d), "{name} holds a sample's raw sha256");
        }
    }
}
