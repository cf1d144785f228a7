//! The center's private sample store: the samples themselves, content-addressed by sha256
//! (`samples/<hex>`, mode 0600 in directories of mode 0700), and an embedded SQLite database
//! (`index.sqlite`) that maps each commitment to its sample, salt and intake batch, keeps the
//! openings of request details, and holds the gateway's authenticated view of the log (see
//! [`super::ledger`]). Nothing in the store is public; the log holds only commitments.
//!
//! Samples are written by temporary file and rename, and a batch is made durable with one
//! `syncfs` before its index rows commit, so a crash leaves either nothing or whole files.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::commitment::{parse_salt, Salt};
use crate::digest::{hex_encode, Sha256Digest};
use crate::error::{Error, IoContext, Result};

/// The index database's file name in the store.
pub const INDEX_FILE: &str = "index.sqlite";
/// Schema version in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    size INTEGER NOT NULL,
    envelope TEXT NOT NULL,          -- sha256 hex of the intake envelope line
    log_index INTEGER                -- NULL until the batch is found in the log
);
CREATE TABLE IF NOT EXISTS samples (
    commitment TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    salt TEXT NOT NULL,
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    leaf_index INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_batch ON samples(batch_id, leaf_index);
CREATE INDEX IF NOT EXISTS samples_by_sha256 ON samples(sha256);
CREATE TABLE IF NOT EXISTS receipt_dirs (
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    dir BLOB NOT NULL,               -- the absolute path of a directory the batch's receipts went to
    PRIMARY KEY (batch_id, dir)
);
CREATE TABLE IF NOT EXISTS details (
    commitment TEXT PRIMARY KEY,     -- the detail commitment a request carries
    salt TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// The sample store at a directory.
pub struct SampleStore {
    pub root: PathBuf,
    pub db: Connection,
}

/// One sample's row in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleRecord {
    pub commitment: Sha256Digest,
    pub sha256: Sha256Digest,
    pub salt: Salt,
    pub batch_id: String,
    pub leaf_index: u64,
}

/// One batch's row in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    pub batch_id: String,
    pub root: Sha256Digest,
    pub size: u64,
    pub envelope: Sha256Digest,
    pub log_index: Option<u64>,
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::invalid(path.display(), format!("sample index: {e}"))
}

impl SampleStore {
    /// Opens the store at `root`, creating it (mode 0700) if `create`.
    pub fn open(root: &Path, create: bool) -> Result<SampleStore> {
        if create {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(root.join("samples")).at(root)?;
        }
        let meta = fs::symlink_metadata(root).at(root)?;
        if !meta.is_dir() {
            return Err(Error::invalid(root.display(), "is not a sample store directory"));
        }
        let db_path = root.join(INDEX_FILE);
        if !create && !db_path.is_file() {
            return Err(Error::invalid(root.display(), format!("is not a sample store (no {INDEX_FILE})")));
        }
        if fs::symlink_metadata(&db_path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::invalid(db_path.display(), "is a symbolic link"));
        }
        let db = Connection::open(&db_path).map_err(|e| db_error(&db_path, e))?;
        fs::set_permissions(&db_path, fs::Permissions::from_mode(0o600)).at(&db_path)?;
        // Several gateways and intakes may open one store: wait for the lock instead of failing.
        db.busy_timeout(std::time::Duration::from_secs(60)).map_err(|e| db_error(&db_path, e))?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| db_error(&db_path, e))?;
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| db_error(&db_path, e))?;
        if version == 1 || version == 2 {
            // Version 2 adds the ledger's payload digests, version 3 its policy statements. The
            // ledger is a cache of the log: an older one is dropped and the next sync reads the
            // log again.
            db.execute_batch("DROP TABLE IF EXISTS ledger_entries; DROP TABLE IF EXISTS ledger_state;")
                .map_err(|e| db_error(&db_path, e))?;
        } else if version != 0 && version != SCHEMA_VERSION {
            return Err(Error::invalid(
                db_path.display(),
                format!("has schema version {version}, not {SCHEMA_VERSION}"),
            ));
        }
        db.execute_batch(SCHEMA).map_err(|e| db_error(&db_path, e))?;
        db.execute_batch(super::ledger::SCHEMA).map_err(|e| db_error(&db_path, e))?;
        db.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(|e| db_error(&db_path, e))?;
        Ok(SampleStore { root: root.to_path_buf(), db })
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Maps a database error to one naming the index file.
    pub fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.db_path(), e)
    }

    /// Where the sample with sha256 `digest` is stored.
    pub fn sample_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.root.join("samples").join(digest.hex())
    }

    /// A private subdirectory of the store (mode 0700), created if missing.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).at(&dir)?;
        Ok(dir)
    }

    /// Writes `bytes` as the sample with sha256 `digest` unless it is already stored: a
    /// temporary file of mode 0600 beside it, renamed into place. Not synced: the caller makes
    /// a whole batch durable at once ([`SampleStore::sync`]).
    pub fn put_sample(&self, digest: &Sha256Digest, bytes: &[u8]) -> Result<()> {
        let path = self.sample_path(digest);
        if fs::symlink_metadata(&path).is_ok() {
            return Ok(());
        }
        let dir = self.root.join("samples");
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&dir)
            .at(&dir)?;
        tmp.write_all(bytes).at(tmp.path())?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    /// Reads a stored sample (no link followed, regular file only).
    pub fn read_sample(&self, digest: &Sha256Digest) -> Result<Vec<u8>> {
        let path = self.sample_path(digest);
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .at(&path)?;
        crate::fs::read_opened(file, &path, u64::MAX)
    }

    /// Makes everything written to the store's file system durable (one `syncfs`).
    pub fn sync(&self) -> Result<()> {
        let dir = fs::File::open(self.root.join("samples")).at(&self.root)?;
        rustix::fs::syncfs(&dir).map_err(|e| Error::io(&self.root, e.into()))
    }

    /// Records a batch and its samples in one transaction.
    pub fn record_batch(&mut self, batch: &BatchRecord, samples: &[SampleRecord]) -> Result<()> {
        let path = self.db_path();
        let tx = self.db.transaction().map_err(|e| db_error(&path, e))?;
        tx.execute(
            "INSERT INTO batches (batch_id, root, size, envelope, log_index) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                batch.batch_id,
                batch.root.hex(),
                batch.size as i64,
                batch.envelope.hex(),
                batch.log_index.map(|i| i as i64)
            ],
        )
        .map_err(|e| db_error(&path, e))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO samples (commitment, sha256, salt, batch_id, leaf_index) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| db_error(&path, e))?;
            for s in samples {
                insert
                    .execute(params![
                        s.commitment.hex(),
                        s.sha256.hex(),
                        hex_encode(&s.salt),
                        s.batch_id,
                        s.leaf_index as i64
                    ])
                    .map_err(|e| db_error(&path, e))?;
            }
        }
        tx.commit().map_err(|e| db_error(&path, e))
    }

    /// Notes the log index a batch was found at.
    pub fn set_batch_index(&self, batch_id: &str, log_index: u64) -> Result<()> {
        self.db
            .execute("UPDATE batches SET log_index = ?1 WHERE batch_id = ?2", params![log_index as i64, batch_id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Notes that receipts of batch `batch_id` are written to `dir` (an absolute path), before
    /// they are: `forget` removes a sample's receipt from every directory noted here.
    pub fn record_receipt_dir(&self, batch_id: &str, dir: &Path) -> Result<()> {
        self.db
            .execute(
                "INSERT OR IGNORE INTO receipt_dirs (batch_id, dir) VALUES (?1, ?2)",
                params![batch_id, dir.as_os_str().as_bytes()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every directory receipts of batch `batch_id` were written to, in the order noted.
    pub fn receipt_dirs(&self, batch_id: &str) -> Result<Vec<PathBuf>> {
        let mut stmt = self
            .db
            .prepare("SELECT dir FROM receipt_dirs WHERE batch_id = ?1 ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![batch_id], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(PathBuf::from(std::ffi::OsString::from_vec(row.map_err(|e| self.err(e))?)));
        }
        Ok(out)
    }

    /// The sample whose commitment is `commitment`, if the store still holds it.
    pub fn lookup(&self, commitment: &Sha256Digest) -> Result<Option<SampleRecord>> {
        let row = self
            .db
            .query_row(
                "SELECT sha256, salt, batch_id, leaf_index FROM samples WHERE commitment = ?1",
                params![commitment.hex()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((sha256, salt, batch_id, leaf_index)) = row else { return Ok(None) };
        let bad = || {
            Error::invalid(self.db_path().display(), format!("the row of commitment {} is corrupt", commitment.hex()))
        };
        Ok(Some(SampleRecord {
            commitment: *commitment,
            sha256: Sha256Digest::from_hex(&sha256).ok_or_else(bad)?,
            salt: parse_salt(&salt).ok_or_else(bad)?,
            batch_id,
            leaf_index: u64::try_from(leaf_index).map_err(|_| bad())?,
        }))
    }

    /// A batch's row.
    pub fn batch(&self, batch_id: &str) -> Result<Option<BatchRecord>> {
        let row = self
            .db
            .query_row(
                "SELECT root, size, envelope, log_index FROM batches WHERE batch_id = ?1",
                params![batch_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((root, size, envelope, log_index)) = row else { return Ok(None) };
        let bad = || Error::invalid(self.db_path().display(), format!("the row of batch {batch_id} is corrupt"));
        Ok(Some(BatchRecord {
            batch_id: batch_id.to_string(),
            root: Sha256Digest::from_hex(&root).ok_or_else(bad)?,
            size: u64::try_from(size).map_err(|_| bad())?,
            envelope: Sha256Digest::from_hex(&envelope).ok_or_else(bad)?,
            log_index: log_index.and_then(|i| u64::try_from(i).ok()),
        }))
    }

    /// The commitments of a batch in leaf order, forgotten samples included (the batch root
    /// covers them; a forgotten sample's row keeps its commitment but loses its salt and hash).
    pub fn batch_commitments(&self, batch_id: &str) -> Result<Vec<Sha256Digest>> {
        let mut stmt = self
            .db
            .prepare("SELECT commitment FROM samples WHERE batch_id = ?1 ORDER BY leaf_index")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![batch_id], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let hex = row.map_err(|e| self.err(e))?;
            out.push(
                Sha256Digest::from_hex(&hex).ok_or_else(|| {
                    Error::invalid(self.db_path().display(), format!("commitment {hex:?} is corrupt"))
                })?,
            );
        }
        Ok(out)
    }

    /// Keeps the opening of a request's detail commitment.
    pub fn record_detail(&self, commitment: &Sha256Digest, salt: &Salt, detail: &str) -> Result<()> {
        self.db
            .execute(
                "INSERT OR REPLACE INTO details (commitment, salt, detail) VALUES (?1, ?2, ?3)",
                params![commitment.hex(), hex_encode(salt), detail],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The opening (salt, text) of a detail commitment.
    pub fn detail(&self, commitment: &Sha256Digest) -> Result<Option<(Salt, String)>> {
        let row = self
            .db
            .query_row("SELECT salt, detail FROM details WHERE commitment = ?1", params![commitment.hex()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|(salt, text)| Some((parse_salt(&salt)?, text))))
    }

    /// Erasure: deletes the sample's salt and hash (the row keeps only the commitment, which
    /// nobody can open any more, so that the batch's other proofs still compute) and the stored
    /// file if no other commitment names the same bytes. Returns whether the sample was held.
    pub fn forget(&mut self, commitment: &Sha256Digest) -> Result<bool> {
        let Some(record) = self.lookup(commitment)? else { return Ok(false) };
        if record.sha256 == Sha256Digest([0; 32]) && record.salt == [0; 32] {
            return Ok(false);
        }
        let path = self.db_path();
        let tx = self.db.transaction().map_err(|e| db_error(&path, e))?;
        tx.execute(
            "UPDATE samples SET sha256 = ?1, salt = ?1 WHERE commitment = ?2",
            params!["0".repeat(64), commitment.hex()],
        )
        .map_err(|e| db_error(&path, e))?;
        let others: i64 = tx
            .query_row("SELECT COUNT(*) FROM samples WHERE sha256 = ?1", params![record.sha256.hex()], |r| r.get(0))
            .map_err(|e| db_error(&path, e))?;
        tx.commit().map_err(|e| db_error(&path, e))?;
        if others == 0 {
            let file = self.sample_path(&record.sha256);
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&file, e)),
            }
            self.sync()?;
        }
        Ok(true)
    }
}

/// Whether a record is a forgotten sample's (hash and salt erased).
pub fn is_forgotten(record: &SampleRecord) -> bool {
    record.sha256 == Sha256Digest([0; 32]) && record.salt == [0; 32]
}
