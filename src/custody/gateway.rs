//! The release gateway: the only code path that lets a sample out of the center. Under an
//! exclusive lock on the store's `.gateway.lock` it brings the ledger up to the log's verified
//! checkpoint, finds the request in the log, applies every release rule ([`rules::judge`]) to
//! what the log holds, checks the stored sample against its commitment, encrypts it to the
//! request's age recipient, and logs a signed release statement, durably, **before** the
//! ciphertext is installed in the output directory: appended to a log directory with the log's
//! key, or submitted to a log service ([`LogWriter`]), whose receipt must show the release
//! under a checkpoint the policy's log key signed and its witnesses cosigned (the receipt is
//! kept in the store before the output is installed). Killed at any instant, it
//! leaves at most a pending ciphertext in the store (never an output without a logged
//! release); a rerun completes the delivery without a second release entry.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::attest::custody::{CheckpointRef, Release};
use crate::custody::commitment::commit;
use crate::custody::ledger::{self, samples_policy, Synced};
use crate::custody::log_writer::{LogWriter, ReceiptCheck, Written};
use crate::custody::policies;
use crate::custody::request::read_request_file;
use crate::custody::rules::{self, Case, RefusalKind};
use crate::custody::statements::{self, Logged};
use crate::custody::store::{is_forgotten, SampleStore};
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::keys::PrivateKey;
use crate::policy::Policy;
use crate::time::Timestamp;
use crate::transparency::audit::WitnessPolicy;
use crate::transparency::{LogDir, Loggable};

/// The gateway's lock file in the store.
pub const LOCK_FILE: &str = ".gateway.lock";

/// One release to attempt.
pub struct GatewayRequest<'a> {
    /// The request envelope file (one compact envelope line).
    pub request_file: &'a Path,
    pub store: &'a Path,
    pub policy: &'a Policy,
    /// The log, read (a directory, a bucket, or a log service's base URL).
    pub log: &'a LogDir,
    /// Where the release statement is logged: the same log, with its key or through its service.
    pub writer: LogWriter<'a>,
    /// A gateway key of the policy, to sign the release statement.
    pub gateway_key: &'a PrivateKey,
    /// Where `<request-hex>.age` is delivered.
    pub out: &'a Path,
    pub now: Timestamp,
}

/// What the gateway did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Released now: a new release entry, the ciphertext delivered.
    Released,
    /// A release logged by an interrupted run is delivered now (no new entry).
    Completed,
    /// The logged release's ciphertext is already in the output directory.
    AlreadyDelivered,
}

/// A release (new, completed or already delivered).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub outcome: Outcome,
    /// The request envelope's digest.
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub request: Sha256Digest,
    /// The sample's commitment.
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub commitment: Sha256Digest,
    /// The delivered file, `<out>/<request-hex>.age`.
    pub output: PathBuf,
    /// SHA-256 of the delivered age file.
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub ciphertext: Sha256Digest,
    /// The release statement's log index and envelope digest.
    pub release_index: u64,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub release_envelope: Sha256Digest,
    /// The approval envelopes counted (as the release statement lists them).
    pub approvals: Vec<String>,
    pub break_glass: bool,
    /// The checkpoint the rules were applied under (its root written `sha256:<hex>` in the
    /// report, bare hex in the signed release).
    #[serde(serialize_with = "checkpoint_report")]
    pub checkpoint: CheckpointRef,
    /// Entries the ledger read to catch up with the log.
    pub entries_read: u64,
}

/// `{size, root: "sha256:<hex>"}`: the report's spelling of the release's checkpoint.
fn checkpoint_report<S: serde::Serializer>(c: &CheckpointRef, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("CheckpointRef", 2)?;
    st.serialize_field("size", &c.size)?;
    st.serialize_field("root", &crate::digest::report::hex_text(&c.root))?;
    st.end()
}

/// Releases the sample `req.request_file` asks for, if every rule holds. Refusals are
/// `Error::rejected` (exit 1) naming the rule; bad input (a malformed request file, a key that
/// is not a gateway key of the policy) is `Error::invalid` (exit 2). Nothing is written to
/// `req.out` unless the release is in the log.
pub fn release(req: &GatewayRequest<'_>) -> Result<Released> {
    let samples = samples_policy(req.policy)?;
    let gateway_public = req.gateway_key.public();
    if !samples.gateways.iter().any(|k| k.key.as_bytes() == gateway_public.as_bytes()) {
        return Err(Error::invalid(
            "--key",
            format!(
                "key {} is not a gateway key of the policy {}",
                gateway_public.key_id().as_str(),
                req.policy.path.display()
            ),
        ));
    }
    require_witnesses(req.policy)?;
    let (_, from_file) = read_request_file(req.request_file, samples)?;
    let digest = from_file.envelope;
    let what = format!("request {}", digest.prefixed());
    let mut store = SampleStore::open(req.store, false)?;
    let _lock = lock(&store)?;
    let name = format!("{}.age", digest.hex());
    let output = req.out.join(&name);
    let pending = store.root.join("pending").join(&name);
    // The ciphertext, once made: a retry after the log moved re-judges but does not re-encrypt.
    let mut sealed: Option<(Vec<u8>, Sha256Digest)> = None;
    let witnesses = log_witnesses(req.policy);
    let check = ReceiptCheck { vkey: req.policy.log.as_ref().map(|l| &l.vkey), witnesses: &witnesses };
    for _ in 0..MAX_ATTEMPTS {
        let synced = ledger::sync(&mut store, req.log, req.policy)?;
        let checkpoint = CheckpointRef { size: synced.size, root: synced.root.hex() };
        let Some((request, repeat_of)) = ledger::request(&store, samples, &digest)? else {
            return Err(Error::rejected(
                &what,
                format!("refused (not-logged): the request is not in the log (checkpoint size {})", synced.size),
            ));
        };

        // Exactly once: a request the log shows released is never released again.
        if let Some(prior) = ledger::releases(&store, samples, &digest)?.into_iter().next() {
            return rerun(&store, &request, &prior, &output, &pending, &synced);
        }
        if request.predicate.policy != req.policy.digest.prefixed() {
            return Err(Error::rejected(
                &what,
                format!(
                    "refused (policy-changed): the request was made under policy {}, the policy in force is {}: request again",
                    request.predicate.policy,
                    req.policy.digest.prefixed()
                ),
            ));
        }
        // The policy must be published in the log, and still in force, at the request.
        let (_, policy_status) = policies::history_of(req.policy, &ledger::policy_lines(&store)?)?
            .judging(request.index, &request.predicate.policy);
        let intake = ledger::intake_at(&store, samples, request.predicate.intake.log_index)?;
        let decisions = ledger::decisions(&store, samples, &digest)?;
        let releases_in_period = match samples.quota {
            Some(q) => ledger::releases_in_period(&store, samples, q.period, req.now)?,
            None => 0,
        };
        let case = Case {
            request: &request,
            policy: policy_status,
            repeat_of,
            intake: intake.as_ref(),
            decisions: decisions.iter().collect(),
            released_before: None,
            releases_in_period,
        };
        let approved = rules::judge(samples, &case, req.now);
        // The first broken rule, in rule order, is the refusal.
        if let Some(r) = approved.refusals.first() {
            return Err(Error::rejected(&what, format!("refused ({}): {}", r.kind.name(), r.detail)));
        }

        let (ciphertext, ciphertext_digest) = match sealed.take() {
            Some(done) => done,
            None => seal(&store, &request, &what)?,
        };
        store.subdir("pending")?;
        crate::fs::write_atomic(&pending, &ciphertext, 0o600)?;

        let p = &request.predicate;
        let statement = Release {
            request: digest.prefixed(),
            approvals: approved.approvals.iter().map(Sha256Digest::prefixed).collect(),
            break_glass: p.break_glass,
            destination: p.destination.clone(),
            recipient: p.recipient.clone(),
            released_at: req.now.rfc3339(),
            checkpoint: checkpoint.clone(),
            ciphertext: ciphertext_digest.prefixed(),
        };
        let envelope = statements::sign_release(&statement, &digest, &request.subject, req.gateway_key);
        let loggable = Loggable::from_envelope(&envelope, "release statement")?;
        // Durable in the log before a byte leaves: a directory append returns once the
        // checkpoint is synced; a service answers once its checkpoint is published with the
        // witnesses' cosignatures, and the receipt is checked against the policy's log key and
        // witness threshold. Either logs only if the log is still the one judged (a
        // compare-and-swap on its size), so two gateways on copies of one store cannot both
        // release.
        let logged = match req.writer.append_at(&loggable, Some(synced.size), &check)? {
            Written::Logged(logged) => logged,
            Written::Moved { .. } => {
                // Judge again on what the log holds now; this ciphertext may never be logged.
                remove_if_present(&pending)?;
                sealed = Some((ciphertext, ciphertext_digest));
                continue;
            }
        };
        let release_index = logged.index;
        if let Some(receipt) = &logged.receipt {
            // The service's receipt, kept durably in the store before the output is installed.
            let receipts = store.subdir("releases")?;
            let file = receipts.join(format!("{}.tlog-proof", digest.hex()));
            crate::fs::write_atomic(&file, &receipt.to_bytes(), 0o644)?;
        }
        deliver(&store, &pending, &output, &ciphertext, &digest, &loggable.envelope_line)?;
        return Ok(Released {
            outcome: Outcome::Released,
            request: digest,
            commitment: request.subject,
            output,
            ciphertext: ciphertext_digest,
            release_index,
            release_envelope: loggable.digest,
            approvals: statement.approvals,
            break_glass: statement.break_glass,
            checkpoint,
            entries_read: synced.read,
        });
    }
    Err(Error::invalid(
        req.writer.name(),
        format!("grew during each of {MAX_ATTEMPTS} attempts to release {what}; nothing was released: try again"),
    ))
}

/// How often the gateway judges again when the log grew between its judgement and its append.
const MAX_ATTEMPTS: usize = 8;

/// The gateway judges only under a checkpoint that independent witnesses cosigned: without
/// them, whoever holds the log key could rewrite the history it judges (drop a denial) and the
/// gateway, not having seen the denial yet, would release (security review 2, R2-D8).
fn require_witnesses(policy: &Policy) -> Result<()> {
    match &policy.log {
        Some(log) if log.witness_threshold >= 1 && !log.witnesses.is_empty() => Ok(()),
        _ => Err(Error::invalid(
            policy.path.display(),
            "names no log witnesses ([log] witnesses and witness_threshold of at least 1): the gateway releases only under a checkpoint that independent witnesses cosigned",
        )),
    }
}

/// The witnesses the policy's `[log]` requires.
fn log_witnesses(policy: &Policy) -> WitnessPolicy {
    policy
        .log
        .as_ref()
        .map(|l| WitnessPolicy { witnesses: l.witnesses.clone(), threshold: l.witness_threshold })
        .unwrap_or_default()
}

/// The stored sample, encrypted to the request's age recipient; and the ciphertext's digest.
fn seal(
    store: &SampleStore,
    request: &Logged<crate::attest::custody::Request>,
    what: &str,
) -> Result<(Vec<u8>, Sha256Digest)> {
    let plaintext = read_sample(store, &request.subject)?;
    let recipient: age::x25519::Recipient = request.predicate.recipient.parse().map_err(|_| {
        Error::invalid(what, format!("recipient {:?} is not an age X25519 recipient", request.predicate.recipient))
    })?;
    let ciphertext = age::encrypt(&recipient, &plaintext)
        .map_err(|e| Error::invalid(what, format!("age encryption failed ({e})")))?;
    let digest = Sha256Digest::of(&ciphertext);
    Ok((ciphertext, digest))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// A request the log already shows released: complete an interrupted delivery from the
/// pending ciphertext, or confirm an earlier one, or refuse.
fn rerun(
    store: &SampleStore,
    request: &Logged<crate::attest::custody::Request>,
    prior: &Logged<Release>,
    output: &Path,
    pending: &Path,
    synced: &Synced,
) -> Result<Released> {
    let digest = request.envelope;
    let logged = statements::prefixed(&prior.predicate.ciphertext);
    let done = |outcome, ciphertext| Released {
        outcome,
        request: digest,
        commitment: request.subject,
        output: output.to_path_buf(),
        ciphertext,
        release_index: prior.index,
        release_envelope: prior.envelope,
        approvals: prior.predicate.approvals.clone(),
        break_glass: prior.predicate.break_glass,
        checkpoint: prior.predicate.checkpoint.clone(),
        entries_read: synced.read,
    };
    if let Some(bytes) = read_if_regular(pending)? {
        let found = Sha256Digest::of(&bytes);
        if Some(found) == logged {
            let line = ledger::line_at(store, prior.index)?.unwrap_or_default();
            deliver(store, pending, output, &bytes, &digest, &line)?;
            return Ok(done(Outcome::Completed, found));
        }
    }
    if let Some(bytes) = read_if_regular(output)? {
        let found = Sha256Digest::of(&bytes);
        if Some(found) == logged {
            return Ok(done(Outcome::AlreadyDelivered, found));
        }
    }
    Err(Error::rejected(
        format!("request {}", digest.prefixed()),
        format!(
            "refused ({}): the request was already released (log entry {}); its ciphertext is not pending and {} does not hold it",
            RefusalKind::AlreadyReleased.name(),
            prior.index,
            output.display()
        ),
    ))
}

/// Installs the ciphertext into the output directory (temporary file, fsync, rename, directory
/// fsync), then drops the pending copy and keeps the release envelope in the store.
fn deliver(
    store: &SampleStore,
    pending: &Path,
    output: &Path,
    ciphertext: &[u8],
    request: &Sha256Digest,
    release_line: &str,
) -> Result<()> {
    crate::fs::write_atomic(output, ciphertext, 0o600)?;
    if !release_line.is_empty() {
        // A convenience copy of what the log holds durably: written whole (temporary file and
        // rename) but not flushed to disk, which would cost the release two more disk flushes.
        let releases = store.subdir("releases")?;
        let file = releases.join(format!("{}.intoto.jsonl", request.hex()));
        let mut tmp = crate::fs::temp_beside(&file)?;
        std::io::Write::write_all(&mut tmp, format!("{release_line}\n").as_bytes()).at(tmp.path())?;
        tmp.persist(&file).map_err(|e| Error::io(&file, e.error))?;
    }
    remove_if_present(pending)
}

/// The stored sample, checked against its commitment: a store file whose bytes no longer
/// match (or that is missing, or forgotten) is a refusal, and nothing leaves.
fn read_sample(store: &SampleStore, commitment: &Sha256Digest) -> Result<Vec<u8>> {
    let what = format!("sample {}", commitment.hex());
    let record = match store.lookup(commitment)? {
        Some(r) if !is_forgotten(&r) => r,
        Some(_) => return Err(Error::rejected(&what, "refused (not-in-store): the sample was forgotten")),
        None => return Err(Error::rejected(&what, "refused (not-in-store): the store holds no such sample")),
    };
    let bytes = store.read_sample(&record.sha256).map_err(|e| {
        Error::rejected(&what, format!("refused (store-mismatch): the stored sample cannot be read ({e})"))
    })?;
    if Sha256Digest::of(&bytes) != record.sha256 || commit(&record.salt, &record.sha256) != *commitment {
        return Err(Error::rejected(
            &what,
            format!(
                "refused (store-mismatch): the stored file {} no longer matches the sample's commitment",
                store.sample_path(&record.sha256).display()
            ),
        ));
    }
    Ok(bytes)
}

/// A regular file's bytes (no link followed), `None` if there is none.
fn read_if_regular(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(crate::fs::read_regular(path, u64::MAX)?)),
        Ok(_) => Err(Error::invalid(path.display(), "is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The store's exclusive gateway lock, held until the file is dropped (a link is refused).
fn lock(store: &SampleStore) -> Result<fs::File> {
    let path = store.root.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .at(&path)?;
    file.lock().at(&path)?;
    Ok(file)
}
