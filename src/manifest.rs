//! The source manifest: one `<sha256>  <path>` line per file, sorted bytewise by path, exactly
//! the `sha256sum` format. Its own sha256 is the source digest. Hashing is parallel, largest
//! files first, streaming each file.

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

    /// Parses a manifest file; `origin` names it in errors. Lines must be sorted and unique.
    pub fn parse(text: &str, origin: &str) -> Result<SourceManifest> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = || format!("{origin}:{}", n + 1);
            let (hex, path) =
                line.split_once("  ").ok_or_else(|| Error::invalid(at(), "expected `<sha256>  <path>`"))?;
            let digest = Sha256Digest::parse(hex)
                .filter(|_| hex.len() == 64)
                .ok_or_else(|| Error::invalid(at(), format!("not a sha256 hex digest: {hex:?}")))?;
            entries.push(ManifestEntry { path: path.to_string(), digest });
        }
        let manifest = SourceManifest::from_entries(entries.clone())?;
        if manifest.entries != entries {
            return Err(Error::invalid(origin, "manifest lines are not sorted bytewise by path"));
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
                    match hash_file(&files[i].real, files[i].size, &mut buf) {
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

/// Streams one file through SHA-256. `expected_size` (from the tree's stat) lets a short read
/// that reaches it end the loop without one more `read` call that would only return 0.
fn hash_file(path: &Path, expected_size: u64, buf: &mut [u8]) -> Result<(Sha256Digest, u64)> {
    let mut file = File::open(path).at(path)?;
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
        if n == 0 || (n < buf.len() && total == expected_size) {
            break;
        }
    }
    Ok((Sha256Digest(hasher.finalize().into()), total))
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
    fn parse_rejects_unsorted_duplicate_and_unsafe() {
        let d = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for bad in
            [format!("{d}  b\n{d}  a\n"), format!("{d}  a\n{d}  a\n"), format!("{d}  ../x\n"), format!("{d} a\n")]
        {
            assert!(SourceManifest::parse(&bad, "m").is_err(), "{bad}");
        }
    }
}
