//! The witness role (C2SP tlog-witness, tlog-cosignature/v1): cosign a log's checkpoint only
//! if it is consistent with the last one this witness cosigned, whose body the state file
//! keeps. A witness never cosigns two checkpoints that could not both be views of one
//! append-only log, so a log that shows different histories to different people is caught.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::audit::{authenticate_checkpoint, check_consistent, WitnessPolicy};
use super::store::{lock, LogDir, CHECKPOINT_FILE};
use crate::error::{Error, Result};
use crate::fs::{limits, read_regular, write_atomic};
use crate::keys::PrivateKey;
use crate::time::Timestamp;
use crate::tlog::checkpoint::{self, Checkpoint};
use crate::tlog::merkle;
use crate::tlog::note::{is_valid_key_name, Note, NoteVerifier};

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
    if !is_valid_key_name(&req.name) {
        return Err(Error::invalid("--name", "a witness name must be non-empty, without spaces or '+'"));
    }
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
        if new.size < old.size {
            return Err(Error::rejected(
                &origin,
                format!("size {} is smaller than the {} this witness cosigned", new.size, old.size),
            ));
        }
        if new.size == old.size && new.root != old.root {
            return Err(Error::rejected(&origin, format!("a different root for size {}: the log forked", new.size)));
        }
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
            check_consistent(&log, old, &new)?;
        }
    }
    let timestamp = u64::try_from(req.now.0).unwrap_or(0);
    let witness = NoteVerifier::cosignature_v1(&req.name, &req.key.public());
    note.signatures.retain(|s| !(s.name == witness.name && s.key_hash == witness.key_hash));
    note.add_signature(checkpoint::cosign(&note.text, &req.name, req.key, timestamp));
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

fn read_state(path: &Path) -> Result<Option<Checkpoint>> {
    let text = match crate::fs::read_regular_text(path, limits::CHECKPOINT) {
        Ok(text) => text,
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Checkpoint::parse(&text).map(Some).map_err(|e| Error::invalid(path.display(), e.to_string()))
}
