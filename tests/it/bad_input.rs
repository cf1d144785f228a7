//! Bad input to `glassbox build`: one clear line naming the cause (cargo's own account of a
//! failure indented under it), exit 2, and nothing written under `--out` or `--attestations`.

use std::path::Path;

use crate::support::*;

/// Runs a build of `workspace` and checks that it fails cleanly with `needle` in the message.
fn fails_cleanly(workspace: &Path, key: &Path, needle: &str) {
    let dir = workspace.parent().unwrap();
    let (out, att) = (dir.join("out"), dir.join("attestations"));
    let result = output(
        glassbox()
            .arg("build")
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .arg("--key")
            .arg(key)
            .arg("--out")
            .arg(&out)
            .arg("--attestations")
            .arg(&att)
            .arg("--source-date-epoch")
            .arg("0"),
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    // One line of glassbox's own; any more (cargo's account of a failed build) is indented
    // under it, so that no line of the vendor's output can pose as glassbox's.
    assert!(stderr.starts_with("glassbox: error: "), "{stderr}");
    assert!(stderr.trim_end().lines().skip(1).all(|l| l.starts_with("  ")), "{stderr}");
    assert!(!out.exists(), "{} was created", out.display());
    assert!(!att.exists(), "{} was created", att.display());
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    hello_workspace(&ws);
    let (key, _) = keypair(dir.path(), "k");
    (dir, ws, key)
}

#[test]
fn missing_and_malformed_keys() {
    let (dir, ws, _) = setup();
    fails_cleanly(&ws, &dir.path().join("nope.key"), "nope.key");
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    fails_cleanly(&ws, &garbage, "garbage.key");
}

#[test]
fn out_of_date_lockfile() {
    let (_dir, ws, key) = setup();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), manifest.replace("0.1.0", "0.2.0")).unwrap();
    fails_cleanly(&ws, &key, "Cargo.lock");
}

#[test]
fn non_utf8_file_name() {
    use std::os::unix::ffi::OsStrExt;
    let (_dir, ws, key) = setup();
    std::fs::write(ws.join(std::ffi::OsStr::from_bytes(b"data-\xff.bin")), "x").unwrap();
    fails_cleanly(&ws, &key, "not UTF-8");
}

#[test]
fn symlink_out_of_the_tree() {
    let (_dir, ws, key) = setup();
    std::os::unix::fs::symlink("/etc/hostname", ws.join("escape")).unwrap();
    fails_cleanly(&ws, &key, "escape: symlink points outside the tree");
}

#[test]
fn failing_cargo_build() {
    let (_dir, ws, key) = setup();
    std::fs::write(ws.join("src/main.rs"), "fn main() { let x: u32 = \"no\"; }\n").unwrap();
    fails_cleanly(&ws, &key, "cargo build failed: error[E0308]");
}

#[test]
fn missing_lockfile() {
    let (_dir, ws, key) = setup();
    std::fs::remove_file(ws.join("Cargo.lock")).unwrap();
    fails_cleanly(&ws, &key, "Cargo.lock");
}
