//! `glassbox rebuild`: what a reviewer at the transparency center runs. Verify the vendor's
//! provenance against trusted builder keys, put the reviewed source (bundle or checkout) into
//! the canonical build root after checking every digest, select the attested toolchain, build
//! offline with the attested parameters, compare every subject, and sign a SLSA VSA.

pub mod plan;
pub mod source;
pub mod verdict;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::attest::provenance::SandboxRecord;
use crate::attest::vsa::ReproducedArtifact;
use crate::attest::ResourceDescriptor;
use crate::build::{compile, stage};
use crate::diff::{self, DiffReport};
use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, Result};
use crate::fs::install_copy;
use crate::keys::{KeyId, PrivateKey, PublicKey};
use crate::progress::Progress;
use crate::sandbox::{self, Sandbox};
use crate::time::Timestamp;
use crate::toolchain::ToolchainChoice;

/// What to rebuild and how.
pub struct RebuildRequest<'a> {
    pub provenance: PathBuf,
    /// A source bundle (`*-src.tar.gz`) or a source directory.
    pub source: PathBuf,
    pub trusted: Vec<PublicKey>,
    /// Signs the verdict when given.
    pub key: Option<&'a PrivateKey>,
    pub verifier_id: String,
    /// Where to copy the rebuilt artifacts and bundle.
    pub out_dir: Option<PathBuf>,
    /// The vendor's binary bundle or `--out` directory, to explain a mismatch. By default, the
    /// binary bundle next to the source bundle, when there is one.
    pub expected: Option<PathBuf>,
    pub allow_toolchain_mismatch: bool,
    pub build_base: PathBuf,
    /// Where the vendor's build code runs (bubblewrap unless `--no-sandbox`).
    pub sandbox: Sandbox,
    pub host_env: BTreeMap<String, String>,
    pub clock: &'a dyn Fn() -> Timestamp,
    pub progress: &'a dyn Progress,
}

/// The result of a rebuild that could be carried out (reproduced or not).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildOutcome {
    pub reproduced: bool,
    pub stem: String,
    pub target: String,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub source_digest: Sha256Digest,
    /// The trusted key that signed the provenance.
    pub builder_key: KeyId,
    /// The toolchain used, and how it was chosen, as the verdict's text records it.
    #[serde(skip)]
    pub toolchain: String,
    /// The same, as data (the JSON report's `toolchain`).
    #[serde(rename = "toolchain")]
    pub toolchain_used: ToolchainUsed,
    pub toolchain_mismatch: bool,
    /// How the rebuild confined the vendor's build code.
    pub sandbox: SandboxRecord,
    #[serde(serialize_with = "prefixed_artifacts")]
    pub artifacts: Vec<ReproducedArtifact>,
    /// Differences between what the provenance records and what this glassbox would run.
    pub notes: Vec<String>,
    /// Where the bytes differ, for each mismatch that could be compared with the vendor's files.
    pub differences: Vec<ArtifactDifference>,
    /// The rebuilt files (in `--out`), when asked for.
    pub rebuilt_files: Vec<PathBuf>,
    /// The signed verdict, when `--key` was given.
    pub verdict_file: Option<PathBuf>,
    /// The mismatch reports the FAILED verdict names (`differences` as JSON), when written.
    pub differences_file: Option<PathBuf>,
    /// The build's log (cargo's stderr, bounded), which the verdict names by digest.
    #[serde(skip)]
    pub build_log: Vec<u8>,
    /// The build log written beside the verdict, when one was signed.
    pub build_log_file: Option<PathBuf>,
}

/// The toolchain a rebuild ran, and how glassbox chose it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolchainUsed {
    /// `rustc -vV` of the toolchain.
    pub rustc: crate::toolchain::RustcVersion,
    /// `local` (the one on PATH), `rustup` (the attested one, selected) or `mismatch` (a
    /// different one, with --allow-toolchain-mismatch).
    pub selected: &'static str,
    /// The rustup toolchain's name, when `selected` is `rustup`.
    pub rustup_toolchain: Option<String>,
}

/// The artifacts as the JSON report writes them: the verdict's records, digests `sha256:<hex>`.
fn prefixed_artifacts<S: serde::Serializer>(list: &[ReproducedArtifact], s: S) -> std::result::Result<S::Ok, S::Error> {
    use crate::digest::report::hex_text;
    #[derive(Serialize)]
    struct Shown<'a> {
        name: &'a str,
        expected: Option<String>,
        actual: Option<String>,
        matches: bool,
    }
    s.collect_seq(list.iter().map(|a| Shown {
        name: &a.name,
        expected: a.expected.as_deref().map(hex_text),
        actual: a.actual.as_deref().map(hex_text),
        matches: a.matches,
    }))
}

/// A mismatching artifact compared with the vendor's copy. A FAILED verdict's `.diff.json` file
/// is a list of these.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDifference {
    pub name: String,
    pub report: DiffReport,
}

/// Runs a rebuild. Errors are the definite "no" answers that stop before building (signature,
/// source, lockfile: exit 1) and the failures to answer (exit 2); a build that differs is an
/// `Ok` outcome with `reproduced == false`.
pub fn rebuild(req: &RebuildRequest<'_>) -> Result<RebuildOutcome> {
    let trusted = plan::verify(&req.provenance, &req.trusted)?;
    let plan = plan::plan(&trusted)?;
    let (toolchain, toolchain_note, selected, mismatch) = match ToolchainChoice::find(&req.host_env, &plan.rustc)? {
        ToolchainChoice::Local(tc) => (tc, "the local toolchain".to_string(), "local", false),
        ToolchainChoice::Selected(tc) => {
            let name = tc.rustup.as_ref().map_or(String::new(), |(_, n)| n.clone());
            (tc, format!("rustup toolchain {name}"), "rustup", false)
        }
        ToolchainChoice::Mismatch(tc) if req.allow_toolchain_mismatch => {
            (tc, "a DIFFERENT toolchain (--allow-toolchain-mismatch)".to_string(), "mismatch", true)
        }
        ToolchainChoice::Mismatch(tc) => {
            return Err(Error::invalid(
                "toolchain",
                format!(
                    "the provenance was built with rustc {} but this machine has rustc {}; run `{}` (glassbox then selects it) or pass --allow-toolchain-mismatch",
                    plan.rustc.describe(),
                    tc.rustc_version.describe(),
                    plan.rustc.install_hint()
                ),
            ))
        }
    };

    let recorded_sandbox = trusted.statement.predicate.build_definition.internal_parameters.sandbox.clone();
    check_layout(recorded_sandbox.as_ref(), &plan.source_digest, &trusted.file_name)?;

    let root = BuildRoot::for_source(&req.build_base, &plan.source_digest);
    let _lock = stage::lock(&root)?;
    let verdict_dir = req.provenance.parent().map(PathBuf::from).unwrap_or_default();
    for dir in req.out_dir.iter().chain([&verdict_dir]) {
        stage::refuse_inside_build_base(dir, &req.build_base)?;
    }
    let prepared = source::prepare(&req.source, &plan, &root, &toolchain, &req.host_env, req.progress)?;
    let outputs = compile::private_dir(&req.build_base)?;
    let compiled = compile::compile(&compile::Compilation {
        root: &root,
        build_base: &req.build_base,
        sandbox: &req.sandbox,
        toolchain: &toolchain,
        params: &plan.params,
        vendor: &prepared.vendor,
        source_date_epoch: plan.source_date_epoch,
        stem: &plan.stem,
        progress: req.progress,
        outputs: outputs.path(),
        adjust_env: None,
    })?;

    let def = &trusted.statement.predicate.build_definition;
    let mut notes = Vec::new();
    if prepared.vendored_from_registry {
        notes
            .push("the source directory had no .glassbox/vendor/: dependencies were vendored from the registry".into());
    }
    if compiled
        .env
        .recorded_vars()
        .into_iter()
        .any(|(k, v)| k != "RUSTUP_TOOLCHAIN" && def.internal_parameters.environment.get(&k) != Some(&v))
    {
        notes.push("the recorded build environment differs from the one this glassbox sets".into());
    }
    if recorded_sandbox.as_ref().is_some_and(|s| s.build_root.is_none()) {
        notes.push(
            "the provenance was built outside a sandbox (--no-sandbox), at a build root it does not record".into(),
        );
    }
    let ran: Vec<String> = compiled.args.iter().map(|a| compiled.env.placeholders(a)).collect();
    if ran != def.internal_parameters.cargo_args {
        notes.push("the recorded cargo command differs from the one this glassbox runs".into());
    }
    let artifacts = compare(&trusted.statement.subject, &compiled.subjects());
    let reproduced = artifacts.iter().all(|a| a.matches);

    let mut rebuilt_files = Vec::new();
    if let Some(out) = &req.out_dir {
        for a in &compiled.artifacts {
            let dest = out.join(&a.subject);
            install_copy(&a.file.path, &dest, 0o755)?;
            rebuilt_files.push(dest);
        }
        let dest = out.join(&compiled.bundle_name);
        install_copy(&compiled.bundle_path, &dest, 0o644)?;
        rebuilt_files.push(dest);
    }
    let differences = if reproduced { Vec::new() } else { explain(req, &compiled, &artifacts, &mut notes)? };
    let toolchain_desc = format!("rustc {} ({toolchain_note})", toolchain.rustc_version.describe());
    let mut outcome = RebuildOutcome {
        reproduced,
        stem: plan.stem.clone(),
        target: plan.params.target.clone(),
        source_digest: plan.source_digest,
        builder_key: trusted.signer.clone(),
        toolchain: toolchain_desc,
        toolchain_used: ToolchainUsed {
            rustc: toolchain.rustc_version.clone(),
            selected,
            rustup_toolchain: toolchain.rustup.as_ref().filter(|_| selected == "rustup").map(|(_, n)| n.clone()),
        },
        toolchain_mismatch: mismatch,
        sandbox: compiled.sandbox.clone(),
        artifacts,
        notes,
        differences,
        rebuilt_files,
        verdict_file: None,
        differences_file: None,
        build_log: compiled.build_log.clone(),
        build_log_file: None,
    };
    if let Some(key) = req.key {
        let written = verdict::sign_and_write(
            &verdict_dir,
            &trusted,
            &outcome,
            &compiled.bundle_name,
            &req.verifier_id,
            (req.clock)(),
            key,
        )?;
        outcome.verdict_file = Some(written.verdict);
        outcome.differences_file = written.differences;
        outcome.build_log_file = Some(written.build_log);
    }
    // The build root is a cache of this rebuild; errors above keep it for inspection.
    let _ = fs::remove_dir_all(&root.root);
    Ok(outcome)
}

/// The provenance's layout must be one this glassbox rebuilds in: the legacy one (no sandbox
/// field, built at `/tmp/glassbox/<16 hex>`), or a sandbox whose build root was the canonical
/// path, where the rebuild's sandbox mounts it too.
fn check_layout(recorded: Option<&SandboxRecord>, source_digest: &Sha256Digest, origin: &str) -> Result<()> {
    let canonical = sandbox::canonical_root(source_digest).display().to_string();
    match recorded.and_then(|s| s.build_root.as_deref()) {
        Some(root) if root != canonical => Err(Error::invalid(
            origin,
            format!("the build ran with its build root at {root:?}, not at the canonical {canonical}; this glassbox cannot rebuild that layout"),
        )),
        _ => Ok(()),
    }
}

/// Compares each mismatching artifact with the vendor's copy, if one is at hand: the binary
/// bundle (whose report recurses into every member) or the files of a `--out` directory.
fn explain(
    req: &RebuildRequest<'_>,
    compiled: &compile::Compiled,
    artifacts: &[ReproducedArtifact],
    notes: &mut Vec<String>,
) -> Result<Vec<ArtifactDifference>> {
    let beside_source =
        req.source.parent().map(|d| d.join(&compiled.bundle_name)).filter(|p| p.is_file() && req.source.is_file());
    let Some(expected) = req.expected.clone().or(beside_source) else {
        notes.push("pass --expected with the vendor's binary bundle to see where the bytes differ".into());
        return Ok(Vec::new());
    };
    // The report is published beside the verdict: its sides are named by the artifact, not by
    // the rebuilder's local paths (its home, its private output directory).
    let compare = |theirs: &Path, rebuilt: &Path, name: &str| -> Result<ArtifactDifference> {
        let mut report = diff::diff_files(theirs, rebuilt)?;
        report.a.name = format!("expected/{name}");
        report.b.name = format!("rebuilt/{name}");
        Ok(ArtifactDifference { name: name.to_string(), report })
    };
    let mut out = Vec::new();
    if expected.is_file() {
        out.push(compare(&expected, &compiled.bundle_path, &compiled.bundle_name)?);
        return Ok(out);
    }
    for a in artifacts.iter().filter(|a| !a.matches) {
        let rebuilt = if a.name == compiled.bundle_name {
            compiled.bundle_path.clone()
        } else {
            match compiled.artifacts.iter().find(|c| c.subject == a.name) {
                Some(c) => c.file.path.clone(),
                None => continue,
            }
        };
        let theirs = expected.join(&a.name);
        if theirs.is_file() {
            out.push(compare(&theirs, &rebuilt, &a.name)?);
        }
    }
    Ok(out)
}

/// Every expected subject against what the rebuild produced, then anything extra it produced.
pub fn compare(expected: &[ResourceDescriptor], actual: &[ResourceDescriptor]) -> Vec<ReproducedArtifact> {
    let name = |d: &ResourceDescriptor| d.name.clone().unwrap_or_default();
    let hex = |d: &ResourceDescriptor| d.sha256().map(|s| s.hex());
    let mut out: Vec<ReproducedArtifact> = expected
        .iter()
        .map(|e| {
            let got = actual.iter().find(|a| a.name == e.name).and_then(hex);
            ReproducedArtifact { name: name(e), matches: got.is_some() && got == hex(e), expected: hex(e), actual: got }
        })
        .collect();
    out.extend(actual.iter().filter(|a| !expected.iter().any(|e| e.name == a.name)).map(|a| ReproducedArtifact {
        name: name(a),
        expected: None,
        actual: hex(a),
        matches: false,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_or_legacy_layout_is_rebuilt() {
        let digest = Sha256Digest::of(b"x");
        let record = |root: Option<&str>| SandboxRecord {
            tool: "bubblewrap".into(),
            version: Some("0.8.0".into()),
            build_root: root.map(str::to_string),
        };
        assert!(check_layout(None, &digest, "p").is_ok());
        assert!(check_layout(Some(&record(None)), &digest, "p").is_ok());
        assert!(check_layout(Some(&record(Some("/tmp/glassbox/2d711642b726b044"))), &digest, "p").is_ok());
        let err = check_layout(Some(&record(Some("/elsewhere/2d711642b726b044"))), &digest, "p").unwrap_err();
        assert!(err.to_string().contains("/elsewhere") && err.exit_code() == 2, "{err}");
    }
}
