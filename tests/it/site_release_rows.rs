//! The release pages' rows take their form from verify.js, not from the page (formats.md
//! section 19, "Statement rows"): a provenance row whose cells are swapped (each still showing
//! its own claim, under the other's header), or an authentic provenance row copied under the
//! artifacts table's headers, fails; every other row still verifies.

use crate::site_browser::{assert_only_row_failed, served_copy, site, visit, Visit};

/// Where the cell showing the provenance's `source.digest.<field>` starts and ends.
fn source_cell(html: &str, field: &str) -> (usize, usize) {
    let claim = format!("<td data-claim=\"predicate.buildDefinition.externalParameters.source.digest.{field}\"");
    let start = html.find(&claim).expect("the provenance row's source cell");
    (start, start + html[start..].find("</td>").unwrap() + "</td>".len())
}

#[test]
fn a_release_page_row_in_another_form_or_under_another_tables_headers_fails() {
    let Some(site) = site() else { return };
    let page = &site.avscan_page;

    // The source digest and the git commit swapped: both claims still shown and true.
    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let (digest, commit) = (source_cell(&html, "sha256"), source_cell(&html, "gitCommit"));
    assert_eq!(digest.1, commit.0, "adjacent cells");
    let row = html[..digest.0].matches("<tr data-statement=").count() - 1;
    let swapped =
        format!("{}{}{}{}", &html[..digest.0], &html[commit.0..commit.1], &html[digest.0..digest.1], &html[commit.1..]);
    std::fs::write(&path, swapped).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "the page shows other fields than a provenance row has");

    // The provenance row, unchanged, copied to the end of the artifacts table.
    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let (start, _) = source_cell(&html, "sha256");
    let start = html[..start].rfind("<tr ").unwrap();
    let end = start + html[start..].find("</tr>").unwrap() + "</tr>".len();
    let artifacts = html.find("<section class=\"gb-artifacts\">").expect("the artifacts section");
    let at = artifacts + html[artifacts..].find("</tbody>").unwrap();
    assert!(at < start, "the artifacts table comes before the provenance table");
    let row = html[..at].matches("<tr data-statement=").count();
    std::fs::write(&path, format!("{}{}{}", &html[..at], &html[start..end], &html[at..])).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "the provenance row is in a table of other columns");
}
