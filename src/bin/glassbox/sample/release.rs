//! `sample release`: the gateway, the only code path that lets a sample out. Exit 0 released
//! (or already delivered to this --out), 1 refused, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::custody::gateway::{self, GatewayRequest, Outcome};
use glassbox::policy::Policy;
use glassbox::text::escape;
use glassbox::transparency::LogDir;

use crate::context::{now, private_key};
use crate::render::print_json;

#[derive(Args)]
pub struct ReleaseArgs {
    /// The request envelope file.
    request: PathBuf,
    #[arg(long)]
    store: PathBuf,
    #[arg(long)]
    policy: PathBuf,
    #[arg(long)]
    log: PathBuf,
    /// The log's key, to append the release statement.
    #[arg(long)]
    log_key: PathBuf,
    /// The gateway's private key.
    #[arg(long)]
    key: PathBuf,
    /// Where `<request-hex>.age` is delivered.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run_release(args: ReleaseArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let log_key = private_key(&args.log_key)?;
    let gateway_key = private_key(&args.key)?;
    let log = LogDir::new(&args.log);
    let released = gateway::release(&GatewayRequest {
        request_file: &args.request,
        store: &args.store,
        policy: &policy,
        log: &log,
        log_key: &log_key,
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
