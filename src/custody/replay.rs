//! The audit's replay of the custody statements in log order (formats.md section 18, "The
//! audit"). Only what the policy's keys signed makes history: a statement that no key of its
//! role signed, or that repeats an earlier one (same signed payload and signer, however its
//! envelope was re-wrapped), is listed as ignored and counted nowhere. Each counted release is
//! judged by [`rules::judge`] against what the log held before it, with every broken rule
//! reported, and its own claims (sample, destination, recipient, break-glass, approvals) are
//! checked against its request; its checkpoint is checked by the caller, which has the tree.
//! Each request is judged under the policy it cites, rebuilt from the log's policy statements
//! ([`History`]), never under a policy changed since.

use std::collections::{BTreeMap, HashMap};

use crate::attest::custody::{Decision, DecisionKind, Intake, Release, Request};
use crate::custody::audit::{Counts, Ignored, Latency, Options, PeriodStats, Violation};
use crate::custody::policies::History;
use crate::custody::rules::{self, Case, PolicyStatus, RefusalKind};
use crate::custody::statements::{prefixed, Custody, Identity, Logged};
use crate::digest::Sha256Digest;
use crate::policy::samples::SamplesPolicy;
use crate::time::{Period, Timestamp};

/// What the log says about one request envelope so far.
struct RequestState<'a> {
    logged: &'a Logged<Request>,
    /// The policy it is judged under, and where the policy it cites stands.
    policy: &'a SamplesPolicy,
    status: PolicyStatus,
    /// The earlier request this one repeats.
    repeat_of: Option<u64>,
    /// Signed by a requester key with the role and country it claims, and not a repeat.
    counts: bool,
    /// The first counted release of it.
    released: Option<u64>,
}

/// A release's checkpoint claim, checked against the log's tree once the replay is done.
pub struct CheckpointClaim {
    pub index: u64,
    pub size: u64,
    pub root: String,
    pub time: Timestamp,
}

/// The replay's answer.
pub struct Replayed {
    pub periods: Vec<PeriodStats>,
    pub violations: Vec<Violation>,
    pub ignored: Vec<Ignored>,
    pub checkpoints: Vec<CheckpointClaim>,
    /// The clock the expiries and post-hoc windows were judged against.
    pub now: Timestamp,
}

/// The replay in log order.
pub struct Replay<'a> {
    history: &'a History<'a>,
    options: &'a Options,
    /// The first entry of each statement identity.
    seen: HashMap<Identity, u64>,
    intakes: HashMap<u64, &'a Logged<Intake>>,
    requests: HashMap<Sha256Digest, RequestState<'a>>,
    /// Decisions signed by a policy key, not repeats, by request digest, in log order.
    decisions: HashMap<Sha256Digest, Vec<&'a Logged<Decision>>>,
    /// Counted releases per UTC day, month and year (by their names, which never collide), so
    /// that any policy's quota period can be judged.
    quota: HashMap<String, u64>,
    /// Break-glass releases whose post-hoc approval is checked at the end: (release index,
    /// request, releasedAt).
    post_hoc: Vec<(u64, Sha256Digest, Timestamp)>,
    stats: BTreeMap<String, PeriodStats>,
    violations: Vec<Violation>,
    ignored: Vec<Ignored>,
    checkpoints: Vec<CheckpointClaim>,
    newest: Option<Timestamp>,
}

impl<'a> Replay<'a> {
    pub fn new(history: &'a History<'a>, options: &'a Options) -> Replay<'a> {
        Replay {
            history,
            options,
            seen: HashMap::new(),
            intakes: HashMap::new(),
            requests: HashMap::new(),
            decisions: HashMap::new(),
            quota: HashMap::new(),
            post_hoc: Vec::new(),
            stats: BTreeMap::new(),
            violations: Vec::new(),
            ignored: Vec::new(),
            checkpoints: Vec::new(),
            newest: None,
        }
    }

    /// The statistics of `t`'s period, if `t` is in range.
    fn at(&mut self, t: Timestamp) -> Option<&mut PeriodStats> {
        if !self.options.in_range(t) {
            return None;
        }
        let period = t.period(self.options.period);
        Some(self.stats.entry(period.clone()).or_insert_with(|| PeriodStats { period, ..Default::default() }))
    }

    fn violation(&mut self, index: u64, time: Timestamp, kind: &str, detail: impl Into<String>) {
        if self.options.in_range(time) {
            self.violations.push(Violation { index, kind: kind.into(), detail: detail.into() });
        }
    }

    pub fn ignore(&mut self, index: u64, reason: &'static str) {
        self.ignored.push(Ignored { index, reason });
    }

    /// A release a gateway key signed that does not decode.
    pub fn malformed_release(&mut self, index: u64, detail: String) {
        self.violations.push(Violation { index, kind: "malformed-release".into(), detail });
    }

    fn counted(&mut self, t: Timestamp) {
        self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
    }

    pub fn step(&mut self, custody: &'a Custody) {
        let index = custody.index();
        let first = *self.seen.entry(custody.identity()).or_insert(index);
        let repeat = (first != index).then_some(first);
        if let Custody::Request(r) = custody {
            // Every request envelope is remembered, so that a release of an untrusted or
            // repeated one is judged `untrusted-request`, not `no-request`. Its role and country
            // are those the policy it is judged under gives its key.
            let (policy, status) = self.history.judging(r.index, &r.predicate.policy);
            let counts = repeat.is_none()
                && r.signer.as_ref().and_then(|k| policy.requester(&k.key)).is_some_and(|q| {
                    q.role == r.predicate.requester.role && q.country == r.predicate.requester.country
                });
            self.requests.entry(r.envelope).or_insert(RequestState {
                logged: r,
                policy,
                status,
                repeat_of: repeat,
                counts,
                released: None,
            });
        }
        if custody.signer().is_none() {
            return self.ignore(index, "untrusted");
        }
        if repeat.is_some() {
            return self.ignore(index, "repeat");
        }
        match custody {
            Custody::Intake(l) => {
                self.counted(l.time);
                self.intakes.insert(l.index, l);
                if let Some(s) = self.at(l.time) {
                    s.batches += 1;
                    s.samples_in += l.predicate.count;
                }
            }
            Custody::Request(l) => {
                if !self.requests.get(&l.envelope).is_some_and(|s| s.counts) {
                    return self.ignore(index, "role-mismatch");
                }
                self.counted(l.time);
                if let Some(s) = self.at(l.time) {
                    s.requests += 1;
                    s.break_glass.requests += u64::from(l.predicate.break_glass);
                    for (map, key) in request_breakdown(s, &l.predicate) {
                        map.entry(key).or_default().requests += 1;
                    }
                }
            }
            Custody::Decision(l) => self.decision(l),
            Custody::Release(l) => self.release(l),
        }
    }

    fn decision(&mut self, l: &'a Logged<Decision>) {
        let Some(request) = prefixed(&l.predicate.request) else { return self.ignore(l.index, "no-request") };
        self.decisions.entry(request).or_default().push(l);
        let Some(state) = self.requests.get(&request).filter(|s| s.counts) else {
            return self.ignore(l.index, "no-request");
        };
        let requested = state.logged.time;
        if let Some(why) = rules::decision_ignored(state.policy, state.logged, l) {
            return self.ignore(l.index, why);
        }
        self.counted(l.time);
        if let Some(s) = self.at(l.time) {
            match l.predicate.decision {
                DecisionKind::Approve => {
                    s.approvals += 1;
                    s.latencies.push(l.time.0.saturating_sub(requested.0));
                }
                DecisionKind::Deny => s.denials += 1,
                DecisionKind::Invalidate => s.invalidations += 1,
            }
        }
    }

    fn release(&mut self, r: &'a Logged<Release>) {
        let p = &r.predicate;
        self.counted(r.time);
        self.checkpoints.push(CheckpointClaim {
            index: r.index,
            size: p.checkpoint.size,
            root: p.checkpoint.root.clone(),
            time: r.time,
        });
        let request_digest = prefixed(&p.request);
        // Every counted release uses the quota of its own period, proper or not, whatever policy
        // its request was made under.
        let quota_period = request_digest
            .and_then(|d| self.requests.get(&d))
            .and_then(|s| s.policy.quota)
            .map(|q| r.time.period(q.period));
        let in_period = quota_period.and_then(|q| self.quota.get(&q).copied()).unwrap_or(0);
        for period in [Period::Day, Period::Month, Period::Year] {
            *self.quota.entry(r.time.period(period)).or_default() += 1;
        }
        // Counted by its own signed fields; reason, role and country only from a request that
        // counts (never from claims no policy key made).
        let attributed =
            request_digest.and_then(|d| self.requests.get(&d)).filter(|s| s.counts).map(|s| s.logged.predicate.clone());
        if let Some(s) = self.at(r.time) {
            s.releases += 1;
            s.break_glass.releases += u64::from(p.break_glass);
            s.by_destination.entry(p.destination.clone()).or_default().releases += 1;
            if let Some(q) = &attributed {
                for (map, key) in [
                    (&mut s.by_reason, q.reason.clone()),
                    (&mut s.by_role, q.requester.role.clone()),
                    (&mut s.by_country, q.requester.country.clone()),
                ] {
                    map.entry(key).or_default().releases += 1;
                }
            }
        }
        let Some(state) = request_digest.and_then(|d| self.requests.get(&d)) else {
            return self.violation(
                r.index,
                r.time,
                "no-request",
                format!("no request {} was logged before the release", p.request),
            );
        };
        let request = state.logged;
        let (repeat_of, released_before, policy, status) =
            (state.repeat_of, state.released, state.policy, state.status);
        let all = self.decisions.get(&request.envelope).cloned().unwrap_or_default();
        let case = Case {
            request,
            policy: status,
            repeat_of,
            intake: self.intakes.get(&request.predicate.intake.log_index).copied(),
            decisions: all.clone(),
            released_before,
            releases_in_period: in_period,
        };
        let judgement = rules::judge(policy, &case, r.time);
        for refusal in &judgement.refusals {
            self.violation(r.index, r.time, refusal.kind.name(), refusal.detail.clone());
        }
        if judgement.refusals.is_empty() && request.predicate.break_glass && !judgement.waived.is_empty() {
            self.post_hoc.push((r.index, request.envelope, r.time));
        }
        let q = &request.predicate;
        if r.subject != request.subject
            || p.destination != q.destination
            || p.recipient != q.recipient
            || p.break_glass != q.break_glass
        {
            self.violation(
                r.index,
                r.time,
                "release-mismatch",
                "the release's sample, destination, recipient or breakGlass differ from its request's",
            );
        }
        // The approvals that counted at the checkpoint the release says it was judged under.
        let before: Vec<&Logged<Decision>> = all.into_iter().filter(|d| d.index < p.checkpoint.size).collect();
        let counted: Vec<String> =
            rules::counted_approvals(policy, request, &before).iter().map(Sha256Digest::prefixed).collect();
        if counted != p.approvals {
            self.violation(
                r.index,
                r.time,
                "approvals-mismatch",
                format!(
                    "the release lists {} approval(s), but {} counted at its checkpoint (size {}): {}",
                    p.approvals.len(),
                    counted.len(),
                    p.checkpoint.size,
                    if counted.is_empty() { "none".to_string() } else { counted.join(", ") }
                ),
            );
        }
        if let Some(state) = self.requests.get_mut(&request.envelope) {
            state.released.get_or_insert(r.index);
        }
    }

    /// Judges what needs the clock: overdue post-hoc approvals and expiries, as of `now`, or
    /// without one as of the newest own time of a statement that counts (the epoch if none).
    pub fn finish(mut self, now: Option<Timestamp>) -> Replayed {
        let now = now.or(self.newest).unwrap_or(Timestamp(0));
        for (index, request, released_at) in std::mem::take(&mut self.post_hoc) {
            let Some(state) = self.requests.get(&request) else { continue };
            let decisions = self.decisions.get(&request).cloned().unwrap_or_default();
            if rules::post_hoc_approved(state.policy, state.logged, released_at, &decisions, now) == Some(false) {
                let window = state.policy.break_glass.map_or(0, |b| b.post_hoc_within);
                self.violation(
                    index,
                    released_at,
                    "break-glass-overdue",
                    format!(
                        "a break-glass release whose outside approvals were due by {} and are not in the log",
                        Timestamp(released_at.0.saturating_add(window)).rfc3339()
                    ),
                );
            }
        }
        let expired: Vec<Timestamp> = self
            .requests
            .values()
            .filter(|r| r.counts && r.released.is_none())
            .filter_map(|r| Timestamp::parse_rfc3339(&r.logged.predicate.expires_at))
            .filter(|t| *t <= now)
            .collect();
        for t in expired {
            if let Some(s) = self.at(t) {
                s.expired += 1;
            }
        }
        let mut periods: Vec<PeriodStats> = self.stats.into_values().collect();
        for s in &mut periods {
            s.release_rate = (s.samples_in > 0).then(|| s.releases as f64 / s.samples_in as f64);
            s.latencies.sort_unstable();
            let pick = |p: usize| -> Option<i64> {
                let n = s.latencies.len();
                // Nearest rank: the ceil(p/100 * n)-th smallest.
                (n > 0).then(|| s.latencies[(p * n).div_ceil(100).clamp(1, n) - 1])
            };
            s.approval_latency =
                Latency { count: s.latencies.len() as u64, p50: pick(50), p90: pick(90), p99: pick(99) };
        }
        Replayed { periods, violations: self.violations, ignored: self.ignored, checkpoints: self.checkpoints, now }
    }
}

/// The four breakdowns a counted request is counted in, with its key in each.
fn request_breakdown<'s>(s: &'s mut PeriodStats, r: &Request) -> [(&'s mut BTreeMap<String, Counts>, String); 4] {
    [
        (&mut s.by_reason, r.reason.clone()),
        (&mut s.by_destination, r.destination.clone()),
        (&mut s.by_role, r.requester.role.clone()),
        (&mut s.by_country, r.requester.country.clone()),
    ]
}

/// Where a violation kind comes in the list of one entry's violations (formats.md section 18):
/// `no-request`, the rules in rule order, then the release's own claims, then the clock's.
pub fn kind_rank(kind: &str) -> u8 {
    const RULES: [RefusalKind; 13] = [
        RefusalKind::PolicyUnlogged,
        RefusalKind::PolicyChanged,
        RefusalKind::UntrustedRequest,
        RefusalKind::NotInIntake,
        RefusalKind::AlreadyReleased,
        RefusalKind::ReasonNotAllowed,
        RefusalKind::DestinationNotAllowed,
        RefusalKind::Expired,
        RefusalKind::Denied,
        RefusalKind::Invalidated,
        RefusalKind::BreakGlassNotAllowed,
        RefusalKind::QuotaExceeded,
        RefusalKind::MissingApprovals,
    ];
    if let Some(i) = RULES.iter().position(|k| k.name() == kind) {
        return 1 + i as u8;
    }
    match kind {
        "no-request" => 0,
        "release-mismatch" => 20,
        "approvals-mismatch" => 21,
        "checkpoint-mismatch" => 22,
        "break-glass-overdue" => 23,
        _ => 30,
    }
}
