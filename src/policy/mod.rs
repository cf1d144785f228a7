//! The trust policy and `glassbox verify`: which builder keys are trusted, how many independent
//! PASSED rebuild verdicts and reviews are required, and whether everything must be in the
//! transparency log. The policy file is validated strictly: an unknown key or a missing key
//! file is an error that names it.

pub mod evaluate;
pub mod evidence;
mod log;
pub mod samples;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::attest::review::{valid_criteria, SAFE_TO_DEPLOY};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fs::{limits, read_regular_text};
use crate::keys::form::Wanted;
use crate::keys::{KeyId, PublicKey};
use crate::tlog::note::NoteVerifier;

pub use evaluate::{verify, verify_digest, verify_in, Context, Evidence, Requirement, Verdict};
pub use samples::SamplesPolicy;

/// A key the policy trusts, with the path it was given as.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub path: String,
    pub key: PublicKey,
    pub id: KeyId,
}

/// A set of trusted keys and how many of them must vouch.
#[derive(Clone, Debug, Default)]
pub struct Threshold {
    pub keys: Vec<TrustedKey>,
    pub required: usize,
}

/// The log requirement.
#[derive(Clone, Debug)]
pub struct LogPolicy {
    pub vkey: NoteVerifier,
    pub required: bool,
    pub witnesses: Vec<NoteVerifier>,
    pub witness_threshold: usize,
}

/// A loaded, validated policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The policy file, or what names a policy rebuilt from a log entry ([`Policy::from_logged`]).
    pub path: PathBuf,
    /// What "the policy in force" means in a sample request (formats.md section 17, "The policy
    /// digest"): SHA-256 of the policy file's bytes followed by the 32 raw bytes of every key it
    /// trusts, section by section in a fixed order, each list in the text's order (so replacing
    /// a key file behind an unchanged policy changes it too).
    pub digest: Sha256Digest,
    /// The policy file's text.
    pub text: String,
    /// Every key file the text names, by the path the text gives it (relative to the policy's
    /// directory), with the file's text: with `text` it is all a logged policy statement needs
    /// to rebuild this policy.
    pub key_files: BTreeMap<String, String>,
    /// Empty only in a policy that governs samples alone (`verify` then refuses it).
    pub builders: Vec<TrustedKey>,
    pub rebuilds: Threshold,
    pub reviews: Threshold,
    pub review_criteria: String,
    pub log: Option<LogPolicy>,
    pub samples: Option<SamplesPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    builders: Option<RawKeys>,
    #[serde(default)]
    rebuilds: Option<RawThreshold>,
    #[serde(default)]
    reviews: Option<RawReviews>,
    #[serde(default)]
    log: Option<RawLog>,
    #[serde(default)]
    samples: Option<samples::RawSamples>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    keys: Vec<String>,
    required: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReviews {
    keys: Vec<String>,
    required: usize,
    #[serde(default = "default_criteria")]
    criteria: String,
}

fn default_criteria() -> String {
    SAFE_TO_DEPLOY.to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    vkey: String,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    witness_threshold: usize,
}

fn yes() -> bool {
    true
}

impl Policy {
    /// Reads and validates a policy file; key paths are relative to its directory. The file
    /// and every key file must be small regular files (no FIFO, no device).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = read_regular_text(path, limits::POLICY)?;
        Policy::parse(&text, path)
    }

    /// Validates the text of the policy file at `path` (key paths are relative to its
    /// directory). Errors name the policy, the section and the entry, never a file's contents.
    pub fn parse(text: &str, path: &Path) -> Result<Policy> {
        let base = path.parent().unwrap_or(Path::new("."));
        Policy::parse_with(text, path, &KeyFiles { source: KeySource::Dir(base), read: RefCell::default() })
    }

    /// Rebuilds a policy from its text and the key files it names (path as the text gives it →
    /// the file's text), as a logged policy statement carries them: nothing is read from disk.
    /// Every entry of `keys` must be named by the text. `origin` names the policy in errors.
    pub fn from_logged(text: &str, keys: &BTreeMap<String, String>, origin: &str) -> Result<Policy> {
        let files = KeyFiles { source: KeySource::Logged(keys), read: RefCell::default() };
        let policy = Policy::parse_with(text, Path::new(origin), &files)?;
        if let Some(extra) = keys.keys().find(|k| !policy.key_files.contains_key(*k)) {
            return Err(Error::invalid(origin, format!("key file {extra:?} is not named by the policy")));
        }
        Ok(policy)
    }

    fn parse_with(text: &str, path: &Path, files: &KeyFiles<'_>) -> Result<Policy> {
        let origin = path.display().to_string();
        // The reason and the line, never the quoted line: the file may hold anything.
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(String::new(), |r| {
                format!("line {}: ", text.get(..r.start).unwrap_or_default().matches('\n').count() + 1)
            });
            Error::invalid(&origin, format!("{line}{}", e.message().trim().replace('\n', " ")))
        })?;
        let keys = |section: &str, list: &[String]| load_keys(files, &origin, section, list);
        let threshold = |section: &str, keys: Vec<TrustedKey>, required: usize| -> Result<Threshold> {
            if required > keys.len() {
                return Err(Error::invalid(
                    format!("{origin}: [{section}] required"),
                    format!("{required} is more than the {} keys listed", keys.len()),
                ));
            }
            Ok(Threshold { keys, required })
        };
        let builders = match &raw.builders {
            Some(b) => keys("builders", &b.keys)?,
            None if raw.samples.is_some() => Vec::new(),
            None => return Err(Error::invalid(&origin, "has no [builders] section: nothing could be accepted")),
        };
        if builders.is_empty() && raw.builders.is_some() {
            return Err(Error::invalid(
                format!("{origin}: [builders] keys"),
                "lists no key: nothing could be accepted",
            ));
        }
        let rebuilds = match raw.rebuilds {
            Some(r) => threshold("rebuilds", keys("rebuilds", &r.keys)?, r.required)?,
            None => Threshold::default(),
        };
        // A builder vouching for its own build is not an independent rebuild.
        for b in &builders {
            if let Some(r) = rebuilds.keys.iter().find(|r| r.id == b.id) {
                return Err(Error::invalid(
                    format!("{origin}: [builders] key {:?} and [rebuilds] key {:?}", b.path, r.path),
                    "are the same key: a builder cannot be its own independent rebuilder",
                ));
            }
        }
        let (reviews, review_criteria) = match raw.reviews {
            Some(r) => {
                if !valid_criteria(&r.criteria) {
                    return Err(Error::invalid(
                        format!("{origin}: [reviews] criteria"),
                        format!("{:?} is not a criteria name", r.criteria),
                    ));
                }
                (threshold("reviews", keys("reviews", &r.keys)?, r.required)?, r.criteria)
            }
            None => (Threshold::default(), default_criteria()),
        };
        let log = match raw.log {
            Some(l) => Some(log_policy(files, &origin, l)?),
            None => None,
        };
        let samples = match raw.samples {
            Some(raw) => {
                if log.is_none() {
                    return Err(Error::invalid(
                        format!("{origin}: [samples]"),
                        "needs a [log] section: the gateway releases only what the log holds",
                    ));
                }
                Some(samples::parse(raw, files, &origin)?)
            }
            None => None,
        };
        let digest = policy_digest(text, &builders, &rebuilds, &reviews, log.as_ref(), samples.as_ref());
        Ok(Policy {
            path: path.to_path_buf(),
            digest,
            text: text.to_string(),
            key_files: files.read.take(),
            builders,
            rebuilds,
            reviews,
            review_criteria,
            log,
            samples,
        })
    }
}

/// Where a policy's key files come from, and every one read so far (by the path the text
/// gives it).
pub(crate) struct KeyFiles<'a> {
    source: KeySource<'a>,
    read: RefCell<BTreeMap<String, String>>,
}

enum KeySource<'a> {
    /// Files relative to the policy file's directory.
    Dir(&'a Path),
    /// The key files a logged policy statement carries.
    Logged(&'a BTreeMap<String, String>),
}

impl KeyFiles<'_> {
    /// The text of key file `rel`; the error names the file and never quotes it.
    fn read(&self, rel: &str) -> std::result::Result<String, String> {
        let text = match &self.source {
            KeySource::Dir(base) => read_regular_text(&base.join(rel), limits::KEY_FILE).map_err(|e| e.to_string())?,
            KeySource::Logged(map) => match map.get(rel) {
                Some(t) if t.len() as u64 <= limits::KEY_FILE => t.clone(),
                Some(_) => return Err(format!("key file {rel:?} is larger than {} bytes", limits::KEY_FILE)),
                None => return Err(format!("key file {rel:?} is not among the statement's keys")),
            },
        };
        self.read.borrow_mut().insert(rel.to_string(), text.clone());
        Ok(text)
    }

    /// How to name key file `rel` in a message.
    fn name(&self, rel: &str) -> String {
        match &self.source {
            KeySource::Dir(base) => base.join(rel).display().to_string(),
            KeySource::Logged(_) => format!("key file {rel:?}"),
        }
    }
}

/// See [`Policy::digest`]: the text's bytes, then the keys of `[builders]`, `[rebuilds]`,
/// `[reviews]`, `[log] vkey`, `[log] witnesses`, `[samples] centers`, `gateways`, each
/// requester, and each approver group's keys (group by group), 32 bytes each.
fn policy_digest(
    text: &str,
    builders: &[TrustedKey],
    rebuilds: &Threshold,
    reviews: &Threshold,
    log: Option<&LogPolicy>,
    samples: Option<&SamplesPolicy>,
) -> Sha256Digest {
    let mut bytes = text.as_bytes().to_vec();
    let mut add = |k: &PublicKey| bytes.extend_from_slice(k.as_bytes());
    builders.iter().chain(&rebuilds.keys).chain(&reviews.keys).for_each(|k| add(&k.key));
    if let Some(l) = log {
        std::iter::once(&l.vkey).chain(&l.witnesses).for_each(|v| add(&v.key));
    }
    if let Some(s) = samples {
        s.centers.iter().chain(&s.gateways).for_each(|k| add(&k.key));
        s.requesters.iter().for_each(|r| add(&r.key.key));
        s.approvers.iter().flat_map(|g| &g.keys).for_each(|k| add(&k.key));
    }
    Sha256Digest::of(&bytes)
}

/// Loads the public key files `list` (relative to `base`) of policy section `section`, refusing
/// a missing, private or repeated key with an error that names the entry.
fn load_keys(files: &KeyFiles<'_>, origin: &str, section: &str, list: &[String]) -> Result<Vec<TrustedKey>> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for rel in list {
        let key =
            trusted_key(files, rel).map_err(|why| Error::invalid(format!("{origin}: [{section}] key {rel:?}"), why))?;
        let id = key.key_id();
        if let Some(first) = out.iter().find(|k| k.id == id) {
            return Err(Error::invalid(
                format!("{origin}: [{section}]"),
                format!("key {rel:?} is listed twice (it is the key of {:?})", first.path),
            ));
        }
        out.push(TrustedKey { path: rel.clone(), key, id });
    }
    Ok(out)
}

/// A public key file named by the policy: a small regular file holding an SPKI PEM. A private
/// key is refused (it has no business beside a policy) without a byte of it in the message.
fn trusted_key(files: &KeyFiles<'_>, rel: &str) -> std::result::Result<PublicKey, String> {
    let text = files.read(rel)?;
    if text.contains("PRIVATE KEY") {
        return Err(format!("{} is a private key: the policy needs the public key (.pub)", files.name(rel)));
    }
    PublicKey::from_pem(&text, &files.name(rel)).map_err(|e| e.to_string())
}

fn log_policy(files: &KeyFiles<'_>, origin: &str, l: RawLog) -> Result<LogPolicy> {
    let vkey = verifier(files, &l.vkey, Wanted::LogVerifier, "[log] vkey")
        .map_err(|why| Error::invalid(format!("{origin}: [log] vkey"), why))?;
    let mut witnesses: Vec<NoteVerifier> = Vec::new();
    for (n, w) in l.witnesses.iter().enumerate() {
        let what = || format!("{origin}: [log] witnesses[{n}]");
        let verifier = verifier(files, w, Wanted::WitnessVerifier, "[log] witnesses")
            .map_err(|why| Error::invalid(what(), why))?;
        // One key is one witness, whatever name or file it is given under.
        if let Some(first) = witnesses.iter().position(|v| v.key.as_bytes() == verifier.key.as_bytes()) {
            return Err(Error::invalid(what(), format!("is the key of witnesses[{first}]: a witness is listed twice")));
        }
        witnesses.push(verifier);
    }
    if l.witness_threshold > witnesses.len() {
        return Err(Error::invalid(
            format!("{origin}: [log] witness_threshold"),
            format!("{} is more than the {} witnesses listed", l.witness_threshold, witnesses.len()),
        ));
    }
    Ok(LogPolicy { vkey, required: l.required, witnesses, witness_threshold: l.witness_threshold })
}

/// A note verifier key given as a string or as a file holding one. The rule (formats.md
/// section 17): a value that is a verifier key (`<name>+<8 hex key id>+<base64 key>`, section
/// 15) is the key itself; any other value is the path of a file, relative to the policy, whose
/// text (surrounding white space trimmed) must be one. The file system is never consulted to
/// tell the two apart. The error names the file (or says the value) and why, and never quotes
/// either: a private key given by mistake must not reach a CI log.
fn verifier(
    files: &KeyFiles<'_>,
    value: &str,
    wanted: Wanted,
    field: &str,
) -> std::result::Result<NoteVerifier, String> {
    if value.contains("PRIVATE KEY") || value.starts_with("PRIVATE+KEY+") {
        return Err("the value is a private key, not a verifier key (<name>+<key id>+<key>)".into());
    }
    if let Ok(v) = NoteVerifier::parse(value) {
        // A witness's key where the log's is wanted, or the other way round.
        return match crate::keys::form::mismatch(value, wanted, field) {
            Some(why) => Err(format!("the value: {why}")),
            None => Ok(v),
        };
    }
    let text = files.read(value).map_err(|why| format!("is neither a verifier key nor a readable key file: {why}"))?;
    let what = files.name(value);
    let text = text.trim();
    if text.contains("PRIVATE KEY") {
        return Err(format!("{what} is a private key, not a verifier key (<name>+<key id>+<key>)"));
    }
    if let Some(why) = crate::keys::form::mismatch(text, wanted, field) {
        return Err(format!("{what}: {why}"));
    }
    NoteVerifier::parse(text).map_err(|e| match e {
        // The reason says what is wrong; the error's subject would quote the text.
        Error::Invalid { reason, .. } => format!("{what} is not a verifier key: {reason}"),
        _ => format!("{what} is not a verifier key"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn dir_with_keys() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        PrivateKey::from_seed(&[1; 32]).write_pair(&dir.path().join("vendor")).unwrap();
        PrivateKey::from_seed(&[2; 32]).write_pair(&dir.path().join("r1")).unwrap();
        let w = PrivateKey::from_seed(&[3; 32]).public();
        for (file, name) in [("w.vkey", "w.example"), ("w2.vkey", "w2.example")] {
            std::fs::write(dir.path().join(file), NoteVerifier::cosignature_v1(name, &w).to_string()).unwrap();
        }
        let log = NoteVerifier::ed25519("log.example", &PrivateKey::from_seed(&[4; 32]).public());
        std::fs::write(dir.path().join("log.vkey"), log.to_string()).unwrap();
        dir
    }

    fn load(dir: &Path, text: &str) -> Result<Policy> {
        std::fs::write(dir.join("policy.toml"), text).unwrap();
        Policy::load(&dir.join("policy.toml"))
    }

    #[test]
    fn loads_and_refuses_strictly() {
        let dir = dir_with_keys();
        let p =
            load(dir.path(), "[builders]\nkeys = [\"vendor.pub\"]\n[rebuilds]\nkeys = [\"r1.pub\"]\nrequired = 1\n")
                .unwrap();
        assert_eq!((p.builders.len(), p.rebuilds.required, p.reviews.required), (1, 1, 0));
        for (text, needle) in [
            ("[builders]\nkeys = [\"vendor.pub\"]\nextra = 1\n", "extra"),
            ("[builders]\nkeys = [\"missing.pub\"]\n", "missing.pub"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[rebuilds]\nkeys = [\"r1.pub\"]\nrequired = 2\n", "required"),
            ("[builders]\nkeys = []\n", "[builders] keys"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"nope.vkey\"\n", "nope.vkey"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[rebuilds]\nkeys = [\"vendor.pub\"]\nrequired = 1\n", "own independent"),
            ("[builders]\nkeys = [\"vendor.key\"]\n", "is a private key"),
            ("[builders]\nkeys = [\"/dev/zero\"]\n", "not a regular file"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"r1.key\"\n", "is a private key"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"log.vkey\"\nwitnesses = [\"w.vkey\", \"w2.vkey\"]\n", "listed twice"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"w.vkey\"\n", "this is a witness's verifier key"),
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"log.vkey\"\nwitnesses = [\"log.vkey\"]\n", "[log] witnesses wants a witness's"),
            ("[builders]\nkeys = [\"vendor.pub\"]\nx = \"-----BEGIN PRIVATE KEY-----\"\n", "line 3"),
        ] {
            let err = load(dir.path(), text).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("policy.toml"), "{needle}: {err}");
            assert!(!err.contains("BEGIN"), "{err}");
        }
    }

    /// The policy digest's test vector (formats.md section 17): a custody policy with every
    /// kind of key, each from a fixed seed.
    fn vector_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, seed) in [("b", 1u8), ("center", 2), ("gateway", 3), ("req", 4), ("a1", 5), ("a2", 6)] {
            PrivateKey::from_seed(&[seed; 32]).write_pair(&dir.path().join(name)).unwrap();
        }
        let log = NoteVerifier::ed25519("log.example", &PrivateKey::from_seed(&[7; 32]).public());
        let w = NoteVerifier::cosignature_v1("w.example", &PrivateKey::from_seed(&[8; 32]).public());
        std::fs::write(dir.path().join("log.vkey"), format!("{log}\n")).unwrap();
        std::fs::write(dir.path().join("policy.toml"), VECTOR_POLICY.replace("W_VKEY", &w.to_string())).unwrap();
        dir
    }

    const VECTOR_POLICY: &str = "[builders]\nkeys = [\"b.pub\"]\n\n[log]\nvkey = \"log.vkey\"\n\
        witnesses = [\"W_VKEY\"]\n\n[samples]\ncenters = [\"center.pub\"]\ngateways = [\"gateway.pub\"]\n\
        reasons = [\"r\"]\ndestinations = [\"d\"]\nrequest_lifetime = \"1d\"\n\n[[samples.requesters]]\n\
        key = \"req.pub\"\nrole = \"analyst\"\ncountry = \"CH\"\n\n[[samples.approvers]]\ngroup = \"g\"\n\
        keys = [\"a2.pub\", \"a1.pub\"]\nrequired = 1\n";

    /// Computed by Python's hashlib from the files alone (the SPKI DER's last 32 bytes of each
    /// `.pub`, the base64 key after the type byte of each verifier key): SHA-256 of the policy
    /// file, then b, log, w, center, gateway, req, a2, a1.
    const PY_POLICY_DIGEST: &str = "c9ac6279dc97dea3c47b46661858cc561bdd825264db8ea52e3cc9c08dfa9c4e";

    #[test]
    fn the_policy_digest_matches_an_independent_computation() {
        let dir = vector_dir();
        let p = Policy::load(&dir.path().join("policy.toml")).unwrap();
        assert_eq!(p.digest.hex(), PY_POLICY_DIGEST);
    }

    #[test]
    fn a_logged_policy_rebuilds_from_its_text_and_keys_alone() {
        let dir = vector_dir();
        let p = Policy::load(&dir.path().join("policy.toml")).unwrap();
        // The witness is written in place, the log key is a file: only files are key files.
        assert_eq!(
            p.key_files.keys().collect::<Vec<_>>(),
            ["a1.pub", "a2.pub", "b.pub", "center.pub", "gateway.pub", "log.vkey", "req.pub"]
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let rebuilt =
            Policy::from_logged(&p.text, &p.key_files, &elsewhere.path().join("x").display().to_string()).unwrap();
        assert_eq!(rebuilt.digest, p.digest);
        // A key the text does not name, or one missing, is refused; a changed key changes the digest.
        let mut extra = p.key_files.clone();
        extra.insert("extra.pub".into(), extra["b.pub"].clone());
        let err = Policy::from_logged(&p.text, &extra, "logged").unwrap_err().to_string();
        assert!(err.contains("extra.pub") && err.contains("not named"), "{err}");
        let mut missing = p.key_files.clone();
        missing.remove("req.pub");
        let err = Policy::from_logged(&p.text, &missing, "logged").unwrap_err().to_string();
        assert!(err.contains("req.pub"), "{err}");
        let mut swapped = p.key_files.clone();
        swapped.insert("a1.pub".into(), PrivateKey::from_seed(&[9; 32]).public().to_pem());
        assert_ne!(Policy::from_logged(&p.text, &swapped, "logged").unwrap().digest, p.digest);
    }

    #[test]
    fn a_vkey_value_is_a_key_when_it_reads_as_one_and_a_path_otherwise() {
        let dir = vector_dir();
        let vkey = std::fs::read_to_string(dir.path().join("log.vkey")).unwrap().trim().to_string();
        let text = std::fs::read_to_string(dir.path().join("policy.toml")).unwrap();
        // The same key in place: the same key, and no key file.
        let inline = text.replace("vkey = \"log.vkey\"", &format!("vkey = {vkey:?}"));
        let p = Policy::parse(&inline, &dir.path().join("policy.toml")).unwrap();
        assert_eq!(p.log.as_ref().unwrap().vkey.key.as_bytes(), NoteVerifier::parse(&vkey).unwrap().key.as_bytes());
        assert!(!p.key_files.contains_key("log.vkey"));
        // Even when a file of that very name exists, a verifier key is read as the key.
        std::fs::create_dir_all(dir.path().join(vkey.split('/').next().unwrap())).ok();
        assert!(Policy::parse(&inline, &dir.path().join("policy.toml")).is_ok());
        // A malformed key is a path, and the missing file is named.
        let bad = text.replace("vkey = \"log.vkey\"", "vkey = \"log.example+00000000+AAAA\"");
        let err = Policy::parse(&bad, &dir.path().join("policy.toml")).unwrap_err().to_string();
        assert!(err.contains("[log] vkey") && err.contains("neither a verifier key nor a readable key file"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const FILES: [&str; 6] = ["vendor.pub", "r1.pub", "r1.key", "w.vkey", "w2.vkey", "missing.pub"];

        fn list(picks: &[usize]) -> String {
            picks.iter().map(|&i| format!("{:?}", FILES[i % FILES.len()])).collect::<Vec<_>>().join(", ")
        }

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(64))]

            /// Any text and any combination of key files: the parser never panics, and what it
            /// accepts keeps every invariant the evaluation relies on.
            #[test]
            fn policies_are_refused_or_consistent(
                builders in proptest::collection::vec(0usize..6, 0..3),
                rebuilds in proptest::collection::vec(0usize..6, 0..3),
                witnesses in proptest::collection::vec(0usize..6, 0..3),
                required in 0usize..3,
                threshold in 0usize..3,
                noise in "\\PC{0,60}",
            ) {
                let dir = dir_with_keys();
                let text = format!(
                    "[builders]\nkeys = [{}]\n[rebuilds]\nkeys = [{}]\nrequired = {required}\n[log]\nvkey = \"log.vkey\"\nwitnesses = [{}]\nwitness_threshold = {threshold}\n",
                    list(&builders), list(&rebuilds), list(&witnesses)
                );
                let _ = Policy::parse(&noise, &dir.path().join("policy.toml"));
                if let Ok(p) = Policy::parse(&text, &dir.path().join("policy.toml")) {
                    prop_assert!(!p.builders.is_empty() && p.rebuilds.required <= p.rebuilds.keys.len());
                    prop_assert!(p.rebuilds.keys.iter().all(|r| p.builders.iter().all(|b| b.id != r.id)));
                    let log = p.log.unwrap();
                    let mut keys: Vec<_> = log.witnesses.iter().map(|w| *w.key.as_bytes()).collect();
                    keys.sort();
                    keys.dedup();
                    prop_assert_eq!(keys.len(), log.witnesses.len());
                    prop_assert!(log.witness_threshold <= log.witnesses.len());
                }
            }
        }
    }
}
