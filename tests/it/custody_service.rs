//! The custody story against the log service: the log in a real bucket (Ceph RGW) behind
//! `glassbox log serve`, a real `glassbox witness serve` cosigning every published checkpoint,
//! and a policy whose `[log]` requires that witness. No process but the service holds the log
//! key (it is used only to create the log): the policy, the requests and the decisions are
//! submitted with `glassbox log append URL`, the intake and the gateway submit their own
//! statements to the service, and every custody command reads the log by its URL.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::custody_support::*;
use crate::log::ORIGIN;
use crate::log_service::{bucket_log, Service};
use crate::support::*;
use crate::witness_service::{serve as witness_serve, setup as witness_setup};

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// What every submitter passes: the log's key and the witness the receipt must carry.
struct Submit {
    url: String,
    vkey: String,
    witness: String,
}

impl Submit {
    /// `glassbox log append URL FILE`, without any key, the receipt checked.
    fn append(&self, file: &Path) {
        ok(glassbox()
            .args(["log", "append", &self.url, "--vkey", &self.vkey])
            .args(["--witness", &self.witness, "--witness-threshold", "1"])
            .arg(file));
    }
}

#[test]
fn the_custody_story_runs_against_the_log_service_a_witness_and_a_bucket() {
    let center = Center::new();
    // The service's own directory: the log key lives here, and only `log serve` is given it.
    let service_dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, log_key, vkey)) = bucket_log(service_dir.path(), "custody") else { return };
    let ws = witness_setup(service_dir.path());
    let witness = witness_serve(&ws, &[format!("{ORIGIN}={vkey}")]);
    let peer = format!("{}={}", witness.url, witness.vkey);
    let service =
        Service::start(&rgw, &storage, &log_key, "127.0.0.1:0", &["--witness", &peer, "--witness-threshold", "1"]);
    let url = service.url.clone();
    let submit = Submit { url: url.clone(), vkey: vkey.clone(), witness: witness.vkey.to_string() };

    // The center's policy names this log's key and this witness, threshold 1.
    std::fs::write(center.keys.join("log.vkey"), format!("{vkey}\n")).unwrap();
    std::fs::write(center.keys.join("witness.vkey"), format!("{}\n", witness.vkey)).unwrap();
    center.write_policy(&center.policy_text(""));

    // Intake, submitted to the service; a --log-key with a URL is refused (the service holds it).
    let files = center.sample_files(3, 1024);
    let receipts = center.path().join("receipts");
    let refused = output(
        glassbox()
            .args(["sample", "intake", "--store"])
            .arg(&center.store)
            .arg("--key")
            .arg(center.key("center"))
            .args(["--log", &url, "--log-key"])
            .arg(center.key("outsider"))
            .args(&files),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds the log's key"), "{refused:?}");
    let intake = json(&ok(glassbox()
        .args(["sample", "intake", "--store"])
        .arg(&center.store)
        .arg("--key")
        .arg(center.key("center"))
        .args(["--log", &url, "--vkey", &vkey, "--receipts"])
        .arg(&receipts)
        .arg("--json")
        .args(&files)));
    assert_eq!(intake["logIndex"], 0, "{intake}");
    let commitment = |i: usize| report_hex(&intake["samples"][i]["commitment"]);
    let (released, untouched) = (commitment(1), commitment(2));
    assert!(receipts.join(format!("{released}.json")).is_file());

    // The center publishes its policy; anyone submits it.
    let statement = center.path().join("policy.intoto.jsonl");
    ok(glassbox()
        .args(["sample", "policy", "--policy"])
        .arg(&center.policy)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--out")
        .arg(&statement));
    submit.append(&statement);

    // A request and two approvals, each read against the log by URL and submitted by its signer.
    let request = center.path().join("request.intoto.jsonl");
    ok(glassbox()
        .args(["sample", "request", "--store"])
        .arg(&center.store)
        .arg("--policy")
        .arg(&center.policy)
        .args(["--sample", &released, "--reason", "anomaly-manual-review", "--detail", "heuristic 4711"])
        .args(["--destination", DESTINATION, "--recipient", &center.recipient, "--key"])
        .arg(center.key("analyst"))
        .args(["--log", &url, "--out"])
        .arg(&request));
    submit.append(&request);
    for approver in ["sec1", "auditor1"] {
        let decision = center.path().join(format!("{approver}.intoto.jsonl"));
        ok(glassbox()
            .args(["sample", "decide"])
            .arg(&request)
            .arg("--approve")
            .arg("--key")
            .arg(center.key(approver))
            .args(["--log", &url, "--out"])
            .arg(&decision));
        submit.append(&decision);
    }

    // The gateway submits its release (no log key) and delivers only once it holds a receipt
    // at a checkpoint the witness cosigned.
    let out_dir = center.path().join("out");
    let release = || {
        let mut cmd = glassbox();
        cmd.args(["sample", "release"])
            .arg(&request)
            .arg("--store")
            .arg(&center.store)
            .arg("--policy")
            .arg(&center.policy)
            .args(["--log", &url, "--key"])
            .arg(center.key("gateway"))
            .arg("--out")
            .arg(&out_dir)
            .arg("--json");
        cmd
    };
    let done = json(&ok(&mut release()));
    assert_eq!(done["outcome"], "released", "{done}");
    assert_eq!(done["releaseIndex"], 5, "{done}");
    let request_hex =
        glassbox::digest::Sha256Digest::of(std::fs::read_to_string(&request).unwrap().trim_end().as_bytes()).hex();
    let delivered = out_dir.join(format!("{request_hex}.age"));
    let ciphertext = std::fs::read(&delivered).unwrap();
    let identity: age::x25519::Identity = std::fs::read_to_string(&center.identity).unwrap().trim().parse().unwrap();
    let plain = age::decrypt(&identity, &ciphertext).unwrap();
    assert_eq!(plain, std::fs::read(&files[1]).unwrap(), "the release does not decrypt to the sample");
    if have_tool("age", &["--version"]) {
        let out = ok(std::process::Command::new("age").arg("-d").arg("-i").arg(&center.identity).arg(&delivered));
        assert_eq!(out.as_bytes(), std::fs::read(&files[1]).unwrap().as_slice());
    }
    // The receipt the gateway held: the release's entry under a checkpoint the witness cosigned.
    let proof =
        std::fs::read_to_string(center.store.join("releases").join(format!("{request_hex}.tlog-proof"))).unwrap();
    assert!(proof.contains(&format!("— {}", witness.vkey.name)), "{proof}");
    // Released once: the same command again only confirms the delivery.
    assert_eq!(json(&ok(&mut release()))["outcome"], "already-delivered");

    // A gateway given the log key with the URL is refused before it judges.
    let keyed = output(release().arg("--log-key").arg(center.key("outsider")));
    assert_eq!(keyed.status.code(), Some(2), "{}", String::from_utf8_lossy(&keyed.stderr));

    // The audit, by URL: clean, one release.
    let audit =
        json(&ok(glassbox().args(["sample", "audit", "--log", &url, "--policy"]).arg(&center.policy).arg("--json")));
    assert_eq!(audit["violations"], serde_json::json!([]), "{audit}");
    let p = &audit["periods"][0];
    for (field, want) in [("samplesIn", 3), ("requests", 1), ("approvals", 2), ("releases", 1)] {
        assert_eq!(p[field], want, "{field} in {audit}");
    }

    // The customers' lookups, by URL, verified with the policy's log key and witness.
    for (commitment, was_released) in [(&released, true), (&untouched, false)] {
        let receipt: PathBuf = receipts.join(format!("{commitment}.json"));
        let answer = json(&ok(glassbox()
            .args(["sample", "lookup", "--receipt"])
            .arg(&receipt)
            .args(["--log", &url, "--policy"])
            .arg(&center.policy)
            .arg("--json")));
        assert_eq!(answer["intakeIndex"], 0, "{answer}");
        assert_eq!(answer["released"].as_bool(), Some(was_released), "{answer}");
    }
    let lookup = json(&ok(glassbox()
        .args(["sample", "lookup", "--receipt"])
        .arg(receipts.join(format!("{released}.json")))
        .args(["--log", &url, "--file"])
        .arg(&files[1])
        .arg("--json")));
    assert_eq!(lookup["fileMatches"], true, "{lookup}");
    drop(service);
}
