//! `c2sp.org/tlog-checkpoint` bodies and `c2sp.org/tlog-cosignature` v1 witness cosignatures.
//!
//! A checkpoint is the text of a signed note: the log's origin, its size in decimal, its RFC 6962
//! root in base64, then optional extension lines, each line ending in a newline. The log signs
//! it with a plain Ed25519 note signature whose key name is the origin. A witness cosigns it with
//! a type-0x04 signature: 8-byte big-endian timestamp || Ed25519 signature of
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::note::{Note, NoteSignature, NoteVerifier, ALG_COSIGNATURE_V1};
use super::Hash;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// A log's signed statement of its size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extra lines, each non-empty (the spec discourages them; glassbox writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root and extension lines, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint text strictly: at least three lines, each non-empty and ending in a
    /// newline; an origin without spaces or `+` (it is also the log's key name); a decimal size
    /// without leading zeros; a root that is the canonical standard base64 of 32 bytes; no
    /// control characters.
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(Error::invalid("checkpoint", "does not end with a newline"));
        };
        if let Some(c) = body.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(Error::invalid("checkpoint", format!("holds the control character {c:?}")));
        }
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(Error::invalid("checkpoint", "has fewer than three lines (origin, size, root)"));
        };
        if !super::note::is_valid_key_name(origin) {
            return Err(Error::invalid(format!("checkpoint origin {origin:?}"), "is empty or holds a space or '+'"));
        }
        let size = parse_decimal(size).ok_or_else(|| {
            Error::invalid(format!("checkpoint size {size:?}"), "is not a decimal number without leading zeros")
        })?;
        let root = decode_hash(root)
            .ok_or_else(|| Error::invalid(format!("checkpoint root {root:?}"), "is not the base64 of 32 bytes"))?;
        if let Some(i) = extensions.iter().position(|line| line.is_empty()) {
            return Err(Error::invalid("checkpoint", format!("extension line {} is empty", i + 1)));
        }
        let extensions = extensions.iter().map(|line| line.to_string()).collect();
        Ok(Checkpoint { origin: origin.to_string(), size, root, extensions })
    }

    /// The checkpoint as a note signed by the log's key, named after the origin.
    pub fn sign(&self, key: &PrivateKey) -> Result<Note> {
        Note::sign(&self.to_text(), &self.origin, key)
    }

    /// Reads the checkpoint of a note whose log signature `log` verifies; the verifier must be
    /// named after the checkpoint's origin.
    pub fn from_note(note: &Note, log: &NoteVerifier) -> Result<Checkpoint> {
        if !note.verified_by(log) {
            return Err(Error::rejected(
                format!("checkpoint of {}", log.name),
                format!("no valid signature by the log key {log}"),
            ));
        }
        let checkpoint = Checkpoint::parse(&note.text)?;
        if checkpoint.origin != log.name {
            return Err(Error::rejected(
                format!("checkpoint origin {:?}", checkpoint.origin),
                format!("the log key is named {:?}", log.name),
            ));
        }
        Ok(checkpoint)
    }
}

/// An ASCII decimal without leading zeros ("0" alone is zero) that fits a `u64`.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// The 32 bytes of a canonical standard-base64 hash (padding required, no stray bits).
pub(crate) fn decode_hash(text: &str) -> Option<Hash> {
    let bytes = STANDARD.decode(text).ok()?;
    let hash: Hash = bytes.try_into().ok()?;
    (STANDARD.encode(hash) == text).then_some(hash)
}

/// The message a tlog-cosignature v1 signs: `cosignature/v1`, `time <timestamp>`, then the
/// whole checkpoint text (with its extension lines).
pub fn cosignature_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// A witness cosignature of `checkpoint_text` at `timestamp` (POSIX seconds; the spec caps it at
/// 2^63 - 1 and verifiers refuse larger ones) by `key` under the witness `name`.
pub fn cosign(checkpoint_text: &str, name: &str, key: &PrivateKey, timestamp: u64) -> NoteSignature {
    let signature = key.sign(&cosignature_message(checkpoint_text, timestamp));
    let key_hash = NoteVerifier::cosignature_v1(name, &key.public()).key_hash;
    NoteSignature { name: name.to_string(), key_hash, sig: [&timestamp.to_be_bytes()[..], &signature].concat() }
}

/// The timestamp a cosignature claims, without verifying anything: `None` unless the signature
/// is the 72-byte `timestamp || Ed25519 signature` of a v1 cosignature with a timestamp of at
/// most 2^63 - 1.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Option<u64> {
    let bytes: &[u8; 72] = sig.sig.as_slice().try_into().ok()?;
    let timestamp = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    (timestamp <= i64::MAX as u64).then_some(timestamp)
}

/// The time at which `verifier` (a [`NoteVerifier::cosignature_v1`] key) cosigned the
/// checkpoint in `note`, if it did: some signature line names the witness key and every line
/// naming it is a valid cosignature. With several lines, the latest timestamp.
pub fn verify_cosignature(note: &Note, verifier: &NoteVerifier) -> Option<u64> {
    if verifier.alg != ALG_COSIGNATURE_V1 {
        return None;
    }
    let mut latest = None;
    for sig in note.signatures.iter().filter(|s| verifier.matches(s)) {
        let timestamp = cosignature_timestamp(sig)?;
        if !verifier.key.verify(&cosignature_message(&note.text, timestamp), &sig.sig[8..]) {
            return None;
        }
        latest = latest.max(Some(timestamp));
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    // c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature examples.
    const SPEC_TEXT: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    const SPEC_LOG_SIG: &str = "— example.com/behind-the-sofa \
        Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    const SPEC_COSIG: &str = "— witness.example.com/w1 \
        jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    const SPEC_MESSAGE: &str = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn spec_checkpoint_parses_and_round_trips() {
        let checkpoint = Checkpoint::parse(SPEC_TEXT).unwrap();
        assert_eq!((checkpoint.origin.as_str(), checkpoint.size), ("example.com/behind-the-sofa", 20852163));
        assert_eq!(STANDARD.encode(checkpoint.root), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
        assert!(checkpoint.extensions.is_empty());
        assert_eq!(checkpoint.to_text(), SPEC_TEXT);
        let with_ext = format!("{SPEC_TEXT}ext one\nExtendo\n");
        let parsed = Checkpoint::parse(&with_ext).unwrap();
        assert_eq!(parsed.extensions, ["ext one", "Extendo"]);
        assert_eq!(parsed.to_text(), with_ext);
        let empty = Checkpoint::parse("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").unwrap();
        assert_eq!((empty.size, empty.root), (0, crate::tlog::merkle::EMPTY_ROOT));
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let bad = [
            format!("o\n1\n{root}"),
            "o\n1\n".to_string(),
            format!("\n1\n{root}\n"),
            format!("a+b\n1\n{root}\n"),
            format!("a b\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n1.0\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".to_string(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\nmore\n"),
            format!("o\n1\n{root}\next\tab\n"),
        ];
        for text in &bad {
            assert!(Checkpoint::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).unwrap().size, u64::MAX);
    }

    #[test]
    fn spec_cosignature_example() {
        let note = Note::parse(format!("{SPEC_TEXT}\n{SPEC_LOG_SIG}{SPEC_COSIG}").as_bytes()).unwrap();
        assert_eq!(note.text, SPEC_TEXT);
        let (log, witness) = (&note.signatures[0], &note.signatures[1]);
        assert_eq!((log.sig.len(), witness.sig.len()), (64, 72));
        assert_eq!(witness.name, "witness.example.com/w1");
        // The example cosignature was made at the time its signed-message example shows.
        assert_eq!(cosignature_timestamp(witness), Some(1679315147));
        assert_eq!(cosignature_message(&note.text, 1679315147), SPEC_MESSAGE.as_bytes());
        assert_eq!(cosignature_timestamp(log), None);
    }

    #[test]
    fn transparency_dev_cosignature_timestamps() {
        // transparency-dev/formats note TestCoSigV1Timestamp.
        let sig = |b64: &str| {
            let bytes = STANDARD.decode(b64).unwrap();
            NoteSignature { name: "w".into(), key_hash: bytes[..4].try_into().unwrap(), sig: bytes[4..].to_vec() }
        };
        let works =
            "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";
        assert_eq!(cosignature_timestamp(&sig(works)), Some(1727964367));
        let plain = "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=";
        assert_eq!(cosignature_timestamp(&sig(plain)), None, "wrong type of signature");
        let mut future = sig(works);
        future.sig[0] = 0x80;
        assert_eq!(cosignature_timestamp(&future), None, "timestamp above 2^63 - 1");
    }

    #[test]
    fn cosignatures_round_trip_and_cover_the_whole_text() {
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let witness_key = PrivateKey::from_seed(&[2; 32]);
        let checkpoint =
            Checkpoint { origin: "example.org/log".into(), size: 5, root: [9; 32], extensions: vec!["Extendo".into()] };
        let mut note = checkpoint.sign(&log_key).unwrap();
        let log = NoteVerifier::ed25519("example.org/log", &log_key.public());
        assert_eq!(Checkpoint::from_note(&note, &log).unwrap(), checkpoint);
        let witness = NoteVerifier::cosignature_v1("witness.example/w1", &witness_key.public());
        assert_eq!(verify_cosignature(&note, &witness), None, "not cosigned yet");
        note.add_signature(cosign(&note.text, "witness.example/w1", &witness_key, 1_700_000_000));
        let note = Note::parse(&note.to_bytes()).unwrap();
        assert_eq!(verify_cosignature(&note, &witness), Some(1_700_000_000));
        assert!(note.verified_by(&log), "a cosignature does not disturb the log signature");
        assert!(!note.verified_by(&NoteVerifier::ed25519("witness.example/w1", &witness_key.public())));
        assert_eq!(verify_cosignature(&note, &log), None, "a log key is not a cosigner key");
        // transparency-dev/formats TestSigCoversExtensionLines: changing the extension breaks it.
        let mut changed = note.clone();
        changed.text = changed.text.replace("Extendo", "Extend@");
        assert_eq!(verify_cosignature(&changed, &witness), None);
        let mut retimed = note.clone();
        retimed.signatures[1].sig[7] ^= 1;
        assert_eq!(verify_cosignature(&retimed, &witness), None, "the timestamp is signed");
        // A log key named after another origin is refused.
        let other = NoteVerifier::ed25519("example.org/other", &log_key.public());
        let renamed = Checkpoint { origin: "example.org/other".into(), ..checkpoint.clone() }.sign(&log_key).unwrap();
        assert!(Checkpoint::from_note(&renamed, &other).is_ok());
        assert!(Checkpoint::from_note(&note, &other).is_err());
        let unsigned = Note { text: Checkpoint { origin: "example.org/other".into(), ..checkpoint }.to_text(), ..note };
        assert!(Checkpoint::from_note(&unsigned, &other).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// Any text: no panic, and whatever parses is written back unchanged.
        #[test]
        fn checkpoints_parse_without_panic_and_round_trip(text in "[ -~\n]{0,120}") {
            if let Ok(checkpoint) = Checkpoint::parse(&text) {
                prop_assert_eq!(checkpoint.to_text(), text);
            }
        }

        #[test]
        fn built_checkpoints_round_trip(
            origin in "[a-z0-9./-]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[ -~]{1,20}", 0..3),
        ) {
            let checkpoint = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(Checkpoint::parse(&checkpoint.to_text()).unwrap(), checkpoint);
        }
    }
}
