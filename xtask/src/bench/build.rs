//! `cargo xtask bench build`: `glassbox build` of a copy of `examples/avscan`, and of a copy of
//! glassbox's own workspace (about 150 crates to compile, several hundred vendored), each
//! against a plain clean `cargo build --release --locked` of the same copy.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::{remove_dir, timed, Ratio, Target};
use crate::util::{cargo, repo_root, run as run_cmd};

/// Alternating rounds of the build measurement; the best of each side counts.
const BUILD_ROUNDS: u32 = 2;
const BUILD_OVERHEAD_TARGET: f64 = 1.10;
const REBUILD_OVERHEAD_TARGET: f64 = 1.15;
/// A check is two builds.
const CHECK_OVERHEAD_TARGET: f64 = 2.2;
/// Rounds for glassbox's own workspace, whose builds take minutes each.
const OWN_ROUNDS: u32 = 1;
pub(super) fn bench_build(glassbox: &Path, bench_dir: &Path) -> Result<Vec<Ratio>> {
    let avscan = repo_root().join("examples/avscan");
    let src = bench_dir.join("avscan-src");
    remove_dir(&src)?;
    let copied = copy_sources(&avscan, &src)?;
    let manifest = src.join("Cargo.toml");
    let key = bench_dir.join("bench-key.key");
    if !key.exists() {
        run_cmd(Command::new(glassbox).args(["key", "generate", "--out"]).arg(bench_dir.join("bench-key")))?;
    }
    let work = bench_dir.join("build");
    let builds = Builds { glassbox, bench_dir, src: &src, key: &key, work: &work };
    let (_, out, attestations) = builds.paths();
    let cargo_build = || builds.cargo();
    let glassbox_build = || builds.glassbox();
    // A reviewer's rebuild of the provenance the last glassbox build wrote, from its source
    // bundle, trusting the key that signed it.
    let provenance = attestations.join("avscan/0.1.0/x86_64-unknown-linux-gnu.provenance.intoto.jsonl");
    let source_bundle = out.join("avscan-0.1.0-src.tar.gz");
    let saved = work.join("reviewer-inputs");
    let glassbox_rebuild = || -> Result<Duration> {
        let mut cmd = Command::new(glassbox);
        cmd.arg("rebuild").arg(saved.join("provenance.intoto.jsonl")).arg("--source").arg(saved.join("src.tar.gz"));
        cmd.arg("--trust").arg(key.with_extension("pub"));
        Ok(timed(&mut cmd)?.1)
    };

    let glassbox_check = || -> Result<Duration> {
        let mut cmd = Command::new(glassbox);
        cmd.current_dir(&src).arg("check").arg("--manifest-path").arg(&manifest);
        cmd.env("GIT_CEILING_DIRECTORIES", bench_dir);
        Ok(timed(&mut cmd)?.1)
    };

    println!();
    println!("build: {} ({copied} files copied from {})", src.display(), avscan.display());
    let warm_up = glassbox_build().context("warm-up glassbox build")?;
    println!("  warm-up glassbox build (untimed for the ratio): {:.2}s", warm_up.as_secs_f64());
    remove_dir(&saved)?;
    fs::create_dir_all(&saved)?;
    fs::copy(&provenance, saved.join("provenance.intoto.jsonl"))?;
    fs::copy(&source_bundle, saved.join("src.tar.gz"))?;
    let mut best = [Duration::MAX; 4];
    for round in 1..=BUILD_ROUNDS {
        let times = [cargo_build()?, glassbox_build()?, glassbox_rebuild()?, glassbox_check()?];
        let [cargo_time, build_time, rebuild_time, check_time] = times.map(|t| t.as_secs_f64());
        println!(
            "  round {round}: cargo build {cargo_time:.2}s, glassbox build {build_time:.2}s, rebuild {rebuild_time:.2}s, check {check_time:.2}s"
        );
        for (b, t) in best.iter_mut().zip(times) {
            *b = (*b).min(t);
        }
    }
    let [best_cargo, best_glassbox, best_rebuild, best_check] = best;
    println!("  best of {BUILD_ROUNDS}: cargo build --release --locked {:.2}s", best_cargo.as_secs_f64());
    println!("  best of {BUILD_ROUNDS}: glassbox build               {:.2}s", best_glassbox.as_secs_f64());
    println!("  best of {BUILD_ROUNDS}: glassbox rebuild             {:.2}s", best_rebuild.as_secs_f64());
    println!("  best of {BUILD_ROUNDS}: glassbox check               {:.2}s", best_check.as_secs_f64());
    let ratios = vec![
        Ratio {
            label: "glassbox build / cargo build (avscan)",
            value: best_glassbox.as_secs_f64() / best_cargo.as_secs_f64(),
            target: Some(Target::AtMost(BUILD_OVERHEAD_TARGET)),
        },
        Ratio {
            label: "glassbox rebuild / cargo build",
            value: best_rebuild.as_secs_f64() / best_cargo.as_secs_f64(),
            target: Some(Target::AtMost(REBUILD_OVERHEAD_TARGET)),
        },
        Ratio {
            label: "glassbox check / cargo build",
            value: best_check.as_secs_f64() / best_cargo.as_secs_f64(),
            target: Some(Target::AtMost(CHECK_OVERHEAD_TARGET)),
        },
    ];
    for ratio in &ratios {
        println!("  {ratio}");
    }
    let mut ratios = ratios;
    ratios.push(bench_own_workspace(glassbox, bench_dir, &key)?);
    Ok(ratios)
}

/// `glassbox build` of a copy of this repository's workspace (the `glassbox` package, as
/// `cargo xtask dist` builds it) against `cargo build --release --locked` of the same copy,
/// alternating, cargo first. The crates are fetched into the caller's cargo home first (the
/// network, once), so neither side downloads during its timed run.
fn bench_own_workspace(glassbox: &Path, bench_dir: &Path, key: &Path) -> Result<Ratio> {
    let src = bench_dir.join("glassbox-src");
    remove_dir(&src)?;
    let copied = copy_sources(&repo_root(), &src)?;
    let manifest = src.join("Cargo.toml");
    run_cmd(cargo().current_dir(&src).args(["fetch", "--locked", "--manifest-path"]).arg(&manifest))?;
    let work = bench_dir.join("build-own");
    let builds = Builds { glassbox, bench_dir, src: &src, key, work: &work };
    let (cargo_target, out, _) = builds.paths();
    let cargo_build = || builds.cargo();
    let glassbox_build = || builds.glassbox();
    println!();
    println!("build: {} ({copied} files copied from this repository)", src.display());
    let (mut best_cargo, mut best_glassbox) = (Duration::MAX, Duration::MAX);
    for round in 1..=OWN_ROUNDS {
        let cargo_time = cargo_build()?;
        let glassbox_time = glassbox_build()?;
        println!(
            "  round {round}: cargo build {:.2}s, glassbox build {:.2}s",
            cargo_time.as_secs_f64(),
            glassbox_time.as_secs_f64()
        );
        best_cargo = best_cargo.min(cargo_time);
        best_glassbox = best_glassbox.min(glassbox_time);
    }
    remove_dir(&cargo_target)?;
    let bundle =
        fs::read_dir(&out)?.filter_map(|e| e.ok()).find(|e| e.file_name().to_string_lossy().ends_with("-src.tar.gz"));
    if let Some(bundle) = bundle {
        println!("  source bundle: {:.1} MB", bundle.metadata()?.len() as f64 / 1e6);
    }
    let ratio = Ratio {
        label: "glassbox build / cargo build (glassbox's workspace)",
        value: best_glassbox.as_secs_f64() / best_cargo.as_secs_f64(),
        target: Some(Target::AtMost(BUILD_OVERHEAD_TARGET)),
    };
    println!("  {ratio}");
    Ok(ratio)
}

/// The two timed builds of one copied workspace: a clean `cargo build --release --locked` and
/// `glassbox build` of the same copy, each into its own fresh output under `work`.
struct Builds<'a> {
    glassbox: &'a Path,
    bench_dir: &'a Path,
    src: &'a Path,
    key: &'a Path,
    work: &'a Path,
}

impl Builds<'_> {
    /// cargo's target directory, glassbox's output and its attestations directory.
    fn paths(&self) -> (PathBuf, PathBuf, PathBuf) {
        let w = self.work;
        (w.join("cargo-target"), w.join("glassbox-out"), w.join("glassbox-attestations"))
    }

    fn cargo(&self) -> Result<Duration> {
        let (cargo_target, _, _) = self.paths();
        remove_dir(&cargo_target)?;
        let mut cmd = cargo();
        cmd.current_dir(self.src).args(["build", "--release", "--locked", "--manifest-path"]);
        cmd.arg(self.src.join("Cargo.toml")).env("CARGO_TARGET_DIR", &cargo_target);
        Ok(timed(&mut cmd)?.1)
    }

    fn glassbox(&self) -> Result<Duration> {
        let (_, out, attestations) = self.paths();
        remove_dir(&out)?;
        remove_dir(&attestations)?;
        let mut cmd = Command::new(self.glassbox);
        cmd.current_dir(self.src).arg("build").arg("--manifest-path").arg(self.src.join("Cargo.toml"));
        cmd.arg("--key").arg(self.key).arg("--out").arg(&out).arg("--attestations").arg(&attestations);
        cmd.args(["--source-date-epoch", "0"]);
        // The copy sits inside this repository's (ignored) target/: keep git from finding the
        // repository above it, so glassbox treats the copy as a plain directory.
        cmd.env("GIT_CEILING_DIRECTORIES", self.bench_dir);
        Ok(timed(&mut cmd)?.1)
    }
}

/// Copies the git-tracked files of `from` (every file but `target/` and `.git/` when git cannot
/// list them) into `to`; returns how many.
fn copy_sources(from: &Path, to: &Path) -> Result<usize> {
    let files = match git_tracked_files(from) {
        Some(files) if !files.is_empty() => files,
        _ => {
            eprintln!("git cannot list {}; copying every file outside target/", from.display());
            let mut files = Vec::new();
            walk_sources(from, Path::new(""), &mut files)?;
            files
        }
    };
    let mut copied = 0;
    for rel in &files {
        let source = from.join(rel);
        if !source.is_file() {
            continue; // tracked but deleted in the working tree
        }
        let dest = to.join(rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::copy(&source, &dest).with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
        copied += 1;
    }
    ensure!(copied > 0, "no files to copy from {}", from.display());
    Ok(copied)
}

fn git_tracked_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git").current_dir(dir).args(["ls-files", "-z"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let names = out.stdout.split(|b| *b == 0).filter(|name| !name.is_empty());
    Some(names.map(|name| PathBuf::from(std::ffi::OsStr::from_bytes(name))).collect())
}

fn walk_sources(root: &Path, rel: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" && entry.file_name() != ".git" {
                walk_sources(root, &child, files)?;
            }
        } else {
            files.push(child);
        }
    }
    Ok(())
}
