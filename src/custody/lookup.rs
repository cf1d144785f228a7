//! `sample lookup`: the customer's question, "did my file leave?", answered from the receipt
//! the center handed back and the public log alone. The checkpoint is verified with a log key
//! the customer trusts (the policy's `[log]`, or `--vkey`), which the receipt's own `log.vkey`
//! must equal; with neither, with the receipt's key, and the answer says that key was not
//! checked against anything. The receipt's intake entry is checked to name
//! the batch envelope and its inclusion proof to verify, and every request, decision and
//! release whose subjects name the commitment is read (only those envelopes are fetched).

use std::io::Read as _;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::attest::custody::{DecisionKind, IntakeRef, SAMPLE_COMMITMENT};
use crate::attest::Envelope;
use crate::custody::commitment::{commit, proves, Salt};
use crate::custody::statements::{self, prefixed, Custody};
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::policy::Policy;
use crate::tlog::note::NoteVerifier;
use crate::transparency::audit::{authenticated_entries, WitnessPolicy};
use crate::transparency::{LogDir, LogEntry};

/// A receipt whose fields are checked.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub commitment: Sha256Digest,
    pub salt: Salt,
    pub origin: String,
    pub vkey: String,
    pub intake: IntakeRef,
}

/// Reads a receipt file strictly ([`super::receipt::read_receipt`]); anything malformed is bad
/// input naming the file.
pub fn read_receipt(path: &Path) -> Result<Receipt> {
    let r = super::receipt::read_receipt(path)?;
    // `read_receipt` has checked both hex fields; a failure here would be a bug, still an error.
    let bad = || Error::invalid(path.display(), "commitment or salt is not 64 lowercase hex digits");
    let (commitment, salt) = (r.commitment().ok_or_else(bad)?, r.salt().ok_or_else(bad)?);
    Ok(Receipt { commitment, salt, origin: r.log.origin, vkey: r.log.vkey, intake: r.intake })
}

/// Where the key the log was verified with came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LogKeySource {
    /// The policy's `[log]` vkey (the receipt's equals it).
    Policy,
    /// The key the customer gave (`--vkey`; the receipt's equals it).
    Vkey,
    /// The receipt's own `log.vkey`, checked against nothing: whoever wrote the receipt chose
    /// it, so the answer is only as good as the receipt's origin.
    Receipt,
}

/// What the log says about one sample.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub commitment: Sha256Digest,
    pub log: super::audit::LogSummary,
    /// Which key verified the log's checkpoint.
    pub log_key: LogKeySource,
    pub intake_index: u64,
    /// Whether the intake batch is signed by a center key (`null` without a policy).
    pub intake_trusted: Option<bool>,
    pub requested: bool,
    /// Whether a release names the sample (with a policy: a release a gateway key signed).
    pub released: bool,
    pub requests: Vec<RequestSeen>,
    /// Decisions and releases whose request is not in the log.
    pub orphans: Vec<Seen>,
    /// With `--file`: whether the file opens the commitment.
    pub file_matches: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSeen {
    pub index: u64,
    pub envelope: String,
    pub reason: String,
    pub destination: String,
    pub requester: crate::attest::custody::Requester,
    pub requested_at: String,
    pub expires_at: String,
    pub break_glass: bool,
    /// Whether a requester key of the policy signed it (`null` without a policy).
    pub trusted: Option<bool>,
    pub decisions: Vec<Seen>,
    pub releases: Vec<Seen>,
}

/// A decision or a release.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub index: u64,
    /// `approve`, `deny`, `invalidate` or `release`.
    pub kind: String,
    pub at: String,
    pub request: String,
    pub trusted: Option<bool>,
    /// With a policy, who signed a decision: the approver group(s) its key is in, or
    /// `requester` (an invalidation by the requester).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Answers for `receipt` from the log at `dir`: verified with the policy's `[log]` when given,
/// else with `vkey` when given (the receipt's own key must equal either: exit 2 naming the
/// receipt otherwise), else with the receipt's own key ([`LogKeySource::Receipt`]). `file` is
/// the customer's copy of the sample, if any.
pub fn lookup(
    receipt: &Receipt,
    receipt_path: &Path,
    dir: &LogDir,
    policy: Option<&Policy>,
    vkey: Option<&NoteVerifier>,
    file: Option<&Path>,
) -> Result<Lookup> {
    let at = receipt_path.display().to_string();
    let (_, checkpoint) = dir.read_checkpoint()?;
    if checkpoint.origin != receipt.origin {
        return Err(Error::invalid(
            &at,
            format!(
                "is a receipt of the log {:?}, but {} is the log {:?}",
                receipt.origin,
                dir.root.display(),
                checkpoint.origin
            ),
        ));
    }
    let samples = match policy {
        Some(p) => Some(super::audit::sections(p)?),
        None => None,
    };
    let own = NoteVerifier::parse(&receipt.vkey).map_err(|e| Error::invalid(&at, format!("log.vkey: {e}")))?;
    let differs = |from: &str| {
        Error::invalid(
            &at,
            format!("its log.vkey is not {from}: a receipt for another log or key, or one whose key was changed"),
        )
    };
    let ((verified, raw), log_key) = match (samples, vkey) {
        (Some((log, _)), _) if log.vkey != own => return Err(differs("the policy's [log] vkey")),
        (Some((log, _)), _) => (super::audit::open_log(dir, log)?, LogKeySource::Policy),
        (None, Some(given)) if *given != own => return Err(differs("the --vkey given")),
        (None, Some(given)) => (authenticated_entries(dir, given, &WitnessPolicy::default())?, LogKeySource::Vkey),
        (None, None) => (authenticated_entries(dir, &own, &WitnessPolicy::default())?, LogKeySource::Receipt),
    };
    let size = verified.size;
    let samples = samples.map(|(_, s)| s);
    let read = |index: u64| -> Result<Option<Custody>> {
        let origin = format!("log entry {index}");
        let entry = LogEntry::parse(&raw[index as usize], &origin)?;
        let digest = entry.envelope_digest().ok_or_else(|| Error::rejected(&origin, "names no envelope digest"))?;
        let line = dir.envelopes(index, index + 1, size)?.into_iter().next().unwrap_or_default();
        if Sha256Digest::of(&line) != digest {
            return Err(Error::rejected(&origin, "the stored envelope does not hash to the entry's digest"));
        }
        let envelope: Envelope = serde_json::from_slice(&line)
            .map_err(|e| Error::rejected(&origin, format!("the stored envelope is not DSSE ({e})")))?;
        match samples {
            Some(s) => statements::decode(&envelope, digest, index, s, &origin),
            None => Ok(statements::parse(&envelope, digest, index, &origin)?.map(|p| p.custody)),
        }
    };

    // The intake batch the receipt names.
    let i = &receipt.intake;
    let not_in = |why: &str| Error::rejected(&at, format!("its intake entry {} {why}", i.log_index));
    if i.log_index >= size {
        return Err(not_in(&format!("is beyond the log's {size} entries")));
    }
    let intake = match read(i.log_index) {
        Ok(Some(Custody::Intake(l))) => l,
        Ok(_) => return Err(not_in("is not an intake batch")),
        Err(e) => return Err(not_in(&format!("cannot be read ({e})"))),
    };
    if prefixed(&i.envelope) != Some(intake.envelope)
        || i.batch_root != intake.subject.hex()
        || i.batch_size != intake.predicate.count
        || !proves(i, &receipt.commitment)
    {
        return Err(not_in("is not the batch the receipt names, or its inclusion proof does not verify"));
    }

    // Every entry whose subjects name the commitment.
    let hex = receipt.commitment.hex();
    let hits: Vec<u64> = raw
        .par_iter()
        .enumerate()
        .filter_map(|(n, bytes)| {
            let entry = LogEntry::parse(bytes, "entry").ok()?;
            let names = statements::is_custody_type(&entry.predicate_type)
                && entry.subjects.iter().any(|s| s.digest.get(SAMPLE_COMMITMENT) == Some(&hex));
            names.then_some(n as u64)
        })
        .collect();
    let trusted = |c: &Custody| samples.map(|_| c.signer().is_some());
    let mut requests: Vec<RequestSeen> = Vec::new();
    let mut later: Vec<(Sha256Digest, Seen, bool)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut payloads = std::collections::HashSet::new();
    for index in hits {
        // A statement naming the sample that does not decode says nothing trustworthy.
        let Ok(Some(custody)) = read(index) else { continue };
        // A repeat (an earlier statement's signed payload and signer, re-wrapped) is the same
        // statement: it is shown once, where it was first logged. A copy whose signature no
        // policy key verifies any more adds nothing to the payload already shown either.
        // Without a policy no signer is known, and two approvers' decisions may carry the same
        // payload (same request, decision and second): only a repeat of the same envelope is
        // dropped then, so neither approval disappears from the answer.
        let unsigned_copy = samples.is_some() && custody.signer().is_none() && payloads.contains(&custody.payload());
        let identity = match samples {
            Some(_) => custody.identity(),
            None => (custody.envelope(), None),
        };
        if custody.index() == i.log_index || !seen.insert(identity) || unsigned_copy {
            continue;
        }
        payloads.insert(custody.payload());
        let t = trusted(&custody);
        match &custody {
            Custody::Request(l) if l.subject == receipt.commitment => {
                let p = &l.predicate;
                requests.push(RequestSeen {
                    index,
                    envelope: l.envelope.prefixed(),
                    reason: p.reason.clone(),
                    destination: p.destination.clone(),
                    requester: p.requester.clone(),
                    requested_at: p.requested_at.clone(),
                    expires_at: p.expires_at.clone(),
                    break_glass: p.break_glass,
                    trusted: t,
                    decisions: Vec::new(),
                    releases: Vec::new(),
                });
            }
            Custody::Decision(l) if l.subject == receipt.commitment => {
                let kind = match l.predicate.decision {
                    DecisionKind::Approve => "approve",
                    DecisionKind::Deny => "deny",
                    DecisionKind::Invalidate => "invalidate",
                };
                let request = prefixed(&l.predicate.request).unwrap_or(Sha256Digest([0; 32]));
                let by = samples.zip(l.signer.as_ref()).and_then(|(s, k)| signer_role(s, &k.key));
                let seen = Seen {
                    index,
                    kind: kind.into(),
                    at: l.predicate.decided_at.clone(),
                    request: l.predicate.request.clone(),
                    trusted: t,
                    by,
                };
                later.push((request, seen, false));
            }
            Custody::Release(l) if l.subject == receipt.commitment => {
                let request = prefixed(&l.predicate.request).unwrap_or(Sha256Digest([0; 32]));
                let seen = Seen {
                    index,
                    kind: "release".into(),
                    at: l.predicate.released_at.clone(),
                    request: l.predicate.request.clone(),
                    trusted: t,
                    by: None,
                };
                later.push((request, seen, true));
            }
            _ => {}
        }
    }
    let mut orphans = Vec::new();
    let mut released = false;
    for (request, seen, is_release) in later {
        if is_release && seen.trusted != Some(false) {
            released = true;
        }
        match requests.iter_mut().find(|r| r.envelope == request.prefixed()) {
            Some(r) if is_release => r.releases.push(seen),
            Some(r) => r.decisions.push(seen),
            None => orphans.push(seen),
        }
    }
    let file_matches = match file {
        Some(path) => Some(commit(&receipt.salt, &sha256_file(path)?) == receipt.commitment),
        None => None,
    };
    Ok(Lookup {
        commitment: receipt.commitment,
        log: super::audit::LogSummary::of(&verified),
        log_key,
        intake_index: i.log_index,
        intake_trusted: samples.map(|_| intake.signer.is_some()),
        requested: !requests.is_empty(),
        released,
        requests,
        orphans,
        file_matches,
    })
}

/// Who `key` decides as under the policy: its approver group(s), else `requester`.
fn signer_role(policy: &crate::policy::SamplesPolicy, key: &crate::keys::PublicKey) -> Option<String> {
    let groups: Vec<&str> = policy
        .approvers
        .iter()
        .filter(|g| g.keys.iter().any(|k| k.key.as_bytes() == key.as_bytes()))
        .map(|g| g.name.as_str())
        .collect();
    match groups.is_empty() {
        false => Some(groups.join(", ")),
        true => policy.requester(key).map(|_| "requester".to_string()),
    }
}

/// The SHA-256 of a regular file, streamed.
fn sha256_file(path: &Path) -> Result<Sha256Digest> {
    let (mut file, _) = crate::fs::open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}
