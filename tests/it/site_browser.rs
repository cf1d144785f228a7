//! The transparency site in a real browser (issue 13): the avscan story (a build, two PASSED
//! rebuilds by two rebuilders, a review, a FAILED rebuild of the `build-time` fixture, a custody
//! run, a witness cosignature, all in one log) goes through `glassbox site`; Debian's Chromium,
//! driven by playwright-core (tests/browser/visit.mjs), must verify every row, fail exactly the
//! rows each tampering affects, answer the receipt box, and show every table without JavaScript.
//! One fixture per test run; each visit serves its own copy of the site on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::custody_support::Center;
use crate::support::*;
use crate::verify::{copy_of_attestations, log_all, scenario, POLICY, PROVENANCE};

const WITNESS: &str = "witness.example";

/// node, Chromium and playwright-core's `node_modules` (`$GLASSBOX_TEST_NODE_MODULES`, else
/// `target/browser/node_modules`, where `cargo xtask ci` installs it); `None` (with a printed
/// reason) when one is missing, a failure under GLASSBOX_REQUIRE_TOOLS=1.
pub(crate) fn browser() -> Option<PathBuf> {
    if !have_tool("node", &["--version"]) || !have_tool("/usr/bin/chromium", &["--version"]) {
        return None;
    }
    let modules = std::env::var_os("GLASSBOX_TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/browser/node_modules"));
    if !modules.join("playwright-core/package.json").is_file() {
        assert!(
            std::env::var_os("GLASSBOX_REQUIRE_TOOLS").is_none(),
            "playwright-core is required under cargo xtask ci ({})",
            modules.display()
        );
        eprintln!("SKIPPED: playwright-core is not installed in {} (run cargo xtask ci)", modules.display());
        return None;
    }
    Some(modules)
}

/// The generated site, the log beside it, and what the pages should show.
pub(crate) struct Site {
    _dir: tempfile::TempDir,
    _attestations: tempfile::TempDir,
    /// The site with the log as `log/`, never changed: visits copy it.
    pub served: PathBuf,
    /// The release page of avscan and of the FAILED build-time fixture (relative to `served`).
    pub avscan_page: String,
    pub(crate) failed_page: String,
    /// Receipts of a released and of a never requested sample, and one for another log.
    pub(crate) released_receipt: PathBuf,
    pub(crate) unreleased_receipt: PathBuf,
    foreign_receipt: PathBuf,
    /// The attestations directory (with the log and policy) the site was generated from, and
    /// the log's key.
    pub attestations: PathBuf,
    pub log_key: PathBuf,
    /// The witness's key, whose cosignature the policy requires.
    pub witness_key: PathBuf,
}

impl Site {
    /// The witness cosigns `log`'s checkpoint (a copy of the site's log, grown since), with a
    /// fresh state of its own in `dir`.
    fn cosign(&self, log: &Path, dir: &Path) {
        ok(glassbox()
            .args(["log", "cosign"])
            .arg(log.join("checkpoint"))
            .arg("--key")
            .arg(&self.witness_key)
            .args(["--name", WITNESS, "--state"])
            .arg(dir.join("witness.state"))
            .arg("--log-vkey")
            .arg(self.attestations.join("keys/log.vkey"))
            .arg("--log")
            .arg(log));
    }
}

pub(crate) fn site() -> Option<&'static Site> {
    static SITE: OnceLock<Site> = OnceLock::new();
    browser()?;
    Some(SITE.get_or_init(build_site))
}

fn build_site() -> Site {
    let s = scenario();
    let (attestations, att) = copy_of_attestations("site");
    let dir = tempfile::tempdir().unwrap();
    let log = att.join("log");
    let log_key = s.keys.join("log.key");

    // 256 other statements, so that the story spans two level-0 tiles and a tampered full tile
    // fails only the rows whose leaves it holds.
    let fillers = dir.path().join("fillers.intoto.jsonl");
    crate::log::envelopes(&fillers, 0, 256);
    crate::log::append_ok(&log, &log_key, &fillers);

    // A FAILED rebuild: the build-time fixture embeds the time, so r1's rebuild differs.
    let ws = dir.path().join("build-time");
    copy_fixture("build-time", &ws);
    let (_, fixture_att) = build_workspace(&ws, &dir.path().join("fixture"), &s.keys.join("vendor.key"));
    ok(Command::new("cp").arg("-a").arg(fixture_att.join("build-time")).arg(&att));
    let provenance = att.join("build-time/0.1.0").join(PROVENANCE);
    let source = dir.path().join("fixture/out/build-time-0.1.0-src.tar.gz");
    let mut rebuild = reviewer_rebuild(dir.path(), &provenance, &source, &att.join("keys/vendor.pub"));
    let rebuild = output(rebuild.arg("--key").arg(s.keys.join("r1.key")));
    assert_eq!(rebuild.status.code(), Some(1), "the build-time rebuild should fail: {rebuild:?}");
    log_all(&att, &s.keys);

    // The custody run, into the same log: three samples in, one requested, approved and released.
    let center = Center::new();
    for entry in std::fs::read_dir(&center.keys).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pub") {
            std::fs::copy(&path, att.join("keys").join(path.file_name().unwrap())).unwrap();
        }
    }
    let (witness_key, witness_public) = keypair(dir.path(), "witness");
    let witness_vkey =
        ok(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_public).args(["--name", WITNESS]));
    std::fs::write(att.join("keys/witness.vkey"), witness_vkey.trim()).unwrap();
    let samples = center.policy_text("");
    let samples = &samples[samples.find("[samples]").expect("the center's policy has [samples]")..];
    let policy = att.join("policy.toml");
    // The gateway judges only under a witnessed checkpoint: the policy requires the witness.
    let text = POLICY
        .replace("witnesses = []", "witnesses = [\"keys/witness.vkey\"]")
        .replace("witness_threshold = 0", "witness_threshold = 1");
    std::fs::write(&policy, format!("{text}\n{samples}")).unwrap();
    let cosign = || {
        ok(glassbox()
            .args(["log", "cosign"])
            .arg(log.join("checkpoint"))
            .arg("--key")
            .arg(&witness_key)
            .args(["--name", WITNESS, "--state"])
            .arg(dir.path().join("witness.state"))
            .arg("--log-vkey")
            .arg(att.join("keys/log.vkey"))
            .arg("--log")
            .arg(&log));
    };
    let (released, unreleased, center_receipts) = custody_run(&center, &att, &log_key, &cosign);
    // The center's directory goes when `center` does; the receipts must outlive it.
    let receipts = dir.path().join("receipts");
    copy_tree(&center_receipts, &receipts);

    // The witness cosigns the final checkpoint.
    cosign();

    let out = dir.path().join("site");
    generate_site(&att, &log, &policy, &out);
    let served = dir.path().join("served");
    copy_tree(&out, &served);
    copy_tree(&log, &served.join("log"));

    // A receipt for another log: the same receipt, naming another origin and key.
    let (other_key, _) = keypair(dir.path(), "other-log");
    let other_vkey = ok(glassbox()
        .args(["log", "init"])
        .arg(dir.path().join("other-log"))
        .args(["--origin", "other.example/log", "--key"])
        .arg(&other_key));
    let mut foreign: Value =
        serde_json::from_slice(&std::fs::read(receipts.join(format!("{released}.json"))).unwrap()).unwrap();
    foreign["log"] = serde_json::json!({"origin": "other.example/log", "vkey": other_vkey.trim()});
    let foreign_receipt = dir.path().join("foreign-receipt.json");
    std::fs::write(&foreign_receipt, serde_json::to_vec_pretty(&foreign).unwrap()).unwrap();

    Site {
        avscan_page: "releases/avscan-0.1.0-x86_64-unknown-linux-gnu.html".into(),
        failed_page: "releases/build-time-0.1.0-x86_64-unknown-linux-gnu.html".into(),
        released_receipt: receipts.join(format!("{released}.json")),
        unreleased_receipt: receipts.join(format!("{unreleased}.json")),
        foreign_receipt,
        attestations: att,
        log_key,
        witness_key: witness_key.clone(),
        served,
        _dir: dir,
        _attestations: attestations,
    }
}

/// Intake of three samples, a request for the first approved by both groups and released;
/// returns (released commitment, never requested commitment, receipts directory).
fn custody_run(center: &Center, att: &Path, log_key: &Path, cosign: &dyn Fn()) -> (String, String, PathBuf) {
    let log = att.join("log");
    let policy = att.join("policy.toml");
    let files = center.sample_files(3, 512);
    let receipts = center.path().join("receipts");
    let intake: Value = serde_json::from_str(&ok(glassbox()
        .args(["sample", "intake", "--store"])
        .arg(&center.store)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--log")
        .arg(&log)
        .arg("--log-key")
        .arg(log_key)
        .arg("--receipts")
        .arg(&receipts)
        .arg("--json")
        .args(&files)))
    .unwrap();
    let commitment = |i: usize| -> String {
        let file = files[i].display().to_string();
        let sample = intake["samples"].as_array().unwrap().iter().find(|s| s["file"] == file.as_str()).unwrap();
        crate::custody_support::report_hex(&sample["commitment"])
    };
    let (released, unreleased) = (commitment(0), commitment(2));
    // The center publishes the policy; the log's operator appends it before the request.
    let statement = center.path().join("policy.intoto.jsonl");
    ok(glassbox()
        .args(["sample", "policy", "--policy"])
        .arg(&policy)
        .arg("--key")
        .arg(center.key("center"))
        .arg("--out")
        .arg(&statement));
    ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(log_key).arg(&statement));
    let request = center.path().join("request.intoto.jsonl");
    ok(glassbox()
        .args(["sample", "request", "--store"])
        .arg(&center.store)
        .arg("--policy")
        .arg(&policy)
        .args(["--sample", &released, "--reason", "anomaly-manual-review", "--detail", "heuristic 4711"])
        .args(["--destination", crate::custody_support::DESTINATION, "--recipient", &center.recipient, "--key"])
        .arg(center.key("analyst"))
        .arg("--log")
        .arg(&log)
        .arg("--out")
        .arg(&request));
    // Requesters and approvers only sign; the log's operator appends.
    let append = |file: &Path| ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(log_key).arg(file));
    append(&request);
    for approver in ["sec1", "auditor1"] {
        let decision = center.path().join(format!("decision-{approver}.intoto.jsonl"));
        ok(glassbox()
            .args(["sample", "decide"])
            .arg(&request)
            .arg("--approve")
            .arg("--key")
            .arg(center.key(approver))
            .arg("--log")
            .arg(&log)
            .arg("--out")
            .arg(&decision));
        append(&decision);
    }
    cosign();
    ok(glassbox()
        .args(["sample", "release"])
        .arg(&request)
        .arg("--store")
        .arg(&center.store)
        .arg("--policy")
        .arg(&policy)
        .arg("--log")
        .arg(&log)
        .arg("--log-key")
        .arg(log_key)
        .arg("--key")
        .arg(center.key("gateway"))
        .arg("--out")
        .arg(center.path().join("delivered")));
    (released, unreleased, receipts)
}

/// `glassbox site` of `attestations`, `log` and `policy` into `out`.
fn generate_site(attestations: &Path, log: &Path, policy: &Path, out: &Path) {
    ok(glassbox()
        .arg("site")
        .arg("--attestations")
        .arg(attestations)
        .arg("--log")
        .arg(log)
        .arg("--policy")
        .arg(policy)
        .arg("--out")
        .arg(out));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    ok(Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to));
}

/// A copy of the served site to tamper with.
pub(crate) fn served_copy(site: &Site) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&site.served, dir.path());
    dir
}

/// Visits `page` of a copy of the site whose page `edit` rewrote (its HTML in, the new HTML out).
pub(crate) fn visit_edited(site: &Site, page: &str, edit: impl FnOnce(&str) -> String) -> Value {
    let copy = served_copy(site);
    let path = copy.path().join(page.split('#').next().unwrap_or(page));
    let html = edit(&std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, html).unwrap();
    visit(copy.path(), page, Visit::default())
}

/// How to visit a page.
#[derive(Default)]
pub(crate) struct Visit<'a> {
    pub(crate) no_range: bool,
    pub(crate) no_js: bool,
    /// WebCrypto without Ed25519 (browsers before Chrome 137, Firefox 129, Safari 17).
    pub(crate) no_ed25519: bool,
    /// No WebCrypto at all (a page served over plain HTTP).
    pub(crate) no_webcrypto: bool,
    pub(crate) receipt: Option<&'a Path>,
    /// A receipt chosen in the page's file picker (Playwright's `setInputFiles`).
    pub(crate) receipt_file: Option<&'a Path>,
    /// A link to click (a CSS selector); `opened` then lists the `<details>` open after it.
    pub(crate) click: Option<&'a str>,
    pub(crate) screenshot: Option<&'a str>,
}

/// Two cores for four agents: one browser at a time. The lock holds the Chromium that visits
/// share (`visit.mjs --lines`), started by the first visit.
pub(crate) static ONE_BROWSER: Mutex<Option<Visitor>> = Mutex::new(None);

/// A running `node visit.mjs --lines`: one Chromium, a fresh context per visit. It exits when its
/// stdin closes, that is when this test process ends, and takes its browser with it.
pub(crate) struct Visitor {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::BufReader<std::process::ChildStdout>,
}

impl Visitor {
    fn start() -> Visitor {
        let modules = browser().expect("checked by site()");
        let log = repo().join("target/glassbox/visit-mjs.log");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let mut child = Command::new("node")
            .arg(repo().join("tests/browser/visit.mjs"))
            .arg("--lines")
            .env("NODE_PATH", &modules)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("node starts");
        let to = child.stdin.take().unwrap();
        let from = std::io::BufReader::new(child.stdout.take().unwrap());
        Visitor { child, to, from }
    }

    /// One visit (visit.mjs's arguments); its answer, or why there is none.
    fn visit(&mut self, args: &[String]) -> Result<Value, String> {
        use std::io::{BufRead, Write};
        let line = serde_json::to_string(args).unwrap();
        writeln!(self.to, "{line}")
            .map_err(|e| format!("visit.mjs is gone ({e}): see target/glassbox/visit-mjs.log"))?;
        let mut answer = String::new();
        self.from.read_line(&mut answer).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|e| format!("visit.mjs answered no JSON ({e}): {answer:?}; see target/glassbox/visit-mjs.log"))?;
        match answer {
            Value::Object(mut o) if o.contains_key("ok") => Ok(o.remove("ok").unwrap()),
            other => Err(format!("visit.mjs failed: {}", other["error"].as_str().unwrap_or("(no message)"))),
        }
    }
}

impl Drop for Visitor {
    fn drop(&mut self) {
        // By its own PID. Dropped only after a failed visit: its pipes may be out of step.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `page` of the directory `root` in Chromium; returns what visit.mjs saw.
pub(crate) fn visit(root: &Path, page: &str, how: Visit<'_>) -> Value {
    let mut args: Vec<String> = vec![
        "--root".into(),
        root.display().to_string(),
        "--page".into(),
        page.into(),
        "--timeout".into(),
        "120000".into(),
    ];
    for (on, flag) in [
        (how.no_range, "--no-range"),
        (how.no_js, "--no-js"),
        (how.no_ed25519, "--no-ed25519"),
        (how.no_webcrypto, "--no-webcrypto"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    for (value, flag) in [(how.receipt, "--receipt"), (how.receipt_file, "--receipt-file")] {
        if let Some(path) = value {
            args.extend([flag.to_string(), path.display().to_string()]);
        }
    }
    if let Some(selector) = how.click {
        args.extend(["--click".to_string(), selector.to_string()]);
    }
    if let Some(name) = how.screenshot {
        let dir = repo().join("target/glassbox/site-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        args.extend(["--screenshot".to_string(), dir.join(format!("{name}.png")).display().to_string()]);
    }
    let mut one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let visitor = one.get_or_insert_with(Visitor::start);
    match visitor.visit(&args) {
        Ok(seen) => seen,
        Err(why) => {
            // Not reused: a visit that failed may have left it in any state.
            *one = None;
            panic!("visiting {page} of {}: {why}", root.display())
        }
    }
}

/// The statement records of a page (its `#glassbox-data`).
pub(crate) fn records(root: &Path, page: &str) -> Vec<Value> {
    let html = std::fs::read_to_string(root.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
    let at = html.find("id=\"glassbox-data\"").unwrap_or_else(|| panic!("{page} has no #glassbox-data"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end]).unwrap_or_else(|e| panic!("{page}'s data: {e}"));
    data["statements"].as_array().cloned().unwrap_or_default()
}

/// Asserts that every `[data-statement]` row of `seen` is failed exactly when its record is in
/// `failed` (by row id), with one of the reasons in `why` (separated by " | ") in its status, and
/// verified otherwise.
pub(crate) fn assert_rows(seen: &Value, records: &[Value], failed: &dyn Fn(&Value) -> bool, why: &str) {
    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(seen["done"], "done", "{seen:#}");
    for row in rows {
        let id = &row["statement"];
        let record = records.iter().find(|r| &r["row"] == id).unwrap_or_else(|| panic!("row {id} has no record"));
        let status = row["status"].as_str().unwrap();
        if failed(record) {
            assert_eq!(row["state"], "failed", "row {id} should fail: {row}");
            assert!(
                status.starts_with("FAILED: ") && why.split(" | ").any(|w| status.contains(w)),
                "row {id}: {status} (wanted {why})"
            );
        } else {
            assert_eq!(row["state"], "verified", "row {id}: {row}\n{:#}", seen["banner"]);
            // A verified verdict that says FAILED says so; anything else is "authentic".
            let says_failed = record["claims"].as_array().is_some_and(|c| {
                c.iter().any(|c| c["path"] == "predicate.verificationResult" && c["value"] != "PASSED")
            });
            let want = if says_failed { "verified: the rebuilder says FAILED" } else { "authentic, in the log" };
            assert_eq!(status, want, "row {id}");
        }
    }
}

fn index_of(record: &Value) -> Option<u64> {
    record["logIndex"].as_u64()
}

#[test]
fn every_row_of_the_avscan_story_verifies_in_chromium() {
    let Some(site) = site() else { return };
    let pages = ["index.html", site.avscan_page.as_str(), site.failed_page.as_str(), "custody.html", "rebuilds.html"];
    for page in pages {
        let name = page.trim_end_matches(".html").replace('/', "-");
        let seen = visit(&site.served, page, Visit { screenshot: Some(&name), ..Visit::default() });
        let records = records(&site.served, page);
        assert_eq!(seen["banner"]["state"], "verified", "{page}: {:#}", seen["banner"]);
        assert!(seen["banner"].to_string().contains(WITNESS), "{page}: the witness is not shown: {:#}", seen["banner"]);
        assert_rows(&seen, &records, &|_| false, "");
        if page != "index.html" {
            assert!(!seen["rows"].as_array().unwrap().is_empty(), "{page} shows no statement");
        }
        for record in &records {
            assert!(
                seen["rows"].as_array().unwrap().iter().any(|r| r["statement"] == record["row"]),
                "{page}: no row shows {}",
                record["row"]
            );
        }
    }
    // A release page reads only what it needs: not the whole log.
    let seen = visit(&site.served, &site.avscan_page, Visit::default());
    let log_bytes: u64 = read_all(&site.served.join("log")).iter().map(|(_, b)| b.len() as u64).sum();
    assert!(seen["bytesServed"].as_u64().unwrap() < log_bytes, "{} of {log_bytes}", seen["bytesServed"]);
}

#[test]
fn a_server_without_range_support_is_sliced() {
    let Some(site) = site() else { return };
    for page in [site.avscan_page.as_str(), "custody.html"] {
        let seen = visit(&site.served, page, Visit { no_range: true, ..Visit::default() });
        let statuses: Vec<&Value> = seen["requests"].as_array().unwrap().iter().map(|r| &r["status"]).collect();
        assert!(!statuses.contains(&&Value::from(206)), "{statuses:?}");
        assert_rows(&seen, &records(&site.served, page), &|_| false, "");
    }
}

#[test]
fn one_changed_byte_of_a_full_hash_tile_fails_the_rows_whose_leaves_it_holds() {
    let Some(site) = site() else { return };
    let copy = served_copy(site);
    flip(&copy.path().join("log/tile/0/000"), 32 * 3 + 7);
    for page in [site.avscan_page.as_str(), site.failed_page.as_str(), "custody.html"] {
        let records = records(copy.path(), page);
        // The fillers put the FAILED rebuild and the custody run in the second tile.
        let in_tile = |r: &Value| index_of(r).is_some_and(|i| i < 256);
        if page != site.avscan_page {
            assert!(records.iter().any(|r| !in_tile(r)), "{page}: every row is in the first tile");
        }
        let seen = visit(copy.path(), page, Visit::default());
        // The leaf whose own slot changed fails the slot check; the others, the proof.
        let why = "inclusion proof does not reach the checkpoint's root | hash tile does not hold this entry";
        assert_rows(&seen, &records, &in_tile, why);
    }
}

/// Whether `record` is a verdict or review on a release page whose one provenance, `failed`,
/// fails: which release they are about rests on it (formats.md section 19).
fn of_failed_provenance(failed: &Value, record: &Value) -> bool {
    failed["role"] == "builder" && (record["role"] == "rebuilder" || record["role"] == "reviewer")
}

#[test]
fn one_changed_byte_of_a_shown_entry_fails_that_row_only() {
    let Some(site) = site() else { return };
    let page = site.avscan_page.as_str();
    let records = records(&site.served, page);
    let target = records.iter().find(|r| index_of(r).is_some()).expect("a logged statement").clone();
    let index = index_of(&target).unwrap();
    let size = checkpoint_size(&site.served.join("log/checkpoint"));
    let copy = served_copy(site);
    let bundle = copy.path().join("log").join(bundle_path(index / 256, size));
    let offset = target["entryOffset"].as_u64().unwrap() + 2 + target["entryLength"].as_u64().unwrap() / 2;
    flip(&bundle, offset as usize);
    // A release's provenance that fails takes its verdicts and reviews with it: which release
    // they are about rests on it.
    let failed = |r: &Value| index_of(r) == Some(index) || of_failed_provenance(&target, r);
    for no_range in [false, true] {
        let seen = visit(copy.path(), page, Visit { no_range, ..Visit::default() });
        assert_rows(&seen, &records, &failed, "");
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_fails_every_row() {
    let Some(site) = site() else { return };
    let copy = served_copy(site);
    let checkpoint = copy.path().join("log/checkpoint");
    let note = glassbox::tlog::note::Note::parse(&std::fs::read(&checkpoint).unwrap()).unwrap();
    let origin = note.text.lines().next().unwrap().to_string();
    let stranger = glassbox::keys::PrivateKey::from_seed(&[7; 32]);
    let forged = glassbox::tlog::note::Note::sign(&note.text, &origin, &stranger).unwrap();
    std::fs::write(&checkpoint, forged.to_bytes()).unwrap();
    for page in ["index.html", site.avscan_page.as_str(), "custody.html"] {
        let seen = visit(copy.path(), page, Visit::default());
        assert_eq!(seen["banner"]["state"], "failed", "{page}: {:#}", seen["banner"]);
        let why = format!("checkpoint not signed by {origin}");
        assert!(seen["banner"]["text"].as_str().unwrap().contains(&why), "{:#}", seen["banner"]);
        assert_rows(&seen, &records(copy.path(), page), &|_| true, &why);
    }
    // The receipt box refuses to answer under a forged checkpoint.
    let seen = visit(copy.path(), "custody.html", Visit { receipt: Some(&site.released_receipt), ..Visit::default() });
    assert_eq!(seen["receipt"]["state"], "failed", "{seen:#}");
}

#[test]
fn a_log_grown_since_the_site_verifies_and_another_history_fails_every_row() {
    let Some(site) = site() else { return };
    let generated = checkpoint_size(&site.served.join("log/checkpoint"));
    let page = site.avscan_page.as_str();
    let shown = records(&site.served, page);

    // 300 more entries: the checkpoint the browser fetches is larger than the site's, and must
    // be proved to extend it (the proof crosses a level-0 tile and reads the level-1 tile).
    let grown = served_copy(site);
    let more = grown.path().join("more.intoto.jsonl");
    crate::log::envelopes(&more, 10_000, 300);
    crate::log::append_ok(&grown.path().join("log"), &site.log_key, &more);
    let seen = visit(grown.path(), page, Visit::default());
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    let extends = format!("of {} entries", generated + 300);
    let from = format!("extends the {generated} entries this site was generated from");
    let text = seen["banner"]["text"].as_str().unwrap();
    assert!(text.contains(&extends) && text.contains(&from), "{text}");
    assert_rows(&seen, &shown, &|_| false, "");

    // The same key and origin, another history of more entries: every row fails.
    let forked = served_copy(site);
    let log = forked.path().join("log");
    let note = glassbox::tlog::note::Note::parse(&std::fs::read(log.join("checkpoint")).unwrap()).unwrap();
    let origin = note.text.lines().next().unwrap().to_string();
    std::fs::remove_dir_all(&log).unwrap();
    ok(glassbox().args(["log", "init"]).arg(&log).args(["--origin", &origin, "--key"]).arg(&site.log_key));
    let other = forked.path().join("other.intoto.jsonl");
    crate::log::envelopes(&other, 20_000, generated as usize + 10);
    crate::log::append_ok(&log, &site.log_key, &other);
    for page in [page, "index.html", "custody.html"] {
        let seen = visit(forked.path(), page, Visit::default());
        assert_eq!(seen["banner"]["state"], "failed", "{page}: {:#}", seen["banner"]);
        let why = format!("do not extend the {generated} the site was generated from");
        assert!(seen["banner"]["text"].as_str().unwrap().contains(&why), "{page}: {:#}", seen["banner"]);
        assert_rows(&seen, &records(forked.path(), page), &|_| true, &why);
    }
}

/// verify.js's consistency and inclusion proofs, under Node, against a reference tree that
/// tests/browser/tree-proofs.mjs builds itself: every size to 40, sizes around tile boundaries,
/// wrong old roots, a forked history and flipped tile bytes.
#[test]
fn the_browser_tree_proofs_agree_with_a_reference_tree() {
    if !have_tool("node", &["--version"]) {
        return;
    }
    let out = ok(Command::new("node")
        .arg(repo().join("tests/browser/tree-proofs.mjs"))
        .arg(repo().join("src/site/assets/verify.js")));
    let result: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("tree-proofs.mjs printed no JSON ({e}): {out}"));
    assert_eq!(result["failures"], serde_json::json!([]), "{result:#}");
    assert!(result["cases"].as_u64().unwrap() > 2000, "{result:#}");
}

#[test]
fn an_edited_envelope_on_the_site_fails_its_rows_only() {
    let Some(site) = site() else { return };
    for page in [site.avscan_page.as_str(), "custody.html"] {
        let records = records(&site.served, page);
        let target = records.iter().find(|r| index_of(r).is_some()).expect("a logged statement").clone();
        let copy = served_copy(site);
        let path = copy.path().join(target["envelopeUrl"].as_str().unwrap());
        let mut envelope: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        envelope["payload"] = Value::from(edited_payload(envelope["payload"].as_str().unwrap()));
        std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let seen = visit(copy.path(), page, Visit::default());
        // A custody release that fails takes its request and approvals with it: they are shown
        // as its details, which only a verified release's can be. So does a release's provenance
        // its verdicts and reviews.
        let details = |r: &Value| {
            target["role"] == "gateway"
                && r["role"].as_str().is_some_and(|role| role.starts_with("requester") || role.starts_with("approver"))
        };
        let failed = |r: &Value| r["envelope"] == target["envelope"] || details(r) || of_failed_provenance(&target, r);
        assert_rows(
            &seen,
            &records,
            &failed,
            "envelope does not match the log entry | not shown under a verified release | no provenance of this release verified",
        );
    }
}

#[test]
fn the_receipt_box_answers_released_not_requested_and_refuses_another_log() {
    let Some(site) = site() else { return };
    for (receipt, state) in [
        (&site.released_receipt, "released"),
        (&site.unreleased_receipt, "not-requested"),
        (&site.foreign_receipt, "refused"),
    ] {
        let seen = visit(&site.served, "custody.html", Visit { receipt: Some(receipt), ..Visit::default() });
        assert_eq!(seen["receipt"]["state"], state, "{}: {:#}", receipt.display(), seen["receipt"]);
        if state == "refused" {
            assert!(seen["receipt"]["text"].as_str().unwrap().contains("This receipt is for another log"), "{seen:#}");
        }
    }
}

#[test]
fn with_javascript_off_the_index_and_release_pages_show_every_table() {
    let Some(site) = site() else { return };
    for page in ["index.html", site.avscan_page.as_str(), site.failed_page.as_str(), "rebuilds.html"] {
        let on = visit(&site.served, page, Visit::default());
        let off = visit(&site.served, page, Visit { no_js: true, ..Visit::default() });
        assert_eq!(off["done"], Value::Null, "{page}: JavaScript ran");
        let tables = off["tables"].as_array().unwrap();
        assert!(!tables.is_empty(), "{page} shows no table without JavaScript");
        // The same tables, but for the status cells the script fills in.
        let strip = |v: &Value| -> String {
            v.to_string()
                .replace("authentic, in the log", "STATUS")
                .replace("verified: the rebuilder says FAILED", "STATUS")
                .replace("not checked (JavaScript is off)", "STATUS")
        };
        assert_eq!(strip(&on["tables"]), strip(&off["tables"]), "{page}");
        for row in off["rows"].as_array().unwrap() {
            assert_eq!(row["state"], Value::Null, "{page}: {row}");
            assert_eq!(row["status"], "not checked (JavaScript is off)", "{page}: {row}");
        }
    }
}

#[test]
fn a_logged_envelope_whose_payload_was_edited_after_signing_fails_its_rows_only() {
    let Some(site) = site() else { return };
    // r2's verdict, its time edited after signing, replaces the verdict file and is logged.
    let dir = tempfile::tempdir().unwrap();
    let att = dir.path().join("attestations");
    ok(Command::new("cp").arg("-a").arg(&site.attestations).arg(&att));
    let verdicts = verdict_files(&att.join("avscan/0.1.0"));
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    let line = std::fs::read_to_string(&verdicts[1]).unwrap();
    // The same compact line as glassbox writes it, only the payload replaced.
    let envelope: Value = serde_json::from_str(line.trim_end()).unwrap();
    let payload = envelope["payload"].as_str().unwrap();
    let edited = line.trim_end().replacen(payload, &edited_time(payload), 1);
    std::fs::write(&verdicts[1], format!("{edited}\n")).unwrap();
    crate::log::append_ok(&att.join("log"), &site.log_key, &verdicts[1]);
    site.cosign(&att.join("log"), dir.path());
    let out = dir.path().join("site");
    generate_site(&att, &att.join("log"), &att.join("policy.toml"), &out);
    copy_tree(&att.join("log"), &out.join("log"));
    let digest = glassbox::digest::Sha256Digest::of(edited.as_bytes()).hex();
    let records = records(&out, &site.avscan_page);
    assert!(records.iter().any(|r| r["envelope"] == digest.as_str()), "the page does not show the edited verdict");
    let seen = visit(&out, &site.avscan_page, Visit::default());
    assert_rows(&seen, &records, &|r| r["envelope"] == digest.as_str(), "no signature by");
}

/// Replaces the first `from` after `marker` in the page `page` of `root` by `to`; returns the
/// position (among the page's `tr[data-statement]` rows, in document order) of the row it is in.
pub(crate) fn edit_cell(root: &Path, page: &str, marker: &str, from: &str, to: &str) -> usize {
    let path = root.join(page);
    let html = std::fs::read_to_string(&path).unwrap();
    let at = html.find(marker).unwrap_or_else(|| panic!("{page} has no {marker}"));
    let offset = at + html[at..].find(from).unwrap_or_else(|| panic!("{page}: no {from} after {marker}"));
    let row = html[..at].matches("<tr data-statement=").count() - 1;
    let edited = format!("{}{to}{}", &html[..offset], &html[offset + from.len()..]);
    std::fs::write(&path, edited).unwrap();
    row
}

/// Asserts that of the page's statement rows exactly the `failed`-th failed, saying `why`, and
/// every other one verified.
pub(crate) fn assert_only_row_failed(seen: &Value, failed: usize, why: &str) {
    assert_eq!(seen["done"], "done", "{seen:#}");
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    for (n, row) in seen["rows"].as_array().unwrap().iter().enumerate() {
        let status = row["status"].as_str().unwrap();
        if n == failed {
            assert_eq!(row["state"], "failed", "row {n} should fail: {row}");
            assert!(status.starts_with("FAILED: ") && status.contains(why), "row {n}: {status} (wanted {why})");
        } else {
            assert_eq!(row["state"].as_str(), Some("verified"), "row {n}: {row}");
            assert!(
                ["authentic, in the log", "verified: the rebuilder says FAILED"].contains(&status),
                "row {n}: {row}"
            );
        }
    }
}

/// R2-D2: the badge covers the text a row shows. An edited digest cell, a FAILED rebuild shown as
/// PASSED, a claimed cell turned into an unchecked one, an edited custody release cell and an
/// edited claim in the receipt box's lookup data each fail exactly the row that shows them; an
/// edited checkpoint on the index fails the banner. The data block and verify.js are untouched.
#[test]
fn r2_d2_an_edited_cell_fails_exactly_its_row_on_every_page() {
    let Some(site) = site() else { return };
    // A release page: one artifact's digest.
    let copy = served_copy(site);
    let html = std::fs::read_to_string(copy.path().join(&site.avscan_page)).unwrap();
    let marker = "data-claim=\"subject.0.digest.sha256\"><code>";
    let at = html.find(marker).unwrap() + marker.len();
    let digit = &html[at..at + 1];
    let other = if digit == "0" { "1" } else { "0" };
    let row =
        edit_cell(copy.path(), &site.avscan_page, marker, &format!("{marker}{digit}"), &format!("{marker}{other}"));
    let seen = visit(copy.path(), &site.avscan_page, Visit::default());
    assert_only_row_failed(&seen, row, "the page shows");

    // The FAILED rebuild's page: its verdict shown as PASSED, then as an unchecked PASSED cell.
    for (from, to, why) in [
        (">FAILED</td>", ">PASSED</td>", "but the statement says \"FAILED\""),
        (
            "<td class=\"gb-negative\" data-claim=\"predicate.verificationResult\">FAILED</td>",
            "<td class=\"gb-unverified\">PASSED</td>",
            "shows it in no checked cell",
        ),
    ] {
        let copy = served_copy(site);
        let marker = "<td class=\"gb-negative\" data-claim=\"predicate.verificationResult\">FAILED";
        let row = edit_cell(copy.path(), &site.failed_page, marker.split('>').next().unwrap(), from, to);
        let seen = visit(copy.path(), &site.failed_page, Visit::default());
        assert_only_row_failed(&seen, row, why);
    }

    // The custody page: a release's destination.
    let copy = served_copy(site);
    let marker = "data-claim=\"predicate.destination\">";
    let row = edit_cell(copy.path(), "custody.html", marker, "</td>", "-forged</td>");
    let seen = visit(copy.path(), "custody.html", Visit::default());
    assert!(!seen["rows"].as_array().unwrap().is_empty());
    assert_only_row_failed(&seen, row, "-forged");

    // The receipt box: the lookup data's claim of the release's destination.
    let copy = served_copy(site);
    let receipt: Value = serde_json::from_slice(&std::fs::read(&site.released_receipt).unwrap()).unwrap();
    let commitment = receipt["commitment"].as_str().unwrap();
    let shard = copy.path().join(format!("custody/lookup/{}.json", &commitment[..2]));
    let mut lookup: Value = serde_json::from_slice(&std::fs::read(&shard).unwrap()).unwrap();
    let release = &mut lookup[commitment]["releases"][0];
    let forged_index = release["logIndex"].as_u64().unwrap();
    let claims = release["claims"].as_array_mut().unwrap();
    let claim = claims.iter_mut().find(|c| c["path"] == "predicate.destination").expect("a destination claim");
    claim["value"] = Value::from("somewhere-else");
    std::fs::write(&shard, serde_json::to_vec(&lookup).unwrap()).unwrap();
    let seen = visit(copy.path(), "custody.html", Visit { receipt: Some(&site.released_receipt), ..Visit::default() });
    let answer = &seen["receipt"];
    assert_eq!(answer["state"], "failed", "{answer:#}");
    let rows = answer["rows"].as_array().unwrap();
    assert!(rows.len() >= 3, "the intake batch, the request and the release: {answer:#}");
    for row in rows {
        let failed = row["logIndex"] == forged_index;
        assert_eq!(row["state"], if failed { "failed" } else { "verified" }, "{row}");
        let status = row["cells"].as_array().unwrap().last().unwrap().as_str().unwrap();
        assert!(!failed || status.contains("somewhere-else"), "{status}");
    }
    // Unedited, the same answer's rows all verify and show what the statements say.
    let seen = visit(&site.served, "custody.html", Visit { receipt: Some(&site.released_receipt), ..Visit::default() });
    let rows = seen["receipt"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 3 && rows.iter().all(|r| r["state"] == "verified"), "{:#}", seen["receipt"]);

    // The index: the checkpoint's root.
    let copy = served_copy(site);
    let index = std::fs::read_to_string(copy.path().join("index.html")).unwrap();
    let marker = "data-checkpoint=\"root\">";
    let at = index.find(marker).unwrap() + marker.len();
    let digit = &index[at..at + 1];
    let edited = format!("{}{}{}", &index[..at], if digit == "0" { "1" } else { "0" }, &index[at + 1..]);
    std::fs::write(copy.path().join("index.html"), edited).unwrap();
    let seen = visit(copy.path(), "index.html", Visit::default());
    assert_eq!(seen["banner"]["state"], "failed", "{:#}", seen["banner"]);
    assert!(
        seen["banner"]["text"].as_str().unwrap().contains("the page shows the checkpoint's root"),
        "{:#}",
        seen["banner"]
    );
}

/// The rebuilds page of the avscan story: avscan rebuilt by r1 and r2 (PASSED), build-time by r1
/// (FAILED, with its mismatch report), every other cell `not yet`. Each verdict cell verifies in
/// Chromium and each `not yet` says absence is not checked; a FAILED cell edited to PASSED, or a
/// cell's log index changed, fails that cell only. The data block and verify.js are untouched.
#[test]
fn the_rebuilds_page_verifies_every_verdict_cell_and_an_edited_one_fails() {
    let Some(site) = site() else { return };
    let page = "rebuilds.html";
    let records = records(&site.served, page);
    assert_eq!(records.len(), 3, "avscan by r1 and r2, build-time by r1: {records:#?}");
    let seen = visit(&site.served, page, Visit::default());
    assert_eq!(seen["banner"]["state"], "verified", "{:#}", seen["banner"]);
    assert_rows(&seen, &records, &|_| false, "");
    assert_eq!(seen["rows"].as_array().unwrap().len(), 3, "{seen:#}");

    // The matrix as the reader sees it: a row per release, a column per [rebuilds] key.
    let matrix = seen["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0][0] == "release")
        .unwrap_or_else(|| panic!("no matrix: {:#}", seen["tables"]));
    let rows = matrix.as_array().unwrap();
    assert_eq!(rows.len(), 3, "a heading and two releases: {matrix:#}");
    for (n, name) in ["r1", "r2", "r3"].iter().enumerate() {
        let public = glassbox::keys::PublicKey::read(&site.attestations.join(format!("keys/{name}.pub"))).unwrap();
        let heading = rows[0][n + 1].as_str().unwrap();
        assert!(
            heading.contains(public.key_id().short()) && heading.contains(name) && !heading.contains("keys/"),
            "{heading}"
        );
    }
    let cell = |row: usize, column: usize| rows[row][column].as_str().unwrap().to_string();
    assert!(cell(1, 0).starts_with("avscan 0.1.0") && cell(2, 0).starts_with("build-time 0.1.0"), "{matrix:#}");
    for (row, column, result) in [(1, 1, "PASSED"), (1, 2, "PASSED"), (2, 1, "FAILED")] {
        let text = cell(row, column);
        let badge = if result == "PASSED" { "authentic, in the log" } else { "verified: the rebuilder says FAILED" };
        assert!(text.starts_with(result) && text.contains(badge), "{row},{column}: {text}");
    }
    assert!(cell(2, 1).contains("mismatch report"), "{}", cell(2, 1));
    for (row, column) in [(1, 3), (2, 2), (2, 3)] {
        let text = cell(row, column);
        assert!(text.starts_with("not yet") && text.contains("not checked: absence"), "{row},{column}: {text}");
        assert!(!text.contains("verified"), "{text}");
    }

    // The FAILED verdict shown as PASSED, and a verdict's log index changed, each fail that cell.
    for (marker, from, to, why) in [
        (
            "<td class=\"gb-negative\" data-claim=\"predicate.verificationResult\">FAILED",
            ">FAILED</td>",
            ">PASSED</td>",
            "but the statement says \"FAILED\"",
        ),
        ("<td data-log-index>", "</td>", "0</td>", "the page shows log index"),
    ] {
        let copy = served_copy(site);
        let row = edit_cell(copy.path(), page, marker, from, to);
        let seen = visit(copy.path(), page, Visit::default());
        assert_only_row_failed(&seen, row, why);
    }
}

/// ux-review item 1: a browser without WebCrypto's Ed25519 checks every row with the site's copy
/// of noble-ed25519, fetched only then; one with no WebCrypto (plain HTTP), or without Ed25519 and
/// without the copy, says it checked nothing and accuses nobody.
#[test]
fn a_browser_without_webcrypto_ed25519_verifies_with_the_vendored_verifier_or_says_it_cannot_check() {
    let Some(site) = site() else { return };
    let noble = |seen: &Value| seen["requests"].as_array().unwrap().iter().any(|r| r["path"] == "/noble-ed25519.js");
    for page in ["index.html", site.avscan_page.as_str(), "custody.html"] {
        let seen = visit(&site.served, page, Visit { no_ed25519: true, ..Visit::default() });
        assert_eq!(seen["banner"]["state"], "verified", "{page}: {:#}", seen["banner"]);
        assert_rows(&seen, &records(&site.served, page), &|_| false, "");
        assert!(noble(&seen), "{page}: the vendored verifier was not used");
    }
    let seen = visit(
        &site.served,
        "custody.html",
        Visit { no_ed25519: true, receipt: Some(&site.released_receipt), ..Visit::default() },
    );
    assert_eq!(seen["receipt"]["state"], "released", "{:#}", seen["receipt"]);
    // With WebCrypto's Ed25519 the copy is never fetched.
    let seen = visit(&site.served, &site.avscan_page, Visit::default());
    assert!(!noble(&seen), "fetched noble-ed25519.js although the browser has Ed25519");

    let without_copy = served_copy(site);
    std::fs::remove_file(without_copy.path().join("noble-ed25519.js")).unwrap();
    let cases: [(&Path, Visit<'_>, &str); 2] = [
        (&site.served, Visit { no_webcrypto: true, ..Visit::default() }, "HTTPS"),
        (without_copy.path(), Visit { no_ed25519: true, ..Visit::default() }, "cannot check Ed25519 signatures"),
    ];
    for (root, how, why) in cases {
        for page in ["index.html", site.avscan_page.as_str(), "custody.html"] {
            let seen = visit(
                root,
                page,
                Visit { no_ed25519: how.no_ed25519, no_webcrypto: how.no_webcrypto, ..Visit::default() },
            );
            assert_eq!(seen["done"], "done", "{seen:#}");
            let banner = &seen["banner"];
            assert_eq!(banner["state"], "unchecked", "{page}: {banner:#}");
            let text = banner["text"].as_str().unwrap();
            assert!(text.contains(why) && text.contains("Nothing on this page was checked"), "{page}: {text}");
            assert!(!text.contains("FAILED"), "{page}: {text}");
            for row in seen["rows"].as_array().unwrap() {
                assert_eq!(row["state"], "unchecked", "{page}: {row}");
                let status = row["status"].as_str().unwrap();
                assert!(status.starts_with("not checked: ") && !status.contains("FAILED"), "{page}: {row}");
            }
        }
        let seen = visit(
            root,
            "custody.html",
            Visit {
                receipt: Some(&site.released_receipt),
                no_ed25519: how.no_ed25519,
                no_webcrypto: how.no_webcrypto,
                ..Visit::default()
            },
        );
        assert_eq!(seen["receipt"]["state"], "unchecked", "{:#}", seen["receipt"]);
    }
}

/// The site's Ed25519 fallback under Node (tests/browser/ed25519.mjs): RFC 8032's test vectors
/// verify with the vendored noble-ed25519 through verify.js's glue and every changed one is
/// refused; verify.js chooses it when WebCrypto lacks Ed25519 and checks nothing without
/// WebCrypto; with @noble/ed25519 installed (tests/browser/package.json), the vendored file is the
/// package's index.js byte for byte. It also checks verify.js's key ids, its split of a release's
/// name and which release a statement is about (tests/vectors/release-grouping.json).
#[test]
fn the_vendored_ed25519_verifier_passes_rfc_8032_and_is_the_npm_packages_file() {
    if !have_tool("node", &["--version"]) {
        return;
    }
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("tests/browser/ed25519.mjs")).arg(repo().join("src/site/assets/verify.js"));
    let modules = browser();
    if let Some(modules) = &modules {
        cmd.env("NODE_PATH", modules);
    }
    let out = ok(&mut cmd);
    let result: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ed25519.mjs printed no JSON ({e}): {out}"));
    assert_eq!(result["failures"], serde_json::json!([]), "{result:#}");
    assert!(result["cases"].as_u64().unwrap() > 60, "{result:#}");
    if modules.is_some() {
        assert_eq!(result["comparedWithPackage"], true, "@noble/ed25519 is pinned in tests/browser/package.json");
    }
}

/// Flips one bit of the byte at `offset` of `path`.
fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// The tree size of a checkpoint file (its second line).
fn checkpoint_size(path: &Path) -> u64 {
    std::fs::read_to_string(path).unwrap().lines().nth(1).unwrap().parse().unwrap()
}

/// `tile/entries/<N>[.p/<W>]` for bundle `n` of a log of `size` entries (formats.md section 15).
fn bundle_path(n: u64, size: u64) -> String {
    let digits = format!("{n:03}");
    let digits = format!("{}{digits}", "0".repeat((3 - digits.len() % 3) % 3));
    let groups: Vec<&str> = (0..digits.len()).step_by(3).map(|i| &digits[i..i + 3]).collect();
    let last = groups.len() - 1;
    let name: Vec<String> =
        groups.iter().enumerate().map(|(i, g)| if i < last { format!("x{g}") } else { g.to_string() }).collect();
    let width = (size - n * 256).min(256);
    let partial = if width < 256 { format!(".p/{width}") } else { String::new() };
    format!("tile/entries/{}{partial}", name.join("/"))
}

/// A verdict's payload (base64) with its `timeVerified` a year later.
fn edited_time(payload: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
    let edited = text.replacen("\"timeVerified\":\"20", "\"timeVerified\":\"21", 1);
    assert_ne!(edited, text, "{text}");
    engine.encode(edited)
}

/// A statement payload (base64) with one character of its JSON changed.
fn edited_payload(payload: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
    let edited = text.replacen("\"_type\"", "\"_typf\"", 1);
    assert_ne!(edited, text);
    engine.encode(edited)
}
