//! Staging: copy exactly the manifest's files into the canonical build root, checking every
//! byte against the manifest as it is copied, under a lock that keeps two builds of the same
//! source from sharing the root.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, IoContext, Result};
use crate::fs::install_copy;
use crate::manifest::SourceManifest;
use crate::progress::Progress;
use crate::tree::{SourceTree, TreeFile};

/// Holds the build root's lock until dropped.
pub struct RootLock {
    _file: File,
}

/// Takes the exclusive lock of `root` (`<root>.lock`), waiting for another build to finish.
/// The parent directory (shared, usually under `/tmp`) must be private to this user.
pub fn lock(root: &BuildRoot) -> Result<RootLock> {
    let path = root.root.with_extension("lock");
    if let Some(base) = path.parent() {
        ensure_private_dir(base)?;
    }
    let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o644).open(&path).at(&path)?;
    file.lock().at(&path)?;
    Ok(RootLock { _file: file })
}

/// Refuses an output directory inside the build base: the vendor's build code can write the
/// build roots there (and so plant links where glassbox would write), and glassbox writes only
/// where the sandbox never was.
pub fn refuse_inside_build_base(dir: &Path, base: &Path) -> Result<()> {
    let dir_abs = if dir.is_absolute() { dir.to_path_buf() } else { Path::new(".").join(dir) };
    // The nearest existing ancestor, resolved: the rest does not exist yet, so cannot be a link.
    let Some(existing) = dir_abs.ancestors().find(|a| !a.as_os_str().is_empty() && a.exists()) else {
        return Ok(());
    };
    let resolved = fs::canonicalize(existing).at(existing)?;
    let base = fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    if resolved.starts_with(&base) {
        return Err(Error::invalid(
            dir.display(),
            format!(
                "is inside the build base {}, where the vendor's build code runs; choose a directory outside it",
                base.display()
            ),
        ));
    }
    Ok(())
}

/// Creates `dir` (mode 0700) if needed and checks that it is a real directory owned by this
/// user that nobody else can read or write: otherwise another user of a shared `/tmp` could
/// plant files or symlinks in a build root, or watch and race it.
fn ensure_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    let meta = fs::symlink_metadata(dir).at(dir)?;
    // Our own uid, without unsafe code: the owner of this process's /proc entry.
    let me = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(meta.uid());
    // Private, not just unwritable by others: a base that others can list lets them watch and
    // race every build root. Never tightened for the caller: `--build-base /tmp` must not make
    // /tmp private.
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(Error::tree(
            dir,
            "build-root base must be a directory owned by you with mode 0700 (another user may have created it first): pass another --build-base, or chmod 700 it if it is yours",
        ));
    }
    Ok(())
}

/// Empties `root` and copies the tree's files into `root.src`, verifying each against
/// `manifest`. Files are created in manifest order with modes 0644/0755.
pub fn stage(tree: &SourceTree, manifest: &SourceManifest, root: &BuildRoot) -> Result<()> {
    stage_in_order(tree, manifest, root, FileOrder::Manifest)
}

/// The order in which staging creates files (`check` varies it: a build must not depend on
/// directory listing order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOrder {
    Manifest,
    Reversed,
}

/// [`stage`], creating the files in the given order.
pub fn stage_in_order(tree: &SourceTree, manifest: &SourceManifest, root: &BuildRoot, order: FileOrder) -> Result<()> {
    if root.root.exists() {
        fs::remove_dir_all(&root.root).at(&root.root)?;
    }
    for dir in [&root.src, &root.cargo_home, &root.home] {
        fs::create_dir_all(dir).at(dir)?;
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut files: Vec<_> = tree.files.iter().collect();
    if order == FileOrder::Reversed {
        files.reverse();
    }
    for file in files {
        let expected =
            manifest.get(&file.rel).ok_or_else(|| Error::invalid(&file.rel, "not in the source manifest"))?;
        let dest = root.src.join(&file.rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).at(dir)?;
        }
        let actual = copy_hashing(&file.real, &dest, if file.executable { 0o755 } else { 0o644 }, &mut buf)?;
        if actual != expected {
            return Err(Error::tree(&file.real, "changed while glassbox was reading it; run the build again"));
        }
    }
    Ok(())
}

/// The vendor manifest of the staged tree: every file below `.glassbox/vendor/`, with paths
/// relative to the source root. Empty when nothing was vendored.
pub fn vendor_manifest(root: &BuildRoot, progress: &dyn Progress) -> Result<SourceManifest> {
    let files = vendored_files(root)?;
    SourceManifest::hash(&SourceTree { root: root.src.clone(), files, git: None }, progress)
}

/// The vendored files (`.glassbox/vendor/…`, relative to the staged source root): regular files
/// only.
fn vendored_files(root: &BuildRoot) -> Result<Vec<TreeFile>> {
    let vendor = root.vendor_dir();
    let mut files = Vec::new();
    if !vendor.is_dir() {
        return Ok(files); // no external dependencies
    }
    for entry in walkdir::WalkDir::new(&vendor).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::tree(&vendor, e.to_string()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            return Err(Error::tree(entry.path(), "vendored crates may contain only regular files"));
        }
        let meta = entry.metadata().map_err(|e| Error::tree(entry.path(), e.to_string()))?;
        files.push(TreeFile {
            rel: entry
                .path()
                .strip_prefix(&root.src)
                .ok()
                .and_then(|p| p.to_str())
                .map(str::to_string)
                .ok_or_else(|| Error::tree(entry.path(), "file name is not UTF-8"))?,
            real: entry.path().to_path_buf(),
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        });
    }
    Ok(files)
}

/// Copies a vendor directory (regular files only, no links followed), keeping executable bits.
pub fn copy_vendored(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|e| Error::tree(from, e.to_string()))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).at(&dest)?;
        } else if entry.file_type().is_file() {
            let mode = if entry
                .metadata()
                .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
            {
                0o755
            } else {
                0o644
            };
            install_copy(entry.path(), &dest, mode)?;
        } else {
            return Err(Error::tree(entry.path(), "vendored crates may contain only regular files"));
        }
    }
    Ok(())
}

fn copy_hashing(from: &Path, to: &Path, mode: u32, buf: &mut [u8]) -> Result<Sha256Digest> {
    let mut input = File::open(from).at(from)?;
    let mut output = OpenOptions::new().write(true).create_new(true).mode(mode).open(to).at(to)?;
    let mut hasher = Sha256::new();
    loop {
        let n = input.read(buf).at(from)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).at(to)?;
    }
    // The umask may have narrowed the mode given to open(); set it exactly.
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).at(to)?;
    Ok(Sha256Digest(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_base_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let root = BuildRoot::at(base.join("0123456789abcdef"));
        let held = lock(&root).unwrap();
        let again = File::open(root.root.with_extension("lock")).unwrap();
        assert!(again.try_lock().is_err(), "a second build must wait for the first");
        drop(held);
        assert!(again.try_lock().is_ok());
        drop(again);

        // Writable by others, or only readable by them: either way not the caller's alone.
        for mode in [0o777, 0o755, 0o750] {
            fs::set_permissions(&base, fs::Permissions::from_mode(mode)).unwrap();
            let err = lock(&root).err().unwrap().to_string();
            assert!(err.contains("mode 0700"), "{mode:o}: {err}");
        }
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(lock(&root).is_ok());
    }
}
