//! The docs' console transcripts, one test per document: each prepares the directory the
//! transcript starts in (from the suite's shared avscan build and fixtures) and runs every console
//! block of the document in order (`docs::scenario`).

use std::path::Path;

use crate::docs::{blocks, scenario};
use crate::support::*;

/// Copies a directory tree (regular files only).
fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in read_all(from) {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// docs/custody.md: the whole chain on one machine, with the guide's own policy (its `toml`
/// block) and one file to take in.
#[test]
fn custody_md() {
    if !have_tool("age", &["--version"]) {
        return;
    }
    scenario("docs/custody.md", |dir| {
        let text = std::fs::read_to_string(repo().join("docs/custody.md")).unwrap();
        let policy = blocks(&text).into_iter().find(|b| b.info == "toml").expect("the guide's policy");
        std::fs::write(dir.join("policy.toml"), policy.body.join("\n") + "\n").unwrap();
        write_tree(dir, &[("incoming/installer.exe", "MZ a suspicious installer\n")]);
    });
}

/// docs/check.md: the example on the `manifest-dir` fixture.
#[test]
fn check_md() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    scenario("docs/check.md", |dir| copy_fixture("manifest-dir", &dir.join("tests/fixtures/manifest-dir")));
}

/// docs/formats.md: the key id with openssl, the source digest and the bundles' listings of the
/// shared avscan build, a refused SOURCE_DATE_EPOCH.
#[test]
fn formats_md() {
    let pair = avscan_pair();
    scenario("docs/formats.md", |dir| {
        let text = std::fs::read_to_string(repo().join("docs/formats.md")).unwrap();
        let keys = blocks(&text).into_iter().find(|b| b.body.iter().any(|l| l.contains("BEGIN PUBLIC KEY"))).unwrap();
        let public: Vec<&str> =
            keys.body.iter().map(String::as_str).skip_while(|l| !l.contains("BEGIN PUBLIC KEY")).collect();
        std::fs::write(dir.join("rfc8032-1.pub"), public.join("\n") + "\n").unwrap();
        copy_avscan(&dir.join("examples/avscan"));
        copy_tree(&pair.a.attestations, &dir.join("attestations"));
        for bundle in ["avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz", "avscan-0.1.0-src.tar.gz"] {
            std::fs::copy(pair.a.out.join(bundle), dir.join(bundle)).unwrap();
        }
    });
}

/// docs/deployer.md: `verify` of the shared avscan build's bundle under a policy of the builder
/// and the log (the log made here from the build's provenance).
#[test]
fn deployer_md() {
    let pair = avscan_pair();
    scenario("docs/deployer.md", |dir| {
        let attestations = dir.join("attestations");
        copy_tree(&pair.a.attestations, &attestations);
        std::fs::create_dir_all(attestations.join("keys")).unwrap();
        std::fs::copy(&pair.public, attestations.join("keys/vendor.pub")).unwrap();
        let (log_key, _) = keypair(dir.parent().unwrap(), "log");
        let vkey = ok(glassbox()
            .args(["log", "init"])
            .arg(attestations.join("log"))
            .args(["--origin", "example.com/log", "--key"])
            .arg(&log_key));
        std::fs::write(attestations.join("keys/log.vkey"), vkey).unwrap();
        ok(glassbox()
            .args(["log", "append"])
            .arg(attestations.join("log"))
            .arg("--key")
            .arg(&log_key)
            .arg(attestations.join("avscan/0.1.0/x86_64-unknown-linux-gnu.provenance.intoto.jsonl")));
        std::fs::write(
            attestations.join("policy.toml"),
            "[builders]\nkeys = [\"keys/vendor.pub\"]\n[log]\nvkey = \"keys/log.vkey\"\nrequired = true\n",
        )
        .unwrap();
        let bundle = "avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz";
        std::fs::copy(pair.a.out.join(bundle), dir.join(bundle)).unwrap();
        let binary = "x86_64-unknown-linux-gnu/avscan";
        std::fs::create_dir_all(dir.join("x86_64-unknown-linux-gnu")).unwrap();
        std::fs::copy(pair.a.out.join(binary), dir.join(binary)).unwrap();
    });
}

/// docs/reviewer.md: `diff` of the two shared avscan builds, as the vendor's and the rebuild.
#[test]
fn reviewer_md() {
    let pair = avscan_pair();
    scenario("docs/reviewer.md", |dir| {
        copy_tree(&pair.a.out, &dir.join("vendor"));
        copy_tree(&pair.b.out, &dir.join("rebuilt"));
    });
}

/// docs/source-review.md: the shared avscan build's source bundle against a checkout of a next
/// version (made here: version 0.2.0, a doubled chunk size), diffed and reviewed.
#[test]
fn source_review_md() {
    let pair = avscan_pair();
    scenario("docs/source-review.md", |dir| {
        std::fs::copy(pair.a.out.join("avscan-0.1.0-src.tar.gz"), dir.join("avscan-0.1.0-src.tar.gz")).unwrap();
        let next = dir.join("avscan-0.2.0");
        copy_avscan(&next);
        for (file, old, new) in [
            ("Cargo.toml", "version = \"0.1.0\"", "version = \"0.2.0\""),
            ("crates/avscan-engine/src/lib.rs", "64 * 1024;", "128 * 1024;"),
        ] {
            let text = std::fs::read_to_string(next.join(file)).unwrap();
            assert!(text.contains(old), "{file} no longer holds {old}");
            std::fs::write(next.join(file), text.replace(old, new)).unwrap();
        }
    });
}

/// docs/releasing.md: the maintainers' keys and log, made in a fresh `attestations/`.
#[test]
fn releasing_md() {
    scenario("docs/releasing.md", |dir| std::fs::create_dir_all(dir.join("attestations/keys")).unwrap());
}

/// docs/log.md: the operator's commands on the shared avscan build's attestations.
#[test]
fn log_md() {
    scenario("docs/log.md", |dir| {
        let pair = avscan_pair();
        copy_tree(&pair.a.attestations, &dir.join("attestations"));
        std::fs::create_dir_all(dir.join("attestations/keys")).unwrap();
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::copy(&pair.public, dir.join("keys/vendor.pub")).unwrap();
    });
}
