//! `glassbox site`: the outsider's view. Writes a static site (HTML pages readable without
//! JavaScript, one CSS file, one JavaScript module, the data as JSON) that shows every release
//! and the sample custody record in the log, and whose JavaScript verifies each shown statement in
//! the reader's browser (checkpoint signature, RFC 6962 inclusion, DSSE signature, the claims the
//! page shows) against the log key printed on the page. The layout and the page data are
//! docs/formats.md section 19; the guide is docs/site.md.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};

/// The JavaScript module every page loads; it only reads what the page names.
pub const VERIFY_JS: &str = include_str!("assets/verify.js");

/// What `glassbox site` is asked to do.
#[derive(Clone, Debug)]
pub struct SiteRequest {
    /// The attestations directory (statements not in the log are shown as such).
    pub attestations: PathBuf,
    /// The log directory the site describes.
    pub log: PathBuf,
    /// The trust policy the verdicts are given under.
    pub policy: PathBuf,
    /// Where the pages fetch the log from: absolute, or relative to the site's root.
    pub log_url: String,
    /// The output directory.
    pub out: PathBuf,
}

/// What was written, for the CLI to report.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSummary {
    pub out: PathBuf,
    pub log_size: u64,
    pub releases: usize,
    pub statements: usize,
    pub custody_entries: usize,
    pub files: usize,
}

/// Generates the site. Deterministic: the same inputs give byte-identical files.
pub fn generate(request: &SiteRequest) -> Result<SiteSummary> {
    Err(Error::invalid(request.out.display(), "glassbox site is not built yet"))
}
