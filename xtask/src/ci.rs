//! `cargo xtask ci`: everything CI checks, on a fresh machine with only Rust, Python 3 and git.
//! Installs what the tests need (Python's securesystemslib, check-jsonschema and boto3 in a virtual
//! environment under `target/`; bubblewrap, diffoscope, age, Chromium, npm and Ceph's RADOS
//! gateway and nats-server with apt-get when root;
//! playwright-core with `npm ci` under `target/browser`; on a thread of its own, while formatting
//! and clippy with warnings denied run), then all tests; then checks glassbox's own published attestations (signatures, the
//! log, and a rebuild of the latest release from its commit, verified against the policy).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use glassbox::policy::Policy;

use crate::util::{
    cargo, glassbox_binary, install_system_tools, repo_root, run as sh, SystemTool, AGE, BUBBLEWRAP, CEPH_MON,
    CEPH_OSD, CHROMIUM, NATS_SERVER, NPM, RADOSGW,
};
use crate::{rebuild, release};

fn run_ci() -> Result<()> {
    let root = repo_root();
    let avscan = root.join("examples/avscan/Cargo.toml");
    // The example workspace builds into the root target directory so that examples/ stays clean.
    let avscan_target = root.join("target/avscan");
    // What the tests need is installed (Python packages, apt, npm: mostly waiting on the
    // network) while the checks below compile on both cores.
    let installs = {
        let root = root.clone();
        std::thread::spawn(move || -> Result<(PathBuf, PathBuf)> {
            let python = python_venv(&root)?;
            install_system_tools("ci", &SYSTEM_TOOLS)?;
            Ok((python, browser_modules(&root)?))
        })
    };

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

    let (python, node_modules) =
        installs.join().map_err(|_| anyhow::anyhow!("the thread installing the tests' tools panicked"))??;
    sh(cargo()
        .current_dir(&root)
        .env("GLASSBOX_TEST_PYTHON", &python)
        .env("GLASSBOX_TEST_NODE_MODULES", &node_modules)
        .env("GLASSBOX_REQUIRE_TOOLS", "1")
        .args(["test", "--locked", "--workspace"]))?;
    // The newcomer's one command must keep working: the whole custody story, end to end.
    let code = crate::custody::run(&[])?;
    anyhow::ensure!(code == ExitCode::SUCCESS, "cargo xtask custody failed");
    check_published(&root, &python)
}

/// The committed attestations of glassbox's own releases: the log audited with the published
/// keys, every committed envelope signed and logged, and the latest release rebuilt from its
/// recorded commit and verified against `attestations/policy.toml` (as is the release bundle in
/// `target/glassbox/dist`, when present).
fn check_published(root: &Path, python: &Path) -> Result<()> {
    let policy = release::policy_path();
    let trust_policy = Policy::load(&policy)?;
    let Some(version) = release::published_versions(&release::attestations_dir())?.pop() else {
        anyhow::bail!("no glassbox release is published under attestations/glassbox/");
    };
    let glassbox = glassbox_binary(false)?;
    let keys = release::published_keys()?;
    let mut audit = Command::new(&glassbox);
    audit.arg("log").arg("audit").arg(release::log_dir()).arg("--vkey").arg(release::log_vkey(&trust_policy)?);
    for (path, _) in &keys {
        audit.arg("--trust").arg(path);
    }
    sh(&mut audit).context("auditing attestations/log")?;
    let keys: Vec<_> = keys.into_iter().map(|(_, key)| key).collect();
    let checked = release::check_committed_envelopes(&release::attestations_dir(), &keys)?;
    eprintln!("xtask ci: {checked} committed envelopes are signed by published keys and in attestations/log");

    let out = root.join("target/glassbox/release-check");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    let code = rebuild::rebuild_release(&version, &["--out".to_string(), out.display().to_string()])?;
    anyhow::ensure!(code == 0, "the latest published release does not reproduce from its commit (exit {code})");
    let venv_bin = python.parent().map(Path::to_path_buf).unwrap_or_default();
    release::check_readme_commands(&version, &out, &venv_bin)?;
    let dist = root.join("target/glassbox/dist");
    for bundle in release_bundles(&out, &version).into_iter().chain(release_bundles(&dist, &version)) {
        sh(Command::new(&glassbox).arg("verify").arg(&bundle).arg("--policy").arg(&policy))
            .with_context(|| format!("verifying {} against the published policy", bundle.display()))?;
    }
    Ok(())
}

/// The binary bundles of glassbox `version` in `dir` (none when `dir` does not exist).
fn release_bundles(dir: &Path, version: &str) -> Vec<PathBuf> {
    let prefix = format!("{}-{version}-", release::COMPONENT);
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with(&prefix) && name.ends_with(".tar.gz") && !name.ends_with("-src.tar.gz")
        })
        .collect();
    found.sort();
    found
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    anyhow::ensure!(args.is_empty(), "`cargo xtask ci` takes no arguments");
    run_ci()?;
    eprintln!("xtask ci: all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// A virtual environment under `target/ci-venv` with [`PY_REQUIREMENTS`]; returns its python.
pub(crate) fn python_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/ci-venv");
    let python = venv.join("bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import securesystemslib.dsse, cryptography, check_jsonschema, ruamel.yaml, boto3, azure.storage.blob",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let system_python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        sh(Command::new(system_python).args(["-m", "venv"]).arg(&venv)).context("creating the Python venv")?;
        sh(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(PY_REQUIREMENTS))
        .context("installing securesystemslib, check-jsonschema, boto3 and azure-storage-blob from PyPI")?;
    }
    Ok(python)
}

/// The system tools the tests need: bubblewrap (`build`, `check` and `rebuild` run the vendor's
/// build code in its sandbox), diffoscope (the diff tests compare `glassbox diff` with it; it
/// runs readelf and objdump), age (released samples must decrypt with the Debian tool),
/// Chromium with node and npm (the site's pages are verified in a real browser), and Ceph's
/// RADOS gateway (the S3 tests run against a real S3-compatible server).
const SYSTEM_TOOLS: [SystemTool; 9] = [
    BUBBLEWRAP,
    ("diffoscope", &["diffoscope-minimal", "binutils"]),
    AGE,
    CHROMIUM,
    NPM,
    CEPH_MON,
    CEPH_OSD,
    RADOSGW,
    NATS_SERVER,
];

/// `npm ci` of tests/browser (playwright-core, axe-core and Azurite, pinned by its committed lock file) into
/// `target/browser`, unless the installed lock is already the committed one; returns the
/// `node_modules` directory the site tests import playwright-core from.
pub(crate) fn browser_modules(root: &Path) -> Result<PathBuf> {
    let source = root.join("tests/browser");
    let dest = root.join("target/browser");
    let lock = std::fs::read(source.join("package-lock.json")).context("reading tests/browser/package-lock.json")?;
    let installed = std::fs::read(dest.join("package-lock.json")).ok();
    let complete =
        ["playwright-core", "azurite", "axe-core"].iter().all(|m| dest.join("node_modules").join(m).is_dir());
    if installed.as_deref() != Some(&lock[..]) || !complete {
        std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), dest.join(file))
                .with_context(|| format!("copying tests/browser/{file}"))?;
        }
        sh(Command::new("npm")
            .current_dir(&dest)
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            // The browser is Debian's; playwright must not try to download its own.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
        .context("npm ci of tests/browser (playwright-core, axe-core, azurite)")?;
    }
    Ok(dest.join("node_modules"))
}

/// The Python packages the tests use: securesystemslib verifies DSSE envelopes, check-jsonschema
/// validates the workflow files against the published GitHub workflow schema, boto3 is the
/// independent S3 client of the S3 tests (against Ceph's RADOS gateway), azure-storage-blob
/// the Azure client of the Azure test (against Azurite).
const PY_REQUIREMENTS: [&str; 4] = [
    "securesystemslib[crypto]>=1.0,<2",
    "check-jsonschema>=0.29,<1",
    "boto3>=1.34,<2",
    "azure-storage-blob>=12.19,<13",
];
