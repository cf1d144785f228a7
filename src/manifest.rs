//! The source manifest: one `<sha256>  <path>` line per file, sorted bytewise by path, exactly
//! the `sha256sum` format. Its own sha256 is the source digest. Hashing is parallel, largest
//! files first, from a memory map (large files) or `read` (small ones), refusing any file
//! that changes while it is read.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;
use crate::progress::Progress;
use crate::tree::{SourceTree, TreeFile};

/// One manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub path: String,
    pub digest: Sha256Digest,
}

/// A source manifest, entries sorted bytewise by path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SourceManifest {
    entries: Vec<ManifestEntry>,
}

/// Read buffer per hashing worker: large enough that a big file costs few system calls.
const READ_BUFFER: usize = 1 << 20;

impl SourceManifest {
    /// Builds a manifest from entries in any order; refuses duplicate or unsafe paths.
    pub fn from_entries(mut entries: Vec<ManifestEntry>) -> Result<SourceManifest> {
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for pair in entries.windows(2) {
            if pair[0].path == pair[1].path {
                return Err(Error::invalid(&pair[0].path, "listed twice in the manifest"));
            }
        }
        for e in &entries {
            check_relative(&e.path).map_err(|why| Error::invalid(&e.path, why))?;
        }
        Ok(SourceManifest { entries })
    }

    /// Hashes every file of `tree` in parallel.
    pub fn hash(tree: &SourceTree, progress: &dyn Progress) -> Result<SourceManifest> {
        let digests = hash_files(&tree.files, progress)?;
        let entries =
            tree.files.iter().zip(digests).map(|(f, digest)| ManifestEntry { path: f.rel.clone(), digest }).collect();
        SourceManifest::from_entries(entries)
    }

    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// The digest of the file at `path`, if listed.
    pub fn get(&self, path: &str) -> Option<Sha256Digest> {
        self.entries.binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes())).ok().map(|i| self.entries[i].digest)
    }

    /// The manifest file's text (`sha256sum` format).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 100);
        for e in &self.entries {
            out.push_str(&e.digest.hex());
            out.push_str("  ");
            out.push_str(&e.path);
            out.push('\n');
        }
        out
    }

    /// The source digest: sha256 of the manifest's text.
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(self.to_text().as_bytes())
    }

    /// Parses a manifest file; `origin` names it in errors. The text must be exactly canonical
    /// (what [`SourceManifest::to_text`] writes: 64 lowercase hex digits, two spaces, a safe
    /// path, LF, sorted bytewise, no duplicates), so that the digest glassbox reports and signs
    /// is `sha256sum` of the file (security review D18). Errors name the first bad line and
    /// never quote it.
    pub fn parse(text: &str, origin: &str) -> Result<SourceManifest> {
        let bad = |n: usize, why: &str| {
            Error::invalid(
                format!("{origin}:{n}"),
                format!(
                    "not a canonical manifest line ({why}); each line is `<64 lowercase hex digits>  <path>` and LF"
                ),
            )
        };
        let mut entries: Vec<ManifestEntry> = Vec::new();
        let mut rest = text;
        let mut n = 0;
        while !rest.is_empty() {
            n += 1;
            let Some((line, tail)) = rest.split_once('\n') else { return Err(bad(n, "no final newline")) };
            rest = tail;
            if line.contains('\r') {
                return Err(bad(n, "a CR before the LF"));
            }
            let (hex, path) = match (line.get(..64), line.get(64..66), line.get(66..)) {
                (Some(hex), Some("  "), Some(path)) => (hex, path),
                _ => return Err(bad(n, "no 64-digit digest followed by two spaces")),
            };
            if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad(n, "the digest is not lowercase hex"));
            }
            let digest = Sha256Digest::parse(hex).ok_or_else(|| bad(n, "the digest is not lowercase hex"))?;
            check_relative(path).map_err(|why| bad(n, why))?;
            if entries.last().is_some_and(|prev| prev.path.as_bytes() >= path.as_bytes()) {
                return Err(bad(n, "not sorted bytewise by path after the line before, or listed twice"));
            }
            entries.push(ManifestEntry { path: path.to_string(), digest });
        }
        let manifest = SourceManifest { entries };
        // Each line above is rebuilt exactly by `to_text`, so this holds; checked all the same
        // because the digest of this text is what gets signed.
        if manifest.to_text() != text {
            return Err(Error::invalid(origin, "not a canonical manifest"));
        }
        Ok(manifest)
    }
}

/// Hashes `files`, returning digests in the same order. Workers take the largest remaining file
/// first so that one big file does not finish last on a single core.
pub fn hash_files(files: &[TreeFile], progress: &dyn Progress) -> Result<Vec<Sha256Digest>> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    progress.phase("hashing", files.iter().map(|f| f.size).sum());

    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Sha256Digest>>> = Mutex::new(vec![None; files.len()]);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let workers = rayon::current_num_threads().min(files.len()).max(1);

    rayon::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| {
                let mut buf = vec![0u8; READ_BUFFER];
                let mut done = Vec::new();
                while !failed.load(Ordering::Relaxed) {
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                    match hash_file(&files[i], &mut buf) {
                        Ok((digest, n)) => {
                            done.push((i, digest));
                            progress.advance(n);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        }
                    }
                }
                let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
                for (i, d) in done {
                    results[i] = Some(d);
                }
            });
        }
    });
    progress.finish_phase();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // Every index was taken by exactly one worker and no worker failed, so all are set.
    Ok(results.into_iter().map(|d| d.unwrap_or(Sha256Digest([0; 32]))).collect())
}

/// Files at least this large are hashed from a memory map instead of `read` copies. Smaller
/// ones are faster with `read`: mapping and unmapping a file costs more than copying it.
const MAP_AT_LEAST: u64 = 1 << 20;

/// Hashes one file of the tree, refusing anything that is not the regular file the tree
/// listed or that changes while it is read (security review D22): the open file's size, mtime
/// and ctime are compared before and after, and its size with the tree's record.
fn hash_file(file: &TreeFile, buf: &mut [u8]) -> Result<(Sha256Digest, u64)> {
    let path = file.real.as_path();
    let opened = open_regular(path)?;
    let before = FileState::of(&opened.metadata().at(path)?);
    if before.size != file.size {
        return Err(changed(path));
    }
    let (digest, total) = if before.size >= MAP_AT_LEAST {
        hash_mapped(&opened, path)?
    } else {
        hash_read(&opened, path, before.size, buf)?
    };
    check_unchanged(&opened, path, &before, total)?;
    Ok((digest, total))
}

/// Opens `path` for reading without following a final symlink and without blocking (a FIFO
/// put in a file's place cannot hang hashing), and refuses anything but a regular file.
fn open_regular(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path).at(path)?;
    if !opened.metadata().at(path)?.file_type().is_file() {
        return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    Ok(opened)
}

/// What identifies one version of an open file: if any of it differs after hashing, the bytes
/// read may mix two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileState {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileState {
    fn of(meta: &std::fs::Metadata) -> FileState {
        use std::os::unix::fs::MetadataExt;
        FileState {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

fn changed(path: &Path) -> Error {
    Error::invalid(path.display(), "changed while hashing; hash again once nothing writes to the tree")
}

/// Refuses the digest of `opened` unless the file is still in the state `before` and `total`
/// bytes were read, its whole size. (A file renamed over `path` meanwhile is not looked for: the
/// bytes hashed are then one consistent version, as if the rename came just after.)
fn check_unchanged(opened: &File, path: &Path, before: &FileState, total: u64) -> Result<()> {
    let after = FileState::of(&opened.metadata().at(path)?);
    if after != *before || total != before.size {
        return Err(changed(path));
    }
    Ok(())
}

/// Streams a file through SHA-256 with `read`. `size` (from the open file's stat) lets a
/// short read that reaches it end the loop without one more `read` that would return 0.
fn hash_read(mut file: &File, path: &Path, size: u64, buf: &mut [u8]) -> Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        if n == 0 || (n < buf.len() && total == size) {
            break;
        }
    }
    Ok((Sha256Digest(hasher.finalize().into()), total))
}

/// Hashes a large file from a read-only memory map: no copy into a buffer (`read` copies were
/// a fifth of `hash`'s CPU time).
fn hash_mapped(file: &File, path: &Path) -> Result<(Sha256Digest, u64)> {
    // SAFETY: `file` is a regular file (checked by `open_regular`) opened read-only, and the
    // map is only read, by SHA-256, within this function. Another process may still write to
    // the file while it is mapped: the bytes seen may then mix versions, which
    // `check_unchanged` detects afterwards (the digest is refused), or it may truncate the file,
    // which raises SIGBUS and ends glassbox without recording anything. That residual risk is
    // accepted: it needs write access to the tree being hashed, whose owner can stop glassbox
    // anyway, and it fails closed (no digest, no manifest).
    let map = unsafe { memmap2::MmapOptions::new().map(file) }.at(path)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let digest = Sha256Digest(Sha256::digest(&map[..]).into());
    Ok((digest, map.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::tree::{select, TreeOptions};

    #[test]
    fn manifest_text_and_digest_match_sha256sum_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "abc").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x"), "").unwrap();
        let tree = select(dir.path(), &TreeOptions { no_git: true, ..Default::default() }).unwrap();
        let m = SourceManifest::hash(&tree, &Silent).unwrap();
        let text = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a/x\n\
                    ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b\n";
        assert_eq!(m.to_text(), text);
        assert_eq!(m.digest(), Sha256Digest::of(text.as_bytes()));
        assert_eq!(SourceManifest::parse(text, "m").unwrap(), m);
        assert_eq!(m.get("b"), Sha256Digest::parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }

    #[test]
    fn parse_rejects_unsorted_duplicate_unsafe_and_non_canonical() {
        let d = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let upper = d.to_uppercase();
        for (bad, line) in [
            (format!("{d}  b\n{d}  a\n"), 2),
            (format!("{d}  a\n{d}  a\n"), 2),
            (format!("{d}  ../x\n"), 1),
            (format!("{d} a\n"), 1),
            (format!("{d}  a"), 1),
            (format!("{d}  a\r\n"), 1),
            (format!("{d}  a\n{upper}  b\n"), 2),
            (format!("{d}  a\n\n"), 2),
            (format!("sha256:{d}  a\n"), 1),
        ] {
            let err = SourceManifest::parse(&bad, "m").unwrap_err().to_string();
            assert!(err.contains(&format!("m:{line}: not a canonical manifest line")), "{bad:?}: {err}");
            assert!(!err.contains(d) && !err.contains(&upper), "quotes the file: {err}");
        }
        assert_eq!(SourceManifest::parse("", "m").unwrap(), SourceManifest::default());
    }

    #[test]
    fn a_file_changed_between_open_and_finish_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "one").unwrap();
        let opened = open_regular(&path).unwrap();
        let before = FileState::of(&opened.metadata().unwrap());
        assert!(check_unchanged(&opened, &path, &before, 3).is_ok());
        assert!(check_unchanged(&opened, &path, &before, 2).is_err(), "a short read");
        // Same size, new contents: the mtime or ctime moves.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "two").unwrap();
        let err = check_unchanged(&opened, &path, &before, 3).unwrap_err();
        assert!(err.to_string().contains("changed while hashing"), "{err}");
        // Truncated while open.
        let opened = open_regular(&path).unwrap();
        let before = FileState::of(&opened.metadata().unwrap());
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1).unwrap();
        assert!(check_unchanged(&opened, &path, &before, 3).is_err());
    }

    #[test]
    fn mapped_and_read_hashing_agree() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(MAP_AT_LEAST as u32 + 12_345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &data).unwrap();
        std::fs::write(dir.path().join("small"), &data[..1000]).unwrap();
        let tree = select(dir.path(), &TreeOptions { no_git: true, ..Default::default() }).unwrap();
        let m = SourceManifest::hash(&tree, &Silent).unwrap();
        assert_eq!(m.get("big"), Some(Sha256Digest::of(&data)));
        assert_eq!(m.get("small"), Some(Sha256Digest::of(&data[..1000])));
        assert!(open_regular(Path::new("/dev/null")).unwrap_err().to_string().contains("not a regular file"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            #[test]
            fn any_text_parses_only_if_canonical(text in "(([0-9a-fA-F]{62,65}|sha256:)[ \t]{0,3}[a-z./ \r]{0,6}\r?\n?){0,4}") {
                if let Ok(m) = SourceManifest::parse(&text, "m") {
                    prop_assert_eq!(m.to_text(), text);
                }
            }

            #[test]
            fn manifests_round_trip(entries in prop::collection::btree_map("[a-z]{1,4}(/[a-z .]{1,4}){0,2}", any::<[u8; 32]>(), 0..8)) {
                let entries: Vec<ManifestEntry> = entries
                    .into_iter()
                    .filter(|(p, _)| check_relative(p).is_ok())
                    .map(|(path, d)| ManifestEntry { path, digest: Sha256Digest(d) })
                    .collect();
                let m = SourceManifest::from_entries(entries).unwrap();
                prop_assert_eq!(SourceManifest::parse(&m.to_text(), "m").unwrap(), m);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let _ = SourceManifest::parse(&String::from_utf8_lossy(&bytes), "m");
            }
        }
    }
}
