//! `cargo xtask ci`: everything CI checks, on a fresh machine with only Rust, Python 3 and git.
//! Installs what the tests need (Python's securesystemslib in a virtual environment under
//! `target/`; diffoscope with apt-get when root), then runs formatting, clippy with warnings
//! denied, and all tests.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::util::{cargo, repo_root, run as sh};

fn run_ci() -> Result<()> {
    let root = repo_root();
    let avscan = root.join("examples/avscan/Cargo.toml");
    // The example workspace builds into the root target directory so that examples/ stays clean.
    let avscan_target = root.join("target/avscan");

    sh(cargo().current_dir(&root).args(["fmt", "--all", "--", "--check"]))?;
    sh(cargo().current_dir(root.join("examples/avscan")).args(["fmt", "--all", "--", "--check"]))?;
    sh(cargo().current_dir(&root).args([
        "clippy",
        "--locked",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(cargo()
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &avscan_target)
        .args(["clippy", "--locked", "--all-targets", "--manifest-path"])
        .arg(&avscan)
        .args(["--", "-D", "warnings"]))?;
    sh(cargo()
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &avscan_target)
        .args(["test", "--locked", "--manifest-path"])
        .arg(&avscan))?;

    let python = python_venv(&root)?;
    install_diffoscope()?;
    sh(cargo().current_dir(&root).env("GLASSBOX_TEST_PYTHON", &python).env("GLASSBOX_REQUIRE_TOOLS", "1").args([
        "test",
        "--locked",
        "--workspace",
    ]))?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    anyhow::ensure!(args.is_empty(), "`cargo xtask ci` takes no arguments");
    run_ci()?;
    eprintln!("xtask ci: all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// A virtual environment under `target/ci-venv` with securesystemslib; returns its python.
fn python_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/ci-venv");
    let python = venv.join("bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import securesystemslib.dsse, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let system_python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        sh(Command::new(system_python).args(["-m", "venv"]).arg(&venv)).context("creating the Python venv")?;
        sh(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .arg(PY_REQUIREMENT))
        .context("installing securesystemslib from PyPI")?;
    }
    Ok(python)
}

/// The diff tests compare `glassbox diff` with diffoscope (which runs readelf and objdump):
/// install both when diffoscope is missing and this is a root shell with apt-get.
fn install_diffoscope() -> Result<()> {
    let runs = |program: &str, arg: &str| Command::new(program).arg(arg).output().is_ok_and(|o| o.status.success());
    if runs("diffoscope", "--version") {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !runs("apt-get", "--version") {
        eprintln!("xtask ci: diffoscope is missing and cannot be installed here (needs root and apt-get)");
        return Ok(()); // the tests that need it fail and say so
    }
    sh(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(DIFFOSCOPE_PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("installing diffoscope")
}

/// Debian packages for the diffoscope comparisons.
const DIFFOSCOPE_PACKAGES: [&str; 2] = ["diffoscope-minimal", "binutils"];

/// The Python package the tests verify DSSE envelopes with.
const PY_REQUIREMENT: &str = "securesystemslib[crypto]>=1.0,<2";
