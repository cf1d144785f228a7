//! What the site shows, read authenticated: the log (checkpoint verified with the policy's
//! vkey, every entry against its leaf, every envelope shown against the digest its entry
//! names), the statements of the attestations directory and of the log, the releases they
//! describe, and the statement record (docs/formats.md section 19) of each statement shown.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::attest::dsse::pae;
use crate::attest::{Envelope, REVIEW_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::keys::{verify_batch, BatchItem, KeyId};
use crate::policy::evidence::{inputs_lenient, Collected, Found};
use crate::policy::{LogPolicy, TrustedKey};
use crate::tlog::checkpoint::verify_cosignature;
use crate::tlog::note::Note;
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::audit::{authenticated_entries, Verified, WitnessPolicy};
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::{LogDir, LogEntry};

/// The authenticated log.
pub struct Log {
    pub dir: LogDir,
    pub verified: Verified,
    /// Shared with the verdicts' reader of the log.
    pub entries: std::sync::Arc<Vec<LogEntry>>,
    /// (offset of the length prefix in its bundle, entry length), per entry.
    pub spans: Vec<(u64, u64)>,
    /// Envelope digest → the first index naming it.
    pub index: BTreeMap<Sha256Digest, u64>,
    /// The newest verified cosignature time of a policy witness (Unix seconds).
    pub newest_cosignature: Option<u64>,
    /// The envelope bundles, all read when the log is opened; shared with the verdicts' and
    /// the custody audit's readers.
    pub bundles: EnvelopeBundles,
}

impl Log {
    /// Verifies the log at `path` with the policy's `[log]` section, or refuses it (exit 2),
    /// naming it. Also returns the authenticated entries' bytes, for the verdicts and the
    /// custody audit: the log is read and verified once, so all three see the same checkpoint.
    pub fn open(dir: &LogDir, lp: &LogPolicy) -> Result<(Log, Vec<Vec<u8>>)> {
        let path = &dir.root;
        let dir = dir.clone();
        let witnesses = WitnessPolicy { witnesses: lp.witnesses.clone(), threshold: lp.witness_threshold };
        let refuse = |e: Error| Error::invalid(path.display(), format!("the log does not verify: {e}"));
        let (verified, raw) = authenticated_entries(&dir, &lp.vkey, &witnesses).map_err(refuse)?;
        let note = Note::parse(&dir.read_checkpoint_bytes().map_err(refuse)?).map_err(refuse)?;
        let newest_cosignature = lp.witnesses.iter().filter_map(|w| verify_cosignature(&note, w)).max();
        use rayon::prelude::*;
        let entries: Vec<LogEntry> = raw
            .par_iter()
            .enumerate()
            .map(|(i, bytes)| LogEntry::parse(bytes, &format!("log entry {i}")))
            .collect::<Result<_>>()
            .map_err(refuse)?;
        let mut spans = Vec::with_capacity(raw.len());
        let mut index = BTreeMap::new();
        let mut offset = 0u64;
        for (i, (bytes, entry)) in raw.iter().zip(&entries).enumerate() {
            if (i as u64).is_multiple_of(TILE_WIDTH) {
                offset = 0;
            }
            spans.push((offset, bytes.len() as u64));
            offset += 2 + bytes.len() as u64;
            let digest = entry.envelope_digest().ok_or_else(|| {
                refuse(Error::rejected(format!("log entry {i}"), "names no envelope as sha256:<64 hex>"))
            })?;
            index.entry(digest).or_insert(i as u64);
        }
        // Nearly every bundle is wanted (the statements are spread through the log, and the
        // custody audit reads every custody envelope): all are read at once, on all cores.
        let bundles = EnvelopeBundles::default();
        bundles.read_all(&dir, verified.size).map_err(refuse)?;
        Ok((Log { dir, verified, entries: entries.into(), spans, index, newest_cosignature, bundles }, raw))
    }

    /// The stored envelope line of entry `i`, checked against the digest the entry names.
    pub fn envelope_line(&self, i: u64) -> Result<Vec<u8>> {
        let lines = self.bundle_of(i)?;
        let line = lines.get((i % TILE_WIDTH) as usize).map(Vec::as_slice).unwrap_or_default();
        self.check_line(i, line)?;
        Ok(line.to_vec())
    }

    /// Where entry `i`'s envelope line is in its envelope bundle (`envelopes/<N>[.p/<W>]`): the
    /// byte offset and the length without the LF, the line checked as [`Log::envelope_line`]
    /// checks it (and neither copied nor decoded). The browser reads it from the log by that range.
    pub fn envelope_span(&self, i: u64) -> Result<(u64, u64)> {
        let lines = self.bundle_of(i)?;
        let at = ((i % TILE_WIDTH) as usize).min(lines.len());
        let line = lines.get(at).map(Vec::as_slice).unwrap_or_default();
        self.check_line(i, line)?;
        Ok((lines[..at].iter().map(|l| l.len() as u64 + 1).sum(), line.len() as u64))
    }

    /// Fails unless `line` hashes to the envelope digest entry `i` names.
    fn check_line(&self, i: u64, line: &[u8]) -> Result<()> {
        let named = self.entries.get(i as usize).and_then(LogEntry::envelope_digest);
        if named != Some(Sha256Digest::of(line)) {
            return Err(Error::invalid(
                self.dir.root.display(),
                format!("the log does not verify: the stored envelope of entry {i} is not the one its entry names"),
            ));
        }
        Ok(())
    }

    fn bundle_of(&self, i: u64) -> Result<std::sync::Arc<Vec<Vec<u8>>>> {
        self.bundles
            .bundle_of(&self.dir, i, self.verified.size)
            .map_err(|e| Error::invalid(self.dir.root.display(), format!("the log's envelopes cannot be read: {e}")))
    }
}

/// One statement the site shows.
#[derive(Clone, Debug)]
pub struct Shown {
    pub found: Found,
    /// The envelope's line: the logged bytes, or the directory's compact line.
    pub line: Vec<u8>,
    /// The decoded payload, for claims.
    pub payload: Value,
    pub log_index: Option<u64>,
    /// The ids of the policy's keys (builders, rebuilders, reviewers) with a valid signature on
    /// the envelope, in the policy's order: every signature is checked once for the whole site
    /// ([`check_signers`]), not once per page that shows it.
    pub signed_by: Vec<KeyId>,
}

/// Every provenance, verdict and review in the directory (`collected`, as `evidence::collect`
/// read it) or the log, once each (by envelope digest), directory first, in a sorted order.
pub fn statements(collected: &Collected, log: &Log, keys: &[TrustedKey]) -> Result<Vec<Shown>> {
    let mut collected = collected.clone();
    let wanted = [SLSA_PROVENANCE_V1, SLSA_VSA_V1, REVIEW_V1];
    let logged: Vec<u64> = (0..log.entries.len() as u64)
        .filter(|&i| wanted.contains(&log.entries[i as usize].predicate_type.as_str()))
        .collect();
    let mut lines: BTreeMap<Sha256Digest, Vec<u8>> = BTreeMap::new();
    let mut from_log = Collected::default();
    // Every envelope already read (a set: `Collected::holds` scans, and a log of 100,000
    // statements made that quadratic).
    let mut known: std::collections::BTreeSet<Sha256Digest> = collected.found.iter().map(|f| f.digest).collect();
    known.extend(collected.undecodable.iter().map(|u| u.envelope.digest()));
    let mut unread = Vec::new();
    for i in logged {
        let Some(digest) = log.entries[i as usize].envelope_digest() else { continue };
        if known.insert(digest) {
            unread.push((i, digest));
        }
    }
    // Read and decoded on all cores, then added in log order.
    use rayon::prelude::*;
    let read: Vec<(Vec<u8>, Option<Envelope>)> = unread
        .par_iter()
        .map(|&(i, _)| {
            let line = log.envelope_line(i)?;
            // The log holds only compact envelope lines; one that is not an envelope is not shown.
            let envelope = serde_json::from_slice::<Envelope>(&line).ok();
            Ok((line, envelope))
        })
        .collect::<Result<_>>()?;
    let mut envelopes = Vec::new();
    for (&(i, digest), (line, envelope)) in unread.iter().zip(read) {
        envelopes.extend(envelope.map(|e| (e, format!("log entry {i}"))));
        lines.insert(digest, line);
    }
    from_log.add_all(envelopes);
    collected.found.extend(from_log.found);
    let mut seen = std::collections::BTreeSet::new();
    let chosen: Vec<(Found, Vec<u8>)> = collected
        .found
        .into_iter()
        .filter(|f| wanted.contains(&f.statement.predicate_type.as_str()) && seen.insert(f.digest))
        .map(|f| {
            let line = lines.remove(&f.digest).unwrap_or_else(|| f.envelope.to_line().into_bytes());
            (f, line)
        })
        .collect();
    let mut out: Vec<Shown> = chosen
        .into_par_iter()
        .map(|(found, line)| {
            let payload = found.envelope.payload_bytes().ok().and_then(|p| serde_json::from_slice(&p).ok());
            let log_index = log.index.get(&found.digest).copied();
            Shown { found, line, payload: payload.unwrap_or(Value::Null), log_index, signed_by: Vec::new() }
        })
        .collect();
    check_signers(&mut out, keys);
    Ok(out)
}

/// Sets each statement's [`Shown::signed_by`]: which of `keys` made one of its signatures, as
/// [`Envelope::verified_by`] says (a signature counts for a key when its key id is empty or
/// names that key, and it verifies). The signatures are checked in batches on all cores; a
/// batch that fails is checked again one by one, so a bad signature costs only time.
fn check_signers(shown: &mut [Shown], keys: &[TrustedKey]) {
    use rayon::prelude::*;
    let mut distinct: Vec<&TrustedKey> = Vec::new();
    for k in keys {
        if !distinct.iter().any(|d| d.id == k.id) {
            distinct.push(k);
        }
    }
    shown.par_chunks_mut(256).for_each(|chunk| {
        // (statement in the chunk, key, signature) for every signature that may be the key's.
        let messages: Vec<Option<Vec<u8>>> = chunk
            .iter()
            .map(|s| s.found.envelope.payload_bytes().ok().map(|p| pae(&s.found.envelope.payload_type, &p)))
            .collect();
        let mut candidates: Vec<(usize, usize, [u8; 64])> = Vec::new();
        for (i, s) in chunk.iter().enumerate() {
            if messages[i].is_none() {
                continue;
            }
            for sig in &s.found.envelope.signatures {
                let Some(bytes) = BASE64.decode(&sig.sig).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
                    continue;
                };
                for (k, key) in distinct.iter().enumerate() {
                    if sig.keyid.is_empty() || sig.keyid == key.id.as_str() {
                        candidates.push((i, k, bytes));
                    }
                }
            }
        }
        let message = |i: usize| messages[i].as_deref().unwrap_or_default();
        let items: Vec<BatchItem<'_>> = candidates
            .iter()
            .map(|&(i, k, signature)| BatchItem { message: message(i), signature, key: &distinct[k].key })
            .collect();
        let all_good = verify_batch(&items);
        let mut valid: Vec<Vec<usize>> = vec![Vec::new(); chunk.len()];
        for &(i, k, signature) in &candidates {
            if all_good || distinct[k].key.verify(message(i), &signature) {
                valid[i].push(k);
            }
        }
        for (s, mut ks) in chunk.iter_mut().zip(valid) {
            ks.sort_unstable();
            ks.dedup();
            s.signed_by = ks.into_iter().map(|k| distinct[k].id.clone()).collect();
        }
    });
}

/// A statement record (formats.md section 19).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub row: String,
    pub log_index: Option<u64>,
    pub envelope: String,
    /// The site's copy, for statements a page links to; else `envelope_span` says where the
    /// line is in the log's envelope bundle.
    pub envelope_url: Option<String>,
    pub envelope_offset: Option<u64>,
    pub envelope_length: Option<u64>,
    pub entry_offset: Option<u64>,
    pub entry_length: Option<u64>,
    /// The role the keys are trusted for (`builder`, `rebuilder`, `reviewer`, `center`,
    /// `requester`, `gateway`): the signer cell says it.
    pub role: String,
    pub keys: Vec<RecordKey>,
    pub claims: Vec<Claim>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    pub keyid: String,
    pub public_key: String,
    /// The key's name ([`key_name`] of its file as the policy names it), which the signer cell
    /// shows.
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    pub path: String,
    pub value: Value,
}

/// The row id of a statement: its envelope digest.
pub fn row_id(digest: &Sha256Digest) -> String {
    format!("s-{}", digest.hex())
}

/// The site path of an envelope's copy.
pub fn envelope_url(digest: &Sha256Digest) -> String {
    format!("envelopes/{}.json", digest.hex())
}

/// The record of a statement with these claims (paths into `payload`; a path the payload
/// does not have is not claimed, as the page then prints nothing for it).
pub fn record(
    log: &Log,
    digest: &Sha256Digest,
    index: Option<u64>,
    (role, keys): (&str, &[&TrustedKey]),
    payload: &Value,
    paths: &[String],
) -> Record {
    let span = index.and_then(|i| log.spans.get(i as usize));
    Record {
        row: row_id(digest),
        log_index: index,
        envelope: digest.hex(),
        envelope_url: Some(envelope_url(digest)),
        envelope_offset: None,
        envelope_length: None,
        entry_offset: span.map(|s| s.0),
        entry_length: span.map(|s| s.1),
        role: role.to_string(),
        keys: keys
            .iter()
            .map(|k| RecordKey {
                keyid: k.id.to_string(),
                public_key: BASE64.encode(k.key.as_bytes()),
                name: key_name(&k.path),
            })
            .collect(),
        claims: paths
            .iter()
            .filter_map(|p| at_path(payload, p).map(|v| Claim { path: p.clone(), value: v.clone() }))
            .collect(),
    }
}

/// The value at a dot-separated path of object keys and array indices.
pub fn at_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|n| a.get(n)),
        _ => None,
    })
}

/// The string at a path, or "".
pub fn str_at<'v>(value: &'v Value, path: &str) -> &'v str {
    at_path(value, path).and_then(Value::as_str).unwrap_or_default()
}

/// One release: a component, version and target, and the statements about it.
#[derive(Clone, Debug)]
pub struct Release {
    pub component: String,
    pub version: String,
    pub target: String,
    /// The page's file stem: `<component>-<version>-<target>` when that is a plain file name,
    /// else `release-<digest>` so that no name from a statement becomes a path.
    pub file: String,
    /// Indices into the shown statements: provenances, verdicts, reviews (each sorted).
    pub provenances: Vec<usize>,
    pub verdicts: Vec<usize>,
    pub reviews: Vec<usize>,
}

/// Whether `name` may be a file name on the site.
pub fn plain_file_name(name: &str) -> bool {
    !name.starts_with('.') && name.len() <= 200 && plain_release_name(name)
}

/// Whether `part` (a component, version or target) may be part of a release's name
/// `<component> <version> (<target>)`, which must read back as one release and look like no
/// other: ASCII letters, digits, `.`, `_`, `+` and `-` (what cargo's package names, semver and
/// target triples use). With a space, `a 1.0` version `2.0` and `a` version `1.0 2.0` read the
/// same; a tab, a no-break or zero-width space, a control character or a combining mark draws
/// like another name, and so does a bracket drawn right to left. verify.js names no release of
/// any other character either (formats.md section 19).
pub fn plain_release_name(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// The releases the provenances describe, sorted by component, version and target.
pub fn releases(shown: &[Shown]) -> Vec<Release> {
    let mut by_name: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for (n, s) in shown.iter().enumerate() {
        if s.found.statement.predicate_type != SLSA_PROVENANCE_V1 {
            continue;
        }
        let target = str_at(&s.payload, "predicate.buildDefinition.externalParameters.target");
        let suffix = format!("-{target}.tar.gz");
        let stem = s.found.statement.subject.iter().find_map(|d| d.name.as_deref()?.strip_suffix(&suffix));
        let Some((component, version)) = stem.and_then(crate::review::sign::split_stem) else { continue };
        if ![&component, &version, target].iter().all(|part| plain_release_name(part)) {
            continue;
        }
        by_name.entry((component, version, target.to_string())).or_default().push(n);
    }
    // Verdicts by the digests they name (input attestations, and for a verdict that is not
    // PASSED its subjects too, each read leniently as `inputs_lenient` and `mentions` read them)
    // and reviews by their source digest: each release looks its statements up instead of
    // scanning them all. A PASSED verdict is about the provenance it names, as the policy counts
    // it: one naming only an artifact another release shares is not this release's rebuild; a
    // failure is negative evidence about every artifact it names.
    let mut verdicts_naming: BTreeMap<Sha256Digest, Vec<usize>> = BTreeMap::new();
    let mut verdicts_on: BTreeMap<Sha256Digest, Vec<usize>> = BTreeMap::new();
    let mut reviews_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (n, s) in shown.iter().enumerate() {
        let statement = &s.found.statement;
        if statement.predicate_type == SLSA_VSA_V1 {
            if str_at(&s.payload, "predicate.verificationResult") != "PASSED" {
                for digest in statement.subject.iter().filter_map(|d| d.sha256_lenient()) {
                    verdicts_naming.entry(digest).or_default().push(n);
                }
            }
            for digest in inputs_lenient(statement) {
                verdicts_on.entry(digest).or_default().push(n);
            }
        } else if statement.predicate_type == REVIEW_V1 {
            reviews_of.entry(str_at(&s.payload, "subject.0.digest.sha256")).or_default().push(n);
        }
    }
    let mut out = Vec::new();
    for ((component, version, target), provenances) in by_name {
        let stem = format!("{component}-{version}-{target}");
        let file = if plain_file_name(&stem) {
            stem
        } else {
            format!("release-{}", &Sha256Digest::of(format!("{component}\0{version}\0{target}").as_bytes()).hex()[..32])
        };
        let subjects =
            provenances.iter().flat_map(|&p| shown[p].found.statement.subject.iter().filter_map(|d| d.sha256()));
        let provenance_digests = provenances.iter().map(|&p| shown[p].found.digest);
        let mut verdicts: Vec<usize> = (subjects.filter_map(|d| verdicts_naming.get(&d)))
            .chain(provenance_digests.filter_map(|d| verdicts_on.get(&d)))
            .flatten()
            .copied()
            .collect();
        verdicts.sort_unstable();
        verdicts.dedup();
        let sources: std::collections::BTreeSet<&str> = provenances
            .iter()
            .map(|&p| str_at(&shown[p].payload, "predicate.buildDefinition.externalParameters.source.digest.sha256"))
            .filter(|s| !s.is_empty())
            .collect();
        let mut reviews: Vec<usize> = sources.iter().filter_map(|s| reviews_of.get(s)).flatten().copied().collect();
        reviews.sort_unstable();
        reviews.dedup();
        out.push(Release { component, version, target, file, provenances, verdicts, reviews });
    }
    out
}

impl Shown {
    /// The ids in [`Shown::signed_by`] of `keys` (one role's keys).
    pub fn signed_by_one_of(&self, keys: &[TrustedKey]) -> Vec<KeyId> {
        self.signed_by.iter().filter(|id| keys.iter().any(|k| k.id == **id)).cloned().collect()
    }
}

/// What glassbox thinks of a statement's signature: the trusted key of the role that signed it
/// (the first of `keys`, a role's keys, that [`Shown::signed_by`] names).
pub fn signer<'k>(shown: &Shown, keys: &'k [TrustedKey]) -> Option<&'k TrustedKey> {
    keys.iter().find(|k| shown.signed_by.contains(&k.id))
}

/// A trusted signer as its row's signer cell prints it (verify.js writes the same text from the
/// record's key that verifies, whose id it computes): the key id's first 16 hex digits, which no
/// one can grind a key to match (8 would take a core-hour), and the key's name.
pub fn trusted_signer(key: &TrustedKey, role: &str) -> String {
    format!("{} ({}), trusted {role}", signer_id(&key.id), key_name(&key.path))
}

/// The first 16 hex digits of a key id, as signer cells show it.
pub fn signer_id(id: &crate::keys::KeyId) -> &str {
    id.as_str().get(..16).unwrap_or(id.as_str())
}

/// A key's name on the site: the file name of its path in the policy without the directory or
/// the extension (`keys/r1.pub` is `r1`), so that no operator's path is published.
pub fn key_name(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
    if stem.is_empty() { file } else { stem }.to_string()
}

/// The signer as a row prints it.
pub fn describe_signer(shown: &Shown, keys: &[TrustedKey], role: &str) -> String {
    match signer(shown, keys) {
        Some(k) => trusted_signer(k, role),
        None => {
            let named: Vec<String> =
                shown.found.envelope.signatures.iter().map(|s| s.keyid.chars().take(16).collect::<String>()).collect();
            format!("NOT signed by a key the policy trusts as {role} (key ids named: {})", named.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_file_names() {
        let v = serde_json::json!({"subject": [{"digest": {"sha256": "ab"}}], "predicate": {"x": 1}});
        assert_eq!(at_path(&v, "subject.0.digest.sha256"), Some(&Value::from("ab")));
        assert_eq!(at_path(&v, "predicate.x"), Some(&Value::from(1)));
        assert_eq!(at_path(&v, "subject.1"), None);
        // A key's name on the site: no directory, no extension.
        for (path, name) in
            [("keys/r1.pub", "r1"), ("/srv/center/keys/gateway.pub", "gateway"), ("w.vkey", "w"), (".pub", ".pub")]
        {
            assert_eq!(key_name(path), name, "{path}");
        }
        for ok in ["avscan-0.1.0-x86_64-unknown-linux-gnu", "a+b_c"] {
            assert!(plain_file_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a<b", "a b"] {
            assert!(!plain_file_name(bad), "{bad}");
        }
    }

    /// tests/vectors/release-grouping.json: the statements each release's page shows, which
    /// verify.js must tie to that release (tests/browser/ed25519.mjs checks the same vectors).
    #[test]
    fn releases_group_as_the_shared_vectors_say() {
        let vectors: Value = serde_json::from_str(include_str!("../../tests/vectors/release-grouping.json")).unwrap();
        let key = crate::keys::PrivateKey::from_seed(&[7; 32]);
        let mut ids = Vec::new();
        let mut shown = Vec::new();
        for s in vectors["statements"].as_array().unwrap() {
            ids.push(s["id"].as_str().unwrap());
            let statement: crate::attest::Statement<Value> = serde_json::from_value(s["statement"].clone()).unwrap();
            let envelope = statement.sign(&key);
            // The digest a log would name the envelope by: the vectors give it.
            let digest = Sha256Digest::from_hex(s["envelope"].as_str().unwrap()).unwrap();
            let found = Found { location: ids[ids.len() - 1].to_string(), envelope, digest, statement };
            let payload = s["statement"].clone();
            shown.push(Shown { found, line: Vec::new(), payload, log_index: None, signed_by: Vec::new() });
        }
        let releases = releases(&shown);
        let expected = vectors["releases"].as_array().unwrap();
        assert_eq!(releases.len(), expected.len());
        for (r, want) in releases.iter().zip(expected) {
            let name = &want["release"];
            assert_eq!(
                (r.component.as_str(), r.version.as_str(), r.target.as_str()),
                (
                    name["component"].as_str().unwrap(),
                    name["version"].as_str().unwrap(),
                    name["target"].as_str().unwrap()
                )
            );
            let mut members: Vec<&str> =
                r.provenances.iter().chain(&r.verdicts).chain(&r.reviews).map(|&n| ids[n]).collect();
            let mut wanted: Vec<&str> =
                want["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
            members.sort_unstable();
            wanted.sort_unstable();
            assert_eq!(members, wanted, "{} {}", r.component, r.version);
        }
    }
}
