//! The trust policy and `glassbox verify`: which builder keys are trusted, how many independent
//! PASSED rebuild verdicts and reviews are required, and whether everything must be in the
//! transparency log. The policy file is validated strictly: an unknown key or a missing key
//! file is an error that names it.

pub mod evaluate;
pub mod evidence;
mod log;
pub mod samples;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::attest::review::{valid_criteria, SAFE_TO_DEPLOY};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fs::{limits, read_regular_text};
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
    pub path: PathBuf,
    /// What "the policy in force" means in a sample request: SHA-256 of the policy file's bytes
    /// followed by the 32 bytes of every key it trusts, in the order loaded (so replacing a key
    /// file behind an unchanged policy changes it too).
    pub digest: Sha256Digest,
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
        let origin = path.display().to_string();
        // The reason and the line, never the quoted line: the file may hold anything.
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(String::new(), |r| {
                format!("line {}: ", text.get(..r.start).unwrap_or_default().matches('\n').count() + 1)
            });
            Error::invalid(&origin, format!("{line}{}", e.message().trim().replace('\n', " ")))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let keys = |section: &str, list: &[String]| load_keys(base, &origin, section, list);
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
            Some(l) => Some(log_policy(base, &origin, l)?),
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
                Some(samples::parse(raw, base, &origin)?)
            }
            None => None,
        };
        let digest = policy_digest(text, &builders, &rebuilds, &reviews, log.as_ref(), samples.as_ref());
        Ok(Policy { path: path.to_path_buf(), digest, builders, rebuilds, reviews, review_criteria, log, samples })
    }
}

/// See [`Policy::digest`].
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
fn load_keys(base: &Path, origin: &str, section: &str, list: &[String]) -> Result<Vec<TrustedKey>> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for rel in list {
        let key = trusted_key(&base.join(rel))
            .map_err(|why| Error::invalid(format!("{origin}: [{section}] key {rel:?}"), why))?;
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
fn trusted_key(file: &Path) -> std::result::Result<PublicKey, String> {
    let text = read_regular_text(file, limits::KEY_FILE).map_err(|e| e.to_string())?;
    if text.contains("PRIVATE KEY") {
        return Err(format!("{} is a private key: the policy needs the public key (.pub)", file.display()));
    }
    PublicKey::from_pem(&text, &file.display().to_string()).map_err(|e| e.to_string())
}

fn log_policy(base: &Path, origin: &str, l: RawLog) -> Result<LogPolicy> {
    let vkey = verifier(base, &l.vkey).map_err(|why| Error::invalid(format!("{origin}: [log] vkey"), why))?;
    let mut witnesses: Vec<NoteVerifier> = Vec::new();
    for (n, w) in l.witnesses.iter().enumerate() {
        let what = || format!("{origin}: [log] witnesses[{n}]");
        let verifier = verifier(base, w).map_err(|why| Error::invalid(what(), why))?;
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

/// A note verifier key given as a string or as a file (relative to the policy) holding one.
/// The error names the file (or says the value) and why, and never quotes either: a private
/// key given by mistake must not reach a CI log.
fn verifier(base: &Path, value: &str) -> std::result::Result<NoteVerifier, String> {
    let file = base.join(value);
    let is_file = std::fs::symlink_metadata(&file).is_ok();
    let (text, what) = if is_file {
        let text = read_regular_text(&file, limits::KEY_FILE).map_err(|e| e.to_string())?;
        (text.trim().to_string(), format!("{}", file.display()))
    } else {
        (value.to_string(), "the value".to_string())
    };
    if text.contains("PRIVATE KEY") {
        return Err(format!("{what} is a private key, not a verifier key (<name>+<key id>+<key>)"));
    }
    if !is_file && !text.contains('+') {
        return Err(format!("{} is neither a verifier key nor a key file", file.display()));
    }
    NoteVerifier::parse(&text).map_err(|e| match e {
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
            ("[builders]\nkeys = [\"vendor.pub\"]\n[log]\nvkey = \"w.vkey\"\nwitnesses = [\"w.vkey\", \"w2.vkey\"]\n", "listed twice"),
            ("[builders]\nkeys = [\"vendor.pub\"]\nx = \"-----BEGIN PRIVATE KEY-----\"\n", "line 3"),
        ] {
            let err = load(dir.path(), text).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("policy.toml"), "{needle}: {err}");
            assert!(!err.contains("BEGIN"), "{err}");
        }
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
                    "[builders]\nkeys = [{}]\n[rebuilds]\nkeys = [{}]\nrequired = {required}\n[log]\nvkey = \"w.vkey\"\nwitnesses = [{}]\nwitness_threshold = {threshold}\n",
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
