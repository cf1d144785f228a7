//! `glassbox log gc` (formats.md section 15, "Stale partial files"): it removes exactly the
//! partial tiles and bundles the current checkpoint does not need and the temporary files of
//! killed appends, the log verifies and audits as before, a second run removes nothing, and a
//! link planted in the tree is refused, never followed, with nothing removed.

use std::collections::BTreeSet;
use std::path::Path;

use crate::log::{append_ok, audit, envelopes, new_log, verify};
use crate::support::*;

/// Every file below `dir`, as paths relative to it (symlinks listed, not followed).
fn files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn gc(log: &Path, vkey: &str, extra: &[&str]) -> std::process::Output {
    output(glassbox().args(["log", "gc"]).arg(log).args(["--vkey", vkey]).args(extra))
}

fn gc_json(log: &Path, vkey: &str, extra: &[&str]) -> serde_json::Value {
    let out = gc(log, vkey, &[extra, &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn removed(json: &serde_json::Value) -> BTreeSet<String> {
    json["removed"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
}

/// A log grown 100, 300, 301, 302, 303 entries: each append left the partial files of the size
/// before it behind.
fn grown_log(dir: &Path) -> (std::path::PathBuf, String) {
    let (log, key, vkey) = new_log(dir);
    let mut first = 0;
    for count in [100, 200, 1, 1, 1] {
        let file = dir.join(format!("batch-{first}.jsonl"));
        envelopes(&file, first, count);
        append_ok(&log, &key, &file);
        first += count;
        if first == 100 {
            std::fs::copy(log.join("checkpoint"), dir.join("checkpoint-100")).unwrap();
        }
    }
    (log, vkey)
}

#[test]
fn spec_gc_removes_exactly_the_stale_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vkey) = grown_log(dir.path());
    // What a killed append and a killed cosign leave, and a file that is not glassbox's.
    std::fs::write(log.join("tile/0/001.p/.glassbox-tmp-append"), b"half a tile").unwrap();
    std::fs::write(log.join(".glassbox-tmp-Xy12ab"), b"half a checkpoint").unwrap();
    std::fs::write(log.join("tile/0/NOTES"), b"the publisher's").unwrap();
    let before = files(&log);

    // Written from the spec, not from the code: size 303 needs the full level-0 tile and
    // bundles 0, the edge of width 47 at index 1, and the level-1 tile of width 1.
    let mut stale: BTreeSet<String> =
        [".glassbox-tmp-Xy12ab", "tile/0/001.p/.glassbox-tmp-append"].into_iter().map(String::from).collect();
    for kind in ["tile/0", "tile/entries", "envelopes"] {
        for partial in ["000.p/100", "001.p/44", "001.p/45", "001.p/46"] {
            stale.insert(format!("{kind}/{partial}"));
        }
    }
    assert!(stale.is_subset(&before), "{:?}", stale.difference(&before).collect::<Vec<_>>());

    let dry = gc_json(&log, &vkey, &["--dry-run"]);
    assert_eq!(removed(&dry), stale);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(files(&log), before, "a dry run removed something");

    let done = gc_json(&log, &vkey, &[]);
    assert_eq!(removed(&done), stale);
    let bytes: u64 = stale.iter().map(|f| std::fs::metadata(log.join(f)).map_or(0, |m| m.len())).sum();
    assert_eq!(bytes, 0, "a file gc reported removed is still there");
    assert!(done["bytes"].as_u64().unwrap() > 0 && done["size"] == 303);
    let after = files(&log);
    assert_eq!(after, before.difference(&stale).cloned().collect::<BTreeSet<_>>());
    for kept in
        ["tile/0/000", "tile/0/001.p/47", "tile/1/000.p/1", "tile/entries/001.p/47", "envelopes/000", "tile/0/NOTES"]
    {
        assert!(after.contains(kept), "{kept}");
    }
    assert!(!log.join("tile/0/000.p").exists(), "the emptied .p directory is left");

    // The latest checkpoint verifies and audits as before, and the log still only grew since
    // an older checkpoint (the consistency proof comes from the current tree's tiles).
    for out in [verify(&log, &vkey), audit(&log, &vkey)] {
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let old = dir.path().join("checkpoint-100");
    ok(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", &vkey, "--old"]).arg(&old));
    ok(glassbox().args(["log", "prove"]).arg(&log).args(["--index", "302"]));

    let again = gc(&log, &vkey, &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("removed 0 stale file(s), 0 bytes"), "{again:?}");
    assert_eq!(files(&log), after);
}

#[test]
fn spec_gc_refuses_a_planted_link_and_a_log_that_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vkey) = grown_log(dir.path());
    let before = files(&log);
    // A link where a stale partial tile would be, and a directory link with stale names inside.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(outside.join("000.p")).unwrap();
    std::fs::write(outside.join("000.p/1"), b"x").unwrap();
    std::fs::write(outside.join(".glassbox-tmp-append"), b"x").unwrap();
    for (link, target) in [("tile/0/002.p/9", victim.as_path()), ("envelopes/x001", outside.as_path())] {
        std::fs::create_dir_all(log.join(link).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, log.join(link)).unwrap();
        let out = gc(&log, &vkey, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{link}: {stderr}");
        assert!(stderr.contains(link) && stderr.contains("symbolic link"), "{link}: {stderr}");
        std::fs::remove_file(log.join(link)).unwrap();
        assert_eq!(files(&log), before, "{link}: something was removed");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(files(&outside).len(), 2);

    // A log whose tiles do not verify is left as it is, as evidence.
    let tile = log.join("tile/0/000");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[7] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    let out = gc(&log, &vkey, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(files(&log), before);
    // And with another log's key nothing is removed either.
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    let other = new_log(&dir.path().join("other")).2;
    assert_eq!(gc(&log, &other, &[]).status.code(), Some(1));
    assert_eq!(files(&log), before);
}
