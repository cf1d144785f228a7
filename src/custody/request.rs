//! Requests and decisions: building a sample request from the store and the policy (the
//! requester's role and country are the policy's, the detail is kept in the store as the
//! opening of a salted commitment, the intake entry and its proof come from the store's
//! batch), reading a request envelope file strictly, and signing a decision bound to the
//! request envelope's exact digest. Mistakes the gateway would refuse (an unknown reason or
//! destination, a lifetime beyond the policy's) are refused here already, as bad input.

use std::path::Path;

use crate::attest::custody::{Decision, DecisionKind, IntakeRef, Request, Requester};
use crate::attest::Envelope;
use crate::custody::commitment::{commit_detail, fresh_salt};
use crate::custody::ledger::samples_policy;
use crate::custody::receipt;
use crate::custody::rules::decision_ignored;
use crate::custody::statements::{self, decode, is_age_recipient, Custody, Logged};
use crate::custody::store::SampleStore;
use crate::digest::{hex_encode, Sha256Digest};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::policy::{Policy, SamplesPolicy};
use crate::time::Timestamp;
use crate::transparency::entry::MAX_ENVELOPE_BYTES;
use crate::transparency::{LogDir, Loggable};

/// What a requester asks for (the CLI's flags).
#[derive(Clone, Debug)]
pub struct RequestSpec<'a> {
    pub commitment: Sha256Digest,
    pub reason: &'a str,
    pub detail: &'a str,
    pub destination: &'a str,
    pub recipient: &'a str,
    /// How long the request lives (seconds); the policy's request_lifetime when `None`.
    pub lifetime: Option<i64>,
    pub break_glass: bool,
    pub now: Timestamp,
}

/// A signed request and what it says.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub envelope: Envelope,
    pub request: Request,
    /// SHA-256 of the envelope's compact line: how decisions and the release name it.
    pub digest: Sha256Digest,
}

/// Builds and signs a request for one sample with the requester's `key`, keeping the detail's
/// opening in the store. Refuses (exit 2) a key that is not a requester of the policy, a reason
/// or destination the policy does not list, a recipient that is not an age X25519 recipient, a
/// lifetime beyond the policy's, and a commitment the store does not hold.
pub fn sign_request(
    store: &SampleStore,
    log: &LogDir,
    policy: &Policy,
    key: &PrivateKey,
    spec: &RequestSpec<'_>,
) -> Result<SignedRequest> {
    let samples = samples_policy(policy)?;
    let public = key.public();
    let requester = samples.requester(&public).ok_or_else(|| {
        Error::invalid(
            "--key",
            format!("key {} is not a requester key of the policy {}", public.key_id().as_str(), policy.path.display()),
        )
    })?;
    if !samples.reasons.contains(spec.reason) {
        return Err(Error::invalid(
            "--reason",
            format!("{:?} is not a reason the policy allows ({})", spec.reason, list(&samples.reasons)),
        ));
    }
    if !samples.destinations.contains(spec.destination) {
        return Err(Error::invalid(
            "--destination",
            format!("{:?} is not a destination the policy allows ({})", spec.destination, list(&samples.destinations)),
        ));
    }
    if !is_age_recipient(spec.recipient) {
        return Err(Error::invalid(
            "--recipient",
            format!("{:?} is not an age X25519 recipient (age1…)", spec.recipient),
        ));
    }
    let lifetime = spec.lifetime.unwrap_or(samples.request_lifetime);
    if lifetime <= 0 || lifetime > samples.request_lifetime {
        return Err(Error::invalid(
            "--expires",
            format!("must be at most the policy's request_lifetime ({}s), not {lifetime}s", samples.request_lifetime),
        ));
    }
    if spec.break_glass && samples.break_glass.is_none() {
        return Err(Error::invalid("--break-glass", "the policy does not allow break-glass requests"));
    }
    let intake = intake_ref(store, log, &spec.commitment)?;
    let salt = fresh_salt();
    let detail = commit_detail(&salt, spec.detail);
    store.record_detail(&detail, &salt, spec.detail)?;
    let mut id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    let request = Request {
        request_id: hex_encode(&id),
        intake,
        reason: spec.reason.to_string(),
        detail: detail.hex(),
        requester: Requester { role: requester.role.clone(), country: requester.country.clone() },
        destination: spec.destination.to_string(),
        recipient: spec.recipient.to_string(),
        requested_at: spec.now.rfc3339(),
        expires_at: Timestamp(spec.now.0.saturating_add(lifetime)).rfc3339(),
        break_glass: spec.break_glass,
        policy: policy.digest.prefixed(),
    };
    let envelope = statements::sign_request(&request, &spec.commitment, key);
    let digest = envelope.digest();
    Ok(SignedRequest { envelope, request, digest })
}

fn list(names: &std::collections::BTreeSet<String>) -> String {
    names.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Where `commitment` is in the log ([`receipt::intake_ref`]); a batch logged by someone else
/// since the intake (no log key at intake) is looked up in the log first.
fn intake_ref(store: &SampleStore, log: &LogDir, commitment: &Sha256Digest) -> Result<IntakeRef> {
    if let Some(record) = store.lookup(commitment)? {
        if let Some(batch) = store.batch(&record.batch_id)? {
            if batch.log_index.is_none() {
                let (_, checkpoint) = log.read_checkpoint()?;
                let tree = log.tree(checkpoint.size);
                if let Some(index) = log.find_logged(&tree, &checkpoint.root, &batch.envelope)? {
                    store.set_batch_index(&batch.batch_id, index)?;
                }
            }
        }
    }
    receipt::intake_ref(store, commitment)
}

/// A request envelope file, read strictly: one compact DSSE envelope (a trailing newline
/// allowed) carrying a custody request. Anything else is bad input (exit 2) naming the file.
/// Returns the envelope's line and the decoded request (signer looked up in `policy`).
pub fn read_request_file(path: &Path, policy: &SamplesPolicy) -> Result<(String, Logged<Request>)> {
    let origin = path.display().to_string();
    let text = crate::fs::read_regular_text(path, MAX_ENVELOPE_BYTES as u64 + 1)?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if line.contains('\n') {
        return Err(Error::invalid(&origin, "must hold exactly one request envelope, on one line"));
    }
    let loggable = Loggable::from_line(line, &origin)?;
    let envelope: Envelope = serde_json::from_str(line)
        .map_err(|e| Error::invalid(&origin, format!("not a DSSE envelope on one line ({e})")))?;
    match decode(&envelope, loggable.digest, u64::MAX, policy, &origin)? {
        Some(Custody::Request(request)) => Ok((line.to_string(), request)),
        Some(other) => Err(Error::invalid(&origin, format!("is a custody {}, not a request", other.kind()))),
        None => Err(Error::invalid(&origin, "is not a custody request (wrong statement or predicate type)")),
    }
}

/// Signs a decision about `request` (bound to its exact envelope digest) with `key`.
pub fn sign_decision(
    request: &Logged<Request>,
    kind: DecisionKind,
    why: &str,
    key: &PrivateKey,
    now: Timestamp,
) -> Result<Envelope> {
    if kind == DecisionKind::Deny && why.trim().is_empty() {
        return Err(Error::invalid("--why", "a denial must say why"));
    }
    let decision = Decision {
        request: request.envelope.prefixed(),
        decision: kind,
        why: if kind == DecisionKind::Deny { why.to_string() } else { String::new() },
        decided_at: now.rfc3339(),
    };
    Ok(statements::sign_decision(&decision, &request.envelope, &request.subject, key))
}

/// Why a signed decision would count for nothing at the gateway (`None`: it counts), by the
/// same rule the gateway and the audit apply ([`decision_ignored`]), under `policy`, which must
/// be the policy the request cites (exit 2 otherwise). `request` was read with that policy
/// ([`read_request_file`]) and `index` is where it is logged. The message says why in the
/// policy's own terms: the requester approving their own request, a key in no approver group
/// (a gateway's, say), a denial or invalidation by a key not allowed to make it.
pub fn decision_never_counts(
    policy: &Policy,
    request: &Logged<Request>,
    index: u64,
    decision: &Envelope,
) -> Result<Option<String>> {
    let samples = samples_policy(policy)?;
    if request.predicate.policy != policy.digest.prefixed() {
        return Err(Error::invalid(
            policy.path.display(),
            format!(
                "has digest {}, but the request cites policy {}: give --policy the policy the request was made under",
                policy.digest.prefixed(),
                request.predicate.policy
            ),
        ));
    }
    let mut request = request.clone();
    request.index = index;
    let digest = decision.digest();
    let Some(Custody::Decision(logged)) = decode(decision, digest, u64::MAX, samples, "the decision")? else {
        return Err(Error::invalid("the decision", "does not decode as a custody decision"));
    };
    let Some(why) = decision_ignored(samples, &request, &logged) else { return Ok(None) };
    let signer =
        decision.signatures.first().map(|s| s.keyid.get(..8).unwrap_or(&s.keyid).to_string()).unwrap_or_default();
    let signer = logged.signer.as_ref().map_or(signer, |k| format!("{} ({})", k.id.short(), k.path));
    let groups = samples
        .approvers
        .iter()
        .map(|g| format!("{} ({})", g.name, g.keys.iter().map(|k| k.path.as_str()).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let own =
        logged.signer.as_ref().zip(request.signer.as_ref()).is_some_and(|(d, r)| d.key.as_bytes() == r.key.as_bytes());
    let reason = match (why, logged.predicate.decision) {
        ("untrusted", _) => format!(
            "key {signer} is in no approver group of the policy {} and is no requester's: a decision it signs never counts (approver groups: {groups})",
            policy.path.display()
        ),
        ("not-allowed", DecisionKind::Approve) if own => format!(
            "key {signer} signed the request itself: a requester's approval of their own request never counts (approver groups: {groups})"
        ),
        ("not-allowed", DecisionKind::Approve) => format!(
            "key {signer} is a requester key in no approver group: its approval never counts (approver groups: {groups})"
        ),
        ("not-allowed", DecisionKind::Deny) => format!(
            "key {signer} is in no approver group: only an approver's denial counts (approver groups: {groups})"
        ),
        ("not-allowed", DecisionKind::Invalidate) => format!(
            "key {signer} is neither an approver's nor the requester's: only they may invalidate a request"
        ),
        (other, _) => format!("the gateway would ignore this decision ({other})"),
    };
    Ok(Some(reason))
}

/// A request envelope file read as strictly as [`read_request_file`], for a command that has no
/// policy (`sample decide`): the statement's shape is checked, its signer is not (`signer` is
/// `None`); the gateway judges the signer under the policy in force.
pub fn read_request_structure(path: &Path) -> Result<Logged<Request>> {
    let none = SamplesPolicy {
        centers: Vec::new(),
        gateways: Vec::new(),
        requesters: Vec::new(),
        approvers: Vec::new(),
        reasons: Default::default(),
        destinations: Default::default(),
        request_lifetime: 0,
        quota: None,
        break_glass: None,
    };
    Ok(read_request_file(path, &none)?.1)
}

/// Refuses (exit 1) to decide on a request that is not in the log: approvals are for requests
/// everyone can see. Returns the request's log index.
pub fn check_logged(log: &LogDir, request: &Sha256Digest) -> Result<u64> {
    let (_, checkpoint) = log.read_checkpoint()?;
    let tree = log.tree(checkpoint.size);
    log.find_logged(&tree, &checkpoint.root, request)?.ok_or_else(|| {
        Error::rejected(
            format!("request {}", request.prefixed()),
            format!("is not in the log {}: append it first", log.root.display()),
        )
    })
}
