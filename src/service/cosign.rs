//! Getting a checkpoint cosigned by a witness over HTTP (C2SP tlog-witness), starting from the
//! size the witness last cosigned and following its 409 answer when that guess was wrong.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::{NoteSignature, NoteVerifier};
use crate::tlog::Hash;

/// The witness's verified cosignature(s) of `note` (the tree `checkpoint`).
pub fn cosign_from(
    url: &str,
    _vkey: &NoteVerifier,
    _note: &[u8],
    _checkpoint: &Checkpoint,
    _old: u64,
    _proof: &dyn Fn(u64) -> Result<Vec<Hash>>,
    _timeout: Duration,
) -> Result<Vec<NoteSignature>> {
    Err(Error::invalid(url, "witness client not merged yet"))
}
