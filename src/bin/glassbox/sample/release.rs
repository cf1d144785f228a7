//! `sample release`: the gateway, the only code path that lets a sample out. Exit 0 released
//! (or already delivered to this --out), 1 refused, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::custody::gateway::{self, GatewayRequest, Outcome};
use glassbox::policy::Policy;
use glassbox::text::escape;

use super::LogArg;
use crate::context::{now, private_key};
use crate::render::print_json;

#[derive(Args)]
pub struct ReleaseArgs {
    /// The request envelope file.
    request: PathBuf,
    /// The center's private sample store.
    #[arg(long)]
    store: PathBuf,
    /// The custody policy in force (its `[log]` names the log key and the witnesses).
    #[arg(long)]
    policy: PathBuf,
    /// The transparency log: a directory (appended to with --log-key), or a log service's base
    /// URL (`https://…`, or `http://` on loopback), to which the release is submitted without
    /// any key; the receipt must carry the policy's witness cosignatures.
    #[arg(long)]
    log: String,
    /// The log's key, for a log directory, to append the release statement. Refused with a log
    /// service's URL (the service holds the key).
    #[arg(long)]
    log_key: Option<PathBuf>,
    /// The gateway's private key.
    #[arg(long)]
    key: PathBuf,
    /// Where `<request-hex>.age` is delivered.
    #[arg(long)]
    out: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run_release(args: ReleaseArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let log_key = args.log_key.as_deref().map(private_key).transpose()?;
    let gateway_key = private_key(&args.key)?;
    let log = LogArg::open(&args.log)?;
    let writer = log.writer(log_key.as_ref())?.ok_or_else(|| {
        glassbox::Error::invalid("--log-key", "the gateway logs its release: give the log's key with a log directory")
    })?;
    let released = gateway::release(&GatewayRequest {
        request_file: &args.request,
        store: &args.store,
        policy: &policy,
        log: &log.log,
        writer,
        gateway_key: &gateway_key,
        out: &args.out,
        now: now(),
    })?;
    if args.json {
        print_json(&released)?;
    } else {
        let what = match released.outcome {
            Outcome::Released => "released",
            Outcome::Completed => "completed an interrupted release:",
            Outcome::AlreadyDelivered => "already delivered:",
        };
        println!("{what} {}", escape(&released.output.display().to_string()));
        println!("request:     {}", released.request.prefixed());
        println!("release:     log entry {} ({})", released.release_index, released.release_envelope.prefixed());
        println!("ciphertext:  {}", released.ciphertext.prefixed());
        println!("approvals:   {}", released.approvals.len());
        println!("checkpoint:  size {} root {}", released.checkpoint.size, released.checkpoint.root);
        if released.break_glass {
            println!("break-glass: the outside groups' approvals are due post hoc");
        }
    }
    Ok(ExitCode::SUCCESS)
}
