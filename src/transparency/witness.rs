//! The witness role (C2SP tlog-witness, tlog-cosignature/v1): cosign a log's checkpoint only
//! if it is consistent with the last one this witness cosigned, whose body the state file
//! keeps. A witness never cosigns two checkpoints that could not both be views of one
//! append-only log, so a log that shows different histories to different people is caught.
//! The rule ([`check_extends`]) and the signing ([`cosignature`]) are shared with the witness
//! service (`crate::service::witness`), which takes the consistency proof from the request.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::audit::{authenticate_checkpoint, WitnessPolicy};
use super::store::{lock, LogDir, CHECKPOINT_FILE};
use crate::error::{Error, Result};
use crate::fs::{limits, read_regular, write_atomic};
use crate::keys::{PrivateKey, PublicKey};
use crate::time::Timestamp;
use crate::tlog::checkpoint::{self, Checkpoint};
use crate::tlog::merkle;
use crate::tlog::note::{is_valid_key_name, Note, NoteSignature, NoteVerifier};
use crate::tlog::Hash;

/// A cosigning request.
pub struct Cosign<'a> {
    /// The signed checkpoint to cosign; the cosignature is added to this file.
    pub checkpoint: PathBuf,
    pub key: &'a PrivateKey,
    /// The witness's name (its verifier key is `<name>+<hash>+<key>`).
    pub name: String,
    /// The witness's state: the body of the last checkpoint it cosigned for this log.
    pub state: PathBuf,
    pub log_key: NoteVerifier,
    /// The log's files, for the consistency proof when the log grew.
    pub log_dir: Option<PathBuf>,
    pub now: Timestamp,
}

/// What the witness did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cosigned {
    pub origin: String,
    pub size: u64,
    /// The size last cosigned, if any.
    pub previous: Option<u64>,
    /// The witness's verifier key (cosignature/v1).
    pub witness_key: String,
}

/// Verifies, checks consistency with the state, adds the cosignature, records the new state.
pub fn cosign(req: &Cosign<'_>) -> Result<Cosigned> {
    let origin = req.checkpoint.display().to_string();
    // A name that cannot appear in a signature line would make the rewritten checkpoint
    // unparsable, for the log and everyone reading it.
    let witness = witness_verifier(&req.name, &req.key.public())?;
    // Cosigning a log's own checkpoint file rewrites it: hold the log's append lock so that an
    // append cannot publish a larger checkpoint between our read and our write (which would put
    // the log back to an older size). Any file named `checkpoint` is taken to be a log's, even
    // one with nothing else beside it yet (a fresh log: its first append may be running).
    // Such a checkpoint is read like every file of a log: not through a link.
    let (_lock, bytes) = match req.checkpoint.file_name().filter(|name| *name == CHECKPOINT_FILE) {
        Some(_) => {
            let dir = req.checkpoint.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let log = LogDir::new(dir);
            let held = lock(&log)?;
            (Some(held), log.read_checkpoint_bytes()?)
        }
        None => (None, read_regular(&req.checkpoint, limits::CHECKPOINT)?),
    };
    let (mut note, new, _) = authenticate_checkpoint(&bytes, &origin, &req.log_key, &WitnessPolicy::default())?;
    let previous = read_state(&req.state)?;
    if let Some(old) = &previous {
        if old.origin != new.origin {
            return Err(Error::invalid(
                req.state.display(),
                format!("holds the state of log {:?}, not {:?}", old.origin, new.origin),
            ));
        }
        let mut proof = Vec::new();
        if new.size > old.size && old.size > 0 {
            let dir = req.log_dir.as_deref().ok_or_else(|| {
                Error::invalid(
                    &origin,
                    "the log grew since the last cosignature: pass --log DIR to check the consistency proof",
                )
            })?;
            let log = LogDir::new(dir);
            // The tiles must be this checkpoint's before a proof read from them means anything.
            if merkle::root(&log.tree(new.size), new.size)? != new.root {
                return Err(Error::rejected(
                    dir.display(),
                    format!("its tiles are not the tree of this checkpoint (size {})", new.size),
                ));
            }
            proof = merkle::consistency_proof(&log.tree(new.size), old.size, new.size)?;
        }
        check_extends(old.size, &old.root, &new, &proof)
            .map_err(|refusal| Error::rejected(&origin, refusal.to_string()))?;
    }
    let cosignature = cosignature(&note.text, &req.name, req.key, req.now)?;
    note.signatures.retain(|s| !witness.matches(s));
    note.add_signature(cosignature);
    // What is written back must still be a checkpoint every reader accepts, with our
    // cosignature verifying: never replace a log's checkpoint with something unreadable.
    let out = note.to_bytes();
    let reread =
        Note::parse(&out).map_err(|e| Error::invalid(&origin, format!("the cosigned note would not parse ({e})")))?;
    authenticate_checkpoint(&out, &origin, &req.log_key, &WitnessPolicy::default())?;
    if checkpoint::verify_cosignature(&reread, &witness).is_none() {
        return Err(Error::invalid(&origin, "the new cosignature does not verify"));
    }
    write_atomic(&req.checkpoint, &out, 0o644)?;
    write_atomic(&req.state, new.to_text().as_bytes(), 0o644)?;
    Ok(Cosigned {
        origin: new.origin,
        size: new.size,
        previous: previous.map(|p| p.size),
        witness_key: witness.to_string(),
    })
}

/// The witness's cosignature verifier key (`<name>+<key id>+<base64(0x04 || key)>`), after
/// checking that `name` can appear in a signature line: a name that cannot would make every
/// checkpoint the witness cosigns unparsable, for the log and everyone reading it.
pub fn witness_verifier(name: &str, key: &PublicKey) -> Result<NoteVerifier> {
    if !is_valid_key_name(name) {
        return Err(Error::invalid("--name", "a witness name must be non-empty, without spaces or '+'"));
    }
    Ok(NoteVerifier::cosignature_v1(name, key))
}

/// Why a checkpoint is not an extension of the tree a witness cosigned last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The checkpoint is smaller than the tree cosigned last.
    Smaller { old: u64, new: u64 },
    /// The same size with another root: two histories signed by the log key.
    Fork { size: u64 },
    /// The consistency proof does not show that the new tree extends the old one.
    Inconsistent { old: u64, new: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Smaller { old, new } => {
                write!(f, "size {new} is smaller than the {old} this witness cosigned")
            }
            Refusal::Fork { size } => write!(f, "a different root for size {size}: the log forked"),
            Refusal::Inconsistent { old, new } => write!(
                f,
                "the tree of size {new} does not extend the one of size {old} this witness cosigned (the \
                 consistency proof does not verify): the log forked or was rewritten"
            ),
        }
    }
}

/// The one rule every witness applies (the offline `log cosign` and the witness service): `new`
/// may be cosigned only if it extends the tree of `old_size` leaves with root `old_root` that
/// the witness cosigned last (size 0 and the empty root when it never cosigned this log), as
/// `proof` (an RFC 6962 consistency proof, empty when the sizes are equal or `old_size` is 0)
/// shows. The same size must have the same root.
pub fn check_extends(
    old_size: u64,
    old_root: &Hash,
    new: &Checkpoint,
    proof: &[Hash],
) -> std::result::Result<(), Refusal> {
    if new.size < old_size {
        return Err(Refusal::Smaller { old: old_size, new: new.size });
    }
    if new.size == old_size && new.root != *old_root {
        return Err(Refusal::Fork { size: new.size });
    }
    if !merkle::verify_consistency(old_size, new.size, old_root, &new.root, proof) {
        return Err(Refusal::Inconsistent { old: old_size, new: new.size });
    }
    Ok(())
}

/// A tlog-cosignature/v1 of `checkpoint_text` by `key` under the witness `name`, timestamped
/// `now` (a time before 1970 is written as 0), checked to verify before it is returned.
pub fn cosignature(checkpoint_text: &str, name: &str, key: &PrivateKey, now: Timestamp) -> Result<NoteSignature> {
    let witness = witness_verifier(name, &key.public())?;
    let timestamp = u64::try_from(now.0).unwrap_or(0);
    let signature = checkpoint::cosign(checkpoint_text, name, key, timestamp);
    let note = Note { text: checkpoint_text.to_string(), signatures: vec![signature.clone()] };
    if checkpoint::verify_cosignature(&note, &witness) != Some(timestamp) {
        return Err(Error::invalid(name, "the new cosignature does not verify"));
    }
    Ok(signature)
}

fn read_state(path: &Path) -> Result<Option<Checkpoint>> {
    let text = match crate::fs::read_regular_text(path, limits::CHECKPOINT) {
        Ok(text) => text,
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Checkpoint::parse(&text).map(Some).map_err(|e| Error::invalid(path.display(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::MemoryTree;

    fn tree(tag: u8, size: u64) -> (MemoryTree, Checkpoint) {
        let mut tree = MemoryTree::new();
        for i in 0..size {
            tree.push(merkle::leaf_hash(&[tag, i as u8]));
        }
        let checkpoint = Checkpoint { origin: "o".into(), size, root: tree.root(), extensions: vec![] };
        (tree, checkpoint)
    }

    #[test]
    fn only_an_extension_of_the_last_cosigned_tree_passes() {
        let (t9, c9) = tree(0, 9);
        let (t20, c20) = tree(0, 20);
        let proof = merkle::consistency_proof(&t20, 9, 20).unwrap();
        assert_eq!(check_extends(9, &t9.root(), &c20, &proof), Ok(()));
        assert_eq!(check_extends(0, &merkle::EMPTY_ROOT, &c20, &[]), Ok(()));
        assert_eq!(check_extends(20, &t20.root(), &c20, &[]), Ok(()), "the same checkpoint again");
        assert_eq!(check_extends(20, &t20.root(), &c9, &[]), Err(Refusal::Smaller { old: 20, new: 9 }));
        let (_, fork) = tree(1, 20);
        assert_eq!(check_extends(20, &t20.root(), &fork, &[]), Err(Refusal::Fork { size: 20 }));
        assert_eq!(check_extends(9, &c9.root, &fork, &proof), Err(Refusal::Inconsistent { old: 9, new: 20 }));
        assert!(check_extends(9, &c9.root, &c20, &proof[1..]).is_err());
        assert!(check_extends(0, &merkle::EMPTY_ROOT, &c20, &proof).is_err(), "a proof from 0 must be empty");
    }

    #[test]
    fn cosignatures_verify_and_names_are_checked() {
        let key = PrivateKey::from_seed(&[5; 32]);
        let (_, c3) = tree(0, 3);
        let sig = cosignature(&c3.to_text(), "w.example", &key, Timestamp(1_700_000_000)).unwrap();
        let note = Note { text: c3.to_text(), signatures: vec![sig] };
        let witness = witness_verifier("w.example", &key.public()).unwrap();
        assert_eq!(checkpoint::verify_cosignature(&note, &witness), Some(1_700_000_000));
        assert_eq!(
            checkpoint::cosignature_timestamp(&cosignature(&c3.to_text(), "w", &key, Timestamp(-5)).unwrap()),
            Some(0)
        );
        assert!(witness_verifier("a b", &key.public()).is_err() && witness_verifier("a+b", &key.public()).is_err());
    }
}
