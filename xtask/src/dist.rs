//! `cargo xtask dist`: glassbox releases itself. Builds the `glassbox` binary with
//! `glassbox build` (the root workspace, host target) into `target/glassbox/dist`, writes the
//! provenance to `attestations/glassbox/<version>/`, appends it to `attestations/log` and
//! publishes a new checkpoint. Signs with `$GLASSBOX_KEY`; the log with `$GLASSBOX_LOG_KEY`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use glassbox::keys::PrivateKey;
use glassbox::policy::Policy;

use crate::release::{self, attestations_dir, log_dir, log_vkey, policy_path, COMPONENT};
use crate::util::{cargo, glassbox_binary, repo_root, run as sh, sandbox_ready};

/// A private key file named by an environment variable; never a development key for a release.
fn key_from_env(var: &str, what: &str) -> Result<(PathBuf, PrivateKey)> {
    let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from) else {
        bail!("{var} is not set: it names the {what}'s private key file (a release is never signed with a development key)");
    };
    let key = PrivateKey::read(&path).with_context(|| format!("{var}={}", path.display()))?;
    Ok((path, key))
}

/// The root package's version, from `cargo metadata`.
fn crate_version() -> Result<String> {
    let out = cargo()
        .current_dir(repo_root())
        .args(["metadata", "--locked", "--no-deps", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    match packages.iter().find(|p| p["name"] == COMPONENT).and_then(|p| p["version"].as_str()) {
        Some(v) => Ok(v.to_string()),
        None => bail!("cargo metadata names no package {COMPONENT}"),
    }
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    sandbox_ready("dist", args)?;
    let root = repo_root();
    let (builder_path, builder) = key_from_env("GLASSBOX_KEY", "release builder")?;
    let (log_key_path, _) = key_from_env("GLASSBOX_LOG_KEY", "transparency log")?;

    // Refuse before building anything: the key must be one the published policy trusts, the
    // log must exist, and this version must not be published yet.
    let policy = Policy::load(&policy_path())?;
    let id = builder.public().key_id();
    if !policy.builders.iter().any(|k| k.id == id) {
        bail!("GLASSBOX_KEY (key id {}) is not a [builders] key of {}", id.short(), policy.path.display());
    }
    if !log_dir().join("checkpoint").is_file() {
        bail!(
            "{} is not a log: create it once with `glassbox log init` (see attestations/README.md)",
            log_dir().display()
        );
    }
    let version = crate_version()?;
    let dir = attestations_dir().join(COMPONENT).join(&version);
    if dir.exists() {
        bail!("{COMPONENT} {version} is already published ({}): bump the version in Cargo.toml", dir.display());
    }

    let glassbox = glassbox_binary(false)?;
    // No --allow-dirty: a release is built from a clean checkout, so its gitCommit reproduces it.
    sh(Command::new(&glassbox)
        .current_dir(&root)
        .args(["build", "--manifest-path", "Cargo.toml", "--package", COMPONENT])
        .arg("--key")
        .arg(&builder_path)
        .args(["--out", "target/glassbox/dist", "--attestations"])
        .arg(attestations_dir())
        .args(args))
    .context("building the release")?;

    let new = release::find(&version, &policy)?;
    sh(Command::new(&glassbox)
        .arg("log")
        .arg("append")
        .arg(log_dir())
        .arg("--key")
        .arg(&log_key_path)
        .args(&new.provenances))
    .context("appending the provenance to attestations/log")?;
    sh(Command::new(&glassbox).arg("log").arg("verify").arg(log_dir()).arg("--vkey").arg(log_vkey(&policy)?))
        .context("verifying attestations/log")?;

    println!("published {COMPONENT} {version} (commit {}, source {})", new.git_commit, new.source_digest);
    println!("  commit:  attestations/{COMPONENT}/{version}/ and attestations/log/");
    println!("  upload:  target/glassbox/dist/{COMPONENT}-{version}-*.tar.gz");
    println!("  check:   cargo xtask rebuild --release {version}");
    Ok(ExitCode::SUCCESS)
}
