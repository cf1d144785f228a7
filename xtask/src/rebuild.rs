//! `cargo xtask rebuild`: rebuilds the newest `examples/avscan` provenance under `attestations/`
//! from its source bundle in `target/glassbox/dist`, as a reviewer would: trusting the key
//! `cargo xtask build` signed with, signing the verdict with `$GLASSBOX_REVIEWER_KEY` or a
//! development reviewer key.
//!
//! `cargo xtask rebuild --release VERSION|latest`: the independent check of a published glassbox
//! release: check out the commit its provenance records into a temporary directory, rebuild it
//! with `glassbox rebuild` (trusting the builder keys of `attestations/policy.toml`) and report.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

use glassbox::policy::Policy;

use crate::build::{dev_key, signing_key};
use crate::release::{self, COMPONENT};
use crate::util::{glassbox_binary, repo_root, sandbox_ready, status};

/// The newest `*.provenance.intoto.jsonl` below `dir`.
fn newest_provenance(dir: &Path) -> Result<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for version in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let version = version?.path();
        for file in std::fs::read_dir(&version).into_iter().flatten().flatten() {
            let path = file.path();
            if path.to_string_lossy().ends_with(".provenance.intoto.jsonl") {
                found.push((file.metadata()?.modified()?, path));
            }
        }
    }
    found.sort();
    match found.pop() {
        Some((_, path)) => Ok(path),
        None => bail!("no provenance under {}: run `cargo xtask build` first", dir.display()),
    }
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    sandbox_ready("rebuild", args)?;
    if let Some(rest) = args.strip_prefix(&["--release".to_string()]) {
        let Some((version, rest)) = rest.split_first() else {
            bail!("usage: cargo xtask rebuild --release VERSION|latest [glassbox rebuild options]");
        };
        let code = rebuild_release(version, rest)?;
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)));
    }
    let root = repo_root();
    let glassbox = glassbox_binary(false)?;
    let provenance = newest_provenance(&root.join("attestations/avscan"))?;
    let version =
        provenance.parent().and_then(Path::file_name).map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
    let source = root.join(format!("target/glassbox/dist/avscan-{version}-src.tar.gz"));
    if !source.is_file() {
        bail!("{} is missing: run `cargo xtask build` first", source.display());
    }
    // The builder's key: --trust takes public keys only (a private key is refused there), so
    // its public half is written beside the development keys.
    let builder = signing_key(&glassbox)?;
    let public = glassbox::keys::PrivateKey::read(&builder).with_context(|| format!("{}", builder.display()))?.public();
    let trust = root.join("target/glassbox/trusted-builder.pub");
    glassbox::fs::write_atomic(&trust, public.to_pem().as_bytes(), 0o644)?;
    let reviewer = match std::env::var_os("GLASSBOX_REVIEWER_KEY").filter(|k| !k.is_empty()) {
        Some(key) => PathBuf::from(key),
        None => dev_key(&glassbox, "dev-reviewer")?,
    };
    let mut cmd = Command::new(&glassbox);
    cmd.current_dir(&root).arg("rebuild").arg(&provenance).arg("--source").arg(&source).arg("--trust").arg(&trust);
    cmd.arg("--key").arg(&reviewer).args(args);
    let code = status(&mut cmd).context("running glassbox rebuild")?.code().unwrap_or(2);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)))
}

/// Rebuilds every provenance of a published release from a fresh checkout of its commit.
/// Options after VERSION go to `glassbox rebuild` (`--key` to sign a verdict, `--out DIR`).
/// Returns the worst exit code: 0 reproduced, 1 not, 2 could not rebuild.
pub fn rebuild_release(version: &str, args: &[String]) -> Result<i32> {
    let policy = Policy::load(&release::policy_path())?;
    let release = release::find(version, &policy)?;
    let glassbox = glassbox_binary(false)?;
    let scratch =
        tempfile::Builder::new().prefix("glassbox-release-").tempdir().context("creating a temporary directory")?;
    let source = scratch.path().join(format!("{COMPONENT}-{}", release.version));
    release::checkout(&release.version, &release.git_commit, &source)?;
    eprintln!("checked out {} (release {}) into {}", release.git_commit, release.version, source.display());

    let mut worst = 0;
    for provenance in &release.provenances {
        let mut cmd = Command::new(&glassbox);
        cmd.arg("rebuild").arg(provenance).arg("--source").arg(&source);
        for key in release::builder_key_files(&policy) {
            cmd.arg("--trust").arg(key);
        }
        cmd.args(args);
        let code = status(&mut cmd).context("running glassbox rebuild")?.code().unwrap_or(2);
        worst = worst.max(code);
    }
    let verdict = match worst {
        0 => "REPRODUCED: every artifact of the release is identical".to_string(),
        1 => "DID NOT REPRODUCE: see the report above".to_string(),
        _ => "COULD NOT REBUILD: see the error above".to_string(),
    };
    println!(
        "{COMPONENT} {} (commit {}, source {}): {verdict}",
        release.version, release.git_commit, release.source_digest
    );
    Ok(worst)
}
