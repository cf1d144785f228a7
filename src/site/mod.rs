//! `glassbox site`: the outsider's view. Writes a static site (HTML pages readable without
//! JavaScript, one CSS file, one JavaScript module, the data as JSON) that shows every release,
//! every rebuilder's verdicts across them, and the sample custody record in the log, and whose
//! JavaScript verifies each shown statement in the reader's browser (checkpoint signature,
//! RFC 6962 inclusion, DSSE signature, the claims the page shows) against the log key printed
//! on the page. The layout and the page data are
//! docs/formats.md section 19; the guide is docs/site.md.

mod custody;
mod html;
pub mod layout;
mod model;
mod outdir;
mod output;
mod pages;
mod rebuilds;
mod report;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::policy::{verify_in, Context, Policy};
use crate::time::{Period, Timestamp};
use crate::tlog::checkpoint::Checkpoint;
use crate::transparency::LogDir;

pub use custody::bar_chart;
pub use html::{esc, shown};

/// The JavaScript module every page loads; it only reads what the page names.
pub const VERIFY_JS: &str = include_str!("assets/verify.js");
/// The one style sheet.
pub const SITE_CSS: &str = include_str!("assets/site.css");
/// noble-ed25519 3.2.0's `index.js`, byte for byte as npm publishes it (`@noble/ed25519`, MIT):
/// verify.js loads it only in a browser whose WebCrypto lacks Ed25519 (formats.md section 19).
pub const NOBLE_ED25519_JS: &str = include_str!("assets/noble-ed25519.js");
/// Its licence, which travels with it.
pub const NOBLE_ED25519_LICENSE: &str = include_str!("assets/noble-ed25519.LICENSE");
/// The SHA-256 of [`NOBLE_ED25519_JS`] (`package/index.js` of `npm pack @noble/ed25519@3.2.0`).
pub const NOBLE_ED25519_SHA256: &str = "a4f631d1876b5d9e43a86cd71194ca27b5e1451edf4ba4db9a418f40a475569a";

/// What `glassbox site` is asked to do.
#[derive(Clone, Debug)]
pub struct SiteRequest {
    /// The attestations directory (statements not in the log are shown as such).
    pub attestations: PathBuf,
    /// The log directory the site describes.
    /// The log: a directory, a bucket or a base URL.
    pub log: LogDir,
    /// The trust policy the verdicts are given under.
    pub policy: PathBuf,
    /// Where the pages fetch the log from: absolute, or relative to the site's root.
    pub log_url: String,
    /// The output directory.
    pub out: PathBuf,
    /// The state kept between runs ([`state`]), if the operator keeps one.
    pub state: Option<PathBuf>,
}

/// What was written, for the CLI to report.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSummary {
    pub out: PathBuf,
    pub log_size: u64,
    pub releases: usize,
    pub statements: usize,
    pub custody_entries: usize,
    /// The files of the site (`.glassbox-site` included).
    pub files: usize,
    /// Of those, the ones written: new, or different from what `--out` held.
    pub files_written: usize,
    /// Files an earlier generation wrote that the site no longer has, removed.
    pub files_removed: usize,
    /// Where the pages fetch the log from, and whether a copy is already there.
    #[serde(flatten)]
    pub log: layout::LogPlacement,
    /// What the state (`--state`) saved this run, when one is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateUse>,
}

/// How a run used the state it was given.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateUse {
    pub file: PathBuf,
    /// Custody entries whose envelope was not read again: the state's reading of it still held.
    pub custody_entries_reused: u64,
    /// Why a state file that was there was not used (then written anew).
    pub discarded: Option<String>,
}

/// Generates the site. Deterministic: the same inputs give byte-identical files.
pub fn generate(request: &SiteRequest) -> Result<SiteSummary> {
    check_log_url(&request.log_url)?;
    // `site/` and `site/.` name what a symlink `site` points to: the path without them is the
    // one checked and written, so that a symlink is refused however it is named.
    let out: PathBuf = request.out.components().collect();
    check_out(&out)?;
    let policy = Policy::load(&request.policy)?;
    let lp = policy.log.as_ref().ok_or_else(|| {
        Error::invalid(policy.path.display(), "has no [log] section: the site shows a log, and needs its vkey")
    })?;
    let (log, raw) = model::Log::open(&request.log, lp)?;
    let found = match &request.state {
        Some(path) => Some(state::load(path, &out, &log.verified.origin)?),
        None => None,
    };
    let known = found.as_ref().and_then(|f| f.state.custody.as_ref());
    // Before anything is written: a layout that would fail every page is refused.
    let shown = Checkpoint {
        origin: log.verified.origin.clone(),
        size: log.verified.size,
        root: log.verified.root.0,
        extensions: Vec::new(),
    };
    let placement = layout::check(&request.log_url, &out, &lp.vkey, &shown)?;
    let collected = crate::policy::evidence::collect(&request.attestations)?;
    let has_custody = policy.samples.is_some()
        && log.entries.iter().any(|e| crate::custody::statements::is_custody_type(&e.predicate_type));
    let chrome = html::Chrome {
        origin: log.verified.origin.clone(),
        vkey: lp.vkey.to_string(),
        log_url: request.log_url.clone(),
        size: log.verified.size,
        root_base64: BASE64.encode(log.verified.root.0),
        witnesses: lp.witnesses.iter().map(|w| json!({"name": w.name, "vkey": w.to_string()})).collect(),
        custody: has_custody,
    };
    let mut site = output::SiteWriter::open(&out)?;
    // The releases' pages and the custody pages depend on nothing of each other: made side by
    // side, so that what one does on one core (the verdicts, the custody replay) overlaps the
    // other's work. The releases' part is done first: its files are staged, and the disk starts
    // writing them, while the custody part is still being made.
    let (made, custody) = rayon::join(
        || {
            let mut made = release_files(request, &policy, &log, collected, &chrome)?;
            site.stage(&std::mem::take(&mut made.files))?;
            site.start_writeback();
            Ok::<_, Error>(made)
        },
        || match (has_custody, policy.samples.as_ref()) {
            (true, Some(samples)) => custody_files(&policy, &log, &raw, &chrome, samples, known).map(Some),
            _ => Ok(None),
        },
    );
    let ReleaseFiles { releases, verdicts, mut statement_count, .. } = made?;
    let mut files = BTreeMap::new();
    let mut custody_entries = 0;
    let mut kept = None;
    if let Some((entries, c, k)) = custody? {
        custody_entries = entries;
        statement_count += c.records;
        files = c.files;
        kept = Some(k);
    }
    let custody_page = files.contains_key("custody.html");

    let key_files: Vec<String> = policy.key_files.keys().cloned().collect();
    files.insert("index.html".into(), pages::index(&chrome, &log, &releases, &verdicts, custody_page).into_bytes());
    files.insert("site.json".into(), site_json(&log, &releases, &verdicts, &key_files));
    files.insert("site.css".into(), SITE_CSS.as_bytes().to_vec());
    files.insert("verify.js".into(), VERIFY_JS.as_bytes().to_vec());
    files.insert("noble-ed25519.js".into(), NOBLE_ED25519_JS.as_bytes().to_vec());
    files.insert("noble-ed25519.LICENSE".into(), NOBLE_ED25519_LICENSE.as_bytes().to_vec());
    site.stage(&files)?;
    let written = site.finish()?;
    // Saved once the site is in place: a state is only ever the state of a site written.
    let state = match (&request.state, found) {
        (Some(file), Some(found)) => {
            let reused = kept.as_ref().map_or(0, |k| k.reused);
            state::save(file, &out, &log.verified.origin, kept.map(|k| k.readings))?;
            Some(StateUse { file: file.clone(), custody_entries_reused: reused, discarded: found.discarded })
        }
        _ => None,
    };
    let summary = SiteSummary {
        out,
        log_size: log.verified.size,
        releases: releases.len(),
        statements: statement_count,
        custody_entries,
        files: written.written + written.unchanged,
        files_written: written.written,
        files_removed: written.removed,
        log: placement,
        state,
    };
    // Freeing the log and the pages (hundreds of thousands of buffers) takes a tenth of a run:
    // done on another thread, so that the caller has the summary (and a CLI exits) without
    // waiting for it. (Should no thread start, the closure and all it holds are dropped here.)
    let _ = std::thread::Builder::new().name("site-free".into()).spawn(move || drop((files, log, raw)));
    Ok(summary)
}

/// The releases' part of the site: a page per release (with its verdicts under the policy, as
/// `glassbox verify` gives them), mismatch reports, the rebuilds page, and the envelopes shown.
struct ReleaseFiles {
    files: BTreeMap<String, Vec<u8>>,
    releases: Vec<model::Release>,
    verdicts: Vec<pages::Verdicts>,
    statement_count: usize,
}

fn release_files(
    request: &SiteRequest,
    policy: &Policy,
    log: &model::Log,
    collected: crate::policy::evidence::Collected,
    chrome: &html::Chrome,
) -> Result<ReleaseFiles> {
    let signing_keys: Vec<_> =
        policy.builders.iter().chain(&policy.rebuilds.keys).chain(&policy.reviews.keys).cloned().collect();
    let shown = model::statements(&collected, log, &signing_keys)?;
    let releases = model::releases(&shown);
    // Verdicts as `glassbox verify` gives them, for each provenance's bundle (the statements
    // and the log read once for all). A policy without builders gives none.
    let cx = match policy.builders.is_empty() {
        true => None,
        false => Some(Context::of_authenticated(
            policy,
            collected,
            &request.log,
            &log.verified,
            log.entries.clone(),
            log.bundles.clone(),
        )),
    };
    let mut verdicts = Vec::new();
    for r in &releases {
        let mut vs = Vec::new();
        for &p in &r.provenances {
            let bundle = shown[p]
                .found
                .statement
                .subject
                .iter()
                .find(|d| d.name.as_deref().is_some_and(|n| n.ends_with(".tar.gz")) && d.sha256().is_some());
            vs.push(match (bundle.and_then(|d| Some((d.name.clone()?, d.sha256()?))), &cx) {
                (Some((name, sha)), Some(cx)) => {
                    verify_in(cx, Path::new(&name), sha, policy).map_err(|e| e.to_string())
                }
                (None, _) => Err("the provenance names no bundle with a sha256".into()),
                (_, None) => Err("the policy has no [builders] section".into()),
            });
        }
        verdicts.push(vs);
    }

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reports = BTreeMap::new();
    for r in &releases {
        for &n in &r.verdicts {
            if model::str_at(&shown[n].payload, "predicate.verificationResult") == "PASSED" {
                continue;
            }
            let title = format!("{} {} ({}): rebuild mismatch", r.component, r.version, r.target);
            let release = format!("releases/{}.html", r.file);
            let answer = report::mismatch_page(&request.attestations, &shown[n], &title, &release).map(|page| {
                let rel = format!("reports/{}.html", shown[n].found.digest.hex());
                files.insert(rel.clone(), page.into_bytes());
                rel
            });
            reports.insert(n, answer);
        }
    }
    let mut shown_digests = std::collections::BTreeSet::new();
    let cx = pages::ReleaseContext { chrome, log, policy, shown: &shown, reports: &reports };
    let mut statement_count = 0;
    // The pages are independent of each other: rendered on all cores (each checks the
    // signatures of what it shows).
    let rendered: Vec<(String, usize)> = {
        use rayon::prelude::*;
        releases
            .par_iter()
            .zip(&verdicts)
            .map(|(r, vs)| {
                let (page, records) = pages::release(&cx, r, vs);
                (page, records.len())
            })
            .collect()
    };
    for (r, (page, records)) in releases.iter().zip(rendered) {
        statement_count += records;
        files.insert(format!("releases/{}.html", r.file), page.into_bytes());
        for &n in r.provenances.iter().chain(&r.verdicts).chain(&r.reviews) {
            shown_digests.insert(n);
        }
    }
    // Every verdict the rebuilds page shows is on its release's page: its envelope is copied
    // with theirs.
    files.insert(rebuilds::FILE.into(), rebuilds::page_of(&cx, &releases).into_bytes());
    for n in shown_digests {
        files.insert(model::envelope_url(&shown[n].found.digest), shown[n].line.clone());
    }

    Ok(ReleaseFiles { files, releases, verdicts, statement_count })
}

/// The custody pages ([`custody::render`] of the audit as of the checkpoint) and the copies of
/// the release envelopes they link to, with the number of custody entries and what the audit
/// read, for the state (`known`: the state's readings).
fn custody_files(
    policy: &Policy,
    log: &model::Log,
    raw: &[Vec<u8>],
    chrome: &html::Chrome,
    samples: &crate::policy::SamplesPolicy,
    known: Option<&crate::custody::audit::Readings>,
) -> Result<(usize, custody::CustodyFiles, crate::custody::audit::Kept)> {
    let (report, kept) = custody_report(policy, log, raw, known)?;
    let mut c = custody::render(chrome, log, &report, samples)?;
    for (index, digest) in std::mem::take(&mut c.envelopes) {
        c.files.insert(model::envelope_url(&digest), log.envelope_line(index)?);
    }
    Ok((report.custody_entries as usize, c, kept))
}

/// The custody audit as of the checkpoint: its newest cosignature, else the audit's own rule,
/// the newest statement that counts (the site has no clock; expiries and break-glass deadlines
/// are judged then, and no statement that no policy key signed can move it).
fn custody_report(
    policy: &Policy,
    log: &model::Log,
    raw: &[Vec<u8>],
    known: Option<&crate::custody::audit::Readings>,
) -> Result<(crate::custody::audit::Report, crate::custody::audit::Kept)> {
    use crate::custody::audit::{audit_parsed, ClockSource, Options};
    let now = log.newest_cosignature.map(|t| (Timestamp(t as i64), ClockSource::Cosignature));
    let options = Options { from: None, to: None, period: Period::Month, now };
    audit_parsed(&log.dir, policy, &log.verified, raw, &log.entries, &log.bundles, &options, known)
        .map_err(|e| Error::invalid(log.dir.root.display(), format!("the custody entries do not audit: {e}")))
}

/// site.json: the index's data.
fn site_json(
    log: &model::Log,
    releases: &[model::Release],
    verdicts: &[pages::Verdicts],
    key_files: &[String],
) -> Vec<u8> {
    let renames = key_renames(key_files);
    let list: Vec<_> = releases
        .iter()
        .zip(verdicts)
        .map(|(r, vs)| {
            json!({
                "component": r.component,
                "version": r.version,
                "target": r.target,
                "page": format!("releases/{}.html", r.file),
                "accepted": vs.iter().any(|v| v.as_ref().is_ok_and(|v| v.accepted)),
                "verdicts": vs.iter().map(|v| match v {
                    Ok(v) => publishable(serde_json::to_value(v).unwrap_or_default(), &renames),
                    Err(why) => json!({"error": why}),
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let v = &log.verified;
    let value = json!({
        "version": 1,
        "checkpoint": {
            "origin": v.origin,
            "size": v.size,
            "root": v.root.hex(),
            "cosignedBy": v.cosigned_by,
            "newestCosignature": log.newest_cosignature,
        },
        "releases": list,
    });
    let mut bytes = crate::json::to_pretty(&value).into_bytes();
    bytes.push(b'\n');
    bytes
}

/// How site.json names the policy's key files: each path the policy gives (as `keyPath` and in
/// `detail` and `summary` texts) becomes the key's name ([`model::key_name`]), as the pages
/// show it. Longest first, so that a path that is a prefix of another leaves no fragment.
fn key_renames(key_files: &[String]) -> Vec<(String, String)> {
    let mut renames: Vec<(String, String)> = key_files.iter().map(|p| (p.clone(), model::key_name(p))).collect();
    renames.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    renames
}

/// A verdict as site.json publishes it: without the operator's key files (`keyPath` left out,
/// key paths in texts renamed by `renames`); key ids stay.
fn publishable(mut verdict: serde_json::Value, renames: &[(String, String)]) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, renames: &[(String, String)]) {
        match v {
            serde_json::Value::String(text) => {
                for (path, name) in renames {
                    if text.contains(path.as_str()) {
                        *text = text.replace(path.as_str(), name);
                    }
                }
            }
            serde_json::Value::Object(map) => {
                map.remove("keyPath");
                map.values_mut().for_each(|v| walk(v, renames));
            }
            serde_json::Value::Array(list) => list.iter_mut().for_each(|v| walk(v, renames)),
            _ => {}
        }
    }
    walk(&mut verdict, renames);
    verdict
}

/// `--log-url`: an absolute http(s) URL or a relative path ending in `/`, with nothing that
/// could leave an attribute or become a script URL.
fn check_log_url(url: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid(format!("--log-url {url:?}"), why.to_string());
    if url.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'<>`\\".contains(c)) {
        return Err(bad("holds whitespace, a quote, a backslash or an angle bracket"));
    }
    let lower = url.to_ascii_lowercase();
    if lower.contains("javascript:") || lower.contains("data:") {
        return Err(bad("is a script or data URL"));
    }
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("names no host"));
        }
        if !url.ends_with('/') {
            return Err(bad("must end with '/' (the log's directory)"));
        }
        return Ok(());
    }
    if url.contains(':') || url.starts_with("//") || !url.ends_with('/') {
        return Err(bad("must be an absolute http(s) URL or a relative path ending in '/'"));
    }
    Ok(())
}

/// The output directory: created if missing; an existing file or symlink is refused.
fn check_out(out: &Path) -> Result<()> {
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::invalid(out.display(), "is a symlink: --out must be a directory"))
        }
        Ok(m) if !m.is_dir() => Err(Error::invalid(out.display(), "is not a directory")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(out, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_ed25519_verifier_is_the_recorded_file() {
        assert_eq!(crate::digest::Sha256Digest::of(NOBLE_ED25519_JS.as_bytes()).hex(), NOBLE_ED25519_SHA256);
        assert!(NOBLE_ED25519_JS.starts_with("/*! noble-ed25519 - MIT License (c) 2019 Paul Miller"));
        assert!(NOBLE_ED25519_LICENSE.contains("Copyright (c) 2019 Paul Miller"));
    }

    #[test]
    fn verify_js_names_the_predicate_types_as_glassbox_does() {
        use crate::attest::*;
        for (name, value) in [
            ("SLSA_PROVENANCE", SLSA_PROVENANCE_V1),
            ("SLSA_VSA", SLSA_VSA_V1),
            ("REVIEW", REVIEW_V1),
            ("SAMPLE_RELEASE", SAMPLE_RELEASE_V1),
            ("SAMPLE_REQUEST", SAMPLE_REQUEST_V1),
            ("SAMPLE_DECISION", SAMPLE_DECISION_V1),
        ] {
            assert!(VERIFY_JS.contains(&format!("const {name} = \"{value}\";")), "{name}");
        }
    }

    #[test]
    fn log_urls() {
        for ok in ["log/", "../log/", "https://log.example/glassbox/", "http://127.0.0.1:8080/log/"] {
            assert!(check_log_url(ok).is_ok(), "{ok}");
        }
        for bad in
            ["log", "javascript:alert(1)//", "https://", "a b/", "x\"/", "<x>/", "//evil/", "data:text/", "ftp://x/"]
        {
            assert!(check_log_url(bad).is_err(), "{bad}");
        }
    }
}
