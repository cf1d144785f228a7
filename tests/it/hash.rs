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
    let err = String::from_utf8_lossy(&out.stderr);
    // The error names the dirty files (the untracked one is not among them).
    assert!(err.contains("differ from the git commit (tracked.txt)") && err.contains("--allow-dirty"), "{err}");
    let json = ok(glassbox().arg("hash").arg(tree).arg("--allow-dirty").arg("--json"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["dirty"], true);
}

#[test]
fn d23_exclude_patterns_from_the_source_match_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.rs", "a".repeat(200));
    write_tree(
        dir.path(),
        &[
            (&name, "x\n"),
            ("glassbox.toml", "[source]\nexclude = [\"*a*a*a*a*a*a*a*a*a*a*a*b\", \"**/*a*a*a*a*a*c/**\"]\n"),
        ],
    );
    let out = output_within(
        glassbox().arg("hash").arg(dir.path()).args(["--no-git", "--json"]),
        std::time::Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"], 2, "neither pattern matches the long name");
}

/// A progress sink that runs `act` once, when hashing starts (after the tree was selected).
struct OnHashingStart<F: Fn() + Sync>(F);

impl<F: Fn() + Sync> glassbox::progress::Progress for OnHashingStart<F> {
    fn phase(&self, _name: &str, _total: u64) {
        (self.0)()
    }
    fn advance(&self, _units: u64) {}
    fn finish_phase(&self) {}
}

fn select(dir: &std::path::Path) -> glassbox::tree::SourceTree {
    let options = glassbox::tree::TreeOptions { no_git: true, ..Default::default() };
    glassbox::tree::select(dir, &options).unwrap()
}

/// A directory `a.txt`, `b.txt`, selected as a tree.
fn two_file_tree() -> (tempfile::TempDir, glassbox::tree::SourceTree) {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &[("a.txt", "before\n"), ("b.txt", "other\n")]);
    let tree = select(dir.path());
    (dir, tree)
}

#[test]
fn d22_a_file_that_changes_while_it_is_hashed_is_refused() {
    let (dir, tree) = two_file_tree();
    let grow = || {
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("a.txt")).unwrap();
        std::io::Write::write_all(&mut f, b"appended while hashing\n").unwrap();
    };
    let err = glassbox::manifest::SourceManifest::hash(&tree, &OnHashingStart(grow)).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(msg.contains("a.txt") && msg.contains("changed while hashing"), "{msg}");
    // Unchanged, the same tree hashes.
    let tree = select(dir.path());
    assert!(glassbox::manifest::SourceManifest::hash(&tree, &glassbox::progress::Silent).is_ok());
}

#[test]
fn d8_a_file_replaced_by_a_fifo_before_it_is_hashed_is_refused_at_once() {
    let (dir, tree) = two_file_tree();
    let to_fifo = || {
        let path = dir.path().join("a.txt");
        std::fs::remove_file(&path).unwrap();
        assert!(Command::new("mkfifo").arg(&path).status().unwrap().success());
    };
    // Hashing in a thread: on a FIFO the old code blocked forever in open().
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let result = glassbox::manifest::SourceManifest::hash(&tree, &OnHashingStart(to_fifo));
            send.send(result.map(|_| ()).map_err(|e| e.to_string())).unwrap();
        });
        let result = receive.recv_timeout(std::time::Duration::from_secs(60));
        if result.is_err() {
            // Unblock the hung open() so the scope can end, then fail.
            let _ = std::fs::write(dir.path().join("a.txt"), b"");
            panic!("hashing a FIFO hangs");
        }
        let err = result.unwrap().unwrap_err();
        assert!(err.contains("a.txt") && err.contains("not a regular file"), "{err}");
    });
}
