//! The trust policy and `glassbox verify`: which builder keys are trusted, how many independent
//! PASSED rebuild verdicts and reviews are required, and whether everything must be in the
//! transparency log. The policy file is validated strictly: an unknown key or a missing key
//! file is an error that names it.

pub mod evaluate;
pub mod evidence;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::attest::review::{valid_criteria, SAFE_TO_DEPLOY};
use crate::error::{Error, IoContext, Result};
use crate::keys::{KeyId, PublicKey};
use crate::tlog::note::NoteVerifier;

pub use evaluate::{verify, Evidence, Requirement, Verdict};

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
    pub builders: Vec<TrustedKey>,
    pub rebuilds: Threshold,
    pub reviews: Threshold,
    pub review_criteria: String,
    pub log: Option<LogPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    builders: RawKeys,
    #[serde(default)]
    rebuilds: Option<RawThreshold>,
    #[serde(default)]
    reviews: Option<RawReviews>,
    #[serde(default)]
    log: Option<RawLog>,
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
    /// Reads and validates a policy file; key paths are relative to its directory.
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).at(path)?;
        let origin = path.display().to_string();
        let raw: RawPolicy =
            toml::from_str(&text).map_err(|e| Error::invalid(&origin, e.to_string().trim().replace('\n', " ")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let keys = |section: &str, list: &[String]| -> Result<Vec<TrustedKey>> {
            let mut out: Vec<TrustedKey> = Vec::new();
            for rel in list {
                let file = base.join(rel);
                let key = PublicKey::read(&file)
                    .map_err(|e| Error::invalid(format!("{origin}: [{section}] key {rel:?}"), e.to_string()))?;
                let id = key.key_id();
                if out.iter().any(|k| k.id == id) {
                    return Err(Error::invalid(
                        format!("{origin}: [{section}]"),
                        format!("key {rel:?} is listed twice"),
                    ));
                }
                out.push(TrustedKey { path: rel.clone(), key, id });
            }
            Ok(out)
        };
        let threshold = |section: &str, keys: Vec<TrustedKey>, required: usize| -> Result<Threshold> {
            if required > keys.len() {
                return Err(Error::invalid(
                    format!("{origin}: [{section}] required"),
                    format!("{required} is more than the {} keys listed", keys.len()),
                ));
            }
            Ok(Threshold { keys, required })
        };
        let builders = keys("builders", &raw.builders.keys)?;
        if builders.is_empty() {
            return Err(Error::invalid(
                format!("{origin}: [builders] keys"),
                "lists no key: nothing could be accepted",
            ));
        }
        let rebuilds = match raw.rebuilds {
            Some(r) => threshold("rebuilds", keys("rebuilds", &r.keys)?, r.required)?,
            None => Threshold::default(),
        };
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
            Some(l) => {
                let vkey = verifier(base, &l.vkey, &format!("{origin}: [log] vkey"))?;
                let witnesses = l
                    .witnesses
                    .iter()
                    .map(|w| verifier(base, w, &format!("{origin}: [log] witness {w:?}")))
                    .collect::<Result<Vec<_>>>()?;
                if l.witness_threshold > witnesses.len() {
                    return Err(Error::invalid(
                        format!("{origin}: [log] witness_threshold"),
                        format!("{} is more than the {} witnesses listed", l.witness_threshold, witnesses.len()),
                    ));
                }
                Some(LogPolicy { vkey, required: l.required, witnesses, witness_threshold: l.witness_threshold })
            }
            None => None,
        };
        Ok(Policy { path: path.to_path_buf(), builders, rebuilds, reviews, review_criteria, log })
    }
}

/// A note verifier key given as a string or as a file (relative to the policy) holding one.
fn verifier(base: &Path, value: &str, what: &str) -> Result<NoteVerifier> {
    let file = base.join(value);
    let text =
        if file.is_file() { std::fs::read_to_string(&file).at(&file)?.trim().to_string() } else { value.to_string() };
    if !text.contains('+') {
        return Err(Error::invalid(what, format!("{} is neither a verifier key nor a key file", file.display())));
    }
    NoteVerifier::parse(&text).map_err(|e| Error::invalid(what, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn dir_with_keys() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        PrivateKey::from_seed(&[1; 32]).write_pair(&dir.path().join("vendor")).unwrap();
        PrivateKey::from_seed(&[2; 32]).write_pair(&dir.path().join("r1")).unwrap();
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
        ] {
            let err = load(dir.path(), text).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("policy.toml"), "{needle}: {err}");
        }
    }
}
