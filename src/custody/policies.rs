//! The custody policy's history in the log (formats.md section 18, "Policy statements"): a
//! center key publishes each policy as a signed statement holding its text and key files, and
//! every request is judged under the policy it cites, rebuilt from the log alone. A policy
//! statement counts when it reads strictly, is not a repeat, rebuilds to the digest it claims,
//! and is signed by a center key of the trust root (the policy the reader is given) or of the
//! policy in force at its entry (the newest counted policy statement logged before it): a chain
//! from the trust root, in which a superseded policy's center keys sign nothing more.

use std::collections::{HashMap, HashSet};

use crate::attest::custody::{PolicyStatement, SUBJECT_POLICY};
use crate::attest::dsse::pae;
use crate::attest::{Envelope, ResourceDescriptor, Statement, PAYLOAD_TYPE_INTOTO, SAMPLE_POLICY_V1, STATEMENT_V1};
use crate::custody::audit::Ignored;
use crate::custody::rules::PolicyStatus;
use crate::custody::statements::{find_signer, prefixed};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::policy::samples::SamplesPolicy;
use crate::policy::{Policy, TrustedKey};
use crate::time::Timestamp;

/// Whether a predicate type is the policy statement's.
pub fn is_policy_type(predicate_type: &str) -> bool {
    predicate_type == SAMPLE_POLICY_V1
}

/// Signs the policy statement of `policy` (a custody policy: it has `[samples]`), in force from
/// `effective_at`, with `key`: a center key of `policy` itself or of `previous` (the policy in
/// force before it, whose center keys sign its successor when the center key changes).
pub fn sign_policy(
    policy: &Policy,
    previous: Option<&Policy>,
    effective_at: Timestamp,
    key: &PrivateKey,
) -> Result<Envelope> {
    let Some(samples) = &policy.samples else {
        return Err(Error::invalid(policy.path.display(), "has no [samples] section: it is no custody policy"));
    };
    let public = key.public();
    let centers =
        samples.centers.iter().chain(previous.and_then(|p| p.samples.as_ref()).into_iter().flat_map(|s| &s.centers));
    if !centers.into_iter().any(|k| k.key.as_bytes() == public.as_bytes()) {
        return Err(Error::invalid(
            "--key",
            format!(
                "key {} is not a center key of {}{}: no reader would count the statement",
                public.key_id().as_str(),
                policy.path.display(),
                previous.map_or(String::new(), |p| format!(" or {}", p.path.display()))
            ),
        ));
    }
    let predicate = PolicyStatement {
        policy: policy.text.clone(),
        keys: policy.key_files.clone(),
        effective_at: effective_at.rfc3339(),
    };
    let subject = ResourceDescriptor::named(SUBJECT_POLICY, policy.digest);
    Ok(Statement::new(vec![subject], SAMPLE_POLICY_V1, predicate).sign(key))
}

/// The key paths of `policy` (as its text writes them) that would publish the operator's file
/// layout: absolute paths (`/home/alice/keys/center.pub`), and relative ones that climb out of
/// the policy's directory with `..` (`../../secrets/center.pub`). A policy statement carries
/// every key path as the text writes it (formats.md section 18), so `sample policy` refuses
/// them unless the operator means to publish them.
pub fn operator_paths(policy: &Policy) -> Vec<&str> {
    policy.key_files.keys().map(String::as_str).filter(|rel| reveals_layout(rel)).collect()
}

/// Whether `rel` is absolute or leaves the directory it is relative to.
fn reveals_layout(rel: &str) -> bool {
    use std::path::Component;
    let mut depth = 0usize;
    for component in std::path::Path::new(rel).components() {
        match component {
            Component::RootDir | Component::Prefix(_) => return true,
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    false
}

/// Refuses (bad input, naming the key path) a policy whose key paths [`operator_paths`] finds.
pub fn refuse_operator_paths(policy: &Policy) -> Result<()> {
    let Some((first, rest)) = operator_paths(policy).split_first().map(|(f, r)| (f.to_string(), r.to_vec())) else {
        return Ok(());
    };
    let how = if std::path::Path::new(&first).is_absolute() {
        "is an absolute path"
    } else {
        "climbs out of the policy's directory with `..`"
    };
    let rest: Vec<String> = rest.iter().map(|r| crate::text::escape(r).into_owned()).collect();
    let more = if rest.is_empty() { String::new() } else { format!(" (and so do {})", rest.join(", ")) };
    Err(Error::invalid(
        format!("{}: key path {first}", policy.path.display()),
        format!(
            "{how}{more}: the policy statement publishes the policy's text, and so every key path, in the \
             log, where it would show anyone the operator's file layout; name each key by a path relative to \
             the policy's directory (keys/center.pub), or pass --allow-operator-paths to publish the paths as \
             they are"
        ),
    ))
}

/// A policy statement read strictly, its signer not looked up yet.
pub struct ParsedPolicy {
    /// The policy digest its subject claims.
    pub digest: Sha256Digest,
    /// SHA-256 of the signed payload.
    pub payload: Sha256Digest,
    pub predicate: PolicyStatement,
    pub effective_at: Timestamp,
    /// The DSSE pre-authentication encoding its signatures sign.
    pub message: Vec<u8>,
}

/// Reads a policy statement strictly: exactly one subject `policy.toml` with one `sha256`
/// digest, the predicate's three fields and no other, `effectiveAt` RFC 3339 UTC.
pub fn parse_policy(envelope: &Envelope, origin: &str) -> Result<ParsedPolicy> {
    let bad = |why: String| Error::invalid(origin, why);
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO {
        return Err(bad("its payload is not an in-toto statement".into()));
    }
    let payload = envelope.payload_bytes().map_err(|e| bad(e.to_string()))?;
    let statement: Statement<serde_json::Value> =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("payload is not an in-toto statement ({e})")))?;
    if statement.type_ != STATEMENT_V1 || statement.predicate_type != SAMPLE_POLICY_V1 {
        return Err(bad("not a policy statement".into()));
    }
    let digest = match statement.subject.as_slice() {
        [s] if s.name.as_deref() == Some(SUBJECT_POLICY) && s.digest.len() == 1 => s.sha256(),
        _ => None,
    }
    .ok_or_else(|| bad(format!("must have exactly one subject {SUBJECT_POLICY:?} with a sha256 digest")))?;
    let predicate: PolicyStatement =
        serde_json::from_value(statement.predicate).map_err(|e| bad(format!("predicate: {e}")))?;
    let effective_at = Timestamp::parse_rfc3339(&predicate.effective_at)
        .ok_or_else(|| bad(format!("effectiveAt {:?} is not an RFC 3339 UTC time", predicate.effective_at)))?;
    Ok(ParsedPolicy {
        digest,
        payload: Sha256Digest::of(&payload),
        predicate,
        effective_at,
        message: pae(&envelope.payload_type, &payload),
    })
}

/// A policy statement that counts.
#[derive(Clone, Debug)]
pub struct CountedPolicy {
    pub index: u64,
    pub envelope: Sha256Digest,
    pub digest: Sha256Digest,
    pub effective_at: Timestamp,
    /// The center key that signed it.
    pub signer: TrustedKey,
    /// Which of [`History`]'s rebuilt policies it is.
    policy: usize,
}

/// The custody role a key signs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Center,
    Requester,
    /// Approvers and requesters (who may invalidate their own requests).
    Decider,
    Gateway,
}

/// The keys of each role across the trust root and every counted policy, and from which log
/// index each holds it: a key holds a role from the start if the trust root gives it, else from
/// the entry after the first counted policy statement that gives it.
#[derive(Default)]
pub struct RoleKeys {
    keys: HashMap<Role, Vec<TrustedKey>>,
    since: HashMap<(Role, [u8; 32]), u64>,
}

impl RoleKeys {
    fn add(&mut self, samples: &SamplesPolicy, from: u64) {
        let roles = [
            (Role::Center, samples.centers.iter().collect::<Vec<_>>()),
            (Role::Requester, samples.requesters.iter().map(|r| &r.key).collect()),
            (Role::Decider, samples.decision_keys()),
            (Role::Gateway, samples.gateways.iter().collect()),
        ];
        for (role, keys) in roles {
            for k in keys {
                if let std::collections::hash_map::Entry::Vacant(e) = self.since.entry((role, *k.key.as_bytes())) {
                    e.insert(from);
                    self.keys.entry(role).or_default().push(k.clone());
                }
            }
        }
    }

    /// Every key that holds `role` somewhere in the history (the candidates a signature is
    /// checked against).
    pub fn of(&self, role: Role) -> Vec<&TrustedKey> {
        self.keys.get(&role).map(|k| k.iter().collect()).unwrap_or_default()
    }

    /// Whether `key` holds `role` at log index `index`.
    pub fn holds(&self, role: Role, key: &TrustedKey, index: u64) -> bool {
        self.since.get(&(role, *key.key.as_bytes())).is_some_and(|from| *from <= index)
    }
}

/// The policy history of one log under one trust root, built in log order by [`History::add`].
pub struct History<'p> {
    root: &'p Policy,
    root_samples: &'p SamplesPolicy,
    /// Rebuilt policies, one per digest (a policy logged twice is parsed once).
    policies: Vec<Policy>,
    by_digest: HashMap<Sha256Digest, usize>,
    /// Counted policy statements, in log order.
    counted: Vec<CountedPolicy>,
    seen: HashSet<(Sha256Digest, [u8; 32])>,
    pub ignored: Vec<Ignored>,
    pub roles: RoleKeys,
}

impl<'p> History<'p> {
    /// An empty history under the trust root `root` (a custody policy).
    pub fn new(root: &'p Policy) -> Result<History<'p>> {
        let root_samples = root.samples.as_ref().ok_or_else(|| {
            Error::invalid(root.path.display(), "has no [samples] section: there is no custody policy")
        })?;
        let mut roles = RoleKeys::default();
        roles.add(root_samples, 0);
        Ok(History {
            root,
            root_samples,
            policies: Vec::new(),
            by_digest: HashMap::new(),
            counted: Vec::new(),
            seen: HashSet::new(),
            ignored: Vec::new(),
            roles,
        })
    }

    /// The trust root.
    pub fn root(&self) -> &'p Policy {
        self.root
    }

    /// The counted policy statements, in log order.
    pub fn counted(&self) -> &[CountedPolicy] {
        &self.counted
    }

    /// Takes in the policy statement logged at `index` (envelope line `line`, digest
    /// `envelope`), after every earlier one. One that does not count is listed in `ignored`:
    /// `malformed` (does not read, or its policy does not rebuild), `untrusted`, `repeat` or
    /// `digest-mismatch` (the policy it carries is not the one its subject names).
    pub fn add(&mut self, index: u64, envelope: Sha256Digest, line: &[u8]) {
        if let Err(reason) = self.count(index, envelope, line) {
            self.ignored.push(Ignored { index, reason });
        }
    }

    fn count(&mut self, index: u64, envelope: Sha256Digest, line: &[u8]) -> std::result::Result<(), &'static str> {
        let origin = format!("policy statement at log entry {index}");
        let parsed_envelope: Envelope = serde_json::from_slice(line).map_err(|_| "malformed")?;
        let parsed = parse_policy(&parsed_envelope, &origin).map_err(|_| "malformed")?;
        // The trust root's center keys, then those of the policy in force here.
        let mut centers: Vec<&TrustedKey> = self.root_samples.centers.iter().collect();
        if let Some(now) = self.counted.last() {
            if let Some(s) = &self.policies[now.policy].samples {
                for k in &s.centers {
                    if !centers.iter().any(|c| c.id == k.id) {
                        centers.push(k);
                    }
                }
            }
        }
        let signer = find_signer(&parsed_envelope, &parsed.message, &centers).ok_or("untrusted")?;
        if !self.seen.insert((parsed.payload, *signer.key.as_bytes())) {
            return Err("repeat");
        }
        // A policy logged again is parsed once, if it carries the very same text and keys.
        let cached = self.by_digest.get(&parsed.digest).copied().filter(|&p| {
            self.policies[p].text == parsed.predicate.policy && self.policies[p].key_files == parsed.predicate.keys
        });
        let policy = match cached {
            Some(p) => p,
            None => {
                // The trust root logged as it is (the usual case at a gateway) needs no parsing.
                let same_as_root = parsed.digest == self.root.digest
                    && parsed.predicate.policy == self.root.text
                    && parsed.predicate.keys == self.root.key_files;
                let rebuilt = if same_as_root {
                    self.root.clone()
                } else {
                    Policy::from_logged(&parsed.predicate.policy, &parsed.predicate.keys, &origin)
                        .map_err(|_| "malformed")?
                };
                if rebuilt.samples.is_none() {
                    return Err("malformed");
                }
                if rebuilt.digest != parsed.digest {
                    return Err("digest-mismatch");
                }
                self.policies.push(rebuilt);
                self.by_digest.entry(parsed.digest).or_insert(self.policies.len() - 1);
                self.policies.len() - 1
            }
        };
        if let Some(s) = &self.policies[policy].samples {
            self.roles.add(s, index + 1);
        }
        self.counted.push(CountedPolicy {
            index,
            envelope,
            digest: parsed.digest,
            effective_at: parsed.effective_at,
            signer,
            policy,
        });
        Ok(())
    }

    /// The policy a request logged at `index` citing `cited` (`sha256:<hex>`) is judged under,
    /// and where its policy stands: the cited policy if a counted statement logged before the
    /// request published it (in force or replaced since); otherwise (`Unlogged`) the policy in
    /// force at the request, or the trust root before any policy statement counts.
    pub fn judging(&self, index: u64, cited: &str) -> (&SamplesPolicy, PolicyStatus) {
        let prior = &self.counted[..self.counted.partition_point(|c| c.index < index)];
        let cited = prefixed(cited);
        let samples = |c: &CountedPolicy| self.policies[c.policy].samples.as_ref().unwrap_or(self.root_samples);
        let Some(newest) = prior.last() else { return (self.root_samples, PolicyStatus::Unlogged) };
        match prior.iter().rev().find(|c| Some(c.digest) == cited) {
            Some(c) if c.digest == newest.digest => (samples(c), PolicyStatus::InForce),
            Some(c) => (samples(c), PolicyStatus::Changed { cited_at: c.index, in_force_at: newest.index }),
            None => (samples(newest), PolicyStatus::Unlogged),
        }
    }
}

/// The history of the policy statements `lines` (log index, envelope line; in log order) under
/// the trust root `root`: what the gateway reads from its ledger.
pub fn history_of<'p>(root: &'p Policy, lines: &[(u64, String)]) -> Result<History<'p>> {
    let mut history = History::new(root)?;
    for (index, line) in lines {
        history.add(*index, Sha256Digest::of(line.as_bytes()), line.as_bytes());
    }
    Ok(history)
}

/// A counted policy statement as `sample audit --json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub index: u64,
    /// `sha256:<policy digest>`.
    pub policy: String,
    pub effective_at: String,
    /// The key id of the center key that signed it.
    pub signer: String,
}

impl History<'_> {
    /// The counted policy statements, as `--json` lists them.
    pub fn published(&self) -> Vec<Published> {
        self.counted
            .iter()
            .map(|c| Published {
                index: c.index,
                policy: c.digest.prefixed(),
                effective_at: c.effective_at.rfc3339(),
                signer: c.signer.id.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::reveals_layout;

    #[test]
    fn absolute_paths_and_paths_out_of_the_directory_reveal_the_layout() {
        for rel in ["/home/alice/keys/center.pub", "../keys/center.pub", "keys/../../center.pub", "./../c.pub", "//c"] {
            assert!(reveals_layout(rel), "{rel}");
        }
        for rel in ["keys/center.pub", "center.pub", "./keys/c.pub", "keys/old/../c.pub", "..c.pub", "keys/..c"] {
            assert!(!reveals_layout(rel), "{rel}");
        }
    }
}
