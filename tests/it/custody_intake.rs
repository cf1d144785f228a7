//! `glassbox sample intake`, `sample receipts` and `sample forget` on real files: one logged
//! batch for a thousand samples, receipts whose inclusion proofs verify with an RFC 6962
//! verifier written here (not glassbox's), a store `sha256sum -c` can check, a log that holds
//! no sample's sha256, erasure, and bad input that writes nothing.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::custody_support::{report_hex, Center};
use crate::log::append_ok;
use crate::support::*;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()), "{text:?}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// RFC 9162, section 2.1.3.2: verifies an inclusion proof, independently of glassbox's code.
fn rfc6962_verify(leaf: &[u8], index: u64, size: u64, path: &[Vec<u8>], root: &[u8]) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = sha256(&[&[0], leaf]);
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = sha256(&[&[1], p, &r]);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = sha256(&[&[1], &r, p]);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r.as_slice() == root
}

/// The commitment of a file's bytes under `salt`, computed here.
fn commitment_of(salt: &[u8], file: &[u8]) -> String {
    hex(&sha256(&[b"glassbox/sample/v1\0", salt, &sha256(&[file])]))
}

fn intake_cmd(center: &Center) -> Command {
    let mut cmd = glassbox();
    cmd.args(["sample", "intake", "--store"])
        .arg(&center.store)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--log")
        .arg(&center.log);
    cmd
}

fn json(cmd: &mut Command) -> Value {
    serde_json::from_str(&ok(cmd.arg("--json"))).unwrap()
}

fn write_list(center: &Center, name: &str, files: &[PathBuf]) -> PathBuf {
    let list = center.path().join(name);
    let text: String = files.iter().map(|f| format!("{}\n\n", f.display())).collect();
    std::fs::write(&list, text).unwrap();
    list
}

/// The intake statement of an envelope file: (the envelope line's sha256, the predicate).
fn intake_statement(envelope: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(envelope).unwrap();
    let line = text.strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "one envelope line");
    let env: Value = serde_json::from_str(line).unwrap();
    let payload = base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicateType"], "https://glassbox.dev/sample-intake/v1");
    assert_eq!(statement["subject"][0]["digest"]["glassboxSampleBatch"], statement["predicate"]["merkleRoot"]);
    (hex(&sha256(&[line.as_bytes()])), statement["predicate"].clone())
}

fn checkpoint_size(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log.join("checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

/// Checks every receipt of `files` (commitment → file): the commitment opens to the file, the
/// proof verifies against `root`, the receipt names `envelope` at `index` and the log's vkey.
fn check_receipts(
    center: &Center,
    dir: &Path,
    files: &HashMap<String, PathBuf>,
    root: &str,
    envelope: &str,
    index: u64,
) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let c = r["commitment"].as_str().unwrap();
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), format!("{c}.json"));
        assert_eq!(r["_type"], "https://glassbox.dev/sample-receipt/v1");
        assert_eq!(r["log"]["origin"], crate::log::ORIGIN);
        assert_eq!(r["log"]["vkey"], center.vkey.as_str());
        let file = files.get(c).unwrap_or_else(|| panic!("receipt for unknown commitment {c}"));
        assert_eq!(commitment_of(&unhex(r["salt"].as_str().unwrap()), &std::fs::read(file).unwrap()), c);
        let i = &r["intake"];
        assert_eq!(i["logIndex"], index);
        assert_eq!(i["envelope"], format!("sha256:{envelope}"));
        assert_eq!(i["batchRoot"], root);
        let proof: Vec<Vec<u8>> = i["proof"].as_array().unwrap().iter().map(|h| unhex(h.as_str().unwrap())).collect();
        let (leaf, size) = (i["leafIndex"].as_u64().unwrap(), i["batchSize"].as_u64().unwrap());
        assert!(rfc6962_verify(&unhex(c), leaf, size, &proof, &unhex(root)), "{}", path.display());
        // A proof for one leaf does not prove another commitment.
        assert!(!rfc6962_verify(&sha256(&[c.as_bytes()]), leaf, size, &proof, &unhex(root)));
        seen += 1;
    }
    assert_eq!(seen, files.len());
}

/// No sample's sha256 (hex or raw) appears in any file under `log`.
fn assert_no_raw_hash(log: &Path, files: &[PathBuf]) {
    let raw: HashSet<[u8; 32]> = files.iter().map(|f| sha256(&[&std::fs::read(f).unwrap()])).collect();
    let hexes: HashSet<Vec<u8>> = raw.iter().map(|d| hex(d).into_bytes()).collect();
    let all = read_all(log);
    assert!(all.len() > 3, "the log has files");
    for (name, bytes) in all {
        assert!(!bytes.windows(32).any(|w| raw.contains(w)), "{name} holds a sample's raw sha256");
        let lower = bytes.to_ascii_lowercase();
        assert!(!lower.windows(64).any(|w| hexes.contains(w)), "{name} holds a sample's sha256 in hex");
    }
}

#[test]
fn intake_of_a_thousand_files_logs_one_batch_with_receipts() {
    let center = Center::new();
    let files = center.sample_files(1000, 300);
    let list = write_list(&center, "list.txt", &files);
    let out = json(intake_cmd(&center).arg("--log-key").arg(&center.log_key).arg("--from-list").arg(&list));
    assert_eq!(out["count"], 1000);
    assert_eq!(out["logIndex"], 0);
    assert_eq!(checkpoint_size(&center.log), 1, "one log entry for the whole batch");
    let batch_id = out["batchId"].as_str().unwrap();
    assert!(batch_id.len() == 32 && batch_id.bytes().all(|b| b.is_ascii_hexdigit()));
    let envelope = PathBuf::from(out["envelope"].as_str().unwrap());
    assert_eq!(envelope, center.store.join("batches").join(format!("{batch_id}.intoto.jsonl")));
    let (envelope_digest, predicate) = intake_statement(&envelope);
    assert_eq!(predicate["count"], 1000);
    let root = &report_hex(&out["root"]);
    assert_eq!(predicate["merkleRoot"], root.as_str());

    let samples = out["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1000);
    let by_commitment: HashMap<String, PathBuf> =
        samples.iter().map(|s| (report_hex(&s["commitment"]), PathBuf::from(s["file"].as_str().unwrap()))).collect();
    assert_eq!(by_commitment.len(), 1000, "commitments are distinct");
    assert_eq!(
        samples.iter().map(|s| PathBuf::from(s["file"].as_str().unwrap())).collect::<Vec<_>>(),
        files,
        "samples in input order"
    );
    let receipts = PathBuf::from(out["receipts"].as_str().unwrap());
    assert_eq!(receipts, center.store.join("receipts"));
    check_receipts(&center, &receipts, &by_commitment, root, &envelope_digest, 0);

    // The envelope in the log is the one written, and the log verifies.
    let logged = read_all(&center.log.join("envelopes"));
    let line = std::fs::read_to_string(&envelope).unwrap();
    assert!(logged.iter().any(|(_, b)| String::from_utf8_lossy(b).contains(line.trim())));
    ok(glassbox().args(["log", "verify"]).arg(&center.log).args(["--vkey", &center.vkey]));

    // The store: every file 0600, named by its sha256, as `sha256sum -c` confirms.
    let stored: Vec<_> = std::fs::read_dir(center.store.join("samples")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(stored.len(), 1000);
    let mut check = String::new();
    for path in &stored {
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
        check.push_str(&format!("{}  {}\n", path.file_name().unwrap().to_str().unwrap(), path.display()));
    }
    let check_file = center.path().join("SHA256SUMS");
    std::fs::write(&check_file, check).unwrap();
    ok(Command::new("sha256sum").args(["-c", "--quiet", "--strict"]).arg(&check_file));

    assert_no_raw_hash(&center.log, &files);
}

#[test]
fn receipts_follow_a_later_log_append() {
    let center = Center::new();
    let files = center.sample_files(20, 100);
    let out = json(intake_cmd(&center).args(&files));
    assert_eq!(out["logIndex"], Value::Null);
    assert_eq!(out["receipts"], Value::Null);
    assert_eq!(checkpoint_size(&center.log), 0);
    assert!(!center.store.join("receipts").exists());
    let envelope = PathBuf::from(out["envelope"].as_str().unwrap());

    // Before the append: nothing to write yet.
    let vkey = center.keys.join("log.vkey");
    let receipts_cmd = || {
        let mut cmd = glassbox();
        cmd.args(["sample", "receipts", "--store"])
            .arg(&center.store)
            .arg("--log")
            .arg(&center.log)
            .arg("--vkey")
            .arg(&vkey);
        cmd
    };
    let early = json(&mut receipts_cmd());
    assert_eq!(early["batches"][0]["logIndex"], Value::Null);
    assert!(!center.store.join("receipts").exists());

    append_ok(&center.log, &center.log_key, &envelope);
    let later = json(&mut receipts_cmd());
    assert_eq!(later["batches"][0]["logIndex"], 0);
    assert_eq!(later["batches"][0]["receipts"], 20);
    let (digest, predicate) = intake_statement(&envelope);
    let by_commitment: HashMap<String, PathBuf> = out["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (report_hex(&s["commitment"]), PathBuf::from(s["file"].as_str().unwrap())))
        .collect();
    check_receipts(
        &center,
        &center.store.join("receipts"),
        &by_commitment,
        predicate["merkleRoot"].as_str().unwrap(),
        &digest,
        0,
    );
    // Once written, a batch is not pending any more.
    assert_eq!(json(&mut receipts_cmd())["batches"], serde_json::json!([]));
    assert_no_raw_hash(&center.log, &files);

    // A vkey of another log is refused.
    let (_, other_vkey) = {
        let dir = center.path().join("other");
        std::fs::create_dir(&dir).unwrap();
        let (_, _, v) = crate::log::new_log(&dir);
        ((), v)
    };
    let bad = output(receipts_cmd().arg("--vkey").arg(&other_vkey));
    assert!(!bad.status.success());
}

fn salt_of(center: &Center, commitment: &str) -> Option<String> {
    let python = python_with("sqlite3", "python3")?;
    let script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nr=c.execute('SELECT salt FROM samples WHERE commitment=?',(sys.argv[2],)).fetchone()\nprint(r[0] if r else '')";
    let out = ok(Command::new(python).args(["-c", script]).arg(center.store.join("index.sqlite")).arg(commitment));
    Some(out.trim().to_string())
}

#[test]
fn forget_erases_one_sample_and_keeps_the_others() {
    let center = Center::new();
    let files = center.sample_files(4, 100);
    let first = json(intake_cmd(&center).arg("--log-key").arg(&center.log_key).args(&files));
    // The first file again, in a second batch: a second commitment, the same stored bytes.
    let again = json(intake_cmd(&center).arg("--log-key").arg(&center.log_key).arg(&files[0]));
    let c = |v: &Value, i: usize| report_hex(&v["samples"][i]["commitment"]);
    let (c0, c1, c0_again) = (c(&first, 0), c(&first, 1), c(&again, 0));
    assert_ne!(c0, c0_again);
    let stored = |f: &Path| center.store.join("samples").join(hex(&sha256(&[&std::fs::read(f).unwrap()])));
    assert_eq!(std::fs::read_dir(center.store.join("samples")).unwrap().count(), 4, "bytes stored once");
    let receipts = center.store.join("receipts");
    let salt0 = salt_of(&center, &c1);

    let forget = |commitment: &str| {
        let mut cmd = glassbox();
        cmd.args(["sample", "forget", commitment, "--store"]).arg(&center.store);
        cmd
    };
    // A commitment as the JSON reports write it is read back.
    let done = json(&mut forget(&format!("sha256:{c1}")));
    assert_eq!(done["commitment"], format!("sha256:{c1}"));
    assert_eq!(done["fileDeleted"], true);
    assert!(!stored(&files[1]).exists());
    assert!(!receipts.join(format!("{c1}.json")).exists(), "the receipt holds the salt: it goes too");
    if let (Some(before), Some(after)) = (salt0, salt_of(&center, &c1)) {
        assert_eq!(before.len(), 64);
        assert_eq!(after, "0".repeat(64), "salt erased");
    }
    // Twice: already forgotten. Unknown: named.
    let twice = output(&mut forget(&c1));
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already forgotten"));
    let unknown = "ab".repeat(32);
    let out = output(&mut forget(&unknown));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&unknown));

    // The other samples' receipts still verify against the batch root.
    let root = &report_hex(&first["root"]);
    let (digest, _) = intake_statement(Path::new(first["envelope"].as_str().unwrap()));
    let rest: HashMap<String, PathBuf> = (0..4).filter(|&i| i != 1).map(|i| (c(&first, i), files[i].clone())).collect();
    let dir = center.path().join("first-receipts");
    std::fs::create_dir(&dir).unwrap();
    for k in rest.keys() {
        std::fs::copy(receipts.join(format!("{k}.json")), dir.join(format!("{k}.json"))).unwrap();
    }
    check_receipts(&center, &dir, &rest, root, &digest, 0);

    // The same bytes under two commitments stay until both are forgotten.
    let done = json(&mut forget(&c0));
    assert_eq!(done["fileDeleted"], false);
    assert!(stored(&files[0]).exists());
    let done = json(&mut forget(&c0_again));
    assert_eq!(done["fileDeleted"], true);
    assert!(!stored(&files[0]).exists());
}

#[test]
fn bad_input_is_exit_2_and_writes_nothing() {
    let center = Center::new();
    let files = center.sample_files(3, 100);
    let dir = center.path();
    let fifo = dir.join("fifo");
    ok(Command::new("mkfifo").arg(&fifo));
    let link = dir.join("link");
    std::os::unix::fs::symlink(&files[0], &link).unwrap();
    let subdir = dir.join("a-directory");
    std::fs::create_dir(&subdir).unwrap();
    let empty_list = dir.join("empty.txt");
    std::fs::write(&empty_list, "\n\n  \n").unwrap();
    let store_file = dir.join("store-file");
    std::fs::write(&store_file, "not a store").unwrap();
    let checkpoint = std::fs::read(center.log.join("checkpoint")).unwrap();

    let cases: Vec<(&str, Vec<PathBuf>, PathBuf, String)> = vec![
        ("missing file", vec![files[0].clone(), dir.join("missing.bin")], center.store.clone(), "missing.bin".into()),
        ("FIFO", vec![files[0].clone(), fifo.clone()], center.store.clone(), fifo.display().to_string()),
        ("symlink", vec![link.clone(), files[1].clone()], center.store.clone(), link.display().to_string()),
        ("directory", vec![files[0].clone(), subdir.clone()], center.store.clone(), subdir.display().to_string()),
        ("store is a file", vec![files[0].clone()], store_file.clone(), store_file.display().to_string()),
    ];
    let assert_nothing_written = |what: &str| {
        assert!(!center.store.exists(), "{what}: the store was created");
        assert_eq!(std::fs::read(center.log.join("checkpoint")).unwrap(), checkpoint, "{what}: the log changed");
        assert_eq!(std::fs::read(&store_file).unwrap(), b"not a store");
    };
    for (what, inputs, store, named) in cases {
        let mut cmd = glassbox();
        cmd.args(["sample", "intake", "--store"])
            .arg(&store)
            .arg("--key")
            .arg(center.key("center"))
            .arg("--log")
            .arg(&center.log)
            .arg("--log-key")
            .arg(&center.log_key)
            .args(&inputs);
        let out = output(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(&named), "{what}: {stderr} does not name {named}");
        assert_nothing_written(what);
    }
    // Lists: empty, unreadable (a directory, a FIFO, missing).
    for (what, list) in [
        ("empty list", empty_list.clone()),
        ("list is a directory", subdir.clone()),
        ("list is a FIFO", fifo.clone()),
        ("missing list", dir.join("no-list.txt")),
    ] {
        let out = output(intake_cmd(&center).arg("--log-key").arg(&center.log_key).arg("--from-list").arg(&list));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(&list.display().to_string()) || what == "empty list", "{what}: {stderr}");
        assert_nothing_written(what);
    }
    // No input at all.
    let out = output(&mut intake_cmd(&center));
    assert_eq!(out.status.code(), Some(2));
    assert_nothing_written("no input");
    // A log key that is not the log's.
    let out = output(intake_cmd(&center).arg("--log-key").arg(center.key("gateway")).arg(&files[0]));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_nothing_written("wrong log key");
}

/// R2-D4: a receipt written with `--receipts DIR` holds the salt; `forget` deletes it there too
/// (and in a directory `sample receipts` wrote to), and leaves a file that is not that receipt
/// (a symlink planted in its place) alone, saying so with exit 1.
#[test]
fn r2_d4_forget_deletes_the_receipts_written_to_a_chosen_directory() {
    let center = Center::new();
    let files = center.sample_files(3, 100);
    let chosen = center.path().join("handed-out");
    let first =
        json(intake_cmd(&center).arg("--log-key").arg(&center.log_key).arg("--receipts").arg(&chosen).args(&files));
    let c = |i: usize| report_hex(&first["samples"][i]["commitment"]);
    let receipt = |c: &str| chosen.join(format!("{c}.json"));
    for i in 0..3 {
        assert!(receipt(&c(i)).is_file(), "intake wrote the receipt to --receipts");
    }

    let forget = |commitment: &str| {
        let mut cmd = glassbox();
        cmd.args(["sample", "forget", commitment, "--json", "--store"]).arg(&center.store);
        output(&mut cmd)
    };
    let out = forget(&c(0));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!receipt(&c(0)).exists(), "the salt stays in {}", receipt(&c(0)).display());
    let deleted: Vec<&str> = done["receiptsDeleted"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let expected = std::fs::canonicalize(&chosen).unwrap().join(format!("{}.json", c(0)));
    assert_eq!(deleted, [expected.to_str().unwrap()], "{done:#}");
    assert_eq!(done["receiptsLeft"], serde_json::json!([]));
    assert!(receipt(&c(1)).is_file() && receipt(&c(2)).is_file(), "only that sample's receipt goes");

    // A symlink planted where a receipt was is not followed, not deleted, and named.
    let target = center.path().join("precious.json");
    std::fs::copy(receipt(&c(1)), &target).unwrap();
    std::fs::remove_file(receipt(&c(1))).unwrap();
    std::os::unix::fs::symlink(&target, receipt(&c(1))).unwrap();
    let out = forget(&c(1));
    assert_eq!(out.status.code(), Some(1), "a receipt left is not a finished erasure: {out:?}");
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let left = &done["receiptsLeft"][0];
    assert!(left["path"].as_str().unwrap().ends_with(&format!("{}.json", c(1))), "{done:#}");
    assert!(left["why"].as_str().unwrap().contains("symbolic link"), "{done:#}");
    assert!(target.is_file() && std::fs::symlink_metadata(receipt(&c(1))).is_ok(), "nothing followed");
    let mut text = glassbox();
    text.args(["sample", "forget", &c(2), "--store"]).arg(&center.store);
    std::fs::write(receipt(&c(2)), "{\"not\": \"a receipt\"}").unwrap();
    let out = output(&mut text);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("receipt NOT deleted") && stdout.contains("not the receipt of this commitment"),
        "{stdout}"
    );
    assert!(receipt(&c(2)).is_file(), "a file that is not the receipt is left alone");

    // `sample receipts --receipts DIR` for a batch appended later: noted, and deleted too.
    let later = json(intake_cmd(&center).arg(&files[0]));
    let envelope = later["envelope"].as_str().unwrap().to_string();
    append_ok(&center.log, &center.log_key, Path::new(&envelope));
    let elsewhere = center.path().join("elsewhere");
    ok(glassbox()
        .args(["sample", "receipts", "--store"])
        .arg(&center.store)
        .arg("--log")
        .arg(&center.log)
        .arg("--vkey")
        .arg(center.keys.join("log.vkey"))
        .arg("--receipts")
        .arg(&elsewhere));
    let c_later = report_hex(&later["samples"][0]["commitment"]);
    let late_receipt = elsewhere.join(format!("{c_later}.json"));
    assert!(late_receipt.is_file());
    let out = forget(&c_later);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!late_receipt.exists(), "the receipt `sample receipts` wrote goes too");
}
