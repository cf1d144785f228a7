//! `glassbox review diff`: which files were added, removed and changed between two sources, by
//! their digests, and optionally unified diffs of the changed text files (the `similar` crate).
//! The result is data; the CLI renders it.

use std::fs;

use serde::Serialize;
use similar::TextDiff;

use super::{LoadedSource, SourceKind};
use crate::digest::Sha256Digest;
use crate::error::{IoContext, Result};

/// Lines of context around each change in a unified diff.
pub const CONTEXT_LINES: usize = 3;

/// Files larger than this get a one-line summary instead of a patch.
pub const MAX_PATCH_BYTES: u64 = 16 << 20;

/// What changed from one source to another.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDiff {
    pub old: SideSummary,
    pub new: SideSummary,
    /// Both sources have the same digest (and so the same files).
    pub identical: bool,
    /// Files with the same digest on both sides.
    pub unchanged: usize,
    /// Every file added, removed or changed, sorted bytewise by path.
    pub files: Vec<FileDiff>,
}

/// One side of the comparison.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SideSummary {
    pub path: String,
    pub kind: SourceKind,
    /// `sha256:<hex>`.
    pub source_digest: String,
    pub files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Whether file contents are available (a directory or a bundle), so patches can be shown.
    pub contents: bool,
    pub notes: Vec<String>,
}

/// How one file differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

/// One file that differs.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    pub path: String,
    pub status: Status,
    /// sha256 hex on the old side (absent when added).
    pub old_sha256: Option<String>,
    /// sha256 hex on the new side (absent when removed).
    pub new_sha256: Option<String>,
    /// With `--patch` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Patch>,
}

/// What `--patch` shows for one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Patch {
    /// A unified diff (`--- a/x`, `+++ b/x`, hunks with 3 lines of context).
    Text { unified: String },
    /// `Binary files a/x and b/x differ (… -> … bytes)`: a side has a NUL byte or is not UTF-8.
    Binary { summary: String },
    /// The contents are not available (a manifest or provenance side), too large, or changed on
    /// disk since they were hashed.
    Unavailable { reason: String },
}

impl SourceDiff {
    /// `(added, removed, changed)` counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s: Status| self.files.iter().filter(|f| f.status == s).count();
        (count(Status::Added), count(Status::Removed), count(Status::Changed))
    }
}

/// Compares `old` with `new`; with `with_patch`, reads the contents of each differing file and
/// describes the change.
pub fn diff(old: &LoadedSource, new: &LoadedSource, with_patch: bool) -> Result<SourceDiff> {
    let (a, b) = (old.manifest.entries(), new.manifest.entries());
    let (mut i, mut j, mut unchanged) = (0, 0, 0);
    let mut files = Vec::new();
    // Both manifests are sorted bytewise by path: one merge pass.
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.path.as_bytes().cmp(y.path.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (path, from, to) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (&a[i - 1].path, Some(a[i - 1].digest), None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (&b[j - 1].path, None, Some(b[j - 1].digest))
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                if a[i - 1].digest == b[j - 1].digest {
                    unchanged += 1;
                    continue;
                }
                (&a[i - 1].path, Some(a[i - 1].digest), Some(b[j - 1].digest))
            }
        };
        let status = match (from, to) {
            (None, _) => Status::Added,
            (_, None) => Status::Removed,
            _ => Status::Changed,
        };
        let patch = if with_patch { Some(patch(path, old, from, new, to)?) } else { None };
        files.push(FileDiff {
            path: path.clone(),
            status,
            old_sha256: from.map(|d| d.hex()),
            new_sha256: to.map(|d| d.hex()),
            patch,
        });
    }
    Ok(SourceDiff { old: summary(old), new: summary(new), identical: old.digest == new.digest, unchanged, files })
}

fn summary(side: &LoadedSource) -> SideSummary {
    SideSummary {
        path: side.path.display().to_string(),
        kind: side.kind,
        source_digest: side.digest.prefixed(),
        files: side.manifest.entries().len(),
        git_commit: side.git_commit.clone(),
        contents: side.contents_root.is_some(),
        notes: side.notes.clone(),
    }
}

/// The contents of one side of a file, as far as they can be had.
enum Contents {
    /// The file is not on this side.
    Absent,
    Bytes(Vec<u8>),
    Unavailable(String),
}

fn read_side(side: &LoadedSource, path: &str, digest: Option<Sha256Digest>) -> Result<Contents> {
    let Some(digest) = digest else { return Ok(Contents::Absent) };
    let Some(root) = &side.contents_root else {
        return Ok(Contents::Unavailable(format!(
            "contents not available: {} is a {}",
            side.path.display(),
            side.kind.label()
        )));
    };
    let file = root.join(path);
    let size = fs::metadata(&file).at(&file)?.len();
    if size > MAX_PATCH_BYTES {
        return Ok(Contents::Unavailable(format!("too large to show ({size} bytes)")));
    }
    // Bounded and regular files only: the file may have been replaced since it was hashed.
    let bytes = crate::fs::read_regular(&file, MAX_PATCH_BYTES)?;
    if Sha256Digest::of(&bytes) != digest {
        return Ok(Contents::Unavailable(format!("{} changed on disk since it was hashed", file.display())));
    }
    Ok(Contents::Bytes(bytes))
}

/// A unified diff for text, a one-line summary for binary files, or why neither can be shown.
fn patch(
    path: &str,
    old: &LoadedSource,
    from: Option<Sha256Digest>,
    new: &LoadedSource,
    to: Option<Sha256Digest>,
) -> Result<Patch> {
    let (a, b) = (read_side(old, path, from)?, read_side(new, path, to)?);
    let (a, b) = match (a, b) {
        (Contents::Unavailable(reason), _) | (_, Contents::Unavailable(reason)) => {
            return Ok(Patch::Unavailable { reason });
        }
        (a, b) => (a, b),
    };
    let name_a = if matches!(a, Contents::Absent) { "/dev/null".to_string() } else { format!("a/{path}") };
    let name_b = if matches!(b, Contents::Absent) { "/dev/null".to_string() } else { format!("b/{path}") };
    let bytes = |c: Contents| match c {
        Contents::Bytes(bytes) => bytes,
        _ => Vec::new(),
    };
    let (a, b) = (bytes(a), bytes(b));
    match (as_text(&a), as_text(&b)) {
        (Some(text_a), Some(text_b)) => {
            let diff = TextDiff::from_lines(text_a, text_b);
            let unified = diff.unified_diff().context_radius(CONTEXT_LINES).header(&name_a, &name_b).to_string();
            Ok(Patch::Text { unified })
        }
        _ => Ok(Patch::Binary {
            summary: format!("Binary files {name_a} and {name_b} differ ({} -> {} bytes)", a.len(), b.len()),
        }),
    }
}

/// The bytes as text, unless they hold a NUL or are not UTF-8.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::review::{load, LoadOptions};
    use crate::tree::TreeOptions;
    use std::path::Path;

    fn tree(dir: &Path, files: &[(&str, &[u8])]) {
        for (rel, body) in files {
            let p = dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
    }

    #[test]
    fn added_removed_changed_sorted_with_patches() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        tree(
            &a,
            &[("same.rs", b"x\n"), ("gone.rs", b"old\n"), ("lib.rs", b"1\n2\n3\n4\n5\n6\n7\n8\n"), ("bin", b"\0a")],
        );
        tree(
            &b,
            &[("same.rs", b"x\n"), ("new.rs", b"hi\n"), ("lib.rs", b"1\n2\n3\n4\nfive\n6\n7\n8\n"), ("bin", b"\0b")],
        );
        let options =
            LoadOptions { tree: TreeOptions { no_git: true, ..Default::default() }, scratch: dir.path().to_path_buf() };
        let (old, new) = (load(&a, &options, &Silent).unwrap(), load(&b, &options, &Silent).unwrap());
        let d = diff(&old, &new, true).unwrap();
        let listed: Vec<(&str, Status)> = d.files.iter().map(|f| (f.path.as_str(), f.status)).collect();
        assert_eq!(
            listed,
            [
                ("bin", Status::Changed),
                ("gone.rs", Status::Removed),
                ("lib.rs", Status::Changed),
                ("new.rs", Status::Added)
            ]
        );
        assert_eq!((d.unchanged, d.identical, d.counts()), (1, false, (1, 1, 2)));
        assert_eq!(
            d.files[0].patch,
            Some(Patch::Binary { summary: "Binary files a/bin and b/bin differ (2 -> 2 bytes)".into() })
        );
        let Some(Patch::Text { unified }) = &d.files[2].patch else { panic!("{:?}", d.files[2]) };
        assert_eq!(unified, "--- a/lib.rs\n+++ b/lib.rs\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
        let Some(Patch::Text { unified }) = &d.files[3].patch else { panic!() };
        assert!(unified.starts_with("--- /dev/null\n+++ b/new.rs\n@@ -0,0 +1 @@\n+hi\n"), "{unified}");

        assert!(diff(&old, &old, true).unwrap().identical);
        let manifest = dir.path().join("sources.sha256");
        fs::write(&manifest, old.manifest.to_text()).unwrap();
        let from_manifest = load(&manifest, &options, &Silent).unwrap();
        let d = diff(&from_manifest, &new, true).unwrap();
        let Some(Patch::Unavailable { reason }) = &d.files[2].patch else { panic!() };
        assert!(reason.contains("contents not available") && reason.contains("manifest"), "{reason}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["files"][2]["patch"]["kind"], "unavailable");
        assert_eq!(json["old"]["kind"], "manifest");
    }
}
