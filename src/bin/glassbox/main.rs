//! The glassbox command line: parses arguments, calls the library, renders results and maps
//! errors to exit codes (0 yes, 1 a definite no, 2 could not answer).

mod build;
mod check;
mod context;
mod diff;
mod hash;
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

/// What every `--help` ends with.
const EXIT_CODES: &str = "Exit codes: 0 success (reproduced, accepted, verified, done); 1 a definite no (not \
reproduced, rejected, refused: an input is wrong or does not hold); 2 could not answer (bad input, a missing \
file, a tool or the network failed). Errors name the file or value at fault.";

/// The command line, with the exit codes under every command's help.
fn command() -> clap::Command {
    fn with_exit_codes(cmd: clap::Command) -> clap::Command {
        cmd.after_help(EXIT_CODES).mut_subcommands(with_exit_codes)
    }
    with_exit_codes(<Cli as clap::CommandFactory>::command())
}

fn main() -> ExitCode {
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&command().get_matches()) {
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
            eprintln!("glassbox: error: {}", glassbox::text::escape(&format!("{err:#}")));
            let code = err.downcast_ref::<glassbox::Error>().map_or(2, glassbox::Error::exit_code);
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, as `glassbox a b` paths, with the command itself.
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            out.push((p.clone(), sub.clone()));
            walk(sub, p, out);
        }
    }

    #[test]
    fn every_help_ends_with_the_exit_codes() {
        let mut all = vec![("glassbox".to_string(), super::command())];
        walk(&super::command(), "glassbox".into(), &mut all);
        for (path, mut cmd) in all {
            let help = cmd.render_long_help().to_string();
            assert!(help.trim_end().ends_with("Errors name the file or value at fault."), "{path}:\n{help}");
        }
    }

    #[test]
    fn every_option_and_argument_says_what_it_is() {
        let mut all = Vec::new();
        walk(&super::Cli::command(), "glassbox".into(), &mut all);
        let missing: Vec<String> = all
            .iter()
            .flat_map(|(path, cmd)| {
                cmd.get_arguments()
                    .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
                    .filter(|a| a.get_help().is_none() && a.get_long_help().is_none())
                    .map(move |a| {
                        format!("{path} {}", a.get_long().map_or(a.get_id().to_string(), |l| format!("--{l}")))
                    })
            })
            .collect();
        assert!(missing.is_empty(), "{} without help text:\n{}", missing.len(), missing.join("\n"));
    }
}
