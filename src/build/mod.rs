//! `glassbox build`: hash the source, stage it at the canonical build root, vendor, build
//! offline in the controlled environment and the sandbox, bundle, and sign SLSA provenance.
//! The signing key never enters the sandbox. Nothing is written
//! to the output or attestations directories until everything has succeeded.

pub mod compile;
pub mod provenance;
pub mod stage;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::attest::provenance::ExternalParameters;
use crate::bundle::BundleFile;
use crate::cargo::{self, BuildParams, Component, ComponentOrigin, Lockfile, Workspace};
use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, IoContext, Result};
use crate::fs::{install_copy, write_atomic};
use crate::keys::{KeyId, PrivateKey};
use crate::manifest::SourceManifest;
use crate::progress::Progress;
use crate::sandbox::Sandbox;
use crate::time::Timestamp;
use crate::toolchain::Toolchain;
use crate::tree::{self, SourceTree, TreeOptions};

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
    /// Where the vendor's build code runs (bubblewrap unless `--no-sandbox`).
    pub sandbox: Sandbox,
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
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub sha256: Sha256Digest,
}

/// What a build produced.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutcome {
    pub component: String,
    pub version: String,
    /// Where the name and version came from.
    pub component_origin: String,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
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

/// A workspace about to be built: its toolchain, identity, and hashed source tree.
pub struct WorkspaceSource {
    pub toolchain: Toolchain,
    /// The workspace as found at the user's path.
    pub original: Workspace,
    /// The workspace manifest relative to the tree root.
    pub manifest_rel: String,
    pub tree: SourceTree,
    pub manifest: SourceManifest,
}

impl WorkspaceSource {
    /// Finds the toolchain and the workspace of `manifest_path`, checks its name and version,
    /// selects and hashes its tree, and insists that `Cargo.lock` is part of it.
    pub fn inspect(
        manifest_path: &Path,
        allow_dirty: bool,
        host_env: &BTreeMap<String, String>,
        progress: &dyn Progress,
    ) -> Result<WorkspaceSource> {
        let toolchain = Toolchain::detect(host_env, None)?;
        let manifest_path = fs::canonicalize(manifest_path).at(manifest_path)?;
        let original = Workspace::load(&toolchain.cargo, &manifest_path, host_env)?;
        cargo::workspace::check_component_part("component name", &original.component.name)?;
        cargo::workspace::check_component_part("component version", &original.component.version)?;
        let manifest_rel = relative_to(&manifest_path, &original.root)?;
        let tree_opts = TreeOptions { allow_dirty, no_git: false, env: host_env.clone() };
        let tree = tree::select(&original.root, &tree_opts)?;
        let manifest = SourceManifest::hash(&tree, progress)?;
        if manifest.get("Cargo.lock").is_none() {
            return Err(Error::invalid(
                original.root.join("Cargo.lock").display(),
                "Cargo.lock is not part of the source tree (missing, or not tracked by git); glassbox builds only locked workspaces",
            ));
        }
        Ok(WorkspaceSource { toolchain, original, manifest_rel, tree, manifest })
    }

    /// Rewrites paths of the staged tree in an error back to the user's workspace.
    pub fn relabel(&self, err: Error, staged: &Path) -> Error {
        relabel(err, staged, &self.original.root)
    }
}

/// Runs a whole build. See the module comment for the order of work.
pub fn build(req: &BuildRequest<'_>) -> Result<BuildOutcome> {
    let started = (req.clock)();
    let ws = WorkspaceSource::inspect(&req.manifest_path, req.allow_dirty, &req.host_env, req.progress)?;
    cargo::workspace::check_component_part("profile", &req.profile)?;
    // Before the tree is staged and vendored: a selection with nothing to publish fails now.
    ws.original.check_artifact_targets(&req.packages)?;
    let WorkspaceSource { toolchain, original, manifest_rel, tree, manifest } = ws;
    let Component { name, version, origin } = original.component.clone();
    let source_digest = manifest.digest();
    let source_date_epoch = req.source_date_epoch.or(tree.git.as_ref().map(|g| g.commit_time)).unwrap_or(0);
    if source_date_epoch < 0 {
        return Err(Error::invalid(format!("SOURCE_DATE_EPOCH {source_date_epoch}"), "must not be negative"));
    }
    let target = req.target.clone().unwrap_or_else(|| toolchain.rustc_version.host.clone());

    let root = BuildRoot::for_source(&req.build_base, &source_digest);
    let _lock = stage::lock(&root)?;
    for dir in [&req.out_dir, &req.attestations_dir] {
        stage::refuse_inside_build_base(dir, &req.build_base)?;
    }
    req.progress.phase("staging", 0);
    stage::stage(&tree, &manifest, &root)?;
    let relabel = |e: Error| relabel(e, &root.src, &original.root);
    let lock_path = root.src.join("Cargo.lock");
    let lockfile = Lockfile::read(&lock_path).map_err(relabel)?;
    let lockfile_sha256 = Sha256Digest::of(&fs::read(&lock_path).at(&lock_path)?);
    req.progress.phase("vendoring", 0);
    let vendor = cargo::vendor(&toolchain, &root, &manifest_rel, &req.host_env).map_err(relabel)?;
    let vendor_manifest = stage::vendor_manifest(&root, req.progress)?;

    let stem = format!("{name}-{version}");
    let params = BuildParams {
        manifest_rel: manifest_rel.clone(),
        packages: req.packages.clone(),
        profile: req.profile.clone(),
        target: target.clone(),
        features: req.features.clone(),
    };
    // The source bundle's files are read now, before any of the vendor's code has run in the
    // build root, from the files staging checked against the manifest; after the build the
    // root is the vendor's (docs/threat-model.md, attacker 1). Only compressing that tar stream,
    // glassbox's own private file, overlaps the compile.
    let outputs = compile::private_dir(&req.build_base)?;
    let src_bundle_name = format!("{stem}-src.tar.gz");
    let src_bundle_path = outputs.path().join(&src_bundle_name);
    let src_files = source_bundle_files(&tree, &vendor_manifest, &root, &stem);
    let src_tar = compile::write_bundle_tar(outputs.path(), &src_files, source_date_epoch)?;
    let (source_bundle, compiled) = std::thread::scope(|scope| {
        let compressing = scope.spawn(|| src_tar.compress(&src_bundle_path));
        let compiled = compile::compile(&compile::Compilation {
            root: &root,
            build_base: &req.build_base,
            sandbox: &req.sandbox,
            toolchain: &toolchain,
            params: &params,
            vendor: &vendor,
            source_date_epoch,
            stem: &stem,
            progress: req.progress,
            outputs: outputs.path(),
            adjust_env: None,
        });
        // A panic while compressing is a bug; surface it as one.
        (compressing.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), compiled)
    });
    let compiled = compiled.map_err(relabel)?;
    let source_bundle = source_bundle?;

    let dirty = tree.git.as_ref().is_some_and(|g| g.dirty);
    let record = provenance::BuildRecord {
        subjects: compiled.subjects(),
        external: ExternalParameters {
            source: provenance::source_descriptor(src_bundle_name.clone(), source_digest, tree.git.as_ref()),
            manifest_path: manifest_rel.clone(),
            packages: req.packages.clone(),
            profile: req.profile.clone(),
            target: target.clone(),
            features: req.features.clone(),
        },
        source_date_epoch,
        env: &compiled.env,
        sandbox: compiled.sandbox.clone(),
        cargo_args: &compiled.args,
        manifest: &manifest,
        vendor_manifest: &vendor_manifest,
        source_bundle: compile::bundle_descriptor(&src_bundle_name, &source_bundle),
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
    let artifacts: Vec<OutputFile> = compiled
        .artifacts
        .iter()
        .map(|a| OutputFile {
            name: a.subject.clone(),
            path: req.out_dir.join(&target).join(&a.file.file_name),
            size: a.size,
            sha256: a.sha256,
        })
        .collect();
    let bundle = OutputFile {
        name: compiled.bundle_name.clone(),
        path: req.out_dir.join(&compiled.bundle_name),
        size: compiled.bundle.size,
        sha256: compiled.bundle.sha256,
    };
    let source_bundle = OutputFile {
        name: src_bundle_name.clone(),
        path: req.out_dir.join(&src_bundle_name),
        size: source_bundle.size,
        sha256: source_bundle.sha256,
    };
    for (out, built) in artifacts.iter().zip(&compiled.artifacts) {
        install_copy(&built.file.path, &out.path, if built.file.kind == "staticlib" { 0o644 } else { 0o755 })?;
    }
    install_copy(&compiled.bundle_path, &bundle.path, 0o644)?;
    install_copy(&src_bundle_path, &source_bundle.path, 0o644)?;
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
        bundle,
        source_bundle,
        manifest_file,
        vendor_manifest_file: vendor_file,
        provenance_file,
        key_id: req.key.public().key_id(),
    })
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

/// Rewrites staged paths in an error message back to the user's paths. Paths into what the
/// workspace does not have (the build's `target/`, the vendored crates under `.glassbox/`)
/// stay in the staged tree, which a failed build keeps for inspection, and the message says so.
pub(crate) fn relabel(err: Error, staged: &Path, original: &Path) -> Error {
    let map = |text: &str| relabel_text(text, staged, original);
    match err {
        Error::Tool { program, reason } => Error::Tool { program, reason: map(&reason) },
        Error::Invalid { what, reason } => Error::Invalid { what: map(&what), reason: map(&reason) },
        other => other,
    }
}

/// The staged tree's directories that the user's workspace does not have.
const STAGED_ONLY: [&str; 2] = ["target", ".glassbox"];

fn relabel_text(text: &str, staged: &Path, original: &Path) -> String {
    let (from, to) = (staged.display().to_string(), original.display().to_string());
    // Sentinels keep the staged-only paths out of the replacement; NUL never occurs in a path.
    let mut out = text.to_string();
    for (i, dir) in STAGED_ONLY.iter().enumerate() {
        out = out.replace(&format!("{from}/{dir}"), &format!("\0{i}\0"));
    }
    out = out.replace(&from, &to);
    let mut kept = false;
    for (i, dir) in STAGED_ONLY.iter().enumerate() {
        let sentinel = format!("\0{i}\0");
        kept |= out.contains(&sentinel);
        out = out.replace(&sentinel, &format!("{from}/{dir}"));
    }
    if kept && !out.contains(STAGED_NOTE) {
        out.push_str(&format!(
            "\nnote: {from} is the staged copy of {to} that the build ran in (its target/ and the vendored crates in .glassbox/vendor are not in the workspace); {STAGED_NOTE}"
        ));
    }
    out
}

const STAGED_NOTE: &str = "it is kept for inspection until the next build of this source";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_paths_become_the_workspaces_except_what_only_the_build_has() {
        let (staged, original) = (Path::new("/tmp/glassbox/0123/src"), Path::new("/home/u/ws"));
        let text = "error: failed to run custom build command for `x v0.1.0 (/tmp/glassbox/0123/src)`\n  process didn't exit successfully: `/tmp/glassbox/0123/src/target/release/build/x-1/build-script-build`";
        let mapped = relabel_text(text, staged, original);
        assert!(mapped.contains("(/home/u/ws)`"), "{mapped}");
        assert!(mapped.contains("`/tmp/glassbox/0123/src/target/release/build/x-1/build-script-build`"), "{mapped}");
        assert!(!mapped.contains("/home/u/ws/target"), "{mapped}");
        assert!(mapped.contains("kept for inspection"), "{mapped}");
        let plain = relabel_text("error: /tmp/glassbox/0123/src/Cargo.toml: bad", staged, original);
        assert_eq!(plain, "error: /home/u/ws/Cargo.toml: bad");
    }
}
