//! Staging: copy exactly the manifest's files into the canonical build root, checking every
//! byte against the manifest as it is copied, under a lock that keeps two builds of the same
//! source from sharing the root.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, IoContext, Result};
use crate::manifest::SourceManifest;
use crate::tree::SourceTree;

/// Holds the build root's lock until dropped.
pub struct RootLock {
    _file: File,
}

/// Takes the exclusive lock of `root` (`<root>.lock`), waiting for another build to finish.
pub fn lock(root: &BuildRoot) -> Result<RootLock> {
    let path = root.root.with_extension("lock");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at(dir)?;
    }
    let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o644).open(&path).at(&path)?;
    file.lock().at(&path)?;
    Ok(RootLock { _file: file })
}

/// Empties `root` and copies the tree's files into `root.src`, verifying each against
/// `manifest`. Files are created in manifest order with modes 0644/0755.
pub fn stage(tree: &SourceTree, manifest: &SourceManifest, root: &BuildRoot) -> Result<()> {
    if root.root.exists() {
        fs::remove_dir_all(&root.root).at(&root.root)?;
    }
    for dir in [&root.src, &root.cargo_home, &root.home] {
        fs::create_dir_all(dir).at(dir)?;
    }
    let mut buf = vec![0u8; 1 << 16];
    for file in &tree.files {
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
    fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(mode)).at(to)?;
    Ok(Sha256Digest(hasher.finalize().into()))
}
