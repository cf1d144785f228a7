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

/// The help text every custody command's `--log` shares.
pub(crate) const LOG_HELP: &str = "The transparency log: a directory, a log service's base URL \
    (`https://…`, or `http://` on loopback; read from its static files) or a bucket (`s3://…`, \
    `gs://…`, `az://…`; read only, credentials from the AWS_*, GOOGLE_* or AZURE_* variables)";

/// A custody command's `--log`: where it is, and the log opened for reading.
pub(crate) struct LogArg {
    pub location: glassbox::remote::Location,
    pub log: glassbox::transparency::LogDir,
}

impl LogArg {
    pub fn open(arg: &str) -> Result<LogArg> {
        let location = glassbox::remote::Location::parse(arg)?;
        let log = glassbox::transparency::LogDir::open(&location, &crate::log_serve::store_settings())?;
        Ok(LogArg { location, log })
    }

    /// Who logs the center's statements: the log's key for a directory, the service for a URL.
    /// The service holds the log's key, so `--log-key` with a URL is refused; only the service
    /// writes to a bucket. `None`: no key for a directory (the statement is not logged here).
    pub fn writer<'a>(
        &'a self,
        key: Option<&'a glassbox::keys::PrivateKey>,
    ) -> Result<Option<glassbox::custody::log_writer::LogWriter<'a>>> {
        use glassbox::custody::log_writer::LogWriter;
        use glassbox::remote::Location;
        match (&self.location, key) {
            (Location::Dir(_), Some(key)) => Ok(Some(LogWriter::Dir { log: &self.log, key })),
            (Location::Dir(_), None) => Ok(None),
            (Location::Url(url), None) => Ok(Some(LogWriter::Service { url })),
            (Location::Url(url), Some(_)) => Err(glassbox::Error::invalid(
                "--log-key",
                format!("the log service {url} holds the log's key: submit to it without --log-key"),
            )
            .into()),
            (Location::Bucket { .. }, None) => Ok(None),
            (bucket @ Location::Bucket { .. }, Some(_)) => Err(glassbox::Error::invalid(
                bucket.to_string(),
                "only the log service writes to a bucket: give its URL as --log",
            )
            .into()),
        }
    }
}
