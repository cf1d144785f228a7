//! Where the center's own custody statements (intake batches, releases) are logged: a log
//! directory, appended to with the log's key under the directory's lock, or a log service
//! (`glassbox log serve`), submitted to over HTTP without any key (the service alone holds it).
//! Both give the same two operations: log an envelope, and log it only as entry N (a
//! compare-and-swap on the log's size, which the gateway needs so that it logs a release only
//! onto the log it judged). A service's receipt is believed only once it proves the envelope's
//! entry under a checkpoint signed by the log and, when asked, cosigned by the witnesses.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::tlog::note::NoteVerifier;
use crate::tlog::proof::TlogProof;
use crate::transparency::audit::WitnessPolicy;
use crate::transparency::store::{self as log_store, AppendAt};
use crate::transparency::submit::{submit_at, SubmitOptions, SubmittedAt};
use crate::transparency::{LogDir, Loggable};

/// How often a submission the service answers 503 (its pool is full, or no witnessed
/// checkpoint covers the entry yet) is retried.
const SERVICE_RETRIES: u32 = 30;
/// How long one submission may take, receipt included.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(120);

/// The log the center writes its statements to.
#[derive(Clone, Copy)]
pub enum LogWriter<'a> {
    /// A log directory and the log's private key.
    Dir { log: &'a LogDir, key: &'a PrivateKey },
    /// A log service's base URL (`https://…`, or `http://` on loopback).
    Service { url: &'a str },
}

/// What a service's receipt must show: a checkpoint signed by `vkey` (when given) with
/// `witnesses.threshold` cosignatures of `witnesses`. A directory append needs no receipt.
#[derive(Clone, Copy)]
pub struct ReceiptCheck<'a> {
    pub vkey: Option<&'a NoteVerifier>,
    pub witnesses: &'a WitnessPolicy,
}

/// An envelope in the log.
#[derive(Clone, Debug)]
pub struct LoggedEntry {
    pub index: u64,
    /// The size of the checkpoint that holds it.
    pub size: u64,
    /// The service's receipt (`c2sp.org/tlog-proof@v1`), checked; `None` for a directory.
    pub receipt: Option<TlogProof>,
}

/// What a conditional write did.
#[derive(Clone, Debug)]
pub enum Written {
    Logged(LoggedEntry),
    /// The log had grown to `size` entries: nothing was logged.
    Moved {
        size: u64,
    },
}

impl LogWriter<'_> {
    /// Names the log in messages.
    pub fn name(&self) -> String {
        match self {
            LogWriter::Dir { log, .. } => log.root.display().to_string(),
            LogWriter::Service { url } => url.to_string(),
        }
    }

    /// Logs `item` (or finds it logged already) and returns its entry.
    pub fn append(&self, item: &Loggable, check: &ReceiptCheck<'_>) -> Result<LoggedEntry> {
        match self.append_at(item, None, check)? {
            Written::Logged(entry) => Ok(entry),
            Written::Moved { size } => {
                Err(Error::invalid(self.name(), format!("refused an unconditional write as moved (size {size})")))
            }
        }
    }

    /// Logs `item`; with `expect_size`, only as entry `expect_size` (the log still has exactly
    /// that many entries), else nothing is logged and the log's size is returned.
    pub fn append_at(&self, item: &Loggable, expect_size: Option<u64>, check: &ReceiptCheck<'_>) -> Result<Written> {
        match *self {
            LogWriter::Dir { log, key } => {
                let items = std::slice::from_ref(item);
                let appended = match expect_size {
                    Some(size) => match log_store::append_at(log, key, items, size)? {
                        AppendAt::Appended(appended) => appended,
                        AppendAt::Moved { size } => return Ok(Written::Moved { size }),
                    },
                    None => log_store::append(log, key, items)?,
                };
                let index = appended
                    .added
                    .iter()
                    .chain(&appended.already_logged)
                    .find(|(_, d)| *d == item.digest)
                    .map(|(i, _)| *i)
                    .ok_or_else(|| {
                        Error::invalid(
                            log.root.display(),
                            format!("the append did not log the envelope {}", item.digest.prefixed()),
                        )
                    })?;
                Ok(Written::Logged(LoggedEntry { index, size: appended.size, receipt: None }))
            }
            LogWriter::Service { url } => {
                let options = SubmitOptions {
                    log_key: check.vkey,
                    witnesses: check.witnesses,
                    retries: SERVICE_RETRIES,
                    timeout: SERVICE_TIMEOUT,
                };
                Ok(match submit_at(url, item, expect_size, &options)? {
                    SubmittedAt::Logged(done) => {
                        Written::Logged(LoggedEntry { index: done.index, size: done.size, receipt: Some(done.receipt) })
                    }
                    SubmittedAt::Moved { size } => Written::Moved { size },
                })
            }
        }
    }
}
