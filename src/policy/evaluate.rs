//! `glassbox verify`: hash the artifact, weigh every statement about it against the policy, and
//! say for each requirement whether it is met and by which evidence. A statement counts only if
//! a key the policy trusts for its role signed it, it concerns these bytes (or, for reviews,
//! the source they were built from), and, when the policy requires the log, it is in the log
//! (its entry authenticated down to the leaf under a verified checkpoint).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::evidence::{self, Found};
use super::{Policy, TrustedKey};
use crate::attest::provenance::Provenance;
use crate::attest::review::{criteria_satisfies, Review, Scope};
use crate::attest::vsa::{VerificationSummary, PASSED};
use crate::attest::{Statement, REVIEW_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{IoContext, Result};
use crate::tlog::merkle::{self, NodeSource};
use crate::transparency::audit::{self, WitnessPolicy};
use crate::transparency::{LogDir, LogEntry};

/// The answer for one artifact.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub artifact: PathBuf,
    pub sha256: Sha256Digest,
    pub accepted: bool,
    /// The source digests of the accepted provenance.
    pub source_digests: Vec<String>,
    pub requirements: Vec<Requirement>,
}

/// One requirement of the policy.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub name: String,
    pub met: bool,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

/// One statement considered for a requirement.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// `file:line` under the attestations directory.
    pub statement: String,
    /// The trusted key that signed it, if any: `<key id 8 hex> (<path in the policy>)`.
    pub key: Option<String>,
    pub counted: bool,
    pub detail: String,
    pub log_index: Option<u64>,
}

/// Checks `artifact` against `policy` with the statements under `attestations` and the log at
/// `log_dir` (default `<attestations>/log`).
pub fn verify(artifact: &Path, policy: &Policy, attestations: &Path, log_dir: Option<&Path>) -> Result<Verdict> {
    let file = std::fs::File::open(artifact).at(artifact)?;
    let (sha256, _) = Sha256Digest::of_reader(file, &mut vec![0; 1 << 20]).at(artifact)?;
    let found = evidence::collect(attestations)?;
    let log = LogView::open(policy, &log_dir.map(Path::to_path_buf).unwrap_or_else(|| attestations.join("log")))?;
    let mut requirements = Vec::new();

    // Builders: provenance for these bytes signed by a trusted builder.
    let mut accepted: Vec<(&Found, String)> = Vec::new();
    let mut evidence = Vec::new();
    for f in found.iter().filter(|f| f.statement.predicate_type == SLSA_PROVENANCE_V1 && f.has_subject(&sha256)) {
        let key = signer(f, &policy.builders)?;
        let source = Statement::<Provenance>::from_envelope(&f.envelope, SLSA_PROVENANCE_V1, &f.location())
            .ok()
            .and_then(|st| st.predicate.build_definition.external_parameters.source.sha256())
            .map(|d| d.hex());
        let (counted, detail, index) = log.count(f, key.is_some(), || match &source {
            Some(s) => format!("provenance of these bytes, built from source {}", short(s)),
            None => "provenance of these bytes, but no source digest in it".into(),
        });
        if counted {
            if let Some(s) = source {
                accepted.push((f, s));
            }
        }
        evidence.push(Evidence { statement: f.location(), key: key.map(describe), counted, detail, log_index: index });
    }
    let met = !accepted.is_empty();
    requirements.push(Requirement {
        name: "builder".into(),
        met,
        summary: if met {
            "provenance signed by a trusted builder".into()
        } else {
            "no provenance for these bytes signed by a trusted builder".into()
        },
        evidence,
    });
    let provenance_digests: BTreeSet<String> = accepted.iter().map(|(f, _)| f.digest.hex()).collect();
    let sources: BTreeSet<String> = accepted.iter().map(|(_, s)| s.clone()).collect();

    // Rebuilds: PASSED verdicts on that provenance by distinct trusted rebuilders; any FAILED
    // verdict by a trusted rebuilder rejects.
    if policy.rebuilds.required > 0 {
        let (mut passed, mut failed) = (BTreeSet::new(), BTreeSet::new());
        let mut evidence = Vec::new();
        for f in found.iter().filter(|f| f.statement.predicate_type == SLSA_VSA_V1 && f.has_subject(&sha256)) {
            let Ok(vsa) = Statement::<VerificationSummary>::from_envelope(&f.envelope, SLSA_VSA_V1, &f.location())
            else {
                continue;
            };
            let key = signer(f, &policy.rebuilds.keys)?;
            let result = vsa.predicate.verification_result.clone();
            let on_accepted = vsa
                .predicate
                .input_attestations
                .iter()
                .any(|d| d.sha256().is_some_and(|s| provenance_digests.contains(&s.hex())));
            let (counted, detail, index) = log.count(f, key.is_some() && on_accepted, || {
                if on_accepted {
                    format!("{result} rebuild of these bytes")
                } else {
                    format!("{result} verdict on a provenance that is not accepted")
                }
            });
            if counted {
                let id = key.map(|k| k.id.clone());
                if result == PASSED {
                    passed.extend(id)
                } else {
                    failed.extend(id)
                }
            }
            evidence.push(Evidence {
                statement: f.location(),
                key: key.map(describe),
                counted,
                detail,
                log_index: index,
            });
        }
        let count = passed.difference(&failed).count();
        let met = count >= policy.rebuilds.required && failed.is_empty();
        let mut summary = format!("{count} of {} required independent PASSED rebuilds", policy.rebuilds.required);
        if !failed.is_empty() {
            summary.push_str(&format!("; FAILED by {} trusted rebuilder(s)", failed.len()));
        }
        requirements.push(Requirement { name: "rebuilds".into(), met, summary, evidence });
    }

    // Reviews: trusted reviews to the required criteria covering the source, directly or by a
    // chain of delta reviews from a full review (as cargo-vet's delta audits).
    if policy.reviews.required > 0 {
        let mut evidence = Vec::new();
        let mut fulls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut deltas: Vec<(String, String, String)> = Vec::new(); // (from, to, key id)
        for f in found.iter().filter(|f| f.statement.predicate_type == REVIEW_V1) {
            let Ok(review) = Statement::<Review>::from_envelope(&f.envelope, REVIEW_V1, &f.location()) else {
                continue;
            };
            let Some(to) = review.subject.first().and_then(|s| s.sha256()).map(|d| d.hex()) else { continue };
            let key = signer(f, &policy.reviews.keys)?;
            let strong = criteria_satisfies(&review.predicate.criteria, &policy.review_criteria);
            let scoped = !matches!(review.predicate.scope, Scope::Paths { .. });
            let (counted, detail, index) = log.count(f, key.is_some() && strong && scoped, || {
                let what = match &review.predicate.scope {
                    Scope::Full => format!("full review of {}", short(&to)),
                    Scope::Delta { from } => format!("delta review {} -> {}", short(from), short(&to)),
                    Scope::Paths { .. } => format!("review of some paths of {} (not enough)", short(&to)),
                };
                if strong {
                    format!("{what}, {}", review.predicate.criteria)
                } else {
                    format!(
                        "{what}, criteria {} does not satisfy {}",
                        review.predicate.criteria, policy.review_criteria
                    )
                }
            });
            if let (true, Some(k)) = (counted, key) {
                match &review.predicate.scope {
                    Scope::Full => {
                        fulls.entry(to.clone()).or_default().insert(k.id.to_string());
                    }
                    Scope::Delta { from } => deltas.push((from.clone(), to.clone(), k.id.to_string())),
                    Scope::Paths { .. } => {}
                }
            }
            let relevant =
                sources.contains(&to) || deltas.iter().any(|(from, _, _)| from == &to) || fulls.contains_key(&to);
            if relevant || key.is_some() {
                evidence.push(Evidence {
                    statement: f.location(),
                    key: key.map(describe),
                    counted,
                    detail,
                    log_index: index,
                });
            }
        }
        let covered = coverage(&fulls, &deltas);
        let mut reviewers_by_source = Vec::new();
        for s in &sources {
            let mut keys: BTreeSet<&String> = fulls.get(s).map(|k| k.iter().collect()).unwrap_or_default();
            keys.extend(deltas.iter().filter(|(from, to, _)| to == s && covered.contains(from)).map(|(_, _, k)| k));
            reviewers_by_source.push((s, covered.contains(s), keys.len()));
        }
        let met = !sources.is_empty()
            && reviewers_by_source.iter().all(|(_, covered, n)| *covered && *n >= policy.reviews.required);
        let summary = match reviewers_by_source.first() {
            None => "no accepted provenance names a source to review".into(),
            Some((s, covered, n)) => format!(
                "source {} {} by {n} of {} required trusted reviewer(s) to {}",
                short(s),
                if *covered { "covered" } else { "NOT covered" },
                policy.reviews.required,
                policy.review_criteria
            ),
        };
        requirements.push(Requirement { name: "reviews".into(), met, summary, evidence });
    }

    if let Some(req) = log.requirement() {
        requirements.push(req);
    }
    let accepted_all = requirements.iter().all(|r| r.met);
    Ok(Verdict {
        artifact: artifact.to_path_buf(),
        sha256,
        accepted: accepted_all,
        source_digests: sources.into_iter().collect(),
        requirements,
    })
}

/// Digests reachable from a full review through delta reviews.
fn coverage(fulls: &BTreeMap<String, BTreeSet<String>>, deltas: &[(String, String, String)]) -> BTreeSet<String> {
    let mut covered: BTreeSet<String> = fulls.keys().cloned().collect();
    loop {
        let before = covered.len();
        for (from, to, _) in deltas {
            if covered.contains(from) {
                covered.insert(to.clone());
            }
        }
        if covered.len() == before {
            return covered;
        }
    }
}

/// The first key of `trusted` with a valid signature on the statement.
fn signer<'a>(f: &Found, trusted: &'a [TrustedKey]) -> Result<Option<&'a TrustedKey>> {
    let keys: Vec<_> = trusted.iter().map(|t| t.key.clone()).collect();
    let ids = f.envelope.verified_by(&keys)?;
    Ok(trusted.iter().find(|t| ids.contains(&t.id)))
}

fn describe(key: &TrustedKey) -> String {
    format!("{} ({})", key.id.short(), key.path)
}

fn short(hex: &str) -> String {
    format!("sha256:{}…", &hex[..12.min(hex.len())])
}

/// The log as the policy sees it: verified once, then asked about each statement.
struct LogView {
    required: bool,
    /// The verified log and its size, or why it could not be verified.
    log: std::result::Result<(LogDir, u64, String), String>,
    missing: std::cell::RefCell<Vec<Evidence>>,
    present: std::cell::Cell<usize>,
}

impl LogView {
    fn open(policy: &Policy, dir: &Path) -> Result<LogView> {
        let Some(lp) = &policy.log else {
            return Ok(LogView {
                required: false,
                log: Err("no log in the policy".into()),
                missing: Default::default(),
                present: Default::default(),
            });
        };
        let log_dir = LogDir::new(dir);
        let witnesses = WitnessPolicy { witnesses: lp.witnesses.clone(), threshold: lp.witness_threshold };
        let log = match audit::verify(&log_dir, &lp.vkey, &witnesses, None) {
            Ok(v) => Ok((
                log_dir,
                v.size,
                format!(
                    "{} at size {}{}",
                    v.origin,
                    v.size,
                    if v.cosigned_by.is_empty() {
                        String::new()
                    } else {
                        format!(", cosigned by {}", v.cosigned_by.join(", "))
                    }
                ),
            )),
            Err(e) => Err(e.to_string()),
        };
        Ok(LogView { required: lp.required, log, missing: Default::default(), present: Default::default() })
    }

    /// The authenticated log index of a statement, if it is in the log.
    fn index_of(&self, f: &Found) -> Option<u64> {
        let (dir, size, _) = self.log.as_ref().ok()?;
        let i = dir.find_envelope(&f.digest, *size).ok()??;
        let entry = dir.entries(i, i + 1, *size).ok()?.pop()?;
        let named = LogEntry::parse(&entry, "entry").ok()?.envelope_digest()?;
        let leaf = dir.tree(*size).node(0, i).ok()?;
        (named == f.digest && merkle::leaf_hash(&entry) == leaf).then_some(i)
    }

    /// Whether a statement that would count (`would`) does count, with the detail to show and
    /// its log index; a statement that would count but is not in a required log is recorded.
    fn count(&self, f: &Found, would: bool, detail: impl FnOnce() -> String) -> (bool, String, Option<u64>) {
        let index = self.index_of(f);
        let mut detail = detail();
        let counted = would && (index.is_some() || !self.required);
        if would && index.is_none() && self.required {
            detail.push_str(" — NOT in the log, not counted");
            self.missing.borrow_mut().push(Evidence {
                statement: f.location(),
                key: None,
                counted: false,
                detail: "not in the log".into(),
                log_index: None,
            });
        }
        if would && index.is_some() {
            self.present.set(self.present.get() + 1);
        }
        if !would {
            detail.push_str(" (not counted)");
        }
        (counted, detail, index)
    }

    fn requirement(&self) -> Option<Requirement> {
        if !self.required {
            return None;
        }
        let missing = self.missing.borrow().clone();
        let (met, summary) = match &self.log {
            Err(why) => (false, format!("the log does not verify: {why}")),
            Ok((_, _, what)) if missing.is_empty() => {
                (true, format!("every counted statement ({}) is in the log {what}", self.present.get()))
            }
            Ok((_, _, what)) => (false, format!("{} trusted statement(s) are not in the log {what}", missing.len())),
        };
        Some(Requirement { name: "log".into(), met, summary, evidence: missing })
    }
}
