//! DSSE v1 envelopes: pre-authentication encoding, Ed25519 signing and strict verification.
//! Envelopes are stored one per line (`.intoto.jsonl`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{KeyId, PrivateKey, PublicKey};

/// A DSSE envelope, with fields in the order of the DSSE specification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Standard base64 of the payload.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// Standard base64 of the Ed25519 signature over the PAE.
    pub sig: String,
}

/// An envelope as any DSSE implementation may write it (securesystemslib, cosign, in-toto-golang):
/// whitespace anywhere, the key id empty or absent, fields DSSE does not define, standard or
/// URL-safe base64 with or without padding. Read only to be turned into the canonical
/// [`Envelope`]; a key named twice is refused (serde refuses duplicate fields).
#[derive(Deserialize)]
struct AnyEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<AnySignature>,
}

#[derive(Deserialize)]
struct AnySignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

/// Decodes base64 as DSSE allows it: standard or URL-safe alphabet, with or without padding.
fn decode_any_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    BASE64
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

/// DSSE pre-authentication encoding: `DSSEv1 <len type> <type> <len body> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &PrivateKey) -> Envelope {
        let signature = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: BASE64.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature { keyid: key.public().key_id().to_string(), sig: BASE64.encode(signature) }],
        }
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        BASE64
            .decode(&self.payload)
            .map_err(|e| Error::invalid("envelope payload", format!("not standard base64 ({e})")))
    }

    /// Key ids of the `trusted` keys that produced a valid signature over this envelope.
    /// Signatures by other keys, or that do not verify, are ignored: the caller decides how
    /// many it needs.
    pub fn verified_by(&self, trusted: &[PublicKey]) -> Result<Vec<KeyId>> {
        let message = pae(&self.payload_type, &self.payload_bytes()?);
        let mut ids = Vec::new();
        for key in trusted {
            let id = key.key_id();
            let valid = self.signatures.iter().any(|s| {
                // A key id, when present, must name this key; the signature must verify.
                (s.keyid.is_empty() || s.keyid == id.as_str())
                    && BASE64.decode(&s.sig).is_ok_and(|sig| key.verify(&message, &sig))
            });
            if valid && !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Reads one envelope in any valid DSSE JSON form (see [`AnyEnvelope`]) as its canonical
    /// form: standard padded base64, fields in the DSSE order, an empty key id omitted, nothing
    /// DSSE does not define. Its [`Envelope::to_line`] is the compact line the log stores and
    /// names. `origin` names the input in errors.
    pub fn canonical_from_json(text: &str, origin: &str) -> Result<Envelope> {
        let any: AnyEnvelope =
            serde_json::from_str(text).map_err(|e| Error::invalid(origin, format!("not a DSSE envelope ({e})")))?;
        let payload = decode_any_base64(&any.payload)
            .ok_or_else(|| Error::invalid(origin, "the envelope's payload is not base64"))?;
        let mut signatures = Vec::with_capacity(any.signatures.len());
        for (i, s) in any.signatures.into_iter().enumerate() {
            let sig = decode_any_base64(&s.sig)
                .ok_or_else(|| Error::invalid(origin, format!("signature {} is not base64", i + 1)))?;
            signatures.push(Signature { keyid: s.keyid.unwrap_or_default(), sig: BASE64.encode(sig) });
        }
        Ok(Envelope { payload: BASE64.encode(payload), payload_type: any.payload_type, signatures })
    }

    /// The envelope as one line of compact JSON (no trailing newline).
    pub fn to_line(&self) -> String {
        String::from_utf8(json::to_compact(self)).unwrap_or_default()
    }

    /// The sha256 of the envelope's line, which names it in the transparency log.
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(self.to_line().as_bytes())
    }

    /// Parses a `.intoto.jsonl` text (one envelope per non-empty line; a single pretty-printed
    /// envelope is accepted too). `origin` names the file in errors.
    pub fn parse_all(text: &str, origin: &str) -> Result<Vec<Envelope>> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') && !trimmed.trim_end().contains('\n') || text.trim().is_empty() {
            // One line (or nothing): handled below.
        } else if let Ok(one) = Envelope::canonical_from_json(text, origin) {
            return Ok(vec![one]);
        }
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(Envelope::canonical_from_json(line, &format!("{origin}:{}", n + 1))?);
        }
        if out.is_empty() {
            return Err(Error::invalid(origin, "contains no DSSE envelope"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_dsse_form_reads_as_its_canonical_compact_line() {
        let key = PrivateKey::from_seed(&[3; 32]);
        let envelope = Envelope::sign("application/vnd.in-toto+json", b"{\"a\":1}?>", &key);
        let line = envelope.to_line();
        let url_safe_sig =
            envelope.signatures[0].sig.replace('+', "-").replace('/', "_").trim_end_matches('=').to_string();
        let forms = [
            line.replace("\":", "\": ").replace(",\"", ", \""),
            line.replace(&envelope.signatures[0].sig, &url_safe_sig),
            line.replace("\"sig\":", "\"extension\":{\"x\":1},\"sig\":"),
            format!("{{\n  \"note\": 1,\n{}", &line[1..]),
        ];
        for form in &forms {
            let read = Envelope::canonical_from_json(form, "f").unwrap();
            assert_eq!(read.to_line(), line, "{form}");
        }
        let no_keyid = Envelope::canonical_from_json(
            &line.replace(&format!("\"keyid\":\"{}\",", envelope.signatures[0].keyid), ""),
            "f",
        )
        .unwrap();
        assert!(no_keyid.signatures[0].keyid.is_empty());
        for bad in [
            line.replace("\"payloadType\"", "\"payload\":\"eA==\",\"payloadType\""),
            line.replace(&envelope.payload, "not base64!"),
            line.replace("\"signatures\":[", "\"signatures\":[1,"),
        ] {
            assert!(Envelope::canonical_from_json(&bad, "f").is_err(), "{bad}");
        }
    }

    #[test]
    fn pae_matches_dsse_spec_example() {
        // DSSE protocol.md test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = PrivateKey::from_seed(&[7; 32]);
        let other = PrivateKey::from_seed(&[8; 32]);
        let env = Envelope::sign(crate::attest::PAYLOAD_TYPE_INTOTO, b"{\"a\":1}", &key);
        assert_eq!(env.verified_by(&[key.public()]).unwrap(), vec![key.public().key_id()]);
        assert!(env.verified_by(&[other.public()]).unwrap().is_empty());

        let mut edited = env.clone();
        edited.payload = BASE64.encode(b"{\"a\":2}");
        assert!(edited.verified_by(&[key.public()]).unwrap().is_empty());
        let mut retyped = env.clone();
        retyped.payload_type = "text/plain".into();
        assert!(retyped.verified_by(&[key.public()]).unwrap().is_empty());

        let parsed = Envelope::parse_all(&format!("{}\n{}\n", env.to_line(), env.to_line()), "x").unwrap();
        assert_eq!(parsed, vec![env.clone(), env]);
        assert!(Envelope::parse_all("{\"payload\":1}", "bad.jsonl").unwrap_err().to_string().contains("bad.jsonl:1"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            /// Any text: parsing never panics, and every envelope it yields prints back to a line
            /// that parses to the same envelope.
            #[test]
            fn any_text_parses_or_is_refused(text in "\\PC{0,200}|\\{\"payload\":\"[A-Za-z0-9+/=]{0,12}\",\"payloadType\":\"\\PC{0,8}\",\"signatures\":\\[\\]\\}") {
                if let Ok(envelopes) = Envelope::parse_all(&text, "x") {
                    for env in envelopes {
                        let again = Envelope::parse_all(&env.to_line(), "x").unwrap();
                        prop_assert_eq!(again, vec![env.clone()]);
                        let _ = env.verified_by(&[PrivateKey::from_seed(&[1; 32]).public()]);
                    }
                }
            }

            /// Signed envelopes round-trip through their line and verify only unchanged.
            #[test]
            fn signed_envelopes_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..200), payload_type in "\\PC{0,30}") {
                let key = PrivateKey::from_seed(&[5; 32]);
                let env = Envelope::sign(&payload_type, &payload, &key);
                let again = Envelope::parse_all(&env.to_line(), "x").unwrap().remove(0);
                prop_assert_eq!(&again, &env);
                prop_assert_eq!(again.payload_bytes().unwrap(), payload);
                prop_assert_eq!(again.verified_by(&[key.public()]).unwrap(), vec![key.public().key_id()]);
            }
        }
    }
}
