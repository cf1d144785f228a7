//! The release pages' rows take their form from verify.js, not from the page (formats.md
//! section 19, "The columns are verify.js's"): a provenance row whose cells are swapped (each
//! still showing its own claim, under the other's header), an authentic provenance row copied
//! under the artifacts table's headers, a path that carries a format, a cell whose shown text is
//! not its compared text, and header cells outside the table's head each fail their row; every
//! other row still verifies.

use serde_json::Value;

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

/// Rewrites the page's data block with `edit` applied to its JSON.
fn edit_data(html: &str, edit: impl FnOnce(&mut Value)) -> String {
    let open = "<script type=\"application/json\" id=\"glassbox-data\">";
    let start = html.find(open).expect("the data block") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let mut data: Value = serde_json::from_str(&html[start..end]).unwrap();
    edit(&mut data);
    format!("{}{}{}", &html[..start], serde_json::to_string(&data).unwrap(), &html[end..])
}

/// The index, among the page's statement rows, of the row holding `at`.
fn row_at(html: &str, at: usize) -> usize {
    html[..at].matches("<tr data-statement=").count() - 1
}

/// Each of these passed the row's checks before they also looked at how a cell is shown and where
/// the headers come from: a review's scope cell whose path carries the format (`data-claim=
/// "predicate.scope scope"`, showing `none`, with the claim taken out of the data); the provenance
/// row's target shown as an image's text while a hidden span holds the signed one; and a header
/// row of `th` cells in the provenance table's body, naming the columns otherwise.
#[test]
fn a_path_that_carries_a_format_a_hidden_or_spanning_cell_or_a_stray_header_fails() {
    let Some(site) = site() else { return };
    let page = &site.avscan_page;

    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let scope = "<td data-claim=\"predicate.scope\" data-format=\"scope\">";
    let start = html.find(scope).expect("the review's scope cell");
    let end = start + html[start..].find("</td>").unwrap() + "</td>".len();
    let row = row_at(&html, start);
    let html = format!("{}<td data-claim=\"predicate.scope scope\">none</td>{}", &html[..start], &html[end..]);
    let html = edit_data(&html, |data| {
        for record in data["statements"].as_array_mut().unwrap() {
            if let Some(claims) = record["claims"].as_array_mut() {
                claims.retain(|c| c["path"] != "predicate.scope");
            }
        }
    });
    std::fs::write(&path, html).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "the page shows other fields than a review row has");

    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let target = "<td data-claim=\"predicate.buildDefinition.externalParameters.target\">";
    let start = html.find(target).expect("the provenance's target cell") + target.len();
    let end = start + html[start..].find("</td>").unwrap();
    let row = row_at(&html, start);
    let shown = format!("<span hidden>{}</span><img alt=\"aarch64-apple-darwin\" src=\"data:,\">", &html[start..end]);
    std::fs::write(&path, format!("{}{shown}{}", &html[..start], &html[end..])).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "shows a cell in a way this browser does not compare");

    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let section = html.find("<section class=\"gb-provenance\">").expect("the provenance section");
    let body = section + html[section..].find("<tbody>").unwrap() + "<tbody>".len();
    let row = html[..body].matches("<tr data-statement=").count();
    let labels = "<tr><th>log index</th><th>git commit</th><th>source digest</th></tr>";
    std::fs::write(&path, format!("{}{labels}{}", &html[..body], &html[body..])).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "in a table whose headers this browser cannot read plainly");
}
