//! `glassbox site` regenerated in place: after the log grew (a new release, a custody intake)
//! and a mismatch report left the attestations directory, the site regenerated over the old one
//! is byte for byte the site generated into an empty directory, only the files whose bytes
//! changed were written (the others keep their inode and mtime), the report page the site no
//! longer has is removed, and nothing the previous generation did not write (an operator's file,
//! a path a damaged `.glassbox-site` names outside `--out`) is touched. With `--state`, a run over
//! the grown log takes the custody readings of the entries it read before from the state and
//! still writes the same bytes; a new policy statement, a damaged state or one of another log is
//! not used (and said so), and a state where the operator's trust does not reach is refused.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use glassbox::attest::custody::{Intake, Period, BATCH_TREE};
use glassbox::attest::ResourceDescriptor;
use glassbox::custody::commitment::{commit, BatchTree};
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use serde_json::{json, Value};

use crate::site::{append, key, provenance, site, story, TARGET};
use crate::support::*;

/// Every file under `dir` with its bytes, inode and mtime (nanoseconds).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u64, i128)> {
    read_all(dir)
        .into_iter()
        .map(|(rel, bytes)| {
            let m = std::fs::symlink_metadata(dir.join(&rel)).unwrap();
            let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            (rel, (bytes, m.ino(), mtime))
        })
        .collect()
}

fn summary(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_grown_log_rewrites_only_what_changed_and_equals_a_fresh_site() {
    let s = story();
    let (in_place, fresh) = (s.c.path().join("site"), s.c.path().join("fresh"));
    let first = summary(&site(&s, &in_place, &["--json"]));
    assert_eq!(first["filesWritten"], first["files"], "an empty directory: every file written");
    // The operator's own file, and a damaged list naming a file outside --out.
    std::fs::write(in_place.join("operator.txt"), "mine").unwrap();
    let outside = s.c.path().join("outside.txt");
    std::fs::write(&outside, "not the site's").unwrap();
    let list = in_place.join(".glassbox-site");
    let mut text = std::fs::read_to_string(&list).unwrap();
    assert!(text.starts_with("glassbox site files v1\n") && text.contains("\nindex.html\n"), "{text}");
    text.push_str("../outside.txt\n/etc/hostname\n");
    std::fs::write(&list, text).unwrap();
    let unchanged = summary(&site(&s, &in_place, &["--json"]));
    assert_eq!(unchanged["filesWritten"], 1, "only the list, which was edited: {unchanged}");
    let before = snapshot(&in_place);

    // The log grows: a release by the trusted builder and a custody intake batch.
    let log_key = PrivateKey::read(&s.c.log_key).unwrap();
    let subjects = vec![ResourceDescriptor::named(format!("later-2.0-{TARGET}.tar.gz"), Sha256Digest::of(b"later"))];
    let later = provenance("later-2.0", &Sha256Digest::of(b"later source"), subjects).sign(&key(&s.c, "vendor"));
    append(&s.c.log, &log_key, &[&later]);
    let commitments: Vec<Sha256Digest> = (10..13u8).map(|i| commit(&[i; 32], &Sha256Digest::of(&[i]))).collect();
    let batch = BatchTree::new(commitments).unwrap();
    let intake = Intake {
        batch_id: "2".repeat(32),
        count: 3,
        period: Period { start: "2026-11-05T00:00:00Z".into(), end: "2026-11-05T01:00:00Z".into() },
        merkle_root: batch.root().hex(),
        tree: BATCH_TREE.into(),
    };
    append(&s.c.log, &log_key, &[&statements::sign_intake(&intake, &batch.root(), &key(&s.c, "center"))]);
    // And a mismatch report leaves the attestations directory: its page is no longer the site's.
    std::fs::remove_file(s.attestations.join("evil/mismatch.json")).unwrap();
    let report = format!("reports/{}.html", s.evil_failed_report.hex());
    assert!(before.contains_key(&report), "the report page was written");

    let again = summary(&site(&s, &in_place, &["--json"]));
    let fresh_summary = summary(&site(&s, &fresh, &["--json"]));
    let after = snapshot(&in_place);
    let mut expected = read_all(&fresh);
    expected.push(("operator.txt".into(), b"mine".to_vec()));
    expected.sort();
    let got: Vec<(String, Vec<u8>)> = after.iter().map(|(rel, (bytes, _, _))| (rel.clone(), bytes.clone())).collect();
    assert_eq!(got, expected, "regenerated in place = generated afresh (and the operator's file kept)");
    assert!(!in_place.join(&report).exists() && !fresh.join(&report).exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "not the site's", "nothing outside --out removed");
    assert_eq!(again["files"], fresh_summary["files"]);
    assert_eq!(again["filesRemoved"], 1, "{again}");

    let mut rewritten = 0;
    for (rel, (bytes, inode, mtime)) in &after {
        match before.get(rel) {
            Some((old, old_inode, old_mtime)) if old == bytes => {
                assert_eq!((inode, mtime), (old_inode, old_mtime), "{rel}: the same bytes, not rewritten");
            }
            Some((_, old_inode, _)) => {
                assert_ne!(inode, old_inode, "{rel}: changed, so replaced by a new file");
                rewritten += 1;
            }
            None => rewritten += 1,
        }
    }
    assert_eq!(again["filesWritten"], rewritten, "{again}");
    // What must not change did not: the assets, the envelopes of the statements before.
    for rel in ["verify.js", "site.css", &format!("envelopes/{}.json", s.provenance.hex())] {
        assert_eq!(before[rel].1, after[rel].1, "{rel} kept");
    }
    assert!(after.contains_key("releases/later-2.0-x86_64-unknown-linux-gnu.html"));
}

/// The custody statements (policy statements aside) of the story's log: an intake, a request,
/// two approvals and a release (`site::custody`).
const STORY_CUSTODY_STATEMENTS: u64 = 5;

#[test]
fn a_state_beside_the_site_is_reused_for_the_entries_read_before_and_changes_no_byte() {
    use std::os::unix::fs::PermissionsExt;
    let s = story();
    let (in_place, fresh) = (s.c.path().join("site"), s.c.path().join("fresh"));
    let state = s.c.path().join("state/site.state");
    let with_state = |out: &Path| summary(&site(&s, out, &["--json", "--state", state.to_str().unwrap()]));
    let same_as_fresh = |why: &str| {
        let _ = std::fs::remove_dir_all(&fresh);
        summary(&site(&s, &fresh, &["--json"]));
        assert!(read_all(&in_place) == read_all(&fresh), "{why}: the site with the state = the site without");
    };
    let first = with_state(&in_place);
    assert_eq!(first["state"]["custodyEntriesReused"], 0, "{first}");
    assert_eq!(first["state"]["discarded"], Value::Null, "no state yet is not a discarded one: {first}");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);

    // An intake batch logged: every custody statement before it is taken from the state.
    let log_key = PrivateKey::read(&s.c.log_key).unwrap();
    let batch = BatchTree::new(vec![commit(&[9; 32], &Sha256Digest::of(b"nine"))]).unwrap();
    let intake = Intake {
        batch_id: "9".repeat(32),
        count: 1,
        period: Period { start: "2026-11-06T00:00:00Z".into(), end: "2026-11-06T01:00:00Z".into() },
        merkle_root: batch.root().hex(),
        tree: BATCH_TREE.into(),
    };
    append(&s.c.log, &log_key, &[&statements::sign_intake(&intake, &batch.root(), &key(&s.c, "center"))]);
    // And a release the gateway signed that does not decode: a violation the custody page lists,
    // read now, while its bundle is the log's newest (a partial one), and later taken from the
    // state; its detail names no path, so it reads the same both times.
    let subjects = vec![ResourceDescriptor::named("sample", Sha256Digest::of(b"x"))];
    let garbled =
        glassbox::attest::Statement::new(subjects, glassbox::attest::SAMPLE_RELEASE_V1, json!({"request": 1}))
            .sign(&key(&s.c, "gateway"));
    let garbled_at = append(&s.c.log, &log_key, &[&garbled])[0];
    let again = with_state(&in_place);
    assert_eq!(again["state"]["custodyEntriesReused"], STORY_CUSTODY_STATEMENTS, "{again}");
    same_as_fresh("after an intake and a malformed release");
    let page = std::fs::read_to_string(in_place.join("custody.html")).unwrap();
    assert!(page.contains("malformed-release") && page.contains("a gateway signed a release that does not decode"));
    assert!(!page.contains(s.c.log.to_str().unwrap()), "no operator path");
    let next = Intake { batch_id: "8".repeat(32), ..intake };
    append(&s.c.log, &log_key, &[&statements::sign_intake(&next, &batch.root(), &key(&s.c, "center"))]);
    let again = with_state(&in_place);
    assert_eq!(again["state"]["custodyEntriesReused"], STORY_CUSTODY_STATEMENTS + 2, "{again}");
    same_as_fresh("the malformed release taken from the state");
    // Its stored envelope edited (no page shows it): refused, as without the state, though its
    // reading is kept.
    let size = glassbox::transparency::LogDir::new(&s.c.log).read_checkpoint().unwrap().1.size;
    let bundle = s.c.log.join(glassbox::transparency::LogDir::envelopes_path(0, size));
    let stored = std::fs::read(&bundle).unwrap();
    let mut lines: Vec<Vec<u8>> = stored.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let line = &mut lines[garbled_at as usize];
    let at = line.windows(7).position(|w| w == b"\"sig\":\"").unwrap() + 7;
    line[at] = if line[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&bundle, lines.join(&b'\n')).unwrap();
    for extra in [&["--state", state.to_str().unwrap()][..], &[]] {
        let o = site(&s, &fresh, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("does not hash to the entry's digest"), "{err}");
    }
    std::fs::write(&bundle, stored).unwrap();

    // A policy statement logged: the keys of every role may have changed, so nothing is reused.
    let policy = glassbox::policy::Policy::load(&s.c.policy).unwrap();
    let later = glassbox::time::Timestamp(crate::custody_support::POLICY_EFFECTIVE_AT + 7200);
    let republished = glassbox::custody::policies::sign_policy(&policy, None, later, &key(&s.c, "center")).unwrap();
    append(&s.c.log, &log_key, &[&republished]);
    let after_policy = with_state(&in_place);
    assert_eq!(after_policy["state"]["custodyEntriesReused"], 0, "{after_policy}");
    assert_eq!(with_state(&in_place)["state"]["custodyEntriesReused"], STORY_CUSTODY_STATEMENTS + 3);
    same_as_fresh("after a policy statement");

    // A damaged state, and one of another layout: not used, said why, and replaced.
    let mut flipped = std::fs::read(&state).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    for (bytes, why) in [
        (flipped, "damaged (its checksum does not match)"),
        (b"glassbox site state 2\n\xc1garbage".to_vec(), "damaged"),
        (b"glassbox site state 1\n\xc1garbage".to_vec(), "another layout"),
        (Vec::new(), "empty"),
    ] {
        std::fs::write(&state, bytes).unwrap();
        let o = with_state(&in_place);
        assert!(o["state"]["discarded"].as_str().is_some_and(|d| d.contains(why)), "{o}");
        assert_eq!(o["state"]["custodyEntriesReused"], 0, "{o}");
        same_as_fresh(why);
        assert_eq!(with_state(&in_place)["state"]["discarded"], Value::Null, "replaced by a usable state");
    }

    // Where the operator's trust does not reach: refused (exit 2, naming it), nothing written.
    let before = snapshot(&in_place);
    let link = s.c.path().join("state/link.state");
    std::os::unix::fs::symlink(&state, &link).unwrap();
    let inside = in_place.join("site.state");
    std::fs::copy(&state, &inside).unwrap();
    let shared = s.c.path().join("state/shared.state");
    std::fs::copy(&state, &shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o620)).unwrap();
    let open_dir = s.c.path().join("anyone");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let group_dir = s.c.path().join("group");
    std::fs::create_dir(&group_dir).unwrap();
    std::fs::set_permissions(&group_dir, std::fs::Permissions::from_mode(0o775)).unwrap();
    let notes = s.c.path().join("state/notes.txt");
    std::fs::write(&notes, "the operator's notes").unwrap();
    let dangling = s.c.path().join("later");
    std::os::unix::fs::symlink(s.c.path().join("site-later"), &dangling).unwrap();
    let mut cases = vec![
        (link.clone(), "is a symlink"),
        (inside.clone(), "is inside --out"),
        (shared.clone(), "may be written by others"),
        (open_dir.join("site.state"), "which others may write"),
        (group_dir.join("sub/site.state"), "which others may write"),
        (notes.clone(), "is not a state glassbox wrote"),
        (s.c.path().join("state/../state/site.state"), "with `..`"),
        (dangling.join("site.state"), "which does not resolve"),
    ];
    // Run as root (as CI is), a directory another user owns can be made.
    if std::fs::metadata(s.c.path()).unwrap().uid() == 0 {
        let theirs = s.c.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        cases.push((theirs.join("site.state"), "which another user owns"));
    }
    for (file, why) in &cases {
        let o = site(&s, &in_place, &["--state", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", file.display());
        assert!(err.contains(&file.display().to_string()) && err.contains(why), "{err}");
    }
    std::fs::remove_file(&inside).unwrap();
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "the operator's notes");
    assert!(!group_dir.join("sub").exists() && !s.c.path().join("site-later").exists());
    let after = snapshot(&in_place);
    assert!(before.keys().eq(after.keys()) && before.iter().all(|(k, v)| after[k] == *v), "nothing written");
    assert!(!open_dir.join("site.state").exists());
}
