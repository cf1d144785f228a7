//! `glassbox verify` against the security review's attacks on the policy (D1, D3, D4, D8, D9,
//! D10, D11, D19, D26): each starts from the accepted avscan scenario of `verify.rs` and signs
//! small statements with the scenario's real keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox::attest::{Envelope, Signature, PAYLOAD_TYPE_INTOTO};
use glassbox::digest::Sha256Digest;
use glassbox::keys::{PrivateKey, PublicKey};
use serde_json::{json, Value};

use crate::support::*;
use crate::verify::{copy_of_attestations, log_all, scenario, verify, POLICY, PROVENANCE, TARGET};

/// The scenario's private key `name`.
fn key(name: &str) -> PrivateKey {
    PrivateKey::read(&scenario().keys.join(format!("{name}.key"))).unwrap()
}

/// The first envelope of a `.intoto.jsonl` file and its statement.
fn read_statement(path: &Path) -> (Envelope, Value) {
    let env = Envelope::parse_all(&std::fs::read_to_string(path).unwrap(), "test").unwrap().remove(0);
    let statement = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    (env, statement)
}

/// Signs `statement` (any JSON) as an in-toto envelope with `key`.
fn sign(statement: &Value, key: &PrivateKey) -> Envelope {
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &serde_json::to_vec(statement).unwrap(), key)
}

/// Writes envelopes as a `.intoto.jsonl` file.
fn write(path: &Path, envelopes: &[&Envelope]) {
    let text: String = envelopes.iter().map(|e| e.to_line() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

fn append(att: &Path, files: &[&Path]) {
    let s = scenario();
    ok(glassbox().args(["log", "append"]).arg(att.join("log")).arg("--key").arg(s.keys.join("log.key")).args(files));
}

fn provenance_of(att: &Path) -> PathBuf {
    att.join("avscan/0.1.0").join(PROVENANCE)
}

fn rebuild_file(att: &Path, rebuilder: &str) -> PathBuf {
    let id = PublicKey::read(&att.join(format!("keys/{rebuilder}.pub"))).unwrap().key_id();
    att.join(format!("avscan/0.1.0/{TARGET}.rebuild.{}.intoto.jsonl", id.short()))
}

/// A standard SLSA VSA v1 (no glassbox `reproduction` object) on the scenario's provenance.
fn standard_vsa(att: &Path, result: Value) -> Value {
    let (env, provenance) = read_statement(&provenance_of(att));
    let mut predicate = json!({
        "verifier": {"id": "https://example.com/r"},
        "timeVerified": "2026-01-01T00:00:00Z",
        "resourceUri": "avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz",
        "policy": {"uri": "https://example.com/policy"},
        "inputAttestations": [{"name": PROVENANCE, "digest": {"sha256": env.digest().hex()}}],
        "verifiedLevels": [],
        "slsaVersion": "1.0"
    });
    if !result.is_null() {
        predicate["verificationResult"] = result;
    }
    json!({"_type": "https://in-toto.io/Statement/v1", "subject": provenance["subject"],
           "predicateType": "https://slsa.dev/verification_summary/v1", "predicate": predicate})
}

/// `glassbox verify` (text) with a timeout: (exit code, stdout, stderr). 124 is a hang.
fn verify_text(artifact: &Path, policy: &Path) -> (i32, String, String) {
    let out =
        output(Command::new("timeout").arg("60").arg(GLASSBOX).arg("verify").arg(artifact).arg("--policy").arg(policy));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Verifies the scenario's binary: it must be rejected for its rebuilds alone.
fn rejected_for_rebuilds(att: &Path) -> Value {
    let (code, unmet, verdict) = verify(&scenario().binary, att);
    assert_eq!((code, unmet), (1, vec!["rebuilds".to_string()]), "{verdict:#}");
    verdict
}

#[test]
fn d3_a_trusted_standard_or_unreadable_verdict_is_not_ignored() {
    let s = scenario();
    // r3 writes a standard SLSA VSA that says FAILED: REJECTED, and the verdict is shown.
    let (_d, att) = copy_of_attestations("d3-failed");
    let failed = att.join("avscan/0.1.0/r3.vsa.intoto.jsonl");
    write(&failed, &[&sign(&standard_vsa(&att, json!("FAILED")), &key("r3"))]);
    append(&att, &[&failed]);
    let verdict = rejected_for_rebuilds(&att);
    assert!(verdict.to_string().contains("r3.vsa.intoto.jsonl"), "{verdict:#}");

    // So does one that names the provenance but lists other subjects.
    let (_d, att) = copy_of_attestations("d3-input");
    let other = att.join("avscan/0.1.0/r3.vsa.intoto.jsonl");
    let mut vsa = standard_vsa(&att, json!("FAILED"));
    vsa["subject"] = json!([{"name": "other", "digest": {"sha256": "0".repeat(64)}}]);
    write(&other, &[&sign(&vsa, &key("r3"))]);
    append(&att, &[&other]);
    rejected_for_rebuilds(&att);

    // A verdict that says something else than PASSED rejects too.
    let (_d, att) = copy_of_attestations("d3-odd");
    let odd = att.join("avscan/0.1.0/r3.vsa.intoto.jsonl");
    write(&odd, &[&sign(&standard_vsa(&att, json!("passed")), &key("r3"))]);
    append(&att, &[&odd]);
    assert_eq!(verify(&s.binary, &att).0, 1);

    // No verificationResult, or not a statement at all: verify cannot answer (exit 2).
    for (name, statement) in [
        ("no-result", standard_vsa(&att, Value::Null)),
        ("not-a-statement", json!({"_type": "https://in-toto.io/Statement/v1", "subject": "everything"})),
    ] {
        let (_d, att) = copy_of_attestations(&format!("d3-{name}"));
        write(&att.join("avscan/0.1.0/r3.vsa.intoto.jsonl"), &[&sign(&statement, &key("r3"))]);
        let (code, _, stderr) = verify_text(&s.binary, &att.join("policy.toml"));
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains("r3.vsa.intoto.jsonl:1"), "{name}: {stderr}");
    }
}

/// A copy of the scenario with r3's FAILED verdict in the glassbox form (r1's PASSED one with
/// the result changed) in a file of its own, not yet logged.
fn with_failed_verdict(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, att) = copy_of_attestations(name);
    let (_, mut vsa) = read_statement(&rebuild_file(&att, "r1"));
    vsa["predicate"]["verificationResult"] = json!("FAILED");
    vsa["predicate"]["verifiedLevels"] = json!([]);
    let failed = att.join("avscan/0.1.0/r3.vsa.intoto.jsonl");
    write(&failed, &[&sign(&vsa, &key("r3"))]);
    (dir, att, failed)
}

#[test]
fn d4_a_failed_verdict_left_out_of_the_directory_still_rejects() {
    let (_d, att, failed) = with_failed_verdict("d4-omitted");
    append(&att, &[&failed]);
    std::fs::remove_file(&failed).unwrap();
    let verdict = rejected_for_rebuilds(&att);
    assert!(verdict.to_string().contains("log entry"), "{verdict:#}");
}

/// Replaces the provenance by `envelope`, has r1 and r2 vouch for it, and logs everything.
fn replace_provenance(att: &Path, envelope: &Envelope) {
    write(&provenance_of(att), &[envelope]);
    for r in ["r1", "r2"] {
        let (_, mut vsa) = read_statement(&rebuild_file(att, r));
        vsa["predicate"]["inputAttestations"][0]["digest"]["sha256"] = json!(envelope.digest().hex());
        write(&rebuild_file(att, r), &[&sign(&vsa, &key(r))]);
    }
    log_all(att, &scenario().keys);
}

#[test]
fn d4_a_failed_verdict_is_not_sidestepped_by_re_signing_the_provenance() {
    let (_d, att, _) = with_failed_verdict("d4-resigned");
    // The vendor re-signs the same build under another invocation id, and r1 and r2 vouch for
    // the new envelope.
    let (_, mut provenance) = read_statement(&provenance_of(&att));
    provenance["predicate"]["runDetails"]["metadata"]["invocationId"] = json!("again");
    replace_provenance(&att, &sign(&provenance, &key("vendor")));
    rejected_for_rebuilds(&att);
}

#[test]
fn d10_the_builder_is_never_an_independent_rebuilder() {
    let s = scenario();
    // The policy may not list the vendor's key as a rebuilder.
    let (_d, att) = copy_of_attestations("d10-policy");
    let policy = POLICY.replace("\"keys/r3.pub\"]", "\"keys/r3.pub\", \"keys/vendor.pub\"]");
    std::fs::write(att.join("policy.toml"), policy).unwrap();
    let (code, _, stderr) = verify_text(&s.binary, &att.join("policy.toml"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("[builders] key \"keys/vendor.pub\"") && stderr.contains("[rebuilds] key"), "{stderr}");

    // r2 also signs the provenance: its PASSED verdict on it does not count.
    let (_d, att) = copy_of_attestations("d10-cosigned");
    let (mut env, _) = read_statement(&provenance_of(&att));
    let pae = glassbox::attest::dsse::pae(&env.payload_type, &env.payload_bytes().unwrap());
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD.encode(key("r2").sign(&pae));
    env.signatures.push(Signature { keyid: key("r2").public().key_id().to_string(), sig });
    replace_provenance(&att, &env);
    let verdict = rejected_for_rebuilds(&att);
    assert!(verdict.to_string().contains("signed the provenance itself"), "{verdict:#}");
}

#[test]
fn d9_subject_digests_are_64_lowercase_hex_digits() {
    let s = scenario();
    let binary = Sha256Digest::of(&std::fs::read(&s.binary).unwrap()).hex();
    for (name, spelling) in [("upper", binary.to_uppercase()), ("prefixed", format!("sha256:{binary}"))] {
        let (_d, att) = copy_of_attestations(&format!("d9-{name}"));
        let (_, mut provenance) = read_statement(&provenance_of(&att));
        for subject in provenance["subject"].as_array_mut().unwrap() {
            if subject["digest"]["sha256"] == json!(binary) {
                subject["digest"]["sha256"] = json!(spelling);
            }
        }
        write(&provenance_of(&att), &[&sign(&provenance, &key("vendor"))]);
        std::fs::write(att.join("policy.toml"), "[builders]\nkeys = [\"keys/vendor.pub\"]\n").unwrap();
        let (code, unmet, verdict) = verify(&s.binary, &att);
        assert_eq!((code, unmet), (1, vec!["builder".to_string()]), "{name}: {verdict:#}");
    }
}

#[test]
fn d26_verify_reads_a_log_mirrored_as_documented() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("d26");
    // The documented mirror: only checkpoint, tile/ and envelopes/.
    for entry in std::fs::read_dir(att.join("log")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !["checkpoint", "tile", "envelopes"].contains(&name.as_str()) {
            if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }.unwrap();
        }
    }
    let (code, unmet, verdict) = verify(&s.binary, &att);
    assert_eq!((code, unmet), (0, Vec::<String>::new()), "{verdict:#}");
    assert!(verdict["requirements"][0]["evidence"][0]["logIndex"].is_u64(), "{verdict:#}");
}

#[test]
fn d11_a_policy_counting_one_witness_twice_is_refused() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("d11");
    let (witness, witness_pub) = keypair(s.dir.path(), "d11-witness");
    ok(glassbox()
        .args(["log", "cosign"])
        .arg(att.join("log/checkpoint"))
        .arg("--key")
        .arg(&witness)
        .args(["--name", "w.example", "--state"])
        .arg(att.join("witness-state"))
        .arg("--log-vkey")
        .arg(att.join("keys/log.vkey"))
        .arg("--log")
        .arg(att.join("log")));
    let vkey = |name: &str| {
        ok(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_pub).args(["--name", name])).trim().to_string()
    };
    std::fs::write(att.join("keys/w.vkey"), vkey("w.example")).unwrap();
    std::fs::write(att.join("keys/w2.vkey"), vkey("w2.example")).unwrap();
    for (witnesses, case) in [
        ("\"keys/w.vkey\", \"keys/w.vkey\"", "one file twice"),
        ("\"keys/w.vkey\", \"keys/w2.vkey\"", "one key, two names"),
    ] {
        let policy = POLICY.replace(
            "witnesses = []\nwitness_threshold = 0",
            &format!("witnesses = [{witnesses}]\nwitness_threshold = 2"),
        );
        std::fs::write(att.join("policy.toml"), policy).unwrap();
        let (code, _, stderr) = verify_text(&s.binary, &att.join("policy.toml"));
        assert_eq!(code, 2, "{case}: {stderr}");
        assert!(stderr.contains("witnesses[1]") && stderr.contains("listed twice"), "{case}: {stderr}");
    }
}

#[test]
fn d1_a_private_key_in_the_policy_is_named_never_printed() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("d1");
    // A private key whose base64 holds a '+' (the old code printed those whole).
    let (private, body) = (0u8..)
        .find_map(|seed| {
            let prefix = att.join(format!("keys/mistake{seed}"));
            PrivateKey::from_seed(&[seed; 32]).write_pair(&prefix).unwrap();
            let text = std::fs::read_to_string(prefix.with_extension("key")).unwrap();
            let body = text.lines().nth(1).unwrap().to_string();
            body.contains('+').then(|| (prefix.with_extension("key"), body))
        })
        .unwrap();
    let rel = format!("keys/{}", private.file_name().unwrap().to_string_lossy());
    for policy in [
        POLICY.replace("vkey = \"keys/log.vkey\"", &format!("vkey = \"{rel}\"")),
        POLICY.replace(
            "witnesses = []\nwitness_threshold = 0",
            &format!("witnesses = [\"{rel}\"]\nwitness_threshold = 1"),
        ),
        POLICY.replace("keys/vendor.pub", &rel),
    ] {
        std::fs::write(att.join("policy.toml"), &policy).unwrap();
        let (code, stdout, stderr) = verify_text(&s.binary, &att.join("policy.toml"));
        assert_eq!(code, 2, "{policy}\n{stderr}");
        let tail = &body[body.len() - 24..];
        assert!(!stderr.contains(tail) && !stdout.contains(tail), "{stderr}");
        assert!(stderr.contains("private key") && stderr.contains(&rel), "{stderr}");
    }
}

#[test]
fn d8_verify_refuses_fifos_and_devices() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("d8");
    let fifo = att.join("fifo");
    ok(Command::new("mkfifo").arg(&fifo));
    let (code, _, stderr) = verify_text(&fifo, &att.join("policy.toml"));
    assert_eq!(code, 2, "artifact: {stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    for key in [fifo.to_str().unwrap(), "/dev/zero"] {
        std::fs::write(att.join("policy.toml"), POLICY.replace("keys/r3.pub", key)).unwrap();
        // The old code read /dev/zero to the end of memory: bound it so that it fails fast.
        let out = output(
            Command::new("sh")
                .arg("-c")
                .arg("ulimit -v 2000000; exec timeout 20 \"$@\"")
                .arg("sh")
                .arg(GLASSBOX)
                .arg("verify")
                .arg(&s.binary)
                .arg("--policy")
                .arg(att.join("policy.toml")),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains("not a regular file") && stderr.contains(key), "{key}: {stderr}");
    }
}

#[test]
fn d19_verify_escapes_file_names() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("d19");
    // Only one PASSED rebuild is left (REJECTED), under a name that forges a report.
    let forged = att.join(
        "avscan/0.1.0/z\n\n[met] rebuilds: 2 of 2 required independent PASSED rebuilds\n\nACCEPTED\n\u{1b}[8m.intoto.jsonl",
    );
    std::fs::rename(rebuild_file(&att, "r2"), &forged).unwrap();
    std::fs::write(att.join("policy.toml"), POLICY.replacen("required = 2", "required = 3", 1)).unwrap();
    let (code, stdout, _) = verify_text(&s.binary, &att.join("policy.toml"));
    assert_eq!(code, 1, "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(!stdout.lines().any(|l| l == "ACCEPTED" || l.starts_with("[met] rebuilds")), "{stdout}");
    assert!(stdout.contains("z\\x0a\\x0a[met] rebuilds"), "{stdout}");
}
