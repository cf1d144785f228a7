//! The witness service's durable state, in SQLite: for each log origin the latest checkpoint
//! this witness cosigned (size, root, the signed note as submitted, the cosignature's time),
//! and the signed checkpoints it refused as evidence of a log's misbehaviour. The file is
//! created mode 0600 and never opened through a link; every write is `synchronous=FULL`, and
//! a request's read, check and update happen in one `BEGIN IMMEDIATE` transaction whose update
//! is a compare-and-swap on the state read, so two requests (or two processes sharing the file)
//! can never both advance from the same state.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{Error, IoContext, Result};
use crate::tlog::Hash;

/// Schema version in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL CHECK (cosigned_at >= 0)
) STRICT;
CREATE TABLE IF NOT EXISTS refused (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    note TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (origin, note)
) STRICT;
";

/// At most this many refused checkpoints are kept per origin: enough to prove a fork, never a
/// way for a log key holder to fill the disk.
const MAX_REFUSED_PER_ORIGIN: i64 = 100;

/// The latest checkpoint cosigned for one origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
    /// The timestamp of the cosignature (POSIX seconds).
    pub cosigned_at: u64,
}

/// The state file, open.
pub struct WitnessState {
    db: Connection,
    path: PathBuf,
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::invalid(path.display(), format!("witness state: {e}"))
}

/// A size or time as SQLite stores it (a signed 64-bit integer).
fn to_sql(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid(what, format!("{value} is larger than 2^63 - 1")))
}

impl WitnessState {
    /// Opens the state at `path`, creating it (mode 0600) if it does not exist. A link, or a
    /// file of another schema, is refused.
    pub fn open(path: &Path) -> Result<WitnessState> {
        // O_CREAT | O_EXCL never follows a link, whatever it points to.
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path, e)),
        }
        let meta = std::fs::symlink_metadata(path).at(path)?;
        if !meta.file_type().is_file() {
            return Err(Error::invalid(path.display(), "is not a regular file (the witness state must not be a link)"));
        }
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(path, flags).map_err(|e| db_error(path, e))?;
        // Another process on the same file waits for the lock rather than failing at once.
        db.busy_timeout(Duration::from_secs(10)).map_err(|e| db_error(path, e))?;
        db.execute_batch("PRAGMA synchronous=FULL;").map_err(|e| db_error(path, e))?;
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| db_error(path, e))?;
        if version != 0 && version != SCHEMA_VERSION {
            return Err(Error::invalid(
                path.display(),
                format!("is a witness state of schema version {version}, not {SCHEMA_VERSION}"),
            ));
        }
        db.execute_batch(SCHEMA).map_err(|e| db_error(path, e))?;
        db.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(|e| db_error(path, e))?;
        Ok(WitnessState { db, path: path.to_path_buf() })
    }

    /// Starts a `BEGIN IMMEDIATE` transaction: from here to its commit no other writer (in this
    /// process or another) can change the state.
    pub fn transaction(&mut self) -> Result<StateTx<'_>> {
        let tx =
            self.db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_error(&self.path, e))?;
        Ok(StateTx { tx, path: &self.path })
    }
}

/// One request's view of the state, inside its transaction. Dropped without [`StateTx::commit`],
/// it changes nothing.
pub struct StateTx<'a> {
    tx: Transaction<'a>,
    path: &'a Path,
}

impl StateTx<'_> {
    /// The latest checkpoint cosigned for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Latest>> {
        let row: Option<(i64, Vec<u8>, i64)> = self
            .tx
            .query_row("SELECT size, root, cosigned_at FROM cosigned WHERE origin = ?1", params![origin], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(|e| db_error(self.path, e))?;
        let Some((size, root, cosigned_at)) = row else {
            return Ok(None);
        };
        let corrupt = || Error::invalid(self.path.display(), format!("the row of {origin:?} is corrupt"));
        Ok(Some(Latest {
            size: u64::try_from(size).map_err(|_| corrupt())?,
            root: root.try_into().map_err(|_| corrupt())?,
            cosigned_at: u64::try_from(cosigned_at).map_err(|_| corrupt())?,
        }))
    }

    /// Records `to` (with its signed note) as the latest checkpoint of `origin`, only if the
    /// state is still `from` (compare-and-swap).
    pub fn advance(&self, origin: &str, from: Option<&Latest>, to: &Latest, note: &str) -> Result<()> {
        let (size, at) = (to_sql(to.size, "checkpoint size")?, to_sql(to.cosigned_at, "cosignature time")?);
        let changed = match from {
            None => self
                .tx
                .execute(
                    "INSERT OR IGNORE INTO cosigned (origin, size, root, note, cosigned_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![origin, size, &to.root[..], note, at],
                )
                .map_err(|e| db_error(self.path, e))?,
            Some(old) => self
                .tx
                .execute(
                    "UPDATE cosigned SET size = ?2, root = ?3, note = ?4, cosigned_at = ?5 \
                     WHERE origin = ?1 AND size = ?6 AND root = ?7",
                    params![origin, size, &to.root[..], note, at, to_sql(old.size, "checkpoint size")?, &old.root[..]],
                )
                .map_err(|e| db_error(self.path, e))?,
        };
        if changed != 1 {
            return Err(Error::invalid(
                self.path.display(),
                format!("the state of {origin:?} changed during the request; nothing was cosigned"),
            ));
        }
        Ok(())
    }

    /// Keeps a refused, log-signed checkpoint as evidence (at most [`MAX_REFUSED_PER_ORIGIN`]
    /// per origin; a note already kept is kept once).
    pub fn keep_refused(&self, origin: &str, size: u64, reason: &str, note: &str, seen_at: u64) -> Result<()> {
        let kept: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM refused WHERE origin = ?1", params![origin], |r| r.get(0))
            .map_err(|e| db_error(self.path, e))?;
        if kept < MAX_REFUSED_PER_ORIGIN {
            self.tx
                .execute(
                    "INSERT OR IGNORE INTO refused (origin, size, reason, note, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![origin, to_sql(size, "checkpoint size")?, reason, note, to_sql(seen_at, "time")?],
                )
                .map_err(|e| db_error(self.path, e))?;
        }
        Ok(())
    }

    /// Makes everything this transaction wrote durable (`synchronous=FULL`).
    pub fn commit(self) -> Result<()> {
        self.tx.commit().map_err(|e| db_error(self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn state_is_private_durable_and_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut state = WitnessState::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let first = Latest { size: 10, root: [1; 32], cosigned_at: 5 };
        let tx = state.transaction().unwrap();
        assert_eq!(tx.latest("o").unwrap(), None);
        tx.advance("o", None, &first, "note 10").unwrap();
        // A second insert from "nothing" is a lost race, not an overwrite.
        assert!(tx.advance("o", None, &Latest { size: 11, ..first.clone() }, "n").is_err());
        tx.commit().unwrap();
        // Dropped without commit: nothing changes.
        let tx = state.transaction().unwrap();
        tx.advance("o", Some(&first), &Latest { size: 20, root: [2; 32], cosigned_at: 6 }, "note 20").unwrap();
        drop(tx);
        drop(state);
        let mut state = WitnessState::open(&path).unwrap();
        let tx = state.transaction().unwrap();
        assert_eq!(tx.latest("o").unwrap(), Some(first.clone()));
        // An update from a state that is no longer the stored one is refused.
        let stale = Latest { size: 9, root: [1; 32], cosigned_at: 5 };
        assert!(tx.advance("o", Some(&stale), &Latest { size: 30, root: [3; 32], cosigned_at: 7 }, "n").is_err());
        for i in 0..150 {
            tx.keep_refused("o", 10, "fork", &format!("fork {i}"), 8).unwrap();
        }
        let kept: i64 = tx.tx.query_row("SELECT COUNT(*) FROM refused", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, MAX_REFUSED_PER_ORIGIN);
        assert!(tx.advance("o", Some(&first), &Latest { size: u64::MAX, ..first.clone() }, "n").is_err());
    }

    #[test]
    fn a_link_or_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(WitnessState::open(&link).is_err());
        let path = dir.path().join("other.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 7").unwrap();
        assert!(WitnessState::open(&path).is_err());
    }
}
