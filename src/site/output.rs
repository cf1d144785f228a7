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

/// The site being written into `--out`, in parts as they are ready ([`SiteWriter::stage`]), then
/// all at once ([`SiteWriter::finish`]); see the module comment. Until then nothing is in place:
/// the files are staged in a temporary directory inside `--out`, and dropped unfinished (a later
/// step failed) the writer leaves `--out` as it was (a `--out` it created is removed again).
pub struct SiteWriter {
    out: PathBuf,
    /// Whether `out` was missing, and created by [`SiteWriter::stage`].
    created_out: bool,
    /// What the last generation listed.
    previous: Vec<String>,
    /// The files staged (new or different) and their names; made by the first stage.
    batch: Option<crate::fs::Batch>,
    staged: Vec<String>,
    /// All the site's names so far.
    names: BTreeSet<String>,
    unchanged: usize,
}

impl SiteWriter {
    /// Checks `out` and reads what the last generation wrote there; creates nothing yet.
    pub fn open(out: &Path) -> Result<SiteWriter> {
        super::check_out(out)?;
        Ok(SiteWriter {
            out: out.to_path_buf(),
            created_out: false,
            previous: read_manifest(out),
            batch: None,
            staged: Vec::new(),
            names: BTreeSet::new(),
            unchanged: 0,
        })
    }

    /// Adds `files` (relative paths under `out`; a name already staged is skipped: the site has
    /// one file per name) to the site: the ones whose bytes `out` does not already hold are
    /// written to temporary files, not yet in place.
    pub fn stage(&mut self, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        if self.batch.is_none() {
            // Checked again: the staging directory is made inside it, and time has passed.
            super::check_out(&self.out)?;
            if std::fs::symlink_metadata(&self.out).is_err() {
                std::fs::create_dir_all(&self.out).map_err(|e| Error::io(&self.out, e))?;
                self.created_out = true;
            }
            self.batch = Some(crate::fs::Batch::staged_in(&self.out)?);
        }
        let mut dirs = Dirs::new(&self.out);
        let mut batch = Vec::new();
        for (rel, bytes) in files {
            if !self.names.insert(rel.clone()) {
                continue;
            }
            let path = self.out.join(rel);
            if dirs.walk(rel, Walk::Check)? && holds(&path, bytes) {
                self.unchanged += 1;
            } else {
                batch.push((path, bytes.as_slice()));
                self.staged.push(rel.clone());
            }
        }
        match self.batch.as_mut() {
            Some(b) => b.stage(&batch, 0o644),
            None => Ok(()),
        }
    }

    /// Has the file system start writing what is staged, while the caller goes on.
    pub fn start_writeback(&self) {
        crate::fs::start_writeback(&self.out);
    }

    /// Removes what the last generation wrote that the site no longer has, then puts every
    /// staged file and the list of them in place.
    pub fn finish(mut self) -> Result<Written> {
        let mut list = format!("{MANIFEST_HEADER}\n");
        for rel in &self.names {
            list.push_str(rel);
            list.push('\n');
        }
        self.stage(&BTreeMap::from([(MANIFEST.to_string(), list.into_bytes())]))?;
        let mut written = Written { written: self.staged.len(), unchanged: self.unchanged, removed: 0 };

        // Files no longer part of the site before any is put in place: a crash between the two
        // steps leaves them listed in the old manifest, so the next generation removes them.
        let mut dirs = Dirs::new(&self.out);
        let mut removed_from = BTreeSet::new();
        for rel in self.previous.iter().filter(|rel| !self.names.contains(*rel)) {
            if !dirs.walk(rel, Walk::Remove)? {
                continue;
            }
            let path = self.out.join(rel);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() || m.file_type().is_symlink() => {
                    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    written.removed += 1;
                    removed_from.insert(path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.out.clone()));
                }
                _ => {}
            }
        }
        for dir in removed_from {
            std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&dir, e))?;
        }
        for rel in &self.staged {
            dirs.walk(rel, Walk::Create)?;
        }
        if let Some(batch) = self.batch.take() {
            batch.commit()?;
        }
        self.created_out = false;
        Ok(written)
    }
}

impl Drop for SiteWriter {
    fn drop(&mut self) {
        // Unfinished: the staged files go first, then a `--out` this writer made (empty again).
        drop(self.batch.take());
        if self.created_out {
            let _ = std::fs::remove_dir(&self.out);
        }
    }
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

    /// Whether every directory on the way to `rel` is a real directory. A symlink or a file on
    /// the way is an error, except when removing (nothing may land outside `out`; the answer is
    /// then false); a missing directory is created when creating, else the answer is false.
    fn walk(&mut self, rel: &str, walk: Walk) -> Result<bool> {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut dir = self.out.clone();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if self.checked.contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                    if walk == Walk::Remove {
                        return Ok(false);
                    }
                    return Err(Error::invalid(dir.display(), "is not a directory (a symlink or a file) in --out"));
                }
                Ok(_) => {}
                Err(_) if walk == Walk::Create => std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?,
                Err(_) => return Ok(false),
            }
            self.checked.insert(dir.clone());
        }
        Ok(true)
    }
}

/// What [`Dirs::walk`] is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Removing a file: a path through a symlink is left alone.
    Remove,
    /// Staging a file: a path through a symlink is refused; nothing is created.
    Check,
    /// Putting a file in place: a path through a symlink is refused, missing directories made.
    Create,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                out.extend(tree(&path).into_iter().map(|p| format!("{}/{p}", path.file_name().unwrap().display())));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_unfinished_site_leaves_out_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        // A --out that did not exist: gone again, with the directories staging made.
        let out = dir.path().join("site");
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/a.html", "a"), ("index.html", "i")])).unwrap();
        assert!(out.exists(), "staged inside --out");
        assert!(!out.join("index.html").exists() && !out.join("releases").exists(), "nothing in place yet");
        drop(site);
        assert!(!out.exists());
        // A --out with a site in it: the old site, and nothing else.
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/a.html", "a"), ("index.html", "i")])).unwrap();
        site.finish().unwrap();
        let before = tree(&out);
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/b.html", "b"), ("index.html", "j")])).unwrap();
        drop(site);
        assert_eq!(tree(&out), before);
        assert_eq!(std::fs::read(out.join("index.html")).unwrap(), b"i");
    }

    #[test]
    fn parts_staged_apart_make_one_site() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/a.html", "a"), ("envelopes/e.json", "e"), ("old.html", "o")])).unwrap();
        site.finish().unwrap();
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/a.html", "a2"), ("envelopes/e.json", "e")])).unwrap();
        site.start_writeback();
        // The same name again (an envelope both parts link to): one file, counted once.
        site.stage(&files(&[("envelopes/e.json", "e"), ("custody/x.json", "x")])).unwrap();
        let written = site.finish().unwrap();
        assert_eq!((written.written, written.unchanged, written.removed), (3, 1, 1), "a, x and the list; e; old");
        assert_eq!(
            tree(&out),
            [MANIFEST, "custody", "custody/x.json", "envelopes", "envelopes/e.json", "releases", "releases/a.html"]
        );
        assert_eq!(
            std::fs::read_to_string(out.join(MANIFEST)).unwrap(),
            format!("{MANIFEST_HEADER}\ncustody/x.json\nenvelopes/e.json\nreleases/a.html\n")
        );
        assert_eq!(std::fs::read(out.join("releases/a.html")).unwrap(), b"a2");
    }

    #[test]
    fn no_file_is_staged_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let (out, elsewhere) = (dir.path().join("site"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("releases")).unwrap();
        let mut site = SiteWriter::open(&out).unwrap();
        let err = site.stage(&files(&[("releases/a.html", "a")])).unwrap_err().to_string();
        assert!(err.contains("releases") && err.contains("symlink"), "{err}");
        drop(site);
        assert_eq!(tree(&elsewhere), Vec::<String>::new());
        assert_eq!(tree(&out), ["releases"]);
    }

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
