//! The mismatch report of a FAILED rebuild verdict: the verdict's
//! `predicate.reproduction.differences` (`{"name", "digest": {"sha256"}}`) names a JSON file
//! beside the verdict in the attestations directory (`[{"name", "report": <DiffReport>}]`),
//! whose sha256 the signed verdict fixes. The page is `glassbox diff --html`'s.

use std::path::Path;

use super::model::{plain_file_name, str_at, Shown};
use crate::diff::html::{report_page_with, BackLink, ReportItem};
use crate::digest::Sha256Digest;
use crate::rebuild::ArtifactDifference;

/// The largest report file read.
const MAX_REPORT: u64 = 64 << 20;

/// The report page of a verdict (linking back to `release`, the release page's path from the
/// site's root), or what the row says instead.
pub fn mismatch_page(
    attestations: &Path,
    verdict: &Shown,
    title: &str,
    release: &str,
) -> std::result::Result<String, String> {
    const NONE: &str = "no report attached";
    let name = str_at(&verdict.payload, "predicate.reproduction.differences.name");
    let want = Sha256Digest::from_hex(str_at(&verdict.payload, "predicate.reproduction.differences.digest.sha256"));
    // Only a verdict read from a file has a place beside it; a log entry's has none here.
    let file = verdict.found.location.rsplit_once(':').map(|(f, _)| f).filter(|f| !f.starts_with("log entry"));
    let (Some(want), Some(file), true) = (want, file, plain_file_name(name)) else { return Err(NONE.into()) };
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    let bytes =
        crate::fs::read_regular(&attestations.join(dir).join(name), MAX_REPORT).map_err(|_| NONE.to_string())?;
    if Sha256Digest::of(&bytes) != want {
        return Err("report attached, but its sha256 is not the one the verdict names".into());
    }
    let mut items: Vec<ArtifactDifference> = serde_json::from_slice(&bytes)
        .map_err(|_| "report attached, but it is not a list of diff reports".to_string())?;
    // The two sides' names are the files the rebuilder compared: the published artifact and its
    // own, under its temporary build directory. The reader needs which is which, not the paths.
    for item in &mut items {
        item.report.a.name = format!("published: {}", item.name);
        item.report.b.name = format!("rebuilt: {}", item.name);
    }
    let refs: Vec<ReportItem<'_>> = items.iter().map(|i| ReportItem { name: &i.name, report: &i.report }).collect();
    let back = BackLink {
        href: &format!("../{release}"),
        text: "the release page",
        note: "The rebuilder's mismatch report, attached beside its verdict. Its sha256 is the one the signed \
               verdict names: glassbox checked that when the site was generated; this browser does not check this \
               page. \"published\" is the artifact the vendor released, \"rebuilt\" the rebuilder's own build.",
    };
    Ok(report_page_with(title, &refs, Some(&back)))
}
