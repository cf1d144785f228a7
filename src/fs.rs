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

/// Many files written atomically as one batch: each is first staged to a temporary file
/// ([`Batch::stage`], which may be called several times, as parts of the batch are ready), then
/// [`Batch::commit`] makes one `syncfs` of the file system instead of an fsync per file (for a
/// site of 10,000 pages the fsyncs cost more than all the rest), renames them all into place
/// and fsyncs each directory. A reader sees each file old or new, never a part; if a write
/// fails, or the batch is dropped without a commit, nothing is renamed and the temporary files
/// are removed. A batch of at most `FSYNC_EACH_UP_TO` files is synced file by file instead.
///
/// The temporary files are beside their files ([`Batch::default`]: the parent directories must
/// exist when staging), or all in a directory of their own on the same file system
/// ([`Batch::staged_in`]: the parent directories need only exist when committing).
#[derive(Default)]
pub struct Batch {
    staged: Vec<(tempfile::TempPath, std::path::PathBuf)>,
    /// Declared after `staged`, so dropped after it: removed once empty.
    staging: Option<tempfile::TempDir>,
}

impl Batch {
    /// A batch whose temporary files are written in a new directory inside `dir`, removed with
    /// the batch.
    pub fn staged_in(dir: &Path) -> Result<Batch> {
        let staging = tempfile::Builder::new().prefix(".glassbox-tmp-").tempdir_in(dir).at(dir)?;
        Ok(Batch { staged: Vec::new(), staging: Some(staging) })
    }

    /// Writes `files` to temporary files, on all cores (most of the time is the kernel's,
    /// creating and filling the files).
    pub fn stage(&mut self, files: &[(std::path::PathBuf, &[u8])], mode: u32) -> Result<()> {
        use rayon::prelude::*;
        let staging = self.staging.as_ref().map(tempfile::TempDir::path);
        let staged: Vec<(tempfile::TempPath, std::path::PathBuf)> = files
            .par_iter()
            .map(|(path, bytes)| {
                let dir = staging.unwrap_or_else(|| parent_dir(path));
                let mut tmp = tempfile::Builder::new().prefix(".glassbox-tmp-").tempfile_in(dir).at(dir)?;
                tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).at(tmp.path())?;
                tmp.write_all(bytes).at(tmp.path())?;
                // Closed now (a batch may be larger than the open-file limit); removed if dropped.
                Ok((tmp.into_temp_path(), path.clone()))
            })
            .collect::<Result<_>>()?;
        self.staged.extend(staged);
        Ok(())
    }

    /// How many files are staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Whether no file is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Makes the staged files durable, then renames each into place; see [`Batch`].
    pub fn commit(mut self) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let Some((first, _)) = staged.first() else { return Ok(()) };
        if staged.len() <= FSYNC_EACH_UP_TO {
            // A few files (a site regenerated after an append): their own fsyncs are cheaper than
            // flushing everything else the file system has pending.
            for (tmp, _) in &staged {
                fs::File::open(tmp).and_then(|f| f.sync_all()).at(tmp)?;
            }
        } else {
            let dir = parent_dir(first);
            fs::File::open(dir).and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from)).at(dir)?;
        }
        let dirs: std::collections::BTreeSet<std::path::PathBuf> =
            staged.iter().map(|(_, path)| parent_dir(path).to_path_buf()).collect();
        for (tmp, path) in staged {
            tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        }
        dirs.iter().map(std::path::PathBuf::as_path).try_for_each(sync_dir)
    }
}

/// Writes `files` as one [`Batch`].
pub fn write_batch(files: &[(std::path::PathBuf, &[u8])], mode: u32) -> Result<()> {
    let mut batch = Batch::default();
    batch.stage(files, mode)?;
    batch.commit()
}

/// Starts writing out what is pending on the file system of `dir`, on a thread of its own, and
/// returns at once: a later [`Batch::commit`] then waits only for what was written after. Best
/// effort (a failure here is seen by the commit's own sync).
pub fn start_writeback(dir: &Path) {
    let Ok(d) = fs::File::open(dir) else { return };
    let _ = std::thread::Builder::new().name("writeback".into()).spawn(move || rustix::fs::syncfs(&d));
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

/// Batches of at most this many files are synced file by file, larger ones with one `syncfs`.
const FSYNC_EACH_UP_TO: usize = 64;

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
    fn a_batch_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.html"), dir.path().join("sub/b.json"));
        fs::create_dir(dir.path().join("sub")).unwrap();
        write_batch(&[(a.clone(), b"one".as_slice()), (b.clone(), b"two".as_slice())], 0o644).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");
        assert_eq!(fs::metadata(&b).unwrap().permissions().mode() & 0o777, 0o644);
        // A later file that cannot be written: nothing is replaced, no temporary file is left.
        let missing = dir.path().join("no-such-dir/c");
        assert!(write_batch(&[(a.clone(), b"new".as_slice()), (missing, b"x".as_slice())], 0o644).is_err());
        assert_eq!(fs::read(&a).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

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
