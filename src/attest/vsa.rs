//! SLSA verification summary (VSA) v1: a rebuilder's signed verdict on a provenance, with a
//! `reproduction` object listing every artifact's expected and actual digest (and, when it
//! failed, naming the file of mismatch reports beside it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::provenance::SandboxRecord;
use super::ResourceDescriptor;
use crate::digest::Sha256Digest;

/// `verificationResult` values.
pub const PASSED: &str = "PASSED";
pub const FAILED: &str = "FAILED";

/// Custom `verifiedLevels` value of a bit-for-bit reproduction (custom values must not start
/// with `SLSA_`).
pub const LEVEL_REPRODUCED: &str = "GLASSBOX_REPRODUCED";

/// The VSA predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSummary {
    pub verifier: Verifier,
    pub time_verified: String,
    /// What was verified: the binary bundle's file name.
    pub resource_uri: String,
    pub policy: PolicyRef,
    /// The provenance envelope, by the sha256 of its line.
    pub input_attestations: Vec<ResourceDescriptor>,
    /// `PASSED` or `FAILED`.
    pub verification_result: String,
    pub verified_levels: Vec<String>,
    pub slsa_version: String,
    pub reproduction: Reproduction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub id: String,
    pub version: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub uri: String,
}

/// How the rebuild went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reproduction {
    /// The source digest that was rebuilt.
    pub source_digest: String,
    /// The rebuilder's `rustc -vV` release and commit hash.
    pub toolchain: String,
    /// Whether the toolchain differed from the attested one (`--allow-toolchain-mismatch`).
    pub toolchain_mismatch: bool,
    /// How the rebuilder confined the vendor's build code; absent in verdicts written before
    /// glassbox recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxRecord>,
    pub artifacts: Vec<ReproducedArtifact>,
    /// On a FAILED verdict that could compare the rebuilt files with the vendor's: the
    /// mismatch reports file written beside the verdict (`name`, `digest.sha256` of its bytes).
    /// Absent on PASSED, and in verdicts written before glassbox recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differences: Option<ResourceDescriptor>,
    /// The build's log (what cargo printed on stderr, cut after 256 KiB) written beside the
    /// verdict (`name`, `digest.sha256` of its bytes). Absent in verdicts written before
    /// glassbox recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_log: Option<ResourceDescriptor>,
}

/// One subject of the provenance, and what the rebuild produced for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReproducedArtifact {
    pub name: String,
    /// sha256 hex the provenance claims; absent for an artifact the provenance does not list.
    pub expected: Option<String>,
    /// sha256 hex of the rebuilt file; absent when the rebuild did not produce it.
    pub actual: Option<String>,
    pub matches: bool,
}

/// The sha256 of each `inputAttestations` entry of a verdict's predicate, read leniently (a
/// `sha256:` prefix, either case), as `verify` reads which provenance a verdict is on.
pub fn input_attestations_lenient(predicate: &serde_json::Value) -> Vec<Sha256Digest> {
    let list = predicate.get("inputAttestations").and_then(serde_json::Value::as_array);
    let digest = |d: &serde_json::Value| d.get("digest")?.get("sha256")?.as_str().and_then(Sha256Digest::parse);
    list.map(|l| l.iter().filter_map(digest).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    #[test]
    fn reproduction_reads_with_and_without_differences() {
        let old = serde_json::json!({
            "sourceDigest": "ab", "toolchain": "rustc", "toolchainMismatch": false,
            "artifacts": [{"name": "x", "expected": "aa", "actual": "bb", "matches": false}]
        });
        let read: Reproduction = serde_json::from_value(old.clone()).unwrap();
        assert_eq!((read.sandbox.as_ref(), read.differences.as_ref()), (None, None));
        assert_eq!(serde_json::to_value(&read).unwrap(), old, "nothing is added to a verdict without reports");
        let mut new = old;
        let digest = Sha256Digest::of(b"[]");
        new["differences"] =
            serde_json::json!({"name": "t.rebuild.01234567.diff.json", "digest": {"sha256": digest.hex()}});
        let read: Reproduction = serde_json::from_value(new.clone()).unwrap();
        let differences = read.differences.as_ref().unwrap();
        assert_eq!(
            (differences.name.as_deref(), differences.sha256()),
            (Some("t.rebuild.01234567.diff.json"), Some(digest))
        );
        assert_eq!(serde_json::to_value(&read).unwrap(), new);
    }
}
