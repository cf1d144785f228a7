//! Checking a log from its static files. `verify` authenticates every hash tile against the
//! signed checkpoint (each full tile hashes to its node in the tile above; the partial edge and
//! the top give the checkpoint's root) and checks consistency with an older checkpoint;
//! `verify_with_bundles` (`glassbox log verify`) also checks every entry and envelope bundle.
//! `audit` also recomputes every leaf from the entry bundles and checks every stored envelope
//! against its entry (and, with trusted keys, every signature).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;

use super::entry::{LogEntry, Loggable};
use super::store::{LogDir, TileReader};
use crate::attest::dsse::pae;
use crate::attest::Envelope;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::tlog::checkpoint::{self, Checkpoint};
use crate::tlog::merkle::{self, NodeSource};
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::tiles::{TILE_HEIGHT, TILE_WIDTH};

/// Witnesses a checkpoint must carry: `threshold` distinct witness keys (by public key: one
/// key listed twice, or under two names, is one witness).
#[derive(Clone, Debug, Default)]
pub struct WitnessPolicy {
    pub witnesses: Vec<NoteVerifier>,
    pub threshold: usize,
}

/// What a verification established.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub origin: String,
    /// The checkpoint's size: the log's number of entries.
    pub size: u64,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub root: Sha256Digest,
    /// Full and partial hash tiles authenticated.
    pub tiles: u64,
    /// Names of the witnesses whose cosignatures verified.
    pub cosigned_by: Vec<String>,
    /// The older size the log was shown to extend, with `--old`.
    pub consistent_with: Option<u64>,
    /// Entries recomputed from their bundles (`log verify` and audit).
    pub entries: u64,
    /// Stored envelopes checked (`log verify` and audit).
    pub envelopes: u64,
    /// The entries the subject index covers, when `log audit` recomputed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_index: Option<u64>,
}

/// Parses a signed checkpoint and checks the log's signature and the witness policy. A note
/// that does not parse or verify is a definite "no".
pub fn authenticate_checkpoint(
    bytes: &[u8],
    origin: &str,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
) -> Result<(Note, Checkpoint, Vec<String>)> {
    let note = Note::parse(bytes).map_err(|e| Error::rejected(origin, format!("not a signed note ({e})")))?;
    if !note.verified_by(log_key) {
        return Err(Error::rejected(origin, format!("checkpoint is not signed by the log key {}", log_key.name)));
    }
    let checkpoint =
        Checkpoint::parse(&note.text).map_err(|e| Error::rejected(origin, format!("not a checkpoint ({e})")))?;
    if checkpoint.origin != log_key.name {
        return Err(Error::rejected(
            origin,
            format!("origin {:?} is not the key's name {:?}", checkpoint.origin, log_key.name),
        ));
    }
    // Count keys, not names or lines: the same key under two names is still one witness.
    let mut keys: Vec<&PublicKey> = Vec::new();
    let mut cosigned_by = Vec::new();
    for w in &witnesses.witnesses {
        if !keys.iter().any(|k| k.as_bytes() == w.key.as_bytes()) && checkpoint::verify_cosignature(&note, w).is_some()
        {
            keys.push(&w.key);
            cosigned_by.push(w.name.clone());
        }
    }
    if cosigned_by.len() < witnesses.threshold {
        return Err(Error::rejected(
            origin,
            format!("cosigned by {} of the required {} witnesses", cosigned_by.len(), witnesses.threshold),
        ));
    }
    Ok((note, checkpoint, cosigned_by))
}

/// Verifies the log at `dir` against `log_key`: the checkpoint, every tile, and with `old` (a
/// signed checkpoint seen earlier) that the log only grew since.
pub fn verify(dir: &LogDir, log_key: &NoteVerifier, witnesses: &WitnessPolicy, old: Option<&[u8]>) -> Result<Verified> {
    verify_checking(dir, log_key, witnesses, old, false)
}

/// `glassbox log verify`: [`verify`], then every entry bundle against the leaves of the
/// authenticated level-0 tiles and every stored envelope against the digest its entry names,
/// so that a changed byte in any file the checkpoint covers is a "no" (bundles read and hashed
/// on all cores). What it leaves to [`audit`]: whether each envelope describes what its entry
/// says, and the signatures.
pub fn verify_with_bundles(
    dir: &LogDir,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
    old: Option<&[u8]>,
) -> Result<Verified> {
    verify_checking(dir, log_key, witnesses, old, true)
}

fn verify_checking(
    dir: &LogDir,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
    old: Option<&[u8]>,
    bundles: bool,
) -> Result<Verified> {
    let path = dir.checkpoint_path();
    let bytes = dir.read_checkpoint_bytes()?;
    let (_, checkpoint, cosigned_by) =
        authenticate_checkpoint(&bytes, &path.display().to_string(), log_key, witnesses)?;
    let tree = dir.tree(checkpoint.size);
    let tiles = authenticate_tree(dir, &tree, &checkpoint)?;
    let mut verified = Verified {
        origin: checkpoint.origin.clone(),
        size: checkpoint.size,
        root: Sha256Digest(checkpoint.root),
        tiles,
        cosigned_by,
        consistent_with: None,
        entries: 0,
        envelopes: 0,
        subject_index: None,
    };
    if bundles {
        let leaves: Vec<Vec<crate::tlog::Hash>> = (0..checkpoint.size.div_ceil(TILE_WIDTH))
            .map(|n| tree.tile(0, n).map(|t| t.to_vec()))
            .collect::<Result<_>>()?;
        check_bundles(dir, checkpoint.size, &leaves)?;
        (verified.entries, verified.envelopes) = (checkpoint.size, checkpoint.size);
    }
    if let Some(old_bytes) = old {
        let (_, old_cp, _) =
            authenticate_checkpoint(old_bytes, "--old checkpoint", log_key, &WitnessPolicy::default())?;
        check_consistent(dir, &old_cp, &checkpoint)?;
        verified.consistent_with = Some(old_cp.size);
    }
    Ok(verified)
}

/// Every entry bundle of a tree of `size` entries against `leaves` (the authenticated level-0
/// tiles, one per bundle) and every stored envelope against the digest its entry names.
fn check_bundles(dir: &LogDir, size: u64, leaves: &[Vec<crate::tlog::Hash>]) -> Result<()> {
    use rayon::prelude::*;
    leaves.par_iter().enumerate().try_for_each(|(n, tile)| {
        let start = n as u64 * TILE_WIDTH;
        let end = (start + TILE_WIDTH).min(size);
        let entries = dir.entries(start, end, size)?;
        for (k, entry) in entries.iter().enumerate() {
            if tile.get(k) != Some(&merkle::leaf_hash(entry)) {
                let at = format!("entry {}", start + k as u64);
                return Err(Error::rejected(at, "its bundle does not hash to the leaf in the tile"));
            }
        }
        let envelopes = dir.envelopes(start, end, size)?;
        let bundle = dir.file(&LogDir::envelopes_path(n as u64, end - start));
        for (k, (entry, line)) in entries.iter().zip(&envelopes).enumerate() {
            let at = format!("entry {}", start + k as u64);
            let named = LogEntry::parse(entry, &at)?.envelope_digest();
            if named != Some(Sha256Digest::of(line)) {
                return Err(Error::rejected(
                    format!("{} ({at})", bundle.display()),
                    "the stored envelope does not hash to the entry's digest",
                ));
            }
        }
        Ok(())
    })
}

/// Proves from the (authenticated) tiles that `new` extends `old`.
pub fn check_consistent(dir: &LogDir, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
    if old.size > new.size {
        return Err(Error::rejected(
            "checkpoint",
            format!("size {} is smaller than the {} seen before", new.size, old.size),
        ));
    }
    let proof = merkle::consistency_proof(&dir.tree(new.size), old.size, new.size)?;
    if !merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
        return Err(Error::rejected(
            "checkpoint",
            format!(
                "the tree of size {} does not extend the one of size {} seen before: the log was rewritten",
                new.size, old.size
            ),
        ));
    }
    Ok(())
}

/// Checks every full tile against its node one level up and the root against the checkpoint;
/// returns how many tiles were read.
fn authenticate_tiles(dir: &LogDir, checkpoint: &Checkpoint) -> Result<u64> {
    authenticate_tree(dir, &dir.tree(checkpoint.size), checkpoint)
}

/// [`authenticate_tiles`] through the caller's reader (whose size must be the checkpoint's),
/// which keeps every tile it read, so that later reads through it see the authenticated tiles.
pub fn authenticate_tree(dir: &LogDir, tree: &TileReader<'_>, checkpoint: &Checkpoint) -> Result<u64> {
    if tree.size() != checkpoint.size {
        return Err(Error::invalid(dir.root.display(), "a tile reader of another size than the checkpoint's"));
    }
    let mut count = 0;
    let mut tile_level = 0u8;
    loop {
        let nodes = checkpoint.size >> (u32::from(tile_level) * u32::from(TILE_HEIGHT));
        if nodes == 0 {
            break;
        }
        for index in 0..nodes.div_ceil(TILE_WIDTH) {
            let tile = tree.tile(tile_level, index)?;
            count += 1;
            if tile.len() as u64 == TILE_WIDTH {
                // The node this full tile stands for, as the level above records it.
                let level = (tile_level + 1) * TILE_HEIGHT;
                let above = tree.node(level, index)?;
                if super::store::tile_root(&tile) != above {
                    return Err(Error::rejected(
                        dir.file(&crate::tlog::tiles::tile_path(tile_level, index, TILE_WIDTH)).display(),
                        "hash tile does not match the tile above it",
                    ));
                }
            }
        }
        tile_level += 1;
    }
    let root = merkle::root(tree, checkpoint.size)?;
    if root != checkpoint.root {
        return Err(Error::rejected(dir.root.display(), "the hash tiles do not add up to the checkpoint's root hash"));
    }
    Ok(count)
}

/// The entries the log's checkpoint commits to, for listing: the tiles are authenticated
/// against the checkpoint's root and every entry against its leaf. (The checkpoint's signature
/// is what `verify` adds.)
pub fn committed_entries(dir: &LogDir) -> Result<(Checkpoint, Vec<Vec<u8>>)> {
    let (_, checkpoint) = dir.read_checkpoint()?;
    authenticate_tiles(dir, &checkpoint)?;
    let tree = dir.tree(checkpoint.size);
    let entries = dir.entries(0, checkpoint.size, checkpoint.size)?;
    for (i, entry) in entries.iter().enumerate() {
        let tile = tree.tile(0, i as u64 / TILE_WIDTH)?;
        if merkle::leaf_hash(entry) != tile[i % TILE_WIDTH as usize] {
            return Err(Error::rejected(format!("entry {i}"), "its bundle does not hash to the leaf in the tile"));
        }
    }
    Ok((checkpoint, entries))
}

/// `verify`, then every entry read from the entry bundles (bundles read and hashed on all
/// cores) and checked to hash to the checkpoint's root: from then on, what an entry says is
/// what the log says. Shared by `verify`'s policy and `sample audit`.
pub fn authenticated_entries(
    dir: &LogDir,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
) -> Result<(Verified, Vec<Vec<u8>>)> {
    use rayon::prelude::*;
    let verified = verify(dir, log_key, witnesses, None)?;
    let size = verified.size;
    // Chunks of 16 bundles: enough work per task, few tasks.
    let chunk = 16 * TILE_WIDTH;
    let read: Vec<(Vec<Vec<u8>>, Vec<crate::tlog::Hash>)> = (0..size.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let entries = dir.entries(c * chunk, ((c + 1) * chunk).min(size), size)?;
            let leaves = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
            Ok((entries, leaves))
        })
        .collect::<Result<_>>()?;
    let mut entries = Vec::with_capacity(size as usize);
    let mut leaves = Vec::with_capacity(size as usize);
    for (e, l) in read {
        entries.extend(e);
        leaves.extend(l);
    }
    if merkle::root_of_leaves(&leaves) != verified.root.0 {
        return Err(Error::rejected(dir.root.display(), "the entry bundles do not hash to the checkpoint's root"));
    }
    Ok((verified, entries))
}

/// `verify`, then every leaf from the entry bundles, every stored envelope, and with
/// `trusted` keys every signature.
pub fn audit(
    dir: &LogDir,
    log_key: &NoteVerifier,
    witnesses: &WitnessPolicy,
    trusted: &[PublicKey],
) -> Result<Verified> {
    let mut verified = verify(dir, log_key, witnesses, None)?;
    let size = verified.size;
    let tree = dir.tree(size);
    // Entries whose signatures fail the --trust keys: all of them are named, not the first.
    let mut untrusted = Vec::new();
    let mut index = 0u64;
    while index < size {
        let end = (index + TILE_WIDTH).min(size);
        let entries = dir.entries(index, end, size)?;
        let envelopes = dir.envelopes(index, end, size)?;
        let tile = tree.tile(0, index / TILE_WIDTH)?;
        for (offset, (entry, envelope)) in entries.iter().zip(&envelopes).enumerate() {
            let i = index + offset as u64;
            let at = format!("entry {i}");
            if merkle::leaf_hash(entry) != tile[offset] {
                return Err(Error::rejected(&at, "its bundle does not hash to the leaf in the tile"));
            }
            let bundle = dir.file(&LogDir::envelopes_path(i / TILE_WIDTH, (size - i + i % TILE_WIDTH).min(TILE_WIDTH)));
            if let Some(why) = check_envelope(entry, envelope, &at, &bundle.display().to_string(), trusted)? {
                untrusted.push(why);
            }
            verified.envelopes += 1;
        }
        verified.entries += entries.len() as u64;
        index = end;
    }
    if !untrusted.is_empty() {
        const LISTED: usize = 50;
        let more = untrusted.len().saturating_sub(LISTED);
        let mut list = untrusted[..untrusted.len().min(LISTED)].join("; ");
        if more > 0 {
            list.push_str(&format!("; and {more} more"));
        }
        return Err(Error::rejected(
            format!("{} of {size} entries", untrusted.len()),
            format!("a signature is not by a --trust key or does not verify: {list}"),
        ));
    }
    verified.subject_index = super::subject_index::check(dir, log_key, size)?;
    Ok(verified)
}

/// The stored envelope must be exactly the one the entry names and describe the same things
/// (an error otherwise); with `trusted` keys, what is wrong with its signatures, if anything.
fn check_envelope(
    entry_bytes: &[u8],
    line: &[u8],
    at: &str,
    bundle: &str,
    trusted: &[PublicKey],
) -> Result<Option<String>> {
    let entry = LogEntry::parse(entry_bytes, at)?;
    let digest = entry.envelope_digest().ok_or_else(|| Error::rejected(at, "names no envelope digest"))?;
    let origin = format!("{bundle} ({at})");
    if Sha256Digest::of(line) != digest {
        return Err(Error::rejected(&origin, "the stored envelope does not hash to the entry's digest"));
    }
    let line = std::str::from_utf8(line).map_err(|_| Error::rejected(&origin, "the stored envelope is not UTF-8"))?;
    let described = Loggable::from_line(line, &origin).map_err(|e| Error::rejected(at, e.to_string()))?;
    if described.entry_bytes != entry_bytes {
        return Err(Error::rejected(&origin, "the envelope does not match its entry"));
    }
    if !trusted.is_empty() {
        let envelope: Envelope =
            serde_json::from_str(line).map_err(|e| Error::rejected(&origin, format!("not a DSSE envelope ({e})")))?;
        return Ok(check_signatures(&envelope, trusted).map(|why| format!("{origin}: {why}")));
    }
    Ok(None)
}

/// Every signature of `envelope`, each on its own, with the key id rules of formats.md
/// section 6: a non-empty key id must be a trusted key's and the signature must verify with
/// that key; an empty key id is tried against every trusted key. Stricter than DSSE's
/// threshold rule (which ignores signatures that do not verify) on purpose: an audit asks
/// whether every signature in the log is good, so a bogus signature naming a trusted key id
/// beside a valid one is an error, not noise.
fn check_signatures(envelope: &Envelope, trusted: &[PublicKey]) -> Option<String> {
    let Ok(payload) = envelope.payload_bytes() else {
        return Some("the payload is not base64".to_string());
    };
    let message = pae(&envelope.payload_type, &payload);
    for (n, sig) in envelope.signatures.iter().enumerate() {
        let which = || format!("signature {} (key id {:?})", n + 1, sig.keyid.chars().take(64).collect::<String>());
        let keys: Vec<&PublicKey> =
            trusted.iter().filter(|k| sig.keyid.is_empty() || k.key_id().as_str() == sig.keyid).collect();
        if keys.is_empty() {
            return Some(format!("{} is not by a --trust key", which()));
        }
        let valid = BASE64.decode(&sig.sig).is_ok_and(|bytes| keys.iter().any(|k| k.verify(&message, &bytes)));
        if !valid {
            return Some(format!("{} does not verify with the --trust key it names", which()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::tlog::checkpoint::cosign;

    #[test]
    fn a_witness_key_counts_once_whatever_its_names() {
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let witness = PrivateKey::from_seed(&[2; 32]);
        let checkpoint = Checkpoint { origin: "o".into(), size: 0, root: merkle::EMPTY_ROOT, extensions: vec![] };
        let mut note = checkpoint.sign(&log_key).unwrap();
        for name in ["w1", "w2"] {
            note.add_signature(cosign(&note.text, name, &witness, 1_700_000_000));
        }
        let log = NoteVerifier::ed25519("o", &log_key.public());
        let as_w1 = NoteVerifier::cosignature_v1("w1", &witness.public());
        let as_w2 = NoteVerifier::cosignature_v1("w2", &witness.public());
        for witnesses in [vec![as_w1.clone(), as_w1.clone()], vec![as_w1.clone(), as_w2]] {
            let twice = WitnessPolicy { witnesses, threshold: 2 };
            let err = authenticate_checkpoint(&note.to_bytes(), "cp", &log, &twice).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{err}");
        }
        let once = WitnessPolicy { witnesses: vec![as_w1], threshold: 1 };
        assert_eq!(authenticate_checkpoint(&note.to_bytes(), "cp", &log, &once).unwrap().2, ["w1"]);
    }

    /// formats.md section 15, "Checkpoint tolerance": extension lines and signature lines of
    /// unknown keys are accepted (and ignored); a failing line of a known key is not.
    #[test]
    fn spec_checkpoint_tolerance() {
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let witness = PrivateKey::from_seed(&[2; 32]);
        let stranger = PrivateKey::from_seed(&[3; 32]);
        let log = NoteVerifier::ed25519("o", &log_key.public());
        let as_w = NoteVerifier::cosignature_v1("w", &witness.public());
        let none = WitnessPolicy::default();
        let one = WitnessPolicy { witnesses: vec![as_w.clone()], threshold: 1 };
        let ok = |note: &Note, w: &WitnessPolicy| authenticate_checkpoint(&note.to_bytes(), "cp", &log, w);

        // 1. Extension lines after the root: signed over, kept, and ignored by glassbox.
        let extended = Checkpoint {
            origin: "o".into(),
            size: 0,
            root: merkle::EMPTY_ROOT,
            extensions: vec!["ext one".into(), "— looks like a signature".into()],
        };
        let mut note = extended.sign(&log_key).unwrap();
        note.add_signature(cosign(&note.text, "w", &witness, 1_700_000_000));
        let (_, parsed, cosigned) = ok(&note, &one).unwrap();
        assert_eq!((parsed.extensions.len(), cosigned), (2, vec!["w".to_string()]));

        // 2. Signature lines of unknown keys, before and after the log's: ignored. That includes
        //    a key with the log's name but another key id, one with the witness's id under
        //    another name, a signature type glassbox does not know, and a 5-byte signature.
        let plain = Checkpoint { extensions: vec![], ..extended };
        let mut note = plain.sign(&log_key).unwrap();
        let log_sig = note.signatures[0].clone();
        let w_sig = cosign(&note.text, "w", &witness, 1_700_000_000);
        let strangers = [
            crate::tlog::note::NoteSignature::ed25519(&note.text, "o", &stranger),
            crate::tlog::note::NoteSignature { name: "other".into(), ..w_sig.clone() },
            crate::tlog::note::NoteSignature { name: "pq.example/key".into(), key_hash: [9; 4], sig: vec![7; 4000] },
            crate::tlog::note::NoteSignature { name: "tiny".into(), key_hash: [1; 4], sig: vec![0] },
        ];
        note.signatures =
            strangers.iter().cloned().chain([log_sig.clone(), w_sig.clone()]).chain(strangers.clone()).collect();
        let reparsed = Note::parse(&note.to_bytes()).unwrap();
        assert_eq!(ok(&reparsed, &one).unwrap().2, ["w"]);

        // 3. A second line naming the log's key that fails: the note is refused (exit 1).
        let mut twice = plain.sign(&log_key).unwrap();
        twice.signatures.push(crate::tlog::note::NoteSignature { sig: vec![0; 64], ..log_sig });
        assert_eq!(ok(&twice, &none).unwrap_err().exit_code(), 1);

        // 4. A failing line naming a witness: that witness does not count (the threshold decides).
        let mut bad_witness = plain.sign(&log_key).unwrap();
        bad_witness.signatures.push(w_sig.clone());
        bad_witness.signatures.push(crate::tlog::note::NoteSignature { sig: vec![0; 72], ..w_sig });
        assert!(ok(&bad_witness, &none).unwrap().2.is_empty());
        assert_eq!(ok(&bad_witness, &one).unwrap_err().exit_code(), 1);
    }
}
