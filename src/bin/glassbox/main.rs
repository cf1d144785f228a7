//! The glassbox command line: parses arguments, calls the library, renders results and maps
//! errors to exit codes (0 yes, 1 a definite no, 2 could not answer).

mod build;
mod check;
mod context;
mod diff;
mod hash;
mod help;
mod key;
mod log;
mod log_serve;
mod rebuild;
mod rebuilder;
mod render;
mod review;
mod sample;
mod site;
mod verify;
mod witness;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "glassbox", version, about = "Reproducible builds, provenance and review for Cargo workspaces")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate Ed25519 keys and show key ids.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Hash a source tree: print its source digest and write its manifest.
    Hash(hash::HashArgs),
    /// Build a Cargo workspace deterministically and sign SLSA provenance.
    Build(Box<build::BuildArgs>),
    /// Build twice under varied conditions; say whether the artifacts match, and why not.
    Check(Box<check::CheckArgs>),
    /// The transparency log of attestations (C2SP tlog-tiles, signed checkpoints, witnesses).
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Rebuild a vendor's provenance from its source, offline, compare, and sign a verdict.
    Rebuild(Box<rebuild::RebuildArgs>),
    /// Rebuild every release in the log on a pool of workers fed by a NATS JetStream queue.
    #[command(subcommand)]
    Rebuilder(rebuilder::RebuilderCommand),
    /// Accept or reject an artifact against a trust policy, with the evidence.
    Verify(verify::VerifyArgs),
    /// Explain where two files (ELF binaries, tar.gz bundles, anything) differ.
    Diff(diff::DiffArgs),
    /// Source reviews: what changed between two sources; sign a review of an exact source digest.
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Sample custody: intake, requests, approvals, the release gateway, audit and lookup.
    #[command(subcommand)]
    Sample(sample::SampleCommand),
    /// Write the static transparency site that verifies itself in the reader's browser.
    Site(site::SiteArgs),
    /// A witness as a network service (C2SP tlog-witness): cosign logs' checkpoints as they grow.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

fn main() -> ExitCode {
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Key(cmd) => key::run(cmd),
        Command::Hash(args) => hash::run(args),
        Command::Build(args) => build::run(*args),
        Command::Check(args) => check::run(*args),
        Command::Log(cmd) => log::run(cmd),
        Command::Rebuild(args) => rebuild::run(*args),
        Command::Rebuilder(cmd) => rebuilder::run(cmd),
        Command::Diff(args) => diff::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Review(cmd) => review::run(cmd),
        Command::Sample(cmd) => sample::run(cmd),
        Command::Site(args) => site::run(args),
        Command::Witness(cmd) => witness::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Error messages quote names from hostile inputs: escape them for the terminal.
            eprintln!("glassbox: error: {}", glassbox::text::escape_lines(&format!("{err:#}")));
            let code = err.downcast_ref::<glassbox::Error>().map_or(2, glassbox::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
