//! `glassbox log list`: every entry the log's checkpoint commits to, with what a rebuild
//! verdict says (PASSED or FAILED), as a table or as one JSON object.

use anyhow::Result;
use clap::Args;
use glassbox::attest::{Envelope, SLSA_VSA_V1};
use glassbox::digest::Sha256Digest;
use glassbox::text::escape;
use glassbox::transparency::{audit, LogEntry};
use serde::Serialize;

use crate::render::{print_json, table};

#[derive(Args)]
pub struct ListArgs {
    /// The log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    dir: String,
    /// Only entries of this predicate type.
    #[arg(long = "type")]
    predicate_type: Option<String>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

/// `log list --json` (docs/formats.md, "CLI JSON reports").
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    origin: String,
    /// The checkpoint's size: every entry of the log, listed or not.
    size: u64,
    #[serde(serialize_with = "glassbox::digest::report::prefixed")]
    root: Sha256Digest,
    /// The entries listed (all, or those of `--type`).
    entries: Vec<Listed>,
}

#[derive(Serialize)]
struct Listed {
    index: usize,
    entry: LogEntry,
    /// A rebuild verdict's `verificationResult` (`PASSED`, `FAILED`), as its stored envelope
    /// says; absent for other statements. The log does not check signatures: `verify` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
}

/// The outsider's view: every entry the checkpoint commits to (tiles and leaves checked).
pub fn list(a: &ListArgs) -> Result<()> {
    let log = crate::log::open_log(&a.dir)?;
    let (checkpoint, entries) = audit::committed_entries(&log)?;
    let mut listed = Vec::new();
    for (i, bytes) in entries.iter().enumerate() {
        let entry = LogEntry::parse(bytes, &format!("entry {i}"))?;
        if a.predicate_type.as_ref().is_none_or(|t| t == &entry.predicate_type) {
            listed.push(Listed { index: i, entry, result: None });
        }
    }
    // Verdicts say PASSED or FAILED only in their envelopes: read those (and only if needed).
    if listed.iter().any(|l| l.entry.predicate_type == SLSA_VSA_V1) {
        let envelopes = log.envelopes(0, checkpoint.size, checkpoint.size)?;
        for l in listed.iter_mut().filter(|l| l.entry.predicate_type == SLSA_VSA_V1) {
            let line = envelopes.get(l.index).map(Vec::as_slice).unwrap_or_default();
            l.result = Some(verdict_result(line, &l.entry)?);
        }
    }
    if a.json {
        return print_json(&Listing {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            root: Sha256Digest(checkpoint.root),
            entries: listed,
        });
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|l| {
            // Anyone may log: every name is escaped so that none can forge or erase a line.
            let subjects: Vec<String> =
                l.entry.subjects.iter().filter_map(|s| s.name.as_deref()).map(|n| escape(n).into_owned()).collect();
            let signers: Vec<String> =
                l.entry.signers.iter().map(|k| escape(&k.chars().take(8).collect::<String>()).into_owned()).collect();
            vec![
                l.index.to_string(),
                escape(&l.entry.predicate_type).into_owned(),
                l.result.as_deref().map_or(String::new(), |r| escape(r).into_owned()),
                subjects.join(" "),
                signers.join(" "),
            ]
        })
        .collect();
    print!("{}", table(&["index", "type", "result", "subjects", "signers"], &rows));
    Ok(())
}

/// What the stored envelope of a verdict entry says: it must be the envelope the entry names.
fn verdict_result(line: &[u8], entry: &LogEntry) -> Result<String> {
    let what = || format!("the stored envelope of {}", entry.envelope);
    if Sha256Digest::of(line).prefixed() != entry.envelope {
        anyhow::bail!(glassbox::Error::rejected(what(), "is not the one its entry names"));
    }
    let envelope: Envelope =
        serde_json::from_slice(line).map_err(|e| glassbox::Error::invalid(what(), format!("not an envelope: {e}")))?;
    let payload: serde_json::Value = serde_json::from_slice(&envelope.payload_bytes()?)
        .map_err(|e| glassbox::Error::invalid(what(), format!("its payload is not JSON: {e}")))?;
    let result = payload.pointer("/predicate/verificationResult").and_then(serde_json::Value::as_str);
    Ok(result.unwrap_or("(none)").to_string())
}
