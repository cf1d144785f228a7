//! The `[samples]` section of the trust policy: who may take samples in (center keys), ask for
//! one (requester keys, each with the role and country it speaks for), approve (groups of keys
//! with a threshold each), and release (gateway keys); which reasons and destinations are
//! allowed, how long a request lives, the release quota and the break-glass rules. Validated as
//! strictly as the rest of the policy: a key is one role only (a requester may also approve
//! others' requests), never in two approver groups, and every name is a plain identifier.

use serde::Deserialize;
use std::collections::BTreeSet;

use super::{load_keys, KeyFiles, TrustedKey};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::time::{parse_duration, Period};

/// The validated `[samples]` section.
#[derive(Clone, Debug)]
pub struct SamplesPolicy {
    pub centers: Vec<TrustedKey>,
    pub gateways: Vec<TrustedKey>,
    pub requesters: Vec<RequesterKey>,
    pub approvers: Vec<ApproverGroup>,
    pub reasons: BTreeSet<String>,
    pub destinations: BTreeSet<String>,
    /// The longest a request may live, and its default lifetime (seconds).
    pub request_lifetime: i64,
    pub quota: Option<Quota>,
    pub break_glass: Option<BreakGlass>,
}

/// A requester key and what it speaks for.
#[derive(Clone, Debug)]
pub struct RequesterKey {
    pub key: TrustedKey,
    pub role: String,
    pub country: String,
}

/// One approver group: `required` distinct keys of `keys` must approve.
#[derive(Clone, Debug)]
pub struct ApproverGroup {
    pub name: String,
    pub keys: Vec<TrustedKey>,
    pub required: usize,
    /// A group from outside the vendor, which a break-glass request may skip before release
    /// (its approval is then due within the break-glass window).
    pub outside: bool,
}

/// At most `releases` releases per `period` (UTC calendar periods).
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub period: Period,
    pub releases: u64,
}

/// Break-glass: a request marked so may be released without the outside groups' approvals,
/// which must then be logged within `post_hoc_within` seconds of the release.
#[derive(Clone, Copy, Debug)]
pub struct BreakGlass {
    pub post_hoc_within: i64,
}

impl SamplesPolicy {
    /// The requester entry for `key`, if it is one.
    pub fn requester(&self, key: &PublicKey) -> Option<&RequesterKey> {
        self.requesters.iter().find(|r| r.key.key.as_bytes() == key.as_bytes())
    }

    /// Every key that may sign a decision: approvers and requesters (who may invalidate their own).
    pub fn decision_keys(&self) -> Vec<&TrustedKey> {
        let mut keys: Vec<&TrustedKey> = self.approvers.iter().flat_map(|g| &g.keys).collect();
        for r in &self.requesters {
            if !keys.iter().any(|k| k.id == r.key.id) {
                keys.push(&r.key);
            }
        }
        keys
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSamples {
    centers: Vec<String>,
    gateways: Vec<String>,
    #[serde(default)]
    requesters: Vec<RawRequester>,
    #[serde(default)]
    approvers: Vec<RawGroup>,
    reasons: Vec<String>,
    destinations: Vec<String>,
    request_lifetime: String,
    #[serde(default)]
    quota: Option<RawQuota>,
    #[serde(default)]
    break_glass: Option<RawBreakGlass>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequester {
    key: String,
    role: String,
    country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    group: String,
    keys: Vec<String>,
    required: usize,
    #[serde(default)]
    outside: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    period: String,
    releases: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    post_hoc_within: String,
}

/// A reason code, destination, role or group name: 1 to 64 of `a-z 0-9 - . _`, starting with a
/// letter or digit.
pub fn is_identifier(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        && text.as_bytes()[0].is_ascii_alphanumeric()
}

/// ISO 3166-1 alpha-2: two uppercase letters.
pub fn is_country(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

pub(super) fn parse(raw: RawSamples, files: &KeyFiles<'_>, origin: &str) -> Result<SamplesPolicy> {
    let at = |field: &str| format!("{origin}: [samples] {field}");
    let centers = load_keys(files, origin, "samples.centers", &raw.centers)?;
    let gateways = load_keys(files, origin, "samples.gateways", &raw.gateways)?;
    if centers.is_empty() {
        return Err(Error::invalid(at("centers"), "lists no key: no intake batch could be trusted"));
    }
    if gateways.is_empty() {
        return Err(Error::invalid(at("gateways"), "lists no key: no release could be trusted"));
    }
    let mut requesters: Vec<RequesterKey> = Vec::new();
    for (n, r) in raw.requesters.into_iter().enumerate() {
        let field = format!("requesters[{n}]");
        let key = load_keys(files, origin, &format!("samples.{field}"), std::slice::from_ref(&r.key))?.remove(0);
        if !is_identifier(&r.role) {
            return Err(Error::invalid(at(&format!("{field} role")), "must be 1 to 64 of a-z, 0-9, '-', '.', '_'"));
        }
        if !is_country(&r.country) {
            return Err(Error::invalid(
                at(&format!("{field} country")),
                "must be an ISO 3166-1 alpha-2 code (two uppercase letters)",
            ));
        }
        if requesters.iter().any(|o| o.key.id == key.id) {
            return Err(Error::invalid(at(&field), format!("key {:?} is listed twice", r.key)));
        }
        requesters.push(RequesterKey { key, role: r.role, country: r.country });
    }
    let mut approvers: Vec<ApproverGroup> = Vec::new();
    for (n, g) in raw.approvers.into_iter().enumerate() {
        let field = format!("approvers[{n}]");
        if !is_identifier(&g.group) || approvers.iter().any(|o| o.name == g.group) {
            return Err(Error::invalid(
                at(&format!("{field} group")),
                "must be a unique name of a-z, 0-9, '-', '.', '_'",
            ));
        }
        let keys = load_keys(files, origin, &format!("samples.{field}"), &g.keys)?;
        if g.required == 0 || g.required > keys.len() {
            return Err(Error::invalid(
                at(&format!("{field} required")),
                format!("must be between 1 and the {} keys listed", keys.len()),
            ));
        }
        // One key in two groups would let one approval satisfy both (security team AND
        // outside auditor from a single signature).
        for k in &keys {
            if let Some(other) = approvers.iter().find(|o| o.keys.iter().any(|ok| ok.id == k.id)) {
                return Err(Error::invalid(
                    at(&field),
                    format!("key {:?} is also in group {:?}: a key approves for one group only", k.path, other.name),
                ));
            }
        }
        approvers.push(ApproverGroup { name: g.group, keys, required: g.required, outside: g.outside });
    }
    if approvers.is_empty() {
        return Err(Error::invalid(at("approvers"), "lists no group: any request could be released unapproved"));
    }
    // The gateway and the center vouch for what happened; they must not also ask or approve.
    let others: Vec<(&str, &TrustedKey)> = requesters
        .iter()
        .map(|r| ("a requester", &r.key))
        .chain(approvers.iter().flat_map(|g| g.keys.iter().map(|k| ("an approver", k))))
        .collect();
    for (role, list) in [("gateways", &gateways), ("centers", &centers)] {
        for k in list {
            if let Some((what, _)) = others.iter().find(|(_, o)| o.id == k.id) {
                return Err(Error::invalid(at(role), format!("key {:?} is also {what}: one key, one role", k.path)));
            }
        }
    }
    if let Some(k) = gateways.iter().find(|g| centers.iter().any(|c| c.id == g.id)) {
        return Err(Error::invalid(
            at("gateways"),
            format!("key {:?} is also a center key: one key, one role", k.path),
        ));
    }
    let names = |field: &str, list: Vec<String>| -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for name in list {
            if !is_identifier(&name) {
                return Err(Error::invalid(at(field), format!("{name:?} is not a name of a-z, 0-9, '-', '.', '_'")));
            }
            if !out.insert(name.clone()) {
                return Err(Error::invalid(at(field), format!("{name:?} is listed twice")));
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(at(field), "lists nothing: no request could be released"));
        }
        Ok(out)
    };
    let reasons = names("reasons", raw.reasons)?;
    let destinations = names("destinations", raw.destinations)?;
    let duration = |field: &str, text: &str| {
        parse_duration(text)
            .ok_or_else(|| Error::invalid(at(field), format!("{text:?} is not a duration like 90s, 30m, 72h or 7d")))
    };
    let request_lifetime = duration("request_lifetime", &raw.request_lifetime)?;
    let quota = match raw.quota {
        Some(q) => Some(Quota {
            period: Period::parse(&q.period).ok_or_else(|| {
                Error::invalid(at("quota period"), format!("{:?} is not day, month or year", q.period))
            })?,
            releases: q.releases,
        }),
        None => None,
    };
    let break_glass = match raw.break_glass {
        Some(b) => {
            if !approvers.iter().any(|g| g.outside) {
                return Err(Error::invalid(
                    at("break_glass"),
                    "no approver group is marked outside = true: there is nothing to skip",
                ));
            }
            if approvers.iter().all(|g| g.outside) {
                return Err(Error::invalid(
                    at("break_glass"),
                    "every approver group is outside: a break-glass release would need no approval at all",
                ));
            }
            Some(BreakGlass { post_hoc_within: duration("break_glass post_hoc_within", &b.post_hoc_within)? })
        }
        None => None,
    };
    Ok(SamplesPolicy {
        centers,
        gateways,
        requesters,
        approvers,
        reasons,
        destinations,
        request_lifetime,
        quota,
        break_glass,
    })
}
