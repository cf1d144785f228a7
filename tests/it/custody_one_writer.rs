//! One writer, witnessed (security review 2, R2-D6 and R2-D8): no requester or approver holds
//! the log's key (`sample request` and `sample decide` only sign; the log's operator appends),
//! the gateway judges only under a checkpoint the policy's witnesses cosigned, so a log rewritten
//! by whoever holds the log key is refused, and "already released" is re-checked under the log's
//! append lock, so two gateways on two copies of one store release a request once.

use std::path::Path;
use std::process::Stdio;

use glassbox::attest::custody::DecisionKind;
use glassbox::keys::PrivateKey;
use glassbox::transparency::{store, LogDir, Loggable};

use crate::custody_release::{approve_both, intake, logged_releases, release, release_cmd_on, request_cli};
use crate::custody_support::Center;
use crate::support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn r2_d6_two_gateways_on_two_copies_of_a_store_release_each_request_once() {
    let center = Center::new();
    // Large samples: encryption widens the window between a gateway's judgement and its append.
    let files = center.sample_files(6, 2 << 20);
    let samples = intake(&center, &files);
    let copy = center.path().join("store-copy");
    let mut requests = Vec::new();
    for (commitment, _) in &samples {
        let request = request_cli(&center, commitment, &[], true);
        approve_both(&center, &request);
        requests.push(request);
    }
    // A copy of the store (its ledger, samples and lock file) taken before any release.
    ok(std::process::Command::new("cp").arg("-a").arg(&center.store).arg(&copy));
    for (i, request) in requests.iter().enumerate() {
        center.cosign();
        let children: Vec<_> = [&center.store, &copy]
            .iter()
            .enumerate()
            .map(|(g, store)| {
                release_cmd_on(&center, store, request, &center.path().join(format!("out-{i}-{g}")))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<Option<i32>> =
            children.into_iter().map(|c| c.wait_with_output().unwrap().status.code()).collect();
        assert!(codes.contains(&Some(0)), "request {i}: {codes:?}");
        let delivered: usize = (0..2).map(|g| files_in(&center.path().join(format!("out-{i}-{g}")))).sum();
        assert_eq!(delivered, 1, "request {i} left the center {delivered} times ({codes:?})");
    }
    assert_eq!(logged_releases(&center).len(), requests.len(), "one release entry per request");
}

#[test]
fn r2_d8_requesters_and_approvers_hold_no_log_key() {
    let center = Center::new();
    let files = center.sample_files(1, 100);
    let samples = intake(&center, &files);
    let request = request_cli(&center, &samples[0].0, &[], true);
    for args in
        [vec!["sample", "request", "--log-key", "k"], vec!["sample", "decide", "x", "--approve", "--log-key", "k"]]
    {
        let out = output(glassbox().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--log-key"), "{}", stderr(&out));
    }
    // A decision is signed and written, never appended: the log is unchanged until the
    // operator appends it.
    let size = |c: &Center| LogDir::new(&c.log).read_checkpoint().unwrap().1.size;
    let before = size(&center);
    let decision = center.path().join("decision.intoto.jsonl");
    let printed = ok(glassbox()
        .args(["sample", "decide"])
        .arg(&request)
        .arg("--approve")
        .arg("--key")
        .arg(center.key("sec1"))
        .arg("--log")
        .arg(&center.log)
        .arg("--out")
        .arg(&decision));
    assert!(printed.contains("glassbox log append"), "{printed}");
    assert_eq!(size(&center), before);
    assert!(decision.is_file());
}

#[test]
fn r2_d8_the_gateway_judges_only_under_a_witnessed_checkpoint() {
    let center = Center::new();
    let files = center.sample_files(2, 100);
    let samples = intake(&center, &files);

    // A policy without witnesses: the gateway will not judge at all.
    let witnessed = std::fs::read_to_string(&center.policy).unwrap();
    let bare = witnessed.replace("witnesses = [\"keys/witness.vkey\"]\nwitness_threshold = 1\n", "");
    assert_ne!(bare, witnessed);
    center.write_policy(&bare);
    let early = request_cli(&center, &samples[1].0, &[], true);
    approve_both(&center, &early);
    let out = center.path().join("unwitnessed-out");
    let refused = release(&center, &early, &out);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("witness"), "{}", stderr(&refused));
    assert_eq!(files_in(&out), 0);
    center.write_policy(&witnessed);

    // A request approved by both groups and denied by the vendor's other key; the witness
    // cosigns the log with the denial in it. The gateway has not synced since.
    let request = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &request);
    let denial = glassbox::custody::request::sign_decision(
        &glassbox::custody::request::read_request_structure(&request).unwrap(),
        DecisionKind::Deny,
        "not an anomaly",
        &PrivateKey::read(&center.key("sec2")).unwrap(),
        glassbox::time::Timestamp(1_800_000_000),
    )
    .unwrap();
    let log_key = PrivateKey::read(&center.log_key).unwrap();
    let log = LogDir::new(&center.log);
    store::append(&log, &log_key, &[Loggable::from_envelope(&denial, "denial").unwrap()]).unwrap();
    assert!(center.cosign());

    // Whoever holds the log key rebuilds the log from every logged envelope but the denial,
    // under the same origin and key, and swaps it in.
    let size = log.read_checkpoint().unwrap().1.size;
    let lines = log.envelopes(0, size, size).unwrap();
    let denial_line = Loggable::from_envelope(&denial, "denial").unwrap().envelope_line;
    let kept: Vec<Loggable> = lines
        .iter()
        .map(|l| String::from_utf8(l.clone()).unwrap())
        .filter(|l| *l != denial_line)
        .map(|l| Loggable::from_line(&l, "rewrite").unwrap())
        .collect();
    assert_eq!(kept.len() as u64, size - 1);
    let rewritten = center.path().join("rewritten");
    store::init(&LogDir::new(&rewritten), crate::log::ORIGIN, &log_key).unwrap();
    store::append(&LogDir::new(&rewritten), &log_key, &kept).unwrap();
    std::fs::remove_dir_all(&center.log).unwrap();
    std::fs::rename(&rewritten, &center.log).unwrap();

    // The witness will not cosign the rewritten history, and the gateway will not judge it.
    assert!(!center.cosign(), "the witness cosigned a rewritten log");
    let out = center.path().join("out");
    let refused = release(&center, &request, &out);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("witness"), "{}", stderr(&refused));
    assert_eq!(files_in(&out), 0);
}
