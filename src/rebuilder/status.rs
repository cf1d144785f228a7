//! `glassbox rebuilder status`: where the work stands. From the queue, how many jobs are
//! pending, in progress, done and dead-lettered (the queue's word, shown as such); from the
//! log, authenticated entry by entry, which of the policy's rebuilder keys has logged a
//! verdict on which provenance, PASSED or FAILED, and which has not rebuilt it yet. Only the
//! log's answer counts: a verdict is believed when its stored envelope verifies for the
//! rebuilder's key and names the provenance envelope.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attest::vsa::VerificationSummary;
use crate::attest::{Envelope, Statement, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::policy::TrustedKey;
use crate::transparency::follow::{FollowedLog, LogTrust};
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::{LogDir, LogEntry};

/// One provenance in the log and the verdicts on it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub index: u64,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub provenance: Sha256Digest,
    /// The binary bundle's subject name (`<component>-<version>-<target>.tar.gz`), as the
    /// entry describes it.
    pub name: String,
    /// By rebuilder key id (the policy's, in its order): the verdict, or none yet.
    pub verdicts: Vec<RebuilderVerdict>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuilderVerdict {
    pub rebuilder: String,
    /// `PASSED`, `FAILED`, or `NOT YET`.
    pub result: String,
    /// The verdict's log entry (the first one this key logged).
    pub index: Option<u64>,
    /// The mismatch report a FAILED verdict names (`sha256:<hex>`).
    pub report: Option<String>,
}

/// The releases of the log and each rebuilder's verdict on them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rebuilds {
    pub log: String,
    pub size: u64,
    pub releases: Vec<Release>,
}

/// Reads the whole log (authenticated by `trust`) and pairs each provenance with the verdicts
/// `rebuilders` signed on it.
pub fn rebuilds(log: &LogDir, trust: &LogTrust, rebuilders: &[TrustedKey]) -> Result<Rebuilds> {
    enum Kept {
        Provenance(Release),
        Verdict { index: u64, envelope: Sha256Digest },
    }
    let ids: Vec<String> = rebuilders.iter().map(|k| k.id.to_string()).collect();
    let mut position = FollowedLog::from_start();
    let kept = position.advance(log, trust, |index, bytes| {
        let entry = LogEntry::parse(bytes, &format!("log entry {index}"))?;
        let Some(envelope) = entry.envelope_digest() else { return Ok(None) };
        if entry.predicate_type == SLSA_PROVENANCE_V1 {
            let name = entry
                .subjects
                .iter()
                .filter_map(|s| s.name.clone())
                .find(|n| n.ends_with(".tar.gz"))
                .unwrap_or_default();
            return Ok(Some(Kept::Provenance(Release { index, provenance: envelope, name, verdicts: Vec::new() })));
        }
        let claimed = entry.signers.iter().any(|s| ids.contains(s));
        Ok((entry.predicate_type == SLSA_VSA_V1 && claimed).then_some(Kept::Verdict { index, envelope }))
    })?;
    let size = position.size();
    let bundles = EnvelopeBundles::default();
    let keys: Vec<_> = rebuilders.iter().map(|k| k.key.clone()).collect();
    // (provenance digest, rebuilder key id) → (result, index, report), first verdict wins.
    let mut found: BTreeMap<(Sha256Digest, String), (String, u64, Option<String>)> = BTreeMap::new();
    let mut releases = Vec::new();
    for item in kept {
        let (index, digest) = match item {
            Kept::Provenance(release) => {
                releases.push(release);
                continue;
            }
            Kept::Verdict { index, envelope } => (index, envelope),
        };
        let what = format!("log entry {index}");
        let lines = bundles.bundle_of(log, index, size)?;
        let line = lines.get((index % crate::tlog::tiles::TILE_WIDTH) as usize).cloned().unwrap_or_default();
        if Sha256Digest::of(&line) != digest {
            return Err(Error::rejected(&what, "the stored envelope is not the one the entry names"));
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&line) else { continue };
        let signers = envelope.verified_by(&keys)?;
        let Ok(vsa) = Statement::<VerificationSummary>::from_envelope(&envelope, SLSA_VSA_V1, &what) else { continue };
        let p = &vsa.predicate;
        let report = p.reproduction.differences.as_ref().and_then(|d| d.sha256()).map(|d| d.prefixed());
        for input in p.input_attestations.iter().filter_map(|a| a.sha256()) {
            for signer in &signers {
                found
                    .entry((input, signer.to_string()))
                    .or_insert_with(|| (p.verification_result.clone(), index, report.clone()));
            }
        }
    }
    for release in &mut releases {
        for id in &ids {
            let verdict = found.get(&(release.provenance, id.clone()));
            release.verdicts.push(RebuilderVerdict {
                rebuilder: id.clone(),
                result: verdict.map_or("NOT YET".into(), |v| v.0.clone()),
                index: verdict.map(|v| v.1),
                report: verdict.and_then(|v| v.2.clone()),
            });
        }
    }
    Ok(Rebuilds { log: trust.vkey.name.clone(), size, releases })
}
