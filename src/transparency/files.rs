//! The log directory's file access. A log is fetched from others (a git repository, a mirror, a
//! bucket) and git keeps symlinks, so nothing under the log root is trusted to be what its path
//! says: every file and directory is opened from the root component by component with
//! `O_NOFOLLOW` (a symlink anywhere below the root is refused), reads accept only regular files
//! of a bounded size and never block on a FIFO, and new files are written to a temporary name in
//! their directory and renamed into place, so no write goes through a planted link.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{fstat, mkdirat, openat, renameat, statat, unlinkat, AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::store::LogDir;
use crate::error::{Error, IoContext, Result};

/// The largest hash tile: 256 hashes of 32 bytes.
pub const MAX_TILE_BYTES: u64 = 256 * 32;

/// The temporary file an append writes before renaming it into place (in the file's directory).
const TEMP_NAME: &str = ".glassbox-tmp-append";
/// What every temporary file glassbox writes in a log starts with (the append's, and the
/// checkpoint a witness rewrites through `crate::fs`).
pub(super) const TEMP_PREFIX: &str = ".glassbox-tmp-";

/// What a directory entry is, read without following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Directory,
    /// A regular file of this many bytes.
    File(u64),
    /// A symlink, FIFO, device or socket: never followed or opened.
    Other,
}

impl LogDir {
    /// The directory `rel` (components separated by `/`) below the root, opened without
    /// following a symlink at any level; created first when `create`.
    fn open_dir(&self, rel: &[&str], create: bool) -> Result<OwnedFd> {
        let mut dir = openat(CWD, &self.root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io(&self.root, e.into()))?;
        let mut path = self.root.clone();
        for name in rel {
            path.push(name);
            if create {
                match mkdirat(&dir, *name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::io(&path, e.into())),
                }
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            dir = openat(&dir, *name, flags, Mode::empty()).map_err(|e| refused(&path, e, "a directory"))?;
        }
        Ok(dir)
    }

    /// The regular file `rel` below the root, opened for reading without following a symlink
    /// and without blocking (a FIFO is refused, not waited on).
    fn open_file(&self, rel: &str) -> Result<File> {
        let (dirs, name) = split(rel);
        let dir = self.open_dir(&dirs, false)?;
        let path = self.file(rel);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = openat(&dir, name, flags, Mode::empty()).map_err(|e| refused(&path, e, "a regular file"))?;
        Ok(File::from(fd))
    }

    /// Reads the regular file `rel` of at most `max` bytes.
    pub fn read_file(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        if let Some(objects) = self.objects() {
            return match objects.get_blocking(rel, max)? {
                Some((bytes, _)) => Ok(bytes),
                None => {
                    Err(Error::io(self.file(rel), std::io::Error::new(std::io::ErrorKind::NotFound, "no such object")))
                }
            };
        }
        crate::fs::read_opened(self.open_file(rel)?, &self.file(rel), max)
    }

    /// Reads the regular file `rel` of at most `max` bytes; `None` if it does not exist.
    pub fn read_optional(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        if let Some(objects) = self.objects() {
            return Ok(objects.get_blocking(rel, max)?.map(|(bytes, _)| bytes));
        }
        match self.open_file(rel) {
            Ok(file) => crate::fs::read_opened(file, &self.file(rel), max).map(Some),
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the first `len` bytes of the regular file `rel` (it may be longer); `None` if it
    /// does not exist.
    pub(crate) fn read_prefix(&self, rel: &str, len: u64) -> Result<Option<Vec<u8>>> {
        if let Some(objects) = self.objects() {
            // Objects are read whole: one longer than `len` is refused, not cut.
            return Ok(objects.get_blocking(rel, len)?.map(|(bytes, _)| bytes));
        }
        let path = self.file(rel);
        let file = match self.open_file(rel) {
            Ok(file) => file,
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata().at(&path)?;
        if !meta.file_type().is_file() {
            return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
        }
        let mut bytes = Vec::with_capacity(meta.len().min(len) as usize);
        file.take(len).read_to_end(&mut bytes).at(&path)?;
        Ok(Some(bytes))
    }

    /// Writes `data` as the file `rel` (creating its directories, none of which may be a
    /// symlink): a temporary file in the same directory, renamed over `rel`. Whatever was at
    /// `rel` (a planted symlink included) is replaced, never written through. With `durable`
    /// the file and its directory are fsynced (otherwise the caller syncs the file system).
    pub(crate) fn write_file(&self, rel: &str, data: &[u8], durable: bool) -> Result<()> {
        let (dirs, name) = split(rel);
        let dir = self.open_dir(&dirs, true)?;
        let path = self.file(rel);
        // Only the holder of the append lock writes here, so one temporary name is enough (and a
        // killed append's leftover is reused, not accumulated); a stale file or link under that
        // name is removed first (unlinking a link never touches its target).
        let temp = TEMP_NAME;
        match unlinkat(&dir, temp, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io(&path, e.into())),
        }
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(&dir, temp, flags, Mode::from_raw_mode(0o644)).map_err(|e| Error::io(&path, e.into()))?;
        let mut file = File::from(fd);
        file.write_all(data).at(&path)?;
        if durable {
            file.sync_all().at(&path)?;
        }
        drop(file);
        renameat(&dir, temp, &dir, name).map_err(|e| Error::io(&path, e.into()))?;
        if durable {
            File::from(dir).sync_all().at(&path)?;
        }
        Ok(())
    }

    /// Makes everything written so far durable (one `syncfs` of the log's file system).
    pub(crate) fn sync(&self) -> Result<()> {
        let dir = self.open_dir(&[], false)?;
        rustix::fs::syncfs(&dir).map_err(|e| Error::io(&self.root, e.into()))
    }

    /// Opens (creating it if needed) the regular file `rel` in the root for writing, refusing a
    /// symlink, a special file and a file with other hard links, so that truncating or
    /// extending it can only change the log's own file.
    pub(crate) fn open_own_file(&self, rel: &str) -> Result<File> {
        let dir = self.open_dir(&[], false)?;
        let path = self.file(rel);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd =
            openat(&dir, rel, flags, Mode::from_raw_mode(0o644)).map_err(|e| refused(&path, e, "a regular file"))?;
        let stat = fstat(&fd).map_err(|e| Error::io(&path, e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || stat.st_nlink != 1 {
            return Err(Error::invalid(path.display(), "not a regular file of its own (a FIFO, device or hard link)"));
        }
        Ok(File::from(fd))
    }

    /// The entries of the directory `rel` (components below the root, opened without following
    /// a symlink at any level), each with its kind read without following it; `None` if the
    /// directory does not exist. Sorted by name, so that what is done with them is reproducible.
    pub(super) fn list_dir(&self, rel: &[&str]) -> Result<Option<Vec<(String, Kind)>>> {
        let path = rel.iter().fold(self.root.clone(), |p, c| p.join(c));
        let dir = match self.open_dir(rel, false) {
            Ok(dir) => dir,
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in Dir::read_from(&dir).map_err(|e| Error::io(&path, e.into()))? {
            let entry = entry.map_err(|e| Error::io(&path, e.into()))?;
            let Ok(name) = entry.file_name().to_str() else {
                return Err(Error::invalid(path.display(), "holds a name that is not UTF-8: not a log's file"));
            };
            if name == "." || name == ".." {
                continue;
            }
            let name = name.to_string();
            let stat = statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| Error::io(path.join(&name), e.into()))?;
            let kind = match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Kind::Directory,
                FileType::RegularFile => Kind::File(u64::try_from(stat.st_size).unwrap_or(0)),
                _ => Kind::Other,
            };
            out.push((name, kind));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(out))
    }

    /// Removes the regular file `rel`: its directory is opened from the root without following
    /// a symlink at any level, and the name must still be a regular file there (a link planted
    /// since it was listed is refused, never followed).
    pub(super) fn remove_file(&self, rel: &str) -> Result<()> {
        let (dirs, name) = split(rel);
        let dir = self.open_dir(&dirs, false)?;
        let path = self.file(rel);
        let stat = statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(&path, e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Error::invalid(path.display(), "is no longer a regular file: refused inside a log"));
        }
        unlinkat(&dir, name, AtFlags::empty()).map_err(|e| Error::io(&path, e.into()))
    }

    /// Removes the directory `rel` if it is empty (opened as [`LogDir::remove_file`] opens a
    /// file's directory); whether it was removed.
    pub(super) fn remove_empty_dir(&self, rel: &str) -> Result<bool> {
        let (dirs, name) = split(rel);
        let dir = self.open_dir(&dirs, false)?;
        match unlinkat(&dir, name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(true),
            Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io(self.file(rel), e.into())),
        }
    }
}

/// `a/b/c` as (`[a, b]`, `c`).
fn split(rel: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    (parts, name)
}

/// The error for an `openat` that failed: a symlink (or a non-directory where a directory
/// belongs) is named as such; a missing file stays a not-found I/O error.
fn refused(path: &Path, e: Errno, what: &str) -> Error {
    if e == Errno::LOOP || e == Errno::NOTDIR || e == Errno::MLINK {
        Error::invalid(path.display(), format!("is a symbolic link or not {what}: refused inside a log"))
    } else {
        Error::io(path, e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogDir::new(dir.path());
        log.write_file("tile/0/000.p/1", b"abc", false).unwrap();
        assert_eq!(log.read_file("tile/0/000.p/1", 3).unwrap(), b"abc");
        assert!(log.read_file("tile/0/000.p/1", 2).is_err(), "over the limit");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        assert!(log.read_file("zero", 1 << 20).unwrap_err().to_string().contains("symbolic link"));
        std::os::unix::fs::symlink(dir.path().join("tile"), dir.path().join("linked")).unwrap();
        assert!(log.read_file("linked/0/000.p/1", 8).unwrap_err().to_string().contains("symbolic link"));
        assert!(log.write_file("linked/0/000.p/2", b"x", false).is_err());
        assert!(!dir.path().join("tile/0/000.p/2").exists(), "written through a directory link");
        // A link at the file's own path is replaced, its target untouched.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("tile/0/000.p/2")).unwrap();
        log.write_file("tile/0/000.p/2", b"new", true).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(log.read_file("tile/0/000.p/2", 8).unwrap(), b"new");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join(".lock")).unwrap();
        assert!(log.open_own_file(".lock").is_err());
        assert!(!dir.path().join("nowhere").exists(), "a dangling link's target was created");
        assert_eq!(log.read_prefix("missing", 32).unwrap(), None);
    }
}
