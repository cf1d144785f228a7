//! Inclusion proofs as receipts: `c2sp.org/tlog-proof@v1` files that prove an envelope is in
//! the log under a signed checkpoint, checkable offline with nothing but the envelope and the
//! log's verifier key.

use serde::Serialize;

use super::audit::{authenticate_checkpoint, WitnessPolicy};
use super::entry::Loggable;
use super::store::LogDir;
use crate::attest::Envelope;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::proof::TlogProof;

/// Which entry to prove.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Envelope(Sha256Digest),
    Index(u64),
}

/// An inclusion proof for one entry against the log's current checkpoint. For an envelope,
/// the entry found through `envelope-index` must name it (a wrong index is refused, exit 1).
pub fn prove(dir: &LogDir, target: Target) -> Result<(TlogProof, u64)> {
    let path = dir.checkpoint_path();
    let note_bytes = dir.read_checkpoint_bytes()?;
    let note = Note::parse(&note_bytes).map_err(|e| Error::invalid(path.display(), e.to_string()))?;
    let checkpoint = Checkpoint::parse(&note.text).map_err(|e| Error::invalid(path.display(), e.to_string()))?;
    let size = checkpoint.size;
    let tree = dir.tree(size);
    let index = match target {
        Target::Index(i) if i < size => i,
        Target::Index(i) => return Err(Error::invalid(format!("--index {i}"), format!("the log has {size} entries"))),
        Target::Envelope(d) => dir
            .find_logged(&tree, &checkpoint.root, &d)?
            .ok_or_else(|| Error::rejected(d.prefixed(), "this envelope is not in the log"))?,
    };
    let hashes = merkle::inclusion_proof(&tree, index, size)?;
    let entry = dir.entries(index, index + 1, size)?.remove(0);
    // The tiles must agree with the signed root before the proof is handed out.
    if !merkle::verify_inclusion(&merkle::leaf_hash(&entry), index, size, &hashes, &checkpoint.root) {
        return Err(Error::rejected(dir.root.display(), "the log's tiles do not match its checkpoint"));
    }
    Ok((TlogProof { index, hashes, checkpoint: note_bytes, extra: None }, index))
}

/// What a checked proof established.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedProof {
    pub origin: String,
    pub index: u64,
    pub size: u64,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub envelope: Sha256Digest,
    pub cosigned_by: Vec<String>,
}

/// Checks `proof` for `envelope` offline: the checkpoint's signatures (log key, witnesses) and
/// the inclusion of the envelope's entry under its root.
pub fn check_proof(
    proof: &TlogProof,
    envelope: &Envelope,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
) -> Result<CheckedProof> {
    let (_, checkpoint, cosigned_by) =
        authenticate_checkpoint(&proof.checkpoint, "the proof's checkpoint", log_key, witnesses)?;
    let loggable = Loggable::from_envelope(envelope, "--envelope")?;
    let leaf = merkle::leaf_hash(&loggable.entry_bytes);
    if proof.index >= checkpoint.size
        || !merkle::verify_inclusion(&leaf, proof.index, checkpoint.size, &proof.hashes, &checkpoint.root)
    {
        return Err(Error::rejected(
            "proof",
            format!(
                "does not prove envelope {} at index {} of the tree of size {}",
                loggable.digest.prefixed(),
                proof.index,
                checkpoint.size
            ),
        ));
    }
    Ok(CheckedProof {
        origin: checkpoint.origin,
        index: proof.index,
        size: checkpoint.size,
        envelope: loggable.digest,
        cosigned_by,
    })
}
