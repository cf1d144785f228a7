//! `glassbox log`: a transparency log of attestations in C2SP formats. Appends survive SIGKILL
//! at any instant and racing appenders; every byte of every file is authenticated; a witness
//! refuses a forked log.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use glassbox::attest::{ResourceDescriptor, Statement};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;

use crate::support::*;

pub(crate) const ORIGIN: &str = "example.com/glassbox-test-log";

/// A log under `dir/log` with its key; returns (log dir, key file, verifier key string).
pub(crate) fn new_log(dir: &Path) -> (PathBuf, PathBuf, String) {
    let (key, _) = keypair(dir, "log");
    let log = dir.join("log");
    let vkey = ok(glassbox().args(["log", "init"]).arg(&log).args(["--origin", ORIGIN, "--key"]).arg(&key));
    let vkey = vkey.trim().to_string();
    assert!(vkey.starts_with(&format!("{ORIGIN}+")), "{vkey}");
    (log, key, vkey)
}

/// Appends the envelopes of `file` to `log`, which must succeed.
pub(crate) fn append_ok(log: &Path, key: &Path, file: &Path) -> String {
    ok(glassbox().args(["log", "append"]).arg(log).arg("--key").arg(key).arg(file))
}

/// Writes `count` distinct signed envelopes (one per line) to `path`, numbered from `first`.
pub(crate) fn envelopes(path: &Path, first: usize, count: usize) -> Vec<String> {
    let key = PrivateKey::from_seed(&[42; 32]);
    let lines: Vec<String> = (first..first + count)
        .map(|i| {
            let subject = ResourceDescriptor::named(format!("artifact-{i}"), Sha256Digest::of(&i.to_le_bytes()));
            Statement::new(vec![subject], "https://example.com/test/v1", serde_json::json!({"n": i}))
                .sign(&key)
                .to_line()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines
}

/// `log append --json` of `file` to `log`, which must succeed.
pub(crate) fn append_json(log: &Path, key: &Path, file: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(glassbox().args(["log", "append"]).arg(log).arg("--key").arg(key).arg(file).arg("--json")))
        .unwrap()
}

pub(crate) fn verify(log: &Path, vkey: &str) -> std::process::Output {
    output(glassbox().args(["log", "verify"]).arg(log).args(["--vkey", vkey]))
}

pub(crate) fn audit(log: &Path, vkey: &str) -> std::process::Output {
    output(glassbox().args(["log", "audit"]).arg(log).args(["--vkey", vkey]))
}

pub(crate) fn size(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log.join("checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn append_prove_check_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("batch.jsonl");
    envelopes(&file, 0, 300);
    append_ok(&log, &key, &file);
    assert_eq!(size(&log), 300);
    // Appending the same envelopes again adds nothing.
    let again = ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(&file).arg("--json"));
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["added"].as_array().unwrap().len(), 0);
    assert_eq!(again["alreadyLogged"].as_array().unwrap().len(), 300);
    assert_eq!(size(&log), 300);
    assert!(
        log.join("tile/0/000").is_file()
            && log.join("tile/0/001.p/44").is_file()
            && log.join("tile/1/000.p/1").is_file()
    );
    assert!(log.join("tile/entries/000").is_file() && log.join("tile/entries/001.p/44").is_file());
    assert!(log.join("envelopes/000").is_file() && log.join("envelopes/001.p/44").is_file());

    let one = dir.path().join("one.jsonl");
    let lines = envelopes(&one, 257, 1);
    std::fs::write(&one, &lines[0]).unwrap();
    let proof = ok(glassbox().args(["log", "prove"]).arg(&log).arg("--envelope").arg(&one));
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\n"), "{proof}");
    let proof_file = dir.path().join("proof");
    std::fs::write(&proof_file, &proof).unwrap();
    let checked = ok(glassbox()
        .args(["log", "check-proof"])
        .arg(&proof_file)
        .arg("--envelope")
        .arg(&one)
        .args(["--vkey", &vkey]));
    assert!(checked.contains("is entry 257"), "{checked}");
    // The proof does not hold for another envelope, nor under another log key.
    let other = dir.path().join("other.jsonl");
    envelopes(&other, 5000, 1);
    let out = output(
        glassbox().args(["log", "check-proof"]).arg(&proof_file).arg("--envelope").arg(&other).args(["--vkey", &vkey]),
    );
    assert_eq!(out.status.code(), Some(1));
    let (_, other_log_key) = keypair(dir.path(), "other-log");
    let stranger = ok(glassbox().args(["log", "witness-key", "--key"]).arg(&other_log_key).args(["--name", ORIGIN]));
    let out = output(
        glassbox()
            .args(["log", "check-proof"])
            .arg(&proof_file)
            .arg("--envelope")
            .arg(&one)
            .args(["--vkey", stranger.trim()]),
    );
    assert_ne!(out.status.code(), Some(0));

    // Malformed input (one bad line among good ones): exit 2, and nothing is appended.
    let mixed = dir.path().join("mixed.jsonl");
    let good = envelopes(&mixed, 9000, 3);
    std::fs::write(&mixed, format!("{}\n{{\"payload\": 1}}\n{}\n", good[0], good[1])).unwrap();
    let out = output(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(&mixed));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mixed.jsonl:2"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(size(&log), 300);

    let listed = ok(glassbox().args(["log", "list"]).arg(&log).arg("--json"));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!((listed["size"].as_u64(), listed["entries"].as_array().unwrap().len()), (Some(300), 300));
    assert!(listed["root"].as_str().unwrap().starts_with("sha256:"), "{}", listed["root"]);
    assert_eq!(listed["entries"][7]["entry"]["subjects"][0]["name"], "artifact-7");
    assert_eq!(audit(&log, &vkey).status.code(), Some(0), "{}", String::from_utf8_lossy(&audit(&log, &vkey).stderr));
}

#[test]
fn changing_any_byte_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("batch.jsonl");
    envelopes(&file, 0, 600);
    append_ok(&log, &key, &file);
    let pristine = dir.path().join("pristine");
    ok(Command::new("cp").arg("-a").arg(&log).arg(&pristine));

    let targets: [(&str, &str); 6] = [
        ("full level-0 hash tile", "tile/0/001"),
        ("partial level-0 hash tile", "tile/0/002.p/88"),
        ("level-1 hash tile", "tile/1/000.p/2"),
        ("entry bundle", "tile/entries/001"),
        ("envelope bundle", "envelopes/001"),
        ("checkpoint", "checkpoint"),
    ];
    for (what, rel) in targets {
        for offset in [0usize, 17, 40] {
            let path = log.join(rel);
            let mut bytes = std::fs::read(&path).unwrap();
            let at = offset.min(bytes.len() - 2);
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            for result in [verify(&log, &vkey), audit(&log, &vkey)] {
                let stderr = String::from_utf8_lossy(&result.stderr);
                assert_eq!(result.status.code(), Some(1), "{what} byte {at}: {stderr}");
            }
            std::fs::write(&path, std::fs::read(pristine.join(rel)).unwrap()).unwrap();
        }
    }
    assert_eq!(audit(&log, &vkey).status.code(), Some(0));
}

/// formats.md section 15: "Any changed byte in a tile, bundle, stored envelope or checkpoint
/// is a definite no" holds for `log verify` too (the custody spec review found it exiting 0 with
/// a flipped entry or envelope bundle byte).
#[test]
fn spec_log_verify_refuses_a_flipped_entry_bundle_or_envelope_bundle_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("batch.jsonl");
    envelopes(&file, 0, 600);
    append_ok(&log, &key, &file);
    let verified = verify(&log, &vkey);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(String::from_utf8_lossy(&verified.stdout).contains("600 entries recomputed, 600 stored envelopes checked"));
    let targets = [
        ("tile/entries/001", "entry 2", "does not hash to the leaf"),
        ("tile/entries/002.p/88", "entry 5", "does not hash to the leaf"),
        ("envelopes/001", "envelopes/001 (entry 2", "does not hash to the entry's digest"),
        ("envelopes/002.p/88", "envelopes/002.p/88 (entry 5", "does not hash to the entry's digest"),
    ];
    for (rel, which, why) in targets {
        let path = log.join(rel);
        let pristine = std::fs::read(&path).unwrap();
        // A byte inside the third item: past the first two entries' length prefixes and bytes,
        // or the first two envelope lines.
        let at = if rel.starts_with("tile/") {
            let first = 2 + u16::from_be_bytes([pristine[0], pristine[1]]) as usize;
            let second = 2 + u16::from_be_bytes([pristine[first], pristine[first + 1]]) as usize;
            first + second + 2 + 20
        } else {
            let mut lines = 0;
            pristine
                .iter()
                .position(|&b| {
                    b == b'\n' && {
                        lines += 1;
                        lines == 2
                    }
                })
                .unwrap()
                + 20
        };
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let out = verify(&log, &vkey);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{rel} byte {at}: {stderr}");
        assert!(stderr.contains(which) && stderr.contains(why), "{rel}: {stderr}");
        std::fs::write(&path, &pristine).unwrap();
    }
    assert_eq!(verify(&log, &vkey).status.code(), Some(0));
}

/// Kills an appending process with SIGKILL at many instants; after each, the log verifies and
/// every append that returned success is still there.
#[test]
fn appends_survive_sigkill_at_any_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let append = |round: u64| {
        let file = dir.path().join(format!("batch-{round}.jsonl"));
        envelopes(&file, round as usize * 1000, 400);
        glassbox()
            .args(["log", "append"])
            .arg(&log)
            .arg("--key")
            .arg(&key)
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long one append takes here: the kill instants are spread over 0 to 1.5 times that,
    // so that some appends are killed at every stage and some finish.
    // (The first append creates the envelope directories: time the second.)
    assert!(append(1000).wait().unwrap().success());
    let started = std::time::Instant::now();
    assert!(append(1001).wait().unwrap().success());
    let mut span = started.elapsed().as_micros() as u64 * 3 / 2;
    let mut confirmed = 800u64;
    let (mut killed, mut finished) = (0, 0);
    for round in 0..40u64 {
        let mut child = append(round);
        // Deterministic, scattered fractions of the span.
        std::thread::sleep(Duration::from_micros(span * ((round * 37 + 11) % 100) / 100));
        let _ = child.kill();
        let status = child.wait().unwrap();
        // An append's duration depends on what else the machine writes (syncfs flushes the
        // whole file system): adapt the span so that both outcomes keep happening.
        if status.success() {
            confirmed += 400;
            finished += 1;
            span = span * 4 / 5;
        } else {
            killed += 1;
            span = span * 6 / 5;
        }
        let result = verify(&log, &vkey);
        assert_eq!(result.status.code(), Some(0), "round {round}: {}", String::from_utf8_lossy(&result.stderr));
        assert!(size(&log) >= confirmed, "round {round}: a confirmed append was lost");
    }
    // Both must happen, or the test did not test what it says.
    eprintln!("{killed} appends killed, {finished} finished");
    assert!(killed >= 5 && finished >= 5, "{killed} appends killed, {finished} finished: adjust the delays");
    // A later append works, and the whole log audits.
    let file = dir.path().join("after.jsonl");
    envelopes(&file, 999_000, 10);
    append_ok(&log, &key, &file);
    let result = audit(&log, &vkey);
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
}

#[test]
fn racing_appenders_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let children: Vec<_> = (0..4)
        .map(|i| {
            let file = dir.path().join(format!("racer-{i}.jsonl"));
            envelopes(&file, i * 100, 100);
            glassbox()
                .args(["log", "append"])
                .arg(&log)
                .arg("--key")
                .arg(&key)
                .arg(&file)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(size(&log), 400);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list"]).arg(&log).arg("--json"))).unwrap();
    let mut names: Vec<String> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["subjects"][0]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 400);
    assert_eq!(audit(&log, &vkey).status.code(), Some(0));
}

#[test]
fn a_witness_cosigns_growth_and_refuses_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let (witness_key, witness_pub) = keypair(dir.path(), "witness");
    let state = dir.path().join("witness-state");
    let append = |log: &Path, first: usize, count: usize| {
        let file = dir.path().join(format!("w-{first}.jsonl"));
        envelopes(&file, first, count);
        ok(glassbox().args(["log", "append"]).arg(log).arg("--key").arg(&key).arg(&file));
    };
    let cosign = |log: &Path| {
        output(
            glassbox()
                .args(["log", "cosign"])
                .arg(log.join("checkpoint"))
                .arg("--key")
                .arg(&witness_key)
                .args(["--name", "witness.example"])
                .arg("--state")
                .arg(&state)
                .args(["--log-vkey", &vkey])
                .arg("--log")
                .arg(log),
        )
    };
    append(&log, 0, 10);
    assert!(cosign(&log).status.success());
    let old_checkpoint = dir.path().join("checkpoint-10");
    std::fs::copy(log.join("checkpoint"), &old_checkpoint).unwrap();

    // A fork: a copy of the log at size 10 grows differently from the original.
    let fork = dir.path().join("fork");
    ok(Command::new("cp").arg("-a").arg(&log).arg(&fork));
    append(&log, 100, 5);
    append(&fork, 200, 5);
    let ok_out = cosign(&log);
    assert!(ok_out.status.success(), "{}", String::from_utf8_lossy(&ok_out.stderr));
    let refused = cosign(&fork);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("forked"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The log's checkpoint now carries the cosignature; verify requires it when asked to.
    let wkey =
        ok(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_pub).args(["--name", "witness.example"]));
    let wkey = wkey.trim();
    let with_witness = output(glassbox().args(["log", "verify"]).arg(&log).args([
        "--vkey",
        &vkey,
        "--witness",
        wkey,
        "--witness-threshold",
        "1",
    ]));
    assert_eq!(with_witness.status.code(), Some(0), "{}", String::from_utf8_lossy(&with_witness.stderr));
    let unwitnessed = output(glassbox().args(["log", "verify"]).arg(&fork).args([
        "--vkey",
        &vkey,
        "--witness",
        wkey,
        "--witness-threshold",
        "1",
    ]));
    assert_eq!(unwitnessed.status.code(), Some(1));
    // Consistency with the older checkpoint: the log grew; the fork did not grow from it... it did,
    // but the original did too: both extend size 10, so both pass --old; a rewritten log does not.
    let consistent =
        output(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]).arg("--old").arg(&old_checkpoint));
    assert_eq!(consistent.status.code(), Some(0), "{}", String::from_utf8_lossy(&consistent.stderr));
    let newer_fork_checkpoint = dir.path().join("fork-checkpoint");
    std::fs::copy(fork.join("checkpoint"), &newer_fork_checkpoint).unwrap();
    let rewritten = output(
        glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]).arg("--old").arg(&newer_fork_checkpoint),
    );
    assert_eq!(rewritten.status.code(), Some(1), "{}", String::from_utf8_lossy(&rewritten.stderr));
}

#[test]
fn cosigning_a_logs_own_checkpoint_waits_for_its_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 3);
    append_ok(&log, &key, &file);
    cosign_waits_for_the_append_lock(dir.path(), &log, &vkey);
    assert!(std::fs::read_to_string(log.join("checkpoint")).unwrap().contains("witness-"));
}

/// Holds `log`'s append lock as an appender would and checks that a witness cosigning the
/// log's checkpoint blocks on it (the kernel lists it as a waiter on the lock file in
/// /proc/locks) without touching the checkpoint, then completes once the lock is released.
pub(crate) fn cosign_waits_for_the_append_lock(dir: &Path, log: &Path, vkey: &str) {
    use std::os::unix::fs::MetadataExt;
    let (witness_key, _) = keypair(dir, "witness");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(log.join(".lock"))
        .unwrap();
    held.lock().unwrap();
    let waiting = format!(":{} ", held.metadata().unwrap().ino());
    let before = std::fs::read(log.join("checkpoint")).unwrap();
    let mut witness = glassbox()
        .args(["log", "cosign"])
        .arg(log.join("checkpoint"))
        .arg("--key")
        .arg(&witness_key)
        .arg("--state")
        .arg(dir.join("state"))
        .args(["--log-vkey", vkey])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = witness.try_wait().unwrap() {
            panic!("the witness finished ({status}) while the log's append lock was held");
        }
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        if locks.lines().any(|l| l.contains("->") && l.contains(&waiting)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read(log.join("checkpoint")).unwrap(), before, "rewritten while the log was locked");
    drop(held);
    let out = witness.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `log mirror` between directories (no server needed): the copy verifies, holds the index as
/// tiles (rebuilt from the entries), and appending to the copy finds the envelopes already
/// logged and keeps finding them afterwards.
#[test]
fn a_mirrored_directory_log_verifies_and_grows_without_logging_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("batch.jsonl");
    envelopes(&file, 0, 300);
    append_ok(&log, &key, &file);
    let copy = dir.path().join("copy");
    let out = ok(glassbox().args(["log", "mirror"]).arg(&log).arg(&copy).args(["--vkey", &vkey, "--json"]));
    let mirrored: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(mirrored["size"], 300);
    assert!(copy.join("index/000").is_file() && !copy.join("envelope-index").exists());
    assert_eq!(audit(&copy, &vkey).status.code(), Some(0));
    let again = append_json(&copy, &key, &file);
    assert_eq!(again["alreadyLogged"].as_array().unwrap().len(), 300, "{again}");
    let more = dir.path().join("more.jsonl");
    envelopes(&more, 300, 2);
    append_ok(&copy, &key, &more);
    assert_eq!(size(&copy), 302);
    let again: serde_json::Value = serde_json::from_str(&ok(glassbox()
        .args(["log", "append"])
        .arg(&copy)
        .arg("--key")
        .arg(&key)
        .arg(&file)
        .arg(&more)
        .arg("--json")))
    .unwrap();
    assert_eq!(again["alreadyLogged"].as_array().unwrap().len(), 302, "{again}");
    // Under another log key the source does not verify: nothing is mirrored.
    let other = tempfile::tempdir().unwrap();
    let (_, _, other_vkey) = new_log(other.path());
    let refused =
        output(glassbox().args(["log", "mirror"]).arg(&log).arg(dir.path().join("no")).args(["--vkey", &other_vkey]));
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(!dir.path().join("no/checkpoint").exists());
}

/// `log append` to a directory that is no log says how to make one (exit 2), and appends nothing.
#[test]
fn append_to_a_missing_log_suggests_log_init() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "log");
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 1);
    let missing = dir.path().join("nolog");
    let out = output(glassbox().args(["log", "append"]).arg(&missing).arg("--key").arg(&key).arg(&file));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no such directory") && err.contains("glassbox log init"), "{err}");
    assert!(!missing.exists());
    std::fs::create_dir(&missing).unwrap();
    let out = output(glassbox().args(["log", "append"]).arg(&missing).arg("--key").arg(&key).arg(&file));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("it has no checkpoint") && err.contains("glassbox log init"), "{err}");
}
