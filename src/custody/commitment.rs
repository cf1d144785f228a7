//! Salted commitments and intake batch trees. A sample is published only as
//! `C = SHA-256("glassbox/sample/v1\0" || salt || sha256(file))` with a fresh 32-byte salt, so
//! the log can neither confirm a known file's hash nor link two intakes of the same file; the
//! salt (in the store and in the customer's receipt) opens it. A request's free-text detail is
//! committed the same way under its own prefix. An intake batch publishes the RFC 6962 root over
//! its commitments, sorted, and each receipt carries the commitment's inclusion proof.

use sha2::{Digest as _, Sha256};

use crate::attest::custody::IntakeRef;
use crate::digest::{hex_decode, Sha256Digest};
use crate::error::{Error, Result};
use crate::tlog::merkle::{self, leaf_hash, MemoryTree};

/// Domain separation prefix of sample commitments.
pub const SAMPLE_PREFIX: &[u8] = b"glassbox/sample/v1\0";
/// Domain separation prefix of request detail commitments.
pub const DETAIL_PREFIX: &[u8] = b"glassbox/sample-detail/v1\0";

/// A 32-byte random salt.
pub type Salt = [u8; 32];

/// A fresh salt from the operating system's generator.
pub fn fresh_salt() -> Salt {
    let mut salt = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    salt
}

/// The commitment to a sample whose sha256 is `sample`.
pub fn commit(salt: &Salt, sample: &Sha256Digest) -> Sha256Digest {
    let mut h = Sha256::new();
    h.update(SAMPLE_PREFIX);
    h.update(salt);
    h.update(sample.0);
    Sha256Digest(h.finalize().into())
}

/// The commitment to a request's free-text detail.
pub fn commit_detail(salt: &Salt, detail: &str) -> Sha256Digest {
    let mut h = Sha256::new();
    h.update(DETAIL_PREFIX);
    h.update(salt);
    h.update(detail.as_bytes());
    Sha256Digest(h.finalize().into())
}

/// Reads a salt written as 64 lowercase hex digits.
pub fn parse_salt(text: &str) -> Option<Salt> {
    Sha256Digest::from_hex(text).map(|d| d.0)
}

/// The tree of one intake batch: its commitments in ascending byte order.
pub struct BatchTree {
    sorted: Vec<Sha256Digest>,
    tree: MemoryTree,
}

impl BatchTree {
    /// Sorts the commitments and builds the tree; refuses an empty batch or a repeated
    /// commitment (fresh salts make one impossible, so it means a bug or a forged batch).
    pub fn new(mut commitments: Vec<Sha256Digest>) -> Result<BatchTree> {
        if commitments.is_empty() {
            return Err(Error::invalid("intake batch", "holds no sample"));
        }
        commitments.sort_unstable_by_key(|c| c.0);
        if let Some(w) = commitments.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid("intake batch", format!("commitment {} appears twice", w[0].hex())));
        }
        let mut tree = MemoryTree::new();
        for c in &commitments {
            tree.push(leaf_hash(&c.0));
        }
        Ok(BatchTree { sorted: commitments, tree })
    }

    pub fn root(&self) -> Sha256Digest {
        Sha256Digest(self.tree.root())
    }

    pub fn len(&self) -> u64 {
        self.sorted.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The commitments in tree order.
    pub fn commitments(&self) -> &[Sha256Digest] {
        &self.sorted
    }

    /// The leaf index of `commitment`, if it is in the batch.
    pub fn position(&self, commitment: &Sha256Digest) -> Option<u64> {
        self.sorted.binary_search_by(|c| c.0.cmp(&commitment.0)).ok().map(|i| i as u64)
    }

    /// The audit path of leaf `index`, leaf to root.
    pub fn proof(&self, index: u64) -> Result<Vec<Sha256Digest>> {
        Ok(merkle::inclusion_proof(&self.tree, index, self.len())?.into_iter().map(Sha256Digest).collect())
    }
}

/// Checks that `intake` proves `commitment` is a leaf of the batch root it names. Says nothing
/// about whether that batch is in the log or signed: the caller checks the entry.
pub fn proves(intake: &IntakeRef, commitment: &Sha256Digest) -> bool {
    let Some(root) = Sha256Digest::from_hex(&intake.batch_root) else { return false };
    let mut path = Vec::with_capacity(intake.proof.len());
    for h in &intake.proof {
        match Sha256Digest::from_hex(h) {
            Some(d) => path.push(d.0),
            None => return false,
        }
    }
    intake.leaf_index < intake.batch_size
        && merkle::verify_inclusion(&leaf_hash(&commitment.0), intake.leaf_index, intake.batch_size, &path, &root.0)
}

/// Decodes 64 hex digits into 32 bytes (any case), for values a person typed: bare, as a
/// receipt's name and the text reports write it, `sha256:<hex>`, as the JSON reports write it
/// (formats.md section 22), so that a value copied from either can be pasted back, or
/// `glassboxSampleCommitment:<hex>`, as a statement's subject names it.
pub fn parse_commitment(text: &str) -> Option<Sha256Digest> {
    let text = text
        .strip_prefix(crate::attest::custody::SAMPLE_COMMITMENT)
        .and_then(|t| t.strip_prefix(':'))
        .or_else(|| text.strip_prefix("sha256:"))
        .unwrap_or(text);
    let bytes = hex_decode(&text.to_ascii_lowercase())?;
    Some(Sha256Digest(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's hashlib:
    /// `hashlib.sha256(b"glassbox/sample/v1\0" + bytes(range(32)) + hashlib.sha256(b"abc").digest())`.
    #[test]
    fn commitment_matches_an_independent_computation() {
        let salt: Salt = core::array::from_fn(|i| i as u8);
        let c = commit(&salt, &Sha256Digest::of(b"abc"));
        assert_eq!(c.hex(), PY_COMMITMENT);
        // A different salt gives an unrelated commitment to the same file.
        assert_ne!(commit(&[0; 32], &Sha256Digest::of(b"abc")), c);
        assert_ne!(commit_detail(&salt, "abc"), commit(&salt, &Sha256Digest::of(b"abc")));
    }

    #[test]
    fn a_commitment_is_read_in_every_spelling_a_report_writes() {
        let c = Sha256Digest::from_hex(PY_COMMITMENT).unwrap();
        for text in [
            PY_COMMITMENT.to_string(),
            PY_COMMITMENT.to_uppercase(),
            format!("sha256:{PY_COMMITMENT}"),
            format!("glassboxSampleCommitment:{PY_COMMITMENT}"),
        ] {
            assert_eq!(parse_commitment(&text), Some(c), "{text}");
        }
        for bad in [
            format!("sha256:sha256:{PY_COMMITMENT}"),
            format!("sha512:{PY_COMMITMENT}"),
            format!("sha256:{}", &PY_COMMITMENT[..62]),
            format!("glassboxSampleCommitment{PY_COMMITMENT}"),
        ] {
            assert_eq!(parse_commitment(&bad), None, "{bad}");
        }
    }

    const PY_COMMITMENT: &str = "060e0f0b70761c6cb0b2053f20369421c28cc68647f8a76c62811f50643cf54c";

    #[test]
    fn batch_proofs_verify_and_reject() {
        let commitments: Vec<_> = (0u8..7).map(|i| commit(&[i; 32], &Sha256Digest::of(&[i]))).collect();
        let batch = BatchTree::new(commitments.clone()).unwrap();
        for c in &commitments {
            let i = batch.position(c).unwrap();
            let intake = IntakeRef {
                log_index: 0,
                envelope: String::new(),
                batch_root: batch.root().hex(),
                batch_size: batch.len(),
                leaf_index: i,
                proof: batch.proof(i).unwrap().iter().map(Sha256Digest::hex).collect(),
            };
            assert!(proves(&intake, c));
            assert!(!proves(&intake, &commit(&[9; 32], &Sha256Digest::of(b"x"))));
            let mut wrong = intake.clone();
            wrong.leaf_index = (i + 1) % 7;
            assert!(!proves(&wrong, c));
        }
        assert!(BatchTree::new(vec![commitments[0], commitments[0]]).is_err());
        assert!(BatchTree::new(Vec::new()).is_err());
    }
}
