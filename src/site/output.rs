//! Writing the site into `--out` (docs/site.md, formats.md section 19): a file whose bytes are
//! already there is left alone (same inode, same mtime), the others are written as one atomic
//! batch, and the files an earlier generation wrote that the site no longer has are removed. So
//! regenerating in place after the log grew rewrites only what changed and leaves the same tree
//! as a generation into an empty directory. What glassbox wrote is listed in
//! `--out/.glassbox-site`; nothing in `--out` that the list does not name is removed, and nothing
//! is written or removed outside `--out` (no directory on the way may be a symlink).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file listing what glassbox wrote, relative to `--out`.
pub const MANIFEST: &str = ".glassbox-site";
/// Its first line; a list without it (or damaged) names nothing, so nothing is removed.
const MANIFEST_HEADER: &str = "glassbox site files v1";
/// The longest list read: a site of 10^6 files of 100-byte names.
const MANIFEST_LIMIT: u64 = 100 << 20;

/// What writing the site did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    /// Files written (new or different).
    pub written: usize,
    /// Files left as they were: already the same bytes.
    pub unchanged: usize,
    /// Files an earlier generation wrote that the site no longer has, removed.
    pub removed: usize,
}

/// Writes `files` (relative paths under `out`) and the list of them; see the module comment.
pub fn write_site(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Written> {
    super::check_out(out)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let previous = read_manifest(out);
    let mut list = format!("{MANIFEST_HEADER}\n");
    for rel in files.keys() {
        list.push_str(rel);
        list.push('\n');
    }
    let manifest = (MANIFEST.to_string(), list.into_bytes());
    let mut dirs = Dirs::new(out);
    let mut written = Written::default();

    // Files no longer part of the site first: a crash between the two steps leaves them listed
    // in the old manifest, so the next generation removes them.
    let mut removed_from = BTreeSet::new();
    for rel in previous.iter().filter(|rel| !files.contains_key(*rel)) {
        if !dirs.parents_are_dirs(rel, false)? {
            continue;
        }
        let path = out.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() || m.file_type().is_symlink() => {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                written.removed += 1;
                removed_from.insert(path.parent().map(Path::to_path_buf).unwrap_or_else(|| out.to_path_buf()));
            }
            _ => {}
        }
    }
    for dir in removed_from {
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&dir, e))?;
    }

    let mut batch = Vec::new();
    for (rel, bytes) in files.iter().chain(std::iter::once((&manifest.0, &manifest.1))) {
        dirs.parents_are_dirs(rel, true)?;
        let path = out.join(rel);
        if holds(&path, bytes) {
            written.unchanged += 1;
        } else {
            batch.push((path, bytes.as_slice()));
        }
    }
    written.written = batch.len();
    crate::fs::write_batch(&batch, 0o644)?;
    Ok(written)
}

/// Whether `path` is a regular file (not a symlink) holding exactly `bytes`.
fn holds(path: &Path, bytes: &[u8]) -> bool {
    let same_size = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64);
    if !same_size {
        return false;
    }
    let mut on_disk = Vec::with_capacity(bytes.len());
    std::fs::File::open(path)
        .and_then(|f| f.take(bytes.len() as u64 + 1).read_to_end(&mut on_disk))
        .is_ok_and(|_| on_disk == bytes)
}

/// The files the last generation listed, each a relative path of plain components; an unreadable
/// or damaged list names none (the operator may have removed or edited it: then nothing of an
/// older site is removed, which is never wrong, only untidy).
fn read_manifest(out: &Path) -> Vec<String> {
    let path = out.join(MANIFEST);
    let Ok(m) = std::fs::symlink_metadata(&path) else { return Vec::new() };
    if !m.is_file() || m.len() > MANIFEST_LIMIT {
        return Vec::new();
    }
    let Ok(text) = std::fs::read_to_string(&path) else { return Vec::new() };
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return Vec::new();
    }
    lines.filter(|rel| plain_relative(rel) && *rel != MANIFEST).map(String::from).collect()
}

/// `a/b/c`: non-empty components, none `.` or `..`, no NUL, no backslash.
fn plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains(['\0', '\\'])
        && rel.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The directories under `out` already checked to be directories (not symlinks).
struct Dirs {
    out: PathBuf,
    checked: BTreeSet<PathBuf>,
}

impl Dirs {
    fn new(out: &Path) -> Dirs {
        Dirs { out: out.to_path_buf(), checked: BTreeSet::new() }
    }

    /// Whether every directory on the way to `rel` is a real directory; missing ones are created
    /// when `create` (else the answer is false). A symlink or a file on the way is an error when
    /// creating (nothing may land outside `out`), and a false answer when removing.
    fn parents_are_dirs(&mut self, rel: &str, create: bool) -> Result<bool> {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut dir = self.out.clone();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if self.checked.contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                    if !create {
                        return Ok(false);
                    }
                    return Err(Error::invalid(dir.display(), "is not a directory (a symlink or a file) in --out"));
                }
                Ok(_) => {}
                Err(_) if create => std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?,
                Err(_) => return Ok(false),
            }
            self.checked.insert(dir.clone());
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_removed() {
        for ok in ["index.html", "releases/a.html", "custody/lookup/00.json"] {
            assert!(plain_relative(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/", "a\\b", "a\0b"] {
            assert!(!plain_relative(bad), "{bad:?}");
        }
    }
}
