//! The statements `glassbox verify` weighs: every DSSE envelope in every `*.intoto.jsonl` file
//! under the attestations directory (and, from the log, every verdict about the artifact),
//! decoded but not yet trusted; and the lenient reading of rebuild verdicts that any SLSA
//! rebuilder writes, so that a verdict glassbox did not write still counts against an artifact.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::attest::{Envelope, ResourceDescriptor, Statement, PAYLOAD_TYPE_INTOTO, STATEMENT_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

/// The largest `.intoto.jsonl` file read: far above any real one (a few envelopes), far below
/// what would exhaust memory.
const MAX_STATEMENT_FILE: u64 = 64 << 20;

/// One envelope found under the attestations directory or in the log.
#[derive(Clone, Debug)]
pub struct Found {
    /// `file:line` relative to the attestations directory, or `log entry N`.
    pub location: String,
    pub envelope: Envelope,
    /// sha256 of the envelope's line: how the log and verdicts name it.
    pub digest: Sha256Digest,
    pub statement: Statement<Value>,
}

/// An in-toto envelope whose payload is not a Statement v1 at all: nothing can be said about
/// what it concerns, so a trusted rebuilder's one leaves `verify` unable to answer.
#[derive(Clone, Debug)]
pub struct Undecodable {
    pub location: String,
    pub envelope: Envelope,
    pub why: String,
}

/// Everything found: the decoded statements and the envelopes that could not be decoded.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    pub found: Vec<Found>,
    pub undecodable: Vec<Undecodable>,
}

impl Found {
    /// Whether one of the statement's subjects is exactly this sha256 (64 lowercase hex).
    pub fn has_subject(&self, digest: &Sha256Digest) -> bool {
        self.statement.subject.iter().any(|s| s.sha256().as_ref() == Some(digest))
    }
}

/// Whether a subject list mentions one of `digests`, read leniently (see
/// [`ResourceDescriptor::sha256_lenient`]): for finding negative evidence only.
pub fn mentions(subjects: &[ResourceDescriptor], digests: &[Sha256Digest]) -> bool {
    subjects.iter().any(|s| s.sha256_lenient().is_some_and(|d| digests.contains(&d)))
}

/// The sha256 digests a statement's `inputAttestations` names, read leniently like
/// [`mentions`]: for finding negative evidence only.
pub fn inputs_lenient(statement: &Statement<Value>) -> Vec<Sha256Digest> {
    crate::attest::vsa::input_attestations_lenient(&statement.predicate)
}

/// Every in-toto envelope in `*.intoto.jsonl` files below `dir` (the log's own directory, which
/// holds no such files, is not special). Envelopes of another payload type are skipped; a file
/// that is not JSON lines of envelopes is an error naming it.
pub fn collect(dir: &Path) -> Result<Collected> {
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::tree(dir, e.to_string()))?;
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(".intoto.jsonl") {
            files.push(entry.into_path());
        }
    }
    let mut out = Collected::default();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        let text = crate::fs::read_regular_text(&path, MAX_STATEMENT_FILE)?;
        for (n, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let location = format!("{rel}:{}", n + 1);
            let envelope: Envelope = serde_json::from_str(raw)
                .map_err(|e| Error::invalid(&location, format!("not a DSSE envelope ({e})")))?;
            out.add(envelope, location);
        }
    }
    Ok(out)
}

impl Collected {
    /// Decodes and records one envelope (skipped unless its payload type is in-toto).
    pub fn add(&mut self, envelope: Envelope, location: String) {
        self.add_all(vec![(envelope, location)]);
    }

    /// [`Collected::add`] for each of `envelopes`, in order, decoded on all cores.
    pub fn add_all(&mut self, envelopes: Vec<(Envelope, String)>) {
        use rayon::prelude::*;
        let decoded: Vec<_> = envelopes
            .into_par_iter()
            .filter(|(envelope, _)| envelope.payload_type == PAYLOAD_TYPE_INTOTO)
            .map(|(envelope, location)| (decode(&envelope), envelope.digest(), envelope, location))
            .collect();
        for (statement, digest, envelope, location) in decoded {
            match statement {
                Ok(statement) => self.found.push(Found { location, envelope, digest, statement }),
                Err(why) => self.undecodable.push(Undecodable { location, envelope, why }),
            }
        }
    }

    /// Whether an envelope with this digest is already here.
    pub fn holds(&self, digest: &Sha256Digest) -> bool {
        self.found.iter().any(|f| &f.digest == digest)
            || self.undecodable.iter().any(|u| &u.envelope.digest() == digest)
    }
}

fn decode(envelope: &Envelope) -> std::result::Result<Statement<Value>, String> {
    let payload = envelope.payload_bytes().map_err(|_| "the payload is not standard base64".to_string())?;
    let statement = serde_json::from_slice::<Statement<Value>>(&payload)
        .map_err(|e| format!("the payload is not an in-toto statement (line {}, column {})", e.line(), e.column()))?;
    if statement.type_ != STATEMENT_V1 {
        return Err(format!("the statement type is not {STATEMENT_V1}"));
    }
    Ok(statement)
}

/// What a rebuild verdict (a statement of the VSA predicate type) says, read as any SLSA VSA v1:
/// only `verificationResult`, the subjects and `inputAttestations` matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    /// `PASSED`, on the provenance envelopes with these digests.
    Passed { inputs: Vec<Sha256Digest> },
    /// A result other than `PASSED` (`FAILED`, or anything else): counts against the artifact.
    NotPassed { result: String },
    /// `PASSED`, but a subject or input digest is not 64 lowercase hex: not a PASSED glassbox
    /// can count, so it counts against the artifact too.
    MalformedPass { why: String },
    /// No `verificationResult` string: what the verdict says cannot be known.
    Unreadable { why: String },
}

/// Reads a VSA statement leniently (the glassbox `reproduction` object is not required).
pub fn read_verdict(statement: &Statement<Value>) -> Reading {
    let Some(result) = statement.predicate.get("verificationResult") else {
        return Reading::Unreadable { why: "the predicate has no verificationResult".into() };
    };
    let Some(result) = result.as_str() else {
        return Reading::Unreadable { why: "verificationResult is not a string".into() };
    };
    if result != crate::attest::vsa::PASSED {
        return Reading::NotPassed { result: result.to_string() };
    }
    if statement.subject.iter().any(|s| s.digest.contains_key("sha256") && s.sha256().is_none()) {
        return Reading::MalformedPass { why: "a subject's sha256 is not 64 lowercase hex digits".into() };
    }
    let inputs = match statement.predicate.get("inputAttestations") {
        None => Vec::new(),
        Some(value) => match serde_json::from_value::<Vec<ResourceDescriptor>>(value.clone()) {
            Err(_) => return Reading::MalformedPass { why: "inputAttestations is not a list of descriptors".into() },
            Ok(list) => {
                let mut inputs = Vec::new();
                for d in &list {
                    match d.sha256() {
                        Some(s) => inputs.push(s),
                        None if d.digest.contains_key("sha256") => {
                            return Reading::MalformedPass {
                                why: "an inputAttestations sha256 is not 64 lowercase hex digits".into(),
                            }
                        }
                        None => {}
                    }
                }
                inputs
            }
        },
    };
    Reading::Passed { inputs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::SLSA_VSA_V1;
    use serde_json::json;

    fn vsa(subject_hex: &str, predicate: Value) -> Statement<Value> {
        let subject = ResourceDescriptor {
            digest: [("sha256".to_string(), subject_hex.to_string())].into(),
            ..Default::default()
        };
        Statement::new(vec![subject], SLSA_VSA_V1, predicate)
    }

    #[test]
    fn standard_and_glassbox_verdicts_are_read() {
        let d = Sha256Digest::of(b"provenance").hex();
        let input = json!([{"name": "p", "digest": {"sha256": d}}]);
        let pass = vsa(&d, json!({"verificationResult": "PASSED", "inputAttestations": input}));
        assert_eq!(read_verdict(&pass), Reading::Passed { inputs: vec![Sha256Digest::of(b"provenance")] });
        let fail = vsa(&d, json!({"verificationResult": "FAILED"}));
        assert_eq!(read_verdict(&fail), Reading::NotPassed { result: "FAILED".into() });
        let odd = vsa(&d.to_uppercase(), json!({"verificationResult": "PASSED"}));
        assert!(matches!(read_verdict(&odd), Reading::MalformedPass { .. }));
        let prefixed = vsa(
            &d,
            json!({"verificationResult": "PASSED", "inputAttestations": [{"digest": {"sha256": format!("sha256:{d}")}}]}),
        );
        assert!(matches!(read_verdict(&prefixed), Reading::MalformedPass { .. }));
        for predicate in [json!({}), json!({"verificationResult": 1}), json!("text")] {
            assert!(matches!(read_verdict(&vsa(&d, predicate)), Reading::Unreadable { .. }));
        }
        assert!(mentions(&odd.subject, &[Sha256Digest::of(b"provenance")]));
        assert_eq!(inputs_lenient(&prefixed), vec![Sha256Digest::of(b"provenance")]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            /// Any payload: decoding never panics, and a verdict is always given some reading.
            #[test]
            fn any_payload_decodes_or_is_undecodable(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                                     result in "\\PC{0,12}") {
                let key = crate::keys::PrivateKey::from_seed(&[3; 32]);
                let mut c = Collected::default();
                c.add(Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, &key), "x".into());
                prop_assert_eq!(c.found.len() + c.undecodable.len(), 1);
                let st = vsa(&"0".repeat(64), json!({"verificationResult": result.clone()}));
                let reading = read_verdict(&st);
                prop_assert_eq!(matches!(reading, Reading::Passed { .. }), result == "PASSED");
            }
        }
    }
}
