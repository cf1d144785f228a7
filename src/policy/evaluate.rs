//! `glassbox verify`: hash the artifact, weigh every statement about it against the policy, and
//! say for each requirement whether it is met and by which evidence. A statement counts only if
//! a key the policy trusts for its role signed it, it concerns these bytes (or, for reviews,
//! the source they were built from), and, when the policy requires the log, it is in the log
//! (its entry authenticated down to the leaf under a verified checkpoint).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::evidence::{self, inputs_lenient, mentions, read_verdict, Collected, Found, Reading};
use super::log::LogView;
use super::{Policy, TrustedKey};
use crate::attest::provenance::Provenance;
use crate::attest::review::{criteria_satisfies, Review, Scope};
use crate::attest::{Envelope, Statement, REVIEW_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::keys::KeyId;
use crate::transparency::LogDir;

/// The answer for one artifact.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub artifact: PathBuf,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub sha256: Sha256Digest,
    pub accepted: bool,
    /// The source digests of the accepted provenance (hex; `sha256:<hex>` in JSON).
    #[serde(serialize_with = "crate::digest::report::prefixed_hex_vec")]
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
    /// `file:line` under the attestations directory, or `log entry N`.
    pub statement: String,
    /// The key id of the trusted key that signed it, if any.
    pub key: Option<KeyId>,
    /// That key's file, as the policy names it.
    pub key_path: Option<String>,
    pub counted: bool,
    /// What the statement says, digests in full (`sha256:<hex>`).
    pub detail: String,
    pub log_index: Option<u64>,
}

impl Evidence {
    fn of(f: &Found, key: Option<&TrustedKey>, counted: bool, detail: String, log_index: Option<u64>) -> Evidence {
        Evidence {
            statement: f.location.clone(),
            key: key.map(|k| k.id.clone()),
            key_path: key.map(|k| k.path.clone()),
            counted,
            detail,
            log_index,
        }
    }
}

/// Checks `artifact` against `policy` with the statements under `attestations` and the log at
/// `log_dir` (a directory, bucket or URL; default `<attestations>/log`). A trusted rebuilder's statement that cannot be read
/// at all is an `Invalid` error: verify cannot answer.
pub fn verify(artifact: &Path, policy: &Policy, attestations: &Path, log_dir: Option<&LogDir>) -> Result<Verdict> {
    governs_artifacts(policy)?;
    let sha256 = hash_artifact(artifact)?;
    verify_digest(artifact, sha256, policy, attestations, log_dir)
}

/// [`verify`] for bytes known by their sha256 (`name` is what the verdict calls them): what
/// `glassbox site` uses, which has the provenance's subjects but not the files.
pub fn verify_digest(
    name: &Path,
    sha256: Sha256Digest,
    policy: &Policy,
    attestations: &Path,
    log_dir: Option<&LogDir>,
) -> Result<Verdict> {
    governs_artifacts(policy)?;
    verify_in(&Context::open(policy, attestations, log_dir)?, name, sha256, policy)
}

/// What [`verify_in`] reads once for many artifacts: the attestations directory's statements
/// and the log, authenticated (or why it is not).
pub struct Context {
    collected: Collected,
    log: LogView,
}

impl Context {
    /// Reads the statements under `attestations` and opens the log at `log_dir` (default
    /// `<attestations>/log`).
    pub fn open(policy: &Policy, attestations: &Path, log_dir: Option<&LogDir>) -> Result<Context> {
        let collected = evidence::collect(attestations)?;
        let log = LogView::open(policy, log_dir.cloned().unwrap_or_else(|| LogDir::new(attestations.join("log"))));
        Ok(Context { collected, log })
    }

    /// [`Context::open`] with the statements already collected (`evidence::collect`) and the
    /// log at `log_dir` already authenticated by the caller
    /// (`transparency::audit::authenticated_entries` with the policy's `[log]` key and
    /// witnesses; `entries` parsed), so that each is read and verified once.
    pub fn of_authenticated(
        policy: &Policy,
        collected: Collected,
        log_dir: &LogDir,
        verified: &crate::transparency::audit::Verified,
        entries: std::sync::Arc<Vec<crate::transparency::LogEntry>>,
        bundles: crate::transparency::store::EnvelopeBundles,
    ) -> Context {
        Context { collected, log: LogView::of_authenticated(policy, log_dir, verified, entries, bundles) }
    }
}

/// [`verify_digest`] with statements and log already read (`policy` must be the one `cx` was
/// opened with).
pub fn verify_in(cx: &Context, name: &Path, sha256: Sha256Digest, policy: &Policy) -> Result<Verdict> {
    governs_artifacts(policy)?;
    let artifact = name;
    let collected = &cx.collected;
    let log = &cx.log;
    log.reset();
    let mut requirements = Vec::new();

    // Builders: provenance for these bytes signed by a trusted builder.
    let mut accepted: Vec<(&Found, String)> = Vec::new();
    let mut evidence = Vec::new();
    // The digests a verdict about these bytes may name: theirs, and every subject of a
    // trusted builder's provenance of them (a verdict on the bundle is one on the binary).
    let mut about = vec![sha256];
    // And the trusted provenance envelopes of them: a verdict naming one is about them too.
    let mut provenances = Vec::new();
    for f in
        collected.found.iter().filter(|f| f.statement.predicate_type == SLSA_PROVENANCE_V1 && f.has_subject(&sha256))
    {
        let key = signer(&f.envelope, &policy.builders)?;
        if key.is_some() {
            about.extend(f.statement.subject.iter().filter_map(|s| s.sha256()));
            provenances.push(f.digest);
        }
        let source = Statement::<Provenance>::from_envelope(&f.envelope, SLSA_PROVENANCE_V1, &f.location)
            .ok()
            .and_then(|st| st.predicate.build_definition.external_parameters.source.sha256())
            .map(|d| d.hex());
        let (counted, detail, index) = log.count(f, key, key.is_some(), || match &source {
            Some(s) => format!("provenance of these bytes, built from source {}", short(s)),
            None => "provenance of these bytes, but no source digest in it".into(),
        });
        if counted {
            if let Some(s) = source {
                accepted.push((f, s));
            }
        }
        evidence.push(Evidence::of(f, key, counted, detail, index));
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
    let sources: BTreeSet<String> = accepted.iter().map(|(_, s)| s.clone()).collect();

    // Rebuilds: PASSED verdicts on that provenance by distinct trusted rebuilders; any other
    // verdict about these bytes by a trusted rebuilder rejects, whatever provenance it names,
    // wherever it was found (the directory, or the log).
    if !policy.rebuilds.keys.is_empty() {
        let from_log = log.verdicts_about(collected, &about, &provenances)?;
        let about = About { digests: &about, provenances: &provenances };
        requirements.push(rebuilds([collected, &from_log], policy, log, &accepted, &about)?);
    }
    let found = &collected.found;

    // Reviews: trusted reviews to the required criteria covering the source, directly or by a
    // chain of delta reviews from a full review (as cargo-vet's delta audits).
    if policy.reviews.required > 0 {
        let mut evidence = Vec::new();
        let mut fulls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut deltas: Vec<(String, String, String)> = Vec::new(); // (from, to, key id)
        let reviews: Vec<SeenReview> = found
            .iter()
            .filter(|f| f.statement.predicate_type == REVIEW_V1)
            .filter_map(|f| {
                let review = Statement::<Review>::from_envelope(&f.envelope, REVIEW_V1, &f.location).ok()?;
                let to = review.subject.first().and_then(|s| s.sha256()).map(|d| d.hex())?;
                Some((f, review, to))
            })
            .map(|(f, review, to)| {
                let key = signer(&f.envelope, &policy.reviews.keys)?;
                let strong = criteria_satisfies(&review.predicate.criteria, &policy.review_criteria);
                let scoped = !matches!(review.predicate.scope, Scope::Paths { .. });
                Ok(SeenReview { f, review: review.predicate, to, key, strong, scoped })
            })
            .collect::<Result<_>>()?;
        // Only reviews about this artifact's source count: of the source itself, or of a
        // version a countable delta review leads from to it. A review of another source (or a
        // delta review into another version) is weighed for nothing, and is not looked up in
        // the log either.
        let about = chains_into(&sources, &reviews, |r| {
            r.key.is_some() && r.strong && r.scoped && (!log.required || log.index_of(r.f).is_some())
        });
        for r in &reviews {
            let (f, key, to) = (r.f, r.key, &r.to);
            let relevant = about.contains(to);
            let would = key.is_some() && r.strong && r.scoped && relevant;
            let (counted, detail, index) = log.count(f, key, would, || {
                let what = match &r.review.scope {
                    Scope::Full => format!("full review of {}", short(to)),
                    Scope::Delta { from } => format!("delta review {} -> {}", short(from), short(to)),
                    Scope::Paths { .. } => format!("review of some paths of {} (not enough)", short(to)),
                };
                let mut detail = if r.strong {
                    format!("{what}, {}", r.review.criteria)
                } else {
                    format!("{what}, criteria {} does not satisfy {}", r.review.criteria, policy.review_criteria)
                };
                if !relevant {
                    detail.push_str(&match sources.iter().next() {
                        None => ", but no accepted provenance names this artifact's source".to_string(),
                        Some(s) => format!(", about another source than this artifact's ({})", short(s)),
                    });
                }
                detail
            });
            if let (true, Some(k)) = (counted, key) {
                match &r.review.scope {
                    Scope::Full => {
                        fulls.entry(to.clone()).or_default().insert(k.id.to_string());
                    }
                    Scope::Delta { from } => deltas.push((from.clone(), to.clone(), k.id.to_string())),
                    Scope::Paths { .. } => {}
                }
            }
            if relevant || key.is_some() {
                evidence.push(Evidence::of(f, key, counted, detail, index));
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

/// A policy without builders governs samples only.
fn governs_artifacts(policy: &Policy) -> Result<()> {
    if policy.builders.is_empty() {
        return Err(Error::invalid(
            policy.path.display(),
            "has no [builders] section: it governs samples only and cannot accept an artifact",
        ));
    }
    Ok(())
}

/// What makes a verdict one about the artifact: a subject among `digests`, or an input among
/// the trusted `provenances` of it (both read leniently).
struct About<'a> {
    digests: &'a [Sha256Digest],
    provenances: &'a [Sha256Digest],
}

impl About<'_> {
    fn covers(&self, f: &Found) -> bool {
        mentions(&f.statement.subject, self.digests)
            || inputs_lenient(&f.statement).iter().any(|d| self.provenances.contains(d))
    }
}

/// The rebuilds requirement: distinct trusted rebuilders' PASSED verdicts on an accepted
/// provenance (not counting a key that signed that provenance), and no other trusted verdict.
fn rebuilds(
    collected: [&Collected; 2],
    policy: &Policy,
    log: &LogView,
    accepted: &[(&Found, String)],
    about: &About<'_>,
) -> Result<Requirement> {
    let trusted = &policy.rebuilds.keys;
    for u in collected.iter().flat_map(|c| &c.undecodable) {
        if let Some(key) = signer(&u.envelope, trusted)? {
            return Err(Error::invalid(
                &u.location,
                format!(
                    "signed by trusted rebuilder {}, but {}: cannot tell whether it is a verdict on these bytes",
                    describe(key),
                    u.why
                ),
            ));
        }
    }
    let (mut passed, mut failed) = (BTreeSet::new(), BTreeSet::new());
    let mut evidence = Vec::new();
    // The directory's statements, then (flagged) those found only in the log.
    let verdicts = collected.iter().enumerate().flat_map(|(n, c)| c.found.iter().map(move |f| (f, n == 1)));
    for (f, only_logged) in verdicts.filter(|(f, _)| f.statement.predicate_type == SLSA_VSA_V1 && about.covers(f)) {
        let key = signer(&f.envelope, trusted)?;
        let (counted, detail, index) = match read_verdict(&f.statement) {
            Reading::Unreadable { why } => {
                if let Some(key) = key {
                    return Err(Error::invalid(
                        &f.location,
                        format!("a verdict on these bytes signed by trusted rebuilder {}, but {why}", describe(key)),
                    ));
                }
                (false, format!("unreadable verdict ({why}) (not counted)"), log.index_of(f))
            }
            Reading::Passed { inputs } => {
                let on: Vec<&Found> = accepted.iter().map(|(p, _)| *p).filter(|p| inputs.contains(&p.digest)).collect();
                // The key that signed the provenance is not an independent rebuilder of it.
                let own = key.is_some_and(|k| {
                    on.iter()
                        .any(|p| p.envelope.verified_by(std::slice::from_ref(&k.key)).is_ok_and(|ids| !ids.is_empty()))
                });
                // A verdict found only in the log counts like one presented with the artifact:
                // rebuilders log their verdicts, nobody has to copy them to the vendor (its entry
                // is authenticated against the checkpoint, its signature checked here).
                let would = key.is_some() && !on.is_empty() && !own;
                let (counted, detail, index) = log.count(f, key, would, || {
                    if own {
                        "PASSED rebuild by the key that signed the provenance itself".into()
                    } else if on.is_empty() {
                        "PASSED verdict on a provenance that is not accepted".into()
                    } else if only_logged {
                        "PASSED rebuild of these bytes, found in the log".into()
                    } else {
                        "PASSED rebuild of these bytes".into()
                    }
                });
                if let (true, Some(k)) = (counted, key) {
                    passed.insert(k.id.clone());
                }
                (counted, detail, index)
            }
            Reading::NotPassed { result } => against(key, &mut failed, log, f, format!("{result} verdict")),
            Reading::MalformedPass { why } => {
                against(key, &mut failed, log, f, format!("PASSED verdict that cannot be counted ({why})"))
            }
        };
        evidence.push(Evidence::of(f, key, counted, detail, index));
    }
    let count = passed.difference(&failed).count();
    let met = count >= policy.rebuilds.required && failed.is_empty();
    let mut summary = format!("{count} of {} required independent PASSED rebuilds", policy.rebuilds.required);
    if !failed.is_empty() {
        summary.push_str(&format!("; not PASSED by {} trusted rebuilder(s)", failed.len()));
    }
    Ok(Requirement { name: "rebuilds".into(), met, summary, evidence })
}

/// A verdict other than a countable PASSED: by a trusted rebuilder it rejects, in the log or
/// not, whatever provenance it names.
fn against(
    key: Option<&TrustedKey>,
    failed: &mut BTreeSet<KeyId>,
    log: &LogView,
    f: &Found,
    what: String,
) -> (bool, String, Option<u64>) {
    match key {
        Some(k) => {
            failed.insert(k.id.clone());
            (true, format!("{what} on these bytes: rejects them"), log.index_of(f))
        }
        None => (false, format!("{what} on these bytes (not counted)"), log.index_of(f)),
    }
}

/// The artifact's sha256. It must be a regular file: opened without blocking (a FIFO would
/// hang) and refused if it is a device, FIFO, socket or directory before a byte is read.
fn hash_artifact(artifact: &Path) -> Result<Sha256Digest> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(artifact)
        .at(artifact)?;
    if !file.metadata().at(artifact)?.file_type().is_file() {
        return Err(Error::invalid(artifact.display(), "not a regular file (a directory, FIFO, device or socket)"));
    }
    let (sha256, _) = Sha256Digest::of_reader(file, &mut vec![0; 1 << 20]).at(artifact)?;
    Ok(sha256)
}

/// A review statement as `verify` weighs it.
struct SeenReview<'a> {
    f: &'a Found,
    review: Review,
    /// The reviewed source digest (hex).
    to: String,
    key: Option<&'a TrustedKey>,
    /// Its criteria satisfy the policy's.
    strong: bool,
    /// Not a review of some paths only.
    scoped: bool,
}

/// The source digests whose reviews are about `sources`: the sources themselves and every
/// version a chain of countable (`counts`) delta reviews leads from into one of them.
fn chains_into(
    sources: &BTreeSet<String>,
    reviews: &[SeenReview<'_>],
    counts: impl Fn(&SeenReview<'_>) -> bool,
) -> BTreeSet<String> {
    let steps: Vec<(&String, &String)> = reviews
        .iter()
        .filter(|r| counts(r))
        .filter_map(|r| match &r.review.scope {
            Scope::Delta { from } => Some((from, &r.to)),
            _ => None,
        })
        .collect();
    let mut about = sources.clone();
    loop {
        let before = about.len();
        for (from, to) in &steps {
            if about.contains(*to) {
                about.insert((*from).clone());
            }
        }
        if about.len() == before {
            return about;
        }
    }
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
fn signer<'a>(envelope: &Envelope, trusted: &'a [TrustedKey]) -> Result<Option<&'a TrustedKey>> {
    let keys: Vec<_> = trusted.iter().map(|t| t.key.clone()).collect();
    let ids = envelope.verified_by(&keys)?;
    Ok(trusted.iter().find(|t| ids.contains(&t.id)))
}

fn describe(key: &TrustedKey) -> String {
    format!("{} ({})", key.id.short(), key.path)
}

/// A digest as evidence details write it: in full (the CLI's text shortens it).
fn short(hex: &str) -> String {
    crate::digest::report::hex_text(hex)
}
