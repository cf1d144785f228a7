//! The part of a build that `build` and `rebuild` share: from a staged, vendored source tree to
//! hashed artifacts and the binary bundle, in the controlled environment and the sandbox.

use std::fs;
use std::path::{Path, PathBuf};

use crate::beneath::HostileDir;

use crate::attest::provenance::SandboxRecord;
use crate::attest::ResourceDescriptor;
use crate::bundle::{self, BundleDigests, BundleFile};
use crate::cargo::{self, Artifact, BuildParams, VendorConfig, Workspace};
use crate::digest::Sha256Digest;
use crate::env::{BuildEnv, BuildRoot};
use crate::error::{Error, IoContext, Result};
use crate::progress::Progress;
use crate::sandbox::Sandbox;
use crate::toolchain::Toolchain;

/// What to compile, in a build root that already holds the staged and vendored source.
pub struct Compilation<'a> {
    /// On the host, below `build_base`.
    pub root: &'a BuildRoot,
    pub build_base: &'a Path,
    pub sandbox: &'a Sandbox,
    pub toolchain: &'a Toolchain,
    pub params: &'a BuildParams,
    pub vendor: &'a VendorConfig,
    pub source_date_epoch: i64,
    /// `<component>-<version>`, the stem of bundle names.
    pub stem: &'a str,
    pub progress: &'a dyn Progress,
    /// A [`private_dir`] for the copies of the artifacts and the bundle.
    pub outputs: &'a Path,
    /// Changes to the controlled environment (only `check` makes any).
    pub adjust_env: Option<&'a dyn Fn(&mut BuildEnv)>,
}

/// One artifact with its provenance name (`<target>/<file name>`) and digest.
#[derive(Clone, Debug)]
pub struct BuiltArtifact {
    pub subject: String,
    pub file: Artifact,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// The result of a compilation. The artifacts' copies and the bundle are in the private
/// outputs directory, never in the build root.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The environment, with the paths the build saw.
    pub env: BuildEnv,
    /// How the build was confined, as recorded.
    pub sandbox: SandboxRecord,
    /// The build root's directories as the build saw them (what artifacts can embed).
    pub inside: BuildRoot,
    /// The cargo arguments as run.
    pub args: Vec<String>,
    pub artifacts: Vec<BuiltArtifact>,
    pub bundle_name: String,
    pub bundle_path: PathBuf,
    pub bundle: BundleDigests,
    /// cargo's stderr, bounded ([`cargo::CargoBuild::log`]).
    pub build_log: Vec<u8>,
}

impl Compiled {
    /// The provenance subjects: every artifact, then the bundle with its tar's digest.
    pub fn subjects(&self) -> Vec<ResourceDescriptor> {
        let mut subjects: Vec<ResourceDescriptor> =
            self.artifacts.iter().map(|a| ResourceDescriptor::named(a.subject.clone(), a.sha256)).collect();
        subjects.push(bundle_descriptor(&self.bundle_name, &self.bundle));
        subjects
    }
}

/// A bundle's descriptor: its digest, annotated with the digest of the uncompressed tar.
pub fn bundle_descriptor(name: &str, digests: &BundleDigests) -> ResourceDescriptor {
    ResourceDescriptor::named(name, digests.sha256).annotate("uncompressedSha256", digests.tar_sha256.hex())
}

/// The largest artifact glassbox copies out of a build (8 GiB): a bound on what a hostile build
/// can make it read and store, far above any real binary.
pub const MAX_ARTIFACT_BYTES: u64 = 8 << 30;

/// A directory for the build's outputs that the sandbox never sees: created afresh (mode 0700,
/// random name) in the build base, beside the build roots but not in one, and removed when
/// dropped. Bundles and copies of the artifacts are written here, never in the build root.
pub fn private_dir(build_base: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(".glassbox-out-").tempdir_in(build_base).at(build_base)
}

/// Runs cargo in the controlled environment and the sandbox, copies the artifacts out of the
/// build root into `c.outputs` (a [`private_dir`]) and writes the bundle there. Cargo sees the
/// build root at its inside path; everything else is on the host.
///
/// Once cargo has run, the build root is the vendor's: artifacts are read only at the places
/// cargo's layout gives them, beneath the root without following links, as regular files of
/// bounded size, and nothing is written there.
pub fn compile(c: &Compilation<'_>) -> Result<Compiled> {
    let view = c.sandbox.view(c.root, c.build_base, &c.toolchain.sysroot)?;
    let inside = &view.inside;
    let mut env = BuildEnv::controlled(inside, c.toolchain, c.source_date_epoch);
    if let Some(adjust) = c.adjust_env {
        adjust(&mut env);
    }
    // Inside paths in cargo's errors, back to the host's: first the prefixes the compiler's
    // diagnostics were remapped to, then the build root's inside path.
    let relabel = |e| super::relabel(unmap_remapped(e, inside), &inside.root, &c.root.root);
    let manifest = inside.src.join(&c.params.manifest_rel);
    let mut metadata = view.command(&c.toolchain.cargo, &inside.src, &env.vars);
    metadata.args(cargo::workspace::metadata_args(&manifest));
    let staged = Workspace::load_with(metadata, &manifest).map_err(relabel)?;
    // `build` and `check` asked the user's workspace already; a rebuild asks here.
    staged.check_artifact_targets(&c.params.packages).map_err(relabel)?;
    let vendor = VendorConfig { config_args: c.vendor.config_args.iter().map(|a| view.inside_text(a)).collect() };
    let mut args = cargo::build_args(inside, c.params, &vendor);
    if let Some(jobs) = env.jobs {
        args.extend(["--jobs".to_string(), jobs.to_string()]); // only `check` varies it
    }
    let layout = cargo::ArtifactLayout::of(inside, c.params);
    let root_before = RootIdentity::of(&c.root.root)?;
    c.progress.phase("compiling", 0);
    let built = cargo::build(c.toolchain, &view, &env, &staged, &layout, args, c.progress);
    // A root removed or replaced under the build (a /tmp cleaner, another process) would
    // otherwise surface as a compiler error about some missing file.
    root_before.check_unchanged(&c.root.root)?;
    let built = built.map_err(relabel)?;
    c.progress.finish_phase();
    let sandbox = SandboxRecord {
        tool: c.sandbox.tool().to_string(),
        version: c.sandbox.version().map(str::to_string),
        build_root: view.sandboxed().then(|| inside.root.display().to_string()),
    };

    let target = &c.params.target;
    let hostile = HostileDir::open(&c.root.root)?;
    let copies = c.outputs.join("artifacts");
    fs::create_dir(&copies).at(&copies)?;
    let mut artifacts = Vec::new();
    for a in built.artifacts {
        let mode = if a.kind == "staticlib" { 0o644 } else { 0o755 };
        let dest = copies.join(&a.file_name);
        let copied = hostile.copy_file(&a.rel_path, MAX_ARTIFACT_BYTES, &dest, mode)?;
        artifacts.push(BuiltArtifact {
            subject: format!("{target}/{}", a.file_name),
            size: copied.size,
            sha256: copied.sha256,
            file: Artifact { path: dest, ..a },
        });
    }
    let bundle_name = format!("{}-{target}.tar.gz", c.stem);
    let files: Vec<BundleFile> = artifacts
        .iter()
        .map(|a| BundleFile {
            path: format!("{}-{target}/{}", c.stem, a.file.file_name),
            source: a.file.path.clone(),
            executable: a.file.kind != "staticlib",
        })
        .collect();
    let bundle_path = c.outputs.join(&bundle_name);
    let bundle = write_bundle(&bundle_path, &files, c.source_date_epoch)?;
    Ok(Compiled {
        env,
        sandbox,
        inside: view.inside.clone(),
        args: built.args,
        artifacts,
        bundle_name,
        bundle_path,
        bundle,
        build_log: built.log,
    })
}

/// The `--remap-path-prefix` placeholders in a compiler message (`/glassbox/src/…`), back to
/// the paths the build saw. Only at the start of a path: a placeholder inside a longer path is
/// not one.
fn unmap_remapped(err: Error, inside: &BuildRoot) -> Error {
    let map = |text: &str| {
        let mut out = text.to_string();
        for (placeholder, path) in [
            (crate::env::REMAP_TARGET, &inside.target_dir),
            (crate::env::REMAP_CARGO_HOME, &inside.cargo_home),
            (crate::env::REMAP_SRC, &inside.src),
        ] {
            out = replace_path_prefix(&out, placeholder, &path.display().to_string());
        }
        out
    };
    match err {
        Error::Tool { program, reason } => Error::Tool { program, reason: map(&reason) },
        other => other,
    }
}

/// `text` with `from` replaced by `to` wherever it starts a path (not preceded by a path
/// character) and ends a path component.
fn replace_path_prefix(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + from.len()..].chars().next();
        let starts = !before.is_some_and(|c| c.is_alphanumeric() || "/._-~".contains(c));
        let ends = after.is_none_or(|c| !(c.is_alphanumeric() || "._-~".contains(c)));
        out.push_str(&rest[..at]);
        out.push_str(if starts && ends { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Writes a bundle as the new file `path` (in a [`private_dir`]: created with `O_EXCL` and
/// `O_NOFOLLOW`, never through a link or over an existing file).
pub fn write_bundle(path: &Path, files: &[BundleFile], source_date_epoch: i64) -> Result<BundleDigests> {
    let file = create_private(path)?;
    bundle::write_tar_gz(files, source_date_epoch.unsigned_abs(), std::io::BufWriter::new(file))
}

/// A bundle's uncompressed tar stream, written by [`write_bundle_tar`], for
/// [`BundleTar::compress`] to finish later: in memory up to [`TAR_IN_MEMORY`], beyond that in
/// an unnamed file of a [`private_dir`].
pub struct BundleTar {
    stream: tempfile::SpooledTempFile,
    sha256: Sha256Digest,
}

/// How much of a bundle's tar stream is kept in memory (1 GiB): the vendored crates of a large
/// workspace are a few hundred MB, and writing them to disk a second time only to read them
/// back costs more than the memory.
pub const TAR_IN_MEMORY: usize = 1 << 30;

/// Reads `files` into the tar stream of their bundle now (spilling into `private`, a
/// [`private_dir`]); compressing it, the slow part, can then overlap other work.
pub fn write_bundle_tar(private: &Path, files: &[BundleFile], source_date_epoch: i64) -> Result<BundleTar> {
    let spool = tempfile::spooled_tempfile_in(TAR_IN_MEMORY, private);
    let buffered = std::io::BufWriter::with_capacity(1 << 20, spool);
    let (out, sha256, _) = bundle::write_tar(files, source_date_epoch.unsigned_abs(), buffered)?;
    let stream = out.into_inner().map_err(|e| Error::io(private, e.into_error()))?;
    Ok(BundleTar { stream, sha256 })
}

impl BundleTar {
    /// Compresses the stream into the bundle `path` (a new file), giving the bytes
    /// [`write_bundle`] would have written.
    pub fn compress(mut self, path: &Path) -> Result<BundleDigests> {
        use std::io::Seek;
        self.stream.rewind().map_err(|e| Error::io(path, e))?;
        let out = create_private(path)?;
        let tar = std::io::BufReader::with_capacity(1 << 20, self.stream);
        bundle::compress_tar(tar, self.sha256, std::io::BufWriter::new(out))
    }
}

/// Creates the new file `path` with `O_EXCL` and `O_NOFOLLOW`, mode 0644.
fn create_private(path: &Path) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o644)
        .open(path)
        .at(path)
}

/// Which directory a build root is, to notice it being removed or replaced during the build.
struct RootIdentity {
    dev: u64,
    ino: u64,
}

impl RootIdentity {
    fn of(root: &Path) -> Result<RootIdentity> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::symlink_metadata(root).at(root)?;
        Ok(RootIdentity { dev: meta.dev(), ino: meta.ino() })
    }

    fn check_unchanged(&self, root: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        match fs::symlink_metadata(root) {
            Ok(meta) if meta.is_dir() && meta.dev() == self.dev && meta.ino() == self.ino => Ok(()),
            _ => Err(Error::invalid(
                root.display(),
                "the build root was removed or replaced while cargo ran (a /tmp cleaner, or another process using this --build-base?); nothing was built",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remapped_paths_in_compiler_messages_are_the_builds_again() {
        let s = |t: &str| replace_path_prefix(t, "/glassbox/src", "/tmp/glassbox/0123/src");
        assert_eq!(
            s(" --> /glassbox/src/.glassbox/vendor/a/lib.rs:1"),
            " --> /tmp/glassbox/0123/src/.glassbox/vendor/a/lib.rs:1"
        );
        assert_eq!(s("/tmp/glassbox/src/x"), "/tmp/glassbox/src/x");
        assert_eq!(s("/glassbox/srcx"), "/glassbox/srcx");
        assert_eq!(s("`/glassbox/src`"), "`/tmp/glassbox/0123/src`");
    }

    #[test]
    fn a_build_root_removed_or_replaced_under_the_build_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("0123456789abcdef");
        fs::create_dir(&root).unwrap();
        let before = RootIdentity::of(&root).unwrap();
        assert!(before.check_unchanged(&root).is_ok());
        // Made while the root still exists, so it cannot reuse the root's inode.
        fs::create_dir(dir.path().join("other")).unwrap();
        fs::remove_dir(&root).unwrap();
        let gone = before.check_unchanged(&root).unwrap_err().to_string();
        assert!(gone.contains("removed or replaced") && gone.contains("0123456789abcdef"), "{gone}");
        // Another directory at the same path (a /tmp cleaner, then another build) is not ours.
        fs::rename(dir.path().join("other"), &root).unwrap();
        assert!(before.check_unchanged(&root).is_err());
    }

    #[test]
    fn bundles_are_never_written_through_a_link_or_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("bundle.tar.gz");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_bundle(&link, &[], 0).is_err());
        assert!(write_bundle(&victim, &[], 0).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }
}
