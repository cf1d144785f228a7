//! `glassbox site` regenerated in place: after the log grew (a new release, a custody intake)
//! and a mismatch report left the attestations directory, the site regenerated over the old one
//! is byte for byte the site generated into an empty directory, only the files whose bytes
//! changed were written (the others keep their inode and mtime), the report page the site no
//! longer has is removed, and nothing the previous generation did not write (an operator's file,
//! a path a damaged `.glassbox-site` names outside `--out`) is touched.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use glassbox::attest::custody::{Intake, Period, BATCH_TREE};
use glassbox::attest::ResourceDescriptor;
use glassbox::custody::commitment::{commit, BatchTree};
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use serde_json::Value;

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
