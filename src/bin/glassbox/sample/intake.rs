//! `sample intake`, `sample receipts`, `sample forget`: the center operator's commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::custody::commitment::parse_commitment;
use glassbox::custody::intake::{self, IntakeOptions};
use glassbox::custody::receipt::{logged_receipts, RECEIPTS_DIR};
use glassbox::custody::store::SampleStore;
use glassbox::text::escape;
use serde_json::json;

use super::{LogArg, LOG_HELP};
use crate::context::{now, private_key};
use crate::render::print_json;

#[derive(Args)]
pub struct IntakeArgs {
    /// Files to take in.
    files: Vec<PathBuf>,
    /// The center's private sample store (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// The center key that signs the intake batch.
    #[arg(long)]
    key: PathBuf,
    /// The transparency log: a directory, or a log service's base URL (`https://…`, or
    /// `http://` on loopback), to which the batch is submitted without any key (give --vkey).
    #[arg(long)]
    log: String,
    /// The log's key, for a log directory: append the batch now and write the receipts. Refused
    /// with a log service's URL (the service holds the key).
    #[arg(long)]
    log_key: Option<PathBuf>,
    /// The log's verifier key (file or string): required with a log service's URL (its receipt
    /// is checked with it and the customers' receipts name it). Otherwise, without --log-key,
    /// the log's checkpoint must verify with it.
    #[arg(long)]
    vkey: Option<String>,
    /// A file of paths to take in, one per line (blank lines skipped).
    #[arg(long)]
    from_list: Option<PathBuf>,
    /// Where receipts go (default `<store>/receipts/`).
    #[arg(long)]
    receipts: Option<PathBuf>,
    /// Where the intake envelope goes (default `<store>/batches/<batchId>.intoto.jsonl`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ReceiptsArgs {
    /// The center's private sample store.
    #[arg(long)]
    store: PathBuf,
    #[arg(long, help = LOG_HELP)]
    log: String,
    /// The log's verifier key (file or string).
    #[arg(long)]
    vkey: String,
    /// Where receipts go (default `<store>/receipts/`).
    #[arg(long)]
    receipts: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ForgetArgs {
    /// The sample's commitment: 64 hex digits, bare (a receipt's name) or `sha256:<hex>` (as
    /// `--json` reports write it).
    commitment: String,
    /// The center's private sample store.
    #[arg(long)]
    store: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run_intake(args: IntakeArgs) -> Result<ExitCode> {
    let inputs = intake::inputs(&args.files, args.from_list.as_deref())?;
    let key = private_key(&args.key)?;
    let log_key = args.log_key.as_deref().map(private_key).transpose()?;
    let vkey = args.vkey.as_deref().map(|v| crate::log::vkey(v, "--vkey")).transpose()?;
    let log = LogArg::open(&args.log)?;
    let opts = IntakeOptions {
        key: &key,
        log: &log.log,
        writer: log.writer(log_key.as_ref())?,
        vkey: vkey.as_ref(),
        out: args.out.clone(),
        receipts: args.receipts.clone(),
        now: now(),
    };
    let done = intake::intake(&args.store, &inputs, &opts)?;
    if args.json {
        print_json(&json!({
            "batchId": done.batch_id,
            "count": done.samples.len(),
            "root": done.root.prefixed(),
            "envelope": done.envelope,
            "logIndex": done.log_index,
            "receipts": done.receipts,
            "samples": done.samples,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("batch {}: {} samples, root {}", done.batch_id, done.samples.len(), done.root);
    println!("envelope: {}", escape(&done.envelope.display().to_string()));
    match (done.log_index, &done.receipts) {
        (Some(index), Some(dir)) => {
            println!("logged at index {index}; receipts in {}", escape(&dir.display().to_string()));
        }
        _ => println!(
            "not logged yet: `glassbox log append` the envelope, then `glassbox sample receipts` writes the receipts"
        ),
    }
    for s in &done.samples {
        println!("{} {}", s.commitment, escape(&s.file.display().to_string()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_receipts(args: ReceiptsArgs) -> Result<ExitCode> {
    let vkey = crate::log::vkey(&args.vkey, "--vkey")?;
    let store = SampleStore::open(&args.store, false)?;
    let dir = args.receipts.clone().unwrap_or_else(|| store.root.join(RECEIPTS_DIR));
    let batches = logged_receipts(&store, &LogArg::open(&args.log)?.log, &vkey, &dir)?;
    if args.json {
        print_json(&json!({ "receipts": dir, "batches": batches }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if batches.is_empty() {
        println!("every batch's receipts were already written");
    }
    for b in &batches {
        match b.log_index {
            Some(i) => println!(
                "batch {}: in the log at index {i}; {} receipts in {}",
                b.batch_id,
                b.receipts,
                escape(&dir.display().to_string())
            ),
            None => println!("batch {}: not in the log yet", b.batch_id),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_forget(args: ForgetArgs) -> Result<ExitCode> {
    let commitment = parse_commitment(&args.commitment).ok_or_else(|| {
        glassbox::Error::invalid(&args.commitment, "is not a sample commitment (64 hex digits, bare or sha256:<hex>)")
    })?;
    let mut store = SampleStore::open(&args.store, false)?;
    let done = intake::forget(&mut store, &commitment)?;
    if args.json {
        print_json(&done)?;
        return Ok(left_code(&done));
    }
    println!("forgot {}: salt and sample hash erased from the index", done.commitment);
    if done.file_deleted {
        println!("stored bytes deleted");
    } else {
        println!("stored bytes kept: another commitment in the store names the same file");
    }
    for receipt in &done.receipts_deleted {
        println!("receipt deleted: {}", escape(&receipt.display().to_string()));
    }
    if done.receipts_left.is_empty() {
        println!("the log keeps the commitment, which nobody can open any more");
        println!("(receipts handed out or copied elsewhere still open it: glassbox cannot delete those)");
    } else {
        for left in &done.receipts_left {
            println!("receipt NOT deleted: {}: {}", escape(&left.path.display().to_string()), left.why);
        }
        println!("the commitment can still be opened with the salt in those files: delete them yourself");
    }
    Ok(left_code(&done))
}

/// Exit 1 when a receipt glassbox wrote is left: the erasure is not complete until it goes.
fn left_code(done: &intake::Forgotten) -> ExitCode {
    if done.receipts_left.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
