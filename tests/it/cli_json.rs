//! The CLI's JSON reports, as a script reads them (docs/formats.md, "CLI JSON reports"): with
//! `--json` stdout is one JSON object whatever happened, errors included (`{"error": …}`, the
//! exit code unchanged); digests are `sha256:<hex>`; counts are the log's; `log append` names
//! the `file:line` of each entry; `log list` is an object with each verdict's result.

use std::process::Output;

use glassbox::attest::{ResourceDescriptor, Statement, SLSA_VSA_V1};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use serde_json::Value;

use crate::log::{envelopes, new_log};
use crate::support::*;

/// The error object of `out`, whose stdout must be exactly `{"error": {…}}` with the process's
/// exit code in it.
fn error_of(out: &Output, code: i32) -> Value {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout is not JSON: {:?}", String::from_utf8_lossy(&out.stdout)));
    // One line, so that a JSON-lines reader takes it as one more record.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "{json:#}");
    let object = json.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["error"], "{json:#}");
    let error = json["error"].clone();
    assert_eq!(error["exitCode"], code, "{error:#}");
    assert!(!error["message"].as_str().unwrap().is_empty(), "{error:#}");
    // stderr still says it, for a person.
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"), "{error:#}");
    error
}

/// Every string under a key named in `keys`, anywhere in `value` except inside a log entry's
/// `subjects` (the log's own format, bare hex: formats.md section 15).
fn digests<'a>(value: &'a Value, keys: &[&str], out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "subjects" {
                    continue;
                }
                if keys.contains(&k.as_str()) {
                    match v {
                        Value::Array(items) => out.extend(items.iter().map(|i| (k.clone(), i))),
                        Value::Null => {}
                        v => out.push((k.clone(), v)),
                    }
                }
                digests(v, keys, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| digests(i, keys, out)),
        _ => {}
    }
}

/// Fails unless every digest field of `report` is `sha256:` and 64 lowercase hex digits, and
/// there is at least one.
pub(crate) fn assert_prefixed_digests(report: &Value, keys: &[&str]) {
    let mut found = Vec::new();
    digests(report, keys, &mut found);
    assert!(!found.is_empty(), "no digest field {keys:?} in {report:#}");
    for (key, v) in found {
        let text = v.as_str().unwrap_or_else(|| panic!("{key} is not a string: {v}"));
        let hex = text.strip_prefix("sha256:").unwrap_or_else(|| panic!("{key} {text:?} has no sha256: prefix"));
        assert!(Sha256Digest::from_hex(hex).is_some(), "{key} {text:?} is not 64 lowercase hex digits");
    }
}

#[test]
fn errors_are_a_json_object_on_stdout_with_the_exit_code_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _, vkey) = new_log(dir.path());
    let missing = dir.path().join("missing");

    // Bad input, exit 2: a verifier key that is not one; a file that is not there; a usage error.
    let error =
        error_of(&output(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", "nonsense", "--json"])), 2);
    assert_eq!(
        (error["kind"].as_str(), error["subject"].as_str()),
        (Some("invalid"), Some("--vkey nonsense")),
        "{error:#}"
    );
    let error = error_of(&output(glassbox().args(["hash", "--json"]).arg(&missing)), 2);
    assert!(error["message"].as_str().unwrap().contains("missing"), "names the file: {error:#}");
    let error = error_of(&output(glassbox().args(["key", "id", "--json"]).arg(&missing)), 2);
    assert_eq!(error["subject"].as_str(), Some(missing.to_str().unwrap()), "{error:#}");
    let error = error_of(&output(glassbox().args(["log", "prove", "--json"]).arg(&log)), 2);
    assert_eq!(error["kind"], "usage", "{error:#}");
    assert!(error["message"].as_str().unwrap().contains("--index"), "{error:#}");

    // A definite no, exit 1: an audit trusting another key than the signer's.
    let file = dir.path().join("e.jsonl");
    envelopes(&file, 0, 2);
    ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(dir.path().join("log.key")).arg(&file));
    let (_, other) = keypair(dir.path(), "other");
    let audit = || {
        let mut cmd = glassbox();
        cmd.args(["log", "audit"]).arg(&log).args(["--vkey", &vkey]).arg("--trust").arg(&other);
        cmd
    };
    let error = error_of(&output(audit().arg("--json")), 1);
    assert_eq!(error["kind"], "rejected", "{error:#}");
    // Every entry not signed by a trusted key is named, not only the first.
    for entry in ["(entry 0)", "(entry 1)"] {
        assert!(error["reason"].as_str().unwrap().contains(entry), "{entry} not named: {error:#}");
    }
    // Without --json, stdout stays empty: the error is told on stderr only.
    let plain = output(&mut audit());
    assert_eq!((plain.status.code(), plain.stdout.is_empty()), (Some(1), true));
    // Help is not an error, even beside --json.
    let help = output(glassbox().args(["log", "verify", "--json", "--help"]));
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes:"));
}

/// A signed rebuild verdict about `name` saying `result`.
fn verdict(name: &str, result: &str, key: &PrivateKey) -> String {
    let subject = ResourceDescriptor::named(name, Sha256Digest::of(name.as_bytes()));
    let predicate = serde_json::json!({"verifier": {"id": "test"}, "verificationResult": result});
    Statement::new(vec![subject], SLSA_VSA_V1, predicate).sign(key).to_line()
}

fn json(args: &mut std::process::Command) -> Value {
    serde_json::from_str(&ok(args)).unwrap()
}

#[test]
fn log_reports_count_the_log_name_their_sources_and_prefix_their_digests() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let first = dir.path().join("first.jsonl");
    envelopes(&first, 0, 3);
    let signer = PrivateKey::from_seed(&[7; 32]);
    let second = dir.path().join("second.jsonl");
    // A blank line first: line numbers are the file's own.
    std::fs::write(&second, format!("\n{}\n{}\n", verdict("a", "PASSED", &signer), verdict("b", "FAILED", &signer)))
        .unwrap();

    let appended =
        json(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).args([&first, &second]).arg("--json"));
    let sources: Vec<&str> =
        appended["added"].as_array().unwrap().iter().map(|a| a["source"].as_str().unwrap()).collect();
    let (f, s) = (first.display().to_string(), second.display().to_string());
    assert_eq!(sources, [format!("{f}:1"), format!("{f}:2"), format!("{f}:3"), format!("{s}:2"), format!("{s}:3")]);
    assert_prefixed_digests(&appended, &["envelope", "root"]);
    let text = ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&key).arg(&second));
    let line = text.lines().find(|l| l.starts_with("present") && l.ends_with(":3")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.split_whitespace().eq(["present", "4", line.split_whitespace().nth(2).unwrap(), &format!("{s}:3")]));
    assert!(line.contains(" sha256:"), "{text}");

    // log verify says the log's size, and counts every entry it checked.
    let verified = json(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey, "--json"]));
    assert_eq!(
        (verified["size"].as_u64(), verified["entries"].as_u64(), verified["envelopes"].as_u64()),
        (Some(5), Some(5), Some(5))
    );
    assert_prefixed_digests(&verified, &["root"]);
    let text = ok(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey]));
    assert!(text.contains("size 5") && text.contains(", 1 tile authenticated"), "{text}");

    // log list is an object: the log's size and root, the entries, each verdict's result.
    let listed = json(glassbox().args(["log", "list"]).arg(&log).arg("--json"));
    assert_eq!(listed["size"], 5);
    assert_prefixed_digests(&listed, &["envelope", "root"]);
    let results: Vec<&Value> = listed["entries"].as_array().unwrap().iter().map(|e| &e["result"]).collect();
    assert_eq!(results, [&Value::Null, &Value::Null, &Value::Null, &Value::from("PASSED"), &Value::from("FAILED")]);
    let only = json(glassbox().args(["log", "list"]).arg(&log).args(["--type", SLSA_VSA_V1, "--json"]));
    assert_eq!((only["size"].as_u64(), only["entries"].as_array().unwrap().len()), (Some(5), 2));
    let text = ok(glassbox().args(["log", "list"]).arg(&log));
    let header = text.lines().next().unwrap();
    assert!(header.split_whitespace().eq(["index", "type", "result", "subjects", "signers"]), "{text}");
    assert!(text.lines().nth(5).unwrap().contains(" FAILED "), "{text}");

    // The reports that name one entry or key.
    let proof = json(glassbox().args(["log", "prove"]).arg(&log).args(["--index", "4", "--json"]));
    assert_eq!(proof["index"], 4);
    assert!(proof["proof"].as_str().unwrap().starts_with("c2sp.org/tlog-proof@v1\n"), "{proof:#}");
    let init = json(
        glassbox()
            .args(["log", "init"])
            .arg(dir.path().join("log2"))
            .args(["--origin", "a.example/b", "--key"])
            .arg(&key)
            .arg("--json"),
    );
    assert!(init["vkey"].as_str().unwrap().starts_with("a.example/b+"), "{init:#}");
}
