//! Writing the site into `--out` (docs/site.md, formats.md section 19): a file whose bytes are
//! already there is left alone (same inode, same mtime), the others are written as one atomic
//! batch, and the files an earlier generation wrote that the site no longer has are removed. So
//! regenerating in place after the log grew rewrites only what changed and leaves the same tree
//! as a generation into an empty directory. What glassbox wrote is listed in
//! `--out/.glassbox-site`; nothing in `--out` that the list does not name is removed, and nothing
//! is written or removed outside `--out` (no directory on the way may be a symlink).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, unlinkat, AtFlags, Mode, OFlags};

use super::outdir::{split, Entry, OutDir, TEMP_PREFIX};
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
/// the files are staged in a private directory inside `--out`, and dropped unfinished (a later
/// step failed) the writer leaves `--out` as it was (the directories it created removed again).
pub struct SiteWriter {
    path: PathBuf,
    /// The directories made to create `--out` (outermost first).
    created: Vec<PathBuf>,
    /// `--out`, opened and locked by the first stage, with the staging directory's name and
    /// descriptor.
    out: Option<(OutDir, String, OwnedFd)>,
    /// What the last generation listed.
    previous: Vec<String>,
    /// The files staged (new or different): their names and their staged names.
    staged: Vec<(String, String)>,
    /// All the site's names so far.
    names: BTreeSet<String>,
    unchanged: usize,
    finished: bool,
}

impl SiteWriter {
    /// Checks `out`; creates nothing yet.
    pub fn open(out: &Path) -> Result<SiteWriter> {
        super::check_out(out)?;
        Ok(SiteWriter {
            path: out.to_path_buf(),
            created: Vec::new(),
            out: None,
            previous: Vec::new(),
            staged: Vec::new(),
            names: BTreeSet::new(),
            unchanged: 0,
            finished: false,
        })
    }

    /// Adds `files` (relative paths under `out`; a name already staged is skipped: the site has
    /// one file per name) to the site: the ones whose bytes `out` does not already hold are
    /// written to temporary files, not yet in place.
    pub fn stage(&mut self, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        if self.out.is_none() {
            // Checked again: time has passed since `open`.
            super::check_out(&self.path)?;
            let dir = OutDir::open(&self.path, &mut self.created)?;
            dir.remove_leftovers()?;
            self.previous = read_manifest(&dir);
            let name = format!("{TEMP_PREFIX}{}", crate::digest::hex_encode(&rand_bytes()));
            let path = self.path.join(&name);
            mkdirat(dir.fd(), name.as_str(), Mode::from_raw_mode(0o700)).map_err(|e| Error::io(&path, e.into()))?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let staging =
                openat(dir.fd(), name.as_str(), flags, Mode::empty()).map_err(|e| Error::io(&path, e.into()))?;
            self.out = Some((dir, name, staging));
        }
        let Some((dir, _, staging)) = self.out.as_mut() else { return Ok(()) };
        let mut batch = Vec::new();
        for (rel, bytes) in files {
            if !self.names.insert(rel.clone()) {
                continue;
            }
            if dir.holds(rel, bytes)? {
                self.unchanged += 1;
            } else {
                let temp = self.staged.len().to_string();
                batch.push((rel.as_str(), temp.clone(), bytes.as_slice()));
                self.staged.push((rel.clone(), temp));
            }
        }
        // Written on this thread, while the other core computes: most of the time is the
        // kernel's, creating the files, and a directory takes one creation at a time (a second
        // thread only spins on its lock: 3 s of system time on a file system that had just
        // deleted a site). An error names the site's file, not its temporary name.
        for (rel, temp, bytes) in batch {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let at = self.path.join(rel);
            let fd = openat(&*staging, temp.as_str(), flags, Mode::from_raw_mode(0o644))
                .map_err(|e| Error::io(&at, e.into()))?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644)).map_err(|e| Error::io(&at, e.into()))?;
            std::fs::File::from(fd).write_all(bytes).map_err(|e| Error::io(&at, e))?;
        }
        Ok(())
    }

    /// Has the file system start writing what is staged, on a thread of its own, while the
    /// caller goes on: the sync in [`SiteWriter::finish`] then waits only for what came after.
    pub fn start_writeback(&self) {
        let Some(Ok(fd)) = self.out.as_ref().map(|(_, _, staging)| staging.try_clone()) else { return };
        let _ = std::thread::Builder::new().name("writeback".into()).spawn(move || rustix::fs::syncfs(&fd));
    }

    /// Puts every staged file in place, removes what the last generation wrote that the site no
    /// longer has, then puts the list of the site's files in place. What could make the first
    /// step fail half-way (a symlink or file where the site needs a directory, a directory
    /// where it has a file) is checked before anything in `--out` changes.
    pub fn finish(mut self) -> Result<Written> {
        let mut list = format!("{MANIFEST_HEADER}\n");
        for rel in &self.names {
            list.push_str(rel);
            list.push('\n');
        }
        self.stage(&BTreeMap::from([(MANIFEST.to_string(), list.into_bytes())]))?;
        let Some((dir, staging_name, staging)) = self.out.as_mut() else { return Ok(Written::default()) };
        let mut written = Written { written: self.staged.len(), unchanged: self.unchanged, removed: 0 };
        dir.forget_missing();
        for (rel, _) in &self.staged {
            match dir.entry(rel)? {
                Entry::Missing | Entry::FileOrLink => {}
                Entry::Directory | Entry::Other => {
                    return Err(Error::invalid(dir.path.join(rel).display(), "is not a file, where the site has one"));
                }
            }
        }
        for (rel, _) in &self.staged {
            dir.open_dir(split(rel).0, true)?;
        }
        if self.staged.len() <= FSYNC_EACH_UP_TO {
            // A few files (a site regenerated after an append): their own fsyncs are cheaper
            // than flushing everything else the file system has pending.
            for (_, temp) in &self.staged {
                let at = self.path.join(&*staging_name).join(temp);
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd =
                    openat(&*staging, temp.as_str(), flags, Mode::empty()).map_err(|e| Error::io(&at, e.into()))?;
                rustix::fs::fsync(&fd).map_err(|e| Error::io(&at, e.into()))?;
            }
        } else {
            rustix::fs::syncfs(&*staging).map_err(|e| Error::io(&self.path, e.into()))?;
        }
        let mut touched = BTreeSet::new();
        let (manifest, files): (Vec<_>, Vec<_>) = self.staged.iter().partition(|(rel, _)| rel == MANIFEST);
        for (rel, temp) in files {
            dir.rename_into(staging, temp, rel)?;
            touched.insert(split(rel).0.to_string());
        }
        // Files no longer part of the site: after the new ones are in place, before the new
        // list is. A crash in between leaves them listed in the old list, so the next
        // generation removes them.
        for rel in self.previous.iter().filter(|rel| !self.names.contains(*rel)) {
            if dir.remove_file(rel)? {
                written.removed += 1;
                touched.insert(split(rel).0.to_string());
            }
        }
        for rel in &touched {
            dir.sync_dir(rel)?;
        }
        for (rel, temp) in manifest {
            dir.rename_into(staging, temp, rel)?;
            dir.sync_dir("")?;
        }
        self.staged.clear();
        unlinkat(dir.fd(), staging_name.as_str(), AtFlags::REMOVEDIR)
            .map_err(|e| Error::io(self.path.join(&*staging_name), e.into()))?;
        self.finished = true;
        Ok(written)
    }
}

impl Drop for SiteWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Unfinished: the staged files, then the directories this writer made, go again.
        if let Some((mut dir, staging_name, staging)) = self.out.take() {
            for (_, temp) in &self.staged {
                let _ = unlinkat(&staging, temp.as_str(), AtFlags::empty());
            }
            let _ = unlinkat(dir.fd(), staging_name.as_str(), AtFlags::REMOVEDIR);
            dir.remove_made();
        }
        for made in self.created.iter().rev() {
            let _ = std::fs::remove_dir(made);
        }
    }
}

/// Batches of at most this many files are synced file by file, larger ones with one `syncfs`.
const FSYNC_EACH_UP_TO: usize = 64;

/// 16 random bytes, for the staging directory's name (a clash only fails the run).
fn rand_bytes() -> [u8; 16] {
    use rand_core::RngCore as _;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The files the last generation listed, each a relative path of plain components; an unreadable
/// or damaged list names none (the operator may have removed or edited it: then nothing of an
/// older site is removed, which is never wrong, only untidy).
fn read_manifest(dir: &OutDir) -> Vec<String> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let Ok(fd) = openat(dir.fd(), MANIFEST, flags, Mode::empty()) else { return Vec::new() };
    let Ok(bytes) = crate::fs::read_opened(std::fs::File::from(fd), &dir.path.join(MANIFEST), MANIFEST_LIMIT) else {
        return Vec::new();
    };
    let Ok(text) = String::from_utf8(bytes) else { return Vec::new() };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    /// A whole generation of `list` into `out`.
    fn generate(out: &Path, list: &[(&str, &str)]) -> Result<Written> {
        let mut site = SiteWriter::open(out)?;
        site.stage(&files(list))?;
        site.finish()
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
        generate(&out, &[("releases/a.html", "a"), ("index.html", "i")]).unwrap();
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
        generate(&out, &[("releases/a.html", "a"), ("envelopes/e.json", "e"), ("old.html", "o")]).unwrap();
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
    fn a_site_that_cannot_be_put_in_place_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        generate(&out, &[("a.html", "a"), ("releases/r.html", "r"), ("stale.html", "s"), ("z.json", "z")]).unwrap();
        // A directory where the new site has a file (the last one in the order of renames).
        std::fs::remove_file(out.join("z.json")).unwrap();
        std::fs::create_dir(out.join("z.json")).unwrap();
        let before = tree(&out);
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("a.html", "a2"), ("releases/r.html", "r2"), ("new/n.html", "n"), ("z.json", "z")]))
            .unwrap();
        let err = site.finish().unwrap_err().to_string();
        assert!(err.contains("z.json") && err.contains("not a file"), "{err}");
        assert_eq!(tree(&out), before, "no file replaced, none removed, no directory made");
        assert_eq!(std::fs::read(out.join("a.html")).unwrap(), b"a");
        assert_eq!(std::fs::read(out.join("stale.html")).unwrap(), b"s");
    }

    #[test]
    fn a_directory_missing_when_staged_is_looked_at_again_before_anything_changes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        generate(&out, &[("a.html", "a")]).unwrap();
        let mut site = SiteWriter::open(&out).unwrap();
        // `new/` is missing while the files are staged, then made, with a directory where the
        // site has a file: the checks before the renames see it.
        site.stage(&files(&[("a.html", "a2"), ("new/m.html", "m"), ("new/n.html", "n")])).unwrap();
        std::fs::create_dir_all(out.join("new/n.html")).unwrap();
        let err = site.finish().unwrap_err().to_string();
        assert!(err.contains("n.html") && err.contains("not a file"), "{err}");
        assert_eq!(std::fs::read(out.join("a.html")).unwrap(), b"a");
        assert!(!out.join("new/m.html").exists());
    }

    #[test]
    fn what_an_interrupted_run_left_is_removed_and_a_second_run_waits_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        std::fs::create_dir_all(out.join(".glassbox-tmp-0123/0")).unwrap();
        std::fs::write(out.join(".glassbox-tmp-0123/0/page"), "half").unwrap();
        std::fs::write(out.join(".glassbox-tmp-file"), "half").unwrap();
        // A link among the leftovers is removed, not followed.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "k").unwrap();
        std::os::unix::fs::symlink(&outside, out.join(".glassbox-tmp-0123/link")).unwrap();
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("a.html", "a")])).unwrap();
        let mut second = SiteWriter::open(&out).unwrap();
        let err = second.stage(&files(&[("a.html", "b")])).unwrap_err().to_string();
        assert!(err.contains("another `glassbox site`"), "{err}");
        drop(second);
        site.finish().unwrap();
        assert_eq!(tree(&out), [MANIFEST, "a.html"]);
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"k");
    }

    #[test]
    fn the_directories_made_for_out_go_again_on_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p/q/site");
        let mut site = SiteWriter::open(&out).unwrap();
        site.stage(&files(&[("releases/a.html", "a")])).unwrap();
        assert!(out.exists());
        drop(site);
        assert!(!dir.path().join("p").exists());
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
