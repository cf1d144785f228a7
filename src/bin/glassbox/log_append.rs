//! `glassbox log append DIR|URL --key KEY FILE…`: appends DSSE envelopes to a log directory,
//! or submits them to a log service keeping the receipts, and says which `file:line` each
//! entry came from.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use glassbox::digest::Sha256Digest;
use glassbox::fs::read_regular_text;
use glassbox::remote::Location;
use glassbox::text::escape;
use glassbox::transparency::{store, LogDir, Loggable};

use crate::log::{vkey, witnesses, WitnessArgs};
use crate::render::print_json;

#[derive(Args)]
pub struct AppendArgs {
    /// The log: a directory (appended to with --key), or a log service's base URL
    /// (`https://…`; submitted to without a key, keeping the receipts).
    dir: String,
    /// The log's private key (for a directory).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Files of DSSE envelopes, one per line (`.intoto.jsonl`) or one JSON envelope.
    #[arg(required = true)]
    envelopes: Vec<PathBuf>,
    /// With a URL: write each receipt (c2sp.org/tlog-proof@v1) here, as `<sha256 hex>.tlog-proof`.
    #[arg(long)]
    receipts: Option<PathBuf>,
    /// With a URL: the log's verifier key; each receipt's checkpoint must be signed by it.
    #[arg(long)]
    vkey: Option<String>,
    #[command(flatten)]
    witness: WitnessArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

/// Reads every envelope file, appends or submits them, and prints the report.
pub fn run(a: AppendArgs) -> Result<()> {
    let mut items = Vec::new();
    let mut sources = Vec::new();
    for file in &a.envelopes {
        let text = read_regular_text(file, MAX_APPEND_FILE)?;
        let parsed = Loggable::parse_lines(&text, &file.display().to_string())?;
        // parse_lines takes every non-blank line, in order: number them the same way.
        let lines = text.split('\n').enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(n, _)| n + 1);
        sources.extend(lines.map(|n| format!("{}:{n}", file.display())).take(parsed.len()));
        items.extend(parsed);
    }
    // Envelopes submitted in another DSSE form are stored (and named) in the canonical
    // compact form: say which digest names each such submission.
    let rewritten: Vec<Rewritten> = items
        .iter()
        .zip(&sources)
        .filter(|(i, _)| i.rewritten())
        .map(|(i, source)| Rewritten {
            submitted: i.submitted.prefixed(),
            stored: i.digest.prefixed(),
            source: source.clone(),
        })
        .collect();
    let appended = match Location::parse(&a.dir)? {
        Location::Url(url) => submit_all(&url, &a, &items)?,
        Location::Dir(dir) => {
            let key_file = a
                .key
                .as_ref()
                .ok_or_else(|| glassbox::Error::invalid("--key", "appending to a directory needs the log's key"))?;
            let key = crate::context::private_key(key_file).context("reading --key")?;
            if std::fs::symlink_metadata(dir.join("checkpoint")).is_err() {
                anyhow::bail!(glassbox::Error::invalid(
                    dir.display(),
                    format!(
                        "is not a log ({}): create one with `glassbox log init {} --origin ORIGIN --key LOG_KEY`",
                        if dir.exists() { "it has no checkpoint" } else { "no such directory" },
                        glassbox::text::escape(&dir.display().to_string())
                    )
                ));
            }
            store::append(&LogDir::new(dir), &key, &items)?
        }
        bucket @ Location::Bucket { .. } => anyhow::bail!(glassbox::Error::invalid(
            bucket,
            "only the log service appends to a bucket: submit to its URL"
        )),
    };
    let report = AppendReport::new(&appended, &items, &sources, rewritten);
    if a.json {
        print_json(&report)?;
    } else {
        for (what, list) in [("added  ", &report.added), ("present", &report.already_logged)] {
            for e in list {
                println!("{what}  {:>8}  {}  {}", e.index, e.envelope.prefixed(), escape(&e.source));
            }
        }
        for r in &report.rewritten {
            println!(
                "canonical form {} logged for the submitted line {} ({})",
                r.stored,
                r.submitted,
                escape(&r.source)
            );
        }
        println!("checkpoint: size {}, root {}", appended.size, appended.root);
    }
    Ok(())
}

/// Submits every item to the log service at `url`, keeping the receipts; reports them as an
/// append would (an envelope is "added" whatever its index: the service does not say whether
/// it was new).
fn submit_all(url: &str, a: &AppendArgs, items: &[Loggable]) -> Result<store::Appended> {
    use glassbox::transparency::submit::{submit, SubmitOptions};
    let log_key = a.vkey.as_deref().map(|v| vkey(v, "--vkey")).transpose()?;
    let witnesses = witnesses(&a.witness)?;
    let options = SubmitOptions {
        log_key: log_key.as_ref(),
        witnesses: &witnesses,
        retries: 30,
        timeout: std::time::Duration::from_secs(120),
    };
    // Submissions wait for a witnessed checkpoint: several at once share one batch.
    let results: Vec<glassbox::Result<glassbox::transparency::submit::Submitted>> = std::thread::scope(|scope| {
        let chunks: Vec<&[Loggable]> = items.chunks(items.len().div_ceil(SUBMITTERS).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(|| chunk.iter().map(|item| submit(url, item, &options)).collect::<Vec<_>>()))
            .collect();
        // A submitter thread that panicked lost its answers: say so rather than report fewer.
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(glassbox::Error::invalid(url, "a submitting thread failed; its envelopes are unreported"))]
                })
            })
            .collect()
    });
    let mut added = Vec::new();
    let mut last: Option<glassbox::transparency::submit::Submitted> = None;
    for done in results {
        let done = done?;
        if let Some(dir) = &a.receipts {
            std::fs::create_dir_all(dir).map_err(|e| glassbox::Error::io(dir, e)).context("creating --receipts")?;
            let name = format!("{}.tlog-proof", done.envelope.hex());
            glassbox::fs::write_atomic(&dir.join(name), &done.receipt.to_bytes(), 0o644)?;
        }
        added.push((done.index, done.envelope));
        if last.as_ref().is_none_or(|l| l.size < done.size) {
            last = Some(done);
        }
    }
    let (size, root) = match &last {
        Some(done) => {
            let note = glassbox::tlog::note::Note::parse(&done.receipt.checkpoint)?;
            let checkpoint = glassbox::tlog::checkpoint::Checkpoint::parse(&note.text)?;
            (checkpoint.size, Sha256Digest(checkpoint.root))
        }
        None => (0, Sha256Digest([0; 32])),
    };
    Ok(store::Appended { added, already_logged: Vec::new(), size, root })
}

/// Envelopes submitted at once by `log append URL`.
const SUBMITTERS: usize = 16;

/// The largest file `log append` reads (many envelopes, one per line).
const MAX_APPEND_FILE: u64 = 1 << 30;

/// `log append --json`: each envelope's entry and the `file:line` it came from, the new
/// checkpoint, and the submissions stored in canonical form.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AppendReport {
    added: Vec<AppendedEntry>,
    already_logged: Vec<AppendedEntry>,
    size: u64,
    #[serde(serialize_with = "glassbox::digest::report::prefixed")]
    root: Sha256Digest,
    rewritten: Vec<Rewritten>,
}

/// One envelope of an append: its entry, its stored line's digest and where it was read.
#[derive(serde::Serialize)]
struct AppendedEntry {
    index: u64,
    #[serde(serialize_with = "glassbox::digest::report::prefixed")]
    envelope: Sha256Digest,
    /// `file:line` of the submission (the first, when the same envelope was given twice).
    source: String,
}

impl AppendReport {
    fn new(appended: &store::Appended, items: &[Loggable], sources: &[String], rewritten: Vec<Rewritten>) -> Self {
        let source_of = |digest: &Sha256Digest| {
            let at = items.iter().position(|i| i.digest == *digest);
            at.and_then(|at| sources.get(at)).cloned().unwrap_or_default()
        };
        let entries = |list: &[(u64, Sha256Digest)]| {
            list.iter().map(|(index, d)| AppendedEntry { index: *index, envelope: *d, source: source_of(d) }).collect()
        };
        AppendReport {
            added: entries(&appended.added),
            already_logged: entries(&appended.already_logged),
            size: appended.size,
            root: appended.root,
            rewritten,
        }
    }
}

/// A submitted envelope line and the canonical compact line the log stores for it.
#[derive(serde::Serialize)]
struct Rewritten {
    submitted: String,
    stored: String,
    /// `file:line` of the submitted line.
    source: String,
}
