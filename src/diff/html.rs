//! The mismatch report as one standalone HTML page (`glassbox diff --html`, and the site's
//! `reports/` pages): differing ELF sections with sizes and offsets, one-sided strings, tar
//! members, byte windows. Every name in it is escaped. Not written yet.

use super::DiffReport;

/// One compared artifact: its name (as the provenance names it) and the report.
pub struct ReportItem<'a> {
    pub name: &'a str,
    pub report: &'a DiffReport,
}

/// The standalone page (inline CSS, no script) for `items` under `title`.
pub fn report_page(title: &str, items: &[ReportItem<'_>]) -> String {
    let _ = items;
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body></body></html>\n",
        title.replace('<', "&lt;")
    )
}
