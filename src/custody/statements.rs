//! Signing and reading custody statements. Reading is strict: a custody envelope is decoded
//! only if its statement has exactly the subjects its predicate type prescribes, every digest
//! is 64 lowercase hex, every time is RFC 3339 UTC and every name is a policy identifier; the
//! signer is the policy key (for that statement's role) whose signature verifies, found by the
//! key id first so that a replay of a million entries verifies each signature once.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::de::DeserializeOwned;

use crate::attest::custody::{
    Decision, DecisionKind, Intake, Release, Request, BATCH_TREE, SAMPLE_BATCH, SAMPLE_COMMITMENT, SUBJECT_BATCH,
    SUBJECT_REQUEST, SUBJECT_SAMPLE,
};
use crate::attest::dsse::pae;
use crate::attest::{
    Envelope, ResourceDescriptor, Statement, SAMPLE_DECISION_V1, SAMPLE_INTAKE_V1, SAMPLE_RELEASE_V1, SAMPLE_REQUEST_V1,
};
use crate::custody::policies::Role;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::policy::samples::{is_country, is_identifier, SamplesPolicy};
use crate::policy::TrustedKey;
use crate::time::Timestamp;

/// A custody statement read from the log (or a file), with what every rule needs.
#[derive(Clone, Debug)]
pub struct Logged<P> {
    /// Log index (`u64::MAX` for a statement not read from the log).
    pub index: u64,
    /// SHA-256 of the envelope's compact line: how the log and other statements name it.
    pub envelope: Sha256Digest,
    /// SHA-256 of the DSSE payload: what was signed. With the signer's key it tells statements
    /// apart ([`Custody::identity`]); the envelope digest does not, since anyone can re-wrap a
    /// signed payload (reorder, repeat or drop signatures, change a key id) into a new envelope.
    pub payload: Sha256Digest,
    /// The policy key of this statement's role whose signature verifies, if any.
    pub signer: Option<TrustedKey>,
    pub predicate: P,
    /// The sample's commitment (requests, decisions, releases) or the batch root (intake).
    pub subject: Sha256Digest,
    /// The statement's own time: period end, requestedAt, decidedAt or releasedAt.
    pub time: Timestamp,
}

/// A statement's identity: (payload digest, signer's public key).
pub type Identity = (Sha256Digest, Option<[u8; 32]>);

/// Any custody statement.
#[derive(Clone, Debug)]
pub enum Custody {
    Intake(Logged<Intake>),
    Request(Logged<Request>),
    Decision(Logged<Decision>),
    Release(Logged<Release>),
}

impl Custody {
    pub fn index(&self) -> u64 {
        match self {
            Custody::Intake(l) => l.index,
            Custody::Request(l) => l.index,
            Custody::Decision(l) => l.index,
            Custody::Release(l) => l.index,
        }
    }

    /// The envelope's digest.
    pub fn envelope(&self) -> Sha256Digest {
        match self {
            Custody::Intake(l) => l.envelope,
            Custody::Request(l) => l.envelope,
            Custody::Decision(l) => l.envelope,
            Custody::Release(l) => l.envelope,
        }
    }

    /// The statement's own time.
    pub fn time(&self) -> Timestamp {
        match self {
            Custody::Intake(l) => l.time,
            Custody::Request(l) => l.time,
            Custody::Decision(l) => l.time,
            Custody::Release(l) => l.time,
        }
    }

    /// SHA-256 of the signed payload.
    pub fn payload(&self) -> Sha256Digest {
        match self {
            Custody::Intake(l) => l.payload,
            Custody::Request(l) => l.payload,
            Custody::Decision(l) => l.payload,
            Custody::Release(l) => l.payload,
        }
    }

    /// What makes a statement itself: its signed payload and the policy key that signed it.
    /// An envelope with the identity of an earlier one is a repeat, whatever its digest.
    pub fn identity(&self) -> Identity {
        (self.payload(), self.signer().map(|k| *k.key.as_bytes()))
    }

    pub fn signer(&self) -> Option<&TrustedKey> {
        match self {
            Custody::Intake(l) => l.signer.as_ref(),
            Custody::Request(l) => l.signer.as_ref(),
            Custody::Decision(l) => l.signer.as_ref(),
            Custody::Release(l) => l.signer.as_ref(),
        }
    }

    pub fn set_signer(&mut self, signer: Option<TrustedKey>) {
        match self {
            Custody::Intake(l) => l.signer = signer,
            Custody::Request(l) => l.signer = signer,
            Custody::Decision(l) => l.signer = signer,
            Custody::Release(l) => l.signer = signer,
        }
    }

    /// The policy keys that may sign this kind of statement: center keys for intake batches,
    /// requester keys for requests, approvers and requesters for decisions, gateways for
    /// releases.
    pub fn role_keys<'p>(&self, policy: &'p SamplesPolicy) -> Vec<&'p TrustedKey> {
        match self {
            Custody::Intake(_) => policy.centers.iter().collect(),
            Custody::Request(_) => policy.requesters.iter().map(|r| &r.key).collect(),
            Custody::Decision(_) => policy.decision_keys(),
            Custody::Release(_) => policy.gateways.iter().collect(),
        }
    }

    /// The custody role whose keys may sign this kind of statement.
    pub fn role(&self) -> Role {
        match self {
            Custody::Intake(_) => Role::Center,
            Custody::Request(_) => Role::Requester,
            Custody::Decision(_) => Role::Decider,
            Custody::Release(_) => Role::Gateway,
        }
    }

    /// The predicate as JSON.
    pub fn predicate_json(&self) -> serde_json::Value {
        let value = match self {
            Custody::Intake(l) => serde_json::to_value(&l.predicate),
            Custody::Request(l) => serde_json::to_value(&l.predicate),
            Custody::Decision(l) => serde_json::to_value(&l.predicate),
            Custody::Release(l) => serde_json::to_value(&l.predicate),
        };
        // Plain structs of strings and numbers always serialize.
        value.unwrap_or_default()
    }

    /// `intake`, `request`, `decision` or `release`.
    pub fn kind(&self) -> &'static str {
        match self {
            Custody::Intake(_) => "intake",
            Custody::Request(_) => "request",
            Custody::Decision(_) => "decision",
            Custody::Release(_) => "release",
        }
    }
}

/// Whether a predicate type is one of custody's.
pub fn is_custody_type(predicate_type: &str) -> bool {
    [SAMPLE_INTAKE_V1, SAMPLE_REQUEST_V1, SAMPLE_DECISION_V1, SAMPLE_RELEASE_V1].contains(&predicate_type)
}

/// A subject naming a sample by its commitment.
pub fn sample_subject(commitment: &Sha256Digest) -> ResourceDescriptor {
    ResourceDescriptor {
        name: Some(SUBJECT_SAMPLE.into()),
        digest: [(SAMPLE_COMMITMENT.to_string(), commitment.hex())].into(),
        ..Default::default()
    }
}

/// The subjects of a decision or release: the request envelope, then the sample.
pub fn request_subjects(request: &Sha256Digest, commitment: &Sha256Digest) -> Vec<ResourceDescriptor> {
    vec![ResourceDescriptor::named(SUBJECT_REQUEST, *request), sample_subject(commitment)]
}

/// Signs an intake batch statement.
pub fn sign_intake(intake: &Intake, root: &Sha256Digest, key: &PrivateKey) -> Envelope {
    let subject = ResourceDescriptor {
        name: Some(SUBJECT_BATCH.into()),
        digest: [(SAMPLE_BATCH.to_string(), root.hex())].into(),
        ..Default::default()
    };
    Statement::new(vec![subject], SAMPLE_INTAKE_V1, intake).sign(key)
}

pub fn sign_request(request: &Request, commitment: &Sha256Digest, key: &PrivateKey) -> Envelope {
    Statement::new(vec![sample_subject(commitment)], SAMPLE_REQUEST_V1, request).sign(key)
}

pub fn sign_decision(
    decision: &Decision,
    request: &Sha256Digest,
    commitment: &Sha256Digest,
    key: &PrivateKey,
) -> Envelope {
    Statement::new(request_subjects(request, commitment), SAMPLE_DECISION_V1, decision).sign(key)
}

pub fn sign_release(
    release: &Release,
    request: &Sha256Digest,
    commitment: &Sha256Digest,
    key: &PrivateKey,
) -> Envelope {
    Statement::new(request_subjects(request, commitment), SAMPLE_RELEASE_V1, release).sign(key)
}

/// Decodes a custody envelope (`None` if its predicate type is not custody's). `digest` is the
/// envelope line's SHA-256 and `index` its log index; `origin` names it in errors. The signer
/// is looked up among the policy's keys for the statement's role.
pub fn decode(
    envelope: &Envelope,
    digest: Sha256Digest,
    index: u64,
    policy: &SamplesPolicy,
    origin: &str,
) -> Result<Option<Custody>> {
    let Some(Parsed { mut custody, message }) = parse(envelope, digest, index, origin)? else { return Ok(None) };
    let signer = find_signer(envelope, &message, &custody.role_keys(policy));
    custody.set_signer(signer);
    Ok(Some(custody))
}

/// A custody statement read strictly but whose signer is not looked up yet (`signer` is
/// `None`), with the message its signatures sign: the first half of [`decode`], for readers
/// that verify many signatures together (`sample audit`).
pub struct Parsed {
    pub custody: Custody,
    /// The DSSE pre-authentication encoding of the payload.
    pub message: Vec<u8>,
}

/// Reads a custody envelope as [`decode`] does, without looking for its signer.
pub fn parse(envelope: &Envelope, digest: Sha256Digest, index: u64, origin: &str) -> Result<Option<Parsed>> {
    let payload = envelope.payload_bytes().map_err(|e| Error::invalid(origin, e.to_string()))?;
    let read = ReadAt { index, envelope: digest, payload: Sha256Digest::of(&payload) };
    let bad = |why: String| Error::invalid(origin, why);
    if envelope.payload_type != crate::attest::PAYLOAD_TYPE_INTOTO {
        return Ok(None);
    }
    let statement: Statement<serde_json::Value> =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("payload is not an in-toto statement ({e})")))?;
    if statement.type_ != crate::attest::STATEMENT_V1 || !is_custody_type(&statement.predicate_type) {
        return Ok(None);
    }
    let custody = match statement.predicate_type.as_str() {
        SAMPLE_INTAKE_V1 => {
            let subject = one_subject(&statement.subject, origin, SUBJECT_BATCH, SAMPLE_BATCH)?;
            let p: Intake = predicate(statement.predicate, origin)?;
            if p.tree != BATCH_TREE || p.count == 0 || !is_hex(&p.batch_id, 32) || p.merkle_root != subject.hex() {
                return Err(bad("not a valid intake batch (tree, count, batchId or merkleRoot)".into()));
            }
            let start = time(&p.period.start, origin, "period.start")?;
            let time = time(&p.period.end, origin, "period.end")?;
            if time < start {
                return Err(bad("its period ends before it starts".into()));
            }
            Custody::Intake(read.logged(p, subject, time))
        }
        SAMPLE_REQUEST_V1 => {
            let subject = one_subject(&statement.subject, origin, SUBJECT_SAMPLE, SAMPLE_COMMITMENT)?;
            let p: Request = predicate(statement.predicate, origin)?;
            let requested = time(&p.requested_at, origin, "requestedAt")?;
            let expires = time(&p.expires_at, origin, "expiresAt")?;
            let i = &p.intake;
            if !is_hex(&p.request_id, 32)
                || !is_identifier(&p.reason)
                || !is_identifier(&p.destination)
                || !is_identifier(&p.requester.role)
                || !is_country(&p.requester.country)
                || Sha256Digest::from_hex(&p.detail).is_none()
                || prefixed(&p.policy).is_none()
                || prefixed(&i.envelope).is_none()
                || Sha256Digest::from_hex(&i.batch_root).is_none()
                || i.proof.iter().any(|h| Sha256Digest::from_hex(h).is_none())
                || i.proof.len() > 64
                || !is_age_recipient(&p.recipient)
            {
                return Err(bad("not a valid sample request (an identifier, digest or recipient is malformed)".into()));
            }
            if expires <= requested {
                return Err(bad("it expires before it was made".into()));
            }
            Custody::Request(read.logged(p, subject, requested))
        }
        _ => {
            let (request, subject) = two_subjects(&statement.subject).ok_or_else(|| {
                bad("must have exactly two subjects: the request (sha256) and the sample (glassboxSampleCommitment)".into())
            })?;
            if statement.predicate_type == SAMPLE_DECISION_V1 {
                let p: Decision = predicate(statement.predicate, origin)?;
                if prefixed(&p.request) != Some(request) {
                    return Err(bad("its request field and its request subject differ".into()));
                }
                if p.decision == DecisionKind::Deny && p.why.trim().is_empty() {
                    return Err(bad("a denial must say why".into()));
                }
                let time = time(&p.decided_at, origin, "decidedAt")?;
                Custody::Decision(read.logged(p, subject, time))
            } else {
                let p: Release = predicate(statement.predicate, origin)?;
                if prefixed(&p.request) != Some(request) {
                    return Err(bad("its request field and its request subject differ".into()));
                }
                if p.approvals.iter().any(|a| prefixed(a).is_none())
                    || prefixed(&p.ciphertext).is_none()
                    || Sha256Digest::from_hex(&p.checkpoint.root).is_none()
                {
                    return Err(bad(
                        "not a valid release (an approval, ciphertext or checkpoint digest is malformed)".into()
                    ));
                }
                let time = time(&p.released_at, origin, "releasedAt")?;
                Custody::Release(read.logged(p, subject, time))
            }
        }
    };
    Ok(Some(Parsed { custody, message: pae(&envelope.payload_type, &payload) }))
}

/// Where [`parse`] read a statement: what every [`Logged`] it builds shares.
struct ReadAt {
    index: u64,
    envelope: Sha256Digest,
    payload: Sha256Digest,
}

impl ReadAt {
    /// The statement read here, its signer not looked up yet.
    fn logged<P>(&self, predicate: P, subject: Sha256Digest, time: Timestamp) -> Logged<P> {
        Logged {
            index: self.index,
            envelope: self.envelope,
            payload: self.payload,
            signer: None,
            predicate,
            subject,
            time,
        }
    }
}

/// The request digest and commitment of a decision's or release's subjects.
fn two_subjects(subjects: &[ResourceDescriptor]) -> Option<(Sha256Digest, Sha256Digest)> {
    let [request, sample] = subjects else { return None };
    if request.name.as_deref() != Some(SUBJECT_REQUEST) || request.digest.len() != 1 {
        return None;
    }
    Some((request.sha256()?, sample_commitment(sample)?))
}

/// The commitment of a `sample` subject (exactly one digest, under the commitment's name).
fn sample_commitment(s: &ResourceDescriptor) -> Option<Sha256Digest> {
    if s.name.as_deref() != Some(SUBJECT_SAMPLE) || s.digest.len() != 1 {
        return None;
    }
    s.digest.get(SAMPLE_COMMITMENT).and_then(|d| Sha256Digest::from_hex(d))
}

/// The digest of the one subject named `name` whose only digest is `digest_name`.
fn one_subject(subjects: &[ResourceDescriptor], origin: &str, name: &str, digest_name: &str) -> Result<Sha256Digest> {
    match subjects {
        [s] if s.name.as_deref() == Some(name) && s.digest.len() == 1 => {
            s.digest.get(digest_name).and_then(|d| Sha256Digest::from_hex(d))
        }
        _ => None,
    }
    .ok_or_else(|| {
        Error::invalid(origin, format!("must have exactly one subject {name:?} with a {digest_name} digest"))
    })
}

fn predicate<P: DeserializeOwned>(value: serde_json::Value, origin: &str) -> Result<P> {
    serde_json::from_value(value).map_err(|e| Error::invalid(origin, format!("predicate: {e}")))
}

fn time(text: &str, origin: &str, field: &str) -> Result<Timestamp> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| Error::invalid(origin, format!("{field} {text:?} is not an RFC 3339 UTC time")))
}

/// `sha256:<64 lowercase hex>`.
pub fn prefixed(text: &str) -> Option<Sha256Digest> {
    text.strip_prefix("sha256:").and_then(Sha256Digest::from_hex)
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `text` is a well-formed age X25519 recipient (formats.md section 18): BIP-173 bech32
/// (not bech32m) with human-readable part `age` and a 32-byte payload, in lower case only, as
/// age writes it (`age1` and 58 more characters). BIP-173 also allows all upper case, which
/// would give one recipient two spellings; it is refused.
pub fn is_age_recipient(text: &str) -> bool {
    text.len() < 100 && !text.bytes().any(|b| b.is_ascii_uppercase()) && text.parse::<age::x25519::Recipient>().is_ok()
}

/// The key of `keys` whose signature over `message` verifies: signatures naming a key id are
/// checked against that key only, those without one against each key.
pub fn find_signer(envelope: &Envelope, message: &[u8], keys: &[&TrustedKey]) -> Option<TrustedKey> {
    for s in &envelope.signatures {
        let Ok(sig) = BASE64.decode(&s.sig) else { continue };
        if let Some(k) = candidates(&s.keyid, keys).find(|k| k.key.verify(message, &sig)) {
            return Some(k.clone());
        }
    }
    None
}

/// The first (signature, key) pair [`find_signer`] tries: if it verifies, `find_signer` returns
/// that key. `None` when there is no such pair or its signature is not 64 bytes.
pub fn first_candidate<'k>(envelope: &Envelope, keys: &[&'k TrustedKey]) -> Option<([u8; 64], &'k TrustedKey)> {
    for s in &envelope.signatures {
        let Ok(sig) = BASE64.decode(&s.sig) else { continue };
        if let Some(k) = candidates(&s.keyid, keys).next() {
            return Some((sig.try_into().ok()?, k));
        }
    }
    None
}

/// The keys a signature naming `keyid` is checked against, in order.
fn candidates<'a, 'k>(keyid: &'a str, keys: &'a [&'k TrustedKey]) -> impl Iterator<Item = &'k TrustedKey> + 'a {
    keys.iter().copied().filter(move |k| keyid.is_empty() || k.id.as_str() == keyid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_recipient_is_lower_case_bech32_with_hrp_age_and_32_bytes() {
        let good = age::x25519::Identity::generate().to_public().to_string();
        assert!(good.starts_with("age1") && good.len() == 62 && is_age_recipient(&good), "{good}");
        // BIP-173 allows all upper case; a second spelling of one recipient is refused.
        assert!(!is_age_recipient(&good.to_ascii_uppercase()));
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'q' { b'p' } else { b'q' };
        assert!(!is_age_recipient(std::str::from_utf8(&flipped).unwrap()), "a broken checksum");
        for bad in ["", "age1", "age", &good[..61], &format!("{good}q"), &good.replacen("age1", "agf1", 1)] {
            assert!(!is_age_recipient(bad), "{bad}");
        }
    }
}
