//! The statements `glassbox verify` weighs: every DSSE envelope in every `*.intoto.jsonl` file
//! under the attestations directory, decoded but not yet trusted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::attest::{Envelope, Statement, PAYLOAD_TYPE_INTOTO, STATEMENT_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

/// One envelope found under the attestations directory.
#[derive(Clone, Debug)]
pub struct Found {
    /// The file, relative to the attestations directory, and the line.
    pub file: String,
    pub line: usize,
    pub envelope: Envelope,
    /// sha256 of the envelope's line: how the log and verdicts name it.
    pub digest: Sha256Digest,
    pub statement: Statement<Value>,
}

impl Found {
    /// `file:line`, for evidence.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Whether one of the statement's subjects has this sha256.
    pub fn has_subject(&self, digest: &Sha256Digest) -> bool {
        self.statement.subject.iter().any(|s| s.sha256().as_ref() == Some(digest))
    }
}

/// Every in-toto statement in `*.intoto.jsonl` files below `dir` (the log's own directory, which
/// holds no such files, is not special). Envelopes that are not in-toto statements are skipped;
/// a file that is not JSON lines of envelopes is an error naming it.
pub fn collect(dir: &Path) -> Result<Vec<Found>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::tree(dir, e.to_string()))?;
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(".intoto.jsonl") {
            files.push(entry.into_path());
        }
    }
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let envelope: Envelope = serde_json::from_str(raw)
                .map_err(|e| Error::invalid(format!("{rel}:{line}"), format!("not a DSSE envelope ({e})")))?;
            if envelope.payload_type != PAYLOAD_TYPE_INTOTO {
                continue;
            }
            let Ok(payload) = envelope.payload_bytes() else { continue };
            let Ok(statement) = serde_json::from_slice::<Statement<Value>>(&payload) else { continue };
            if statement.type_ != STATEMENT_V1 {
                continue;
            }
            let digest = envelope.digest();
            out.push(Found { file: rel.clone(), line, envelope, digest, statement });
        }
    }
    Ok(out)
}
