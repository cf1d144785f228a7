//! `glassbox hash`: the source digest of a tree and its manifest.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::manifest::SourceManifest;
use glassbox::tree;
use serde::Serialize;

use crate::context::{GitTreeArgs, TerminalProgress};
use crate::render::print_json;

#[derive(Args)]
pub struct HashArgs {
    /// The source tree (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Write the manifest (sha256sum format) here; `-` for stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    tree: GitTreeArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HashReport {
    source_digest: String,
    files: usize,
    bytes: u64,
    git_commit: Option<String>,
    dirty: bool,
    manifest: Option<PathBuf>,
}

pub fn run(args: HashArgs) -> Result<ExitCode> {
    let options = args.tree.tree_options();
    let tree = tree::select(&args.dir, &options)?;
    let manifest = SourceManifest::hash(&tree, &TerminalProgress::new())?;
    let text = manifest.to_text();
    let to_stdout = args.out.as_deref().is_some_and(|p| p.as_os_str() == "-");
    match &args.out {
        Some(_) if to_stdout => std::io::stdout().lock().write_all(text.as_bytes())?,
        Some(path) => glassbox::fs::write_atomic(path, text.as_bytes(), 0o644)?,
        None => {}
    }
    let report = HashReport {
        source_digest: manifest.digest().prefixed(),
        files: manifest.entries().len(),
        bytes: tree.total_bytes(),
        git_commit: tree.git.as_ref().map(|g| g.commit.clone()),
        dirty: tree.git.as_ref().is_some_and(|g| g.dirty),
        manifest: args.out.filter(|_| !to_stdout),
    };
    if args.json && !to_stdout {
        print_json(&report)?;
    } else if to_stdout {
        eprintln!("{}", report.source_digest);
    } else {
        println!("{}", report.source_digest);
    }
    Ok(ExitCode::SUCCESS)
}
