//! Puts the reviewer's copy of the source into the build root and checks it against the
//! provenance: the source digest (naming every file that differs), the Cargo.lock digest, and
//! every vendored crate against its lockfile checksum. A source bundle is unpacked admitting only
//! the attested files and `.glassbox/vendor/` (checked against `vendor.sha256`), each hashed as it
//! is written; anything else is refused before its bytes are written.

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
use crate::unpack::{unpack_bundle, Admission, Limits};

/// How the source was prepared.
#[derive(Clone, Debug)]
pub struct PreparedSource {
    pub vendor: VendorConfig,
    /// True when the dependencies had to be vendored from the registry (a checkout without
    /// `.glassbox/vendor/`): the only case in which a rebuild uses the network.
    pub vendored_from_registry: bool,
}

/// Empties `root` and fills `root.src` from `source` (a source bundle or a directory). A
/// refused source leaves no build root behind: a hostile bundle's bytes are not kept.
pub fn prepare(
    source: &Path,
    plan: &RebuildPlan,
    root: &BuildRoot,
    toolchain: &Toolchain,
    host_env: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<PreparedSource> {
    let prepared = (|| -> Result<PreparedSource> {
        if root.root.exists() {
            fs::remove_dir_all(&root.root).at(&root.root)?;
        }
        fs::create_dir_all(&root.root).at(&root.root)?;
        let meta = fs::metadata(source).at(source)?;
        let mut vendored_from_registry = false;
        let vendor_digest = if meta.is_file() {
            Some(unpack_attested(source, meta.len(), plan, root, progress)?)
        } else {
            let options = TreeOptions { allow_dirty: true, env: host_env.clone(), ..Default::default() };
            let tree = tree::select(source, &options)?;
            let manifest = SourceManifest::hash(&tree, progress)?;
            check_manifest(&manifest, plan, source)?;
            stage::stage(&tree, &manifest, root)?;
            let vendored = source.join(VENDOR_DIR);
            if vendored.is_dir() {
                stage::copy_vendored(&vendored, &root.vendor_dir())?;
                plan.vendor_manifest_digest
                    .map(|_| stage::vendor_manifest(root, progress).map(|m| m.digest()))
                    .transpose()?
            } else {
                cargo::vendor(toolchain, root, &plan.params.manifest_rel, host_env)?;
                vendored_from_registry = true;
                None
            }
        };
        for dir in [&root.cargo_home, &root.home] {
            fs::create_dir_all(dir).at(dir)?;
        }
        let lock_path = root.src.join("Cargo.lock");
        if Sha256Digest::of(&fs::read(&lock_path).at(&lock_path)?) != plan.lockfile_sha256 {
            return Err(Error::rejected(source.display(), "Cargo.lock differs from the one in the provenance"));
        }
        check_vendored_crates(&Lockfile::read(&lock_path)?, root, source)?;
        if let (Some(expected), Some(actual)) = (plan.vendor_manifest_digest, vendor_digest) {
            if actual != expected {
                return Err(Error::rejected(
                    source.display(),
                    "the vendored crates (.glassbox/vendor/) differ from what the builder vendored (vendor.sha256)",
                ));
            }
        }
        Ok(PreparedSource { vendor: plan.vendor_config(root), vendored_from_registry })
    })();
    if prepared.is_err() {
        let _ = fs::remove_dir_all(&root.root);
    }
    prepared
}

/// Unpacks the source bundle at `bundle` into `root.src`, admitting only the attested files and
/// the vendored crates, each hashed as it is written. Returns the vendor manifest's digest.
fn unpack_attested(
    bundle: &Path,
    compressed: u64,
    plan: &RebuildPlan,
    root: &BuildRoot,
    progress: &dyn Progress,
) -> Result<Sha256Digest> {
    progress.phase("unpacking", 0);
    let unpack_dir = root.root.join("unpack");
    let admission = Admission::Attested {
        top: &plan.stem,
        manifest: &plan.manifest,
        vendor_dir: plan.vendor_manifest_digest.map(|_| VENDOR_DIR),
    };
    let unpacked = unpack_bundle(bundle, &unpack_dir, Limits::for_compressed(compressed), admission)?;
    fs::rename(unpack_dir.join(&unpacked.top), &root.src).at(&root.src)?;
    fs::remove_dir_all(&unpack_dir).at(&unpack_dir)?;
    let vendor_prefix = format!("{VENDOR_DIR}/");
    let (vendored, listed): (Vec<_>, Vec<_>) = unpacked
        .files
        .into_iter()
        .partition(|f| plan.manifest.get(&f.path).is_none() && f.path.starts_with(&vendor_prefix));
    check_manifest(&SourceManifest::from_entries(listed)?, plan, bundle)?;
    // The attested files must also be what `glassbox hash` selects in this tree, or a reviewer's
    // own hash of it would not give the attested digest.
    let tree = tree::select(&root.src, &TreeOptions { no_git: true, ..Default::default() })?;
    if let Some(left_out) = plan
        .manifest
        .entries()
        .iter()
        .find(|e| tree.files.binary_search_by(|f| f.rel.as_bytes().cmp(e.path.as_bytes())).is_err())
    {
        return Err(Error::rejected(
            bundle.display(),
            format!(
                "{} is attested, but glassbox does not count it as source in this tree (below a CACHEDIR.TAG \
                 directory, in .git/ or .glassbox/, or excluded by glassbox.toml)",
                left_out.path
            ),
        ));
    }
    Ok(SourceManifest::from_entries(vendored)?.digest())
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
