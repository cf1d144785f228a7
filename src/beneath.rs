//! Reading what someone hostile could have written: a directory tree that the vendor's build code
//! (or anyone else) could change while glassbox was not looking. Every file is opened from a
//! directory handle, never through a symlink, magic link or `..` at any component (`openat2`
//! with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, or `O_NOFOLLOW` component
//! by component on kernels without `openat2`), must be a regular file (checked with `fstat` on the
//! opened file, so a FIFO never blocks and a device is never read) and is read within a size cap.
//! What is read is copied into a private directory with `O_EXCL | O_NOFOLLOW`, so later steps use
//! glassbox's own copy, never the hostile tree again.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{fstat, openat, openat2, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};

/// A directory whose contents are not trusted, opened once.
#[derive(Debug)]
pub struct HostileDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// A file copied out of a [`HostileDir`] into a private directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// Whether any execute bit was set on the original.
    pub executable: bool,
}

impl HostileDir {
    /// Opens the directory `path`. Its own path is the caller's (a build root glassbox created);
    /// only what is below it is hostile. The last component must not be a symlink.
    pub fn open(path: &Path) -> Result<HostileDir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(CWD, path, flags, Mode::empty()).map_err(|e| refused(path, e))?;
        Ok(HostileDir { fd, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file `rel` below this directory without following any link and
    /// without blocking; refuses anything that is not a regular file of at most `max` bytes.
    /// Returns the file and its size.
    pub fn open_file(&self, rel: &Path, max: u64) -> Result<(File, u64)> {
        let shown = self.path.join(rel);
        if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Error::rejected(shown.display(), "is not a plain path below the directory"));
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let fd = match openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => fd,
            // No openat2 (Linux before 5.6, or a seccomp filter that hides it): walk.
            Err(Errno::NOSYS) | Err(Errno::PERM) => self.open_by_components(rel, flags)?,
            Err(e) => return Err(refused(&shown, e)),
        };
        let stat = fstat(&fd).map_err(|e| Error::io(&shown, e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Error::rejected(
                shown.display(),
                "is not a regular file (a directory, FIFO, device or socket)",
            ));
        }
        let size = stat.st_size as u64;
        if size > max {
            return Err(Error::rejected(shown.display(), format!("is larger than the {max}-byte limit")));
        }
        Ok((File::from(fd), size))
    }

    fn open_by_components(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd> {
        let shown = self.path.join(rel);
        let names: Vec<_> = rel.components().map(|c| c.as_os_str()).collect();
        let Some((last, dirs)) = names.split_last() else {
            return Err(Error::rejected(shown.display(), "is not a plain path below the directory"));
        };
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut dir = openat(&self.fd, ".", dir_flags, Mode::empty()).map_err(|e| refused(&shown, e))?;
        for name in dirs {
            dir = openat(&dir, *name, dir_flags, Mode::empty()).map_err(|e| refused(&shown, e))?;
        }
        openat(&dir, *last, flags, Mode::empty()).map_err(|e| refused(&shown, e))
    }

    /// Copies the regular file `rel` (at most `max` bytes) to the new file `dest` in a private
    /// directory, hashing it on the way. `dest` must not exist: it is created with `O_EXCL` and
    /// `O_NOFOLLOW`, with `mode`.
    pub fn copy_file(&self, rel: &Path, max: u64, dest: &Path, mode: u32) -> Result<CopiedFile> {
        let (file, _) = self.open_file(rel, max)?;
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            file.metadata().at(self.path.join(rel))?.permissions().mode() & 0o111 != 0
        };
        let (size, sha256) = copy_bounded(file, &self.path.join(rel), max, dest, mode)?;
        Ok(CopiedFile { path: dest.to_path_buf(), size, sha256, executable })
    }
}

/// Copies at most `max` bytes of `input` into the new file `dest` (`O_EXCL | O_NOFOLLOW`,
/// `mode`), returning the size and SHA-256; a file that grew past `max` meanwhile is refused.
fn copy_bounded(input: File, shown: &Path, max: u64, dest: &Path, mode: u32) -> Result<(u64, Sha256Digest)> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .mode(mode)
        .open(dest)
        .at(dest)?;
    let mut hasher = Sha256::new();
    let mut input = input.take(max.saturating_add(1));
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).at(shown)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > max {
            return Err(Error::rejected(shown.display(), format!("grew past the {max}-byte limit while read")));
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).at(dest)?;
    }
    // The umask may have narrowed the mode given to open(); set it exactly.
    output.set_permissions(std::fs::Permissions::from_mode(mode)).at(dest)?;
    output.sync_all().at(dest)?;
    Ok((size, Sha256Digest(hasher.finalize().into())))
}

/// An open failure below a hostile directory: links and escapes are refusals (exit 1), the
/// rest is I/O.
fn refused(path: &Path, e: Errno) -> Error {
    match e {
        Errno::LOOP | Errno::XDEV | Errno::NOTDIR => Error::rejected(
            path.display(),
            "is reached through a symlink, a magic link or '..' (refused: the build may have planted it)",
        ),
        Errno::NXIO | Errno::AGAIN => Error::rejected(path.display(), "is not a regular file (a FIFO or socket)"),
        e => Error::io(path, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, HostileDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/a/b")).unwrap();
        std::fs::write(dir.path().join("root/a/b/file"), b"inside").unwrap();
        std::fs::write(dir.path().join("outside"), b"secret").unwrap();
        let root = HostileDir::open(&dir.path().join("root")).unwrap();
        (dir, root)
    }

    #[test]
    fn a_plain_file_below_is_copied_and_hashed() {
        let (dir, root) = tree();
        let dest = dir.path().join("copy");
        let copied = root.copy_file(Path::new("a/b/file"), 100, &dest, 0o644).unwrap();
        assert_eq!((copied.size, copied.sha256), (6, Sha256Digest::of(b"inside")));
        assert_eq!(std::fs::read(&dest).unwrap(), b"inside");
        // The destination is never overwritten, nor written through a link.
        assert!(root.copy_file(Path::new("a/b/file"), 100, &dest, 0o644).is_err());
    }

    #[test]
    fn links_escapes_and_special_files_are_refused() {
        let (dir, root) = tree();
        let r = dir.path().join("root");
        symlink(dir.path().join("outside"), r.join("a/link")).unwrap();
        symlink(dir.path(), r.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", r.join("a/environ")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(r.join("a/fifo")).status().unwrap().success());
        for bad in
            ["a/link", "dirlink/outside", "a/environ", "../outside", "/etc/passwd", "a/../../outside", "a/fifo", "a"]
        {
            let err = root.open_file(Path::new(bad), 100).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{bad}: {err}");
        }
        assert!(root.open_file(Path::new("a/b/file"), 5).unwrap_err().to_string().contains("limit"));
    }

    #[test]
    fn the_component_walk_refuses_links_as_openat2_does() {
        let (dir, root) = tree();
        let r = dir.path().join("root");
        symlink(dir.path(), r.join("dirlink")).unwrap();
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        assert!(root.open_by_components(Path::new("a/b/file"), flags).is_ok());
        assert_eq!(root.open_by_components(Path::new("dirlink/outside"), flags).unwrap_err().exit_code(), 1);
    }
}
