//! Bad input to `glassbox build`: one clear line naming the cause (cargo's own account of a
//! failure indented under it), exit 2, and nothing written under `--out` or `--attestations`;
//! a file name holding control characters named on that one line, escaped.

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

/// F4: a file name holding a newline (followed by what looks like a line of glassbox's own) and
/// an ESC (a terminal's erase-line sequence), given to commands that fail on it: the error is
/// exactly one line on stderr, the name's control characters escaped, and the JSON error
/// object's `subject` and `message` escape them the same way.
#[test]
fn a_file_name_with_a_newline_or_an_escape_never_starts_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\nglassbox: error: forged\x1b[2K.key";
    let shown = "evil\\x0aglassbox: error: forged\\x1b[2K.key";
    let garbage = dir.path().join(name);
    std::fs::write(&garbage, "not a key\n").unwrap();
    let missing = dir.path().join(format!("gone-{name}"));
    let ws = dir.path().join("ws");
    hello_workspace(&ws);

    let mut build = glassbox();
    build.arg("build").arg("--manifest-path").arg(ws.join("Cargo.toml")).arg("--key").arg(&garbage);
    build.args(["--out"]).arg(dir.path().join("out"));
    let mut key_id = glassbox();
    key_id.args(["key", "id"]).arg(&garbage);
    let mut hash = glassbox();
    hash.arg("hash").arg(&missing);
    for (what, mut cmd) in [("build --key", build), ("key id", key_id), ("hash", hash)] {
        let result = output(&mut cmd);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: one error, one line:\n{stderr}");
        assert!(stderr.starts_with("glassbox: error: ") && stderr.contains(shown), "{what}: {stderr}");
        assert!(!stderr.contains('\x1b'), "{what}: a raw ESC reaches the terminal: {stderr:?}");

        let result = output(cmd.arg("--json"));
        assert_eq!(result.status.code(), Some(2), "{what}");
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert_eq!(stdout.lines().count(), 1, "{what}: {stdout}");
        let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let subject = error["error"]["subject"].as_str().unwrap();
        assert!(subject.ends_with(shown), "{what}: the subject is escaped: {subject:?}");
        assert!(!subject.contains(['\n', '\x1b']), "{what}: {subject:?}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(subject) && !message.contains('\n'), "{what}: {message:?}");
    }
}
