//! The rebuild verdict: a SLSA VSA over the provenance's subjects, PASSED only when every
//! artifact matched, written next to the provenance as
//! `<target>.rebuild.<keyid 8 hex>.intoto.jsonl`; a FAILED one that could be explained also
//! writes the mismatch reports beside it (`<target>.rebuild.<keyid 8 hex>.diff.json`) and binds
//! them by digest in the signed statement. The build's log (cargo's stderr, bounded) is written
//! beside every verdict (`<target>.rebuild.<keyid 8 hex>.log`) and bound by digest too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::plan::TrustedProvenance;
use super::RebuildOutcome;
use crate::attest::vsa::{self, PolicyRef, Reproduction, VerificationSummary, Verifier};
use crate::attest::{ResourceDescriptor, Statement, POLICY_BIT_FOR_BIT, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{IoContext, Result};
use crate::fs::write_atomic;
use crate::keys::PrivateKey;
use crate::time::Timestamp;

/// Whether the outcome is a PASSED verdict: every artifact matched, with the attested toolchain.
pub fn passed(outcome: &RebuildOutcome) -> bool {
    outcome.reproduced && !outcome.toolchain_mismatch
}

/// The files a verdict names by digest beside it.
pub struct Beside {
    /// The mismatch reports file (FAILED only).
    pub differences: Option<ResourceDescriptor>,
    pub build_log: Option<ResourceDescriptor>,
}

/// The VSA statement for `outcome`, naming the files `beside` it.
pub fn statement(
    provenance: &TrustedProvenance,
    outcome: &RebuildOutcome,
    bundle_name: &str,
    verifier_id: &str,
    now: Timestamp,
    beside: Beside,
) -> Statement<VerificationSummary> {
    let input = ResourceDescriptor::named(provenance.file_name.clone(), provenance.envelope_digest);
    let passed = passed(outcome);
    let summary = VerificationSummary {
        verifier: Verifier {
            id: verifier_id.to_string(),
            version: BTreeMap::from([("glassbox".to_string(), crate::VERSION.to_string())]),
        },
        time_verified: now.rfc3339(),
        resource_uri: bundle_name.to_string(),
        policy: PolicyRef { uri: POLICY_BIT_FOR_BIT.to_string() },
        input_attestations: vec![input],
        verification_result: if passed { vsa::PASSED } else { vsa::FAILED }.to_string(),
        verified_levels: if passed {
            vec!["SLSA_BUILD_LEVEL_1".to_string(), vsa::LEVEL_REPRODUCED.to_string()]
        } else {
            Vec::new()
        },
        slsa_version: "1.0".to_string(),
        reproduction: Reproduction {
            source_digest: outcome.source_digest.hex(),
            toolchain: outcome.toolchain.clone(),
            toolchain_mismatch: outcome.toolchain_mismatch,
            sandbox: Some(outcome.sandbox.clone()),
            artifacts: outcome.artifacts.clone(),
            differences: if passed { None } else { beside.differences },
            build_log: beside.build_log,
        },
    };
    Statement::new(provenance.statement.subject.clone(), SLSA_VSA_V1, summary)
}

/// The files [`sign_and_write`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub verdict: PathBuf,
    /// The mismatch reports, on a FAILED verdict with at least one report.
    pub differences: Option<PathBuf>,
    pub build_log: PathBuf,
}

/// Signs the verdict and writes it in `dir`. On a FAILED verdict with reports, the reports file
/// is written first, so that a verdict never names a file that is not there; on any other
/// verdict a reports file left by an earlier verdict of the same key is removed, since the new
/// verdict replaces the one that named it.
pub fn sign_and_write(
    dir: &Path,
    provenance: &TrustedProvenance,
    outcome: &RebuildOutcome,
    bundle_name: &str,
    verifier_id: &str,
    now: Timestamp,
    key: &PrivateKey,
) -> Result<Written> {
    let stem = format!("{}.rebuild.{}", outcome.target, key.public().key_id().short());
    let differences_name = format!("{stem}.diff.json");
    let differences_path = dir.join(&differences_name);
    let mut differences = None;
    if !passed(outcome) && !outcome.differences.is_empty() {
        let text = crate::json::to_pretty(&outcome.differences);
        write_atomic(&differences_path, text.as_bytes(), 0o644)?;
        differences = Some(ResourceDescriptor::named(differences_name, Sha256Digest::of(text.as_bytes())));
    } else {
        match std::fs::remove_file(&differences_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&differences_path),
            _ => {}
        }
    }
    let written = differences.is_some().then(|| differences_path.clone());
    let log_name = format!("{stem}.log");
    let log_path = dir.join(&log_name);
    write_atomic(&log_path, &outcome.build_log, 0o644)?;
    let build_log = Some(ResourceDescriptor::named(log_name, Sha256Digest::of(&outcome.build_log)));
    let envelope =
        statement(provenance, outcome, bundle_name, verifier_id, now, Beside { differences, build_log }).sign(key);
    let path = dir.join(format!("{stem}.intoto.jsonl"));
    write_atomic(&path, format!("{}\n", envelope.to_line()).as_bytes(), 0o644)?;
    Ok(Written { verdict: path, differences: written, build_log: log_path })
}
