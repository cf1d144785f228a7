//! The log service with a real witness (`glassbox witness serve`): receipts carry the witness's
//! cosignature, and when the log key signs a second history the witness refuses it and the
//! service publishes nothing that lacks the threshold.

use crate::log::{envelopes, ORIGIN};
use crate::log_service::Service;
use crate::s3_support::Rgw;
use crate::support::*;
use crate::witness_service::{serve as witness_serve, setup as witness_setup};

#[test]
fn a_witness_refuses_the_log_keys_second_history_and_the_service_publishes_nothing_below_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rgw) = Rgw::start() else { return };
    let (key, _) = keypair(dir.path(), "log");
    let mut vkey = String::new();
    for bucket in ["history-a", "history-b"] {
        rgw.create_bucket(bucket);
        let storage = format!("s3://{bucket}/log");
        vkey = ok(glassbox().args(["log", "init", &storage, "--origin", ORIGIN, "--key"]).arg(&key).envs(rgw.env()));
    }
    let vkey = vkey.trim().to_string();
    let ws = witness_setup(dir.path());
    let witness = witness_serve(&ws, &[format!("{ORIGIN}={vkey}")]);
    let wvkey = witness.vkey.to_string();
    let peer = format!("{}={wvkey}", witness.url);
    let flags = ["--witness", peer.as_str(), "--witness-threshold", "1"];
    let a = Service::start(&rgw, "s3://history-a/log", &key, "127.0.0.1:0", &flags);

    // History A grows under the witness: receipts and the published checkpoint are cosigned.
    let batch = dir.path().join("a.jsonl");
    envelopes(&batch, 0, 3);
    let receipts = dir.path().join("receipts");
    let w = ["--witness", wvkey.as_str(), "--witness-threshold", "1"];
    ok(glassbox()
        .args(["log", "append", &a.url, "--vkey", &vkey])
        .args(w)
        .arg("--receipts")
        .arg(&receipts)
        .arg(&batch));
    let receipt = std::fs::read_dir(&receipts).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(&receipt).unwrap().contains(&format!("— {}", witness.vkey.name)));
    ok(glassbox().args(["log", "verify", &a.url, "--vkey", &vkey]).args(w));

    // History B: the same key and origin, other entries. The witness refuses it; the service
    // keeps running but publishes nothing, and the submitter is told why.
    let b = Service::start(&rgw, "s3://history-b/log", &key, "127.0.0.1:0", &flags);
    let other = dir.path().join("b.jsonl");
    envelopes(&other, 100, 1);
    let out = output(glassbox().args(["log", "append", &b.url, "--vkey", &vkey]).args(w).arg(&other));
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 of the 1 needed cosigned"), "{stderr}");
    let published = glassbox::remote::http::get_blocking(
        &format!("{}/checkpoint", b.url),
        1 << 16,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let text = String::from_utf8(published.body).unwrap();
    assert_eq!(text.lines().nth(1), Some("0"), "history B published past its empty tree: {text}");
    assert_ne!(output(glassbox().args(["log", "verify", &b.url, "--vkey", &vkey]).args(w)).status.code(), Some(0));

    // History A is unharmed and keeps growing under the witness.
    let more = dir.path().join("a2.jsonl");
    envelopes(&more, 3, 2);
    ok(glassbox().args(["log", "append", &a.url, "--vkey", &vkey]).args(w).arg(&more));
    let out = ok(glassbox().args(["log", "verify", &a.url, "--vkey", &vkey]).args(w));
    assert!(out.contains("size 5"), "{out}");
}
