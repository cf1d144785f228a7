//! Following a log: reading only what was appended since the last look, and believing it only
//! once it is authenticated. A follower keeps the log's compact range (one hash per set bit
//! of its size); each new entry is read from the entry bundles and pushed onto that range,
//! and the result must be the root of a checkpoint signed by the log key (and cosigned by
//! the witnesses the caller asks for). That one comparison proves both that the new entries
//! are the log's and that the new tree extends the old one, so a rebuilder, a status page or
//! `verify` can keep up with a million-entry log by reading each entry once.

use crate::error::{Error, Result};
use crate::tlog::compact::CompactRange;
use crate::tlog::merkle;
use crate::tlog::note::NoteVerifier;
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{authenticate_checkpoint, WitnessPolicy};
use crate::transparency::LogDir;

/// How many entries are read per step (16 bundles): enough to amortise a request, little
/// enough to keep in memory.
const STEP: u64 = 16 * TILE_WIDTH;

/// Whose checkpoints a follower believes.
#[derive(Clone, Debug)]
pub struct LogTrust {
    pub vkey: NoteVerifier,
    pub witnesses: WitnessPolicy,
}

/// An authenticated position in a log.
#[derive(Clone, Debug)]
pub struct FollowedLog {
    range: CompactRange,
    /// Whether `range` was checked against a signed root (a range read from the tiles to start
    /// in the middle of the log is not, until the first advance).
    authenticated: bool,
}

impl FollowedLog {
    /// A follower at the start of the log.
    pub fn from_start() -> FollowedLog {
        FollowedLog { range: CompactRange::new(), authenticated: true }
    }

    /// A follower that starts at entry `from` (the entries before it are not read): the range
    /// at `from` comes from the log's hash tiles, and is believed only once the first
    /// [`FollowedLog::advance`] leads from it to a signed root.
    pub fn starting_at(dir: &LogDir, from: u64) -> Result<FollowedLog> {
        if from == 0 {
            return Ok(FollowedLog::from_start());
        }
        let (_, checkpoint) = dir.read_checkpoint()?;
        if from > checkpoint.size {
            return Err(Error::invalid(
                format!("entry {from}"),
                format!("the log {} holds only {} entries", dir.root.display(), checkpoint.size),
            ));
        }
        let range = CompactRange::from_nodes(&dir.tree(checkpoint.size), from)?;
        Ok(FollowedLog { range, authenticated: false })
    }

    /// How many entries have been followed.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The root of the followed tree (authenticated once an advance succeeded).
    pub fn root(&self) -> [u8; 32] {
        self.range.root()
    }

    /// Reads the log's checkpoint and every entry appended since, hands each entry to `keep` in
    /// log order, and returns what `keep` kept. `keep` only chooses (it must not act: the entry
    /// is not authenticated yet); nothing is returned and the position is unchanged unless the
    /// entries lead to the checkpoint's signed root; a
    /// checkpoint smaller than what was followed, or another tree, is refused as a rewritten
    /// log.
    pub fn advance<T>(
        &mut self,
        dir: &LogDir,
        trust: &LogTrust,
        mut keep: impl FnMut(u64, &[u8]) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        let path = dir.checkpoint_path().display().to_string();
        let bytes = dir.read_checkpoint_bytes()?;
        let (_, checkpoint, _) = authenticate_checkpoint(&bytes, &path, &trust.vkey, &trust.witnesses)?;
        let old = self.range.size();
        if checkpoint.size < old {
            return Err(Error::rejected(
                &path,
                format!(
                    "the log has {} entries, fewer than the {old} already followed: it was rewritten",
                    checkpoint.size
                ),
            ));
        }
        // What `keep` chooses is held back until the root matches.
        let mut range = self.range.clone();
        let mut kept = Vec::new();
        let mut start = old;
        while start < checkpoint.size {
            let end = (start + STEP).min(checkpoint.size);
            for (k, entry) in dir.entries(start, end, checkpoint.size)?.into_iter().enumerate() {
                range.push(merkle::leaf_hash(&entry));
                if let Some(t) = keep(start + k as u64, &entry)? {
                    kept.push(t);
                }
            }
            start = end;
        }
        if range.root() != checkpoint.root {
            return Err(Error::rejected(
                dir.root.display(),
                if self.authenticated {
                    format!(
                        "entries {old}..{} do not extend the {old} entries already followed to the checkpoint's root: \
                         the log was rewritten or a bundle is wrong",
                        checkpoint.size
                    )
                } else {
                    format!(
                        "the hash tiles before entry {old} and the entries after it do not lead to the checkpoint's root"
                    )
                },
            ));
        }
        self.range = range;
        self.authenticated = true;
        Ok(kept)
    }
}
