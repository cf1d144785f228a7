//! `cargo xtask bench [--quick] [--entries N] [hash|build|diff|log|log-service|intake|custody|site|rebuilder]...`: benchmarks printed as ratios against
//! standard tools measured in the same run. Machines are noisy, so absolute times are only
//! context.
//!
//! - `hash`: `glassbox hash` over a generated ~1 GB tree (~100 MB with `--quick`) against
//!   `sha256sum` on two cores and the two-core SHA-256 ceiling from `openssl speed`.
//! - `build`: `glassbox build` of a copy of `examples/avscan`, `glassbox rebuild` of its
//!   provenance from its source bundle, and `glassbox check` of it, each against a plain clean
//!   `cargo build --release --locked` of the same copy.
//! - `log`: `cargo bench --bench tlog`: 1,000,000 log entries (100,000 with `--quick`) appended
//!   in durable batches through the library, then inclusion proof times at that size.
//! - `log-service`: `glassbox log serve` into a bucket of a local Ceph RGW with one witness:
//!   20,000 envelopes (5,000 with `--quick`, N with `--entries N`; the target scale is
//!   1,000,000), half submitted by 100 concurrent clients and half by 1,000, in submissions/s
//!   against `store::append` of the same envelopes to a directory log; latency P50/P99, the
//!   service's own CPU per entry, object writes per batch, bytes per entry, and inclusion
//!   proofs from the bucket against the directory. The RGW harness is in
//!   the integration tests, so this runs the ignored test `tests/it/log_service_bench.rs`.
//! - `custody`: `cargo bench --bench custody`: `sample audit`'s replay of a log of 1,000,000
//!   custody entries (100,000 with `--quick`), built with the library, against the 200,000
//!   entries/s target and `glassbox log audit`'s check of the same log.
//! - `diff`: `glassbox diff` of two ~50 MB ELF binaries that differ in a few places (~5 MB with
//!   `--quick`) against `diffoscope` on the same pair.
//! - `intake`: `glassbox sample intake --from-list` of 100,000 files of 10 KB (10,000 with
//!   `--quick`) into a fresh store, logged, in samples/s against `sha256sum` over the same list.
//! - `site`: `glassbox site` over a log of 100,000 entries holding 1,000 releases (10,000 and
//!   100 with `--quick`), built with the library and cached under `target/bench-site/`, against
//!   `glassbox log audit` of the same log; the site regenerated in place after 1,000 more
//!   entries against a full generation; then the bytes a browser downloads to verify one
//!   release page (target: under 200 KB), when Chromium and playwright-core are installed.
//! - `rebuilder`: the rebuilder pool on a real nats-server (`bench/rebuilder.rs`): queue overhead
//!   per job against a rebuild of avscan, the follower's jobs/s over a log of 1,000,000 entries
//!   (100,000 with `--quick`, N with `--entries N`) against raw JetStream publishing, and
//!   `verify` with the subject index against reading the whole log.
//!
//! Everything generated lives under `target/bench/`. Missing a target is reported, not an error;
//! a tool that fails is an error. Each benchmark is a module; this one parses the arguments and
//! holds what they share.

mod build;
mod diff;
mod hash;
mod intake;
mod rebuilder;
mod site;
mod site_log;

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util::{describe, glassbox_binary, repo_root};

const USAGE: &str =
    "usage: cargo xtask bench [--quick] [--entries N] [hash|build|diff|log|log-service|intake|custody|site|rebuilder]...   (no names: all)";

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Throughputs are printed in MB/s of 10^6 bytes, like `openssl speed`'s 1000s of bytes.
const MB: f64 = 1e6;
/// `log-service`: concurrent submitters, and `log serve --pool` and `--period` (milliseconds).
const LOG_SERVICE_CLIENTS: u32 = 100;
const LOG_SERVICE_LOAD_CLIENTS: u32 = 1000;
const LOG_SERVICE_POOL: u32 = 1000;
const LOG_SERVICE_PERIOD_MS: u32 = 20;

pub fn run(args: &[String]) -> Result<ExitCode> {
    let mut quick = false;
    let mut entries: Option<u64> = None;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--entries" => {
                let n = args.next().context("--entries needs a number")?;
                entries = Some(n.parse().with_context(|| format!("--entries {n:?}"))?);
            }
            "hash" | "build" | "diff" | "log" | "log-service" | "intake" | "custody" | "site" | "rebuilder" => {
                names.push(arg.as_str())
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => bail!("unknown bench argument {other:?}\n{USAGE}"),
        }
    }
    let wanted = |name: &str| names.is_empty() || names.contains(&name);

    let bench_dir = repo_root().join("target/bench");
    fs::create_dir_all(&bench_dir).with_context(|| format!("creating {}", bench_dir.display()))?;
    let glassbox = glassbox_binary(true)?;
    // Context only: other work on the machine skews absolute times more than the ratios.
    println!("load average before: {}", load_average());
    let mut ratios = Vec::new();
    if wanted("hash") {
        ratios.extend(hash::bench_hash(&glassbox, &bench_dir, quick)?);
    }
    if wanted("build") {
        ratios.extend(build::bench_build(&glassbox, &bench_dir)?);
    }
    if wanted("diff") {
        ratios.extend(diff::bench_diff(&glassbox, &bench_dir, quick)?);
    }

    if wanted("intake") {
        ratios.extend(intake::bench_intake(&glassbox, &bench_dir, quick)?);
    }

    if wanted("log") {
        // In-process through the library: per-call process start-up would swamp proof timings.
        println!();
        let entries = if quick { "100000" } else { "1000000" };
        crate::util::run(
            crate::util::cargo().current_dir(repo_root()).args(["bench", "--locked", "--bench", "tlog", "--", entries]),
        )?;
    }

    if wanted("custody") {
        println!();
        let entries = if quick { "100000" } else { "1000000" };
        crate::util::run(
            crate::util::cargo()
                .current_dir(repo_root())
                .args(["bench", "--locked", "--bench", "custody", "--", entries]),
        )?;
    }

    if wanted("site") {
        ratios.extend(site::bench_site(&glassbox, quick)?);
    }

    if wanted("rebuilder") {
        ratios.extend(rebuilder::bench_rebuilder(&glassbox, &bench_dir, quick, entries)?);
    }

    if wanted("log-service") {
        // The test prints its own report (ratios beside absolute figures) and fails only when
        // an acknowledged entry is missing or a tool fails.
        println!();
        let entries = entries.unwrap_or(if quick { 5_000 } else { 20_000 });
        let root = repo_root();
        crate::util::run(
            crate::util::cargo()
                .current_dir(&root)
                .env("GLASSBOX_TEST_PYTHON", crate::ci::python_venv(&root)?)
                .env("GLASSBOX_REQUIRE_TOOLS", "1")
                .env("GLASSBOX_BENCH_ENTRIES", entries.to_string())
                .env("GLASSBOX_BENCH_CLIENTS", LOG_SERVICE_CLIENTS.to_string())
                .env("GLASSBOX_BENCH_LOAD_CLIENTS", LOG_SERVICE_LOAD_CLIENTS.to_string())
                .env("GLASSBOX_BENCH_POOL", LOG_SERVICE_POOL.to_string())
                .env("GLASSBOX_BENCH_PERIOD", LOG_SERVICE_PERIOD_MS.to_string())
                .args(["test", "--release", "--locked", "--test", "it", "log_service_bench"])
                .args(["--", "--ignored", "--nocapture"]),
        )?;
    }

    println!();
    println!("summary{}", if quick { " (--quick)" } else { "" });
    for ratio in &ratios {
        println!("  {ratio}");
    }
    println!("load average after: {}", load_average());
    Ok(ExitCode::SUCCESS)
}

/// A ratio between glassbox and a reference, with an optional target.
struct Ratio {
    label: &'static str,
    value: f64,
    target: Option<Target>,
}

enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Two decimals, or three when two would round a miss (or a hit) onto the target itself.
        let target = match self.target {
            Some(Target::AtLeast(t) | Target::AtMost(t)) => t,
            None => f64::NAN,
        };
        let precision = if format!("{:.2}", self.value) == format!("{target:.2}") { 3 } else { 2 };
        write!(f, "{} = {:.*}", self.label, precision, self.value)?;
        match self.target {
            Some(Target::AtLeast(t)) => write!(f, " (target >= {t:.2}) {}", verdict(self.value >= t)),
            Some(Target::AtMost(t)) => write!(f, " (target <= {t:.2}) {}", verdict(self.value <= t)),
            None => Ok(()),
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "ok"
    } else {
        "MISSED"
    }
}

// ---------------------------------------------------------------------------------------------
// helpers

/// Runs `cmd` with its output captured, echoing it; fails unless it exits 0. Returns the output
/// and the wall time.
fn timed(cmd: &mut Command) -> Result<(Output, Duration)> {
    eprintln!("$ {}", describe(cmd));
    let started = Instant::now();
    let out = cmd.output().with_context(|| format!("cannot run `{}`", describe(cmd)))?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("`{}` failed ({}):\n{}", describe(cmd), out.status, tail.join("\n"));
    }
    Ok((out, elapsed))
}

/// The 1, 5 and 15 minute load averages, as context for the numbers.
fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.is_empty() {
        "unknown".to_string()
    } else {
        fields.join(" ")
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// A xorshift64 generator: deterministic, incompressible-looking content without dependencies.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Scramble the seed (splitmix64's constant) and keep the state non-zero.
        Self((seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
