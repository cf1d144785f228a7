//! Puts the reviewer's copy of the source into the build root and checks it against the
//! provenance: the source digest (naming every file that differs), the Cargo.lock digest, and
//! every vendored crate against its lockfile checksum.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::plan::RebuildPlan;
use crate::build::stage;
use crate::cargo::{self, Lockfile, VendorConfig};
use crate::digest::Sha256Digest;
use crate::env::{BuildRoot, VENDOR_DIR};
use crate::error::{Error, IoContext, Result};
use crate::manifest::SourceManifest;
use crate::progress::Progress;
use crate::toolchain::Toolchain;
use crate::tree::{self, TreeOptions};
use crate::unpack::{unpack_bundle, DEFAULT_LIMITS};

/// How the source was prepared.
#[derive(Clone, Debug)]
pub struct PreparedSource {
    pub vendor: VendorConfig,
    /// True when the dependencies had to be vendored from the registry (a checkout without
    /// `.glassbox/vendor/`): the only case in which a rebuild uses the network.
    pub vendored_from_registry: bool,
}

/// Empties `root` and fills `root.src` from `source` (a source bundle or a directory).
pub fn prepare(
    source: &Path,
    plan: &RebuildPlan,
    root: &BuildRoot,
    toolchain: &Toolchain,
    host_env: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<PreparedSource> {
    if root.root.exists() {
        fs::remove_dir_all(&root.root).at(&root.root)?;
    }
    fs::create_dir_all(&root.root).at(&root.root)?;
    let meta = fs::metadata(source).at(source)?;
    let mut vendored_from_registry = false;
    if meta.is_file() {
        progress.phase("unpacking", 0);
        let unpack_dir = root.root.join("unpack");
        let unpacked = unpack_bundle(source, &unpack_dir, DEFAULT_LIMITS)?;
        fs::rename(unpack_dir.join(&unpacked.top), &root.src).at(&root.src)?;
        fs::remove_dir_all(&unpack_dir).at(&unpack_dir)?;
        let tree = tree::select(&root.src, &TreeOptions { no_git: true, ..Default::default() })?;
        check_manifest(&SourceManifest::hash(&tree, progress)?, plan, source)?;
    } else {
        let options = TreeOptions { allow_dirty: true, env: host_env.clone(), ..Default::default() };
        let tree = tree::select(source, &options)?;
        let manifest = SourceManifest::hash(&tree, progress)?;
        check_manifest(&manifest, plan, source)?;
        stage::stage(&tree, &manifest, root)?;
        let vendored = source.join(VENDOR_DIR);
        if vendored.is_dir() {
            stage::copy_vendored(&vendored, &root.vendor_dir())?;
        } else {
            cargo::vendor(toolchain, root, &plan.params.manifest_rel, host_env)?;
            vendored_from_registry = true;
        }
    }
    for dir in [&root.cargo_home, &root.home] {
        fs::create_dir_all(dir).at(dir)?;
    }
    let lock_path = root.src.join("Cargo.lock");
    if Sha256Digest::of(&fs::read(&lock_path).at(&lock_path)?) != plan.lockfile_sha256 {
        return Err(Error::rejected(source.display(), "Cargo.lock differs from the one in the provenance"));
    }
    check_vendored_crates(&Lockfile::read(&lock_path)?, root, source)?;
    if let Some(expected) = plan.vendor_manifest_digest {
        if stage::vendor_manifest(root, progress)?.digest() != expected && !vendored_from_registry {
            return Err(Error::rejected(
                source.display(),
                "the vendored crates (.glassbox/vendor/) differ from what the builder vendored (vendor.sha256)",
            ));
        }
    }
    Ok(PreparedSource { vendor: plan.vendor_config(root), vendored_from_registry })
}

/// The source must be exactly the attested one; otherwise name what differs.
fn check_manifest(actual: &SourceManifest, plan: &RebuildPlan, source: &Path) -> Result<()> {
    if actual.digest() == plan.source_digest {
        return Ok(());
    }
    let expected = &plan.manifest;
    let mut changes: Vec<String> = Vec::new();
    for e in expected.entries() {
        match actual.get(&e.path) {
            None => changes.push(format!("{} is missing", e.path)),
            Some(d) if d != e.digest => changes.push(format!("{} changed", e.path)),
            Some(_) => {}
        }
    }
    changes.extend(
        actual.entries().iter().filter(|a| expected.get(&a.path).is_none()).map(|a| format!("{} is extra", a.path)),
    );
    let shown = changes.len().min(5);
    let more = if changes.len() > shown { format!(" and {} more", changes.len() - shown) } else { String::new() };
    Err(Error::rejected(
        source.display(),
        format!(
            "source digest {} is not the attested {}: {}{more}",
            actual.digest().prefixed(),
            plan.source_digest.prefixed(),
            changes[..shown].join(", ")
        ),
    ))
}

/// Every registry package of the lockfile must be vendored with its lockfile checksum (cargo
/// records it as `package` in `.cargo-checksum.json`); git packages must be present.
fn check_vendored_crates(lock: &Lockfile, root: &BuildRoot, source: &Path) -> Result<()> {
    for pkg in lock.external() {
        let dir = root.vendor_dir().join(format!("{}-{}", pkg.name, pkg.version));
        if !dir.is_dir() {
            return Err(Error::rejected(
                source.display(),
                format!("vendored crate {} {} is missing", pkg.name, pkg.version),
            ));
        }
        let Some(expected) = &pkg.checksum else { continue };
        let path = dir.join(".cargo-checksum.json");
        let text = fs::read_to_string(&path).at(&path)?;
        let recorded: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::invalid(path.display(), e.to_string()))?;
        if recorded["package"].as_str() != Some(expected.as_str()) {
            return Err(Error::rejected(
                source.display(),
                format!("vendored crate {} {} does not have its Cargo.lock checksum", pkg.name, pkg.version),
            ));
        }
    }
    Ok(())
}
