//! `glassbox hash`: the source digest and a manifest that `sha256sum -c` accepts.

use std::process::Command;

use crate::support::*;

#[test]
fn hash_prints_digest_and_writes_a_sha256sum_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write_tree(&tree, &[("b.txt", "beta\n"), ("a/x.rs", "fn x() {}\n"), ("a/y y.txt", "space in name\n")]);
    std::os::unix::fs::symlink("b.txt", tree.join("link-to-b")).unwrap();
    let manifest = dir.path().join("sources.sha256");
    let printed = ok(glassbox().arg("hash").arg(&tree).arg("--no-git").arg("--out").arg(&manifest));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let digest = glassbox::digest::Sha256Digest::of(text.as_bytes());
    assert_eq!(printed.trim(), digest.prefixed());
    let paths: Vec<&str> = text.lines().map(|l| l.split_once("  ").unwrap().1).collect();
    assert_eq!(paths, ["a/x.rs", "a/y y.txt", "b.txt", "link-to-b"]);
    if have_tool("sha256sum", &["--version"]) {
        ok(Command::new("sha256sum").args(["--check", "--strict"]).arg(&manifest).current_dir(&tree));
        // sha256sum agrees line by line.
        let theirs =
            ok(Command::new("sha256sum").args(["a/x.rs", "a/y y.txt", "b.txt", "link-to-b"]).current_dir(&tree));
        assert_eq!(theirs, text);
    }
    // JSON output carries the same digest; the same tree hashes the same from anywhere.
    let json = ok(glassbox().arg("hash").arg("--no-git").arg("--json").current_dir(&tree));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["sourceDigest"], digest.prefixed());
    assert_eq!(v["files"], 4);
}

#[test]
fn hash_in_a_git_checkout_uses_tracked_files_and_refuses_dirty_trees() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path();
    write_tree(tree, &[("tracked.txt", "one\n"), ("untracked.txt", "x\n")]);
    let git = |args: &[&str]| {
        ok(Command::new("git").arg("-C").arg(tree).args(["-c", "user.name=t", "-c", "user.email=t@e"]).args(args))
    };
    git(&["init", "-q"]);
    git(&["add", "tracked.txt"]);
    git(&["commit", "-q", "-m", "x"]);
    let json = ok(glassbox().arg("hash").arg(tree).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["files"], 1);
    assert_eq!(v["gitCommit"].as_str().unwrap(), git(&["rev-parse", "HEAD"]).trim());

    std::fs::write(tree.join("tracked.txt"), "two\n").unwrap();
    let out = output(glassbox().arg("hash").arg(tree));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-dirty"));
    let json = ok(glassbox().arg("hash").arg(tree).arg("--allow-dirty").arg("--json"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["dirty"], true);
}
