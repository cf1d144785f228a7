//! glassbox's own published releases under `attestations/glassbox/<version>/`: finding one,
//! reading its provenance with the builder keys of `attestations/policy.toml`, and checking what
//! is committed (every envelope signed by a published key and in the published log).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use glassbox::attest::provenance::Provenance;
use glassbox::attest::{Envelope, Statement, SLSA_PROVENANCE_V1};
use glassbox::keys::PublicKey;
use glassbox::policy::Policy;
use glassbox::transparency::audit::committed_entries;
use glassbox::transparency::entry::LogEntry;
use glassbox::transparency::LogDir;

use crate::util::{repo_root, run};

/// The component name glassbox's releases are published under.
pub const COMPONENT: &str = "glassbox";

/// Where the published attestations live, relative to the repository root.
pub fn attestations_dir() -> PathBuf {
    repo_root().join("attestations")
}

pub fn policy_path() -> PathBuf {
    attestations_dir().join("policy.toml")
}

/// The published log's directory.
pub fn log_dir() -> PathBuf {
    attestations_dir().join("log")
}

/// One published version and what its provenance says.
pub struct Release {
    pub version: String,
    /// Every `<target>.provenance.intoto.jsonl` of the version, sorted.
    pub provenances: Vec<PathBuf>,
    /// The commit every provenance records (they must agree).
    pub git_commit: String,
    /// `sha256:<hex>` of the source.
    pub source_digest: String,
}

/// The policy's builder keys, as files (policy paths are relative to the policy file).
pub fn builder_key_files(policy: &Policy) -> Vec<PathBuf> {
    let base = policy.path.parent().map(Path::to_path_buf).unwrap_or_default();
    policy.builders.iter().map(|k| base.join(&k.path)).collect()
}

/// The policy's `[log] vkey`, as the verifier key string `glassbox log --vkey` takes.
pub fn log_vkey(policy: &Policy) -> Result<String> {
    match &policy.log {
        Some(log) => Ok(log.vkey.to_string()),
        None => bail!("{} has no [log] vkey", policy.path.display()),
    }
}

/// Versions published under `<attestations>/glassbox/`, oldest first (numeric dotted order).
pub fn published_versions(attestations: &Path) -> Result<Vec<String>> {
    let dir = attestations.join(COMPONENT);
    let mut versions = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                versions.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    versions.sort_by_key(|v| version_key(v));
    Ok(versions)
}

/// `1.10.0` sorts after `1.9.0`; a pre-release part is compared as text.
fn version_key(version: &str) -> (Vec<u64>, String) {
    let (core, pre) = version.split_once('-').unwrap_or((version, "~"));
    (core.split('.').map(|n| n.parse().unwrap_or(0)).collect(), pre.to_string())
}

/// Finds `version` (or the newest for `latest`) in the attestations directory that holds the
/// policy, and reads its provenance, trusting only the policy's builder keys.
pub fn find(version: &str, policy: &Policy) -> Result<Release> {
    let attestations = policy.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let version = if version == "latest" {
        match published_versions(&attestations)?.pop() {
            Some(v) => v,
            None => bail!("no release is published under {}", attestations.join(COMPONENT).display()),
        }
    } else {
        version.to_string()
    };
    let dir = attestations.join(COMPONENT).join(&version);
    let mut provenances: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("release {version}: reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".provenance.intoto.jsonl"))
        .collect();
    provenances.sort();
    if provenances.is_empty() {
        bail!("release {version}: no *.provenance.intoto.jsonl in {}", dir.display());
    }
    let trusted: Vec<PublicKey> = policy.builders.iter().map(|k| k.key.clone()).collect();
    let mut commits = BTreeSet::new();
    let mut sources = BTreeSet::new();
    for path in &provenances {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {origin}"))?;
        for envelope in Envelope::parse_all(&text, &origin)? {
            if envelope.verified_by(&trusted)?.is_empty() {
                bail!("{origin}: not signed by a builder key of {}", policy.path.display());
            }
            let statement = Statement::<Provenance>::from_envelope(&envelope, SLSA_PROVENANCE_V1, &origin)?;
            let definition = &statement.predicate.build_definition;
            if definition.internal_parameters.dirty {
                bail!("{origin}: built from a dirty checkout, so no commit reproduces it");
            }
            let source = &definition.external_parameters.source;
            match source.digest.get("gitCommit") {
                Some(commit) => commits.insert(commit.clone()),
                None => bail!("{origin}: records no gitCommit"),
            };
            sources.insert(source.digest.get("sha256").cloned().unwrap_or_default());
        }
    }
    if commits.len() != 1 || sources.len() != 1 {
        bail!("release {version}: its provenance files name {} commits and {} sources", commits.len(), sources.len());
    }
    let git_commit = commits.into_iter().next().unwrap_or_default();
    let source_digest = format!("sha256:{}", sources.into_iter().next().unwrap_or_default());
    Ok(Release { version, provenances, git_commit, source_digest })
}

/// Checks out `commit` of this repository into `dest` (a fresh clone, so the tree is exactly the
/// commit's tracked files). When the tag `v<version>` exists it must name the same commit.
pub fn checkout(version: &str, commit: &str, dest: &Path) -> Result<()> {
    let root = repo_root();
    let git = |dir: &Path| {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir);
        cmd
    };
    let tag =
        git(&root).args(["rev-parse", "-q", "--verify"]).arg(format!("refs/tags/v{version}^{{commit}}")).output()?;
    if tag.status.success() {
        let tagged = String::from_utf8_lossy(&tag.stdout).trim().to_string();
        if tagged != commit {
            bail!("tag v{version} is commit {tagged}, but the provenance records {commit}");
        }
    }
    let known = git(&root).args(["cat-file", "-e"]).arg(format!("{commit}^{{commit}}")).output()?;
    if !known.status.success() {
        bail!("commit {commit} is not in this clone (fetch the full history: git fetch --unshallow --tags)");
    }
    run(Command::new("git").args(["clone", "--quiet", "--no-checkout"]).arg(&root).arg(dest))?;
    run(git(dest).args(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit]))
}

/// What `cargo xtask ci` checks of the committed attestations: every envelope under
/// `<attestations>/glassbox/` is signed by one of `keys` and is in `<attestations>/log`.
/// (`glassbox log audit` checks the log itself.) Returns how many were checked.
pub fn check_committed_envelopes(attestations: &Path, keys: &[PublicKey]) -> Result<usize> {
    let log = LogDir::new(attestations.join("log"));
    let (_, entries) = committed_entries(&log).context("reading attestations/log")?;
    let mut logged = BTreeSet::new();
    for bytes in &entries {
        if let Some(digest) = LogEntry::parse(bytes, "attestations/log")?.envelope_digest() {
            logged.insert(digest);
        }
    }
    let mut checked = 0;
    for version in published_versions(attestations)? {
        let dir = attestations.join(COMPONENT).join(&version);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".intoto.jsonl"))
            .collect();
        files.sort();
        for path in files {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {origin}"))?;
            for (n, envelope) in Envelope::parse_all(&text, &origin)?.iter().enumerate() {
                if envelope.verified_by(keys)?.is_empty() {
                    bail!("{origin}:{}: no signature verifies with a key in attestations/keys/", n + 1);
                }
                if !logged.contains(&envelope.digest()) {
                    bail!("{origin}:{}: not in attestations/log", n + 1);
                }
                checked += 1;
            }
        }
    }
    Ok(checked)
}

/// Every `attestations/keys/*.pub`, sorted by file name.
pub fn published_keys() -> Result<Vec<(PathBuf, PublicKey)>> {
    let dir = attestations_dir().join("keys");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let key = PublicKey::read(&p)?;
            Ok((p, key))
        })
        .collect()
}

/// The `sh` blocks of attestations/README.md's standard-tools section, as one bash script.
fn readme_script() -> Result<String> {
    let path = attestations_dir().join("README.md");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let Some(start) = text.find(README_SECTION) else {
        bail!("{} has no section {README_SECTION:?}", path.display());
    };
    let mut script = String::from("set -euo pipefail\n");
    let mut in_block = false;
    for line in text[start..].lines() {
        if in_block && line.starts_with("```") {
            in_block = false;
        } else if in_block {
            script.push_str(line);
            script.push('\n');
        } else if line == "```sh" {
            in_block = true;
        }
    }
    Ok(script)
}

const README_SECTION: &str = "## Checking a release with standard tools only";

/// Runs the README's standard-tools checks of the latest release against the bundles in `dist`
/// (with `python_bin` first on PATH, for securesystemslib), then against a copy of the binary
/// bundle with one byte changed, which they must refuse.
pub fn check_readme_commands(version: &str, dist: &Path, python_bin: &Path) -> Result<()> {
    let root = repo_root();
    let script = readme_script()?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![python_bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let search_path = std::env::join_paths(dirs)?;
    let bash = |dist: &Path| {
        let mut cmd = Command::new("bash");
        cmd.current_dir(&root).arg("-c").arg(&script).env("V", version).env("DIST", dist).env("PATH", &search_path);
        cmd
    };
    eprintln!("$ bash -c <the sh blocks of attestations/README.md, {README_SECTION:?}> (DIST={})", dist.display());
    let status = bash(dist).status().context("running bash")?;
    if !status.success() {
        bail!("the standard-tools checks of attestations/README.md failed ({status})");
    }

    let corrupt = tempfile::tempdir()?;
    let bundle = format!("{COMPONENT}-{version}-x86_64-unknown-linux-gnu.tar.gz");
    let mut bytes = std::fs::read(dist.join(&bundle)).with_context(|| format!("reading {bundle}"))?;
    let last = bytes.len() - 1; // a gzip file is never empty
    bytes[last] ^= 1;
    std::fs::write(corrupt.path().join(&bundle), bytes)?;
    let refused = bash(corrupt.path()).output()?;
    if refused.status.success() {
        bail!("the README's standard-tools checks accepted a corrupted {bundle}");
    }
    eprintln!("xtask ci: the README's standard-tools checks pass, and refuse a corrupted bundle");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox::attest::ResourceDescriptor;
    use glassbox::digest::Sha256Digest;
    use glassbox::keys::PrivateKey;

    #[test]
    fn versions_sort_numerically_and_pre_releases_first() {
        let mut v = vec!["1.10.0", "1.9.0", "1.10.0-rc.1", "0.1.0"];
        v.sort_by_key(|v| version_key(v));
        assert_eq!(v, ["0.1.0", "1.9.0", "1.10.0-rc.1", "1.10.0"]);
    }

    /// A copy of the committed attestations (policy, keys, releases, log) to tamper with.
    fn published_copy() -> tempfile::TempDir {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        copy(&attestations_dir(), dir.path());
        dir
    }

    fn provenance_file(attestations: &Path) -> PathBuf {
        let version = published_versions(attestations).unwrap().pop().unwrap();
        attestations.join(COMPONENT).join(version).join("x86_64-unknown-linux-gnu.provenance.intoto.jsonl")
    }

    #[test]
    fn the_published_release_names_a_clean_commit_and_its_source() {
        let policy = Policy::load(&policy_path()).unwrap();
        let release = find("latest", &policy).unwrap();
        assert_eq!(Some(&release.version), published_versions(&attestations_dir()).unwrap().last());
        assert_eq!(release.git_commit.len(), 40, "{}", release.git_commit);
        let manifest = std::fs::read(attestations_dir().join(COMPONENT).join(&release.version).join("sources.sha256"));
        assert_eq!(release.source_digest, format!("sha256:{}", Sha256Digest::of(&manifest.unwrap()).hex()));
    }

    #[test]
    fn a_provenance_is_believed_only_with_a_builder_signature() {
        let dir = published_copy();
        // A policy that trusts another key, not the release key, as a builder (not the
        // rebuilder's: a policy may not make one key both).
        let policy_file = dir.path().join("policy.toml");
        let other = dir.path().join("keys/other.pub");
        std::fs::write(&other, glassbox::keys::PrivateKey::from_seed(&[7; 32]).public().to_pem()).unwrap();
        let text = std::fs::read_to_string(&policy_file).unwrap();
        std::fs::write(&policy_file, text.replacen("keys/release.pub", "keys/other.pub", 1)).unwrap();
        let err = find("latest", &Policy::load(&policy_file).unwrap()).err().unwrap();
        assert!(err.to_string().contains("not signed by a builder key"), "{err:#}");

        // The real policy, and a payload changed by one character.
        std::fs::write(&policy_file, text).unwrap();
        let provenance = provenance_file(dir.path());
        let line = std::fs::read_to_string(&provenance).unwrap();
        let at = line.find("\"payload\":\"").unwrap() + 20;
        let flipped = if &line[at..=at] == "A" { "B" } else { "A" };
        std::fs::write(&provenance, format!("{}{flipped}{}", &line[..at], &line[at + 1..])).unwrap();
        let err = find("latest", &Policy::load(&policy_file).unwrap()).err().unwrap();
        assert!(err.to_string().contains("not signed by a builder key"), "{err:#}");
    }

    #[test]
    fn committed_envelopes_must_be_signed_by_a_published_key_and_logged() {
        let dir = published_copy();
        let keys: Vec<PublicKey> = published_keys().unwrap().into_iter().map(|(_, k)| k).collect();
        assert!(check_committed_envelopes(dir.path(), &keys).unwrap() >= 2);

        // An envelope signed by some other key, added to the release's provenance file.
        let stranger = PrivateKey::generate();
        let subject = vec![ResourceDescriptor::named("glassbox", Sha256Digest::of(b"other bytes"))];
        let envelope = Statement::new(subject, SLSA_PROVENANCE_V1, serde_json::json!({})).sign(&stranger);
        let provenance = provenance_file(dir.path());
        let mut text = std::fs::read_to_string(&provenance).unwrap();
        text.push_str(&envelope.to_line());
        text.push('\n');
        std::fs::write(&provenance, text).unwrap();
        let err = check_committed_envelopes(dir.path(), &keys).unwrap_err();
        assert!(err.to_string().contains("no signature verifies"), "{err:#}");

        // Signed by a key the checker trusts, but never logged.
        let mut trusting = keys.clone();
        trusting.push(stranger.public());
        let err = check_committed_envelopes(dir.path(), &trusting).unwrap_err();
        assert!(err.to_string().contains("not in attestations/log"), "{err:#}");
    }
}
