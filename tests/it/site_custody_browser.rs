//! The custody page for its audience, in Chromium (ux-review (a) 17): each release with the
//! request it was made on (reason, the requester's role and country) and the approvals it lists
//! (each approver's key and group), every one of those rows checked in the browser, a tampered
//! approval, a broken link between a release and its details, or a details heading naming
//! another release failing; a link unfolding its release's details; the per-month break-glass
//! counts; the receipt box's file picker fed a real file; and what a review found a publisher
//! could do without a signature (detached details, another log key, a request posing as a
//! release, a malformed link), each failing closed.

use serde_json::Value;

use crate::site_browser::{
    assert_only_row_failed, assert_rows, edit_cell, records, served_copy, site, visit, visit_edited, Visit,
};

/// The rows of the first table of `seen` whose heading row contains `heading`.
fn table_with<'v>(seen: &'v Value, heading: &str) -> &'v Vec<Value> {
    seen["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0].as_array().unwrap().iter().any(|h| h == heading))
        .unwrap_or_else(|| panic!("no table headed {heading}: {:#}", seen["tables"]))
        .as_array()
        .unwrap()
}

/// The cell of `rows` (heading row first) in the column headed `heading`, in row `n` (from 1).
fn cell<'v>(rows: &'v [Value], n: usize, heading: &str) -> &'v str {
    let column = rows[0].as_array().unwrap().iter().position(|h| h == heading).unwrap();
    rows[n][column].as_str().unwrap()
}

#[test]
fn each_release_shows_its_request_and_approvals_and_every_row_is_checked() {
    let Some(site) = site() else { return };
    let records = records(&site.served, "custody.html");
    assert_eq!(records.len(), 4, "the release, its request and two approvals: {records:#?}");
    let seen = visit(&site.served, "custody.html", Visit::default());
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    assert_rows(&seen, &records, &|_| false, "");
    let parts: Vec<&Value> = seen["rows"].as_array().unwrap().iter().map(|r| &r["part"]).collect();
    assert_eq!(parts, [&Value::Null, &Value::from("request"), &Value::from("approval"), &Value::from("approval")]);
    assert!(seen["banner"]["text"].as_str().unwrap().contains("4 statements checked: 4 authentic, 0 FAILED"));

    let releases = table_with(&seen, "gateway key");
    assert_eq!(releases.len(), 2, "{releases:#?}");
    assert_eq!((cell(releases, 1, "break-glass"), cell(releases, 1, "approvals")), ("no", "2"));

    let request = table_with(&seen, "requester key");
    assert_eq!(cell(request, 1, "reason"), "anomaly-manual-review");
    assert_eq!(
        (cell(request, 1, "requester's role"), cell(request, 1, "requester's country")),
        ("malware-analyst", "CH")
    );
    assert!(cell(request, 1, "requester key").ends_with("(analyst), trusted requester (malware-analyst, CH)"));

    let approvals = table_with(&seen, "approver key and group");
    let signers: Vec<&str> = (1..approvals.len()).map(|n| cell(approvals, n, "approver key and group")).collect();
    assert_eq!(signers.len(), 2, "{approvals:#?}");
    assert!(signers[0].ends_with("(sec1), trusted approver (vendor-security)"), "{signers:?}");
    assert!(signers[1].ends_with("(auditor1), trusted approver (outside-auditor, outside the vendor)"), "{signers:?}");
    assert!((1..approvals.len()).all(|n| cell(approvals, n, "decision") == "approve"));

    let months = table_with(&seen, "break-glass released");
    assert_eq!((cell(months, 1, "break-glass requests"), cell(months, 1, "break-glass released")), ("0", "0"));
    assert_eq!((cell(months, 1, "approvals"), cell(months, 1, "released")), ("2", "1"));
    // The first table with that heading is the breakdown by country (the request's comes later).
    let countries = table_with(&seen, "requester's country");
    assert_eq!(countries[0].as_array().unwrap().len(), 3, "{countries:#?}");
    assert!(countries.iter().any(|r| r[0] == "CH" && r[2] == "1"), "{countries:#?}");
    assert!(!seen["tables"].to_string().contains("keys/"), "no operator's path");

    // The release's number of approvals links to its details, and unfolds them.
    let index = records[0]["logIndex"].as_u64().unwrap();
    let link = format!("td[data-format=\"count\"] a[href=\"#release-{index}\"]");
    let seen = visit(&site.served, "custody.html", Visit { click: Some(&link), ..Visit::default() });
    assert_eq!(seen["opened"], serde_json::json!([format!("release-{index}")]), "{:#}", seen["opened"]);
}

#[test]
fn a_tampered_approval_or_a_broken_link_to_its_release_fails() {
    let Some(site) = site() else { return };
    let page = "custody.html";
    // An approver shown in the other group, and an approval's time: that approval's row fails.
    for (from, to, why) in [
        (
            "trusted approver (vendor-security)",
            "trusted approver (outside-auditor, outside the vendor)",
            "the page shows the signer",
        ),
        ("data-claim=\"predicate.decidedAt\">20", "data-claim=\"predicate.decidedAt\">19", "the page shows"),
    ] {
        let copy = served_copy(site);
        let row = edit_cell(copy.path(), page, "data-part=\"approval\"", from, to);
        assert_eq!(row, 2, "the first approval");
        let seen = visit(copy.path(), page, Visit::default());
        assert_only_row_failed(&seen, row, why);
    }

    // The request shown as one of the release's approvals: authentic, but not what it lists.
    let copy = served_copy(site);
    let row = edit_cell(copy.path(), page, "data-part=\"request\"", "request", "approval");
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, row, "does not list this approval");

    // The details headed with another release's log index: the release's row fails, and with it
    // the rows of its details, which are no longer shown under a verified release.
    let copy = served_copy(site);
    let row = edit_cell(copy.path(), page, "<summary>The request and approvals", "log index ", "log index 1");
    assert_eq!(row, 0, "the release");
    let seen = visit(copy.path(), page, Visit::default());
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    for (n, row) in seen["rows"].as_array().unwrap().iter().enumerate() {
        let why = if n == 0 {
            "the heading of its details names another release"
        } else {
            "not shown under a verified release"
        };
        assert_eq!(row["state"], "failed", "{row}");
        assert!(row["status"].as_str().unwrap().contains(why), "{row}");
    }

    // An approval the release lists left out of its details: the release's row fails.
    let copy = served_copy(site);
    let path = copy.path().join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let second = html.rmatch_indices("data-part=\"approval\"").next().unwrap().0;
    let start = html[..second].rfind("<tr ").unwrap();
    let end = second + html[second..].find("</tr>").unwrap() + "</tr>".len();
    std::fs::write(&path, format!("{}{}", &html[..start], &html[end..])).unwrap();
    let seen = visit(copy.path(), page, Visit::default());
    assert_only_row_failed(&seen, 0, "the page does not show \"sha256:");
}

#[test]
fn the_receipt_box_reads_a_chosen_file_and_answers_in_plain_words() {
    let Some(site) = site() else { return };
    let dir = tempfile::tempdir().unwrap();
    let not_a_receipt = dir.path().join("holiday.json");
    std::fs::write(&not_a_receipt, "Dear center, here is my file.\n").unwrap();
    for (file, state, words) in [
        (&site.released_receipt, "released", "Yes, your sample was released"),
        (&site.unreleased_receipt, "not-requested", "No one has asked for your sample"),
        (&not_a_receipt, "refused", "This is not a receipt"),
    ] {
        let seen = visit(&site.served, "custody.html", Visit { receipt_file: Some(file), ..Visit::default() });
        let answer = &seen["receipt"];
        assert_eq!(answer["state"], state, "{}: {answer:#}", file.display());
        let text = answer["text"].as_str().unwrap();
        assert!(text.starts_with(words), "{text}");
        assert!(!text.contains("index names"), "no jargon: {text}");
        // The page read the real file: its text is in the paste box.
        assert_eq!(answer["pasted"].as_str().unwrap(), std::fs::read_to_string(file).unwrap());
        if state != "refused" {
            let rows = answer["rows"].as_array().unwrap();
            assert!(!rows.is_empty() && rows.iter().all(|r| r["state"] == "verified"), "{answer:#}");
        }
    }
}

/// What an outside review of this page found a publisher could do without forging a signature,
/// each now failing closed: details detached from their release (their rows are not shown as
/// checked), a page printing the real log key but checking another, a request listed as a
/// release in the receipt box's data, and a link with a malformed fragment (which stopped every
/// check).
#[test]
fn detached_details_another_key_a_request_posing_as_a_release_and_a_bad_link_fail_closed() {
    let Some(site) = site() else { return };
    let page = "custody.html";

    // The details block no longer names its release: the release row stands, its request and
    // approvals fail.
    let seen = visit_edited(site, page, |html| {
        assert_eq!(html.matches("data-release-detail=").count(), 1, "one release's details");
        html.replace("data-release-detail=", "data-detached=")
    });
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_eq!(rows[0]["state"], "verified", "the release: {}", rows[0]);
    for row in &rows[1..] {
        assert_eq!(row["state"], "failed", "{row}");
        assert!(row["status"].as_str().unwrap().contains("not shown under a verified release"), "{row}");
    }

    // The page prints the log's key but its data names another: nothing is checked against it.
    let seen = visit_edited(site, page, |html| {
        let printed = html.split("<code class=\"gb-vkey\">").nth(1).and_then(|s| s.split("</code>").next()).unwrap();
        let in_data = format!("\"vkey\":\"{printed}\"");
        assert_eq!(html.matches(&in_data).count(), 1, "the data's log key is the printed one");
        let last = if printed.ends_with('A') { "B" } else { "A" };
        html.replace(&in_data, &format!("\"vkey\":\"{}{last}\"", &printed[..printed.len() - 1]))
    });
    assert_eq!(seen["banner"]["state"], "failed", "{:#}", seen["banner"]);
    assert!(seen["banner"]["text"].as_str().unwrap().contains("prints the log key"), "{:#}", seen["banner"]);

    // The receipt box's data lists the sample's (authentic) request as its release.
    let copy = served_copy(site);
    let receipt: Value = serde_json::from_slice(&std::fs::read(&site.released_receipt).unwrap()).unwrap();
    let commitment = receipt["commitment"].as_str().unwrap();
    let shard = copy.path().join(format!("custody/lookup/{}.json", &commitment[..2]));
    let mut lookup: Value = serde_json::from_slice(&std::fs::read(&shard).unwrap()).unwrap();
    let requests = lookup[commitment]["requests"].clone();
    assert!(!requests.as_array().unwrap().is_empty(), "the sample was requested");
    lookup[commitment]["releases"] = requests;
    std::fs::write(&shard, serde_json::to_vec(&lookup).unwrap()).unwrap();
    let seen = visit(copy.path(), page, Visit { receipt: Some(&site.released_receipt), ..Visit::default() });
    let answer = &seen["receipt"];
    assert_eq!(answer["state"], "failed", "{answer:#}");
    assert!(answer["text"].as_str().unwrap().contains("not a release of your sample"), "{answer:#}");

    // A link whose fragment is not valid percent-encoding: the page still checks every row.
    let seen = visit(&site.served, "custody.html#release-5%", Visit::default());
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    assert!(seen["rows"].as_array().unwrap().iter().all(|r| r["state"] == "verified"), "{seen:#}");
}

/// The custody rows' columns are verify.js's, not the page's: the approvals count shown in
/// another form (as text, which reads "none" for a list) fails the release's row; so does a copy
/// of the request's row, unmarked, in the releases table (authentic, but under another table's
/// headers), and a row the host added that names no record.
#[test]
fn a_cell_in_another_form_a_row_under_another_tables_headers_or_a_row_without_a_record_fails() {
    let Some(site) = site() else { return };
    let page = "custody.html";

    let seen = visit_edited(site, page, |html| {
        let start = html.find("<td data-claim=\"predicate.approvals\"").unwrap();
        let end = start + html[start..].find("</td>").unwrap() + "</td>".len();
        assert_eq!(html[..start].matches("<tr data-statement=").count(), 1, "the release's row");
        format!("{}<td data-claim=\"predicate.approvals\">none</td>{}", &html[..start], &html[end..])
    });
    assert_only_row_failed(&seen, 0, "the page shows other fields than a release row has");

    // Where the release's row ends (the first row of the page).
    let after_release = |html: &str| {
        let first = html.find("<tr data-statement=").unwrap();
        first + html[first..].find("</tr>").unwrap() + "</tr>".len()
    };
    let seen = visit_edited(site, page, |html| {
        let part = html.find("data-part=\"request\"").unwrap();
        let start = html[..part].rfind("<tr ").unwrap();
        let end = part + html[part..].find("</tr>").unwrap() + "</tr>".len();
        let unmarked = html[start..end].replace(" data-part=\"request\"", "");
        let at = after_release(html);
        format!("{}{unmarked}{}", &html[..at], &html[at..])
    });
    assert_only_row_failed(&seen, 1, "the request row is in a table of other columns");

    // A row of the host's own, naming no record, with a status cell saying it is authentic.
    let seen = visit_edited(site, page, |html| {
        let forged =
            "<tr data-statement=\"s-forged\"><td>1</td><td class=\"gb-status\">authentic, in the log</td></tr>";
        let at = after_release(html);
        format!("{}{forged}{}", &html[..at], &html[at..])
    });
    assert_only_row_failed(&seen, 1, "the page's data has no statement for this row");
}
