//! `glassbox rebuilder follow | work | status` on a real nats-server: every provenance in the
//! log becomes one job per rebuilding organisation, each organisation's workers log exactly one
//! verdict per provenance, and `verify` counts verdicts that are only in the log. Workers killed
//! mid-build, builds longer than the ack deadline, follower and server restarts, hostile jobs
//! and a center that hides a release from its own follower.

use std::path::Path;
use std::time::{Duration, Instant};

use glassbox::attest::{Envelope, SLSA_VSA_V1};
use glassbox::keys::PrivateKey;
use glassbox::rebuilder::queue::Queue;
use glassbox::rebuilder::Job;

use crate::log::envelopes;
use crate::rebuilder_support::*;
use crate::support::*;

const WORKERS_LIMIT: Duration = Duration::from_secs(600);

/// The log's verdict entries, as (index, signer key ids, subjects' names).
fn verdict_entries(w: &World) -> Vec<serde_json::Value> {
    let listed: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list", &w.service.url, "--json", "--type", SLSA_VSA_V1])))
            .unwrap();
    listed["entries"].as_array().unwrap().clone()
}

fn outcomes(outputs: &[Vec<serde_json::Value>]) -> Vec<&serde_json::Value> {
    outputs.iter().flatten().collect()
}

#[test]
fn two_rebuilders_rebuild_every_release_once_and_verify_counts_verdicts_only_in_the_log() {
    let Some(w) = World::new() else { return };
    let all = releases();
    let noise = w.dir.path().join("noise.jsonl");
    envelopes(&noise, 0, 3);
    w.append(&noise);
    let mut indices = Vec::new();
    for release in &all.quick {
        indices.extend(w.append(&release.provenance));
    }
    envelopes(&noise, 3, 3);
    w.append(&noise);
    let (k1, p1) = w.rebuilder_key("r1");
    let (k2, p2) = w.rebuilder_key("r2");
    for stream in ["org1", "org2"] {
        let round = w.follow(stream, &[]);
        assert_eq!((round["provenances"].as_u64(), round["published"].as_u64()), (Some(4), Some(4)), "{round}");
    }
    // Each of org1's jobs published a second time under another message id: its two workers,
    // sharing one key, may build a provenance at once, and still log one verdict for it.
    let queue = Queue::connect(&w.nats.url, "org1", None).unwrap();
    let origin = crate::log::ORIGIN.to_string();
    let listed: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list", &w.service.url, "--json"]))).unwrap();
    for (n, i) in indices.iter().enumerate() {
        let provenance = listed["entries"][*i as usize]["entry"]["envelope"].as_str().unwrap().to_string();
        let job = Job { log: origin.clone(), index: *i, provenance };
        assert!(queue.republish(&job, &format!("again-{n}")).unwrap());
    }
    let reports = w.dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let mut c = w.worker("org2", "pool", &k2, "c");
    c.arg("--reports").arg(&reports);
    let outputs =
        run_workers(vec![w.worker("org1", "pool", &k1, "a"), w.worker("org1", "pool", &k1, "b"), c], WORKERS_LIMIT);
    let handled = outcomes(&outputs);
    assert_eq!(handled.len(), 12, "{handled:?}");
    let logged: Vec<_> = handled.iter().filter(|h| h["outcome"] == "logged").collect();
    assert_eq!(logged.len(), 8, "{handled:?}");
    assert!(logged.iter().all(|h| h["result"] == "PASSED" && h["verdictIndex"].is_u64()), "{logged:?}");
    assert_eq!(handled.iter().filter(|h| h["outcome"] == "alreadyJudged").count(), 4, "{handled:?}");

    // Exactly one verdict per provenance per rebuilder, in the log.
    let verdicts = verdict_entries(&w);
    assert_eq!(verdicts.len(), 8, "{verdicts:?}");
    // Each of r2's verdicts names its build log, which its worker kept under its digest.
    let kept: Vec<String> =
        std::fs::read_dir(&reports).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(kept.iter().filter(|n| n.ends_with(".log")).count(), 4, "{kept:?}");
    for name in &kept {
        let bytes = std::fs::read(reports.join(name)).unwrap();
        assert_eq!(format!("{}.log", glassbox::digest::Sha256Digest::of(&bytes).hex()), *name);
        assert!(String::from_utf8_lossy(&bytes).contains("Compiling rel"), "{}", String::from_utf8_lossy(&bytes));
    }
    let status = w.status("org1", &[&p1, &p2]);
    assert_eq!(status["queue"]["jobs"], 8, "{status}");
    assert_eq!(status["queue"]["followed"], indices.last().unwrap() + 1 + 3, "{status}");
    let releases_seen = status["releases"].as_array().unwrap();
    crate::cli_json::assert_prefixed_digests(&status["releases"], &["provenance"]);
    assert_eq!(releases_seen.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), indices);
    for r in releases_seen {
        let results: Vec<&str> =
            r["verdicts"].as_array().unwrap().iter().map(|v| v["result"].as_str().unwrap()).collect();
        assert_eq!(results, ["PASSED", "PASSED"], "{r}");
    }
    let consumer = &status["queue"]["consumers"][0];
    assert_eq!((consumer["pending"].as_u64(), consumer["inProgress"].as_u64()), (Some(0), Some(0)), "{status}");
    let text = ok(glassbox()
        .args(["rebuilder", "status", "--queue", &w.nats.url, "--stream", "org2", "--log", &w.service.url])
        .arg("--policy")
        .arg(w.policy(&[&p1, &p2], 2)));
    assert!(text.contains("4 job(s), 0 dead-lettered") && text.contains("rel3-0.1.0"), "{text}");

    // verify with a policy requiring both rebuilders and the log: the release's attestations
    // hold no verdict at all; they are found in the log.
    let policy = w.policy(&[&p1, &p2], 2);
    for release in &all.quick {
        assert!(!walkdir::WalkDir::new(&release.att).into_iter().any(|e| e
            .unwrap()
            .path()
            .to_string_lossy()
            .contains(".rebuild.")));
        let out = output(
            glassbox()
                .arg("verify")
                .arg(&release.binary)
                .arg("--policy")
                .arg(&policy)
                .arg("--attestations")
                .arg(&release.att)
                .args(["--log", &w.service.url]),
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("log entry"), "{said}");
    }
    // A third rebuilder required: not enough verdicts, rejected.
    let (_, p3) = w.rebuilder_key("r3");
    let out = output(
        glassbox()
            .arg("verify")
            .arg(&all.quick[0].binary)
            .arg("--policy")
            .arg(w.policy(&[&p1, &p2, &p3], 3))
            .arg("--attestations")
            .arg(&all.quick[0].att)
            .args(["--log", &w.service.url]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));

    // The followers again: nothing new; from the start again: every job dropped as a repeat.
    assert_eq!(w.follow("org1", &[])["published"], 0);
    assert_eq!(w.follow("org1", &["--from-index", "0"])["published"], 0);
    // A new consumer sees every job again (from the stream's start): nothing is signed twice.
    let outputs = run_workers(vec![w.worker("org1", "again", &k1, "d")], WORKERS_LIMIT);
    let again = outcomes(&outputs);
    assert_eq!(again.len(), 8, "{again:?}");
    assert!(again.iter().all(|h| h["outcome"] == "alreadyJudged"), "{again:?}");
    assert_eq!(verdict_entries(&w).len(), 8);
}

/// Waits until `dir` holds an entry (a build root being staged).
fn wait_for_entry(dir: &Path, limit: Duration) {
    let started = Instant::now();
    while std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none()) {
        assert!(started.elapsed() < limit, "no build started in {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_worker_killed_mid_build_is_replaced_and_a_long_build_is_delivered_once() {
    let Some(w) = World::new() else { return };
    let slow = &releases().slow;
    let index = w.append(&slow.provenance)[0];
    let (k1, p1) = w.rebuilder_key("killed");
    let (k2, p2) = w.rebuilder_key("patient");
    assert_eq!(w.follow("kill", &[])["published"], 1);
    assert_eq!(w.follow("long", &[])["published"], 1);

    // SIGKILL while the build script sleeps: the job comes back after the ack deadline (2 s)
    // and the other worker finishes it. Exactly one verdict for this key.
    let mut first = w.worker("kill", "pool", &k1, "first");
    let mut child = first.args(["--ack-wait", "2"]).spawn().unwrap();
    wait_for_entry(&w.dir.path().join("first-builds"), Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(1));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut second = w.worker("kill", "pool", &k1, "second");
    second.args(["--ack-wait", "2"]);
    let outputs = run_workers(vec![second], WORKERS_LIMIT);
    let handled = outcomes(&outputs);
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(
        (handled[0]["outcome"].as_str(), handled[0]["delivered"].as_u64()),
        (Some("logged"), Some(2)),
        "{handled:?}"
    );

    // A build more than twice as long as the ack deadline (3 s), with progress reports: delivered once,
    // and the idle worker beside it gets nothing.
    let mut busy = w.worker("long", "pool", &k2, "busy");
    busy.args(["--ack-wait", "3"]);
    let mut idle = w.worker("long", "pool", &k2, "idle");
    idle.args(["--ack-wait", "3"]);
    let outputs = run_workers(vec![busy, idle], WORKERS_LIMIT);
    let handled = outcomes(&outputs);
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(
        (handled[0]["outcome"].as_str(), handled[0]["delivered"].as_u64()),
        (Some("logged"), Some(1)),
        "{handled:?}"
    );
    let status = w.status("long", &[&p1, &p2]);
    assert_eq!(status["queue"]["consumers"][0]["redelivered"], 0, "{status}");
    let verdicts = &status["releases"][0]["verdicts"];
    assert_eq!(
        (verdicts[0]["result"].as_str(), verdicts[1]["result"].as_str()),
        (Some("PASSED"), Some("PASSED")),
        "{status}"
    );
    assert_eq!(verdict_entries(&w).len(), 2);
    assert_eq!(status["releases"][0]["index"], index);
    ok(glassbox().args(["log", "audit", &w.service.url, "--vkey", &w.vkey]));
}

#[test]
fn followers_and_the_server_restart_without_losing_or_repeating_a_job() {
    let Some(mut w) = World::new() else { return };
    let all = releases();
    for release in &all.quick[..3] {
        w.append(&release.provenance);
    }
    assert_eq!(w.follow("org", &[])["published"], 3);
    // A follower killed in its loop and started again goes on from the stream's mark.
    let mut looping = glassbox();
    looping.args(["rebuilder", "follow", "--log", &w.service.url, "--vkey", &w.vkey, "--queue", &w.nats.url]).args([
        "--stream",
        "org",
        "--interval",
        "1",
    ]);
    let mut child = looping.stdout(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(w.follow("org", &[])["published"], 0);

    // The server stops and starts again: the stream (file storage) still holds every job.
    w.nats.restart();
    w.append(&all.quick[3].provenance);
    let round = w.follow("org", &[]);
    assert_eq!((round["published"].as_u64(), round["provenances"].as_u64()), (Some(1), Some(1)), "{round}");
    let (key, public) = w.rebuilder_key("r");
    let status = w.status("org", &[&public]);
    assert_eq!(status["queue"]["jobs"], 4, "{status}");
    let outputs = run_workers(vec![w.worker("org", "pool", &key, "a")], WORKERS_LIMIT);
    assert_eq!(outcomes(&outputs).iter().filter(|h| h["outcome"] == "logged").count(), 4, "{outputs:?}");

    // The mark names a tree the log does not have (a rewritten log, or mark): refused.
    let queue = Queue::connect(&w.nats.url, "org", None).unwrap();
    queue
        .save_mark(&glassbox::rebuilder::Mark { log: crate::log::ORIGIN.into(), size: 2, root: "00".repeat(32) })
        .unwrap();
    let out = output(
        glassbox()
            .args(["rebuilder", "follow", "--log", &w.service.url, "--vkey", &w.vkey, "--queue", &w.nats.url])
            .args(["--stream", "org", "--once"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rewritten"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hostile_and_unanswerable_jobs_end_in_the_dead_letter_subject_not_a_crash_loop() {
    let Some(w) = World::new() else { return };
    let all = releases();
    // A provenance the rebuilder does not trust: the builder's payload re-signed by a stranger.
    let text = std::fs::read_to_string(&all.quick[0].provenance).unwrap();
    let original = &Envelope::parse_all(&text, "p").unwrap()[0];
    let stranger =
        Envelope::sign(&original.payload_type, &original.payload_bytes().unwrap(), &PrivateKey::from_seed(&[7; 32]));
    let strange = w.dir.path().join("stranger.jsonl");
    std::fs::write(&strange, format!("{}\n", stranger.to_line())).unwrap();
    let untrusted = w.append(&strange)[0];
    // A release whose bundle in the sources is another release's source.
    let swapped = w.append(&all.quick[1].provenance)[0];
    std::fs::copy(w.sources.join("rel3-0.1.0-src.tar.gz"), w.sources.join("rel2-0.1.0-src.tar.gz")).unwrap();
    // A release whose source bundle is missing: it cannot be answered.
    let missing = w.append(&all.quick[3].provenance)[0];
    std::fs::remove_file(w.sources.join("rel4-0.1.0-src.tar.gz")).unwrap();
    assert_eq!(w.follow("org", &[])["published"], 3);
    // A job the follower never published: a lie about an entry.
    let queue = Queue::connect(&w.nats.url, "org", None).unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    queue.publish_jobs(&[Job { log: crate::log::ORIGIN.into(), index: swapped, provenance: digest }]).unwrap();

    let (key, public) = w.rebuilder_key("r");
    let mut worker = w.worker("org", "pool", &key, "a");
    worker.args(["--max-deliver", "2"]);
    let outputs = run_workers(vec![worker], WORKERS_LIMIT);
    let handled = outcomes(&outputs);
    let dead: Vec<_> = handled.iter().filter(|h| h["outcome"] == "deadLettered").collect();
    assert_eq!(dead.len(), 4, "{handled:?}");
    let reason = |index: u64| {
        dead.iter()
            .filter(|h| h["job"]["index"] == index)
            .map(|h| h["reason"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(reason(untrusted).contains("no signature by a --trust key"), "{}", reason(untrusted));
    assert!(reason(missing).contains("rel4-0.1.0-src.tar.gz"), "{}", reason(missing));
    let retried = handled.iter().filter(|h| h["outcome"] == "retried" && h["job"]["index"] == missing).count();
    assert_eq!(retried, 1, "an unanswerable job is retried until --max-deliver: {handled:?}");
    assert!(reason(swapped).contains("is not the provenance"), "{}", reason(swapped));
    assert!(handled.iter().all(|h| h["outcome"] != "logged"), "{handled:?}");

    let status = w.status("org", &[&public]);
    assert_eq!(status["queue"]["dead"], 4, "{status}");
    assert_eq!(status["deadLetters"].as_array().unwrap().len(), 4, "{status}");
    assert!(status["releases"].as_array().unwrap().iter().all(|r| r["verdicts"][0]["result"] == "NOT YET"), "{status}");
    assert!(verdict_entries(&w).is_empty());
}

#[test]
fn a_release_the_centers_follower_skips_is_still_rebuilt_by_an_outside_follower() {
    let Some(w) = World::new() else { return };
    let all = releases();
    let first = w.append(&all.quick[0].provenance)[0];
    let hidden = w.append(&all.quick[1].provenance)[0];
    // The center's follower is started past the release it would rather nobody rebuilt.
    let center = w.follow("center", &["--from-index", &(hidden + 1).to_string()]);
    assert_eq!(center["provenances"], 0, "{center}");
    // An outside organisation follows the public log itself, from its start.
    assert_eq!(w.follow("outside", &[])["published"], 2);
    let (key, public) = w.rebuilder_key("outside");
    let outputs = run_workers(vec![w.worker("outside", "pool", &key, "o")], WORKERS_LIMIT);
    assert_eq!(outcomes(&outputs).iter().filter(|h| h["outcome"] == "logged").count(), 2, "{outputs:?}");
    let status = w.status("outside", &[&public]);
    let rebuilt: Vec<u64> = status["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdicts"][0]["result"] == "PASSED")
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rebuilt, [first, hidden], "{status}");
}
