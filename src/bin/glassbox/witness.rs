//! `glassbox witness serve`: a witness as a network service (C2SP tlog-witness, `POST
//! /add-checkpoint`), cosigning each log's checkpoints only as they extend the last one it
//! cosigned. Prints its verifier key and `listening on http://IP:PORT`, then serves until
//! SIGTERM or SIGINT; one line per request on stderr.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use glassbox::service::witness::{self, Witness, WitnessConfig};
use glassbox::text::escape;
use glassbox::tlog::note::NoteVerifier;

use crate::context::now;

const EXIT_CODES: &str = "Exit codes: 0 stopped by SIGTERM or SIGINT after serving; 2 could not start or serve \
(a bad option, key, log key, state file or address).";

#[derive(Subcommand)]
pub enum WitnessCommand {
    /// Serve the C2SP tlog-witness protocol (POST /add-checkpoint) until SIGTERM or SIGINT.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// The witness's private key (a `glassbox key generate` key file, mode 0600).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The witness's name in its cosignature lines (default: `witness-<key id 8 hex>`, as for
    /// `log cosign`); no spaces or `+`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The SQLite state file: per log, the latest checkpoint this witness cosigned (created mode
    /// 0600 if missing; keep it: a witness that loses it would cosign a fork).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// The address to listen on, IP:PORT (port 0: a free port; the address is printed).
    #[arg(long, value_name = "IP:PORT")]
    listen: SocketAddr,
    /// A log to witness: its origin and its verifier key (the string `log init` prints, or a file
    /// holding it). Repeatable, also for several keys of one origin.
    #[arg(long = "log", value_name = "ORIGIN=VKEY", required = true)]
    logs: Vec<String>,
}

pub fn run(cmd: WitnessCommand) -> Result<ExitCode> {
    match cmd {
        WitnessCommand::Serve(args) => serve(args),
    }
}

fn serve(a: ServeArgs) -> Result<ExitCode> {
    let key = crate::context::private_key(&a.key).context("reading --key")?;
    let name = a.name.unwrap_or_else(|| format!("witness-{}", key.public().key_id().short()));
    let logs = a.logs.iter().map(|arg| log_arg(arg)).collect::<Result<Vec<_>>>()?;
    let witness = Witness::open(WitnessConfig {
        name,
        key,
        state: a.state,
        logs,
        clock: Arc::new(now),
        // Error lines may quote what a client sent: escaped for the terminal.
        report: Arc::new(|line| eprintln!("{} {}", now().rfc3339(), escape(line))),
    })?;
    println!("witness key {}", witness.verifier());
    witness::serve(witness, a.listen, &mut |addr| {
        println!("listening on http://{addr}");
        std::io::stdout().flush().map_err(|e| glassbox::Error::io("stdout", e))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `ORIGIN=VKEY`: the origin, and the log's verifier key as a string or a file.
fn log_arg(arg: &str) -> Result<(String, NoteVerifier)> {
    let Some((origin, vkey)) = arg.split_once('=') else {
        anyhow::bail!(glassbox::Error::invalid("--log", "is not ORIGIN=VKEY"));
    };
    Ok((origin.to_string(), crate::log::vkey(vkey, "--log")?))
}
