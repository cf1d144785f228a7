//! Sample receipts: what the center hands back to the customer for each sample taken in
//! (`<commitment>.json`, docs/formats.md section 17). A receipt opens the commitment (its salt)
//! and says where the commitment is in the public log (the intake batch's entry and the
//! inclusion proof of the commitment in that batch's root), so that the customer alone can ask
//! the log whether the file left ([`crate::custody`]'s lookup).
//!
//! This module writes receipts for a batch once the batch is in the log, finds the batches
//! that were appended later (`sample receipts`), computes a stored sample's [`IntakeRef`] for
//! requests, and reads receipts strictly.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::commitment::{parse_salt, proves, BatchTree, Salt};
use super::statements::prefixed;
use super::store::{is_forgotten, SampleStore};
use crate::attest::custody::IntakeRef;
use crate::digest::{hex_encode, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::tlog::note::NoteVerifier;
use crate::transparency::audit::{verify, WitnessPolicy};
use crate::transparency::LogDir;

/// The receipt's `_type`.
pub const RECEIPT_TYPE: &str = crate::attest::SAMPLE_RECEIPT_V1;
/// The default receipts directory, under the store.
pub const RECEIPTS_DIR: &str = "receipts";
/// The largest receipt read: a proof has at most 64 hashes, so a few kilobytes suffice.
pub const MAX_RECEIPT_BYTES: u64 = 64 << 10;

/// One sample's receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    #[serde(rename = "_type")]
    pub type_: String,
    /// 64 lowercase hex.
    pub commitment: String,
    /// 64 lowercase hex: opens the commitment.
    pub salt: String,
    pub log: ReceiptLog,
    pub intake: IntakeRef,
}

/// The log the receipt's intake batch is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLog {
    pub origin: String,
    /// The log's verifier key (`<origin>+<hash>+<key>`).
    pub vkey: String,
}

impl Receipt {
    /// The commitment, if it is 64 lowercase hex (always, for a receipt [`read_receipt`] read).
    pub fn commitment(&self) -> Option<Sha256Digest> {
        Sha256Digest::from_hex(&self.commitment)
    }

    /// The salt, if it is 64 lowercase hex (always, for a receipt [`read_receipt`] read).
    pub fn salt(&self) -> Option<Salt> {
        parse_salt(&self.salt)
    }
}

/// Where a stored sample's commitment is in the log: its batch's entry and the inclusion proof
/// in the batch root (rebuilt from the store's rows of the batch and checked against the root
/// the batch row records). Invalid (exit 2) if the store does not hold the sample, has
/// forgotten it, or its batch is not in the log yet.
pub fn intake_ref(store: &SampleStore, commitment: &Sha256Digest) -> Result<IntakeRef> {
    let record = store.lookup(commitment)?.ok_or_else(|| {
        Error::invalid(
            commitment.hex(),
            format!(
                "no sample with this commitment is in the sample store at {}",
                crate::text::escape(&store.root.display().to_string())
            ),
        )
    })?;
    if is_forgotten(&record) {
        return Err(Error::invalid(commitment.hex(), "this sample was forgotten (erased from the store)"));
    }
    let (tree, log_index, envelope) = batch_tree(store, &record.batch_id)?;
    let log_index = log_index.ok_or_else(|| {
        Error::invalid(
            commitment.hex(),
            format!(
                "its intake batch {} is not in the log yet: append it, then run `sample receipts`",
                record.batch_id
            ),
        )
    })?;
    intake_ref_in(&tree, log_index, &envelope, commitment).ok_or_else(|| {
        Error::invalid(
            store.db_path().display(),
            format!("batch {} does not hold {}", record.batch_id, commitment.hex()),
        )
    })
}

/// A batch's tree, log index and envelope digest, the tree checked against the batch's row.
fn batch_tree(store: &SampleStore, batch_id: &str) -> Result<(BatchTree, Option<u64>, Sha256Digest)> {
    let batch = store
        .batch(batch_id)?
        .ok_or_else(|| Error::invalid(store.db_path().display(), format!("batch {batch_id} has no row")))?;
    let tree = BatchTree::new(store.batch_commitments(batch_id)?)?;
    if tree.root() != batch.root || tree.len() != batch.size {
        return Err(Error::invalid(
            store.db_path().display(),
            format!("the rows of batch {batch_id} do not add up to its recorded root"),
        ));
    }
    Ok((tree, batch.log_index, batch.envelope))
}

fn intake_ref_in(tree: &BatchTree, log_index: u64, envelope: &Sha256Digest, c: &Sha256Digest) -> Option<IntakeRef> {
    let leaf = tree.position(c)?;
    Some(IntakeRef {
        log_index,
        envelope: envelope.prefixed(),
        batch_root: tree.root().hex(),
        batch_size: tree.len(),
        leaf_index: leaf,
        proof: tree.proof(leaf).ok()?.iter().map(Sha256Digest::hex).collect(),
    })
}

/// Writes the receipt of every sample of batch `batch_id` the store still holds into `dir`
/// (`<commitment>.json`). The batch must be in the log. Returns the receipts written. Each
/// receipt is written to a temporary file and renamed into place; one `syncfs` at the end
/// makes them all durable (a batch of 100,000 receipts must not cost 200,000 fsyncs).
pub fn write_receipts(
    store: &SampleStore,
    batch_id: &str,
    origin: &str,
    vkey: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let (tree, log_index, envelope) = batch_tree(store, batch_id)?;
    let log_index = log_index.ok_or_else(|| {
        Error::invalid(format!("batch {batch_id}"), "is not in the log yet: no receipt can say where")
    })?;
    let salts = batch_salts(store, batch_id)?;
    std::fs::create_dir_all(dir).at(dir)?;
    // Noted before the first receipt is written: each holds a salt, and `forget` must find it
    // wherever it went.
    let absolute = std::fs::canonicalize(dir).at(dir)?;
    store.record_receipt_dir(batch_id, &absolute)?;
    let mut written = Vec::new();
    for c in tree.commitments() {
        let Some(salt) = salts.get(c) else { continue };
        let intake = intake_ref_in(&tree, log_index, &envelope, c)
            .ok_or_else(|| Error::invalid(store.db_path().display(), format!("batch {batch_id} lost {}", c.hex())))?;
        let receipt = Receipt {
            type_: RECEIPT_TYPE.to_string(),
            commitment: c.hex(),
            salt: hex_encode(salt),
            log: ReceiptLog { origin: origin.to_string(), vkey: vkey.to_string() },
            intake,
        };
        let path = dir.join(format!("{}.json", c.hex()));
        // Mode 0644: the receipt is the customer's. Its salt opens only this commitment, and
        // only for someone who also has the file (the commitment hides sha256(file), not the
        // file): handing it to the customer who sent the file tells them nothing new, and it is
        // what lets them find their sample in the public log.
        let mut tmp = tempfile::Builder::new()
            .prefix(".glassbox-tmp-")
            .permissions(std::fs::Permissions::from_mode(0o644))
            .tempfile_in(dir)
            .at(dir)?;
        tmp.write_all(crate::json::to_pretty(&receipt).as_bytes()).at(tmp.path())?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        written.push(path);
    }
    let handle = std::fs::File::open(dir).at(dir)?;
    rustix::fs::syncfs(&handle).map_err(|e| Error::io(dir, e.into()))?;
    Ok(written)
}

/// The salts of a batch's samples the store still holds, by commitment (one query).
fn batch_salts(store: &SampleStore, batch_id: &str) -> Result<HashMap<Sha256Digest, Salt>> {
    let mut stmt =
        store.db.prepare("SELECT commitment, salt FROM samples WHERE batch_id = ?1").map_err(|e| store.err(e))?;
    let rows = stmt
        .query_map([batch_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| store.err(e))?;
    let mut out = HashMap::new();
    for row in rows {
        let (c, salt) = row.map_err(|e| store.err(e))?;
        let bad = || Error::invalid(store.db_path().display(), format!("the row of commitment {c} is corrupt"));
        let (c, salt) = (Sha256Digest::from_hex(&c).ok_or_else(bad)?, parse_salt(&salt).ok_or_else(bad)?);
        // A forgotten sample's salt is erased (all zero): it gets no receipt.
        if salt != [0; 32] {
            out.insert(c, salt);
        }
    }
    Ok(out)
}

/// What `sample receipts` did for one batch.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReceipts {
    pub batch_id: String,
    /// Its log index, if it is in the log now.
    pub log_index: Option<u64>,
    pub receipts: u64,
}

/// `sample receipts`: verifies the log's checkpoint with `vkey`, finds each batch not yet known
/// to be in the log by its envelope's digest, records its index and writes its receipts into
/// `dir`. Batches still not in the log are reported with no index.
pub fn logged_receipts(
    store: &SampleStore,
    log: &LogDir,
    vkey: &NoteVerifier,
    dir: &Path,
) -> Result<Vec<BatchReceipts>> {
    let verified = verify(log, vkey, &WitnessPolicy::default(), None)?;
    let tree = log.tree(verified.size);
    let mut stmt = store
        .db
        .prepare("SELECT batch_id, envelope FROM batches WHERE log_index IS NULL ORDER BY rowid")
        .map_err(|e| store.err(e))?;
    let pending: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| store.err(e))?
        .collect::<rusqlite::Result<_>>()
        .map_err(|e| store.err(e))?;
    drop(stmt);
    let mut out = Vec::new();
    for (batch_id, envelope) in pending {
        let digest = Sha256Digest::from_hex(&envelope).ok_or_else(|| {
            Error::invalid(store.db_path().display(), format!("the envelope digest of batch {batch_id} is corrupt"))
        })?;
        match log.find_logged(&tree, &verified.root.0, &digest)? {
            Some(index) => {
                store.set_batch_index(&batch_id, index)?;
                let written = write_receipts(store, &batch_id, &verified.origin, &vkey.to_string(), dir)?;
                out.push(BatchReceipts { batch_id, log_index: Some(index), receipts: written.len() as u64 });
            }
            None => out.push(BatchReceipts { batch_id, log_index: None, receipts: 0 }),
        }
    }
    Ok(out)
}

/// Reads a receipt strictly: a regular file of at most [`MAX_RECEIPT_BYTES`], exactly the
/// receipt's fields, the right `_type`, every digest 64 lowercase hex, a verifier key named by
/// the origin, and an inclusion proof that proves the commitment in the batch root it names.
pub fn read_receipt(path: &Path) -> Result<Receipt> {
    let text = crate::fs::read_regular_text(path, MAX_RECEIPT_BYTES)?;
    let bad = |why: String| Error::invalid(path.display(), why);
    let receipt: Receipt = serde_json::from_str(&text).map_err(|e| bad(format!("not a sample receipt ({e})")))?;
    if receipt.type_ != RECEIPT_TYPE {
        return Err(bad(format!("_type is {:?}, not {RECEIPT_TYPE:?}", receipt.type_)));
    }
    let commitment = Sha256Digest::from_hex(&receipt.commitment)
        .ok_or_else(|| bad("commitment is not 64 lowercase hex digits".into()))?;
    parse_salt(&receipt.salt).ok_or_else(|| bad("salt is not 64 lowercase hex digits".into()))?;
    let vkey = NoteVerifier::parse(&receipt.log.vkey).map_err(|e| bad(format!("log.vkey: {e}")))?;
    if vkey.name != receipt.log.origin {
        return Err(bad(format!("log.vkey is named {:?}, not the log.origin {:?}", vkey.name, receipt.log.origin)));
    }
    let i = &receipt.intake;
    if prefixed(&i.envelope).is_none()
        || Sha256Digest::from_hex(&i.batch_root).is_none()
        || i.proof.len() > 64
        || i.proof.iter().any(|h| Sha256Digest::from_hex(h).is_none())
    {
        return Err(bad("intake: an envelope, root or proof digest is malformed".into()));
    }
    if !proves(i, &commitment) {
        return Err(bad("intake: the inclusion proof does not prove the commitment in the batch root".into()));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::commitment::{commit, fresh_salt};

    fn receipt() -> (Receipt, String) {
        let salts: Vec<Salt> = (0..5).map(|_| fresh_salt()).collect();
        let cs: Vec<_> = salts.iter().enumerate().map(|(i, s)| commit(s, &Sha256Digest::of(&[i as u8]))).collect();
        let tree = BatchTree::new(cs.clone()).unwrap();
        let key = crate::keys::PrivateKey::from_seed(&[7; 32]);
        let vkey = NoteVerifier::ed25519("example.com/log", &key.public()).to_string();
        let intake = intake_ref_in(&tree, 3, &Sha256Digest::of(b"envelope"), &cs[2]).unwrap();
        let r = Receipt {
            type_: RECEIPT_TYPE.into(),
            commitment: cs[2].hex(),
            salt: hex_encode(&salts[2]),
            log: ReceiptLog { origin: "example.com/log".into(), vkey },
            intake,
        };
        let text = crate::json::to_pretty(&r);
        (r, text)
    }

    fn read_text(text: &str) -> Result<Receipt> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, text).unwrap();
        read_receipt(&path)
    }

    #[test]
    fn intake_ref_proves_a_held_logged_sample_only() {
        use crate::custody::store::{BatchRecord, SampleRecord};
        let dir = tempfile::tempdir().unwrap();
        let mut store = SampleStore::open(&dir.path().join("store"), true).unwrap();
        let rows: Vec<(Salt, Sha256Digest)> = (0..6u8).map(|i| (fresh_salt(), Sha256Digest::of(&[i]))).collect();
        let commitments: Vec<_> = rows.iter().map(|(s, d)| commit(s, d)).collect();
        let tree = BatchTree::new(commitments.clone()).unwrap();
        let records: Vec<SampleRecord> = rows
            .iter()
            .zip(&commitments)
            .map(|((salt, sha256), c)| SampleRecord {
                commitment: *c,
                sha256: *sha256,
                salt: *salt,
                batch_id: "b".repeat(32),
                leaf_index: tree.position(c).unwrap(),
            })
            .collect();
        let batch = BatchRecord {
            batch_id: "b".repeat(32),
            root: tree.root(),
            size: tree.len(),
            envelope: Sha256Digest::of(b"envelope"),
            log_index: None,
        };
        store.record_batch(&batch, &records).unwrap();
        // Not in the log yet, then logged at index 9.
        assert!(intake_ref(&store, &commitments[1]).unwrap_err().to_string().contains("not in the log yet"));
        store.set_batch_index(&batch.batch_id, 9).unwrap();
        for c in &commitments {
            let r = intake_ref(&store, c).unwrap();
            assert_eq!((r.log_index, r.batch_size, r.envelope.as_str()), (9, 6, batch.envelope.prefixed().as_str()));
            assert!(proves(&r, c));
        }
        assert!(intake_ref(&store, &Sha256Digest::of(b"unknown")).is_err());
        // Forgotten: refused, and the other samples' proofs still compute.
        store.forget(&commitments[2]).unwrap();
        assert!(intake_ref(&store, &commitments[2]).unwrap_err().to_string().contains("forgotten"));
        assert!(proves(&intake_ref(&store, &commitments[3]).unwrap(), &commitments[3]));
        // Receipts: one per sample still held.
        let receipts = dir.path().join("receipts");
        let written = write_receipts(&store, &batch.batch_id, "example.com/log", "v", &receipts).unwrap();
        assert_eq!(written.len(), 5);
        assert!(!receipts.join(format!("{}.json", commitments[2].hex())).exists());
    }

    #[test]
    fn a_written_receipt_reads_back() {
        let (r, text) = receipt();
        assert_eq!(read_text(&text).unwrap(), r);
    }

    #[test]
    fn reading_is_strict() {
        let (r, text) = receipt();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = value.clone();
            f(&mut v);
            read_text(&v.to_string())
        };
        assert!(mutate(&|v| v["extra"] = 1.into()).is_err());
        assert!(mutate(&|v| v["_type"] = "https://example.com/other".into()).is_err());
        assert!(mutate(&|v| v["commitment"] = r.commitment.to_uppercase().into()).is_err());
        assert!(mutate(&|v| v["salt"] = "00".into()).is_err());
        assert!(mutate(&|v| v["log"]["origin"] = "another.example/log".into()).is_err());
        assert!(mutate(&|v| v["intake"]["leafIndex"] = 0.into()).is_err() || r.intake.leaf_index == 0);
        assert!(mutate(&|v| v["intake"]["proof"][0] = "zz".into()).is_err());
        assert!(mutate(&|v| v["intake"]["envelope"] = r.intake.batch_root.clone().into()).is_err());
        assert!(mutate(&|v| v["commitment"] = Sha256Digest::of(b"other").hex().into()).is_err());
        assert!(read_text("{").is_err());
    }
}
