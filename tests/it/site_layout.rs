//! The site for its audience, in Chromium (issue 22): every page of the avscan and custody
//! stories at a phone's and a desktop's width, driven by tests/browser/layout.mjs in one browser
//! launch: nothing wider than the screen, no control covered, axe-core clean of serious and
//! critical violations, and "checking…" with a count while the log's answers are held.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::site_browser::{browser, records, site, ONE_BROWSER};
use crate::support::*;

/// Issue 22: every page of the avscan and custody stories (the index, both release pages, the
/// rebuilds page, the custody page with a receipt checked, each mismatch report) as a reader on
/// a 390 px phone and a 1280 px desktop sees it, in one browser (tests/browser/layout.mjs): no
/// page wider than the screen, no control covered (the element at a control's centre is the
/// control), no serious or critical axe-core violation; screenshots in target/site-shots/. Then
/// a release page whose log requests are held: every row says "checking…" and the banner counts
/// until the log answers.
#[test]
fn every_page_fits_a_phone_and_a_desktop_and_says_checking_while_it_checks() {
    let Some(site) = site() else { return };
    let modules = browser().expect("checked by site()");
    let mut pages = vec![
        "index.html".to_string(),
        site.avscan_page.clone(),
        site.failed_page.clone(),
        "rebuilds.html".into(),
        "custody.html".into(),
    ];
    let reports: Vec<String> = std::fs::read_dir(site.served.join("reports"))
        .unwrap()
        .map(|e| format!("reports/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert!(!reports.is_empty(), "the FAILED rebuild has a report page");
    pages.extend(reports);
    let shots = repo().join("target/site-shots");
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("tests/browser/layout.mjs"))
        .arg("--root")
        .arg(&site.served)
        .args(["--pages", &pages.join(","), "--slow", &site.avscan_page])
        .arg("--shots")
        .arg(&shots)
        .arg("--receipt")
        .arg(&site.released_receipt)
        .env("NODE_PATH", &modules);
    let stdout = {
        let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        ok(&mut cmd)
    };
    let seen: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("layout.mjs printed no JSON ({e}): {stdout}"));
    let looked = seen["pages"].as_array().unwrap();
    assert_eq!(looked.len(), pages.len() * 2, "every page at both widths");
    let mut problems = Vec::new();
    for p in looked {
        let at = format!("{} at {}", p["page"], p["viewport"]);
        if p["scrollWidth"].as_u64() > p["innerWidth"].as_u64() {
            problems.push(format!("{at}: {} px wide on a {} px screen", p["scrollWidth"], p["innerWidth"]));
        }
        for c in p["covered"].as_array().unwrap() {
            problems.push(format!("{at}: {} is covered by {}", c["control"], c["at"]));
        }
        for v in p["axe"].as_array().unwrap() {
            problems.push(format!("{at}: axe {} ({}): {} {}", v["id"], v["impact"], v["help"], v["nodes"]));
        }
        assert!(Path::new(p["shot"].as_str().unwrap()).is_file(), "{at}: no screenshot");
        if p["page"] == "custody.html" {
            assert_eq!(p["receipt"], "released", "{at}: the Check button answered");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(seen["console"], serde_json::json!([]), "no page error");

    // While the log is held: every row and the banner say "checking…", the count starts at 0.
    let slow = &seen["slow"];
    let records = records(&site.served, &site.avscan_page).len();
    let waiting = &slow["waiting"];
    assert_eq!(waiting["done"], Value::Null, "{slow:#}");
    let rows = waiting["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r == "checking…"), "{slow:#}");
    assert_eq!(waiting["banner"], "checking…", "{slow:#}");
    assert_eq!(waiting["progress"], format!("checking 0 of {records} statements…"), "{slow:#}");
    // Then each finished statement moves the count, and the rows have their verdicts.
    let finished = &slow["finished"];
    assert_eq!(finished["progress"], format!("{records} statements checked: {records} authentic, 0 FAILED."));
    assert!(finished["rows"].as_array().unwrap().iter().all(|r| r != "checking…"), "{slow:#}");
    let counts: Vec<&str> = slow["progress"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for n in 1..records {
        assert!(counts.contains(&format!("checking {n} of {records} statements…").as_str()), "{n}: {counts:?}");
    }
}
