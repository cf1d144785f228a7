//! The custody page's releases: the table of the gateway's release statements and, for each
//! release, a `<details>` block with the request it was made on (reason, the requester's role and
//! country, destination, times, break-glass) and the approvals it lists (each approver's key and
//! the group the policy puts it in). Every row is a statement row the browser checks; that a
//! block's request and approvals are the ones its release names is checked too (verify.js,
//! `checkReleaseDetails`): formats.md section 19, "The custody page's releases".

use std::collections::{BTreeSet, HashMap};

use super::super::html::{
    esc, statement_row, table, td_claim, td_claim_code, td_claim_code_link, td_claim_count_link, td_claim_yes_no,
    td_envelope, td_log_index, td_signer,
};
use super::super::model::{envelope_url, trusted_signer, Log, Record};
use super::custody_record;
use crate::attest::custody::{Decision, Release, Request};
use crate::custody::statements::{prefixed, Custody, Logged};
use crate::digest::Sha256Digest;
use crate::error::Result;
use crate::policy::samples::SamplesPolicy;
use crate::policy::TrustedKey;

/// The claims a release row shows, in its cells' order.
const RELEASE_CLAIMS: [&str; 6] = [
    "predicate.request",
    "predicate.breakGlass",
    "predicate.approvals",
    "predicate.destination",
    "predicate.recipient",
    "predicate.releasedAt",
];
/// The claims a release's record in the receipt box's lookup shards carries (its answer rows
/// show scalar values only).
pub(super) const LOOKUP_RELEASE_CLAIMS: [&str; 4] =
    ["predicate.request", "predicate.destination", "predicate.recipient", "predicate.releasedAt"];
const REQUEST_CLAIMS: [&str; 6] = [
    "predicate.reason",
    "predicate.requester.role",
    "predicate.requester.country",
    "predicate.destination",
    "predicate.requestedAt",
    "predicate.breakGlass",
];
const APPROVAL_CLAIMS: [&str; 2] = ["predicate.decision", "predicate.decidedAt"];

/// The releases section of the page, and what it needs copied and checked.
pub(super) struct Releases {
    pub html: String,
    /// The records of every row, once each, releases first.
    pub records: Vec<Record>,
    /// The envelopes the rows link to: (log index, envelope digest).
    pub envelopes: Vec<(u64, Sha256Digest)>,
}

/// Renders the releases of `decoded` (the audit's decoded custody statements, in log order).
pub(super) fn render(log: &Log, decoded: &[Custody], samples: &SamplesPolicy) -> Result<Releases> {
    let mut requests: HashMap<Sha256Digest, &Logged<Request>> = HashMap::new();
    let mut decisions: HashMap<Sha256Digest, &Logged<Decision>> = HashMap::new();
    for c in decoded {
        match c {
            Custody::Request(l) => {
                requests.entry(l.envelope).or_insert(l);
            }
            Custody::Decision(l) => {
                decisions.entry(l.envelope).or_insert(l);
            }
            _ => {}
        }
    }
    let mut out = Releases { html: String::new(), records: Vec::new(), envelopes: Vec::new() };
    let mut rows = Vec::new();
    let mut details = String::new();
    let mut known = BTreeSet::new();
    for c in decoded {
        let Custody::Release(l) = c else { continue };
        let anchor = format!("release-{}", l.index);
        let href = format!("#{anchor}");
        let signer = match &l.signer {
            Some(k) => trusted_signer(k, "gateway"),
            None => "NOT signed by a gateway key of the policy".into(),
        };
        let keys: Vec<&TrustedKey> = samples.gateways.iter().collect();
        let (r, payload) = custody_record(log, c, ("gateway", &keys), &RELEASE_CLAIMS, true)?;
        rows.push(statement_row(
            &r.row,
            &[
                td_log_index(l.index),
                td_claim_code_link(&payload, RELEASE_CLAIMS[0], &href),
                td_claim_yes_no(&payload, RELEASE_CLAIMS[1]),
                td_claim_count_link(&payload, RELEASE_CLAIMS[2], &href),
                td_claim(&payload, RELEASE_CLAIMS[3]),
                td_claim_code(&payload, RELEASE_CLAIMS[4]),
                td_claim(&payload, RELEASE_CLAIMS[5]),
                td_signer(&signer),
                td_envelope(&envelope_url(&l.envelope)),
            ],
        ));
        details.push_str(&detail(log, l, &r.row, &anchor, &requests, &decisions, samples, &mut out, &mut known)?);
        out.add(r, l.index, l.envelope, &mut known);
    }
    // Releases first in the page's data: their rows come first.
    out.records.sort_by_key(|r| !r.role.starts_with("gateway"));
    let html = &mut out.html;
    html.push_str("<section class=\"gb-custody-releases\">\n<h2>Samples released</h2>\n");
    if rows.is_empty() {
        html.push_str("<p>No sample was released.</p>\n");
    } else {
        html.push_str(
            "<p>Each release is the gateway's signed statement, logged before the sample left. Follow a \
             release's request or its number of approvals to see who asked for the sample, why, and who \
             approved it.</p>\n",
        );
        html.push_str(&table(
            "gb-table",
            "Samples released: the gateway's signed release statements",
            &[
                "log index",
                "request",
                "break-glass",
                "approvals",
                "destination",
                "recipient",
                "released at",
                "gateway key",
                "raw",
                "checked in this browser",
            ],
            &rows,
        ));
        html.push_str("<h3>Who asked for each release, and who approved it</h3>\n");
        html.push_str(&details);
    }
    html.push_str("</section>\n");
    Ok(out)
}

impl Releases {
    /// Keeps `record` (once per row id) and its envelope for copying.
    fn add(&mut self, record: Record, index: u64, envelope: Sha256Digest, known: &mut BTreeSet<String>) {
        if known.insert(record.row.clone()) {
            self.records.push(record);
            self.envelopes.push((index, envelope));
        }
    }
}

/// One release's block: its request and the approvals it lists.
#[allow(clippy::too_many_arguments)]
fn detail(
    log: &Log,
    release: &Logged<Release>,
    release_row: &str,
    anchor: &str,
    requests: &HashMap<Sha256Digest, &Logged<Request>>,
    decisions: &HashMap<Sha256Digest, &Logged<Decision>>,
    samples: &SamplesPolicy,
    out: &mut Releases,
    known: &mut BTreeSet<String>,
) -> Result<String> {
    let p = &release.predicate;
    // The heading names the release by its log index only, which verify.js checks (a count in
    // it would be text no check covers: the release row shows the checked count).
    let mut html = format!(
        "<details class=\"gb-release-detail\" id=\"{}\" data-release-detail=\"{}\">\n<summary>{}</summary>\n",
        esc(anchor),
        esc(release_row),
        esc(&summary(release.index))
    );
    // The request.
    let request_caption = format!("The request the release at log index {} was made on", release.index);
    let request = prefixed(&p.request).and_then(|d| requests.get(&d).copied());
    let row = match request {
        Some(q) => {
            let (role, keys) = requester_role(q, samples);
            let signer = match &q.signer {
                Some(k) => trusted_signer(k, &role),
                None => "NOT signed by a requester key of the policy".into(),
            };
            let c = Custody::Request(q.clone());
            let (r, payload) = custody_record(log, &c, (&role, &keys), &REQUEST_CLAIMS, true)?;
            let row = statement_row(
                &r.row,
                &[
                    td_log_index(q.index),
                    td_claim(&payload, REQUEST_CLAIMS[0]),
                    td_claim(&payload, REQUEST_CLAIMS[1]),
                    td_claim(&payload, REQUEST_CLAIMS[2]),
                    td_claim(&payload, REQUEST_CLAIMS[3]),
                    td_claim(&payload, REQUEST_CLAIMS[4]),
                    td_claim_yes_no(&payload, REQUEST_CLAIMS[5]),
                    td_signer(&signer),
                    td_envelope(&envelope_url(&q.envelope)),
                ],
            );
            out.add(r, q.index, q.envelope, known);
            part(&row, "request")
        }
        None => missing(&p.request, 10, "is not a request logged before this site was generated"),
    };
    html.push_str(&table(
        "gb-table gb-request",
        &request_caption,
        &[
            "log index",
            "reason",
            "requester's role",
            "requester's country",
            "destination",
            "requested at",
            "break-glass",
            "requester key",
            "raw",
            "checked in this browser",
        ],
        &[row],
    ));
    // The approvals it lists.
    let caption = format!("The approvals the release at log index {} lists", release.index);
    if p.approvals.is_empty() {
        html.push_str("<p>The release lists no approval.</p>\n");
    } else {
        let mut rows = Vec::new();
        for listed in &p.approvals {
            let Some(d) = prefixed(listed).and_then(|d| decisions.get(&d).copied()) else {
                rows.push(missing(listed, 6, "is not a decision logged before this site was generated"));
                continue;
            };
            let (role, keys) = approver_role(d, samples);
            let signer = match &d.signer {
                Some(k) => trusted_signer(k, &role),
                None => "NOT signed by an approver key of the policy".into(),
            };
            let c = Custody::Decision(d.clone());
            let (r, payload) = custody_record(log, &c, (&role, &keys), &APPROVAL_CLAIMS, true)?;
            let row = statement_row(
                &r.row,
                &[
                    td_log_index(d.index),
                    td_claim(&payload, APPROVAL_CLAIMS[0]),
                    td_claim(&payload, APPROVAL_CLAIMS[1]),
                    td_signer(&signer),
                    td_envelope(&envelope_url(&d.envelope)),
                ],
            );
            out.add(r, d.index, d.envelope, known);
            rows.push(part(&row, "approval"));
        }
        html.push_str(&table(
            "gb-table gb-approvals",
            &caption,
            &["log index", "decision", "decided at", "approver key and group", "raw", "checked in this browser"],
            &rows,
        ));
    }
    html.push_str("</details>\n");
    Ok(html)
}

/// A release block's heading (verify.js's `detailHeading`).
fn summary(index: u64) -> String {
    format!("The request and approvals of the release at log index {index}")
}

/// Marks a statement row as a block's request or approval (`data-part`).
fn part(row: &str, what: &str) -> String {
    // The first `">` closes `data-statement="<row id>"` (an escaped id has no quote).
    row.replacen("\">", &format!("\" data-part=\"{what}\">"), 1)
}

/// A row for a statement the release names that the site cannot show (not checked: absence).
fn missing(digest: &str, columns: usize, why: &str) -> String {
    format!(
        "<tr data-missing=\"{}\"><td class=\"gb-unverified\" colspan=\"{columns}\" title=\"{}\"><code>{}</code> {}</td></tr>",
        esc(digest),
        super::super::html::UNVERIFIED_TITLE,
        esc(digest),
        esc(why)
    )
}

/// The role a request's signer cell names and the keys its record trusts: the requester keys
/// the policy gives the signer's role and country (`requester (<role>, <country>)`), or every
/// requester key when no policy key signed it.
fn requester_role<'p>(q: &Logged<Request>, samples: &'p SamplesPolicy) -> (String, Vec<&'p TrustedKey>) {
    let named = q.signer.as_ref().and_then(|k| samples.requester(&k.key));
    match named {
        Some(n) => (
            format!("requester ({}, {})", n.role, n.country),
            samples.requesters.iter().filter(|r| r.role == n.role && r.country == n.country).map(|r| &r.key).collect(),
        ),
        None => ("requester".into(), samples.requesters.iter().map(|r| &r.key).collect()),
    }
}

/// The role an approval's signer cell names and the keys its record trusts: the signer's
/// approver group (`approver (<group>)`, `, outside the vendor` for an outside group) and that
/// group's keys; else every key that may decide.
fn approver_role<'p>(d: &Logged<Decision>, samples: &'p SamplesPolicy) -> (String, Vec<&'p TrustedKey>) {
    let group =
        d.signer.as_ref().and_then(|k| samples.approvers.iter().find(|g| g.keys.iter().any(|gk| gk.id == k.id)));
    match group {
        Some(g) => {
            let outside = if g.outside { ", outside the vendor" } else { "" };
            (format!("approver ({}{outside})", g.name), g.keys.iter().collect())
        }
        None if d.signer.is_some() => ("decider in no approver group".into(), samples.decision_keys()),
        None => ("approver".into(), samples.decision_keys()),
    }
}

/// A release's record for the receipt box's lookup shard.
pub(super) fn lookup_record(log: &Log, c: &Custody, samples: &SamplesPolicy) -> Result<Record> {
    let keys: Vec<&TrustedKey> = samples.gateways.iter().collect();
    Ok(custody_record(log, c, ("gateway", &keys), &LOOKUP_RELEASE_CLAIMS, true)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_marks_the_row_and_a_missing_statement_is_marked_unchecked() {
        let row = statement_row("s-ab", &[td_log_index(3)]);
        let marked = part(&row, "approval");
        assert!(marked.starts_with("<tr data-statement=\"s-ab\" data-part=\"approval\"><td"), "{marked}");
        let gap = missing("sha256:<x>", 6, "is not logged");
        assert!(gap.contains("data-missing=\"sha256:&lt;x&gt;\"") && gap.contains("class=\"gb-unverified\""), "{gap}");
        assert!(!gap.contains("data-statement"), "{gap}");
    }
}
