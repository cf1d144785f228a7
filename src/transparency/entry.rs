//! A log entry: one canonical JSON object that names a DSSE envelope by the sha256 of its line
//! and says what it is (payload and predicate types, subjects, signer key ids), so that an
//! outsider can list the log without fetching envelopes. The envelope itself is stored beside
//! the log by that digest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attest::{Envelope, ResourceDescriptor, Statement};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::json;

/// Entries are at most this long (the tile format stores lengths in two bytes).
pub const MAX_ENTRY_BYTES: usize = 65_535;
/// Envelopes are at most this long (their line, without the newline). The log stores every
/// envelope, and each append rewrites the last, partial envelope bundle under a new name, so an
/// unbounded envelope would cost its size again on every later append.
pub const MAX_ENVELOPE_BYTES: usize = 4 << 20;

/// The descriptor logged for one envelope. Field names are the JSON keys; the JSON is
/// canonical (sorted keys, no whitespace, control characters escaped; see [`LogEntry::to_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogEntry {
    /// `sha256:<hex>` of the stored envelope line.
    pub envelope: String,
    pub payload_type: String,
    pub predicate_type: String,
    pub subjects: Vec<ResourceDescriptor>,
    /// Key ids named by the envelope's signatures (not verified by the log: anyone may log).
    pub signers: Vec<String>,
}

/// An envelope ready to be logged.
#[derive(Clone, Debug)]
pub struct Loggable {
    pub entry: LogEntry,
    /// The entry's canonical JSON: the leaf data.
    pub entry_bytes: Vec<u8>,
    /// The envelope as stored: the line it was submitted as, which is its compact JSON.
    pub envelope_line: String,
    /// The SHA-256 of `envelope_line`.
    pub digest: Sha256Digest,
    /// The SHA-256 of the line as submitted (the same as `digest` for a compact line).
    pub submitted: Sha256Digest,
}

impl Loggable {
    /// Describes the stored envelope line `line` (without its newline), which must be exactly
    /// the canonical compact form the log stores (fields in the DSSE order, no whitespace, no
    /// unknown fields, standard base64): a stored line is named by its own SHA-256. Submissions
    /// in other forms go through [`Loggable::from_submitted`].
    pub fn from_line(line: &str, origin: &str) -> Result<Loggable> {
        check_envelope_size(line.len(), origin)?;
        let envelope: Envelope = serde_json::from_str(line)
            .map_err(|e| Error::invalid(origin, format!("not a DSSE envelope on one line ({e})")))?;
        if envelope.to_line() != line {
            return Err(Error::invalid(
                origin,
                "the envelope is not in compact form (fields payload, payloadType, signatures, no \
                 whitespace, no unknown fields): the log names an envelope by the SHA-256 of its line, \
                 so it logs only lines in that one form",
            ));
        }
        Loggable::describe(&envelope, line.to_string(), origin)
    }

    /// An envelope submitted for logging in any valid DSSE JSON form (securesystemslib's spaced
    /// JSON, cosign's empty key id, URL-safe base64): logged as its canonical compact line
    /// ([`Envelope::canonical_from_json`]) and named by that line's SHA-256, which
    /// [`Loggable::submitted`] tells apart from the line as given.
    pub fn from_submitted(line: &str, origin: &str) -> Result<Loggable> {
        check_envelope_size(line.len(), origin)?;
        let envelope = Envelope::canonical_from_json(line, origin)?;
        let mut loggable = Loggable::from_envelope(&envelope, origin)?;
        loggable.submitted = Sha256Digest::of(line.as_bytes());
        Ok(loggable)
    }

    /// True when the envelope was submitted in another form than the one the log stores.
    pub fn rewritten(&self) -> bool {
        self.submitted != self.digest
    }

    /// Every envelope of an `.intoto.jsonl` text (blank lines skipped), each as
    /// [`Loggable::from_submitted`]; `origin` names the file, errors say `<origin>:<line>`.
    pub fn parse_lines(text: &str, origin: &str) -> Result<Vec<Loggable>> {
        let mut out = Vec::new();
        for (n, line) in text.split('\n').enumerate() {
            if !line.trim().is_empty() {
                out.push(Loggable::from_submitted(line.trim_end_matches('\r'), &format!("{origin}:{}", n + 1))?);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(origin, "contains no DSSE envelope"));
        }
        Ok(out)
    }

    /// Describes `envelope` as its compact line, the only form the log stores.
    pub fn from_envelope(envelope: &Envelope, origin: &str) -> Result<Loggable> {
        let line = envelope.to_line();
        check_envelope_size(line.len(), origin)?;
        Loggable::describe(envelope, line, origin)
    }

    /// The entry for `envelope`, stored as `line`; it must carry an in-toto statement.
    fn describe(envelope: &Envelope, envelope_line: String, origin: &str) -> Result<Loggable> {
        if envelope.payload_type != crate::attest::PAYLOAD_TYPE_INTOTO {
            return Err(Error::invalid(
                origin,
                format!("payload type {:?} is not an in-toto statement", envelope.payload_type),
            ));
        }
        let payload = envelope.payload_bytes()?;
        let statement: Statement<Value> = serde_json::from_slice(&payload)
            .map_err(|e| Error::invalid(origin, format!("payload is not an in-toto statement ({e})")))?;
        if statement.type_ != crate::attest::STATEMENT_V1 {
            return Err(Error::invalid(
                origin,
                format!("statement type {:?} is not in-toto Statement v1", statement.type_),
            ));
        }
        if envelope.signatures.is_empty() {
            return Err(Error::invalid(origin, "the envelope has no signature"));
        }
        let digest = Sha256Digest::of(envelope_line.as_bytes());
        let entry = LogEntry {
            envelope: digest.prefixed(),
            payload_type: envelope.payload_type.clone(),
            predicate_type: statement.predicate_type,
            subjects: statement.subject,
            signers: envelope.signatures.iter().map(|s| s.keyid.clone()).collect(),
        };
        let entry_bytes = entry.to_bytes().map_err(|e| Error::invalid(origin, format!("cannot be logged ({e})")))?;
        if entry_bytes.len() > MAX_ENTRY_BYTES {
            return Err(Error::invalid(
                origin,
                format!(
                    "its log entry would be {} bytes, more than {MAX_ENTRY_BYTES} (too many subjects)",
                    entry_bytes.len()
                ),
            ));
        }
        Ok(Loggable { entry, entry_bytes, envelope_line, digest, submitted: digest })
    }
}

fn check_envelope_size(len: usize, origin: &str) -> Result<()> {
    if len > MAX_ENVELOPE_BYTES {
        return Err(Error::invalid(
            origin,
            format!("the envelope is {len} bytes, more than the log's limit of {MAX_ENVELOPE_BYTES}"),
        ));
    }
    Ok(())
}

impl LogEntry {
    /// The canonical JSON bytes: securesystemslib's canonical JSON (sorted keys, no
    /// whitespace, only `"` and `\` escaped), except that control characters U+0000 to U+001F
    /// are written `\u00xx` (lowercase hex) rather than raw, so that every entry is also valid
    /// JSON that any parser reads back (a raw control character in a string is not JSON).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let value = serde_json::to_value(self).map_err(|e| Error::invalid("log entry", e.to_string()))?;
        let raw = json::canonical(&value)?;
        // In canonical output a byte below 0x20 can only be inside a string (the structure has
        // no whitespace), and `\` is already doubled there, so the escape is unambiguous.
        let mut out = Vec::with_capacity(raw.len());
        for b in raw {
            if b < 0x20 {
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
            } else {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Parses an entry read from the log; it must be in canonical form.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<LogEntry> {
        let entry: LogEntry = serde_json::from_slice(bytes)
            .map_err(|e| Error::rejected(origin, format!("not a glassbox log entry ({e})")))?;
        if entry.to_bytes()? != bytes {
            return Err(Error::rejected(origin, "entry is not in canonical JSON"));
        }
        Ok(entry)
    }

    /// The envelope digest this entry names.
    pub fn envelope_digest(&self) -> Option<Sha256Digest> {
        self.envelope.strip_prefix("sha256:").and_then(Sha256Digest::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn entries_are_canonical_and_name_the_envelope() {
        let key = PrivateKey::from_seed(&[9; 32]);
        let subject = ResourceDescriptor::named("app", Sha256Digest::of(b"app"));
        let env = Statement::new(vec![subject.clone()], "https://example.com/p", serde_json::json!({})).sign(&key);
        let l = Loggable::from_envelope(&env, "e").unwrap();
        assert_eq!(l.digest, Sha256Digest::of(env.to_line().as_bytes()));
        assert_eq!(l.entry.subjects, vec![subject]);
        assert_eq!(l.entry.signers, vec![key.public().key_id().to_string()]);
        let text = String::from_utf8(l.entry_bytes.clone()).unwrap();
        assert!(text.starts_with("{\"envelope\":\"sha256:") && !text.contains(' '), "{text}");
        assert_eq!(LogEntry::parse(&l.entry_bytes, "x").unwrap(), l.entry);

        let mut not_intoto = env.clone();
        not_intoto.payload_type = "text/plain".into();
        assert!(Loggable::from_envelope(&not_intoto, "bad.jsonl").unwrap_err().to_string().contains("bad.jsonl"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn descriptor() -> impl Strategy<Value = ResourceDescriptor> {
        (any::<String>(), any::<[u8; 32]>())
            .prop_map(|(name, digest)| ResourceDescriptor::named(name, Sha256Digest(digest)))
    }

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// Any entry, whatever characters its names hold (control characters included), is
        /// written in a form that parses back to it.
        #[test]
        fn entries_round_trip_their_canonical_form(
            envelope in any::<String>(),
            payload_type in any::<String>(),
            predicate_type in "[\\x00-\\x1f a-z\\\\\"]{0,20}",
            subjects in proptest::collection::vec(descriptor(), 0..4),
            signers in proptest::collection::vec(any::<String>(), 0..3),
        ) {
            let entry = LogEntry { envelope, payload_type, predicate_type, subjects, signers };
            let bytes = entry.to_bytes().unwrap();
            prop_assert!(bytes.iter().all(|&b| b >= 0x20), "a raw control character");
            prop_assert_eq!(LogEntry::parse(&bytes, "entry").unwrap(), entry);
        }

        /// Any bytes: no panic.
        #[test]
        fn entries_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = LogEntry::parse(&bytes, "entry");
        }

        /// Any line: no panic; a line that is logged is stored exactly as given.
        #[test]
        fn lines_are_logged_verbatim_or_refused(line in "[ -~]{0,200}") {
            if let Ok(loggable) = Loggable::from_line(&line, "line") {
                prop_assert_eq!(&loggable.envelope_line, &line);
                prop_assert_eq!(loggable.digest, Sha256Digest::of(line.as_bytes()));
            }
        }
    }
}
