//! The in-toto Statement v1 and its ResourceDescriptor.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Envelope, PAYLOAD_TYPE_INTOTO, STATEMENT_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::json;
use crate::keys::PrivateKey;

/// An in-toto Statement v1 with predicate `P`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// An in-toto ResourceDescriptor (the fields glassbox uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Standard base64 of the resource's bytes, for small byproducts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Value>,
}

impl ResourceDescriptor {
    /// A named resource with a sha256 digest.
    pub fn named(name: impl Into<String>, sha256: Sha256Digest) -> Self {
        ResourceDescriptor {
            name: Some(name.into()),
            digest: BTreeMap::from([("sha256".to_string(), sha256.hex())]),
            ..Default::default()
        }
    }

    /// The sha256 digest, if present and spelt as 64 lowercase hex digits (no prefix, no
    /// uppercase: see [`Sha256Digest::from_hex`]).
    pub fn sha256(&self) -> Option<Sha256Digest> {
        self.digest.get("sha256").and_then(|d| Sha256Digest::from_hex(d))
    }

    /// The sha256 digest read leniently (either case, optional `sha256:` prefix). Only for
    /// deciding that a statement might be *negative* evidence about a digest: a verdict that
    /// spells its subject oddly must not escape notice, but it never counts in favour.
    pub fn sha256_lenient(&self) -> Option<Sha256Digest> {
        self.digest.get("sha256").and_then(|d| Sha256Digest::parse(d))
    }

    pub fn annotate(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.annotations.insert(key.to_string(), value.into());
        self
    }
}

impl<P: Serialize> Statement<P> {
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement { type_: STATEMENT_V1.to_string(), subject, predicate_type: predicate_type.to_string(), predicate }
    }

    /// The statement in a DSSE envelope signed by `key`.
    pub fn sign(&self, key: &PrivateKey) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE_INTOTO, &json::to_compact(self), key)
    }
}

impl<P: DeserializeOwned> Statement<P> {
    /// Decodes the statement an envelope carries, checking the payload type, the statement type
    /// and the predicate type (a statement of another type is input glassbox cannot evaluate:
    /// an `Invalid` error). Does not check signatures.
    pub fn from_envelope(env: &Envelope, predicate_type: &str, origin: &str) -> Result<Self> {
        if env.payload_type != PAYLOAD_TYPE_INTOTO {
            // Input glassbox cannot evaluate, like an unknown predicate type: "could not answer".
            return Err(Error::invalid(
                origin,
                format!("payload type {:?} is not {PAYLOAD_TYPE_INTOTO}", env.payload_type),
            ));
        }
        let payload = env.payload_bytes()?;
        let raw: Statement<Value> = serde_json::from_slice(&payload)
            .map_err(|e| Error::invalid(origin, format!("payload is not an in-toto statement ({e})")))?;
        if raw.type_ != STATEMENT_V1 {
            return Err(Error::invalid(origin, format!("statement type {:?} is not {STATEMENT_V1}", raw.type_)));
        }
        if raw.predicate_type != predicate_type {
            return Err(Error::invalid(
                origin,
                format!("predicate type {:?} is not {predicate_type}", raw.predicate_type),
            ));
        }
        let predicate = serde_json::from_value(raw.predicate)
            .map_err(|e| Error::invalid(origin, format!("malformed {predicate_type} predicate ({e})")))?;
        Ok(Statement { type_: raw.type_, subject: raw.subject, predicate_type: raw.predicate_type, predicate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::SLSA_VSA_V1;
    use proptest::prelude::*;

    fn descriptor() -> impl Strategy<Value = ResourceDescriptor> {
        (proptest::option::of("\\PC{0,16}"), proptest::array::uniform32(any::<u8>()))
            .prop_map(|(name, bytes)| ResourceDescriptor { name, ..ResourceDescriptor::named("", Sha256Digest(bytes)) })
    }

    #[test]
    fn payload_type_and_predicate_type_are_could_not_answer() {
        let key = PrivateKey::from_seed(&[4; 32]);
        let st = Statement::new(vec![], SLSA_VSA_V1, serde_json::json!({}));
        let mut env = st.sign(&key);
        assert_eq!(Statement::<Value>::from_envelope(&env, "other", "x").unwrap_err().exit_code(), 2);
        env.payload_type = "text/plain".into();
        assert_eq!(Statement::<Value>::from_envelope(&env, SLSA_VSA_V1, "x").unwrap_err().exit_code(), 2);
    }

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// A signed statement decodes back to itself; its subjects' digests read strictly.
        #[test]
        fn statements_round_trip(subject in proptest::collection::vec(descriptor(), 0..4), n in any::<u64>()) {
            let key = PrivateKey::from_seed(&[4; 32]);
            let st = Statement::new(subject.clone(), SLSA_VSA_V1, serde_json::json!({"n": n}));
            let back: Statement<Value> = Statement::from_envelope(&st.sign(&key), SLSA_VSA_V1, "x").unwrap();
            prop_assert_eq!(&back, &st);
            for (a, b) in back.subject.iter().zip(&subject) {
                prop_assert_eq!(a.sha256(), b.sha256());
                prop_assert!(a.sha256().is_some());
            }
        }

        /// Any payload: decoding never panics.
        #[test]
        fn any_payload_is_decoded_or_refused(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                             json in "\\{\"_type\":\"\\PC{0,40}\",\"subject\":\\[\\{\"digest\":\\{\"sha256\":\"[0-9a-fA-F:sha]{0,70}\"\\}\\}\\],\"predicateType\":\"x\",\"predicate\":\\{\\}\\}") {
            let key = PrivateKey::from_seed(&[4; 32]);
            for bytes in [payload, json.into_bytes()] {
                let env = Envelope::sign(PAYLOAD_TYPE_INTOTO, &bytes, &key);
                if let Ok(st) = Statement::<Value>::from_envelope(&env, "x", "x") {
                    for s in &st.subject {
                        if let Some(d) = s.sha256() {
                            prop_assert_eq!(Some(&d.hex()), s.digest.get("sha256"));
                        }
                    }
                }
            }
        }
    }
}
