//! Submitting envelopes to a log service (`POST <URL>/add`) instead of appending with the log
//! key: the client keeps the service's `c2sp.org/tlog-proof@v1` receipt, and believes it only
//! after checking that it proves this envelope's entry (and, given the log's key, that its
//! checkpoint is signed by the log and the witnesses the caller requires).

use std::time::Duration;

use super::audit::{authenticate_checkpoint, WitnessPolicy};
use super::entry::Loggable;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::remote::http;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::proof::TlogProof;

/// The largest receipt read: 64 hashes and a checkpoint with cosignatures.
const MAX_RECEIPT_BYTES: u64 = 1 << 20;

/// How a submission is made.
pub struct SubmitOptions<'a> {
    /// The log's verifier key: with it, the receipt's checkpoint must be signed by the log.
    pub log_key: Option<&'a NoteVerifier>,
    pub witnesses: &'a WitnessPolicy,
    /// How many times a 503 (the pool is full, or no witnessed checkpoint yet) or a lost
    /// answer is retried.
    pub retries: u32,
    pub timeout: Duration,
}

/// A logged envelope and its receipt.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub envelope: Sha256Digest,
    pub index: u64,
    /// The size of the receipt's checkpoint.
    pub size: u64,
    pub receipt: TlogProof,
}

/// What a conditional submission did.
#[derive(Clone, Debug)]
pub enum SubmittedAt {
    Logged(Submitted),
    /// The log had grown to `size` entries: nothing was logged.
    Moved {
        size: u64,
    },
}

/// Submits `item` to the log service at `base` (its base URL) and checks the receipt.
pub fn submit(base: &str, item: &Loggable, options: &SubmitOptions<'_>) -> Result<Submitted> {
    match submit_at(base, item, None, options)? {
        SubmittedAt::Logged(done) => Ok(done),
        SubmittedAt::Moved { size } => Err(Error::invalid(
            crate::remote::redact(base, &[]),
            format!("refused an unconditional submission as moved (size {size})"),
        )),
    }
}

/// [`submit`], but with `expect_size` the service logs the envelope only as entry
/// `expect_size`: a compare-and-swap on the log over HTTP (the directory log's `append_at`).
pub fn submit_at(
    base: &str,
    item: &Loggable,
    expect_size: Option<u64>,
    options: &SubmitOptions<'_>,
) -> Result<SubmittedAt> {
    let url = format!("{}/add", base.trim_end_matches('/'));
    // How errors name the service: without a query, where a token may travel.
    let shown = crate::remote::redact(&url, &[]);
    let mut attempt = 0;
    let headers: Vec<(&str, String)> =
        expect_size.map(|n| ("glassbox-expect-size", n.to_string())).into_iter().collect();
    let response = loop {
        let sent = http::post_with_headers_blocking(
            &url,
            "application/json",
            &headers,
            item.envelope_line.as_bytes().to_vec(),
            MAX_RECEIPT_BYTES,
            options.timeout,
        );
        // A submission is idempotent (a logged envelope gets its entry's receipt, also as the
        // expected entry of a conditional one), so one whose answer was lost on the way (a
        // connection the server closed, a reset) is simply sent again.
        let response = match sent {
            Ok(response) => response,
            Err(_) if attempt < options.retries => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(20))));
                continue;
            }
            Err(e) => return Err(e),
        };
        if response.status == 503 && attempt < options.retries {
            attempt += 1;
            let wait = response.retry_after.unwrap_or(1).clamp(1, 30);
            std::thread::sleep(Duration::from_secs(wait));
            continue;
        }
        break response;
    };
    if response.status == 409 && expect_size.is_some() {
        let size = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v["error"]["size"].as_u64())
            .ok_or_else(|| {
                Error::invalid(&shown, format!("answered 409 without the log's size: {}", response.body_summary()))
            })?;
        return Ok(SubmittedAt::Moved { size });
    }
    if response.status != 200 {
        let kind = if (400..500).contains(&response.status) { "refused" } else { "failed" };
        let reason = format!(
            "{kind} the envelope {} ({}): {}",
            item.digest.prefixed(),
            response.status,
            response.body_summary()
        );
        return Err(if kind == "refused" { Error::rejected(&shown, reason) } else { Error::invalid(&shown, reason) });
    }
    let receipt = TlogProof::parse(&response.body)
        .map_err(|e| Error::invalid(&shown, format!("answered with something that is not a tlog-proof: {e}")))?;
    let checkpoint = match options.log_key {
        Some(key) => authenticate_checkpoint(&receipt.checkpoint, &shown, key, options.witnesses)?.1,
        None => {
            let note = Note::parse(&receipt.checkpoint).map_err(|e| Error::invalid(&shown, e.to_string()))?;
            Checkpoint::parse(&note.text).map_err(|e| Error::invalid(&shown, e.to_string()))?
        }
    };
    let leaf = merkle::leaf_hash(&item.entry_bytes);
    if receipt.index >= checkpoint.size
        || !merkle::verify_inclusion(&leaf, receipt.index, checkpoint.size, &receipt.hashes, &checkpoint.root)
    {
        return Err(Error::rejected(
            &shown,
            format!("answered with a receipt that does not prove envelope {}", item.digest.prefixed()),
        ));
    }
    if expect_size.is_some_and(|n| n != receipt.index) {
        return Err(Error::rejected(
            &shown,
            format!("logged the envelope as entry {}, not the expected {}", receipt.index, expect_size.unwrap_or(0)),
        ));
    }
    Ok(SubmittedAt::Logged(Submitted { envelope: item.digest, index: receipt.index, size: checkpoint.size, receipt }))
}
