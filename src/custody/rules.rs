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

/// Everything the log says about one request, as of a point in the log.
pub struct Case<'a> {
    pub request: &'a Logged<Request>,
    /// The entry at `request.intake.logIndex`, if it is an intake statement.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// The request is not signed by a requester key, or claims another role or country.
    UntrustedRequest,
    /// The sample's commitment is not proven to be in a center-signed intake batch in the log.
    NotInIntake,
    Denied,
    Invalidated,
    Expired,
    ReasonNotAllowed,
    DestinationNotAllowed,
    QuotaExceeded,
    MissingApprovals,
    BreakGlassNotAllowed,
    AlreadyReleased,
}

/// What a release may go ahead on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approved {
    /// The counted approval envelopes, in log order.
    pub approvals: Vec<Sha256Digest>,
    /// Groups a break-glass request skipped (their approvals are due post hoc).
    pub waived: Vec<String>,
}

fn refuse(kind: RefusalKind, detail: impl Into<String>) -> Refusal {
    Refusal { kind, detail: detail.into() }
}

/// Applies every rule to `case` at time `at` (the gateway's clock, or a release's time).
pub fn judge(policy: &SamplesPolicy, case: &Case<'_>, at: Timestamp) -> Result<Approved, Refusal> {
    use RefusalKind::*;
    let request = case.request;
    let p = &request.predicate;
    let Some(signer) = &request.signer else {
        return Err(refuse(UntrustedRequest, "the request is not signed by a requester key of the policy"));
    };
    let Some(requester) = policy.requester(&signer.key) else {
        return Err(refuse(UntrustedRequest, "the request is not signed by a requester key of the policy"));
    };
    if requester.role != p.requester.role || requester.country != p.requester.country {
        return Err(refuse(
            UntrustedRequest,
            format!(
                "the request claims role {:?} in {:?}, but the policy gives its key role {:?} in {:?}",
                p.requester.role, p.requester.country, requester.role, requester.country
            ),
        ));
    }
    match case.intake {
        Some(intake)
            if intake.signer.is_some()
                && intake.index == p.intake.log_index
                && prefixed(&p.intake.envelope) == Some(intake.envelope)
                && p.intake.batch_root == intake.subject.hex()
                && p.intake.batch_size == intake.predicate.count
                && proves(&p.intake, &request.subject) => {}
        _ => {
            return Err(refuse(
                NotInIntake,
                format!(
                    "the sample is not proven to be in a center-signed intake batch at log entry {}",
                    p.intake.log_index
                ),
            ))
        }
    }
    if let Some(index) = case.released_before {
        return Err(refuse(AlreadyReleased, format!("the request was already released (log entry {index})")));
    }
    if !policy.reasons.contains(&p.reason) {
        return Err(refuse(ReasonNotAllowed, format!("reason {:?} is not one the policy allows", p.reason)));
    }
    if !policy.destinations.contains(&p.destination) {
        return Err(refuse(
            DestinationNotAllowed,
            format!("destination {:?} is not one the policy allows", p.destination),
        ));
    }
    let expires = Timestamp::parse_rfc3339(&p.expires_at).unwrap_or(Timestamp(i64::MIN));
    if expires.0.saturating_sub(request.time.0) > policy.request_lifetime {
        return Err(refuse(Expired, "the request asks to live longer than the policy's request_lifetime"));
    }
    if at >= expires {
        return Err(refuse(Expired, format!("the request expired at {}", p.expires_at)));
    }
    if at < request.time {
        return Err(refuse(Expired, format!("the release is dated before the request ({})", p.requested_at)));
    }
    // Decisions by keys the policy does not trust are ignored: anyone may append to the log.
    let trusted: Vec<&&Logged<Decision>> = case.decisions.iter().filter(|d| d.signer.is_some()).collect();
    let is_requester =
        |d: &Logged<Decision>| d.signer.as_ref().is_some_and(|k| k.key.as_bytes() == signer.key.as_bytes());
    let is_approver = |d: &Logged<Decision>| {
        d.signer.as_ref().is_some_and(|k| policy.approvers.iter().any(|g| g.keys.iter().any(|gk| gk.id == k.id)))
    };
    if let Some(d) = trusted.iter().find(|d| d.predicate.decision == DecisionKind::Deny && is_approver(d)) {
        return Err(refuse(Denied, format!("denied at log entry {}: {}", d.index, d.predicate.why)));
    }
    if let Some(d) =
        trusted.iter().find(|d| d.predicate.decision == DecisionKind::Invalidate && (is_approver(d) || is_requester(d)))
    {
        return Err(refuse(Invalidated, format!("invalidated at log entry {}", d.index)));
    }
    if p.break_glass && policy.break_glass.is_none() {
        return Err(refuse(BreakGlassNotAllowed, "the request is break-glass, which the policy does not allow"));
    }
    if let Some(q) = policy.quota {
        if case.releases_in_period >= q.releases {
            return Err(refuse(
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
    let mut approvals = Vec::new();
    let mut waived = Vec::new();
    for group in &policy.approvers {
        let mut keys = BTreeSet::new();
        let mut group_approvals = Vec::new();
        for d in trusted.iter().filter(|d| d.predicate.decision == DecisionKind::Approve && !is_requester(d)) {
            let Some(k) = &d.signer else { continue };
            if group.keys.iter().any(|gk| gk.key.as_bytes() == k.key.as_bytes()) && keys.insert(*k.key.as_bytes()) {
                group_approvals.push((d.index, d.envelope));
            }
        }
        if keys.len() >= group.required {
            approvals.extend(group_approvals);
        } else if p.break_glass && group.outside {
            approvals.extend(group_approvals);
            waived.push(group.name.clone());
        } else {
            return Err(refuse(
                MissingApprovals,
                format!(
                    "group {:?} needs {} approval(s) by distinct keys other than the requester's, and has {}",
                    group.name,
                    group.required,
                    keys.len()
                ),
            ));
        }
    }
    approvals.sort();
    Ok(Approved { approvals: approvals.into_iter().map(|(_, d)| d).collect(), waived })
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
    let requester = request.signer.as_ref().map(|k| *k.key.as_bytes());
    let met = policy.approvers.iter().filter(|g| g.outside).all(|group| {
        let keys: BTreeSet<[u8; 32]> = decisions
            .iter()
            .filter(|d| d.predicate.decision == DecisionKind::Approve && d.time <= deadline)
            .filter_map(|d| d.signer.as_ref().map(|k| *k.key.as_bytes()))
            .filter(|k| Some(*k) != requester && group.keys.iter().any(|gk| gk.key.as_bytes() == k))
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
