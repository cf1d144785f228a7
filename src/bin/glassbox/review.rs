//! `glassbox review diff OLD NEW`: which files changed between two sources (exit 0 none, 1 some,
//! 2 could not compare); `glassbox review sign`: sign a review of one exact source digest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use glassbox::attest::review::Scope;
use glassbox::review::{self, Destination, LoadOptions, Patch, ScopeRequest, SignRequest, SignedReview, SourceDiff};

use glassbox::text::escape;

use crate::context::{now, GitTreeArgs, TerminalProgress};
use crate::render::print_json;

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// List the files added, removed and changed between two sources, with --patch their diffs.
    Diff(DiffArgs),
    /// Sign a review (https://glassbox.dev/review/v1) of one exact source digest.
    Sign(Box<SignArgs>),
}

/// Each source is a directory, a source bundle (`*-src.tar.gz`), a `sources.sha256` manifest or
/// a provenance file (`*.intoto.jsonl`, its embedded manifest; the signature is not checked).
#[derive(Args)]
pub struct DiffArgs {
    /// The earlier source.
    old: PathBuf,
    /// The later source.
    new: PathBuf,
    /// Show unified diffs of changed text files (3 lines of context) and a line per binary file.
    #[arg(long)]
    patch: bool,
    #[command(flatten)]
    tree: GitTreeArgs,
    /// Print the result as JSON (see docs/formats.md, "Source reviews").
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("destination").required(true).args(["attestations", "out"])))]
pub struct SignArgs {
    /// The source reviewed: a directory, a source bundle, a sources.sha256 manifest or a provenance file.
    #[arg(long)]
    source: PathBuf,
    /// safe-to-run or safe-to-deploy (implies safe-to-run); another name only with
    /// --custom-criteria.
    #[arg(long)]
    criteria: String,
    /// --criteria names a custom criterion (letters, digits and '-') that the policy asks for:
    /// it satisfies only itself. Without this flag an unknown name is refused as a typo.
    #[arg(long)]
    custom_criteria: bool,
    /// The reviewer's private key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// Review only the changes since this source: a digest (sha256:<hex>) or an earlier review file.
    #[arg(long, value_name = "DIGEST|REVIEW_FILE", conflicts_with = "paths")]
    delta_from: Option<String>,
    /// Review only the files matching these patterns (repeatable; never enough for a policy).
    #[arg(long = "paths", value_name = "GLOB")]
    paths: Vec<String>,
    /// Free-text notes.
    #[arg(long)]
    notes: Option<String>,
    /// A finding (repeatable); SEVERITY is info, low, medium, high or critical; LINE 0 is the whole file.
    #[arg(long = "finding", value_name = "PATH:LINE:SEVERITY:TEXT")]
    findings: Vec<String>,
    /// The reviewer's name, recorded beside the key id.
    #[arg(long)]
    reviewer_name: Option<String>,
    /// The component's name (default: from the bundle, provenance or workspace).
    #[arg(long, requires = "version")]
    component: Option<String>,
    /// The component's version (with --component).
    #[arg(long, requires = "component")]
    version: Option<String>,
    /// Write <DIR>/<component>/<version>/review.<keyid 8 hex>.intoto.jsonl.
    #[arg(long, value_name = "DIR")]
    attestations: Option<PathBuf>,
    /// Write just this review's envelope to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    tree: GitTreeArgs,
    #[command(flatten)]
    publish: crate::log_serve::PublishArgs,
    /// Print what was signed as JSON, with the statement.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ReviewCommand) -> Result<ExitCode> {
    match cmd {
        ReviewCommand::Diff(args) => run_diff(args),
        ReviewCommand::Sign(args) => run_sign(*args),
    }
}

fn load_options(tree: &GitTreeArgs) -> LoadOptions {
    LoadOptions { tree: tree.tree_options(), scratch: std::env::temp_dir() }
}

fn run_diff(args: DiffArgs) -> Result<ExitCode> {
    let options = load_options(&args.tree);
    let progress = TerminalProgress::new();
    let old = review::load(&args.old, &options, &progress)?;
    let new = review::load(&args.new, &options, &progress)?;
    let result = review::diff(&old, &new, args.patch)?;
    drop(progress);
    if args.json {
        print_json(&result)?;
    } else {
        print!("{}", render_diff(&result));
    }
    Ok(if result.identical { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn render_diff(d: &SourceDiff) -> String {
    let mut out = String::new();
    for (label, side) in [("old", &d.old), ("new", &d.new)] {
        let git = side.git_commit.as_deref().map_or(String::new(), |c| format!(", git {c}"));
        out.push_str(&format!(
            "{label}: {} ({}, {} files{git})\n     {}\n",
            escape(&side.path),
            side.kind.label(),
            side.files,
            side.source_digest
        ));
        for note in &side.notes {
            out.push_str(&format!("note: {label}: {}\n", escape(note)));
        }
    }
    if d.identical {
        out.push_str("identical: the same source digest, no file differs\n");
        return out;
    }
    out.push('\n');
    for f in &d.files {
        let mark = match f.status {
            review::Status::Added => "A",
            review::Status::Removed => "D",
            review::Status::Changed => "M",
        };
        out.push_str(&format!("{mark}  {}\n", escape(&f.path)));
    }
    let (added, removed, changed) = d.counts();
    out.push_str(&format!("\n{added} added, {removed} removed, {changed} changed, {} unchanged\n", d.unchanged));
    for f in d.files.iter().filter(|f| f.patch.is_some()) {
        out.push('\n');
        match &f.patch {
            Some(Patch::Text { unified }) if unified.is_empty() => {
                out.push_str(&format!("{}: empty file\n", escape(&f.path)));
            }
            Some(Patch::Text { unified }) => out.push_str(&patch_for_terminal(unified)),
            Some(Patch::Binary { summary }) => out.push_str(&format!("{}\n", escape(summary))),
            Some(Patch::Unavailable { reason }) => {
                out.push_str(&format!("{}: {}\n", escape(&f.path), escape(reason)));
            }
            None => {}
        }
    }
    out
}

/// A unified diff with every control character of its lines escaped except tabs: the lines are
/// the reviewed files' contents, and an escape sequence in one must not hide another line.
fn patch_for_terminal(unified: &str) -> String {
    let mut out = String::with_capacity(unified.len());
    for line in unified.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let pieces: Vec<_> = body.split('\t').map(escape).collect();
        out.push_str(&pieces.join("\t"));
        out.push_str(newline);
    }
    out
}

fn run_sign(args: SignArgs) -> Result<ExitCode> {
    args.publish.check()?;
    let key = crate::context::private_key(&args.key).context("reading the reviewer's key (--key)")?;
    let options = load_options(&args.tree);
    let progress = TerminalProgress::new();
    let source = review::load(&args.source, &options, &progress)?;
    drop(progress);
    let scope = match (args.delta_from, args.paths.is_empty()) {
        (Some(from), _) => ScopeRequest::DeltaFrom(from),
        (None, false) => ScopeRequest::Paths(args.paths),
        (None, true) => ScopeRequest::Full,
    };
    let destination = match (args.attestations, args.out) {
        (Some(dir), _) => Destination::Attestations(dir),
        // clap requires exactly one of the two.
        (None, out) => Destination::File(out.unwrap_or_default()),
    };
    let signed = review::sign(&SignRequest {
        source: &source,
        criteria: args.criteria,
        custom_criteria: args.custom_criteria,
        scope,
        findings: args.findings,
        notes: args.notes.unwrap_or_default(),
        reviewer_name: args.reviewer_name.unwrap_or_default(),
        component: args.component.zip(args.version),
        key: &key,
        time_reviewed: now(),
        destination,
        env: &options.tree.env,
    })?;
    let published = crate::log_serve::publish(&args.publish, &signed.file)?;
    if args.json {
        print_json(&signed)?;
    } else {
        print!("{}", render_signed(&signed));
        for p in &published {
            println!("logged as entry {}; receipt {}", p.index, p.receipt.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render_signed(s: &SignedReview) -> String {
    let p = &s.statement.predicate;
    let scope = match &p.scope {
        Scope::Full => "full: every file".to_string(),
        Scope::Delta { from } => format!("delta: the changes since sha256:{from}"),
        Scope::Paths { paths } => format!("paths: {} (not a review of the whole source)", escape(&paths.join(", "))),
    };
    let findings = if p.findings.is_empty() {
        "none".to_string()
    } else {
        let list: Vec<String> =
            p.findings.iter().map(|f| format!("{}:{} {}", escape(&f.path), f.line, f.severity)).collect();
        format!("{} ({})", p.findings.len(), list.join(", "))
    };
    let name = if p.reviewer.name.is_empty() { String::new() } else { format!(" ({})", escape(&p.reviewer.name)) };
    let mut out = format!(
        "signed a review of {}-{} source {}\n  criteria  {}\n  scope     {scope}\n  findings  {findings}\n  \
         reviewer  {}{name}\n  time      {}\n",
        escape(&p.component.name),
        escape(&p.component.version),
        s.source_digest,
        escape(&p.criteria),
        s.keyid,
        p.time_reviewed
    );
    for note in &s.notes {
        out.push_str(&format!("note: {}\n", escape(note)));
    }
    let mut done = Vec::new();
    if s.replaced {
        done.push("replaced this key's earlier review of this source".to_string());
    }
    if s.kept > 0 {
        done.push(format!("kept {} other review(s)", s.kept));
    }
    let done = if done.is_empty() { String::new() } else { format!(" ({})", done.join("; ")) };
    out.push_str(&format!("wrote {}{done}\n", escape(&s.file.display().to_string())));
    out
}
