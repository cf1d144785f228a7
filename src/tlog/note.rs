//! `c2sp.org/signed-note`: a text signed by one or more keys, and the verifier keys that name
//! those keys.
//!
//! A note is its text (ending in a newline), a blank line, then one line per signature:
//! `— <key name> <base64(4-byte key id || signature)>`. A key is identified by its name and key
//! id; the id is the first four bytes of SHA-256(name || "\n" || signature type || public key).
//! Verifier keys are written `<name>+<key id as 8 hex digits>+<base64(type || public key)>`.
//! glassbox signs with Ed25519 (type 0x01) and reads timestamped Ed25519 witness cosignatures
//! (type 0x04, see [`super::checkpoint`]).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::digest::{hex_decode, hex_encode};
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};

/// Signature type of plain Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type of `c2sp.org/tlog-cosignature` v1 (timestamped Ed25519) cosignatures.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The most signatures a note may carry (the spec requires accepting at least 16; Go's
/// `golang.org/x/mod/sumdb/note` refuses more than 100).
pub const MAX_SIGNATURES: usize = 100;
/// The largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// What starts a signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// `SHA-256(name || "\n" || alg || key)[:4]`: the key id the spec recommends (and requires for
/// Ed25519 and cosignature keys).
pub fn key_hash(name: &str, alg: u8, key: &[u8]) -> [u8; 4] {
    let digest = Sha256::new().chain_update(name).chain_update(b"\n").chain_update([alg]).chain_update(key).finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Whether `name` can name a key: non-empty, without Unicode spaces or `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// A public key that can check note signatures, as named in signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key_hash: [u8; 4],
    /// The signature type: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    pub alg: u8,
    pub key: PublicKey,
}

impl NoteVerifier {
    /// Parses a verifier key `<name>+<8 hex digits>+<base64(alg || key)>`, checking that the key
    /// id is the one the name, type and key give. Errors never quote the input (it may be a
    /// private key given by mistake); the caller names the file or option it came from.
    pub fn parse(vkey: &str) -> Result<NoteVerifier> {
        let bad = |reason: &str| Error::invalid("verifier key", reason);
        if vkey.contains("PRIVATE KEY") || vkey.starts_with("PRIVATE+KEY+") {
            return Err(bad("this is a private key, not a verifier key: keep it secret and give the verifier key"));
        }
        let (name, rest) = vkey.split_once('+').ok_or_else(|| bad("is not <name>+<key id>+<key>"))?;
        let (hash_hex, key_b64) = rest.split_once('+').ok_or_else(|| bad("is not <name>+<key id>+<key>"))?;
        if !is_valid_key_name(name) {
            return Err(bad("the name is empty or holds a space or '+'"));
        }
        let hash: [u8; 4] = match hex_decode(hash_hex) {
            Some(bytes) if hash_hex.len() == 8 => bytes.try_into().map_err(|_| bad("bad key id"))?,
            _ => return Err(bad("the key id is not 8 hex digits")),
        };
        let key = STANDARD.decode(key_b64).map_err(|_| bad("the key is not standard base64"))?;
        let Some((&alg, key_bytes)) = key.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(bad(&format!("signature type {alg:#04x} is not supported (only 0x01 and 0x04)")));
        }
        let key_bytes: &[u8; 32] = key_bytes.try_into().map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let verifier = NoteVerifier::with_alg(name, alg, &PublicKey::from_bytes(key_bytes)?);
        if verifier.key_hash != hash {
            return Err(bad(&format!("the key id should be {}", hex_encode(&verifier.key_hash))));
        }
        Ok(verifier)
    }

    /// The verifier of plain Ed25519 note signatures by `key` under `name`.
    pub fn ed25519(name: &str, key: &PublicKey) -> NoteVerifier {
        NoteVerifier::with_alg(name, ALG_ED25519, key)
    }

    /// The verifier of `tlog-cosignature` v1 cosignatures by `key` under `name`.
    pub fn cosignature_v1(name: &str, key: &PublicKey) -> NoteVerifier {
        NoteVerifier::with_alg(name, ALG_COSIGNATURE_V1, key)
    }

    fn with_alg(name: &str, alg: u8, key: &PublicKey) -> NoteVerifier {
        let key_hash = key_hash(name, alg, key.as_bytes());
        NoteVerifier { name: name.to_string(), key_hash, alg, key: key.clone() }
    }

    /// Whether a signature line names this key (name and key id both match).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_hash == self.key_hash
    }
}

impl fmt::Display for NoteVerifier {
    /// The verifier key: `<name>+<key id>+<base64(alg || key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![self.alg];
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex_encode(&self.key_hash), STANDARD.encode(key))
    }
}

/// One signature line of a note; nothing about it is verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hash: [u8; 4],
    /// The signature proper (after the key id): 64 bytes for Ed25519, 72 for a cosignature.
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// A plain Ed25519 signature of `text` by `key` under `name`.
    pub fn ed25519(text: &str, name: &str, key: &PrivateKey) -> NoteSignature {
        let key_hash = NoteVerifier::ed25519(name, &key.public()).key_hash;
        NoteSignature { name: name.to_string(), key_hash, sig: key.sign(text.as_bytes()).to_vec() }
    }

    /// `— <name> <base64(key id || signature)>` followed by a newline.
    pub fn to_line(&self) -> String {
        let bytes = [&self.key_hash[..], &self.sig].concat();
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(bytes))
    }

    fn parse_line(line: &str) -> Result<NoteSignature> {
        let bad = |reason: &str| Error::invalid(format!("note signature line {line:?}"), reason);
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| bad("does not start with \"— \""))?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| bad("is not \"— <name> <signature>\""))?;
        if !is_valid_key_name(name) {
            return Err(bad("the key name is empty or holds a space or '+'"));
        }
        let bytes = STANDARD.decode(b64).map_err(|_| bad("the signature is not standard base64"))?;
        if bytes.len() < 5 {
            return Err(bad("the signature is shorter than a key id and one byte"));
        }
        let key_hash = [bytes[0], bytes[1], bytes[2], bytes[3]];
        Ok(NoteSignature { name: name.to_string(), key_hash, sig: bytes[4..].to_vec() })
    }
}

/// A signed note: its text (ending in a newline) and its signature lines, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// Refuses what cannot be a note text: empty, not ending in a newline, too large, or holding
/// an ASCII control character other than newline.
fn check_text(text: &str, what: &str) -> Result<()> {
    if !text.ends_with('\n') {
        return Err(Error::invalid(what, "does not end with a newline"));
    }
    if text.len() > MAX_NOTE_SIZE {
        return Err(Error::invalid(what, format!("is larger than {MAX_NOTE_SIZE} bytes")));
    }
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        return Err(Error::invalid(what, format!("control character {c:?} at byte {at}")));
    }
    Ok(())
}

impl Note {
    /// Parses a signed note strictly: valid UTF-8 without control characters other than
    /// newline, a text ending in a newline, a blank line, then 1 to [`MAX_SIGNATURES`] well-formed
    /// signature lines each ending in a newline. Signatures are not verified here.
    pub fn parse(bytes: &[u8]) -> Result<Note> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::invalid("signed note", format!("not UTF-8 ({e})")))?;
        check_text(text, "signed note")?;
        // The text ends at the last blank line: signature lines are never empty.
        let Some(split) = text.rfind("\n\n") else {
            return Err(Error::invalid("signed note", "no blank line separates the text from the signatures"));
        };
        let (body, lines) = (&text[..split + 1], &text[split + 2..]);
        let Some(lines) = lines.strip_suffix('\n') else {
            return Err(Error::invalid("signed note", "has no signature lines"));
        };
        let lines: Vec<&str> = lines.split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(Error::invalid(
                "signed note",
                format!("has {} signatures (at most {MAX_SIGNATURES})", lines.len()),
            ));
        }
        let signatures = lines.into_iter().map(NoteSignature::parse_line).collect::<Result<_>>()?;
        Ok(Note { text: body.to_string(), signatures })
    }

    /// The note as bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out.into_bytes()
    }

    /// A note of `text` with one Ed25519 signature by `key` under `name`.
    pub fn sign(text: &str, name: &str, key: &PrivateKey) -> Result<Note> {
        check_text(text, "note text")?;
        if !is_valid_key_name(name) {
            return Err(Error::invalid(format!("key name {name:?}"), "is empty or holds a space or '+'"));
        }
        Ok(Note { text: text.to_string(), signatures: vec![NoteSignature::ed25519(text, name, key)] })
    }

    /// Adds a signature, replacing any earlier one with the same key name and key id.
    pub fn add_signature(&mut self, sig: NoteSignature) {
        match self.signatures.iter_mut().find(|s| s.name == sig.name && s.key_hash == sig.key_hash) {
            Some(existing) => *existing = sig,
            None => self.signatures.push(sig),
        }
    }

    /// Whether the note carries a plain Ed25519 signature by `verifier` and every signature
    /// line naming that key verifies over the text. Always false for other signature types
    /// (cosignatures are checked by [`super::checkpoint::verify_cosignature`]).
    pub fn verified_by(&self, verifier: &NoteVerifier) -> bool {
        if verifier.alg != ALG_ED25519 {
            return false;
        }
        let mut matching = self.signatures.iter().filter(|s| verifier.matches(s)).peekable();
        matching.peek().is_some() && matching.all(|s| verifier.key.verify(self.text.as_bytes(), &s.sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // c2sp.org/signed-note, "Verifier keys" example (also used by other implementations).
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\
        — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    // c2sp.org/signed-note, opening example: a text holding an empty line (no key published).
    const SPEC_POEM: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n\
        — quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    // golang.org/x/mod sumdb/note package documentation and note_test.go.
    const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const PETER_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str =
        "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    /// The Ed25519 seed inside a Go signer key `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    fn go_signer_seed(skey: &str) -> [u8; 32] {
        let b64 = skey.splitn(5, '+').nth(4).unwrap();
        STANDARD.decode(b64).unwrap()[1..].try_into().unwrap()
    }

    #[test]
    fn spec_example_verifies() {
        let verifier = NoteVerifier::parse(SPEC_VKEY).unwrap();
        assert_eq!(
            (verifier.name.as_str(), verifier.alg, verifier.key_hash),
            ("example.com/foo", 1, [0x53, 0x0d, 0x90, 0x3a])
        );
        assert_eq!(verifier.to_string(), SPEC_VKEY);
        let note = Note::parse(SPEC_NOTE.as_bytes()).unwrap();
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!((note.signatures.len(), note.signatures[0].sig.len()), (1, 64));
        assert!(note.verified_by(&verifier));
        assert_eq!(note.to_bytes(), SPEC_NOTE.as_bytes());
        // The same key as a cosignature key has another id and does not verify plain signatures.
        let cosigner = NoteVerifier::cosignature_v1("example.com/foo", &verifier.key);
        assert_ne!(cosigner.key_hash, verifier.key_hash);
        assert!(!note.verified_by(&cosigner));
    }

    #[test]
    fn text_may_hold_empty_lines() {
        let note = Note::parse(SPEC_POEM.as_bytes()).unwrap();
        assert_eq!(
            note.text,
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        );
        assert_eq!(note.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(note.signatures[0].sig.len(), 64);
        assert_eq!(note.to_bytes(), SPEC_POEM.as_bytes());
    }

    #[test]
    fn go_examples_sign_and_verify() {
        let key = PrivateKey::from_seed(&go_signer_seed(PETER_SKEY));
        let peter = NoteVerifier::parse(PETER_VKEY).unwrap();
        assert_eq!(NoteVerifier::ed25519("PeterNeumann", &key.public()), peter);
        // Ed25519 is deterministic: signing the documented text reproduces the documented note.
        let signed = Note::sign(PETER_TEXT, "PeterNeumann", &key).unwrap();
        assert_eq!(String::from_utf8(signed.to_bytes()).unwrap(), format!("{PETER_TEXT}\n{PETER_SIG}"));
        let enoch = NoteVerifier::parse(ENOCH_VKEY).unwrap();
        let both = Note::parse(format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}").as_bytes()).unwrap();
        assert!(both.verified_by(&peter) && both.verified_by(&enoch));
        // Re-signing replaces the earlier signature by the same key rather than adding one.
        let mut resigned = both.clone();
        resigned.add_signature(NoteSignature::ed25519(PETER_TEXT, "PeterNeumann", &key));
        assert_eq!(resigned, both);
        // note_test.go TestOpen: a corrupted known signature fails; 101 signatures are too many.
        let corrupt = format!("{PETER_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert!(!Note::parse(corrupt.as_bytes()).unwrap().verified_by(&peter));
        assert!(Note::parse(format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(101)).as_bytes()).is_err());
        assert!(Note::parse(format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(100)).as_bytes()).is_ok());
        // A key with the same name but another id is somebody else's: ignored, so not verified.
        let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
        assert!(!Note::parse(format!("{PETER_TEXT}\n{misnamed}").as_bytes()).unwrap().verified_by(&peter));
    }

    #[test]
    fn malformed_notes_are_refused() {
        // note_test.go TestOpen badMsgs.
        let bad = [
            PETER_TEXT.to_string(),
            format!("{PETER_TEXT}\n"),
            format!("{PETER_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{PETER_TEXT}\n{PETER_SIG}"),
            format!("{PETER_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
            format!("{PETER_TEXT}\n{PETER_SIG}Unexpected line.\n"),
        ];
        for msg in &bad {
            assert!(Note::parse(msg.as_bytes()).is_err(), "{msg:?}");
        }
        assert!(Note::parse(&[b"\xff", format!("{PETER_TEXT}\n{PETER_SIG}").as_bytes()].concat()).is_err());
        for sig in ["— a+b QUJDREVG\n", "— PeterNeumann x08g\n", "— PeterNeumann not*base64\n", "-- a QUJDREVG\n"]
        {
            assert!(Note::parse(format!("{PETER_TEXT}\n{sig}").as_bytes()).is_err(), "{sig:?}");
        }
        let key = PrivateKey::from_seed(&[7; 32]);
        assert!(Note::sign("abc", "a", &key).is_err() && Note::sign("a\tb\n", "a", &key).is_err());
        assert!(Note::sign("abc\n", "a b", &key).is_err() && Note::sign("abc\n", "", &key).is_err());
    }

    #[test]
    fn tampering_with_any_byte_fails() {
        let peter = NoteVerifier::parse(PETER_VKEY).unwrap();
        let note = format!("{PETER_TEXT}\n{PETER_SIG}").into_bytes();
        assert!(Note::parse(&note).unwrap().verified_by(&peter));
        for i in 0..note.len() {
            let mut bytes = note.clone();
            bytes[i] = bytes[i].wrapping_add(1);
            assert!(!Note::parse(&bytes).is_ok_and(|n| n.verified_by(&peter)), "byte {i} changed, still verified");
        }
    }

    #[test]
    fn mangled_verifier_keys_are_refused() {
        // note_test.go TestNewVerifier: every proper substring and every one-byte change fails.
        assert!(NoteVerifier::parse(PETER_VKEY).is_ok());
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    assert!(NoteVerifier::parse(&PETER_VKEY[i..j]).is_err(), "{:?}", &PETER_VKEY[i..j]);
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            assert!(NoteVerifier::parse(std::str::from_utf8(&m).unwrap()).is_err(), "byte {i}");
        }
        // Wrong key length and unknown algorithm, each with a matching key id.
        assert!(
            NoteVerifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err()
        );
        assert!(NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    }

    #[test]
    fn own_signatures_round_trip() {
        let key = PrivateKey::from_seed(&[42; 32]);
        let text = "example.org/log\n3\n\nlast line\n";
        let note = Note::sign(text, "example.org/log", &key).unwrap();
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        assert_eq!(parsed, note);
        let verifier =
            NoteVerifier::parse(&NoteVerifier::ed25519("example.org/log", &key.public()).to_string()).unwrap();
        assert!(parsed.verified_by(&verifier));
        assert!(
            !parsed.verified_by(&NoteVerifier::ed25519("example.org/log", &PrivateKey::from_seed(&[1; 32]).public()))
        );
        let mut two = parsed.clone();
        two.add_signature(NoteSignature { sig: vec![0; 64], ..parsed.signatures[0].clone() });
        assert!(!two.verified_by(&verifier), "a failing line for the key fails the note");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// Any bytes: no panic, and whatever parses writes back byte for byte.
        #[test]
        fn notes_parse_without_panic_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(note) = Note::parse(&bytes) {
                prop_assert_eq!(note.to_bytes(), bytes);
            }
        }

        /// Notes we sign, with any valid name and text, parse back to themselves and verify.
        #[test]
        fn signed_notes_round_trip(name in "[a-z0-9./-]{1,20}", text in "[ -~\n]{0,80}", seed in any::<[u8; 32]>()) {
            let key = PrivateKey::from_seed(&seed);
            let text = format!("{text}\n");
            let note = Note::sign(&text, &name, &key).unwrap();
            let parsed = Note::parse(&note.to_bytes()).unwrap();
            prop_assert!(parsed.verified_by(&NoteVerifier::ed25519(&name, &key.public())));
            prop_assert_eq!(parsed, note);
        }

        /// Verifier keys: no panic, round trip, and an error never quotes the input.
        #[test]
        fn verifier_keys_never_echo_their_input(text in "[ -~]{12,80}") {
            match NoteVerifier::parse(&text) {
                Ok(v) => prop_assert_eq!(v.to_string(), text),
                Err(e) => prop_assert!(!e.to_string().contains(&text), "{}", e),
            }
        }
    }
}
