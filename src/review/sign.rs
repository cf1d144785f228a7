//! `glassbox review sign`: a reviewer's signed statement (`https://glassbox.dev/review/v1`) that
//! they read exactly one source digest, to which criteria, over which scope, with their
//! findings. Everything is checked before anything is signed or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{LoadedSource, SourceKind};
use crate::attest::review::BUILT_IN_CRITERIA;
use crate::attest::review::{nearest_criteria, valid_criteria, Component, Finding, Review, Reviewer, Scope};
use crate::attest::{Envelope, ResourceDescriptor, Statement, REVIEW_V1};
use crate::cargo::workspace::{check_component_part, Workspace};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use crate::glob;
use crate::keys::PrivateKey;
use crate::manifest::SourceManifest;
use crate::time::Timestamp;
use crate::toolchain::Toolchain;

/// Finding severities, least to most severe.
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// The scope as the reviewer asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRequest {
    Full,
    /// A source digest (`sha256:<hex>` or hex) or a review file whose subject is the base.
    DeltaFrom(String),
    /// Path patterns (see `glob`); each must match a file of the source.
    Paths(Vec<String>),
}

/// Where the signed review goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `<dir>/<component>/<version>/review.<keyid 8 hex>.intoto.jsonl`, merged with the reviews
    /// of other source digests already there.
    Attestations(PathBuf),
    /// This one envelope line, replacing the file.
    File(PathBuf),
}

/// Everything `sign` needs.
pub struct SignRequest<'a> {
    pub source: &'a LoadedSource,
    pub criteria: String,
    /// A criterion that is not a built-in one is meant (`--custom-criteria`): without it, one is
    /// refused as the likely typo it is, since no policy would ever count the review.
    pub custom_criteria: bool,
    pub scope: ScopeRequest,
    /// `PATH:LINE:SEVERITY:TEXT` each.
    pub findings: Vec<String>,
    pub notes: String,
    pub reviewer_name: String,
    /// Explicit component name and version; otherwise inferred from the source.
    pub component: Option<(String, String)>,
    pub key: &'a PrivateKey,
    pub time_reviewed: Timestamp,
    pub destination: Destination,
    /// The environment for finding cargo when the component is read from a directory.
    pub env: &'a BTreeMap<String, String>,
}

/// What was signed and where it was written.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedReview {
    pub file: PathBuf,
    /// `sha256:<hex>`.
    pub source_digest: String,
    pub keyid: String,
    /// An earlier review of this source digest by this key was replaced.
    pub replaced: bool,
    /// Other envelopes kept in the file (reviews of other source digests).
    pub kept: usize,
    /// Notes about the source (for example an unchecked provenance signature).
    pub notes: Vec<String>,
    pub statement: Statement<Review>,
}

/// Checks the request, signs the review and writes it.
pub fn sign(req: &SignRequest) -> Result<SignedReview> {
    let source = req.source;
    if !valid_criteria(&req.criteria) {
        return Err(Error::invalid(
            format!("criteria {:?}", req.criteria),
            "use safe-to-run, safe-to-deploy, or a custom name of letters, digits and '-' (at most 64)",
        ));
    }
    if !req.custom_criteria && !BUILT_IN_CRITERIA.contains(&req.criteria.as_str()) {
        let hint = match nearest_criteria(&req.criteria) {
            Some(known) => format!("did you mean {known}? "),
            None => String::new(),
        };
        return Err(Error::invalid(
            format!("criteria {:?}", req.criteria),
            format!(
                "is not a built-in criterion ({}): {hint}A custom criterion counts only for a policy that names it; pass --custom-criteria if that is what you mean",
                BUILT_IN_CRITERIA.join(", ")
            ),
        ));
    }
    let scope = resolve_scope(&req.scope, source)?;
    let findings = req.findings.iter().map(|f| parse_finding(f, &source.manifest)).collect::<Result<Vec<Finding>>>()?;
    let component = component(req)?;
    let keyid = req.key.public().key_id();
    let review = Review {
        reviewer: Reviewer { keyid: keyid.to_string(), name: req.reviewer_name.clone() },
        criteria: req.criteria.clone(),
        scope,
        component: component.clone(),
        findings,
        notes: req.notes.clone(),
        time_reviewed: req.time_reviewed.rfc3339(),
    };
    let subject = ResourceDescriptor::named(format!("{}-{} source", component.name, component.version), source.digest);
    let statement = Statement::new(vec![subject], REVIEW_V1, review);
    let envelope = statement.sign(req.key);
    let (file, text, replaced, kept) = match &req.destination {
        Destination::File(path) => (path.clone(), format!("{}\n", envelope.to_line()), false, 0),
        Destination::Attestations(dir) => {
            let path = review_file(dir, &component, req.key);
            let existing = if std::fs::symlink_metadata(&path).is_ok() {
                crate::fs::read_regular_text(&path, MAX_REVIEW_FILE)?
            } else {
                String::new()
            };
            let (text, replaced, kept) =
                merge_into(&existing, &path.display().to_string(), &envelope, &source.digest, req.key)?;
            (path, text, replaced, kept)
        }
    };
    write_atomic(&file, text.as_bytes(), 0o644)?;
    Ok(SignedReview {
        file,
        source_digest: source.digest.prefixed(),
        keyid: keyid.to_string(),
        replaced,
        kept,
        notes: source.notes.clone(),
        statement,
    })
}

/// `<dir>/<component>/<version>/review.<keyid 8 hex>.intoto.jsonl`: one file per reviewer and
/// version.
pub fn review_file(dir: &Path, component: &Component, key: &PrivateKey) -> PathBuf {
    let id = key.public().key_id();
    dir.join(&component.name).join(&component.version).join(format!("review.{}.intoto.jsonl", id.short()))
}

/// The review file's new text: the envelopes already in `existing` (a review file), less this
/// key's review of the same source digest, then `envelope`. Returns the text, whether an
/// envelope was replaced, and how many were kept. Anything but review statements is refused.
pub fn merge_into(
    existing: &str,
    origin: &str,
    envelope: &Envelope,
    digest: &Sha256Digest,
    key: &PrivateKey,
) -> Result<(String, bool, usize)> {
    let ours = key.public();
    let id = ours.key_id();
    let (mut lines, mut replaced) = (Vec::new(), false);
    if !existing.trim().is_empty() {
        for env in Envelope::parse_all(existing, origin)? {
            let review = Statement::<Review>::from_envelope(&env, REVIEW_V1, origin).map_err(|e| {
                Error::invalid(origin, format!("holds an envelope that is not a glassbox review ({e}); move it away"))
            })?;
            let same_source = review.subject.first().and_then(ResourceDescriptor::sha256) == Some(*digest);
            let by_us = env.signatures.iter().any(|s| s.keyid == id.as_str())
                || !env.verified_by(std::slice::from_ref(&ours))?.is_empty();
            if same_source && by_us {
                replaced = true;
                continue;
            }
            lines.push(env.to_line());
        }
    }
    let kept = lines.len();
    lines.push(envelope.to_line());
    Ok((lines.join("\n") + "\n", replaced, kept))
}

fn resolve_scope(request: &ScopeRequest, source: &LoadedSource) -> Result<Scope> {
    match request {
        ScopeRequest::Full => Ok(Scope::Full),
        ScopeRequest::DeltaFrom(value) => {
            let from = delta_base(value)?;
            if from == source.digest {
                return Err(Error::invalid(
                    format!("--delta-from {value}"),
                    format!("is the source being reviewed ({}); a delta needs an earlier source", from.prefixed()),
                ));
            }
            Ok(Scope::Delta { from: from.hex() })
        }
        ScopeRequest::Paths(patterns) => {
            if patterns.is_empty() {
                return Err(Error::invalid("--paths", "give at least one pattern"));
            }
            for pattern in patterns {
                let compiled = glob::Pattern::new(pattern)?;
                if !source.manifest.entries().iter().any(|e| compiled.matches(&e.path)) {
                    return Err(Error::invalid(
                        format!("--paths {pattern:?}"),
                        format!("matches no file of source {}", source.digest.prefixed()),
                    ));
                }
            }
            Ok(Scope::Paths { paths: patterns.clone() })
        }
    }
}

/// The largest review file read (a reviewer's file holds one line per source reviewed).
const MAX_REVIEW_FILE: u64 = 64 << 20;

/// The base of a delta review: a source digest (`sha256:<hex>` or 64 hex digits), or the subject
/// of the review(s) in a review file (which must all name one source digest).
pub fn delta_base(value: &str) -> Result<Sha256Digest> {
    let what = || format!("--delta-from {value:?}");
    if let Some(digest) = Sha256Digest::parse(value) {
        return Ok(digest);
    }
    let path = Path::new(value);
    if !path.is_file() {
        return Err(Error::invalid(
            what(),
            "neither a source digest (sha256:<64 hex digits>) nor a review file (.intoto.jsonl)",
        ));
    }
    let origin = path.display().to_string();
    let text = crate::fs::read_regular_text(path, MAX_REVIEW_FILE)?;
    let mut digests: Vec<Sha256Digest> = Vec::new();
    for env in Envelope::parse_all(&text, &origin)? {
        let review = Statement::<Review>::from_envelope(&env, REVIEW_V1, &origin)
            .map_err(|e| Error::invalid(what(), format!("not a review file ({e})")))?;
        let digest = review
            .subject
            .first()
            .and_then(ResourceDescriptor::sha256)
            .ok_or_else(|| Error::invalid(&origin, "a review there has no sha256 subject"))?;
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    match digests.as_slice() {
        [one] => Ok(*one),
        _ => Err(Error::invalid(
            what(),
            format!(
                "reviews {} source digests ({}); pass the one to start from",
                digests.len(),
                digests.iter().map(Sha256Digest::prefixed).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Parses `PATH:LINE:SEVERITY:TEXT`. PATH must be a file of `manifest` (a path holding `:` is
/// found by trying each `:` in turn); LINE 0 means the file as a whole.
pub fn parse_finding(text: &str, manifest: &SourceManifest) -> Result<Finding> {
    let what = || format!("--finding {text:?}");
    let splits: Vec<usize> = text.match_indices(':').map(|(i, _)| i).collect();
    // The first split whose path is a file of the source; else the first `:`, for the message.
    let at = splits.iter().copied().find(|&i| manifest.get(&text[..i]).is_some()).or(splits.first().copied());
    let Some(at) = at else { return Err(Error::invalid(what(), "expected PATH:LINE:SEVERITY:TEXT")) };
    let (path, rest) = (&text[..at], &text[at + 1..]);
    let mut parts = rest.splitn(3, ':');
    let (Some(line), Some(severity), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::invalid(what(), "expected PATH:LINE:SEVERITY:TEXT"));
    };
    if manifest.get(path).is_none() {
        return Err(Error::invalid(what(), format!("{path:?} is not a file of the source")));
    }
    let line: u64 = line
        .trim()
        .parse()
        .map_err(|_| Error::invalid(what(), format!("line {line:?} is not a number (0 for the whole file)")))?;
    let given = severity.trim();
    let severity = given.to_ascii_lowercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        return Err(Error::invalid(what(), format!("severity {given:?} is not one of {}", SEVERITIES.join(", "))));
    }
    let body = body.trim();
    if body.is_empty() {
        return Err(Error::invalid(what(), "the finding's text is empty"));
    }
    Ok(Finding { path: path.to_string(), line, severity, text: body.to_string() })
}

/// The component's name and version: given, or read from the source (a bundle's top directory,
/// a provenance's bundle name, a directory's workspace); a manifest names none.
fn component(req: &SignRequest) -> Result<Component> {
    let source = req.source;
    let (name, version) = match (&req.component, source.kind) {
        (Some((name, version)), _) => (name.clone(), version.clone()),
        (None, SourceKind::Manifest) => {
            return Err(Error::invalid(
                source.path.display(),
                "a manifest does not name its component; pass --component and --version",
            ))
        }
        (None, SourceKind::Directory) => {
            let root = source.contents_root.as_deref().unwrap_or(&source.path);
            let hint = |e: Error| {
                Error::invalid(
                    root.display(),
                    format!("cannot read the component from its workspace ({e}); pass --component and --version"),
                )
            };
            let toolchain = Toolchain::detect(req.env, None).map_err(hint)?;
            let ws = Workspace::load(&toolchain.cargo, &root.join("Cargo.toml"), req.env).map_err(hint)?;
            (ws.component.name, ws.component.version)
        }
        (None, _) => {
            let stem = source.stem.as_deref().unwrap_or_default();
            split_stem(stem).ok_or_else(|| {
                Error::invalid(
                    source.path.display(),
                    format!("cannot tell the component and version from {stem:?}; pass --component and --version"),
                )
            })?
        }
    };
    check_component_part("component", &name)?;
    check_component_part("version", &version)?;
    Ok(Component { name, version })
}

/// Splits `<name>-<version>` at a `-` followed by a digit: the first one after which a dotted
/// version (`<digits>.<digits>…`) starts, else the last one (`my-tool-2-1.0.0-rc-1` gives
/// `my-tool-2` and `1.0.0-rc-1`).
pub fn split_stem(stem: &str) -> Option<(String, String)> {
    let cuts: Vec<usize> = stem
        .match_indices('-')
        .map(|(i, _)| i)
        .filter(|&i| i > 0 && stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    let dotted = |v: &str| {
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        v[digits..].starts_with('.') && v[digits + 1..].starts_with(|c: char| c.is_ascii_digit())
    };
    let cut = cuts.iter().copied().find(|&i| dotted(&stem[i + 1..])).or(cuts.last().copied())?;
    Some((stem[..cut].to_string(), stem[cut + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestEntry;

    fn manifest(paths: &[&str]) -> SourceManifest {
        let entries =
            paths.iter().map(|p| ManifestEntry { path: p.to_string(), digest: Sha256Digest::of(p.as_bytes()) });
        SourceManifest::from_entries(entries.collect()).unwrap()
    }

    #[test]
    fn findings_parse_and_bad_ones_name_the_value() {
        let m = manifest(&["src/main.rs", "odd:name.rs"]);
        let f = parse_finding("src/main.rs:12:High:unchecked index: may panic", &m).unwrap();
        assert_eq!(
            f,
            Finding {
                path: "src/main.rs".into(),
                line: 12,
                severity: "high".into(),
                text: "unchecked index: may panic".into()
            }
        );
        assert_eq!(parse_finding("odd:name.rs:0:info:whole file", &m).unwrap().path, "odd:name.rs");
        for (bad, needle) in [
            ("src/main.rs:12:severe:x", "severity \"severe\" is not one of info, low"),
            ("src/other.rs:1:low:x", "\"src/other.rs\" is not a file"),
            ("src/main.rs:twelve:low:x", "line \"twelve\""),
            ("src/main.rs:1:low", "expected PATH:LINE:SEVERITY:TEXT"),
            ("src/main.rs:1:low:  ", "text is empty"),
            ("nothing", "expected PATH"),
        ] {
            let err = parse_finding(bad, &m).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn stems_split_into_component_and_version() {
        let split = |s: &str| split_stem(s).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(split("avscan-0.1.0").as_deref(), Some("avscan 0.1.0"));
        assert_eq!(split("my-tool-2-1.0.0").as_deref(), Some("my-tool-2 1.0.0"));
        assert_eq!(split("foo-1.0.0-rc-1").as_deref(), Some("foo 1.0.0-rc-1"));
        assert_eq!(split("app-2024-05").as_deref(), Some("app-2024 05"));
        assert_eq!(split("noversion"), None);
        assert_eq!(split("-1.0"), None);
    }

    #[test]
    fn delta_bases_are_digests_or_review_files() {
        let d = Sha256Digest::of(b"old source");
        assert_eq!(delta_base(&d.prefixed()).unwrap(), d);
        assert_eq!(delta_base(&d.hex().to_uppercase()).unwrap(), d);
        let err = delta_base("sha256:abc").unwrap_err().to_string();
        assert!(err.contains("sha256:abc") && err.contains("neither"), "{err}");
    }

    #[test]
    fn merge_replaces_our_review_of_this_source_and_keeps_the_rest() {
        let (alice, bob) = (PrivateKey::from_seed(&[1; 32]), PrivateKey::from_seed(&[2; 32]));
        let review = |digest: Sha256Digest, key: &PrivateKey| {
            let r = Review {
                reviewer: Reviewer { keyid: key.public().key_id().to_string(), name: String::new() },
                criteria: "safe-to-run".into(),
                scope: Scope::Full,
                component: Component { name: "x".into(), version: "1".into() },
                findings: vec![],
                notes: String::new(),
                time_reviewed: "2026-01-01T00:00:00Z".into(),
            };
            Statement::new(vec![ResourceDescriptor::named("x-1 source", digest)], REVIEW_V1, r).sign(key)
        };
        let (v1, v2) = (Sha256Digest::of(b"1"), Sha256Digest::of(b"2"));
        let (a1, a2, b2) = (review(v1, &alice), review(v2, &alice), review(v2, &bob));
        let existing = format!("{}\n{}\n", a1.to_line(), a2.to_line());
        let again = review(v2, &alice);
        let (text, replaced, kept) = merge_into(&existing, "f", &again, &v2, &alice).unwrap();
        assert_eq!((text, replaced, kept), (format!("{}\n{}\n", a1.to_line(), again.to_line()), true, 1));
        let (text, replaced, kept) = merge_into("", "f", &b2, &v2, &bob).unwrap();
        assert_eq!((text, replaced, kept), (format!("{}\n", b2.to_line()), false, 0));

        let other = Statement::new(vec![], crate::attest::SLSA_PROVENANCE_V1, serde_json::json!({})).sign(&alice);
        let err = merge_into(&other.to_line(), "review.x.intoto.jsonl", &again, &v2, &alice).unwrap_err();
        assert!(err.to_string().contains("not a glassbox review"), "{err}");
    }
}
