//! Taking samples in (`glassbox sample intake`) and erasing them (`glassbox sample forget`).
//!
//! An intake batch is all or nothing. Every input is checked first (a regular file, not a
//! symbolic link, FIFO, device or directory; readable), before anything is written. Then each
//! file is streamed once, in parallel, into the store's content-addressed `samples/<sha256>`
//! while it is hashed (a file taken in twice is stored once but gets a commitment per intake,
//! each with its own fresh salt). One `syncfs` makes the whole batch durable, the intake
//! statement is signed and its envelope written atomically, and only then do the batch's index
//! rows commit, in one transaction: a failure before that leaves no row (and no new sample
//! file). With a [`LogWriter`] (the log's key, or a log service's URL) the envelope is logged,
//! its index recorded and the receipts written; without one the operator appends the envelope
//! later and runs `sample receipts`.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::commitment::{commit, fresh_salt, BatchTree};
use super::log_writer::{LogWriter, ReceiptCheck};
use super::receipt::{write_receipts, Receipt, MAX_RECEIPT_BYTES, RECEIPTS_DIR};
use super::statements::sign_intake;
use super::store::{is_forgotten, BatchRecord, SampleRecord, SampleStore};
use crate::attest::custody::{Intake, Period, BATCH_TREE};
use crate::digest::{hex_encode, HashingWriter, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::keys::PrivateKey;
use crate::time::Timestamp;
use crate::tlog::note::NoteVerifier;
use crate::transparency::audit::WitnessPolicy;
use crate::transparency::{LogDir, Loggable};

/// The largest `--from-list` file read (a million paths of a kilobyte).
pub const MAX_LIST_BYTES: u64 = 1 << 30;
/// Where intake envelopes go by default, under the store.
pub const BATCHES_DIR: &str = "batches";

/// What an intake needs besides its inputs.
pub struct IntakeOptions<'a> {
    /// The center key that signs the batch (one of the policy's `centers`).
    pub key: &'a PrivateKey,
    /// The log, read: its checkpoint must read (and verify, given the key) before anything is
    /// written.
    pub log: &'a LogDir,
    /// Log the batch and write receipts now: with the log's key, or through the log service.
    pub writer: Option<LogWriter<'a>>,
    /// The log's verifier key: required with a log service (its receipt is checked with it, and
    /// it goes into the customers' receipts); with the log's key it is derived from the key.
    pub vkey: Option<&'a NoteVerifier>,
    /// Where the envelope goes (default `<store>/batches/<batchId>.intoto.jsonl`).
    pub out: Option<PathBuf>,
    /// Where receipts go (default `<store>/receipts/`).
    pub receipts: Option<PathBuf>,
    pub now: Timestamp,
}

/// One input and the commitment it was taken in under.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Taken {
    pub file: PathBuf,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub commitment: Sha256Digest,
}

/// What an intake did.
#[derive(Clone, Debug)]
pub struct IntakeOutcome {
    pub batch_id: String,
    pub root: Sha256Digest,
    /// The envelope file and the SHA-256 of its line.
    pub envelope: PathBuf,
    pub envelope_digest: Sha256Digest,
    pub log_index: Option<u64>,
    /// The receipts directory, when receipts were written.
    pub receipts: Option<PathBuf>,
    /// In input order.
    pub samples: Vec<Taken>,
}

/// The inputs of an intake: `files`, then the paths of `from_list` (one per line, blank lines
/// skipped, relative paths taken from the working directory as on the command line).
pub fn inputs(files: &[PathBuf], from_list: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut out = files.to_vec();
    if let Some(list) = from_list {
        let text = crate::fs::read_regular_text(list, MAX_LIST_BYTES)?;
        out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from));
    }
    if out.is_empty() {
        return Err(Error::invalid("sample intake", "no input files: an intake batch holds at least one sample"));
    }
    Ok(out)
}

/// Opens an input for reading: a regular file, the path itself not a symbolic link, opened
/// without blocking so that a FIFO cannot hang the intake.
fn open_input(path: &Path) -> Result<fs::File> {
    let meta = fs::symlink_metadata(path).at(path)?;
    if meta.file_type().is_symlink() {
        return Err(Error::invalid(path.display(), "is a symbolic link: give the file itself"));
    }
    if !meta.file_type().is_file() {
        return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .at(path)?;
    // The path may have been replaced between the two looks: judge the file actually opened.
    if !file.metadata().at(path)?.file_type().is_file() {
        return Err(Error::invalid(path.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    Ok(file)
}

/// Streams `path` into `samples/` under its sha256 (temporary file of mode 0600, renamed; not
/// synced). Returns the digest and whether this call created the stored file.
fn copy_in(samples: &Path, path: &Path) -> Result<(Sha256Digest, bool)> {
    let mut input = open_input(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(samples)
        .at(samples)?;
    let tmp_path = tmp.path().to_path_buf();
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(64 << 10, tmp.as_file_mut()));
    std::io::copy(&mut input, &mut writer).at(path)?;
    let (mut buffered, digest, _) = writer.finish();
    buffered.flush().at(&tmp_path)?;
    drop(buffered);
    let target = samples.join(digest.hex());
    if fs::symlink_metadata(&target).is_ok() {
        return Ok((digest, false));
    }
    // `persist_noclobber`: two intakes of the same bytes at once both see "absent"; the
    // second rename must not count as having created the file (its cleanup would remove the
    // first one's sample).
    match tmp.persist_noclobber(&target) {
        Ok(_) => Ok((digest, true)),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok((digest, false)),
        Err(e) => Err(Error::io(&target, e.error)),
    }
}

/// Checks the log before anything is written: its checkpoint reads, and the log's key (if the
/// writer holds it) or `vkey` signs it. Returns the log's origin and its verifier key, when
/// known (always, when there is a writer).
fn check_log(
    log: &LogDir,
    writer: Option<&LogWriter<'_>>,
    vkey: Option<&NoteVerifier>,
) -> Result<(String, Option<NoteVerifier>)> {
    let (note, checkpoint) = log.read_checkpoint()?;
    let verifier = match (writer, vkey) {
        (Some(LogWriter::Dir { key, .. }), _) => {
            let derived = NoteVerifier::ed25519(&checkpoint.origin, &key.public());
            if !note.verified_by(&derived) {
                return Err(Error::invalid(
                    log.checkpoint_path().display(),
                    "is not signed by this --log-key under the log's origin: wrong key for this log",
                ));
            }
            Some(derived)
        }
        (Some(LogWriter::Service { url }), None) => {
            return Err(Error::invalid(
                *url,
                "a log service needs the log's verifier key (--vkey): its receipt is checked with it, and the customers' receipts name it",
            ))
        }
        (_, Some(vkey)) => {
            if !note.verified_by(vkey) {
                return Err(Error::invalid(
                    log.checkpoint_path().display(),
                    format!("is not signed by the log key {}: wrong --vkey for this log", vkey.name),
                ));
            }
            Some(vkey.clone())
        }
        (None, None) => None,
    };
    Ok((checkpoint.origin, verifier))
}

/// A random batch id: 32 lowercase hex digits.
pub fn fresh_batch_id() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    hex_encode(&bytes)
}

/// Takes `inputs` into the store at `store_root` (created if missing) as one batch.
pub fn intake(store_root: &Path, inputs: &[PathBuf], opts: &IntakeOptions<'_>) -> Result<IntakeOutcome> {
    if inputs.is_empty() {
        return Err(Error::invalid("sample intake", "no input files: an intake batch holds at least one sample"));
    }
    // Everything that can be checked is checked before the first write.
    inputs.par_iter().try_for_each(|p| open_input(p).map(drop))?;
    if fs::symlink_metadata(store_root).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::invalid(store_root.display(), "is not a sample store directory"));
    }
    let (origin, verifier) = check_log(opts.log, opts.writer.as_ref(), opts.vkey)?;

    let mut store = SampleStore::open(store_root, true)?;
    let samples_dir = store.root.join("samples");
    let copied: Vec<Result<(Sha256Digest, bool)>> = inputs.par_iter().map(|p| copy_in(&samples_dir, p)).collect();
    let created: Vec<&Sha256Digest> =
        copied.iter().filter_map(|r| r.as_ref().ok().filter(|d| d.1).map(|d| &d.0)).collect();
    let undo = |store: &SampleStore, created: &[&Sha256Digest]| {
        for digest in created {
            // Another intake running at the same time may have found this file and recorded
            // it: keep what any row names. Best effort otherwise: an unreferenced sample file
            // is harmless, and the error that made us undo is the one to report.
            let named: rusqlite::Result<i64> =
                store.db.query_row("SELECT COUNT(*) FROM samples WHERE sha256 = ?1", [digest.hex()], |r| r.get(0));
            if named == Ok(0) {
                let _ = fs::remove_file(store.sample_path(digest));
            }
        }
    };
    let digests: Vec<Sha256Digest> = match copied.iter().find_map(|r| r.as_ref().err()) {
        None => copied.iter().filter_map(|r| r.as_ref().ok().map(|d| d.0)).collect(),
        Some(_) => {
            undo(&store, &created);
            // Proven: `find_map` found an error in `copied`.
            let first = copied.into_iter().find_map(Result::err);
            return Err(first.unwrap_or_else(|| Error::invalid("sample intake", "an input failed")));
        }
    };

    let result = (|| {
        let salts: Vec<_> = digests.iter().map(|_| fresh_salt()).collect();
        let commitments: Vec<Sha256Digest> = salts.iter().zip(&digests).map(|(s, d)| commit(s, d)).collect();
        let tree = BatchTree::new(commitments.clone())?;
        let root = tree.root();
        store.sync()?;

        let batch_id = fresh_batch_id();
        let now = opts.now.rfc3339();
        let statement = Intake {
            batch_id: batch_id.clone(),
            count: tree.len(),
            period: Period { start: now.clone(), end: now },
            merkle_root: root.hex(),
            tree: BATCH_TREE.to_string(),
        };
        let envelope = sign_intake(&statement, &root, opts.key);
        let line = envelope.to_line();
        let envelope_digest = Sha256Digest::of(line.as_bytes());
        let out = match &opts.out {
            Some(p) => p.clone(),
            None => store.subdir(BATCHES_DIR)?.join(format!("{batch_id}.intoto.jsonl")),
        };
        crate::fs::write_atomic(&out, format!("{line}\n").as_bytes(), 0o644)?;

        let rows: Vec<SampleRecord> = commitments
            .iter()
            .zip(&digests)
            .zip(&salts)
            .map(|((c, d), s)| SampleRecord {
                commitment: *c,
                sha256: *d,
                salt: *s,
                batch_id: batch_id.clone(),
                // Proven: every commitment is in the tree built from them.
                leaf_index: tree.position(c).unwrap_or(u64::MAX),
            })
            .collect();
        let batch = BatchRecord {
            batch_id: batch_id.clone(),
            root,
            size: tree.len(),
            envelope: envelope_digest,
            log_index: None,
        };
        if let Err(e) = store.record_batch(&batch, &rows) {
            let _ = fs::remove_file(&out);
            return Err(e);
        }
        Ok((batch_id, root, envelope, out, envelope_digest, commitments))
    })();
    let (batch_id, root, envelope, out, envelope_digest, commitments) = match result {
        Ok(v) => v,
        Err(e) => {
            undo(&store, &created);
            return Err(e);
        }
    };

    // From here on the batch is taken in: a failure leaves it recorded, not yet logged, and
    // `glassbox log append` plus `sample receipts` finish it.
    let mut log_index = None;
    let mut receipts = None;
    if let (Some(writer), Some(vkey)) = (&opts.writer, &verifier) {
        let loggable = Loggable::from_envelope(&envelope, &out.display().to_string())?;
        let no_witnesses = WitnessPolicy::default();
        let logged = writer.append(&loggable, &ReceiptCheck { vkey: Some(vkey), witnesses: &no_witnesses })?;
        store.set_batch_index(&batch_id, logged.index)?;
        log_index = Some(logged.index);
        let dir = opts.receipts.clone().unwrap_or_else(|| store.root.join(RECEIPTS_DIR));
        write_receipts(&store, &batch_id, &origin, &vkey.to_string(), &dir)?;
        receipts = Some(dir);
    }
    let samples =
        inputs.iter().zip(commitments).map(|(file, commitment)| Taken { file: file.clone(), commitment }).collect();
    Ok(IntakeOutcome { batch_id, root, envelope: out, envelope_digest, log_index, receipts, samples })
}

/// What `forget` erased.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Forgotten {
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub commitment: Sha256Digest,
    /// The salt and the sample's hash were erased from the index.
    pub salt_erased: bool,
    /// The stored bytes were deleted (false: another commitment still names the same bytes).
    pub file_deleted: bool,
    /// The receipts glassbox wrote for this sample and deleted (each holds the salt): in the
    /// store's `receipts/` and in every `--receipts` directory the store noted.
    pub receipts_deleted: Vec<PathBuf>,
    /// Receipts glassbox wrote that are still there, and why each was not deleted. Copies made
    /// by anyone else (the customer's, a backup) are not glassbox's to know.
    pub receipts_left: Vec<ReceiptLeft>,
}

/// A receipt `forget` did not delete.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReceiptLeft {
    pub path: PathBuf,
    pub why: String,
}

/// Erasure: deletes the sample's salt and hash, its stored bytes unless another commitment
/// names them, and its receipt from `<store>/receipts/` and every directory its batch's
/// receipts were written to. An unknown commitment and one already forgotten are errors
/// naming it.
pub fn forget(store: &mut SampleStore, commitment: &Sha256Digest) -> Result<Forgotten> {
    let record = store
        .lookup(commitment)?
        .ok_or_else(|| Error::invalid(commitment.hex(), "no sample with this commitment is in the store"))?;
    if is_forgotten(&record) {
        return Err(Error::invalid(commitment.hex(), "already forgotten"));
    }
    if !store.forget(commitment)? {
        return Err(Error::invalid(commitment.hex(), "already forgotten"));
    }
    let file_deleted = fs::symlink_metadata(store.sample_path(&record.sha256)).is_err();
    let mut dirs =
        vec![fs::canonicalize(store.root.join(RECEIPTS_DIR)).unwrap_or_else(|_| store.root.join(RECEIPTS_DIR))];
    for dir in store.receipt_dirs(&record.batch_id)? {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let (mut receipts_deleted, mut receipts_left) = (Vec::new(), Vec::new());
    for dir in dirs {
        let path = dir.join(format!("{}.json", commitment.hex()));
        match remove_receipt(&dir, commitment) {
            Ok(true) => receipts_deleted.push(path),
            Ok(false) => {}
            Err(why) => receipts_left.push(ReceiptLeft { path, why }),
        }
    }
    Ok(Forgotten { commitment: *commitment, salt_erased: true, file_deleted, receipts_deleted, receipts_left })
}

/// Deletes `<dir>/<commitment>.json` if it is the receipt glassbox wrote there: a regular file
/// (no link followed, in the directory opened once) that reads as the receipt of this
/// commitment. `Ok(false)`: there is none. `Err`: why a file there was left alone.
fn remove_receipt(dir: &Path, commitment: &Sha256Digest) -> std::result::Result<bool, String> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    use rustix::io::Errno;
    let name = format!("{}.json", commitment.hex());
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir_fd = match rustix::fs::open(dir, flags | OFlags::DIRECTORY, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        Err(Errno::LOOP | Errno::NOTDIR) => {
            return Err("its directory is now a symbolic link or not a directory".into())
        }
        Err(e) => return Err(format!("its directory cannot be opened ({e})")),
    };
    let fd = match rustix::fs::openat(&dir_fd, &name, flags | OFlags::NONBLOCK, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        Err(Errno::LOOP) => return Err("it is a symbolic link, not the receipt glassbox wrote".into()),
        Err(e) => return Err(format!("it cannot be opened ({e})")),
    };
    let file = fs::File::from(fd);
    let is_file = file.metadata().map_err(|e| format!("it cannot be read ({e})"))?.file_type().is_file();
    if !is_file {
        return Err("it is not a regular file, not the receipt glassbox wrote".into());
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_RECEIPT_BYTES + 1), &mut bytes)
        .map_err(|e| format!("it cannot be read ({e})"))?;
    let receipt: Option<Receipt> = serde_json::from_slice(&bytes).ok();
    if receipt.is_none_or(|r| r.commitment() != Some(*commitment)) {
        return Err("it is not the receipt of this commitment: left alone".into());
    }
    rustix::fs::unlinkat(&dir_fd, &name, AtFlags::empty()).map_err(|e| format!("it cannot be deleted ({e})"))?;
    rustix::fs::fsync(&dir_fd).map_err(|e| format!("deleted, but the directory cannot be synced ({e})"))?;
    Ok(true)
}
