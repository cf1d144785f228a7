//! File-system helpers every workflow shares: atomic writes, bounded reads of regular files
//! only, and safe relative paths.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use crate::error::{Error, IoContext, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. Readers see the old file or the new one, never a part. Creates the
/// parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).at(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".glassbox-tmp-").tempfile_in(dir).at(dir)?;
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).at(tmp.path())?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
}

/// Moves a finished file (for example a bundle written to a temporary name) into place
/// atomically, with the given mode.
pub fn install_file(tmp: tempfile::NamedTempFile, path: &Path, mode: u32) -> Result<()> {
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(parent_dir(path))
}

/// Copies `from` to `to` atomically (temporary file beside `to`, fsync, rename) with `mode`.
pub fn install_copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let mut tmp = temp_beside(to)?;
    let mut input = fs::File::open(from).at(from)?;
    std::io::copy(&mut input, tmp.as_file_mut()).at(to)?;
    install_file(tmp, to, mode)
}

/// A temporary file beside `path`, to be completed and then passed to [`install_file`].
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).at(dir)?;
    tempfile::Builder::new().prefix(".glassbox-tmp-").tempfile_in(dir).at(dir)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Upper bounds for reads of small files that others hand us (keys, policies, checkpoints):
/// a hostile path may name `/dev/zero` or a FIFO, so every such read is bounded and typed.
pub mod limits {
    /// A PEM key or a signed-note verifier key.
    pub const KEY_FILE: u64 = 16 << 10;
    /// A policy file.
    pub const POLICY: u64 = 1 << 20;
    /// A checkpoint (a signed note with its cosignatures).
    pub const CHECKPOINT: u64 = 1 << 20;
}

/// Reads the regular file `path` (following symlinks, as a user-given path may be one), refusing
/// FIFOs, devices, sockets and directories before any byte is read, and files longer than
/// `max` bytes. The open is non-blocking so that a FIFO cannot hang the caller.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .at(path)?;
    read_opened(file, path, max)
}

/// Opens the regular file `path` for reading (following symlinks) without blocking, refusing
/// FIFOs, devices, sockets and directories: for reads that stream a file instead of
/// [`read_regular`]. Returns the file and its length.
pub fn open_regular(path: &Path) -> Result<(fs::File, u64)> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .at(path)?;
    let meta = file.metadata().at(path)?;
    if !meta.file_type().is_file() {
        return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    Ok((file, meta.len()))
}

/// [`read_regular`] on a file already opened (for example with `openat` and `O_NOFOLLOW`).
pub fn read_opened(file: fs::File, path: &Path, max: u64) -> Result<Vec<u8>> {
    let meta = file.metadata().at(path)?;
    if !meta.file_type().is_file() {
        return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    if meta.len() > max {
        return Err(Error::invalid(path.display(), format!("larger than the {max}-byte limit for this file")));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow after the check: read one byte past the limit to notice.
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).at(path)?;
    if bytes.len() as u64 > max {
        return Err(Error::invalid(path.display(), format!("larger than the {max}-byte limit for this file")));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text. The error never quotes the contents.
pub fn read_regular_text(path: &Path, max: u64) -> Result<String> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| Error::invalid(path.display(), "not UTF-8 text"))
}

/// Checks that `rel` is a plain relative path (no root, no `..`, no `.`-only components) in
/// UTF-8, as every path inside a manifest or bundle must be.
pub fn check_relative(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.is_empty() {
        return Err("empty path");
    }
    if rel.contains('\0') || rel.contains('\n') || rel.contains('\r') || rel.contains('\\') {
        return Err("path contains a NUL, newline or backslash");
    }
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Err("path contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("path is absolute"),
            Component::CurDir => return Err("path contains '.'"),
        }
    }
    if rel.ends_with('/') || rel.contains("//") {
        return Err("path is not normalised");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert!(check_relative("a/b.rs").is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", "a/", "a\nb", "a\\b"] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounded_reads_refuse_devices_fifos_and_long_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"12345").unwrap();
        assert_eq!(read_regular(&p, 5).unwrap(), b"12345");
        assert!(read_regular(&p, 4).unwrap_err().to_string().contains("limit"));
        assert!(read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err().to_string().contains("not a regular"));
        assert!(read_regular(dir.path(), 1 << 20).is_err());
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read_regular(&fifo, 1 << 20).unwrap_err().to_string().contains("not a regular"));
    }

    #[test]
    fn open_regular_refuses_fifos_and_devices_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"123").unwrap();
        assert_eq!(open_regular(&p).unwrap().1, 3);
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for bad in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            assert!(open_regular(bad).unwrap_err().to_string().contains("not a regular file"), "{bad:?}");
        }
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
