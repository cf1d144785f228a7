//! The release pages' rows take their form from verify.js, not from the page (formats.md
//! section 19, "The columns are verify.js's"): a provenance row whose cells are swapped (each
//! still showing its own claim, under the other's header), an authentic provenance row copied
//! under the artifacts table's headers, a path that carries a format, a cell whose shown text is
//! not its compared text, and header cells outside the table's head each fail their row; every
//! other row still verifies. A verdict, review or provenance of another release on a release page,
//! or a page whose heading is not the release its data names, fails too.

use serde_json::Value;

use crate::site_browser::{assert_only_row_failed, served_copy, site, visit, visit_edited, Site, Visit};

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

/// The page's data block.
fn data_of(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"glassbox-data\">";
    let start = html.find(open).expect("the data block") + open.len();
    serde_json::from_str(&html[start..start + html[start..].find("</script>").unwrap()]).unwrap()
}

/// The avscan release page as served, and its data block.
fn avscan_page(site: &Site) -> (String, Value) {
    let html = std::fs::read_to_string(site.served.join(&site.avscan_page)).unwrap();
    let data = data_of(&html);
    (html, data)
}

/// The first of `records` that claims `path`.
fn record_claiming<'r>(records: &'r [Value], path: &str) -> &'r Value {
    let claims = |r: &Value| r["claims"].as_array().unwrap().iter().any(|c| c["path"] == path);
    records.iter().find(|r| claims(r)).unwrap_or_else(|| panic!("no record claims {path}"))
}

/// The first statement row with the id `row`, whole.
fn row_html<'h>(html: &'h str, row: &str) -> &'h str {
    let start = html.find(&format!("<tr data-statement=\"{row}\"")).expect("the row");
    &html[start..start + html[start..].find("</tr>").unwrap() + "</tr>".len()]
}

/// `section`'s `<section class="…">…</section>`, whole.
fn section<'h>(html: &'h str, class: &str) -> &'h str {
    let start = html.find(&format!("<section class=\"{class}\">")).expect("the section");
    &html[start..start + html[start..].find("</section>").unwrap() + "</section>".len()]
}

/// Asserts that the page's statement rows for which `fails` is true failed, saying `why`, and
/// every other one verified.
fn assert_rows_failed(seen: &Value, why: &str, fails: impl Fn(usize) -> bool) {
    assert_eq!(seen["done"], "done", "{seen:#}");
    let rows = seen["rows"].as_array().unwrap();
    assert!(rows.iter().enumerate().any(|(n, _)| fails(n)), "no row was meant to fail");
    for (n, row) in rows.iter().enumerate() {
        let status = row["status"].as_str().unwrap();
        if fails(n) {
            assert!(row["state"] == "failed" && status.contains(why), "row {n} should fail ({why}): {row}");
        } else {
            assert_eq!(row["state"].as_str(), Some("verified"), "row {n}: {row}");
        }
    }
}

/// Which release a row is about (formats.md section 19): the avscan release's authentic PASSED
/// verdict and its review, each copied with its record onto the FAILED build-time release's page,
/// fail there; the avscan page retitled as build-time's (heading, title and data) fails its
/// provenance and with it every verdict and review, as it does with no release in its data.
/// Every row of the untouched statements still verifies, and the banner counts only the records
/// a row shows (a padding record in the data is not counted).
#[test]
fn another_releases_verdict_review_or_heading_on_a_release_page_fails() {
    let Some(site) = site() else { return };
    let (avscan, avscan_data) = avscan_page(site);
    let records = avscan_data["statements"].as_array().unwrap();
    let with_claim = |path: &str| record_claiming(records, path).clone();
    let (verdict, review) = (with_claim("predicate.verificationResult"), with_claim("predicate.criteria"));

    // avscan's PASSED verdict, row and record, at the end of build-time's verdicts table, and
    // avscan's reviews section, with its record, in place of build-time's (which has none).
    let html = std::fs::read_to_string(site.served.join(&site.failed_page)).unwrap();
    let at = html.find("<section class=\"gb-rebuilds\">").expect("build-time's verdicts");
    let at = at + html[at..].find("</tbody>").unwrap();
    let copied = html[..at].matches("<tr data-statement=").count();
    let (own, theirs) = (section(&html, "gb-reviews"), section(&avscan, "gb-reviews"));
    let before = html[..html.find(own).unwrap()].matches("<tr data-statement=").count() + 1;
    let reviews = before..before + theirs.matches("<tr data-statement=").count();
    let seen = visit_edited(site, &site.failed_page, |html| {
        let row = row_html(&avscan, verdict["row"].as_str().unwrap());
        let edited = format!("{}{row}{}", &html[..at], &html[at..]).replacen(own, theirs, 1);
        // And a record no row shows, which the banner must not count.
        let mut padding = verdict.clone();
        padding["row"] = "s-padding".into();
        edit_data(&edited, |data| {
            data["statements"].as_array_mut().unwrap().extend([verdict.clone(), review.clone(), padding])
        })
    });
    assert_rows_failed(&seen, "", |n| n == copied || reviews.contains(&n));
    let shown: std::collections::BTreeSet<&str> =
        seen["rows"].as_array().unwrap().iter().map(|r| r["statement"].as_str().unwrap()).collect();
    let count = format!("{} statements checked", shown.len());
    assert!(seen["banner"]["text"].as_str().unwrap().contains(&count), "{count}: {:#}", seen["banner"]);
    for (n, row) in seen["rows"].as_array().unwrap().iter().enumerate() {
        let status = row["status"].as_str().unwrap();
        if n == copied {
            assert!(status.contains("this verdict is not about a provenance of this release"), "{row}");
        } else if reviews.contains(&n) {
            assert!(status.contains("this review is not of the source this release"), "{row}");
        }
    }

    // The avscan page under build-time's name: heading, title and data.
    let failed = data_of(&html)["release"].clone();
    let heading = |r: &Value| format!("{} {} ({})", r["component"], r["version"], r["target"]).replace('"', "");
    let (own, other) = (heading(&avscan_data["release"]), heading(&failed));
    let renamed = |html: &str| {
        let html = html.replacen(&format!("<h1>{own}</h1>"), &format!("<h1>{other}</h1>"), 1).replacen(
            &format!("<title>{own} &#183;"),
            &format!("<title>{other} &#183;"),
            1,
        );
        assert!(html.contains(&format!("<h1>{other}</h1>")) && html.contains(&format!("<title>{other} &#183;")));
        edit_data(&html, |d| d["release"] = failed.clone())
    };
    let seen = visit_edited(site, &site.avscan_page, renamed);
    let provenance = with_claim("predicate.buildDefinition.externalParameters.target")["row"].clone();
    assert_rows_failed(&seen, "", |_| true);
    let rows = seen["rows"].as_array().unwrap();
    let of_provenance: Vec<&Value> = rows.iter().filter(|r| r["statement"] == provenance).collect();
    assert!(!of_provenance.is_empty(), "{rows:?}");
    for row in of_provenance {
        assert!(row["status"].as_str().unwrap().contains("this provenance is of another release"), "{row}");
    }

    // The title moved into an SVG in the body: it is not the tab's title, so the heading stands
    // alone and the page's rows fail.
    let seen = visit_edited(site, &site.avscan_page, |html| {
        let start = html.find("<title>").unwrap();
        let end = html.find("</title>").unwrap() + "</title>".len();
        let title = &html[start..end];
        let body = html.find("<body>").unwrap() + "<body>".len();
        format!("{}{}<svg width=\"0\" height=\"0\">{title}</svg>{}", &html[..start], &html[end..body], &html[body..])
    });
    assert_rows_failed(&seen, "the page's heading is not the release its data names", |_| true);

    // A release in the data whose name could read as another's (a zero-width space after the
    // component), heading and title to match: no release has that name, so every row fails.
    let invisible = |html: &str| {
        let spaced = format!("{}\u{200b}{}", &own[..own.find(' ').unwrap()], &own[own.find(' ').unwrap()..]);
        let html = html.replacen(&format!("<h1>{own}</h1>"), &format!("<h1>{spaced}</h1>"), 1).replacen(
            &format!("<title>{own} &#183;"),
            &format!("<title>{spaced} &#183;"),
            1,
        );
        edit_data(&html, |d| {
            let component = format!("{}\u{200b}", d["release"]["component"].as_str().unwrap());
            d["release"]["component"] = component.into();
        })
    };
    let seen = visit_edited(site, &site.avscan_page, invisible);
    assert_rows_failed(&seen, "the page's release has a name that could read as another's", |_| true);

    // No release in the data.
    let seen = visit_edited(site, &site.avscan_page, |html| {
        edit_data(html, |d| {
            d.as_object_mut().unwrap().remove("release");
        })
    });
    assert_rows_failed(&seen, "this page names no release for it to be about", |_| true);
}

/// The holes a second attack review found in the first mend: a provenance shown only in the
/// artifacts table (whose rows show no signer) no longer vouches for the release; the heading
/// hidden until found fails the page's rows; a record that names a key by another key's id fails;
/// the rebuilds page's exemption holds only where the rebuilds page is served, and only for a
/// verdict in its signer's column.
#[test]
fn a_provenance_without_its_signer_row_a_moved_heading_or_a_rebuilds_page_elsewhere_fails() {
    let Some(site) = site() else { return };
    let (_, data) = avscan_page(site);
    let records = data["statements"].as_array().unwrap();
    let provenance = record_claiming(records, "predicate.buildDefinition.externalParameters.target");
    let id = provenance["row"].as_str().unwrap();

    // The provenance table's row gone, and with it the claims only it showed.
    let seen = visit_edited(site, &site.avscan_page, |html| {
        let rows = section(html, "gb-provenance");
        let edited = html.replacen(rows, &rows.replacen(row_html(rows, id), "", 1), 1);
        edit_data(&edited, |data| {
            for record in data["statements"].as_array_mut().unwrap() {
                if record["row"] == id {
                    record["claims"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|c| c["path"].as_str().unwrap().starts_with("subject."));
                }
            }
        })
    });
    assert_rows_failed(&seen, "", |_| true);
    for row in seen["rows"].as_array().unwrap() {
        let status = row["status"].as_str().unwrap();
        match row["statement"] == id {
            true => {
                assert!(status.contains("no row of this page shows this provenance's signer"), "{row}")
            }
            false => assert!(status.contains("no provenance of this release verified on this page"), "{row}"),
        }
    }

    // The heading hidden until found (no style needed), a look-alike below it.
    let seen = visit_edited(site, &site.avscan_page, |html| {
        let start = html.find("<h1>").unwrap();
        let end = start + html[start..].find("</h1>").unwrap() + "</h1>".len();
        let shown = format!("<h2>{}</h2>", &html[start + 4..end - 5]);
        format!("{}<h1 hidden=\"until-found\">{}{shown}{}", &html[..start], &html[start + 4..end], &html[end..])
    });
    assert_rows_failed(&seen, "the page's heading is not the release its data names", |_| true);

    // The provenance's key given another key's public key under its own id.
    let other = records.iter().find(|r| r["keys"][0]["keyid"] != provenance["keys"][0]["keyid"]).unwrap();
    let seen = visit_edited(site, &site.avscan_page, |html| {
        edit_data(html, |data| {
            for record in data["statements"].as_array_mut().unwrap() {
                if record["row"] == id {
                    record["keys"][0]["publicKey"] = other["keys"][0]["publicKey"].clone();
                }
            }
        })
    });
    assert_rows_failed(&seen, "", |_| true);
    let rows = seen["rows"].as_array().unwrap();
    assert!(rows
        .iter()
        .filter(|r| r["statement"] == id)
        .all(|r| r["status"].as_str().unwrap().contains("its public key's id is")));

    // The rebuilds page, as it is, served under another name: its verdict cells fail.
    let copy = served_copy(site);
    std::fs::copy(copy.path().join("rebuilds.html"), copy.path().join("verdicts.html")).unwrap();
    let seen = visit(copy.path(), "verdicts.html", Visit::default());
    assert_rows_failed(&seen, "this page names no release for it to be about", |_| true);

    // On the rebuilds page, a verdict cell moved to another key's column.
    let rebuilds = std::fs::read_to_string(site.served.join("rebuilds.html")).unwrap();
    let keys: Vec<&str> = rebuilds
        .match_indices("<th scope=\"col\" data-rebuilder=\"")
        .map(|(at, m)| &rebuilds[at + m.len()..at + m.len() + 64])
        .collect();
    assert!(keys.len() >= 2, "{keys:?}");
    let moved = format!("<td data-rebuilder=\"{}\"><table class=\"gb-cell\"><tbody><tr data-statement=", keys[0]);
    let first = rebuilds.find(&moved).expect("a verdict in the first column");
    let edited = format!(
        "{}<td data-rebuilder=\"{}\">{}",
        &rebuilds[..first],
        keys[1],
        &rebuilds[first + moved.len() - "<table class=\"gb-cell\"><tbody><tr data-statement=".len()..]
    );
    std::fs::write(copy.path().join("rebuilds.html"), edited).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_only_row_failed(&seen, 0, "the verdict is in the column of another key");
}

/// The rebuilds page's rows (formats.md section 19, "Which release a row is about"): a verdict is
/// checked against the bundle and the target it names, so two rows whose headings are swapped
/// fail every verdict they show, as do a heading with more markup than its one link and a heading
/// that splits the same bundle name elsewhere between version and target; and a cell that spans
/// rows fails every verdict of the matrix.
#[test]
fn a_rebuilds_verdict_under_another_releases_heading_fails() {
    let Some(site) = site() else { return };
    let rebuilds = std::fs::read_to_string(site.served.join("rebuilds.html")).unwrap();
    let headings: Vec<(usize, usize)> = rebuilds
        .match_indices("<th scope=\"row\">")
        .map(|(at, _)| (at, at + rebuilds[at..].find("</th>").unwrap() + "</th>".len()))
        .collect();
    assert_eq!(headings.len(), 2, "two releases: {headings:?}");
    let (a, b) = (headings[0], headings[1]);
    let swapped = format!(
        "{}{}{}{}{}",
        &rebuilds[..a.0],
        &rebuilds[b.0..b.1],
        &rebuilds[a.1..b.0],
        &rebuilds[a.0..a.1],
        &rebuilds[b.1..]
    );
    let verdicts_in = |range: (usize, usize)| rebuilds[range.0..range.1].matches("<tr data-statement=").count();
    let rows = (verdicts_in((a.1, b.0)), verdicts_in((b.1, rebuilds.len())));
    assert!(rows.0 > 0 && rows.1 > 0, "a verdict in each row: {rows:?}");
    let copy = served_copy(site);
    std::fs::write(copy.path().join("rebuilds.html"), swapped).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_rows_failed(&seen, "the verdict is about another release", |_| true);

    // The first row's heading with a second text node: its verdicts fail, the other row's stand.
    let (start, end) = a;
    let link_end = start + rebuilds[start..end].find("</a>").unwrap();
    let edited = format!("{}<span></span>{}", &rebuilds[..link_end], &rebuilds[link_end..]);
    std::fs::write(copy.path().join("rebuilds.html"), edited).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_rows_failed(&seen, "the verdict is about another release", |n| n < rows.0);

    // The first row's heading split elsewhere between version and target: the bundle name reads
    // the same, but no subject of the verdict is a file of that target.
    let link = start + rebuilds[start..end].find("<a href=\"").unwrap();
    let text_start = link + rebuilds[link..].find("\">").unwrap() + 2;
    let text_end = link_end;
    let text = &rebuilds[text_start..text_end];
    let (name, target) = text.rsplit_once(" (").unwrap();
    let (head, tail) = target.trim_end_matches(')').split_once('-').unwrap();
    let resplit = format!("{name}-{head} ({tail})");
    let edited = format!("{}{resplit}{}", &rebuilds[..text_start], &rebuilds[text_end..]);
    std::fs::write(copy.path().join("rebuilds.html"), edited).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_rows_failed(&seen, "the verdict is about another release", |n| n < rows.0);

    // The first row's heading drawn right to left: a heading has no direction or style of its own.
    let edited = rebuilds.replacen("<th scope=\"row\">", "<th scope=\"row\" dir=\"rtl\">", 1);
    std::fs::write(copy.path().join("rebuilds.html"), edited).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_rows_failed(&seen, "the verdict is about another release", |n| n < rows.0);

    // A verdict cell of the first row spanning the second row's line: no cell of the matrix spans.
    let cell = rebuilds[a.1..].find("<td data-rebuilder=\"").unwrap() + a.1 + "<td".len();
    let edited = format!("{} rowspan=\"2\"{}", &rebuilds[..cell], &rebuilds[cell..]);
    std::fs::write(copy.path().join("rebuilds.html"), edited).unwrap();
    let seen = visit(copy.path(), "rebuilds.html", Visit::default());
    assert_rows_failed(&seen, "a verdict on this page is shown only in a rebuilder's cell", |_| true);
}
