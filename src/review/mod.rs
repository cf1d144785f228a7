//! Source reviews: what changed between two sources (`review diff`, module `diff`) and a
//! reviewer's signed statement about exactly one source digest (`review sign`, module `sign`;
//! predicate `https://glassbox.dev/review/v1`, types in `attest::review`).
//!
//! This module reads the sources a reviewer compares and signs: a source directory, a source
//! bundle (`*-src.tar.gz`), a `sources.sha256` manifest or a provenance envelope file. Each is
//! read into its source manifest and digest, with the files themselves when the input has them
//! (the last two carry digests only). Nothing here trusts a signature: a provenance's embedded
//! manifest is read as it is, and a note says so.

pub mod diff;
pub mod sign;

pub use diff::{diff, FileDiff, Patch, SourceDiff, Status};
pub use sign::{sign, Destination, ScopeRequest, SignRequest, SignedReview};

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::attest::provenance::Provenance;
use crate::attest::{Envelope, Statement, BUILD_TYPE_CARGO_V1, SLSA_PROVENANCE_V1};
use crate::digest::Sha256Digest;
use crate::env::VENDOR_DIR;
use crate::error::{Error, IoContext, Result};
use crate::manifest::SourceManifest;
use crate::progress::Progress;
use crate::tree::{self, TreeOptions};
use crate::unpack::{unpack_bundle, Admission, Limits};

/// What kind of input a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// A source tree on disk (a git checkout or a plain directory).
    Directory,
    /// A source bundle (`<component>-<version>-src.tar.gz`), unpacked safely.
    Bundle,
    /// A `sources.sha256` manifest: digests only, no contents.
    Manifest,
    /// A provenance envelope file: its embedded `sources.sha256`, no contents.
    Provenance,
}

impl SourceKind {
    /// How the kind is named in messages.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Directory => "directory",
            SourceKind::Bundle => "source bundle",
            SourceKind::Manifest => "manifest",
            SourceKind::Provenance => "provenance",
        }
    }

    /// Decides what `path` is: a directory; gzip magic bytes (a bundle); a first line that parses
    /// as a JSON object, or text that starts with `{` (a pretty-printed envelope), is an envelope
    /// file; anything else is read as a manifest (whose lines start with hex digits).
    pub fn detect(path: &Path) -> Result<SourceKind> {
        let meta = fs::metadata(path).at(path)?;
        if meta.is_dir() {
            return Ok(SourceKind::Directory);
        }
        let mut head = Vec::new();
        fs::File::open(path).and_then(|f| f.take(1 << 20).read_to_end(&mut head)).at(path)?;
        if head.starts_with(&[0x1f, 0x8b]) {
            return Ok(SourceKind::Bundle);
        }
        let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let opens_object = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if opens_object || serde_json::from_slice::<serde_json::Value>(first).is_ok_and(|v| v.is_object()) {
            return Ok(SourceKind::Provenance);
        }
        Ok(SourceKind::Manifest)
    }
}

/// How to read a source.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// How a directory is read (as `glassbox hash`: git-tracked files, `--allow-dirty`, `--no-git`).
    pub tree: TreeOptions,
    /// Where a source bundle is unpacked (in a fresh temporary directory, removed on drop).
    pub scratch: PathBuf,
}

/// A source read into its manifest.
#[derive(Debug)]
pub struct LoadedSource {
    /// The path as given.
    pub path: PathBuf,
    pub kind: SourceKind,
    pub manifest: SourceManifest,
    /// The source digest: sha256 of the manifest's text.
    pub digest: Sha256Digest,
    /// The directory holding the files (the tree itself, or the unpacked bundle's top directory);
    /// `None` when only digests are known.
    pub contents_root: Option<PathBuf>,
    /// `<component>-<version>` as the input names it: a bundle's top directory, the stem of a
    /// provenance's bundle subject.
    pub stem: Option<String>,
    /// The git commit of a checkout, or the one a provenance records.
    pub git_commit: Option<String>,
    /// What the reader should know about this input (an unchecked signature, a dirty checkout).
    pub notes: Vec<String>,
    /// Keeps an unpacked bundle alive while `contents_root` points into it.
    _tempdir: Option<tempfile::TempDir>,
}

/// Reads `path`, of whatever kind it is, into its manifest. Hashing reports to `progress`.
pub fn load(path: &Path, options: &LoadOptions, progress: &dyn Progress) -> Result<LoadedSource> {
    let kind = SourceKind::detect(path)?;
    let mut loaded = LoadedSource {
        path: path.to_path_buf(),
        kind,
        manifest: SourceManifest::default(),
        digest: Sha256Digest([0; 32]),
        contents_root: None,
        stem: None,
        git_commit: None,
        notes: Vec::new(),
        _tempdir: None,
    };
    match kind {
        SourceKind::Directory => {
            let tree = tree::select(path, &options.tree)?;
            loaded.manifest = SourceManifest::hash(&tree, progress)?;
            if let Some(git) = &tree.git {
                loaded.git_commit = Some(git.commit.clone());
                if git.dirty {
                    loaded.notes.push(format!("the checkout differs from git commit {}", git.commit));
                }
            }
            loaded.contents_root = Some(tree.root);
        }
        SourceKind::Bundle => {
            let scratch = &options.scratch;
            let tmp = tempfile::Builder::new().prefix("glassbox-review-").tempdir_in(scratch).at(scratch)?;
            progress.phase("unpacking", 0);
            // No attested manifest says what the bundle holds: cap what it may unpack to by its
            // own size, so that a small gzip bomb cannot fill $TMPDIR.
            let limits = Limits::for_compressed(fs::metadata(path).at(path)?.len());
            let unpacked = unpack_bundle(path, &tmp.path().join("src"), limits, Admission::Any)?;
            progress.finish_phase();
            let root = tmp.path().join("src").join(&unpacked.top);
            // Never git: the bundle's own `.glassbox/` (vendored crates) is not source.
            let tree = tree::select(&root, &TreeOptions { no_git: true, ..Default::default() })?;
            // Every file was hashed as it was unpacked; the source is the part the tree selects.
            let selected = |rel: &str| tree.files.binary_search_by(|f| f.rel.as_bytes().cmp(rel.as_bytes())).is_ok();
            let (source, rest): (Vec<_>, Vec<_>) = unpacked.files.into_iter().partition(|f| selected(&f.path));
            loaded.manifest = SourceManifest::from_entries(source)?;
            let hidden: Vec<String> = rest
                .iter()
                .filter(|f| !f.path.starts_with(&format!("{VENDOR_DIR}/")))
                .map(|f| crate::text::escape(&f.path).to_string())
                .collect();
            if !hidden.is_empty() {
                let shown = hidden.len().min(5);
                loaded.notes.push(format!(
                    "the bundle holds {} files that are not part of its source digest (below a CACHEDIR.TAG \
                     directory, in .git/ or .glassbox/, or excluded by glassbox.toml), which glassbox rebuild \
                     refuses: {}{}",
                    hidden.len(),
                    hidden[..shown].join(", "),
                    if hidden.len() > shown { ", …" } else { "" }
                ));
            }
            loaded.contents_root = Some(tree.root);
            loaded.stem = Some(unpacked.top);
            loaded._tempdir = Some(tmp);
        }
        SourceKind::Manifest => {
            let origin = path.display().to_string();
            let bytes = fs::read(path).at(path)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::invalid(
                    &origin,
                    "not a source directory, source bundle (.tar.gz), provenance (.intoto.jsonl) or sources.sha256 \
                     manifest (it is not UTF-8 text)",
                )
            })?;
            loaded.manifest = SourceManifest::parse(&text, &origin).map_err(|e| match e {
                Error::Invalid { what, reason } => Error::invalid(
                    what,
                    format!("{reason} (read as a sources.sha256 manifest: it is not a directory, a .tar.gz or JSON)"),
                ),
                other => other,
            })?;
            if loaded.manifest.entries().is_empty() {
                return Err(Error::invalid(origin, "the manifest lists no files"));
            }
        }
        SourceKind::Provenance => {
            let embedded = read_provenance(path)?;
            loaded.manifest = embedded.manifest;
            loaded.stem = embedded.stem;
            loaded.git_commit = embedded.git_commit;
            loaded.notes.push(format!(
                "the provenance's signature was not checked (signed by {}); its embedded sources.sha256 is taken as \
                 it is",
                embedded.signers
            ));
        }
    }
    loaded.digest = loaded.manifest.digest();
    Ok(loaded)
}

/// What a provenance file says about its source, without trusting its signature.
struct EmbeddedSource {
    manifest: SourceManifest,
    stem: Option<String>,
    git_commit: Option<String>,
    /// The key ids the envelopes claim, for the note that they were not checked.
    signers: String,
}

/// Decodes the `sources.sha256` byproduct of every envelope in the provenance file at `path`
/// (as `rebuild::plan` does, but without a trusted key: a mismatch is unusable input here, exit
/// 2, not a verdict); all must agree on the source.
fn read_provenance(path: &Path) -> Result<EmbeddedSource> {
    let origin = path.display().to_string();
    let text = fs::read_to_string(path).at(path)?;
    let mut found: Option<EmbeddedSource> = None;
    let mut signers = Vec::new();
    for env in Envelope::parse_all(&text, &origin)? {
        signers.extend(env.signatures.iter().map(|s| if s.keyid.is_empty() { "?".into() } else { s.keyid.clone() }));
        let statement: Statement<Provenance> =
            Statement::from_envelope(&env, SLSA_PROVENANCE_V1, &origin).map_err(unusable)?;
        let def = &statement.predicate.build_definition;
        if def.build_type != BUILD_TYPE_CARGO_V1 {
            return Err(Error::invalid(
                &origin,
                format!("buildType {:?} is not {BUILD_TYPE_CARGO_V1}", def.build_type),
            ));
        }
        let ext = &def.external_parameters;
        let manifest = statement.predicate.source_manifest(&origin).map_err(unusable)?;
        if let Some(first) = &found {
            if first.manifest != manifest {
                return Err(Error::invalid(&origin, "its envelopes name different sources; give one envelope"));
            }
            continue;
        }
        let suffix = format!("-{}.tar.gz", ext.target);
        let stem = statement.subject.iter().filter_map(|s| s.name.as_deref()).find_map(|n| n.strip_suffix(&suffix));
        found = Some(EmbeddedSource {
            manifest,
            stem: stem.map(str::to_string),
            git_commit: ext.source.digest.get("gitCommit").cloned(),
            signers: String::new(),
        });
    }
    signers.sort();
    signers.dedup();
    // `Envelope::parse_all` returns at least one envelope, and each either set `found` or
    // returned an error.
    let mut embedded = found.ok_or_else(|| Error::invalid(&origin, "contains no provenance"))?;
    embedded.signers = if signers.is_empty() { "nobody".into() } else { signers.join(", ") };
    Ok(embedded)
}

/// An input that is not what it should be is unusable here (exit 2), never a definite "no":
/// exit 1 means "the sources differ" to `review diff`.
fn unusable(e: Error) -> Error {
    match e {
        Error::Rejected { what, reason } => Error::Invalid { what, reason },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_detected_from_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            fs::write(&p, bytes).unwrap();
            SourceKind::detect(&p).unwrap()
        };
        assert_eq!(SourceKind::detect(dir.path()).unwrap(), SourceKind::Directory);
        assert_eq!(at("b.tar.gz", &[0x1f, 0x8b, 8, 0]), SourceKind::Bundle);
        assert_eq!(at("p.intoto.jsonl", b"{\"payload\":\"\"}\n{}\n"), SourceKind::Provenance);
        assert_eq!(at("sources.sha256", b"e3b0  a\n"), SourceKind::Manifest);
        assert!(SourceKind::detect(&dir.path().join("missing")).unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn a_manifest_loads_without_contents_and_garbage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let path = dir.path().join("sources.sha256");
        fs::write(&path, format!("{d}  a.rs\n")).unwrap();
        let options = LoadOptions { scratch: dir.path().to_path_buf(), ..Default::default() };
        let loaded = load(&path, &options, &crate::progress::Silent).unwrap();
        assert_eq!((loaded.kind, loaded.manifest.entries().len()), (SourceKind::Manifest, 1));
        assert_eq!(loaded.digest, Sha256Digest::of(format!("{d}  a.rs\n").as_bytes()));
        assert!(loaded.contents_root.is_none());

        fs::write(&path, b"\xff\xfe").unwrap();
        let err = load(&path, &options, &crate::progress::Silent).unwrap_err().to_string();
        assert!(err.contains("sources.sha256") && err.contains("not UTF-8"), "{err}");
        fs::write(&path, "").unwrap();
        assert!(load(&path, &options, &crate::progress::Silent).unwrap_err().to_string().contains("no files"));
    }

    #[test]
    fn an_envelope_that_is_not_provenance_is_unusable_not_a_difference() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::PrivateKey::from_seed(&[9; 32]);
        let path = dir.path().join("x.intoto.jsonl");
        for env in [
            Envelope::sign("text/plain", b"{}", &key),
            Statement::new(vec![], crate::attest::REVIEW_V1, serde_json::json!({})).sign(&key),
        ] {
            fs::write(&path, env.to_line()).unwrap();
            let options = LoadOptions { scratch: dir.path().to_path_buf(), ..Default::default() };
            let err = load(&path, &options, &crate::progress::Silent).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
            assert!(err.to_string().contains("x.intoto.jsonl"), "{err}");
        }
    }
}
