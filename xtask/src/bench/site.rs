//! `cargo xtask bench site`: `glassbox site` over a log of 100,000 entries holding 1,000
//! releases (10,000 and 100 with `--quick`; see `site_log`) against `glassbox log audit` of the
//! same log (both the release binary, best of 3): the site reads and authenticates the whole log
//! as the audit does, then writes a page per release, so the ratio says what the pages cost
//! beyond reading the log (target: at most 1.5). For context, without a target: the site against
//! `log audit --trust` with the fixture's signing keys, which like the site checks every
//! entry's signature. Then the site regenerated in place, with the `--state` the first
//! generation kept beside it, after the
//! log grew by 1,000 entries (`site_log::ensure_grown`, a cached copy of the fixture) against a
//! full generation of the grown log into an empty directory (target: at most 0.2), the two
//! trees compared byte for byte. Every generation writes into a directory no earlier run used,
//! and all of them are removed only after the last timing: on ext4 without a journal (as on the
//! CI machines), creating a file scans past every inode freed in the last minute, so a run
//! right after `rm -rf` of the previous run's 6,800 files spends seconds in the kernel on the
//! bench's own deletion. Then the bytes a browser downloads to verify one release page of
//! that site (target: under 200 KB), measured by the browser tests' driver
//! (`tests/browser/visit.mjs`: Debian's Chromium through playwright-core, the site served with
//! the log beside it by a loopback server that counts the bytes it sends); without Chromium or
//! node and npm the figure is reported as not measured, with the reason (playwright-core is
//! installed under `target/browser` as `cargo xtask ci` installs it).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::site_log::{self, Fixture, TARGET};
use super::{remove_dir, timed, Ratio, Target};
use crate::util::repo_root;

/// Timed runs of each command; the best counts.
const RUNS: u32 = 3;
/// Entries appended to the log before the site is regenerated in place.
const GROWTH: usize = 1_000;
/// Bytes a browser may download to verify one release page.
const PAGE_BYTES_TARGET: f64 = 200_000.0;

pub(super) fn bench_site(glassbox: &Path, quick: bool) -> Result<Vec<Ratio>> {
    println!();
    let bench_dir = repo_root().join("target/bench-site");
    let fixture = site_log::ensure(&bench_dir, quick)?;
    println!(
        "site: glassbox site vs glassbox log audit on a log of {} entries ({} releases of 4 statements, the rest custody intake batches), best of {RUNS}",
        fixture.entries, fixture.releases
    );
    // Output directories of this run (see the module comment); a previous run's are gone first.
    let runs = bench_dir.join("runs");
    remove_dir(&runs)?;
    let mut fresh_dirs = 0;
    let mut fresh_dir = |label: &str| {
        fresh_dirs += 1;
        runs.join(format!("{label}-{fresh_dirs}"))
    };
    let mut out = runs.clone();

    let mut audit = Duration::MAX;
    for _ in 0..RUNS {
        let mut cmd = Command::new(glassbox);
        cmd.args(["log", "audit"]).arg(&fixture.log).arg("--vkey").arg(&fixture.vkey);
        audit = audit.min(timed(&mut cmd)?.1);
    }
    println!("  {:<24} {:>8.2}s", "glassbox log audit", audit.as_secs_f64());
    // For context: the site also replays the custody entries (every custody signature checked),
    // which `log audit` without --trust does not.
    let mut samples = Duration::MAX;
    for _ in 0..RUNS {
        let mut cmd = Command::new(glassbox);
        cmd.args(["sample", "audit", "--log"]).arg(&fixture.log).arg("--policy").arg(&fixture.policy);
        samples = samples.min(timed(&mut cmd)?.1);
    }
    println!("  {:<24} {:>8.2}s", "glassbox sample audit", samples.as_secs_f64());
    // And the audit that checks what the site checks beyond the log's own integrity: every
    // entry's signature, by the keys that signed them (once: it is the slow one).
    let mut cmd = Command::new(glassbox);
    cmd.args(["log", "audit"]).arg(&fixture.log).arg("--vkey").arg(&fixture.vkey);
    for role in ["builder", "rebuilder-1", "rebuilder-2", "reviewer", "center"] {
        cmd.arg("--trust").arg(fixture.vkey.with_file_name(format!("{role}.pub")));
    }
    let trusted = timed(&mut cmd)?.1;
    println!(
        "  {:<24} {:>8.2}s  (every entry's signature checked)",
        "glassbox log audit --trust",
        trusted.as_secs_f64()
    );

    let mut site = Duration::MAX;
    let mut summary = Value::Null;
    for _ in 0..RUNS {
        out = fresh_dir(&format!("out-{}", fixture.entries));
        let (s, elapsed) = generate(glassbox, &fixture, &out, &[])?;
        site = site.min(elapsed);
        summary = s;
    }
    println!(
        "  {:<24} {:>8.2}s  ({} files, {} releases, {} statements, {} custody entries)",
        "glassbox site",
        site.as_secs_f64(),
        summary["files"],
        summary["releases"],
        summary["statements"],
        summary["custodyEntries"]
    );
    let mut ratios = vec![
        Ratio {
            label: "site: glassbox site / glassbox log audit",
            value: site.as_secs_f64() / audit.as_secs_f64(),
            target: Some(Target::AtMost(1.5)),
        },
        // Context, no target: the site also checks every signature, as this audit does.
        Ratio {
            label: "site: glassbox site / glassbox log audit --trust",
            value: site.as_secs_f64() / trusted.as_secs_f64(),
            target: None,
        },
    ];

    // Regeneration: the site of the fixture, regenerated in place from the log grown by
    // GROWTH entries, against a full generation of the grown log into an empty directory; the
    // two trees must be identical.
    let grown = site_log::ensure_grown(&bench_dir, &fixture, GROWTH)?;
    let mut fresh = out.clone();
    let mut full = Duration::MAX;
    for _ in 0..RUNS {
        fresh = fresh_dir(&format!("out-{}-fresh", grown.entries));
        full = full.min(generate(glassbox, &grown, &fresh, &[])?.1);
    }
    let mut in_place = out.clone();
    let mut regenerate = Duration::MAX;
    let mut regenerated = Value::Null;
    for _ in 0..RUNS {
        in_place = fresh_dir(&format!("out-{}-regenerated", grown.entries));
        // The state a center keeps beside its site (`--state`), outside it.
        let state = in_place.with_extension("state");
        let state = ["--state", state.to_str().context("a non-UTF-8 bench path")?];
        generate(glassbox, &fixture, &in_place, &state)?;
        let (s, elapsed) = generate(glassbox, &grown, &in_place, &state)?;
        regenerate = regenerate.min(elapsed);
        regenerated = s;
    }
    let (fresh_files, regenerated_files) = (tree(&fresh)?, tree(&in_place)?);
    if fresh_files != regenerated_files {
        let differ = fresh_files
            .iter()
            .filter(|(name, bytes)| regenerated_files.get(*name) != Some(bytes))
            .map(|(name, _)| name.as_str())
            .chain(regenerated_files.keys().filter(|n| !fresh_files.contains_key(*n)).map(String::as_str))
            .take(5)
            .collect::<Vec<_>>();
        anyhow::bail!("the site regenerated in place differs from a fresh one: {differ:?}");
    }
    println!(
        "  {:<24} {:>8.2}s  (the log grown by {GROWTH} entries, into an empty directory)",
        "glassbox site, full",
        full.as_secs_f64()
    );
    println!(
        "  {:<24} {:>8.2}s  (in place over the site of {} entries, with --state: {} of {} files written, {} removed, {} custody entries taken from the state; identical to the full one)",
        "glassbox site, again",
        regenerate.as_secs_f64(),
        fixture.entries,
        regenerated["filesWritten"],
        regenerated["files"],
        regenerated["filesRemoved"],
        regenerated["state"]["custodyEntriesReused"]
    );
    ratios.push(Ratio {
        label: "site: regeneration after 1,000 entries / full generation",
        value: regenerate.as_secs_f64() / full.as_secs_f64(),
        target: Some(Target::AtMost(0.2)),
    });

    let page = format!("releases/{}-1.0.0-{TARGET}.html", Fixture::component(fixture.releases / 2));
    match page_bytes(&out, &fixture, &page)? {
        Measured::Bytes { bytes, requests, verified, rows } => {
            println!(
                "  a browser verifying {page}: {bytes} bytes in {requests} requests, {verified} of {rows} rows verified"
            );
            ratios.push(Ratio {
                label: "site: bytes to verify one release page / 200 KB",
                value: bytes as f64 / PAGE_BYTES_TARGET,
                target: Some(Target::AtMost(1.0)),
            });
        }
        Measured::Not(why) => println!("  bytes a browser downloads to verify one release page: not measured ({why})"),
    }
    remove_dir(&runs)?;
    Ok(ratios)
}

/// `glassbox site --json` of `fixture` into `out` (with `extra` arguments): its summary and the
/// time it took.
fn generate(glassbox: &Path, fixture: &Fixture, out: &Path, extra: &[&str]) -> Result<(Value, Duration)> {
    let mut cmd = Command::new(glassbox);
    cmd.arg("site")
        .arg("--attestations")
        .arg(&fixture.attestations)
        .arg("--log")
        .arg(&fixture.log)
        .arg("--policy")
        .arg(&fixture.policy)
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--json");
    let (output, elapsed) = timed(&mut cmd)?;
    let summary = serde_json::from_slice(&output.stdout).context("glassbox site --json printed no JSON")?;
    Ok((summary, elapsed))
}

/// Every file under `dir` (not following links) by its path relative to `dir`, with its bytes.
fn tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for item in std::fs::read_dir(&at).with_context(|| format!("listing {}", at.display()))? {
            let path = item.with_context(|| format!("listing {}", at.display()))?.path();
            let kind = std::fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                let bytes = if kind.is_file() {
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?
                } else {
                    b"(not a regular file)".to_vec()
                };
                files.insert(rel, bytes);
            }
        }
    }
    Ok(files)
}

enum Measured {
    Bytes { bytes: u64, requests: usize, verified: usize, rows: usize },
    Not(String),
}

/// Serves the site with the log beside it (`SITE/log`, the default `--log-url`) and opens
/// `page` in Chromium until every check on it is done; the bytes the server sent.
fn page_bytes(site: &Path, fixture: &Fixture, page: &str) -> Result<Measured> {
    let runs = |program: &str| Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !runs("npm") {
        return Ok(Measured::Not("node and npm are not installed".into()));
    }
    if !runs("/usr/bin/chromium") {
        return Ok(Measured::Not("Debian's chromium is not installed at /usr/bin/chromium".into()));
    }
    // playwright-core where the browser tests find it, installed as cargo xtask ci does.
    let modules = crate::ci::browser_modules(&repo_root())?;
    if !site.join(page).is_file() {
        return Ok(Measured::Not(format!("the site has no page {page}")));
    }
    let log_link = site.join("log");
    if std::fs::symlink_metadata(&log_link).is_err() {
        std::os::unix::fs::symlink(&fixture.log, &log_link)
            .with_context(|| format!("linking {} to the log", log_link.display()))?;
    }
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/browser/visit.mjs"))
        .arg("--root")
        .arg(site)
        .args(["--page", page, "--timeout", "300000"])
        .env("NODE_PATH", &modules);
    let (output, _) = timed(&mut cmd)?;
    let seen: Value = serde_json::from_slice(&output.stdout).context("visit.mjs printed no JSON")?;
    let rows = seen["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(Measured::Bytes {
        bytes: seen["bytesServed"].as_u64().unwrap_or(0),
        requests: seen["requests"].as_array().map_or(0, Vec::len),
        verified: rows.iter().filter(|r| r["state"] == "verified").count(),
        rows: rows.len(),
    })
}
