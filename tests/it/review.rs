//! `glassbox review diff` and `glassbox review sign` on examples/avscan: what changed between
//! two sources of any kind (directory, source bundle, manifest, provenance), and a signed review
//! of an exact source digest that securesystemslib verifies and `glassbox verify` can read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use glassbox::attest::provenance::Provenance;
use glassbox::attest::review::{Review, Scope};
use glassbox::attest::{Envelope, Statement, REVIEW_V1, SLSA_PROVENANCE_V1};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PublicKey;
use serde_json::Value;

use crate::support::*;

const PROVENANCE: &str = "x86_64-unknown-linux-gnu.provenance.intoto.jsonl";
const ENGINE: &str = "crates/avscan-engine/src/lib.rs";
const ADDED: &str = "crates/avscan-engine/NOTES.md";

/// Two copies of avscan: `old` as published, `new` with one line of the engine changed and
/// one file added.
fn two_versions() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    copy_avscan(&old);
    copy_avscan(&new);
    let engine = new.join(ENGINE);
    let text = std::fs::read_to_string(&engine).unwrap();
    let changed = text.replace("DEFAULT_CHUNK_SIZE: usize = 64 * 1024", "DEFAULT_CHUNK_SIZE: usize = 128 * 1024");
    assert_ne!(text, changed, "{ENGINE} no longer has the line this test changes");
    std::fs::write(&engine, changed).unwrap();
    std::fs::write(new.join(ADDED), "Reviewed chunk sizes.\n").unwrap();
    (dir, old, new)
}

fn review_diff(old: &Path, new: &Path, extra: &[&str]) -> Output {
    output(glassbox().args(["review", "diff"]).arg(old).arg(new).args(extra))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one review statement of each line of `path`.
fn reviews_in(path: &Path) -> Vec<(Envelope, Statement<Review>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Envelope::parse_all(&text, "review")
        .unwrap()
        .into_iter()
        .map(|env| {
            let st = Statement::<Review>::from_envelope(&env, REVIEW_V1, "review").unwrap();
            (env, st)
        })
        .collect()
}

fn subject_digest(st: &Statement<Review>) -> String {
    st.subject[0].digest["sha256"].clone()
}

#[test]
fn diff_of_two_directories_names_the_changed_and_added_files() {
    let (_dir, old, new) = two_versions();
    let out = review_diff(&old, &new, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("M  {ENGINE}")) && stdout.contains(&format!("A  {ADDED}")), "{stdout}");
    assert!(stdout.contains("1 added, 0 removed, 1 changed"), "{stdout}");

    let same = review_diff(&old, &old, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert!(text(&same.stdout).contains("identical"));

    let patch = text(&review_diff(&old, &new, &["--patch"]).stdout);
    assert!(patch.contains(&format!("--- a/{ENGINE}\n+++ b/{ENGINE}\n@@ -")), "{patch}");
    assert!(patch.contains("\n-pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;\n"), "{patch}");
    assert!(patch.contains("\n+pub const DEFAULT_CHUNK_SIZE: usize = 128 * 1024;\n"), "{patch}");
    assert!(
        patch.contains(&format!("--- /dev/null\n+++ b/{ADDED}\n@@ -0,0 +1 @@\n+Reviewed chunk sizes.\n")),
        "{patch}"
    );

    let json: Value = serde_json::from_slice(&review_diff(&old, &new, &["--json", "--patch"]).stdout).unwrap();
    assert_eq!(json["identical"], false);
    assert_eq!(json["old"]["kind"], "directory");
    assert!(json["old"]["sourceDigest"].as_str().unwrap().starts_with("sha256:"));
    let files = json["files"].as_array().unwrap();
    let listed: Vec<(&str, &str)> =
        files.iter().map(|f| (f["path"].as_str().unwrap(), f["status"].as_str().unwrap())).collect();
    assert_eq!(listed, [(ADDED, "added"), (ENGINE, "changed")]);
    assert_eq!(files[1]["patch"]["kind"], "text");
    assert!(files[0]["oldSha256"].is_null() && files[0]["newSha256"].is_string());
}

#[test]
fn diff_against_the_manifest_bundle_and_provenance_of_a_build() {
    let pair = avscan_pair();
    let published = pair.a.attestations.join("avscan/0.1.0");
    let (manifest, provenance) = (published.join("sources.sha256"), published.join(PROVENANCE));
    let bundle = pair.a.out.join("avscan-0.1.0-src.tar.gz");
    for (old, new) in [(&manifest, &pair.a.clone), (&pair.a.clone, &provenance), (&bundle, &provenance)] {
        let out = review_diff(old, new, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} vs {}: {}{}",
            old.display(),
            new.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let out = text(&review_diff(&provenance, &bundle, &[]).stdout);
    assert!(out.contains("(provenance, ") && out.contains("(source bundle, "), "{out}");
    assert!(out.contains("signature was not checked"), "{out}");

    // A changed copy against the manifest: listed, but no contents to show for the old side.
    let (_dir, _old, new) = two_versions();
    let out = review_diff(&manifest, &new, &["--patch"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("{ENGINE}: contents not available")), "{stdout}");
    assert!(stdout.contains(&format!("+++ b/{ADDED}")), "{stdout}");

    let bad = review_diff(&pair.a.out.join("x86_64-unknown-linux-gnu/avscan"), &bundle, &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stdout));
    assert!(text(&bad.stderr).contains("x86_64-unknown-linux-gnu/avscan"), "{}", text(&bad.stderr));
}

fn sign(source: &Path, key: &Path, extra: &[&str]) -> Output {
    output(
        glassbox()
            .args(["review", "sign", "--source"])
            .arg(source)
            .arg("--key")
            .arg(key)
            .args(extra)
            .env("RUSTUP_HOME", rustup_home()),
    )
}

#[test]
fn a_signed_review_of_the_source_bundle_verifies_and_names_the_source() {
    let pair = avscan_pair();
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keypair(dir.path(), "reviewer");
    let att = dir.path().join("att");
    let att_arg = att.to_str().unwrap();
    let bundle = pair.a.out.join("avscan-0.1.0-src.tar.gz");
    let out = sign(
        &bundle,
        &key,
        &[
            "--criteria",
            "safe-to-deploy",
            "--attestations",
            att_arg,
            "--finding",
            &format!("{ENGINE}:28:low:chunk size is a guess"),
            "--notes",
            "read every file",
            "--reviewer-name",
            "Rae Viewer",
        ],
    );
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));

    let id = PublicKey::read(&public).unwrap().key_id();
    let file = att.join(format!("avscan/0.1.0/review.{}.intoto.jsonl", id.short()));
    let reviews = reviews_in(&file);
    assert_eq!(reviews.len(), 1);
    let (env, st) = &reviews[0];
    let prov_text = std::fs::read_to_string(pair.a.attestations.join("avscan/0.1.0").join(PROVENANCE)).unwrap();
    let prov_env = &Envelope::parse_all(&prov_text, "p").unwrap()[0];
    let prov: Statement<Provenance> = Statement::from_envelope(prov_env, SLSA_PROVENANCE_V1, "p").unwrap();
    let source = prov.predicate.build_definition.external_parameters.source.digest["sha256"].clone();
    assert_eq!(subject_digest(st), source);
    assert_eq!(st.subject[0].name.as_deref(), Some("avscan-0.1.0 source"));
    let r = &st.predicate;
    assert_eq!(
        (r.criteria.as_str(), &r.scope, r.reviewer.keyid.as_str()),
        ("safe-to-deploy", &Scope::Full, id.as_str())
    );
    assert_eq!((r.component.name.as_str(), r.component.version.as_str()), ("avscan", "0.1.0"));
    assert_eq!((r.findings[0].line, r.findings[0].severity.as_str()), (28, "low"));
    assert_eq!((r.notes.as_str(), r.reviewer.name.as_str()), ("read every file", "Rae Viewer"));
    assert!(glassbox::time::Timestamp::parse_rfc3339(&r.time_reviewed).is_some(), "{}", r.time_reviewed);
    assert_eq!(env.verified_by(&[PublicKey::read(&public).unwrap()]).unwrap(), vec![id.clone()]);
    if let Some(python) = python_with_sslib() {
        let verified = ok(Command::new(python).args(["-c", VERIFY_DSSE]).arg(&public).arg(&file));
        assert_eq!(verified.trim(), format!("{id} 1"));
    }

    // Signing the same source again replaces this key's review; a delta review of the next
    // version (from the first review's file) joins it in the same file.
    let json: Value = serde_json::from_str(&ok(glassbox()
        .args(["review", "sign", "--criteria", "safe-to-run", "--json", "--attestations", att_arg, "--source"])
        .arg(&bundle)
        .arg("--key")
        .arg(&key)))
    .unwrap();
    assert_eq!((json["replaced"].clone(), json["kept"].clone()), (Value::Bool(true), Value::from(0)));
    assert_eq!(reviews_in(&file).len(), 1);
    let (_dir, _old, new) = two_versions();
    let out = sign(
        &new,
        &key,
        &["--criteria", "safe-to-deploy", "--attestations", att_arg, "--delta-from", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let reviews = reviews_in(&file);
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0].1.predicate.criteria, "safe-to-run");
    assert_eq!(reviews[1].1.predicate.scope, Scope::Delta { from: source.clone() });
    assert_eq!(reviews[1].1.predicate.component.name, "avscan", "read from the workspace");
    assert_ne!(subject_digest(&reviews[1].1), source);
    if let Some(python) = python_with_sslib() {
        let verified = ok(Command::new(python).args(["-c", VERIFY_DSSE]).arg(&public).arg(&file));
        assert_eq!(verified.trim(), format!("{id} 2"));
    }
}

#[test]
fn delta_reviews_from_a_digest_and_refusals_name_the_value() {
    let (dir, old, new) = two_versions();
    let (key, _) = keypair(dir.path(), "reviewer");
    let manifest_text = ok(glassbox().args(["hash", "--out", "-"]).arg(&old));
    let old_digest = Sha256Digest::of(manifest_text.as_bytes());
    let out_file = dir.path().join("delta.intoto.jsonl");
    let out_arg = out_file.to_str().unwrap();
    let base = ["--component", "avscan", "--version", "0.2.0", "--out", out_arg];
    let delta =
        sign(&new, &key, &[&base[..], &["--criteria", "safe-to-run", "--delta-from", &old_digest.prefixed()]].concat());
    assert!(delta.status.success(), "{}", text(&delta.stderr));
    let reviews = reviews_in(&out_file);
    assert_eq!(reviews[0].1.predicate.scope, Scope::Delta { from: old_digest.hex() });
    assert_eq!(reviews[0].1.subject[0].name.as_deref(), Some("avscan-0.2.0 source"));
    std::fs::remove_file(&out_file).unwrap();

    for (extra, needle) in [
        (vec!["--criteria", "not ok!"], "not ok!"),
        (vec!["--criteria", "safe-to-deplyo"], "did you mean safe-to-deploy?"),
        (vec!["--criteria", "crypto-reviewed"], "--custom-criteria"),
        (vec!["--criteria", "safe-to-run", "--finding", "Cargo.toml:1:urgent:x"], "\"urgent\""),
        (vec!["--criteria", "safe-to-run", "--finding", "missing.rs:1:low:x"], "missing.rs"),
        (vec!["--criteria", "safe-to-run", "--finding", "Cargo.toml:one:low:x"], "\"one\""),
        (vec!["--criteria", "safe-to-run", "--paths", "*.nothing"], "*.nothing"),
        (vec!["--criteria", "safe-to-run", "--delta-from", "sha256:1234"], "sha256:1234"),
    ] {
        let out = sign(&old, &key, &[&base[..], &extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(needle), "{extra:?}: {}", text(&out.stderr));
        assert!(!out_file.exists(), "{extra:?} wrote a review");
    }
    // A custom criterion, said to be one, is signed as it is.
    let custom = sign(&old, &key, &[&base[..], &["--criteria", "crypto-reviewed", "--custom-criteria"]].concat());
    assert!(custom.status.success(), "{}", text(&custom.stderr));
    assert_eq!(reviews_in(&out_file)[0].1.predicate.criteria, "crypto-reviewed");
    std::fs::remove_file(&out_file).unwrap();
    let same =
        sign(&old, &key, &[&base[..], &["--criteria", "safe-to-run", "--delta-from", &old_digest.hex()]].concat());
    assert_eq!(same.status.code(), Some(2));
    assert!(text(&same.stderr).contains("is the source being reviewed"), "{}", text(&same.stderr));

    // A manifest does not say what it is the source of.
    let manifest = dir.path().join("sources.sha256");
    std::fs::write(&manifest, &manifest_text).unwrap();
    let out = sign(&manifest, &key, &["--criteria", "safe-to-run", "--out", out_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--component"), "{}", text(&out.stderr));
}

#[test]
fn d18_a_manifest_that_is_not_exactly_canonical_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let hex = Sha256Digest::of(b"1").hex();
    let good = format!("{hex}  a.txt\n{hex}  b.txt\n");
    let cases = [
        ("no-final-newline", format!("{hex}  a.txt\n{hex}  b.txt"), 2),
        ("crlf", format!("{hex}  a.txt\r\n{hex}  b.txt\r\n"), 1),
        ("uppercase", format!("{hex}  a.txt\n{}  b.txt\n", hex.to_uppercase()), 2),
        ("blank-line", format!("{hex}  a.txt\n\n{hex}  b.txt\n"), 2),
    ];
    let good_path = dir.path().join("good.sha256");
    std::fs::write(&good_path, &good).unwrap();
    for (name, body, line) in cases {
        let path = dir.path().join(format!("{name}.sha256"));
        std::fs::write(&path, body).unwrap();
        let out = review_diff(&good_path, &path, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}.sha256:{line}")), "{name}: {stderr}");
        assert!(stderr.contains("canonical"), "{name}: {stderr}");
        assert!(!stderr.contains(&hex), "{name}: the error quotes the file: {stderr}");
    }
    // The canonical form is accepted and its digest is sha256sum of the file.
    let out = review_diff(&good_path, &good_path, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["old"]["sourceDigest"], Sha256Digest::of(good.as_bytes()).prefixed());
}

#[test]
fn d19_review_diff_prints_file_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    let evil = "zz\u{1b}[2K\u{1b}[1A\u{1b}[2K\u{1b}[GM  docs.md";
    write_tree(&old, &[("docs.md", "d\n")]);
    write_tree(&new, &[("docs.md", "d\n"), ("evil.rs", "x\n"), (evil, "y\n")]);
    let out = review_diff(&old, &new, &["--no-git", "--patch"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!stdout.contains('\u{1b}'), "raw escape sequences: {stdout:?}");
    assert!(stdout.contains("A  evil.rs\n"), "{stdout}");
    assert!(stdout.contains("A  zz\\x1b[2K\\x1b[1A\\x1b[2K\\x1b[GM  docs.md\n"), "{stdout}");
}
