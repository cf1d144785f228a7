//! The site's output directory, reached only through file descriptors: `--out` is opened once
//! (never through a symlink, not even one named with a trailing slash), locked against a second
//! `glassbox site`, and every directory below it is opened component by component without
//! following a link or crossing a mount (`openat2`, else `O_NOFOLLOW`), so a symlink planted in
//! `--out` (before or during a run) is refused, never followed. Files are created in a private staging directory and renamed into place relative
//! to those descriptors.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{
    fstat, mkdirat, openat, openat2, renameat, statat, unlinkat, AtFlags, FileType, Mode, OFlags, ResolveFlags,
};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// What every temporary name glassbox makes in `--out` starts with.
pub const TEMP_PREFIX: &str = ".glassbox-tmp-";

/// `--out`, opened and locked.
pub struct OutDir {
    pub path: PathBuf,
    fd: OwnedFd,
    /// Directories below `--out` opened so far (relative path → descriptor).
    dirs: BTreeMap<String, OwnedFd>,
    /// Directories found missing and not made since: asked about again for each of their files
    /// (a site into an empty `--out` asked 13,600 times, a tenth of a second of failed opens).
    missing: BTreeSet<String>,
    /// The directories below `--out` this run made, in the order made.
    pub made: Vec<String>,
}

/// What is at a name in a directory, not followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Missing,
    Directory,
    /// A regular file or a symlink: replaced by a rename, removed by an unlink.
    FileOrLink,
    /// A FIFO, device or socket.
    Other,
}

impl OutDir {
    /// Opens `path` (created if missing, with the directories above it; `created` gets each
    /// one made, outermost first), refusing a symlink, and takes the lock.
    pub fn open(path: &Path, created: &mut Vec<PathBuf>) -> Result<OutDir> {
        let mut missing = Vec::new();
        let mut at = path.to_path_buf();
        while std::fs::symlink_metadata(&at).is_err() {
            missing.push(at.clone());
            if !at.pop() || at.as_os_str().is_empty() {
                break;
            }
        }
        for dir in missing.into_iter().rev() {
            match std::fs::create_dir(&dir) {
                Ok(()) => created.push(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| refused(path, e))?;
        rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| match e {
            Errno::WOULDBLOCK => Error::invalid(path.display(), "another `glassbox site` is writing this --out"),
            e => Error::io(path, e.into()),
        })?;
        Ok(OutDir { path: path.to_path_buf(), fd, dirs: BTreeMap::new(), missing: BTreeSet::new(), made: Vec::new() })
    }

    /// The descriptor of `--out` itself.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Removes the directories this run made below `--out` that are empty again, innermost
    /// first (after a failure).
    pub fn remove_made(&mut self) {
        for rel in std::mem::take(&mut self.made).iter().rev() {
            let (parent, name) = split(rel);
            let _ = unlinkat(self.opened(parent), name, AtFlags::REMOVEDIR);
        }
    }

    /// Removes what an interrupted run left at the top of `--out` (names starting with
    /// [`TEMP_PREFIX`]; the lock says no run is using them), without following links.
    pub fn remove_leftovers(&self) -> Result<()> {
        remove_temp_entries(&self.fd, &self.path, true)
    }

    /// Opens the directory `rel` below `--out` (`""` is `--out`) without following a link:
    /// false when a component is missing (made first when `create`, and remembered in
    /// [`OutDir::made`]). A symlink, file or anything else on the way is an error.
    pub fn open_dir(&mut self, rel: &str, create: bool) -> Result<bool> {
        if rel.is_empty() || self.dirs.contains_key(rel) {
            return Ok(true);
        }
        if !create && self.missing.contains(rel) {
            return Ok(false);
        }
        let (parent, name) = split(rel);
        if !self.open_dir(parent, create)? {
            return Ok(false);
        }
        let parent_fd = if parent.is_empty() { &self.fd } else { &self.dirs[parent] };
        let path = self.path.join(rel);
        let mut made = false;
        if create {
            match mkdirat(parent_fd, name, Mode::from_raw_mode(0o755)) {
                Ok(()) => made = true,
                Err(Errno::EXIST) => {}
                Err(e) => return Err(Error::io(&path, e.into())),
            }
        }
        let fd = match open_subdir(parent_fd, name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                self.missing.insert(rel.to_string());
                return Ok(false);
            }
            Err(e) => return Err(refused(&path, e)),
        };
        if made {
            self.made.push(rel.to_string());
        }
        self.missing.remove(rel);
        self.dirs.insert(rel.to_string(), fd);
        Ok(true)
    }

    /// Forgets which directories were found missing, so that what is asked next is looked up
    /// again: the checks before anything changes see `--out` as it is then.
    pub fn forget_missing(&mut self) {
        self.missing.clear();
    }

    /// The directory `rel`, opened by [`OutDir::open_dir`] (`--out` itself if it was not).
    fn opened(&self, rel: &str) -> &OwnedFd {
        self.dirs.get(rel).unwrap_or(&self.fd)
    }

    /// What is at `rel` (its directories opened as [`OutDir::open_dir`] does, none created).
    pub fn entry(&mut self, rel: &str) -> Result<Entry> {
        let (parent, name) = split(rel);
        if !self.open_dir(parent, false)? {
            return Ok(Entry::Missing);
        }
        match statat(self.opened(parent), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => Entry::Directory,
                FileType::RegularFile | FileType::Symlink => Entry::FileOrLink,
                _ => Entry::Other,
            }),
            Err(Errno::NOENT) => Ok(Entry::Missing),
            Err(e) => Err(Error::io(self.path.join(rel), e.into())),
        }
    }

    /// Whether `rel` is a regular file holding exactly `bytes` (read without following a link).
    pub fn holds(&mut self, rel: &str, bytes: &[u8]) -> Result<bool> {
        use std::io::Read as _;
        let (parent, name) = split(rel);
        if !self.open_dir(parent, false)? {
            return Ok(false);
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let Ok(fd) = openat(self.opened(parent), name, flags, Mode::empty()) else { return Ok(false) };
        let same_size = fstat(&fd).is_ok_and(|st| {
            FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_size as u64 == bytes.len() as u64
        });
        if !same_size {
            return Ok(false);
        }
        let mut on_disk = Vec::with_capacity(bytes.len());
        Ok(std::fs::File::from(fd).take(bytes.len() as u64 + 1).read_to_end(&mut on_disk).is_ok() && on_disk == bytes)
    }

    /// Renames `from` in the directory `staging` to `rel`, whose directories exist.
    pub fn rename_into(&mut self, staging: &OwnedFd, from: &str, rel: &str) -> Result<()> {
        let (parent, name) = split(rel);
        let path = self.path.join(rel);
        if !self.open_dir(parent, false)? {
            return Err(Error::invalid(path.display(), "its directory went away"));
        }
        renameat(staging, from, self.opened(parent), name).map_err(|e| Error::io(&path, e.into()))
    }

    /// Removes the file or symlink `rel` (not followed); false when it is not one, or when the
    /// way to it is not made of directories (a symlink on the way removes nothing).
    pub fn remove_file(&mut self, rel: &str) -> Result<bool> {
        if !matches!(self.entry(rel), Ok(Entry::FileOrLink)) {
            return Ok(false);
        }
        let (parent, name) = split(rel);
        let path = self.path.join(rel);
        unlinkat(self.opened(parent), name, AtFlags::empty()).map_err(|e| Error::io(&path, e.into()))?;
        Ok(true)
    }

    /// Fsyncs the directory `rel` (opened by [`OutDir::open_dir`]).
    pub fn sync_dir(&self, rel: &str) -> Result<()> {
        rustix::fs::fsync(self.opened(rel)).map_err(|e| Error::io(self.path.join(rel), e.into()))
    }
}

/// Removes the entries of the directory `dir` (at `path`) whose names start with
/// [`TEMP_PREFIX`] (all of them unless `only_temp`), directories with all they hold, opening
/// nothing through a link.
fn remove_temp_entries(dir: &OwnedFd, path: &Path, only_temp: bool) -> Result<()> {
    let io = |e: Errno| Error::io(path, e.into());
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." || (only_temp && !name.starts_with(TEMP_PREFIX)) {
            continue;
        }
        names.push((entry.file_name().to_owned(), name));
    }
    for (raw, name) in names {
        let child = path.join(&name);
        match statat(dir, raw.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                let sub = open_subdir(dir, raw.as_c_str()).map_err(|e| refused(&child, e))?;
                remove_temp_entries(&sub, &child, false)?;
                unlinkat(dir, raw.as_c_str(), AtFlags::REMOVEDIR).map_err(|e| Error::io(&child, e.into()))?;
            }
            Ok(_) => unlinkat(dir, raw.as_c_str(), AtFlags::empty()).map_err(|e| Error::io(&child, e.into()))?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io(&child, e.into())),
        }
    }
    Ok(())
}

/// The directory `name` in `dir`: never through a symlink, and never across a mount (a
/// directory mounted into `--out` is another file system's, which glassbox does not write or
/// clean). Without `openat2` (Linux before 5.6), only the symlink is refused.
fn open_subdir<P: rustix::path::Arg + Copy>(dir: &OwnedFd, name: P) -> std::result::Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let resolve =
        ResolveFlags::NO_XDEV | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH;
    match openat2(dir, name, flags, Mode::empty(), resolve) {
        Err(Errno::NOSYS | Errno::PERM) => openat(dir, name, flags, Mode::empty()),
        other => other,
    }
}

/// `a/b/c.html` → (`a/b`, `c.html`); `c.html` → (``, `c.html`).
pub fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn refused(path: &Path, e: Errno) -> Error {
    match e {
        Errno::LOOP | Errno::NOTDIR => {
            Error::invalid(path.display(), "is not a directory (a symlink or a file) in --out")
        }
        Errno::XDEV => {
            Error::invalid(path.display(), "is a mount point in --out: glassbox writes only --out's own file system")
        }
        e => Error::io(path, e.into()),
    }
}
