//! `glassbox log` against a hostile log contributor or mirror (security review D1, D2, D5, D6,
//! D7, D8, D11, D12, D13, D24, D27, D28): planted symlinks and FIFOs, forged tiles, bundles and
//! index records, envelopes that are too large, not compact or full of control characters,
//! bad witness names, witnesses counted twice, and private keys given as verifier keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use glassbox::attest::{Envelope, ResourceDescriptor, Signature, Statement};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;

use crate::log::{append_json, append_ok, audit, cosign_waits_for_the_append_lock, envelopes, new_log, size, verify};
use crate::support::*;

fn append(log: &Path, key: &Path, file: &Path) -> Output {
    output(glassbox().args(["log", "append"]).arg(log).arg("--key").arg(key).arg(file))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A signed in-toto envelope about one subject called `name`.
fn envelope_about(name: &str, predicate_type: &str, key: &PrivateKey) -> Envelope {
    let subject = ResourceDescriptor::named(name, Sha256Digest::of(name.as_bytes()));
    Statement::new(vec![subject], predicate_type, serde_json::json!({})).sign(key)
}

/// Writes one envelope line (and a newline) to `dir/<name>`.
/// `log append --json` of `file`, which must succeed; its report.
fn line_file(dir: &Path, name: &str, line: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{line}\n")).unwrap();
    path
}

/// Runs `cmd`, killing it if it has not finished after a minute (a hang is the defect).
fn output_or_hang(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{cmd:?} hung on a FIFO in the log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `log cosign` of `log`'s own checkpoint as the witness `name`.
fn cosign(log: &Path, witness_key: &Path, name: &str, state: &Path, vkey: &str) -> Command {
    let mut cmd = glassbox();
    cmd.args(["log", "cosign"]).arg(log.join("checkpoint")).arg("--key").arg(witness_key).args(["--name", name]);
    cmd.arg("--state").arg(state).args(["--log-vkey", vkey]).arg("--log").arg(log);
    cmd
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    ok(Command::new("mkfifo").arg(path));
}

/// Two files of one envelope each, `e1.jsonl` and `e2.jsonl`, in `dir`.
fn two_envelopes(dir: &Path) -> (PathBuf, PathBuf) {
    let (e1, e2) = (dir.join("e1.jsonl"), dir.join("e2.jsonl"));
    envelopes(&e1, 0, 1);
    envelopes(&e2, 1, 1);
    (e1, e2)
}

/// A new log in `dir/<name>` holding the envelope of `e1`: (log, key, verifier key).
fn log_of_one(dir: &Path, name: &str, e1: &Path) -> (PathBuf, PathBuf, String) {
    let sub = dir.join(name);
    std::fs::create_dir(&sub).unwrap();
    let (log, key, vkey) = new_log(&sub);
    ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(e1));
    (log, key, vkey)
}

#[test]
fn d5_log_append_never_writes_through_a_symlink_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (e1, e2) = two_envelopes(dir.path());
    let victim = dir.path().join("victim");
    let fresh = |name: &str| {
        let log = log_of_one(dir.path(), name, &e1);
        std::fs::write(&victim, "PRECIOUS\n").unwrap();
        log
    };

    // The next partial tile and envelope bundle are planted links: replaced, never written through.
    let (log, key, vkey) = fresh("files");
    std::os::unix::fs::symlink(&victim, log.join("tile/0/000.p/2")).unwrap();
    std::os::unix::fs::symlink(&victim, log.join("envelopes/000.p/2")).unwrap();
    let out = append(&log, &key, &e2);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "PRECIOUS\n");
    assert!(!log.join("tile/0/000.p/2").is_symlink() && size(&log) == 2);
    assert_eq!(audit(&log, &vkey).status.code(), Some(0));

    // The index as a link: refused, the target neither truncated nor extended.
    let (log, key, _) = fresh("index");
    std::fs::remove_file(log.join("envelope-index")).unwrap();
    std::os::unix::fs::symlink(&victim, log.join("envelope-index")).unwrap();
    let out = append(&log, &key, &e2);
    assert_ne!(out.status.code(), Some(0), "appended through a linked envelope-index");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "PRECIOUS\n");

    // A dangling `.lock` link: its target is not created.
    let (log, key, _) = fresh("lock");
    let target = dir.path().join("created-by-glassbox");
    std::fs::remove_file(log.join(".lock")).unwrap();
    std::os::unix::fs::symlink(&target, log.join(".lock")).unwrap();
    assert_ne!(append(&log, &key, &e2).status.code(), Some(0));
    assert!(!target.exists(), "the dangling .lock link's target was created");

    // A linked directory: nothing is written into the directory it points to.
    let (log, key, _) = fresh("dir");
    let outside = dir.path().join("outside-entries");
    ok(Command::new("cp").arg("-a").arg(log.join("tile/entries")).arg(&outside));
    std::fs::remove_dir_all(log.join("tile/entries")).unwrap();
    std::os::unix::fs::symlink(&outside, log.join("tile/entries")).unwrap();
    assert_ne!(append(&log, &key, &e2).status.code(), Some(0));
    assert!(!outside.join("000.p/2").exists(), "wrote through a linked tile/entries directory");
    assert_eq!(size(&log), 1);
}

#[test]
fn d6_append_refuses_to_extend_tiles_the_checkpoint_does_not_sign() {
    let dir = tempfile::tempdir().unwrap();
    let (e1, e2) = two_envelopes(dir.path());
    // A forged leaf hash; one character changed inside the entry's JSON and inside the
    // envelope's base64 payload (same lengths, still well-formed).
    type Forge = fn(&[u8]) -> Vec<u8>;
    let forgeries: [(&str, Forge); 3] =
        [("tile/0/000.p/1", |_| vec![0; 32]), ("tile/entries/000.p/1", flip_at_20), ("envelopes/000.p/1", flip_at_20)];
    for (rel, forge) in forgeries {
        let (log, key, _) = log_of_one(dir.path(), &rel.replace('/', "_"), &e1);
        let signed = std::fs::read(log.join("checkpoint")).unwrap();
        let original = std::fs::read(log.join(rel)).unwrap();
        let forged = forge(&original);
        assert_ne!(forged, original, "{rel}: the forgery changed nothing");
        std::fs::write(log.join(rel), forged).unwrap();
        let out = append(&log, &key, &e2);
        assert_eq!(out.status.code(), Some(1), "{rel}: {}", stderr(&out));
        assert_eq!(std::fs::read(log.join("checkpoint")).unwrap(), signed, "{rel}: a new checkpoint was signed");
    }
}

/// `data` with byte 20 switched between `a` and `b`.
fn flip_at_20(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out[20] = if out[20] == b'a' { b'b' } else { b'a' };
    out
}

#[test]
fn d2_envelopes_with_control_characters_in_names_are_logged_and_still_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let signer = PrivateKey::from_seed(&[5; 32]);
    let env = envelope_about("a\nb\u{1b}[2K", "x\u{7}\u{0}", &signer);
    let file = line_file(dir.path(), "ctrl.jsonl", &env.to_line());
    let out = append(&log, &key, &file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let audited = audit(&log, &vkey);
    assert_eq!(audited.status.code(), Some(0), "{}", stderr(&audited));
    let listed = output(glassbox().args(["log", "list"]).arg(&log));
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("a\\x0ab\\x1b[2K") && !text.contains('\u{1b}'), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list"]).arg(&log).arg("--json"))).unwrap();
    assert_eq!(json["entries"][0]["entry"]["subjects"][0]["name"], "a\nb\u{1b}[2K");
    assert_eq!(json["entries"][0]["entry"]["predicateType"], "x\u{7}\u{0}");
}

#[test]
fn d28_cosign_refuses_an_invalid_witness_name_and_the_log_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let (witness_key, witness_pub) = keypair(dir.path(), "witness");
    let before = std::fs::read(log.join("checkpoint")).unwrap();
    for name in ["two words", "a+b", "", "line\nbreak"] {
        let out = output(&mut cosign(&log, &witness_key, name, &dir.path().join("state"), &vkey));
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
        assert_eq!(std::fs::read(log.join("checkpoint")).unwrap(), before, "{name:?}: the checkpoint was rewritten");
        let out = output(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_pub).args(["--name", name]));
        assert_eq!(out.status.code(), Some(2), "witness-key {name:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(verify(&log, &vkey).status.code(), Some(0));
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 1);
    assert_eq!(append(&log, &key, &file).status.code(), Some(0));
}

#[test]
fn d12_cosigning_a_fresh_logs_checkpoint_waits_for_the_append_lock() {
    let dir = tempfile::tempdir().unwrap();
    // A log that has only its checkpoint, as while its first `log append` runs.
    let (log, _, vkey) = new_log(dir.path());
    cosign_waits_for_the_append_lock(dir.path(), &log, &vkey);
}

#[test]
fn d7_a_wrong_envelope_index_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let (e1, e2) = two_envelopes(dir.path());
    let (log, key, vkey) = log_of_one(dir.path(), "log", &e1);
    // The index now claims that e2 is entry 0 (where e1 is).
    let line2 = std::fs::read(&e2).unwrap();
    std::fs::write(log.join("envelope-index"), Sha256Digest::of(line2.strip_suffix(b"\n").unwrap()).0).unwrap();
    let out = append(&log, &key, &e2);
    assert_eq!(out.status.code(), Some(1), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("present"));
    let out = output(glassbox().args(["log", "prove"]).arg(&log).arg("--envelope").arg(&e2));
    assert_eq!(out.status.code(), Some(1), "a receipt for e1 was handed out as e2's");
    assert!(out.stdout.is_empty());
    assert_eq!(verify(&log, &vkey).status.code(), Some(0));
}

#[test]
fn d24_envelopes_over_the_size_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, _) = new_log(dir.path());
    let signer = PrivateKey::from_seed(&[6; 32]);
    let subject = ResourceDescriptor::named("big", Sha256Digest::of(b"big"));
    let big = Statement::new(vec![subject], "x", serde_json::json!({"b": "A".repeat(5 << 20)})).sign(&signer);
    let file = line_file(dir.path(), "big.jsonl", &big.to_line());
    let out = append(&log, &key, &file);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("big.jsonl:1") && stderr(&out).contains("limit"), "{}", stderr(&out));
    assert_eq!(size(&log), 0);
    assert!(!log.join("envelopes").exists(), "something was stored");
}

#[test]
fn d27_the_log_names_the_stored_line_and_stores_every_dsse_form_canonically() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let signer = PrivateKey::from_seed(&[7; 32]);
    let envelope = envelope_about("app", "x", &signer);
    let line = envelope.to_line();
    let canonical = Sha256Digest::of(line.as_bytes()).prefixed();
    // What other DSSE implementations write: `json.dumps`' spaces, an empty or absent key id,
    // URL-safe unpadded base64, a field DSSE does not define. Each is the same envelope.
    let spaced = line.replace("\":", "\": ").replace(",\"", ", \"");
    let extra = line.replace("\"sig\":", "\"note\":\"x\",\"sig\":");
    let keyless = line.replace(&format!("\"keyid\":\"{}\",", envelope.signatures[0].keyid), "\"keyid\":\"\",");
    let url_safe = {
        use base64::Engine as _;
        // The signature's base64 has `+`, `/` and padding; the URL-safe alphabet has none.
        let sig = &envelope.signatures[0].sig;
        let raw = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
        line.replace(sig.as_str(), &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    };
    for (what, other) in [("spaced", &spaced), ("unknown field", &extra), ("url-safe base64", &url_safe)] {
        assert_ne!(other, &line, "{what}");
        let file = line_file(dir.path(), "other.jsonl", other);
        let said = append_ok(&log, &key, &file);
        assert!(said.contains(&canonical), "{what}: {said}");
        assert_eq!(size(&log), 1, "{what} was logged twice");
    }
    // Stored, and named, as the canonical compact line: its sha256 is the entry's name.
    let stored = std::fs::read(log.join("envelopes/000.p/1")).unwrap();
    assert_eq!(stored, format!("{line}\n").as_bytes());
    let listed: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list"]).arg(&log).arg("--json"))).unwrap();
    assert_eq!(listed["entries"][0]["entry"]["envelope"], canonical.as_str());
    // An empty key id is another envelope (its signer list differs); its canonical form omits
    // the key id, as an envelope glassbox signs without one would.
    let file = line_file(dir.path(), "keyless.jsonl", &keyless);
    let report = append_json(&log, &key, &file);
    assert_eq!(report["added"][0]["index"], 1, "{report}");
    let without_keyid = keyless.replace("\"keyid\":\"\",", "");
    assert_eq!(
        report["rewritten"],
        serde_json::json!([{"submitted": Sha256Digest::of(keyless.as_bytes()).prefixed(),
                            "stored": Sha256Digest::of(without_keyid.as_bytes()).prefixed(),
                            "source": format!("{}:1", file.display())}]),
        "{report}"
    );
    // The spaced file proves its inclusion as the canonical envelope.
    let spaced_file = line_file(dir.path(), "spaced.jsonl", &spaced);
    let proof = dir.path().join("proof");
    std::fs::write(&proof, ok(glassbox().args(["log", "prove"]).arg(&log).arg("--envelope").arg(&spaced_file)))
        .unwrap();
    ok(glassbox()
        .args(["log", "check-proof"])
        .arg(&proof)
        .arg("--envelope")
        .arg(&spaced_file)
        .arg("--vkey")
        .arg(&vkey));
    verify(&log, &vkey);
}

#[test]
fn an_envelope_securesystemslib_writes_is_logged_in_canonical_form() {
    let Some(python) = python_with_sslib() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let script = r#"
import json
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner
signer = CryptoSigner.generate_ed25519()
stmt = {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "app", "digest": {"sha256": "a" * 64}}],
        "predicateType": "https://example.com/p/v1", "predicate": {}}
env = Envelope(payload=json.dumps(stmt).encode(), payload_type="application/vnd.in-toto+json", signatures={})
env.sign(signer)
print(json.dumps(env.to_dict()))
"#;
    let printed = ok(Command::new(python).arg("-c").arg(script));
    let submitted = printed.trim_end();
    assert!(submitted.contains("\": "), "securesystemslib writes spaced JSON: {submitted}");
    let file = line_file(dir.path(), "sslib.jsonl", submitted);
    let report = append_json(&log, &key, &file);
    let stored = std::fs::read_to_string(log.join("envelopes/000.p/1")).unwrap();
    let stored_digest = Sha256Digest::of(stored.trim_end().as_bytes()).prefixed();
    assert_eq!(report["rewritten"][0]["stored"], stored_digest.as_str(), "{report}");
    assert_eq!(report["rewritten"][0]["submitted"], Sha256Digest::of(submitted.as_bytes()).prefixed().as_str());
    // The stored line is the same envelope: its payload and signature are the submitted ones.
    let a: serde_json::Value = serde_json::from_str(submitted).unwrap();
    let b: serde_json::Value = serde_json::from_str(stored.trim_end()).unwrap();
    assert_eq!(a, b, "the canonical form changed the envelope");
    verify(&log, &vkey);
}

#[test]
fn d11_one_witness_key_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let (witness_key, witness_pub) = keypair(dir.path(), "witness");
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 1);
    append_ok(&log, &key, &file);
    // One key cosigns under two names, so the checkpoint carries two valid cosignature lines.
    let mut wkeys = Vec::new();
    for name in ["w1.example", "w2.example"] {
        ok(&mut cosign(&log, &witness_key, name, &dir.path().join(name), &vkey));
        let wkey = ok(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_pub).args(["--name", name]));
        wkeys.push(wkey.trim().to_string());
    }
    let proof = dir.path().join("proof");
    std::fs::write(&proof, ok(glassbox().args(["log", "prove"]).arg(&log).args(["--index", "0"]))).unwrap();
    let check_proof = |witnesses: &[&str]| {
        output(
            glassbox()
                .args(["log", "check-proof"])
                .arg(&proof)
                .arg("--envelope")
                .arg(&file)
                .args(["--vkey", &vkey])
                .args(witnesses),
        )
    };
    for (a, b) in [(&wkeys[0], &wkeys[0]), (&wkeys[0], &wkeys[1])] {
        let args = ["--witness", a, "--witness", b, "--witness-threshold", "2"];
        let out = output(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]).args(args));
        assert_ne!(out.status.code(), Some(0), "one witness counted twice: {}", String::from_utf8_lossy(&out.stdout));
        assert_ne!(check_proof(&args).status.code(), Some(0));
    }
    let out = check_proof(&["--witness", &wkeys[0], "--witness-threshold", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn d13_audit_trust_checks_every_signature_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let (builder_key, builder_pub) = keypair(dir.path(), "builder");
    let builder = PrivateKey::read(&builder_key).unwrap();
    // Logs one envelope, then audits the whole log trusting only the builder's key.
    let log_and_audit = |name: &str, envelope: &Envelope| {
        let appended = append(&log, &key, &line_file(dir.path(), name, &envelope.to_line()));
        assert_eq!(appended.status.code(), Some(0), "{}", stderr(&appended));
        output(glassbox().args(["log", "audit"]).arg(&log).args(["--vkey", &vkey]).arg("--trust").arg(&builder_pub))
    };
    // The only signature is valid but names no key id (allowed, formats.md section 6).
    let mut no_keyid = envelope_about("anonymous", "x", &builder);
    no_keyid.signatures[0].keyid.clear();
    let out = log_and_audit("a.jsonl", &no_keyid);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A valid signature plus a bogus one naming the builder's key id.
    let mut bogus = envelope_about("forged", "x", &builder);
    let keyid = bogus.signatures[0].keyid.clone();
    bogus.signatures.push(Signature { keyid, sig: "AAAA".repeat(22) });
    let out = log_and_audit("b.jsonl", &bogus);
    assert_eq!(out.status.code(), Some(1), "a bogus signature naming a trusted key passed: {}", stderr(&out));
    assert!(stderr(&out).contains("signature 2"), "{}", stderr(&out));
}

#[test]
fn d1_a_private_key_given_as_a_verifier_key_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let pem = std::fs::read_to_string(&key).unwrap();
    let secret: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key_arg = key.to_str().unwrap();
    let runs = [
        output(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", key_arg])),
        output(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey, "--witness", key_arg])),
        output(
            glassbox()
                .args(["log", "cosign"])
                .arg(log.join("checkpoint"))
                .arg("--key")
                .arg(&key)
                .arg("--state")
                .arg(dir.path().join("state"))
                .args(["--log-vkey", key_arg]),
        ),
        output(glassbox().args(["log", "verify"]).arg(&log).arg(format!("--vkey={}", pem.trim()))),
    ];
    for out in runs {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("private key"), "{err}");
        for line in &secret {
            assert!(!err.contains(line) && !String::from_utf8_lossy(&out.stdout).contains(line), "key printed: {err}");
        }
    }
}

#[test]
fn d8_hostile_log_files_do_not_hang_or_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 1);
    append_ok(&log, &key, &file);
    let pristine = dir.path().join("pristine");
    ok(Command::new("cp").arg("-a").arg(&log).arg(&pristine));
    let restore = || {
        std::fs::remove_dir_all(&log).unwrap();
        ok(Command::new("cp").arg("-a").arg(&pristine).arg(&log));
    };
    let verify_cmd = || {
        let mut c = glassbox();
        c.args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]);
        c
    };
    // FIFOs where a tile, the checkpoint and the index belong: refused at once, not waited on.
    for rel in ["tile/0/000.p/1", "checkpoint", "tile/entries/000.p/1"] {
        mkfifo(&log.join(rel));
        let mut cmd = if rel.contains("entries") {
            let mut c = glassbox();
            c.args(["log", "audit"]).arg(&log).args(["--vkey", &vkey]);
            c
        } else {
            verify_cmd()
        };
        let out = output_or_hang(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{rel}: {}", stderr(&out));
        restore();
    }
    mkfifo(&dir.path().join("fifo"));
    std::fs::remove_file(log.join("envelope-index")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("fifo"), log.join("envelope-index")).unwrap();
    let out = output_or_hang(glassbox().args(["log", "prove"]).arg(&log).arg("--envelope").arg(&file));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    restore();
    // A tile linked to /dev/zero: refused before reading (under a memory limit, so that reading
    // it all would fail fast instead of exhausting the machine).
    std::fs::remove_file(log.join("tile/0/000.p/1")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", log.join("tile/0/000.p/1")).unwrap();
    let out = output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 1000000; exec \"{GLASSBOX}\" log verify \"$0\" --vkey \"$1\""))
            .arg(&log)
            .arg(&vkey),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
