//! The release rules, in one place: the gateway applies them before a release and `sample
//! audit` applies them again to every release in the log, so the two can never disagree about
//! what a proper release is. Approvals count distinct public keys of each group (never key-id
//! strings), never the requester's own, and only decisions logged before the point in the log
//! being judged.

use std::collections::BTreeSet;

use crate::attest::custody::Decision;
use crate::attest::custody::{DecisionKind, Intake, Request};
use crate::custody::commitment::proves;
use crate::custody::statements::{prefixed, Logged};
use crate::digest::Sha256Digest;
use crate::policy::samples::SamplesPolicy;
use crate::time::Timestamp;

/// Where the policy a request cites stands in the log's policy history, at the request's own
/// entry (formats.md section 18, "The policy in force").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyStatus {
    /// The newest counted policy statement logged before the request is the one it cites.
    InForce,
    /// A counted policy statement logged before the request (at `cited_at`) is the one it
    /// cites, but a newer counted one (at `in_force_at`) with another digest had replaced it.
    Changed { cited_at: u64, in_force_at: u64 },
    /// No counted policy statement logged before the request has the digest it cites.
    Unlogged,
}

/// Everything the log says about one request, as of a point in the log.
pub struct Case<'a> {
    pub request: &'a Logged<Request>,
    /// The policy the request cites, in the log's policy history.
    pub policy: PolicyStatus,
    /// The log index of an earlier request this one repeats (same payload and signer): a
    /// repeat is no request of its own.
    pub repeat_of: Option<u64>,
    /// The entry at `request.intake.logIndex`, if it is an intake statement that counts (signed
    /// by a center key, not a repeat).
    pub intake: Option<&'a Logged<Intake>>,
    /// Decisions about this request logged before the point judged.
    pub decisions: Vec<&'a Logged<Decision>>,
    /// The index of a release of this request logged before the point judged.
    pub released_before: Option<u64>,
    /// Releases (of any request) already counted in the quota period of the time judged.
    pub releases_in_period: u64,
}

/// Why a release is refused (the gateway) or a violation (the audit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub detail: String,
}

/// The kinds, in the order [`judge`] reports them (formats.md section 18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// The request cites a policy no counted policy statement logged before it has.
    PolicyUnlogged,
    /// The request cites a policy that a newer counted policy statement had replaced before it.
    PolicyChanged,
    /// The request is not signed by a requester key, claims another role or country, or
    /// repeats an earlier request.
    UntrustedRequest,
    /// The sample's commitment is not proven to be in a center-signed intake batch logged
    /// before the request.
    NotInIntake,
    AlreadyReleased,
    ReasonNotAllowed,
    DestinationNotAllowed,
    Expired,
    Denied,
    Invalidated,
    BreakGlassNotAllowed,
    QuotaExceeded,
    MissingApprovals,
}

impl RefusalKind {
    /// The kebab-case name the JSON and the messages use (`missing-approvals`).
    pub fn name(self) -> &'static str {
        match self {
            RefusalKind::PolicyUnlogged => "policy-unlogged",
            RefusalKind::PolicyChanged => "policy-changed",
            RefusalKind::UntrustedRequest => "untrusted-request",
            RefusalKind::NotInIntake => "not-in-intake",
            RefusalKind::AlreadyReleased => "already-released",
            RefusalKind::ReasonNotAllowed => "reason-not-allowed",
            RefusalKind::DestinationNotAllowed => "destination-not-allowed",
            RefusalKind::Expired => "expired",
            RefusalKind::Denied => "denied",
            RefusalKind::Invalidated => "invalidated",
            RefusalKind::BreakGlassNotAllowed => "break-glass-not-allowed",
            RefusalKind::QuotaExceeded => "quota-exceeded",
            RefusalKind::MissingApprovals => "missing-approvals",
        }
    }
}

/// The rules applied to a case: every rule it breaks (empty: a proper release), and the
/// approvals that count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Every broken rule, in rule order; `missing-approvals` once per group that is short.
    pub refusals: Vec<Refusal>,
    /// The counted approval envelopes, in log order (what a release lists as `approvals`).
    pub approvals: Vec<Sha256Digest>,
    /// Groups a break-glass request skipped (their approvals are due post hoc).
    pub waived: Vec<String>,
}

fn refuse(kind: RefusalKind, detail: impl Into<String>) -> Refusal {
    Refusal { kind, detail: detail.into() }
}

/// Why a decision counts for nothing, or `None` if it counts for its request: it must be
/// signed by a policy key, logged after the request, name the request's sample, and its signer
/// must be allowed that decision (approve: a key of an approver group other than the
/// requester's; deny: an approver key; invalidate: an approver key or the request's own
/// requester's).
pub fn decision_ignored(
    policy: &SamplesPolicy,
    request: &Logged<Request>,
    d: &Logged<Decision>,
) -> Option<&'static str> {
    let Some(signer) = &d.signer else { return Some("untrusted") };
    if d.index <= request.index && request.index != u64::MAX {
        return Some("before-request");
    }
    if d.subject != request.subject {
        return Some("sample-mismatch");
    }
    let key = signer.key.as_bytes();
    let approver = policy.approvers.iter().any(|g| g.keys.iter().any(|k| k.key.as_bytes() == key));
    let requester = request.signer.as_ref().is_some_and(|k| k.key.as_bytes() == key);
    let allowed = match d.predicate.decision {
        DecisionKind::Approve => approver && !requester,
        DecisionKind::Deny => approver,
        DecisionKind::Invalidate => approver || requester,
    };
    (!allowed).then_some("not-allowed")
}

/// Per approver group: the distinct keys that approved among `decisions` (only those that
/// count), and those approvals (the first of each key), in log order.
fn group_approvals(
    policy: &SamplesPolicy,
    request: &Logged<Request>,
    decisions: &[&Logged<Decision>],
) -> Vec<(usize, Vec<(u64, Sha256Digest)>)> {
    policy
        .approvers
        .iter()
        .map(|group| {
            let mut keys = BTreeSet::new();
            let mut approvals = Vec::new();
            for d in decisions.iter().filter(|d| d.predicate.decision == DecisionKind::Approve) {
                if decision_ignored(policy, request, d).is_some() {
                    continue;
                }
                let Some(k) = &d.signer else { continue };
                if group.keys.iter().any(|gk| gk.key.as_bytes() == k.key.as_bytes()) && keys.insert(*k.key.as_bytes()) {
                    approvals.push((d.index, d.envelope));
                }
            }
            (keys.len(), approvals)
        })
        .collect()
}

/// The approvals that count among `decisions`, in log order: what a proper release lists.
pub fn counted_approvals(
    policy: &SamplesPolicy,
    request: &Logged<Request>,
    decisions: &[&Logged<Decision>],
) -> Vec<Sha256Digest> {
    let mut all: Vec<(u64, Sha256Digest)> =
        group_approvals(policy, request, decisions).into_iter().flat_map(|(_, a)| a).collect();
    all.sort();
    all.into_iter().map(|(_, d)| d).collect()
}

/// Applies every rule to `case` at time `at` (the gateway's clock, or a release's time) and
/// reports each one broken, in rule order.
pub fn judge(policy: &SamplesPolicy, case: &Case<'_>, at: Timestamp) -> Judgement {
    use RefusalKind::*;
    let mut refusals = Vec::new();
    let request = case.request;
    let p = &request.predicate;
    // Rule 0: the policy the request was made under is the one the log shows in force then.
    match case.policy {
        PolicyStatus::InForce => {}
        PolicyStatus::Unlogged => refusals.push(refuse(
            PolicyUnlogged,
            format!("the request cites policy {}, which no policy statement logged before it publishes", p.policy),
        )),
        PolicyStatus::Changed { cited_at, in_force_at } => refusals.push(refuse(
            PolicyChanged,
            format!(
                "the request cites policy {} (logged at entry {cited_at}), which the policy logged at entry {in_force_at} had replaced",
                p.policy
            ),
        )),
    }
    // Rule 1: a requester key, speaking for the role and country the policy gives it.
    match request.signer.as_ref().and_then(|s| policy.requester(&s.key)) {
        None => refusals.push(refuse(UntrustedRequest, "the request is not signed by a requester key of the policy")),
        Some(requester) if requester.role != p.requester.role || requester.country != p.requester.country => refusals
            .push(refuse(
                UntrustedRequest,
                format!(
                    "the request claims role {:?} in {:?}, but the policy gives its key role {:?} in {:?}",
                    p.requester.role, p.requester.country, requester.role, requester.country
                ),
            )),
        Some(_) => {
            if let Some(first) = case.repeat_of {
                refusals.push(refuse(
                    UntrustedRequest,
                    format!("the request repeats the request logged at entry {first} (same payload and signer)"),
                ));
            }
        }
    }
    // Rule 2: proven in a center-signed batch logged before the request.
    match case.intake {
        Some(intake)
            if intake.signer.is_some()
                && intake.index == p.intake.log_index
                && intake.index < request.index
                && prefixed(&p.intake.envelope) == Some(intake.envelope)
                && p.intake.batch_root == intake.subject.hex()
                && p.intake.batch_size == intake.predicate.count
                && proves(&p.intake, &request.subject) => {}
        _ => refusals.push(refuse(
            NotInIntake,
            format!(
                "the sample is not proven to be in a center-signed intake batch logged at entry {} before the request",
                p.intake.log_index
            ),
        )),
    }
    // Rule 3.
    if let Some(index) = case.released_before {
        refusals.push(refuse(AlreadyReleased, format!("the request was already released (log entry {index})")));
    }
    // Rule 4.
    if !policy.reasons.contains(&p.reason) {
        refusals.push(refuse(ReasonNotAllowed, format!("reason {:?} is not one the policy allows", p.reason)));
    }
    if !policy.destinations.contains(&p.destination) {
        refusals.push(refuse(
            DestinationNotAllowed,
            format!("destination {:?} is not one the policy allows", p.destination),
        ));
    }
    // Rule 5: at expiresAt the request has expired.
    let expires = Timestamp::parse_rfc3339(&p.expires_at).unwrap_or(Timestamp(i64::MIN));
    if expires.0.saturating_sub(request.time.0) > policy.request_lifetime {
        refusals.push(refuse(Expired, "the request asks to live longer than the policy's request_lifetime"));
    } else if at >= expires {
        refusals.push(refuse(Expired, format!("the request expired at {}", p.expires_at)));
    } else if at < request.time {
        refusals.push(refuse(Expired, format!("the release is dated before the request ({})", p.requested_at)));
    }
    // Rule 6: only decisions that count (by keys allowed to make them).
    let counted: Vec<&&Logged<Decision>> =
        case.decisions.iter().filter(|d| decision_ignored(policy, request, d).is_none()).collect();
    if let Some(d) = counted.iter().find(|d| d.predicate.decision == DecisionKind::Deny) {
        refusals.push(refuse(Denied, format!("denied at log entry {}: {}", d.index, d.predicate.why)));
    }
    if let Some(d) = counted.iter().find(|d| d.predicate.decision == DecisionKind::Invalidate) {
        refusals.push(refuse(Invalidated, format!("invalidated at log entry {}", d.index)));
    }
    // Rule 7.
    if p.break_glass && policy.break_glass.is_none() {
        refusals.push(refuse(BreakGlassNotAllowed, "the request is break-glass, which the policy does not allow"));
    }
    // Rule 8.
    if let Some(q) = policy.quota {
        if case.releases_in_period >= q.releases {
            refusals.push(refuse(
                QuotaExceeded,
                format!(
                    "{} releases already in {} (quota {})",
                    case.releases_in_period,
                    at.period(q.period),
                    q.releases
                ),
            ));
        }
    }
    // Rule 9: one refusal per group that is short.
    let mut waived = Vec::new();
    for (group, (keys, _)) in policy.approvers.iter().zip(group_approvals(policy, request, &case.decisions)) {
        if keys >= group.required {
            continue;
        }
        if p.break_glass && group.outside && policy.break_glass.is_some() {
            waived.push(group.name.clone());
        } else {
            refusals.push(refuse(
                MissingApprovals,
                format!(
                    "group {:?} needs {} approval(s) by distinct keys other than the requester's, and has {keys}",
                    group.name, group.required
                ),
            ));
        }
    }
    Judgement { refusals, approvals: counted_approvals(policy, request, &case.decisions), waived }
}

/// Whether the outside groups a break-glass release skipped have approved since, within the
/// window: `Some(true)` yes, `Some(false)` overdue at `now`, `None` still within the window.
pub fn post_hoc_approved(
    policy: &SamplesPolicy,
    request: &Logged<Request>,
    released_at: Timestamp,
    decisions: &[&Logged<Decision>],
    now: Timestamp,
) -> Option<bool> {
    let window = policy.break_glass.map_or(0, |b| b.post_hoc_within);
    let deadline = Timestamp(released_at.0.saturating_add(window));
    let met = policy.approvers.iter().filter(|g| g.outside).all(|group| {
        let keys: BTreeSet<[u8; 32]> = decisions
            .iter()
            .filter(|d| d.predicate.decision == DecisionKind::Approve && d.time <= deadline)
            .filter(|d| decision_ignored(policy, request, d).is_none())
            .filter_map(|d| d.signer.as_ref().map(|k| *k.key.as_bytes()))
            .filter(|k| group.keys.iter().any(|gk| gk.key.as_bytes() == k))
            .collect();
        keys.len() >= group.required
    });
    if met {
        Some(true)
    } else if now > deadline {
        Some(false)
    } else {
        None
    }
}
