//! The sample custody predicates (docs/formats.md, section 18): what the center, requesters,
//! approvers and the gateway sign about samples. A sample is only ever named by its salted
//! commitment (digest name [`SAMPLE_COMMITMENT`]), never by its sha256, so that the public log
//! cannot confirm that a known file was taken in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Digest name of a sample's commitment in a ResourceDescriptor.
pub const SAMPLE_COMMITMENT: &str = "glassboxSampleCommitment";
/// Digest name of an intake batch's Merkle root in a ResourceDescriptor.
pub const SAMPLE_BATCH: &str = "glassboxSampleBatch";
/// Subject names.
pub const SUBJECT_SAMPLE: &str = "sample";
pub const SUBJECT_BATCH: &str = "sample-batch";
pub const SUBJECT_REQUEST: &str = "request";
/// The subject of a policy statement, whose `sha256` digest is the policy digest (formats.md
/// section 17), not the SHA-256 of the file alone.
pub const SUBJECT_POLICY: &str = "policy.toml";
/// How a batch's tree is built: RFC 6962 over the sorted 32-byte commitments.
pub const BATCH_TREE: &str = "rfc6962-sha256-sorted-commitments";

/// `https://glassbox.dev/sample-intake/v1`: one batch of samples taken into the center's store.
/// Subject: the batch root under [`SAMPLE_BATCH`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Intake {
    /// 32 lowercase hex digits, random: two batches never share an envelope.
    pub batch_id: String,
    pub count: u64,
    pub period: Period,
    /// The batch's Merkle root (64 hex), the same as the subject's.
    pub merkle_root: String,
    /// Always [`BATCH_TREE`].
    pub tree: String,
}

/// The time span a batch covers (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Period {
    pub start: String,
    pub end: String,
}

/// Where a sample's commitment is in the log: its intake batch entry and the inclusion proof
/// of the commitment in that batch's root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeRef {
    /// Index of the intake batch's entry in the log.
    pub log_index: u64,
    /// `sha256:<hex>` of the intake envelope.
    pub envelope: String,
    pub batch_root: String,
    pub batch_size: u64,
    pub leaf_index: u64,
    /// RFC 6962 audit path, leaf to root, 64 hex each.
    pub proof: Vec<String>,
}

/// `https://glassbox.dev/sample-request/v1`: a request to take exactly one sample out.
/// Subject: the sample under [`SAMPLE_COMMITMENT`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// 32 lowercase hex digits, random.
    pub request_id: String,
    pub intake: IntakeRef,
    /// A reason code of the policy's taxonomy.
    pub reason: String,
    /// The commitment to the free-text detail (64 hex); its opening stays in the store.
    pub detail: String,
    pub requester: Requester,
    pub destination: String,
    /// The age X25519 recipient (`age1…`) the sample is encrypted to.
    pub recipient: String,
    pub requested_at: String,
    pub expires_at: String,
    pub break_glass: bool,
    /// `sha256:<hex>` of the policy in force (see `Policy::digest`).
    pub policy: String,
}

/// Who asks: a role and a country, never a person's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requester {
    pub role: String,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: String,
}

/// What a decision says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Approve,
    Deny,
    Invalidate,
}

/// `https://glassbox.dev/sample-decision/v1`: an approval, denial or invalidation of one request
/// envelope. Subjects: the request envelope (`sha256`) and the sample (commitment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decision {
    /// `sha256:<hex>` of the request envelope's line.
    pub request: String,
    pub decision: DecisionKind,
    /// Why (a denial must say why).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    pub decided_at: String,
}

/// `https://glassbox.dev/sample-release/v1`: the gateway's statement, logged before a byte
/// leaves, that it releases a sample on a request. Subjects as for a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    /// `sha256:<hex>` of the request envelope's line.
    pub request: String,
    /// `sha256:<hex>` of each counted approval envelope.
    pub approvals: Vec<String>,
    pub break_glass: bool,
    pub destination: String,
    pub recipient: String,
    pub released_at: String,
    /// The checkpoint the gateway checked everything under.
    pub checkpoint: CheckpointRef,
    /// `sha256:<hex>` of the age file delivered.
    pub ciphertext: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckpointRef {
    pub size: u64,
    /// 64 hex.
    pub root: String,
}

/// `https://glassbox.dev/sample-policy/v1`: a custody policy, as a center key publishes it in the
/// log, with everything needed to rebuild it from the log alone. Subject: [`SUBJECT_POLICY`]
/// with the policy digest under `sha256`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyStatement {
    /// The policy file's text, exactly.
    pub policy: String,
    /// Every key file the text names, by the path the text gives it, with the file's text (an
    /// SPKI PEM public key, or a note verifier key for `[log]`).
    pub keys: BTreeMap<String, String>,
    /// When the center puts the policy in force (RFC 3339 UTC): the statement's own time.
    pub effective_at: String,
}
