//! `cargo xtask bench diff`: `glassbox diff` against `diffoscope` on the same pair of ELF
//! binaries, ~50 MB each (~5 MB with `--quick`): one program compiled twice with a large table
//! of pseudo-random bytes (`include_bytes!`) that differs in one byte, and an embedded absolute
//! path that differs.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::{remove_dir, Ratio, XorShift, MB, MIB};
use crate::util::{describe, run as run_cmd};

/// Timed runs of each tool; the best one counts.
const RUNS: u32 = 2;
/// diffoscope renders every differing section as text and can take minutes on large files.
const DIFFOSCOPE_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) fn bench_diff(glassbox: &Path, bench_dir: &Path, quick: bool) -> Result<Vec<Ratio>> {
    // The program itself adds ~4 MB (the standard library).
    let size = if quick { 5 * MIB } else { 45 * MIB };
    let dir = bench_dir.join(if quick { "diff-pair-quick" } else { "diff-pair" });
    let (a, b) = ensure_pair(&dir, size)?;
    let file_mb = fs::metadata(&a).with_context(|| format!("reading {}", a.display()))?.len() as f64 / MB;
    println!();
    println!("diff: {} vs {} ({file_mb:.0} MB each, page cache warm, best of {RUNS})", a.display(), b.display());

    let mut best_glassbox = Duration::MAX;
    let mut verdict = String::new();
    for _ in 0..RUNS {
        let mut cmd = Command::new(glassbox);
        cmd.arg("diff").arg(&a).arg(&b);
        eprintln!("$ {}", describe(&cmd));
        let started = Instant::now();
        let out = cmd.output().with_context(|| format!("cannot run `{}`", describe(&cmd)))?;
        best_glassbox = best_glassbox.min(started.elapsed());
        ensure!(
            out.status.code() == Some(1),
            "`{}` exited with {} (expected 1, different): {}",
            describe(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        verdict = stdout.lines().find_map(|l| l.strip_prefix("differ: ")).unwrap_or_default().to_string();
    }
    println!("  glassbox diff found: {verdict}");
    println!("  {:<30} {:>8.2}s", "glassbox diff", best_glassbox.as_secs_f64());

    let installed = Command::new("diffoscope").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        println!("  diffoscope is not installed: no ratio (cargo xtask ci installs it on Debian)");
        return Ok(Vec::new());
    }
    let mut best_diffoscope: Option<Duration> = None;
    for _ in 0..RUNS {
        match diffoscope(&a, &b, &dir)? {
            Some(elapsed) => best_diffoscope = Some(best_diffoscope.map_or(elapsed, |best| best.min(elapsed))),
            None => {
                println!("  diffoscope did not finish in {} s", DIFFOSCOPE_TIMEOUT.as_secs());
                break;
            }
        }
    }
    let (reference, label) = match best_diffoscope {
        Some(best) => (best, "glassbox diff / diffoscope"),
        // Only an upper bound on the ratio.
        None => (DIFFOSCOPE_TIMEOUT, "glassbox diff / diffoscope (at most: diffoscope timed out)"),
    };
    if let Some(best) = best_diffoscope {
        println!("  {:<30} {:>8.2}s", "diffoscope", best.as_secs_f64());
    }
    let ratio = Ratio { label, value: best_glassbox.as_secs_f64() / reference.as_secs_f64(), target: None };
    println!("  {ratio}");
    Ok(vec![ratio])
}

/// Builds the two binaries unless `dir` already holds them for this `size`.
fn ensure_pair(dir: &Path, size: usize) -> Result<(PathBuf, PathBuf)> {
    let marker = dir.join("pair.complete");
    let description = format!("xorshift64 v1, {size} bytes, one byte and one path changed\n");
    let (a, b) = (dir.join("a/probe"), dir.join("b/probe"));
    if a.is_file() && b.is_file() && fs::read_to_string(&marker).is_ok_and(|m| m == description) {
        return Ok((a, b));
    }
    remove_dir(dir)?;
    eprintln!("generating {} (once; reused afterwards)", dir.display());
    let mut data = vec![0u8; size];
    XorShift::new(0xd1ff).fill(&mut data);
    for (name, path) in [("a", "/home/builder/src/bench.rs"), ("b", "/home/someone/src/bench.rs")] {
        let src = dir.join(name);
        fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
        if name == "b" {
            data[size / 2] ^= 0x5a;
        }
        let table = src.join("table.bin");
        fs::write(&table, &data).with_context(|| format!("writing {}", table.display()))?;
        let program = format!(
            "static TABLE: &[u8] = include_bytes!(\"table.bin\");\n\
             static PATH: &str = {path:?};\n\
             fn main() {{\n    \
                 let table = std::hint::black_box(TABLE);\n    \
                 let i = std::hint::black_box(12345usize) % table.len();\n    \
                 println!(\"{{}} {{}}\", table[i], std::hint::black_box(PATH));\n\
             }}\n"
        );
        fs::write(src.join("main.rs"), program).with_context(|| format!("writing {}", src.display()))?;
        // The same relative source path in both directories: only the constants differ.
        run_cmd(
            Command::new("rustc")
                .args(["-O", "-C", "debuginfo=0", "--crate-name", "probe", "main.rs", "-o", "probe"])
                .current_dir(&src),
        )?;
        fs::remove_file(&table).with_context(|| format!("removing {}", table.display()))?;
    }
    fs::write(&marker, description).with_context(|| format!("writing {}", marker.display()))?;
    Ok((a, b))
}

/// Runs `diffoscope a b` (text report discarded); its wall time, or `None` when it did not
/// finish within [`DIFFOSCOPE_TIMEOUT`] (it is then killed with the processes it started).
fn diffoscope(a: &Path, b: &Path, dir: &Path) -> Result<Option<Duration>> {
    let stderr_path = dir.join("diffoscope.stderr");
    let stderr = fs::File::create(&stderr_path).with_context(|| format!("creating {}", stderr_path.display()))?;
    let mut cmd = Command::new("diffoscope");
    cmd.arg(a).arg(b).stdout(Stdio::null()).stderr(stderr);
    // Its own process group, so that a timeout also stops the readelf/objdump it runs.
    cmd.process_group(0);
    eprintln!("$ {}", describe(&cmd));
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot run `{}`", describe(&cmd)))?;
    loop {
        if let Some(status) = child.try_wait().context("waiting for diffoscope")? {
            let elapsed = started.elapsed();
            // 0: identical, 1: different; anything else is a failure.
            if !matches!(status.code(), Some(0 | 1)) {
                let text = fs::read_to_string(&stderr_path).unwrap_or_default();
                bail!("`{}` failed ({status}):\n{}", describe(&cmd), text.trim_end());
            }
            return Ok(Some(elapsed));
        }
        if started.elapsed() > DIFFOSCOPE_TIMEOUT {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
