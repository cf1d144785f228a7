//! `c2sp.org/tlog-proof@v1`: an offline-verifiable receipt that an entry is in a log.
//!
//! The text is, line by line: `c2sp.org/tlog-proof@v1`; optionally `extra <base64>` (opaque,
//! unauthenticated application data); `index <decimal>`; zero or more base64 inclusion-proof
//! hashes from the leaf's sibling up to the root's child; an empty line; then the log's signed
//! checkpoint note verbatim, cosignatures included. Files use the `.tlog-proof` extension.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::checkpoint::{decode_hash, parse_decimal, Checkpoint};
use super::merkle::verify_inclusion;
use super::note::{Note, NoteVerifier};
use super::Hash;
use crate::error::{Error, Result};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Proofs longer than this many hashes cannot belong to a tree of at most 2^64 entries.
const MAX_PROOF_HASHES: usize = 64;

/// A parsed `tlog-proof`; nothing in it is verified until [`TlogProof::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The entry's zero-based index in the log.
    pub index: u64,
    /// The RFC 6962 inclusion proof of that entry in the checkpoint's tree.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, byte for byte as the log (and witnesses) signed it.
    pub checkpoint: Vec<u8>,
    /// Opaque, unauthenticated extra data (the `extra` line), if any.
    pub extra: Option<Vec<u8>>,
}

impl TlogProof {
    /// The proof as bytes, exactly as the spec lays it out.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.hashes {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// [`TlogProof::to_bytes`] as text. A checkpoint note is UTF-8, so nothing is lost unless
    /// `checkpoint` holds something that is not a note (which could not verify anyway).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }

    /// Parses a proof strictly: the header, an optional `extra` line of standard base64, an
    /// `index` line without leading zeros, at most 64 canonical base64 hashes of 32 bytes, an
    /// empty line, then a non-empty checkpoint ending in a newline. The checkpoint is kept
    /// verbatim; [`TlogProof::checkpoint_note`] and [`TlogProof::verify`] read it.
    /// Accepts the file's bytes or its text.
    pub fn parse(data: impl AsRef<[u8]>) -> Result<TlogProof> {
        let text =
            std::str::from_utf8(data.as_ref()).map_err(|e| Error::invalid("tlog-proof", format!("not UTF-8 ({e})")))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| Error::invalid("tlog-proof", "no empty line before the checkpoint"))?;
        if checkpoint.is_empty() || !checkpoint.ends_with('\n') {
            return Err(Error::invalid("tlog-proof", "the checkpoint is missing or does not end with a newline"));
        }
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(Error::invalid("tlog-proof", format!("does not start with {HEADER:?}")));
        }
        let mut line = lines.next().unwrap_or_default();
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| Error::invalid(format!("tlog-proof extra {b64:?}"), "is not standard base64"))?;
            extra = Some(bytes);
            line = lines.next().unwrap_or_default();
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| Error::invalid(format!("tlog-proof line {line:?}"), "is not \"index <decimal>\""))?;
        let hashes = lines
            .map(|b64| {
                decode_hash(b64)
                    .ok_or_else(|| Error::invalid(format!("tlog-proof hash {b64:?}"), "is not the base64 of 32 bytes"))
            })
            .collect::<Result<Vec<Hash>>>()?;
        if hashes.len() > MAX_PROOF_HASHES {
            return Err(Error::invalid("tlog-proof", format!("has {} proof hashes (at most 64)", hashes.len())));
        }
        Ok(TlogProof { index, hashes, checkpoint: checkpoint.as_bytes().to_vec(), extra })
    }

    /// The checkpoint as a signed note (parsed, not verified).
    pub fn checkpoint_note(&self) -> Result<Note> {
        Note::parse(&self.checkpoint)
    }

    /// Checks the receipt for the entry whose leaf hash is `leaf`: the checkpoint carries a valid
    /// signature by `log` (named after the checkpoint's origin) and the inclusion proof puts the
    /// leaf at `index` under the checkpoint's root. Returns the checkpoint and its note, so the
    /// caller can go on to count witness cosignatures.
    pub fn verify(&self, leaf: &Hash, log: &NoteVerifier) -> Result<(Checkpoint, Note)> {
        let note = self.checkpoint_note()?;
        let checkpoint = Checkpoint::from_note(&note, log)?;
        if !verify_inclusion(leaf, self.index, checkpoint.size, &self.hashes, &checkpoint.root) {
            return Err(Error::rejected(
                format!("inclusion proof of entry {} in {} at size {}", self.index, checkpoint.origin, checkpoint.size),
                "does not lead to the checkpoint's root",
            ));
        }
        Ok((checkpoint, note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::tlog::checkpoint::cosign;
    use crate::tlog::merkle::{inclusion_proof, leaf_hash, MemoryTree};

    // c2sp.org/tlog-proof example (its signatures are elided with "[...]" in the spec).
    const SPEC_PROOF: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
";

    #[test]
    fn spec_example_parses_and_round_trips() {
        let proof = TlogProof::parse(SPEC_PROOF.as_bytes()).unwrap();
        assert_eq!(proof.index, 73894);
        let extra = proof.extra.as_deref().unwrap();
        assert!(extra.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
        assert_eq!(proof.hashes.len(), 5);
        assert_eq!(STANDARD.encode(proof.hashes[0]), "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=");
        assert_eq!(STANDARD.encode(proof.hashes[4]), "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=");
        assert!(proof.checkpoint.starts_with(b"example.com/fancylog\n109482\n"));
        assert!(proof.checkpoint.ends_with("— witness3.example S4X82uH5[...]3oEcROGLFQ==\n".as_bytes()));
        assert_eq!(proof.to_bytes(), SPEC_PROOF.as_bytes());
        assert_eq!(proof.to_text(), SPEC_PROOF);
        assert!(proof.checkpoint_note().is_err(), "the example's signatures are elided");
    }

    #[test]
    fn malformed_proofs_are_refused() {
        // transparency-dev/merkle proof/tlog_proof_test.go TestVerifyTLogProofErrors, then more.
        let long_hash = STANDARD.encode([0u8; 64]);
        let hash = STANDARD.encode([0u8; 32]);
        let bad = [
            "wrong-header\nindex 0\n\ncheckpoint\n".to_string(),
            "c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\n\n\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\nindex notanumber\n\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\nindex -5\n\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\ncheckpoint\n".into(),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{long_hash}\n\ncheckpoint\n"),
            "c2sp.org/tlog-proof@v1\nindex 07\n\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\nindex 0\n\n".into(),
            "c2sp.org/tlog-proof@v1\nindex 0\n\ncheckpoint".into(),
            "c2sp.org/tlog-proof@v1\nindex 0\ncheckpoint\n".into(),
            "c2sp.org/tlog-proof@v1\nindex 0\nextra AAAA\n\ncheckpoint\n".into(),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{}\ncheckpoint\n", format!("{hash}\n").repeat(65)),
        ];
        for text in &bad {
            assert!(TlogProof::parse(text.as_bytes()).is_err(), "{text:?}");
        }
        let fine = format!("c2sp.org/tlog-proof@v1\nindex 0\n{}\ncheckpoint\n", format!("{hash}\n").repeat(64));
        assert_eq!(TlogProof::parse(fine.as_bytes()).unwrap().hashes.len(), 64);
    }

    #[test]
    fn receipts_verify_against_the_log_key() {
        let log_key = PrivateKey::from_seed(&[3; 32]);
        let log = NoteVerifier::ed25519("example.org/log", &log_key.public());
        let mut tree = MemoryTree::new();
        for i in 0u8..10 {
            tree.push(leaf_hash(&[i]));
        }
        let checkpoint =
            Checkpoint { origin: "example.org/log".into(), size: 10, root: tree.root(), extensions: vec![] };
        let mut note = checkpoint.sign(&log_key).unwrap();
        note.add_signature(cosign(&note.text, "w.example/1", &PrivateKey::from_seed(&[4; 32]), 1_700_000_000));
        let hashes = inclusion_proof(&tree, 7, 10).unwrap();
        let proof = TlogProof { index: 7, hashes, checkpoint: note.to_bytes(), extra: Some(b"{}".to_vec()) };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra e30=\nindex 7\n"), "{text}");
        let parsed = TlogProof::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, proof);
        let (read, read_note) = parsed.verify(&leaf_hash(&[7]), &log).unwrap();
        assert_eq!((read, read_note), (checkpoint, note));
        let rejected =
            |p: &TlogProof, leaf: Hash, key: &NoteVerifier| p.verify(&leaf, key).unwrap_err().exit_code() == 1;
        assert!(rejected(&parsed, leaf_hash(&[6]), &log), "another entry");
        let other = NoteVerifier::ed25519("example.org/log", &PrivateKey::from_seed(&[5; 32]).public());
        assert!(rejected(&parsed, leaf_hash(&[7]), &other), "another log key");
        let moved = TlogProof { index: 6, ..parsed.clone() };
        assert!(rejected(&moved, leaf_hash(&[7]), &log), "another index");
        let mut tampered = parsed.clone();
        tampered.hashes[1][0] ^= 1;
        assert!(rejected(&tampered, leaf_hash(&[7]), &log), "a changed proof hash");
        let no_extra = TlogProof { extra: None, ..parsed };
        assert!(!no_extra.to_text().contains("extra"));
        assert_eq!(TlogProof::parse(no_extra.to_bytes()).unwrap(), no_extra);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// Any bytes: no panic, and whatever parses is written back unchanged.
        #[test]
        fn proofs_parse_without_panic_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(proof) = TlogProof::parse(&bytes) {
                prop_assert_eq!(proof.to_bytes(), bytes);
            }
        }

        #[test]
        fn built_proofs_round_trip(
            index in any::<u64>(),
            hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..64),
            extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            checkpoint in "[ -~]{1,60}",
        ) {
            let proof = TlogProof { index, hashes, checkpoint: format!("{checkpoint}\n").into_bytes(), extra };
            prop_assert_eq!(TlogProof::parse(proof.to_bytes()).unwrap(), proof);
        }
    }
}
