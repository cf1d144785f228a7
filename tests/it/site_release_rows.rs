//! The release pages' rows take their form from verify.js, not from the page (formats.md
//! section 19, "The columns are verify.js's"): a provenance row whose cells are swapped (each
//! still showing its own claim, under the other's header), an authentic provenance row copied
//! under the artifacts table's headers, a path that carries a format, a cell whose shown text is
//! not its compared text, and header cells outside the table's head each fail their row; every
//! other row still verifies.

use serde_json::Value;

use crate::site_browser::{assert_only_row_failed, site, visit_edited, Site};

/// Visits a copy of the site whose avscan release page `edit` rewrote; `edit` also says which of
/// the page's statement rows must fail, and the visit must fail it alone, saying `why`.
fn only_edited_row_fails(site: &Site, why: &str, edit: impl FnOnce(&str) -> (String, usize)) {
    let mut row = 0;
    let seen = visit_edited(site, &site.avscan_page, |html| {
        let (edited, n) = edit(html);
        row = n;
        edited
    });
    assert_only_row_failed(&seen, row, why);
}

/// Where the cell showing the provenance's `source.digest.<field>` starts and ends.
fn source_cell(html: &str, field: &str) -> (usize, usize) {
    let claim = format!("<td data-claim=\"predicate.buildDefinition.externalParameters.source.digest.{field}\"");
    let start = html.find(&claim).expect("the provenance row's source cell");
    (start, start + html[start..].find("</td>").unwrap() + "</td>".len())
}

/// The index, among the page's statement rows, of the row holding `at`.
fn row_at(html: &str, at: usize) -> usize {
    html[..at].matches("<tr data-statement=").count() - 1
}

/// Rewrites the page's data block with `edit` applied to its JSON.
fn edit_data(html: &str, edit: impl FnOnce(&mut Value)) -> String {
    let open = "<script type=\"application/json\" id=\"glassbox-data\">";
    let start = html.find(open).expect("the data block") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let mut data: Value = serde_json::from_str(&html[start..end]).unwrap();
    edit(&mut data);
    format!("{}{}{}", &html[..start], serde_json::to_string(&data).unwrap(), &html[end..])
}

#[test]
fn a_release_page_row_in_another_form_or_under_another_tables_headers_fails() {
    let Some(site) = site() else { return };

    // The source digest and the git commit swapped: both claims still shown and true.
    only_edited_row_fails(site, "the page shows other fields than a provenance row has", |html| {
        let (digest, commit) = (source_cell(html, "sha256"), source_cell(html, "gitCommit"));
        assert_eq!(digest.1, commit.0, "adjacent cells");
        let (before, after) = (&html[..digest.0], &html[commit.1..]);
        let swapped = format!("{before}{}{}{after}", &html[commit.0..commit.1], &html[digest.0..digest.1]);
        (swapped, row_at(html, digest.0))
    });

    // The provenance row, unchanged, copied to the end of the artifacts table.
    only_edited_row_fails(site, "the provenance row is in a table of other columns", |html| {
        let start = html[..source_cell(html, "sha256").0].rfind("<tr ").unwrap();
        let end = start + html[start..].find("</tr>").unwrap() + "</tr>".len();
        let artifacts = html.find("<section class=\"gb-artifacts\">").expect("the artifacts section");
        let at = artifacts + html[artifacts..].find("</tbody>").unwrap();
        assert!(at < start, "the artifacts table comes before the provenance table");
        let copied = format!("{}{}{}", &html[..at], &html[start..end], &html[at..]);
        (copied, html[..at].matches("<tr data-statement=").count())
    });
}

/// Each of these passed the row's checks before they also looked at how a cell is shown and where
/// the headers come from: a review's scope cell whose path carries the format (`data-claim=
/// "predicate.scope scope"`, showing `none`, with the claim taken out of the data); the provenance
/// row's target shown as an image's text while a hidden span holds the signed one; and a header
/// row of `th` cells in the provenance table's body, naming the columns otherwise.
#[test]
fn a_path_that_carries_a_format_a_hidden_or_spanning_cell_or_a_stray_header_fails() {
    let Some(site) = site() else { return };

    only_edited_row_fails(site, "the page shows other fields than a review row has", |html| {
        let scope = "<td data-claim=\"predicate.scope\" data-format=\"scope\">";
        let start = html.find(scope).expect("the review's scope cell");
        let end = start + html[start..].find("</td>").unwrap() + "</td>".len();
        let edited = format!("{}<td data-claim=\"predicate.scope scope\">none</td>{}", &html[..start], &html[end..]);
        let edited = edit_data(&edited, |data| {
            for record in data["statements"].as_array_mut().unwrap() {
                if let Some(claims) = record["claims"].as_array_mut() {
                    claims.retain(|c| c["path"] != "predicate.scope");
                }
            }
        });
        (edited, row_at(html, start))
    });

    only_edited_row_fails(site, "shows a cell in a way this browser does not compare", |html| {
        let target = "<td data-claim=\"predicate.buildDefinition.externalParameters.target\">";
        let start = html.find(target).expect("the provenance's target cell") + target.len();
        let end = start + html[start..].find("</td>").unwrap();
        let shown =
            format!("<span hidden>{}</span><img alt=\"aarch64-apple-darwin\" src=\"data:,\">", &html[start..end]);
        (format!("{}{shown}{}", &html[..start], &html[end..]), row_at(html, start))
    });

    only_edited_row_fails(site, "in a table whose headers this browser cannot read plainly", |html| {
        let section = html.find("<section class=\"gb-provenance\">").expect("the provenance section");
        let body = section + html[section..].find("<tbody>").unwrap() + "<tbody>".len();
        let labels = "<tr><th>log index</th><th>git commit</th><th>source digest</th></tr>";
        (format!("{}{labels}{}", &html[..body], &html[body..]), html[..body].matches("<tr data-statement=").count())
    });
}
