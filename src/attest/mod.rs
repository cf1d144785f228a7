//! in-toto attestations: Statements, their predicates (SLSA provenance, …) and DSSE envelopes.
//! Every type URI glassbox writes or accepts is a constant here and in docs/formats.md.

pub mod custody;
pub mod dsse;
pub mod provenance;
pub mod review;
pub mod statement;
pub mod vsa;

pub use dsse::{Envelope, Signature};
pub use statement::{ResourceDescriptor, Statement};

/// in-toto Statement v1 `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE_INTOTO: &str = "application/vnd.in-toto+json";
/// SLSA provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SLSA verification summary (rebuild verdicts).
pub const SLSA_VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
/// glassbox source review predicate type.
pub const REVIEW_V1: &str = "https://glassbox.dev/review/v1";
/// buildType of a glassbox deterministic Cargo build.
pub const BUILD_TYPE_CARGO_V1: &str = "https://glassbox.dev/cargo-build/v1";
/// Builder id used when `--builder-id` is not given: a build on someone's own machine.
pub const DEFAULT_BUILDER_ID: &str = "https://glassbox.dev/builders/local/v1";
/// Verifier id used when `rebuild --verifier-id` is not given.
pub const DEFAULT_VERIFIER_ID: &str = "https://glassbox.dev/rebuilders/local/v1";
/// The policy a rebuild verdict applies: every subject rebuilt bit for bit from the attested
/// source with the attested parameters.
pub const POLICY_BIT_FOR_BIT: &str = "https://glassbox.dev/policies/bit-for-bit-rebuild/v1";
/// glassbox sample custody predicate types (docs/formats.md, section 18).
pub const SAMPLE_INTAKE_V1: &str = "https://glassbox.dev/sample-intake/v1";
pub const SAMPLE_REQUEST_V1: &str = "https://glassbox.dev/sample-request/v1";
pub const SAMPLE_DECISION_V1: &str = "https://glassbox.dev/sample-decision/v1";
pub const SAMPLE_RELEASE_V1: &str = "https://glassbox.dev/sample-release/v1";
/// A custody policy as the center published it: the policy's text and key files (section 18).
pub const SAMPLE_POLICY_V1: &str = "https://glassbox.dev/sample-policy/v1";
/// The receipt a customer gets for a sample (a JSON file, not a statement).
pub const SAMPLE_RECEIPT_V1: &str = "https://glassbox.dev/sample-receipt/v1";
