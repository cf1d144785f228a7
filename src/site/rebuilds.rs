//! rebuilds.html: every release (a row) against every rebuilder key of the policy's
//! `[rebuilds]` (a column, in policy order). A cell shows the first verdict in log order that the
//! column's key signed about the release, among the verdicts the release's page shows (the
//! release owns them by `model::releases`'s one rule) that verify.js can tie to the row
//! ([`counts_for`]), and how many more that key signed; or `not yet` when there is none. A
//! verdict cell is a one-row table whose row is a statement row like any other, so verify.js
//! checks it as any row: entry, inclusion, envelope, the signature by the column's key (the
//! record trusts that key alone), and every cell (result, report digest, log index, signer,
//! envelope link); and that the verdict is about its row's release: the bundle and the target it
//! names are the row heading's (formats.md section 19). A `not yet` cell is absence, which no
//! entry the page names can prove: its status says it is not checked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::html::{
    esc, page, scroll_open, statement_row, td_claim_code, td_claim_result, td_envelope, td_signer, td_unverified,
    td_unverified_link, unverified_note,
};
use super::model::{at_path, envelope_url, key_name, record, row_id, str_at, trusted_signer, Record, Release};
use super::pages::{log_index, ReleaseContext};
use crate::keys::KeyId;
use crate::policy::evidence::inputs_lenient;
use crate::policy::TrustedKey;

/// The file, at the site's root.
pub const FILE: &str = "rebuilds.html";

const RESULT: &str = "predicate.verificationResult";
/// The bundle a verdict is about (`glassbox rebuild` writes the bundle's file name).
const RESOURCE: &str = "predicate.resourceUri";
/// What a FAILED cell shows when the release page links no mismatch report: the digest the
/// signed verdict fixes for it (formats.md section 11), which the browser checks.
const REPORT_DIGEST: &str = "predicate.reproduction.differences.digest.sha256";

/// The status of a `not yet` cell: absence is the site's index speaking, and one entry cannot
/// prove it.
const ABSENCE: &str = "not checked: absence";
const ABSENCE_TITLE: &str = "The browser checks the verdicts this page names; that no verdict by this key \
     exists is what the site's publisher says (glassbox verify reads the whole log).";

/// Of `counted` (a release's verdicts that [`counts_for`] its row), those whose signature by
/// `key` verifies (`signers`: the rebuilder keys that verify on each verdict), first in log
/// order: logged ones by index, then those only in the attestations directory, in the order the
/// site read them.
fn verdicts_by(
    cx: &ReleaseContext<'_>,
    counted: &[usize],
    key: &TrustedKey,
    signers: &BTreeMap<usize, Vec<KeyId>>,
) -> Vec<usize> {
    let mut mine: Vec<usize> =
        counted.iter().copied().filter(|n| signers.get(n).is_some_and(|ids| ids.contains(&key.id))).collect();
    mine.sort_by_key(|&n| (cx.shown[n].log_index.is_none(), cx.shown[n].log_index, n));
    mine
}

/// Whether the verdict `payload` is about `release`'s bundle as verify.js reads it back into
/// the row's heading: its `predicate.resourceUri` is `<component>-<version>-<target>.tar.gz` and
/// a subject is one of the target's files (`<target>/<file>`), which fixes where the target
/// starts in that name (a release's target is never empty and has no `/`:
/// [`super::model::plain_release_name`]).
fn names_bundle_of(payload: &Value, release: &Release) -> bool {
    let Release { component, version, target, .. } = release;
    let files = format!("{target}/");
    let names_target = payload.get("subject").and_then(Value::as_array).is_some_and(|list| {
        list.iter().any(|d| d.get("name").and_then(Value::as_str).is_some_and(|n| n.starts_with(&files)))
    });
    names_target && str_at(payload, RESOURCE) == format!("{component}-{version}-{target}.tar.gz")
}

/// Whether verdict `n` may stand in `release`'s row: about its bundle (a verdict the release
/// page shows for another reason, a failure naming an artifact it shares with another release,
/// is that other release's rebuild, not this one's), and, when it says PASSED,
/// about one of its provenances that a builder key of the policy signed (a rebuilder that
/// trusts more builders than the site's policy does may pass a provenance the site's release
/// page shows as FAILED). A failure is shown whoever built what failed to rebuild.
fn counts_for(cx: &ReleaseContext<'_>, release: &Release, n: usize) -> bool {
    let shown = &cx.shown[n];
    if !names_bundle_of(&shown.payload, release) {
        return false;
    }
    if str_at(&shown.payload, RESULT) != "PASSED" {
        return true;
    }
    let inputs = inputs_lenient(&shown.found.statement);
    release.provenances.iter().any(|&p| {
        inputs.contains(&cx.shown[p].found.digest) && !cx.shown[p].signed_by_one_of(&cx.policy.builders).is_empty()
    })
}

/// The row id of verdict `n` in column `column`: a verdict two rebuilder keys signed is in two
/// columns, each checked against its own key, so the envelope's digest alone would not do.
fn cell_row(cx: &ReleaseContext<'_>, n: usize, column: usize) -> String {
    format!("{}-k{column}", row_id(&cx.shown[n].found.digest))
}

/// A verdict cell (the one-row table inside the matrix's cell) and its statement record.
fn verdict_cell(
    cx: &ReleaseContext<'_>,
    release: &Release,
    (column, key): (usize, &TrustedKey),
    n: usize,
    more: usize,
) -> (String, Record) {
    let s = &cx.shown[n];
    let mut paths = vec![RESULT.to_string()];
    let mut cells = vec![td_claim_result(&s.payload, RESULT)];
    // Any result but PASSED is a failure (as the release page and the reports say).
    if str_at(&s.payload, RESULT) != "PASSED" {
        match cx.reports.get(&n) {
            Some(Ok(href)) => cells.push(td_unverified_link(href, "mismatch report")),
            _ if at_path(&s.payload, REPORT_DIGEST).is_some() => {
                cells.push(td_claim_code(&s.payload, REPORT_DIGEST));
                paths.push(REPORT_DIGEST.to_string());
            }
            Some(Err(why)) => cells.push(td_unverified(why)),
            None => cells.push(td_unverified("no report attached")),
        }
    }
    cells.push(log_index(s));
    cells.push(td_signer(&trusted_signer(key, "rebuilder")));
    cells.push(td_envelope(&envelope_url(&s.found.digest)));
    if more > 0 {
        let text = format!("and {more} more by this key: see the release page");
        cells.push(td_unverified_link(&format!("releases/{}.html", release.file), &text));
    }
    let row = cell_row(cx, n, column);
    let html = format!("<table class=\"gb-cell\"><tbody>{}</tbody></table>", statement_row(&row, &cells));
    let mut rec = record(cx.log, &s.found.digest, s.log_index, ("rebuilder", &[key]), &s.payload, &paths);
    rec.row = row;
    (html, rec)
}

/// A `not yet` cell: no verdict by the key on the release, a claim the browser cannot check.
fn absent_cell() -> String {
    format!(
        "<table class=\"gb-cell\"><tbody><tr data-absent>{}<td class=\"gb-status gb-unchecked\" \
         title=\"{}\">{ABSENCE}</td></tr></tbody></table>",
        td_unverified("not yet"),
        esc(ABSENCE_TITLE)
    )
}

/// The column heading of a rebuilder key: its key id's short form and its name
/// ([`key_name`]: the policy's file name, without the operator's directory).
fn heading(key: &TrustedKey) -> String {
    format!(
        "<th scope=\"col\" data-rebuilder=\"{}\"><code>{}</code><br><span class=\"gb-key-path\">{}</span></th>",
        esc(key.id.as_str()),
        esc(key.id.short()),
        esc(&key_name(&key.path))
    )
}

/// rebuilds.html; its data block holds the record of every verdict cell (each row id once).
/// The verdicts are those of the release pages, whose statements the site already counts.
pub fn page_of(cx: &ReleaseContext<'_>, releases: &[Release]) -> String {
    let keys = &cx.policy.rebuilds.keys;
    // Which rebuilder keys verify on each verdict (checked once for the site: `signed_by`).
    let mut signers = BTreeMap::new();
    for n in releases.iter().flat_map(|r| &r.verdicts) {
        signers.entry(*n).or_insert_with(|| cx.shown[*n].signed_by_one_of(keys));
    }
    let mut records = Vec::new();
    let mut recorded = BTreeSet::new();
    let mut rows = Vec::new();
    for r in releases {
        // The row's heading: verify.js checks that each verdict in the row names this release's
        // bundle. Plain text in one link, as it compares the text.
        let mut row = format!(
            "<tr data-release=\"{}\"><th scope=\"row\"><a href=\"releases/{}.html\">{}</a></th>",
            esc(&r.file),
            esc(&r.file),
            esc(&format!("{} {} ({})", r.component, r.version, r.target))
        );
        // Which of the release's verdicts may stand in its row: decided once for all columns.
        let counted: Vec<usize> = r.verdicts.iter().copied().filter(|&n| counts_for(cx, r, n)).collect();
        for (column, key) in keys.iter().enumerate() {
            let mine = verdicts_by(cx, &counted, key, &signers);
            let inner = match mine.first() {
                Some(&n) => {
                    let (html, rec) = verdict_cell(cx, r, (column, key), n, mine.len() - 1);
                    // The same verdict on two releases is one record: its rows show the same claims.
                    if recorded.insert(rec.row.clone()) {
                        records.push(rec);
                    }
                    html
                }
                None => absent_cell(),
            };
            row.push_str(&format!("<td data-rebuilder=\"{}\">{inner}</td>", esc(key.id.as_str())));
        }
        row.push_str("</tr>");
        rows.push(row);
    }

    let mut body = String::from("<section class=\"gb-rebuild-matrix\">\n");
    body.push_str(
        "<p>One row per release, one column per rebuilder key of the policy's <code>[rebuilds]</code>, \
         in the policy's order. A cell shows the first verdict in log order that the key signed about the \
         release's bundle (among the verdicts its release page lists), and how many more there are; \
         <em>not yet</em> when neither the log nor the attestations hold one.</p>\n",
    );
    if keys.is_empty() {
        body.push_str("<p>The policy's <code>[rebuilds]</code> names no rebuilder key.</p>\n");
    } else if rows.is_empty() {
        body.push_str("<p>The log and the attestations hold no release.</p>\n");
    } else {
        body.push_str(&unverified_note(
            "a mismatch report's link, how many more verdicts a key signed, and every \"not yet\". Each \
             verdict a cell shows is checked in its own row: its log entry, inclusion, envelope, the \
             signature by the column's key, its result and log index, and that the bundle it names is the \
             release its row is headed by. That a key signed no verdict cannot be proved from the entries a \
             page names; glassbox verify reads the whole log.",
        ));
        let caption = "Rebuild verdicts: one row per release, one column per rebuilder key";
        body.push_str(&scroll_open(caption));
        body.push_str(&format!(
            "<table class=\"gb-table gb-matrix\">\n<caption>{caption}</caption>\n<thead><tr><th scope=\"col\">release</th>"
        ));
        for key in keys {
            body.push_str(&heading(key));
        }
        body.push_str("</tr></thead>\n<tbody>\n");
        for row in &rows {
            body.push_str(row);
            body.push('\n');
        }
        body.push_str("</tbody>\n</table>\n</div>\n");
    }
    body.push_str("</section>\n");
    let values: Vec<Value> = records.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
    page(cx.chrome, "Rebuilds", "", &body, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn a_heading_escapes_the_key_path_and_an_absent_cell_is_not_a_statement_row() {
        let public = PrivateKey::from_seed(&[3; 32]).public();
        let key = TrustedKey { path: "keys/<r1>.pub".into(), id: public.key_id(), key: public };
        let th = heading(&key);
        assert!(th.contains(">&lt;r1&gt;<") && th.contains(&format!("<code>{}</code>", key.id.short())), "{th}");
        assert!(!th.contains("keys/"), "no operator path: {th}");
        let cell = absent_cell();
        assert!(!cell.contains("data-statement") && cell.contains(ABSENCE) && cell.contains(">not yet</td>"), "{cell}");
    }

    #[test]
    fn a_verdict_counts_for_the_release_whose_bundle_it_names() {
        let release = |component: &str, version: &str| Release {
            component: component.into(),
            version: version.into(),
            target: "x86_64-unknown-linux-gnu".into(),
            file: String::new(),
            provenances: Vec::new(),
            verdicts: Vec::new(),
            reviews: Vec::new(),
        };
        let verdict = |uri: Value, file: &str| serde_json::json!({"subject": [{"name": file}], "predicate": {"resourceUri": uri}});
        let bundle = "my-tool-2-1.0.0-x86_64-unknown-linux-gnu.tar.gz";
        let named = verdict(bundle.into(), "x86_64-unknown-linux-gnu/my-tool");
        assert!(names_bundle_of(&named, &release("my-tool-2", "1.0.0")));
        assert!(!names_bundle_of(&named, &release("my-tool-2", "1.0.1")));
        for other in [
            verdict(Value::Null, "x86_64-unknown-linux-gnu/my-tool"),
            verdict(1.into(), "x86_64-unknown-linux-gnu/my-tool"),
            verdict("my-tool-2-1.0.0.tar.gz".into(), "x86_64-unknown-linux-gnu/my-tool"),
            // No subject of the target's: where the target starts in the name is not fixed.
            verdict(bundle.into(), bundle),
            verdict(bundle.into(), "unknown-linux-gnu/my-tool"),
        ] {
            assert!(!names_bundle_of(&other, &release("my-tool-2", "1.0.0")), "{other}");
        }
        // (A name the page cannot show as it is makes no release: tests/vectors/release-grouping.json.)
    }
}
