//! The rebuild verdict: a SLSA VSA over the provenance's subjects, PASSED only when every
//! artifact matched, written next to the provenance as
//! `<target>.rebuild.<keyid 8 hex>.intoto.jsonl`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::plan::TrustedProvenance;
use super::RebuildOutcome;
use crate::attest::vsa::{self, PolicyRef, Reproduction, VerificationSummary, Verifier};
use crate::attest::{ResourceDescriptor, Statement, POLICY_BIT_FOR_BIT, SLSA_VSA_V1};
use crate::error::Result;
use crate::fs::write_atomic;
use crate::keys::PrivateKey;
use crate::time::Timestamp;

/// The VSA statement for `outcome`.
pub fn statement(
    provenance: &TrustedProvenance,
    outcome: &RebuildOutcome,
    bundle_name: &str,
    verifier_id: &str,
    now: Timestamp,
) -> Statement<VerificationSummary> {
    let input = ResourceDescriptor::named(provenance.file_name.clone(), provenance.envelope_digest);
    let passed = outcome.reproduced && !outcome.toolchain_mismatch;
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
        },
    };
    Statement::new(provenance.statement.subject.clone(), SLSA_VSA_V1, summary)
}

/// Signs the verdict and writes it in `dir`; returns the file.
pub fn sign_and_write(
    dir: &Path,
    provenance: &TrustedProvenance,
    outcome: &RebuildOutcome,
    bundle_name: &str,
    verifier_id: &str,
    now: Timestamp,
    key: &PrivateKey,
) -> Result<PathBuf> {
    let envelope = statement(provenance, outcome, bundle_name, verifier_id, now).sign(key);
    let path = dir.join(format!("{}.rebuild.{}.intoto.jsonl", outcome.target, key.public().key_id().short()));
    write_atomic(&path, format!("{}\n", envelope.to_line()).as_bytes(), 0o644)?;
    Ok(path)
}
