//! `glassbox build`: hash the source, stage it at the canonical build root, vendor, build
//! offline in the controlled environment, bundle, and sign SLSA provenance. Nothing is written
//! to the output or attestations directories until everything has succeeded.

pub mod provenance;
pub mod stage;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::attest::provenance::ExternalParameters;
use crate::attest::ResourceDescriptor;
use crate::bundle::{self, BundleFile};
use crate::cargo::{self, BuildParams, Component, ComponentOrigin, Lockfile, Workspace};
use crate::digest::Sha256Digest;
use crate::env::{BuildEnv, BuildRoot};
use crate::error::{Error, IoContext, Result};
use crate::fs::{install_copy, write_atomic};
use crate::keys::{KeyId, PrivateKey};
use crate::manifest::SourceManifest;
use crate::progress::Progress;
use crate::time::Timestamp;
use crate::toolchain::Toolchain;
use crate::tree::{self, SourceTree, TreeFile, TreeOptions};

/// What to build and where to put it.
pub struct BuildRequest<'a> {
    /// The workspace's `Cargo.toml`.
    pub manifest_path: PathBuf,
    pub packages: Vec<String>,
    /// Target triple; the host's when `None`.
    pub target: Option<String>,
    pub profile: String,
    pub features: Vec<String>,
    pub key: &'a PrivateKey,
    pub out_dir: PathBuf,
    pub attestations_dir: PathBuf,
    pub builder_id: String,
    /// Overrides the git commit time (or 0 outside git).
    pub source_date_epoch: Option<i64>,
    pub allow_dirty: bool,
    /// Parent of build roots (`/tmp/glassbox` by default).
    pub build_base: PathBuf,
    /// The caller's environment: used to find the toolchain and to vendor, never for the build.
    pub host_env: BTreeMap<String, String>,
    pub clock: &'a dyn Fn() -> Timestamp,
    pub invocation_id: String,
    pub progress: &'a dyn Progress,
}

/// A file glassbox wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutputFile {
    /// The name in the provenance (`<target>/<file>` for artifacts, the file name for bundles).
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// What a build produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildOutcome {
    pub component: String,
    pub version: String,
    /// Where the name and version came from.
    pub component_origin: String,
    pub source_digest: Sha256Digest,
    pub git_commit: Option<String>,
    pub dirty: bool,
    pub target: String,
    pub source_date_epoch: i64,
    pub artifacts: Vec<OutputFile>,
    pub bundle: OutputFile,
    pub source_bundle: OutputFile,
    pub manifest_file: PathBuf,
    pub vendor_manifest_file: PathBuf,
    pub provenance_file: PathBuf,
    pub key_id: KeyId,
}

/// Runs a whole build. See the module comment for the order of work.
pub fn build(req: &BuildRequest<'_>) -> Result<BuildOutcome> {
    let started = (req.clock)();
    let toolchain = Toolchain::detect(&req.host_env, None)?;
    let manifest_path = fs::canonicalize(&req.manifest_path).at(&req.manifest_path)?;
    let original = Workspace::load(&toolchain.cargo, &manifest_path, &req.host_env)?;
    let Component { name, version, origin } = original.component.clone();
    cargo::workspace::check_component_part("component name", &name)?;
    cargo::workspace::check_component_part("component version", &version)?;
    cargo::workspace::check_component_part("profile", &req.profile)?;
    let manifest_rel = relative_to(&manifest_path, &original.root)?;

    let tree_opts = TreeOptions { allow_dirty: req.allow_dirty, no_git: false, env: req.host_env.clone() };
    let tree = tree::select(&original.root, &tree_opts)?;
    let manifest = SourceManifest::hash(&tree, req.progress)?;
    let source_digest = manifest.digest();
    if manifest.get("Cargo.lock").is_none() {
        return Err(Error::invalid(
            original.root.join("Cargo.lock").display(),
            "Cargo.lock is not part of the source tree (missing, or not tracked by git); glassbox builds only locked workspaces",
        ));
    }
    let source_date_epoch = req.source_date_epoch.or(tree.git.as_ref().map(|g| g.commit_time)).unwrap_or(0);
    if source_date_epoch < 0 {
        return Err(Error::invalid(format!("SOURCE_DATE_EPOCH {source_date_epoch}"), "must not be negative"));
    }
    let target = req.target.clone().unwrap_or_else(|| toolchain.rustc_version.host.clone());

    let root = BuildRoot::for_source(&req.build_base, &source_digest);
    let _lock = stage::lock(&root)?;
    req.progress.phase("staging", 0);
    stage::stage(&tree, &manifest, &root)?;
    let relabel = |e: Error| relabel(e, &root.src, &original.root);
    let lock_path = root.src.join("Cargo.lock");
    let lockfile = Lockfile::read(&lock_path).map_err(relabel)?;
    let lockfile_sha256 = Sha256Digest::of(&fs::read(&lock_path).at(&lock_path)?);
    req.progress.phase("vendoring", 0);
    let vendor = cargo::vendor(&toolchain, &root, &manifest_rel, &req.host_env).map_err(relabel)?;
    let vendored = vendored_files(&root)?;
    let vendor_manifest =
        SourceManifest::hash(&SourceTree { root: root.src.clone(), files: vendored, git: None }, req.progress)?;

    let env = BuildEnv::controlled(&root, &toolchain, source_date_epoch);
    let staged = Workspace::load(&toolchain.cargo, &root.src.join(&manifest_rel), &env.vars).map_err(relabel)?;
    let params = BuildParams {
        manifest_rel: manifest_rel.clone(),
        packages: req.packages.clone(),
        profile: req.profile.clone(),
        target: target.clone(),
        features: req.features.clone(),
    };
    let args = cargo::build_args(&root, &params, &vendor);
    req.progress.phase("cargo build", 0);
    let built = cargo::build(&toolchain, &root, &env, &staged, args).map_err(relabel)?;
    req.progress.finish_phase();

    // Hash the artifacts and write both bundles inside the build root.
    let mut artifacts = Vec::new();
    for a in &built.artifacts {
        let bytes = fs::read(&a.path).at(&a.path)?;
        artifacts.push(OutputFile {
            name: format!("{target}/{}", a.file_name),
            path: req.out_dir.join(&target).join(&a.file_name),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(&bytes),
        });
    }
    let stem = format!("{name}-{version}");
    let bundle_name = format!("{stem}-{target}.tar.gz");
    let bundle_files: Vec<BundleFile> = built
        .artifacts
        .iter()
        .map(|a| BundleFile {
            path: format!("{stem}-{target}/{}", a.file_name),
            source: a.path.clone(),
            executable: a.kind != "staticlib",
        })
        .collect();
    let bundles_dir = root.root.join("bundles");
    let (bundle_tmp, bundle) =
        write_bundle(&bundles_dir, &bundle_name, &bundle_files, source_date_epoch, &req.out_dir)?;
    let src_bundle_name = format!("{stem}-src.tar.gz");
    let src_files = source_bundle_files(&tree, &vendor_manifest, &root, &stem);
    let (src_tmp, source_bundle) =
        write_bundle(&bundles_dir, &src_bundle_name, &src_files, source_date_epoch, &req.out_dir)?;

    // The provenance.
    let mut subjects: Vec<ResourceDescriptor> =
        artifacts.iter().map(|a| ResourceDescriptor::named(a.name.clone(), a.sha256)).collect();
    subjects.push(
        ResourceDescriptor::named(bundle.0.name.clone(), bundle.0.sha256)
            .annotate("uncompressedSha256", bundle.1.hex()),
    );
    let dirty = tree.git.as_ref().is_some_and(|g| g.dirty);
    let record = provenance::BuildRecord {
        subjects,
        external: ExternalParameters {
            source: provenance::source_descriptor(src_bundle_name.clone(), source_digest, tree.git.as_ref()),
            manifest_path: manifest_rel.clone(),
            packages: req.packages.clone(),
            profile: req.profile.clone(),
            target: target.clone(),
            features: req.features.clone(),
        },
        source_date_epoch,
        env: &env,
        cargo_args: &built.args,
        manifest: &manifest,
        vendor_manifest: &vendor_manifest,
        source_bundle: ResourceDescriptor::named(source_bundle.0.name.clone(), source_bundle.0.sha256)
            .annotate("uncompressedSha256", source_bundle.1.hex()),
        lockfile: &lockfile,
        lockfile_sha256,
        toolchain: &toolchain,
        builder_id: req.builder_id.clone(),
        invocation_id: req.invocation_id.clone(),
        started,
        finished: (req.clock)(),
        dirty,
    };
    let statement = provenance::statement(record);
    let envelope = statement.sign(req.key);
    let att_dir = req.attestations_dir.join(&name).join(&version);
    let manifest_file = att_dir.join("sources.sha256");
    let vendor_file = att_dir.join("vendor.sha256");
    let provenance_file = att_dir.join(format!("{target}.provenance.intoto.jsonl"));
    let provenance_text = provenance::merge_into(&provenance_file, &envelope, &statement.subject, req.key)?;

    // Everything succeeded: publish.
    for (a, built) in artifacts.iter().zip(&built.artifacts) {
        install_copy(&built.path, &a.path, if built.kind == "staticlib" { 0o644 } else { 0o755 })?;
    }
    install_copy(&bundle_tmp, &bundle.0.path, 0o644)?;
    install_copy(&src_tmp, &source_bundle.0.path, 0o644)?;
    write_atomic(&manifest_file, manifest.to_text().as_bytes(), 0o644)?;
    write_atomic(&vendor_file, vendor_manifest.to_text().as_bytes(), 0o644)?;
    write_atomic(&provenance_file, provenance_text.as_bytes(), 0o644)?;
    // The build root is only a cache of this build; a failed build keeps it for inspection.
    let _ = fs::remove_dir_all(&root.root);

    Ok(BuildOutcome {
        component: name,
        version,
        component_origin: match origin {
            ComponentOrigin::WorkspaceMetadata => "[workspace.metadata.glassbox]",
            ComponentOrigin::RootPackage => "root package",
            ComponentOrigin::DirectoryName => "workspace directory name",
        }
        .into(),
        source_digest,
        git_commit: tree.git.as_ref().map(|g| g.commit.clone()),
        dirty,
        target,
        source_date_epoch,
        artifacts,
        bundle: bundle.0,
        source_bundle: source_bundle.0,
        manifest_file,
        vendor_manifest_file: vendor_file,
        provenance_file,
        key_id: req.key.public().key_id(),
    })
}

/// Writes a bundle into `dir` and returns its path there plus its description as it will be
/// published in `out_dir`, with the uncompressed tar's digest.
fn write_bundle(
    dir: &Path,
    name: &str,
    files: &[BundleFile],
    mtime: i64,
    out_dir: &Path,
) -> Result<(PathBuf, (OutputFile, Sha256Digest))> {
    fs::create_dir_all(dir).at(dir)?;
    let path = dir.join(name);
    let file = fs::File::create(&path).at(&path)?;
    let digests = bundle::write_tar_gz(files, mtime.unsigned_abs(), std::io::BufWriter::new(file))?;
    let out =
        OutputFile { name: name.to_string(), path: out_dir.join(name), size: digests.size, sha256: digests.sha256 };
    Ok((path, (out, digests.tar_sha256)))
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
            rel: relative_to(entry.path(), &root.src)?,
            real: entry.path().to_path_buf(),
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        });
    }
    Ok(files)
}

/// The source bundle's files: the manifest's files as staged, plus the vendored dependencies,
/// under one top directory.
fn source_bundle_files(tree: &SourceTree, vendor: &SourceManifest, root: &BuildRoot, stem: &str) -> Vec<BundleFile> {
    let mut files: Vec<BundleFile> = tree
        .files
        .iter()
        .map(|f| BundleFile {
            path: format!("{stem}/{}", f.rel),
            source: root.src.join(&f.rel),
            executable: f.executable,
        })
        .collect();
    files.extend(vendor.entries().iter().map(|e| {
        let source = root.src.join(&e.path);
        let executable = fs::metadata(&source).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        BundleFile { path: format!("{stem}/{}", e.path), source, executable }
    }));
    files
}

fn relative_to(path: &Path, base: &Path) -> Result<String> {
    let rel = path
        .strip_prefix(base)
        .map_err(|_| Error::invalid(path.display(), format!("is not inside {}", base.display())))?;
    rel.to_str().map(str::to_string).ok_or_else(|| Error::tree(path, "file name is not UTF-8"))
}

/// Rewrites staged paths in an error message back to the user's paths.
fn relabel(err: Error, staged: &Path, original: &Path) -> Error {
    let (from, to) = (staged.display().to_string(), original.display().to_string());
    match err {
        Error::Tool { program, reason } => Error::Tool { program, reason: reason.replace(&from, &to) },
        Error::Invalid { what, reason } => {
            Error::Invalid { what: what.replace(&from, &to), reason: reason.replace(&from, &to) }
        }
        other => other,
    }
}
