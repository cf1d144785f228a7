//! `glassbox verify` on the whole story, with examples/avscan: the vendor builds, two of three
//! rebuilders reproduce, a reviewer signs a full review, everything is logged, and the policy
//! accepts. Then each requirement alone is broken and the verdict names it. Then a second
//! version with one changed file is covered by a delta review.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use glassbox::attest::vsa::VerificationSummary;
use glassbox::attest::{Envelope, Statement, SLSA_VSA_V1};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use serde_json::Value;

use crate::support::*;

pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
pub(crate) const PROVENANCE: &str = "x86_64-unknown-linux-gnu.provenance.intoto.jsonl";
pub(crate) const ORIGIN: &str = "transparency.example/glassbox-log";

/// The attestations directory of the accepted scenario, built once.
pub(crate) struct Scenario {
    pub dir: tempfile::TempDir,
    /// attestations/ with keys/, policy.toml, avscan/0.1.0/ and log/.
    pub att: PathBuf,
    /// Private keys by name (vendor, r1, r2, r3, reviewer, log).
    pub keys: PathBuf,
    pub binary: PathBuf,
    pub source_bundle: PathBuf,
}

pub(crate) fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        let pair = avscan_pair();
        let dir = tempfile::tempdir().unwrap();
        let att = dir.path().join("attestations");
        let keys = dir.path().join("private");
        std::fs::create_dir_all(att.join("keys")).unwrap();
        std::fs::create_dir_all(&keys).unwrap();
        ok(Command::new("cp").arg("-a").arg(pair.a.attestations.join("avscan")).arg(&att));
        std::fs::copy(&pair.key, keys.join("vendor.key")).unwrap();
        std::fs::copy(&pair.public, att.join("keys/vendor.pub")).unwrap();
        for name in ["r1", "r2", "r3", "reviewer", "log", "stranger"] {
            let (_, public) = keypair(&keys, name);
            std::fs::copy(public, att.join(format!("keys/{name}.pub"))).unwrap();
        }
        let source_bundle = pair.a.out.join("avscan-0.1.0-src.tar.gz");
        let provenance = att.join("avscan/0.1.0").join(PROVENANCE);
        // Two of the three rebuilders reproduce.
        for r in ["r1", "r2"] {
            let trust = att.join("keys/vendor.pub");
            ok(reviewer_rebuild(dir.path(), &provenance, &source_bundle, &trust)
                .arg("--key")
                .arg(keys.join(format!("{r}.key"))));
        }
        review(&keys.join("reviewer.key"), &source_bundle, "safe-to-deploy", &att, &[]);
        let vkey = ok(glassbox()
            .args(["log", "init"])
            .arg(att.join("log"))
            .args(["--origin", ORIGIN, "--key"])
            .arg(keys.join("log.key")));
        std::fs::write(att.join("keys/log.vkey"), vkey).unwrap();
        log_all(&att, &keys);
        std::fs::write(att.join("policy.toml"), POLICY).unwrap();
        Scenario { binary: pair.a.out.join(TARGET).join("avscan"), source_bundle, dir, att, keys }
    })
}

pub(crate) const POLICY: &str = r#"
[builders]
keys = ["keys/vendor.pub"]
[rebuilds]
keys = ["keys/r1.pub", "keys/r2.pub", "keys/r3.pub"]
required = 2
[reviews]
keys = ["keys/reviewer.pub"]
required = 1
criteria = "safe-to-deploy"
[log]
vkey = "keys/log.vkey"
required = true
witnesses = []
witness_threshold = 0
"#;

/// `glassbox review sign` into `att` (or `--out` given in `extra`).
fn review(key: &Path, source: &Path, criteria: &str, att: &Path, extra: &[&str]) -> String {
    let mut cmd = glassbox();
    cmd.args(["review", "sign", "--source"]).arg(source).args(["--criteria", criteria, "--key"]).arg(key);
    if !extra.contains(&"--out") {
        cmd.arg("--attestations").arg(att);
    }
    ok(cmd.args(extra))
}

/// Appends every statement under `att` (but the log) to its log.
pub(crate) fn log_all(att: &Path, keys: &Path) {
    let files: Vec<PathBuf> = walkdir::WalkDir::new(att)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.to_string_lossy().ends_with(".intoto.jsonl"))
        .collect();
    ok(glassbox().args(["log", "append"]).arg(att.join("log")).arg("--key").arg(keys.join("log.key")).args(&files));
}

/// A copy of the scenario's attestations to break one thing in.
pub(crate) fn copy_of_attestations(name: &str) -> (tempfile::TempDir, PathBuf) {
    let s = scenario();
    let dir = tempfile::tempdir().unwrap();
    let att = dir.path().join(name);
    ok(Command::new("cp").arg("-a").arg(&s.att).arg(&att));
    (dir, att)
}

/// `glassbox verify --json`: the exit code and the unmet requirements' names.
pub(crate) fn verify(artifact: &Path, att: &Path) -> (i32, Vec<String>, Value) {
    let out = output(glassbox().arg("verify").arg(artifact).arg("--policy").arg(att.join("policy.toml")).arg("--json"));
    let verdict: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let unmet = verdict["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["met"] == false)
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    (out.status.code().unwrap_or(-1), unmet, verdict)
}

#[test]
fn the_whole_story_is_accepted() {
    let s = scenario();
    for artifact in [s.binary.clone(), avscan_pair().a.out.join("avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz")] {
        let (code, unmet, verdict) = verify(&artifact, &s.att);
        assert_eq!((code, unmet), (0, Vec::<String>::new()), "{verdict:#}");
        crate::cli_json::assert_prefixed_digests(&verdict, &["sha256", "sourceDigests"]);
        // Evidence names keys by key id (the policy's path beside it) and digests in full.
        let evidence: Vec<&Value> = verdict["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["evidence"].as_array().unwrap())
            .collect();
        assert!(evidence.iter().any(|e| e["key"].is_string()), "{verdict:#}");
        for e in evidence {
            if let Some(id) = e["key"].as_str() {
                assert!(Sha256Digest::from_hex(id).is_some() && e["keyPath"].is_string(), "{e:#}");
            }
            assert!(!e["detail"].as_str().unwrap().contains('…'), "a shortened digest: {e:#}");
        }
    }
    let text = ok(glassbox().arg("verify").arg(&s.binary).arg("--policy").arg(s.att.join("policy.toml")));
    for needle in ["[met] builder", "[met] rebuilds: 2 of 2", "[met] reviews", "[met] log", "log index", "ACCEPTED"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn a_verdict_only_in_the_log_counts_and_too_few_rebuilds_reject() {
    let (_d, att) = copy_of_attestations("one-rebuild");
    let r2 = glassbox::keys::PublicKey::read(&att.join("keys/r2.pub")).unwrap().key_id();
    std::fs::remove_file(att.join(format!("avscan/0.1.0/{TARGET}.rebuild.{}.intoto.jsonl", r2.short()))).unwrap();
    // r2's verdict is still in the log: it counts from there.
    let (code, unmet, verdict) = verify(&scenario().binary, &att);
    assert_eq!((code, unmet), (0, Vec::<String>::new()), "{verdict:#}");
    let rebuilds = verdict["requirements"].as_array().unwrap().iter().find(|r| r["name"] == "rebuilds").unwrap();
    let from_log = rebuilds["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["statement"].as_str().unwrap().starts_with("log entry"));
    assert_eq!(from_log.map(|e| e["counted"].clone()), Some(serde_json::Value::Bool(true)), "{rebuilds:#}");
    // Three required of the two there are: rejected.
    let policy = std::fs::read_to_string(att.join("policy.toml")).unwrap();
    std::fs::write(att.join("policy.toml"), policy.replace("required = 2", "required = 3")).unwrap();
    let (code, unmet, _) = verify(&scenario().binary, &att);
    assert_eq!((code, unmet), (1, vec!["rebuilds".to_string()]));
}

#[test]
fn a_passed_rebuild_by_an_untrusted_key_does_not_count() {
    let (_d, att) = copy_of_attestations("untrusted-rebuilder");
    let policy = POLICY.replace("\"keys/r2.pub\", ", "");
    std::fs::write(att.join("policy.toml"), policy.replace("required = 2", "required = 2\n# r2 is not trusted"))
        .unwrap();
    let (code, unmet, _) = verify(&scenario().binary, &att);
    assert_eq!((code, unmet), (1, vec!["rebuilds".to_string()]));
}

#[test]
fn a_failed_rebuild_by_a_trusted_key_rejects() {
    let s = scenario();
    let (_d, att) = copy_of_attestations("failed-rebuild");
    // r3 rebuilt and got other bytes: sign its FAILED verdict (from r1's, with the result
    // changed) and log it.
    let r1 = glassbox::keys::PublicKey::read(&att.join("keys/r1.pub")).unwrap().key_id();
    let text = std::fs::read_to_string(att.join(format!("avscan/0.1.0/{TARGET}.rebuild.{}.intoto.jsonl", r1.short())))
        .unwrap();
    let env = Envelope::parse_all(&text, "vsa").unwrap().remove(0);
    let mut vsa: Statement<VerificationSummary> = Statement::from_envelope(&env, SLSA_VSA_V1, "vsa").unwrap();
    vsa.predicate.verification_result = "FAILED".into();
    vsa.predicate.verified_levels.clear();
    let r3 = PrivateKey::read(&s.keys.join("r3.key")).unwrap();
    let failed = att.join(format!("avscan/0.1.0/{TARGET}.rebuild.{}.intoto.jsonl", r3.public().key_id().short()));
    std::fs::write(&failed, vsa.sign(&r3).to_line() + "\n").unwrap();
    ok(glassbox().args(["log", "append"]).arg(att.join("log")).arg("--key").arg(s.keys.join("log.key")).arg(&failed));
    let (code, unmet, verdict) = verify(&s.binary, &att);
    assert_eq!((code, unmet), (1, vec!["rebuilds".to_string()]), "{verdict:#}");
}

#[test]
fn a_rebuild_or_review_not_in_the_log_does_not_count() {
    let s = scenario();
    for (what, pattern, requirement) in [("rebuild", ".rebuild.", "rebuilds"), ("review", "review.", "reviews")] {
        let (_d, att) = copy_of_attestations(what);
        // A fresh log holding everything except one of these statements.
        std::fs::remove_dir_all(att.join("log")).unwrap();
        let vkey = ok(glassbox()
            .args(["log", "init"])
            .arg(att.join("log"))
            .args(["--origin", ORIGIN, "--key"])
            .arg(s.keys.join("log.key")));
        std::fs::write(att.join("keys/log.vkey"), vkey).unwrap();
        let mut skipped = false;
        let files: Vec<PathBuf> = std::fs::read_dir(att.join("avscan/0.1.0"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let skip = name.ends_with(".intoto.jsonl") && name.contains(pattern) && !skipped;
                skipped |= skip;
                name.ends_with(".intoto.jsonl") && !skip
            })
            .collect();
        ok(glassbox()
            .args(["log", "append"])
            .arg(att.join("log"))
            .arg("--key")
            .arg(s.keys.join("log.key"))
            .args(&files));
        let (code, unmet, verdict) = verify(&s.binary, &att);
        assert_eq!(code, 1, "{what}: {verdict:#}");
        assert_eq!(unmet, vec![requirement.to_string(), "log".to_string()], "{what}: {verdict:#}");
        // The missing statement is named with the trusted key that signed it.
        let log = verdict["requirements"].as_array().unwrap().iter().find(|r| r["name"] == "log").unwrap();
        let id = log["evidence"][0]["key"].as_str().unwrap_or_default();
        assert!(Sha256Digest::from_hex(id).is_some(), "{what}: not a key id: {log:#}");
    }
}

#[test]
fn a_review_of_another_source_or_weaker_criteria_does_not_count() {
    let s = scenario();
    // Weaker criteria: the reviewer signs safe-to-run instead (replacing their review).
    let (_d, att) = copy_of_attestations("weak-review");
    review(&s.keys.join("reviewer.key"), &s.source_bundle, "safe-to-run", &att, &[]);
    log_all(&att, &s.keys);
    let (code, unmet, verdict) = verify(&s.binary, &att);
    assert_eq!((code, unmet), (1, vec!["reviews".to_string()]), "{verdict:#}");

    // Another source: the reviewer's only review covers a tree with one more file, not the
    // built one.
    let (_d2, att2) = copy_of_attestations("other-source");
    for entry in std::fs::read_dir(att2.join("avscan/0.1.0")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("review.") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let other = s.dir.path().join("other-source");
    if !other.exists() {
        copy_avscan(&other);
        std::fs::write(other.join("EXTRA.md"), "not what was built\n").unwrap();
    }
    review(
        &s.keys.join("reviewer.key"),
        &other,
        "safe-to-deploy",
        &att2,
        &["--component", "avscan", "--version", "0.1.0"],
    );
    log_all(&att2, &s.keys);
    let (code, unmet, verdict) = verify(&s.binary, &att2);
    assert_eq!((code, unmet), (1, vec!["reviews".to_string()]), "{verdict:#}");
    // It is listed, not counted, with the reason.
    let listed = &requirement(&verdict, "reviews")["evidence"][0];
    assert_eq!(listed["counted"], false, "{verdict:#}");
    assert!(listed["detail"].as_str().unwrap().contains("about another source than this artifact's"), "{verdict:#}");
}

/// The requirement named `name` of a `verify --json` verdict.
fn requirement<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["requirements"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()
}

#[test]
fn a_file_without_provenance_counts_no_review_and_no_logged_statement() {
    let s = scenario();
    let stranger = s.dir.path().join("not-built-here.bin");
    std::fs::write(&stranger, b"bytes nobody attested\n").unwrap();
    let out = output(glassbox().arg("verify").arg(&stranger).arg("--policy").arg(s.att.join("policy.toml")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("+ ")), "something counted:\n{text}");
    assert!(text.contains("[met] log: no statement counted"), "{text}");
    assert!(!text.contains("every counted statement"), "{text}");
    assert!(text.contains("but no accepted provenance names this artifact's source"), "{text}");
}

#[test]
fn provenance_by_an_untrusted_builder_is_rejected() {
    let (_d, att) = copy_of_attestations("untrusted-builder");
    std::fs::write(att.join("policy.toml"), POLICY.replace("keys/vendor.pub", "keys/stranger.pub")).unwrap();
    let (code, unmet, verdict) = verify(&scenario().binary, &att);
    assert_eq!(code, 1);
    assert_eq!(unmet[0], "builder", "{verdict:#}");
}

#[test]
fn a_second_version_is_covered_by_a_delta_review() {
    let s = scenario();
    let pair = avscan_pair();
    let (_d, att) = copy_of_attestations("v2");
    // The vendor changes one file and builds again.
    let work = tempfile::tempdir().unwrap();
    let v2 = work.path().join("avscan");
    copy_avscan(&v2);
    let sigs = v2.join("crates/avscan-engine/signatures/signatures.txt");
    let mut text = std::fs::read_to_string(&sigs).unwrap();
    text.push_str("Demo.Worm.Beacon\t\"demo-worm-beacon-v2\"\n");
    std::fs::write(&sigs, text).unwrap();
    let (out, built_att) = build_workspace(&v2, work.path(), &s.keys.join("vendor.key"));
    ok(Command::new("cp").arg("-a").arg(built_att.join("avscan/0.1.0")).arg(att.join("avscan/0.1.0-v2")));
    let v2_bundle = out.join("avscan-0.1.0-src.tar.gz");

    // The reviewer sees exactly what changed, and reviews only that.
    let diff = output(glassbox().args(["review", "diff"]).arg(&s.source_bundle).arg(&v2_bundle));
    assert_eq!(diff.status.code(), Some(1));
    let listed = String::from_utf8_lossy(&diff.stdout);
    assert!(listed.contains("crates/avscan-engine/signatures/signatures.txt"), "{listed}");
    let v1_digest = std::fs::read_to_string(pair.a.attestations.join("avscan/0.1.0/sources.sha256")).unwrap();
    let v1_digest = glassbox::digest::Sha256Digest::of(v1_digest.as_bytes()).prefixed();
    let delta = att.join("avscan/0.1.0-v2/review.delta.intoto.jsonl");
    review(
        &s.keys.join("reviewer.key"),
        &v2_bundle,
        "safe-to-deploy",
        &att,
        &["--delta-from", &v1_digest, "--out", delta.to_str().unwrap()],
    );

    // Two rebuilders reproduce the second version; everything goes into the log.
    let provenance = att.join("avscan/0.1.0-v2").join(PROVENANCE);
    for r in ["r1", "r2"] {
        let trust = att.join("keys/vendor.pub");
        ok(reviewer_rebuild(s.dir.path(), &provenance, &v2_bundle, &trust)
            .arg("--key")
            .arg(s.keys.join(format!("{r}.key"))));
    }
    log_all(&att, &s.keys);
    let (code, unmet, verdict) = verify(&out.join(TARGET).join("avscan"), &att);
    assert_eq!((code, unmet), (0, Vec::<String>::new()), "{verdict:#}");
    let reviews = requirement(&verdict, "reviews");
    assert!(reviews["evidence"].to_string().contains("delta review"), "{reviews:#}");
    let counted = |verdict: &Value, what: &str| -> Vec<bool> {
        let evidence = requirement(verdict, "reviews")["evidence"].as_array().unwrap().clone();
        evidence
            .iter()
            .filter(|e| e["detail"].as_str().unwrap().starts_with(what))
            .map(|e| e["counted"] == true)
            .collect()
    };
    assert_eq!(counted(&verdict, "delta review"), [true], "{verdict:#}");
    assert_eq!(counted(&verdict, "full review"), [true], "the chain's start counts: {verdict:#}");
    // The first version: its full review counts, the delta review into the second does not.
    let (code, _, verdict) = verify(&s.binary, &att);
    assert_eq!(code, 0, "{verdict:#}");
    assert_eq!(counted(&verdict, "full review"), [true], "{verdict:#}");
    assert_eq!(counted(&verdict, "delta review"), [false], "{verdict:#}");
}
