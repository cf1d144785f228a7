//! `glassbox log serve --storage DIR`: a directory log made and grown with `log init` and
//! `log append` is taken over by the service on its first start (its index moved into tiles),
//! keeps every entry it had, is locked against every other writer while served and refused to
//! `log append` afterwards, and stays a log that glassbox and an independent checker verify.

use crate::log::{append_json, append_ok, envelopes, new_log};
use crate::log_service::{independent_check, Service};
use crate::support::*;

#[test]
fn a_directory_log_is_taken_over_by_the_service_and_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let storage = log.to_str().unwrap().to_string();
    // 300 entries appended the directory way: a full index tile and a partial one to adopt.
    let before = dir.path().join("before.jsonl");
    let lines = envelopes(&before, 0, 300);
    assert_eq!(append_json(&log, &key, &before)["size"], 300);
    assert!(log.join("envelope-index").is_file());

    assert!(ok(glassbox().args(["log", "check-store"]).arg(&log)).contains("are honoured"));
    let service = Service::start_env(&[], &storage, &key, "127.0.0.1:0", &[]);
    assert!(log.join(".glassbox/lock").is_file() && log.join("index/001.p/44").is_file());
    assert!(!log.join("envelope-index").exists(), "the stale index file would mislead readers");
    // While served, every other writer is refused at once, naming what holds the directory.
    let second =
        output(glassbox().args(["log", "serve", "--storage", &storage, "--listen", "127.0.0.1:0", "--key"]).arg(&key));
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("is held by another writer"));
    let more = dir.path().join("more.jsonl");
    envelopes(&more, 300, 20);
    let direct = output(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(&more));
    assert_eq!(direct.status.code(), Some(2));
    let said = String::from_utf8_lossy(&direct.stderr);
    assert!(said.contains(".glassbox/lock") && said.contains("log serve"), "{said}");

    // Submissions without the key; an envelope logged before the takeover is found in the
    // adopted index and gets its old entry back, not a new one.
    let receipts = dir.path().join("receipts");
    let report: serde_json::Value = serde_json::from_str(&ok(glassbox()
        .args(["log", "append", &service.url, "--vkey", &vkey, "--json", "--receipts"])
        .arg(&receipts)
        .arg(&more)))
    .unwrap();
    assert_eq!(report["size"], 320, "{report}");
    let old = dir.path().join("old.jsonl");
    std::fs::write(&old, format!("{}\n", lines[257])).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "append", &service.url, "--json"]).arg(&old))).unwrap();
    assert_eq!(again["size"], 320, "{again}");
    assert_eq!(again["added"][0]["index"], 257, "{again}");
    for verb in ["verify", "audit"] {
        assert!(ok(glassbox().args(["log", verb, &service.url, "--vkey", &vkey])).contains("size 320"));
    }

    // Stopped: the directory verifies with glassbox and without it, and its proofs find the
    // envelopes in the index tiles. It still belongs to the service.
    let (code, stderr) = {
        ok(std::process::Command::new("kill").args(["-TERM", &service.child.id().to_string()]));
        service.wait(std::time::Duration::from_secs(30))
    };
    assert_eq!(code, Some(0), "{stderr}");
    for verb in ["verify", "audit"] {
        ok(glassbox().args(["log", verb]).arg(&log).args(["--vkey", &vkey]));
    }
    let python = python_with("cryptography", "cryptography").expect("python with cryptography");
    assert_eq!(independent_check(&python, &log, &vkey), 320);
    let one = dir.path().join("one.jsonl");
    std::fs::write(&one, &lines[257]).unwrap();
    let proof = ok(glassbox().args(["log", "prove"]).arg(&log).arg("--envelope").arg(&one));
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\nindex 257\n"), "{proof}");
    let after = output(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(&more));
    assert_eq!(after.status.code(), Some(2));

    // A second start takes the directory up where it was.
    let service = Service::start_env(&[], &storage, &key, "127.0.0.1:0", &[]);
    let last = dir.path().join("last.jsonl");
    envelopes(&last, 320, 1);
    let report: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "append", &service.url, "--json"]).arg(&last))).unwrap();
    assert_eq!(report["size"], 321, "{report}");
}

#[test]
fn serving_a_directory_without_a_log_or_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, _) = new_log(dir.path());
    let (other, _) = keypair(dir.path(), "other");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    append_ok(&log, &key, &{
        let file = dir.path().join("three.jsonl");
        envelopes(&file, 0, 3);
        file
    });
    for (storage, says) in [(empty.as_path(), "holds no log"), (log.as_path(), "not signed by this key")] {
        let out = output(
            glassbox()
                .args(["log", "serve", "--listen", "127.0.0.1:0", "--storage"])
                .arg(storage)
                .arg("--key")
                .arg(&other),
        );
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // A refused start leaves the directory as `log append` knows it.
    assert!(!log.join(".glassbox").exists() && !log.join("index").exists());
    assert!(log.join("envelope-index").is_file());
    // Connection limits must make sense.
    let out = output(
        glassbox()
            .args(["log", "serve", "--listen", "127.0.0.1:0", "--max-connections", "10", "--max-per-client", "11"])
            .arg("--storage")
            .arg(&log)
            .arg("--key")
            .arg(&key),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-per-client"));
}

/// What a killed `log append` leaves (partial tiles past the checkpoint) is removed on takeover
/// rather than colliding with the service's create-only writes; `log gc` refuses a served
/// directory (its committed log may be ahead of the published checkpoint); and the service
/// keeps only the staged batch its lock object names.
#[test]
fn takeover_clears_a_killed_appends_leftovers_and_gc_leaves_a_served_directory_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let first = dir.path().join("first.jsonl");
    envelopes(&first, 0, 5);
    append_ok(&log, &key, &first);
    // Another history's partial files at the next width, as an append killed before its
    // checkpoint leaves them.
    let (other, other_key, _) = new_log(&dir.path().join("other"));
    let six = dir.path().join("six.jsonl");
    envelopes(&six, 100, 6);
    append_ok(&other, &other_key, &six);
    for rel in ["tile/0/000.p/6", "tile/entries/000.p/6", "envelopes/000.p/6"] {
        std::fs::create_dir_all(log.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(other.join(rel), log.join(rel)).unwrap();
    }
    // The directory's index is not authenticated: a record pointing at another envelope must
    // not make the service log entry 0 again (the index is rebuilt from the entries).
    let mut index = std::fs::read(log.join("envelope-index")).unwrap();
    index[..32].copy_from_slice(&[7u8; 32]);
    std::fs::write(log.join("envelope-index"), index).unwrap();
    ok(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]));

    let service = Service::start_env(&[], log.to_str().unwrap(), &key, "127.0.0.1:0", &[]);
    let again: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "append", &service.url, "--json"]).arg(&first))).unwrap();
    assert_eq!(again["size"], 5, "{again}");
    assert_eq!(again["added"][0]["index"], 0, "{again}");
    for n in 0..3 {
        let more = dir.path().join(format!("more-{n}.jsonl"));
        envelopes(&more, 5 + n, 1);
        let report: serde_json::Value =
            serde_json::from_str(&ok(glassbox().args(["log", "append", &service.url, "--json"]).arg(&more))).unwrap();
        assert_eq!(report["size"], 6 + n, "{report}");
    }
    // The batch before is removed in the background once the next one is written.
    let staged = || std::fs::read_dir(log.join(".glassbox/staged")).unwrap().count();
    let started = std::time::Instant::now();
    while staged() > 1 && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(staged(), 1, "only the batch the lock names is kept");
    drop(service);
    let gc = output(glassbox().args(["log", "gc"]).arg(&log).args(["--vkey", &vkey]));
    assert_eq!(gc.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gc.stderr).contains(".glassbox/lock"));
    ok(glassbox().args(["log", "audit"]).arg(&log).args(["--vkey", &vkey]));
}
