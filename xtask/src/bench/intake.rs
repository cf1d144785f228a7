//! `cargo xtask bench intake`: `glassbox sample intake --from-list` of 100,000 files of 10 KB
//! (10,000 with `--quick`) into a fresh store with a log and its key (one signed, logged batch
//! and a receipt per sample), against `sha256sum` over the same list on two cores. Intake is
//! hashing-bound but also copies every byte into the store and makes it durable, so the ratio
//! (glassbox time / sha256sum time) says what custody costs beyond hashing. A second baseline,
//! `cp` of the same files (their names are unique) into one fresh directory on two cores, then
//! `sync`, is the copy and durability alone, which any store of the samples pays.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::{remove_dir, timed, Ratio, XorShift, KIB};

const SIZE: usize = 10 * KIB;
const PER_DIR: usize = 1000;
/// Timed rounds; the best of each tool counts.
const RUNS: u32 = 2;
const CORES: u32 = 2;
const ORIGIN: &str = "bench.glassbox.dev/intake-log";

pub(super) fn bench_intake(glassbox: &Path, bench_dir: &Path, quick: bool) -> Result<Vec<Ratio>> {
    let count = if quick { 10_000 } else { 100_000 };
    let dir = bench_dir.join("intake");
    let files = dir.join(if quick { "files-quick" } else { "files" });
    let list = ensure_files(&files, &dir.join(format!("{}.list", if quick { "files-quick" } else { "files" })), count)?;
    let keys = dir.join("keys");
    let center = ensure_key(glassbox, &keys, "center")?;
    let log_key = ensure_key(glassbox, &keys, "log")?;
    let mb = (count * SIZE) as f64 / 1e6;
    println!();
    println!("intake: {count} files of {} KB ({mb:.0} MB) from {}, best of {RUNS}", SIZE / KIB, list.display());

    let (mut glassbox_time, mut sha256sum_time, mut cp_time) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        let (store, log) = (dir.join("store"), dir.join("log"));
        remove_dir(&store)?;
        remove_dir(&log)?;
        timed(
            Command::new(glassbox).args(["log", "init"]).arg(&log).args(["--origin", ORIGIN, "--key"]).arg(&log_key),
        )?;
        let mut cmd = Command::new(glassbox);
        cmd.args(["sample", "intake", "--store"])
            .arg(&store)
            .arg("--key")
            .arg(&center)
            .arg("--log")
            .arg(&log)
            .arg("--log-key")
            .arg(&log_key)
            .arg("--from-list")
            .arg(&list)
            .arg("--json");
        let (out, elapsed) = timed(&mut cmd)?;
        glassbox_time = glassbox_time.min(elapsed);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("sample intake --json")?;
        ensure!(report["count"] == count && report["logIndex"] == 0, "sample intake reported {}", report["count"]);

        let script = format!("xargs -d '\\n' -P{CORES} -n 256 sha256sum < \"$1\" > /dev/null");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("sh").arg(&list);
        sha256sum_time = sha256sum_time.min(timed(&mut cmd)?.1);

        let copy = dir.join("copy");
        remove_dir(&copy)?;
        fs::create_dir_all(&copy).with_context(|| format!("creating {}", copy.display()))?;
        let script = format!("xargs -d '\\n' -P{CORES} -n 256 cp -t \"$2\" < \"$1\" && sync");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("sh").arg(&list).arg(&copy);
        cp_time = cp_time.min(timed(&mut cmd)?.1);
        remove_dir(&copy)?;
    }
    let rate = |t: Duration| count as f64 / t.as_secs_f64();
    println!("  {:<34} {:>10} {:>9}", "", "samples/s", "time");
    println!("  {:<34} {:>10.0} {:>8.2}s", "glassbox sample intake", rate(glassbox_time), glassbox_time.as_secs_f64());
    println!("  {:<34} {:>10.0} {:>8.2}s", "sha256sum (2 cores)", rate(sha256sum_time), sha256sum_time.as_secs_f64());
    println!("  {:<34} {:>10.0} {:>8.2}s", "cp + sync (2 cores)", rate(cp_time), cp_time.as_secs_f64());
    let ratios = vec![
        Ratio {
            label: "intake time / sha256sum(2 cores) time",
            value: glassbox_time.as_secs_f64() / sha256sum_time.as_secs_f64(),
            target: None,
        },
        Ratio {
            label: "intake time / cp+sync(2 cores) time",
            value: glassbox_time.as_secs_f64() / cp_time.as_secs_f64(),
            target: None,
        },
    ];
    for ratio in &ratios {
        println!("  {ratio}");
    }
    Ok(ratios)
}

/// Generates `count` distinct files of [`SIZE`] bytes under `files` and the list of their
/// paths, unless the list already says they are there. Returns the list.
fn ensure_files(files: &Path, list: &Path, count: usize) -> Result<PathBuf> {
    let paths: Vec<PathBuf> = (0..count).map(|i| files.join(format!("{:03}/{i:06}.bin", i / PER_DIR))).collect();
    let text: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    if fs::read_to_string(list).is_ok_and(|l| l == text) && paths.iter().all(|p| p.is_file()) {
        return Ok(list.to_path_buf());
    }
    remove_dir(files)?;
    eprintln!("generating {} (once; reused afterwards)", files.display());
    let mut buf = vec![0u8; SIZE];
    for (i, path) in paths.iter().enumerate() {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        XorShift::new(0x1A7A_CE00_0000_0000 | i as u64).fill(&mut buf);
        File::create(path)
            .and_then(|mut f| f.write_all(&buf))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    fs::write(list, text).with_context(|| format!("writing {}", list.display()))?;
    Ok(list.to_path_buf())
}

/// `keys/<name>.key`, generated with `glassbox key generate` if missing.
fn ensure_key(glassbox: &Path, keys: &Path, name: &str) -> Result<PathBuf> {
    let key = keys.join(format!("{name}.key"));
    if !key.is_file() {
        fs::create_dir_all(keys).with_context(|| format!("creating {}", keys.display()))?;
        timed(Command::new(glassbox).args(["key", "generate", "--out"]).arg(keys.join(name)))?;
    }
    Ok(key)
}
