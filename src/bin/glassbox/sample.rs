//! `glassbox sample`: sample custody (docs/custody.md). Each step has its own file under
//! `sample/`: the policy statement, intake, receipts and erasure; requests and decisions; the release gateway; the
//! audit and the customer's lookup.

mod audit;
mod intake;
mod policy;
mod release;
mod request;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum SampleCommand {
    /// Sign the custody policy's statement (its text and keys) for the log.
    Policy(policy::PolicyArgs),
    /// Take files into the private store, sign and log one intake batch, write receipts.
    Intake(intake::IntakeArgs),
    /// Write the receipts of batches that are now in the log.
    Receipts(intake::ReceiptsArgs),
    /// Erase a sample and its salt from the store (the log keeps a commitment nobody can open).
    Forget(intake::ForgetArgs),
    /// Sign (and log) a request to take one sample out.
    Request(Box<request::RequestArgs>),
    /// Sign (and log) an approval, denial or invalidation of a request.
    Decide(request::DecideArgs),
    /// The gateway: release a sample, encrypted to the request's recipient, if every rule holds.
    Release(Box<release::ReleaseArgs>),
    /// Replay every custody entry of the log: violations and statistics.
    Audit(audit::AuditArgs),
    /// The customer's question, from a receipt and the public log: did my file leave?
    Lookup(audit::LookupArgs),
}

pub fn run(cmd: SampleCommand) -> Result<ExitCode> {
    match cmd {
        SampleCommand::Policy(args) => policy::run_policy(args),
        SampleCommand::Intake(args) => intake::run_intake(args),
        SampleCommand::Receipts(args) => intake::run_receipts(args),
        SampleCommand::Forget(args) => intake::run_forget(args),
        SampleCommand::Request(args) => request::run_request(*args),
        SampleCommand::Decide(args) => request::run_decide(args),
        SampleCommand::Release(args) => release::run_release(*args),
        SampleCommand::Audit(args) => audit::run_audit(args),
        SampleCommand::Lookup(args) => audit::run_lookup(args),
    }
}
