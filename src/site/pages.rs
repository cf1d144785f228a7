//! The index page (every release with its policy verdict; the checkpoint) and one page per
//! release (artifacts, source, builder, every rebuild verdict, every review, log indices,
//! envelope links, mismatch report links). Each statement row carries its statement record's
//! id; the record's claims are the values the row prints, taken from the signed payload.

use serde_json::Value;

use super::html::{
    esc, page, page_about, statement_row, table, td, td_claim, td_claim_code, td_claim_findings, td_claim_result,
    td_claim_scope, td_envelope, td_log_index, td_signer, td_unverified, td_unverified_link, unverified_note, Chrome,
    PENDING_TEXT,
};
use super::model::{describe_signer, envelope_url, key_name, record, row_id, Log, Record, Release, Shown};
use crate::policy::{Policy, Verdict};

/// A release's verdicts: one per provenance (by its bundle subject), or why none could be given.
pub type Verdicts = Vec<std::result::Result<Verdict, String>>;

/// The verdict cell: accepted, or each unmet requirement with glassbox verify's summary.
pub fn verdict_text(v: &std::result::Result<Verdict, String>) -> String {
    match v {
        Ok(v) if v.accepted => "accepted".into(),
        Ok(v) => {
            let unmet: Vec<String> =
                v.requirements.iter().filter(|r| !r.met).map(|r| format!("{}: {}", r.name, r.summary)).collect();
            format!("NOT accepted — {}", unmet.join("; "))
        }
        Err(why) => format!("cannot answer: {why}"),
    }
}

/// The checkpoint section (index page).
pub fn checkpoint_section(log: &Log) -> String {
    let v = &log.verified;
    let cosigned = if v.cosigned_by.is_empty() { "none".to_string() } else { v.cosigned_by.join(", ") };
    let mut out = String::from("<section class=\"gb-checkpoint\">\n<h2>Checkpoint</h2>\n<dl>\n");
    // Origin, size and root are what the browser checks the log against (verify.js compares
    // them); the cosignatures listed are the generator's, the banner says which verify now.
    out.push_str(&format!("<dt>origin</dt><dd><code data-checkpoint=\"origin\">{}</code></dd>\n", esc(&v.origin)));
    out.push_str(&format!("<dt>size</dt><dd data-checkpoint=\"size\">{}</dd>\n", v.size));
    out.push_str(&format!("<dt>root hash</dt><dd><code data-checkpoint=\"root\">{}</code></dd>\n", v.root.hex()));
    let unverified = format!("class=\"gb-unverified\" title=\"{}\"", super::html::UNVERIFIED_TITLE);
    out.push_str(&format!("<dt>cosigned by (when generated)</dt><dd {unverified}>{}</dd>\n", esc(&cosigned)));
    if let Some(t) = log.newest_cosignature {
        let at = crate::time::Timestamp(t as i64).rfc3339();
        out.push_str(&format!(
            "<dt>newest cosignature (when generated)</dt><dd {unverified}><time class=\"gb-age\" data-unix=\"{t}\" datetime=\"{at}\">{at}</time></dd>\n"
        ));
    }
    out.push_str(&format!(
        "</dl>\n<p id=\"gb-checkpoint-status\" class=\"gb-pending\">{PENDING_TEXT}</p>\n</section>\n"
    ));
    out
}

/// index.html.
pub fn index(chrome: &Chrome, log: &Log, releases: &[Release], verdicts: &[Verdicts], custody: bool) -> String {
    let rows: Vec<String> = releases
        .iter()
        .zip(verdicts)
        .map(|(r, vs)| {
            let verdict = vs.iter().map(verdict_text).collect::<Vec<_>>().join(" | ");
            let (class, cell) = match vs.iter().any(|v| v.as_ref().is_ok_and(|v| v.accepted)) {
                true => ("gb-accepted", "gb-positive"),
                false => ("gb-rejected", "gb-negative"),
            };
            format!(
                "<tr class=\"{class}\"><th scope=\"row\"><a href=\"releases/{}.html\">{}</a></th>{}{}<td class=\"{cell}\">{}</td></tr>",
                esc(&r.file),
                esc(&r.component),
                td(&r.version),
                td(&r.target),
                esc(&verdict)
            )
        })
        .collect();
    let mut body = String::from("<section class=\"gb-releases\">\n<h2>Releases</h2>\n");
    if rows.is_empty() {
        body.push_str("<p>The log and the attestations hold no release.</p>\n");
    } else {
        body.push_str(&unverified_note(
            "the releases and glassbox verify's verdict on each, as the site was generated. Each release's \
             page checks the statements it shows.",
        ));
        body.push_str(&table(
            "gb-table gb-unverified",
            "Releases and the policy verdict on each (not checked in this browser)",
            &["component", "version", "target", "policy verdict"],
            &rows,
        ));
    }
    body.push_str(
        "<p><a href=\"rebuilds.html\">Rebuilds</a>: every release against every rebuilder key of the policy, \
         each verdict checked in this browser.</p>\n",
    );
    body.push_str("</section>\n");
    body.push_str(&checkpoint_section(log));
    if custody {
        body.push_str(
            "<p><a href=\"custody.html\">Sample custody</a>: intake, requests and releases of samples.</p>\n",
        );
    }
    page(chrome, "Transparency report", "", &body, &[])
}

/// What a release page needs besides the release.
pub struct ReleaseContext<'a> {
    pub chrome: &'a Chrome,
    pub log: &'a Log,
    pub policy: &'a Policy,
    pub shown: &'a [Shown],
    /// Report page of a FAILED verdict, by statement index: `Ok(path)` (relative to the site's
    /// root) or why there is none.
    pub reports: &'a std::collections::BTreeMap<usize, std::result::Result<String, String>>,
}

/// The log index cell; a statement not in the log fails its row anyway ("not in the log").
pub fn log_index(s: &Shown) -> String {
    s.log_index.map_or_else(|| td_unverified("not in the log"), td_log_index)
}

/// How many of the policy's rebuilder keys signed a verdict the release page shows (the
/// signature verifies), and which have none yet: the site's reading, so marked unchecked.
fn rebuilder_count(cx: &ReleaseContext<'_>, r: &Release) -> String {
    let keys = &cx.policy.rebuilds.keys;
    if keys.is_empty() {
        return String::new();
    }
    let mut have = std::collections::BTreeSet::new();
    for &n in &r.verdicts {
        have.extend(cx.shown[n].signed_by_one_of(keys));
    }
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !have.contains(&k.id))
        .map(|k| format!("{} ({})", key_name(&k.path), k.id.short()))
        .collect();
    let done = keys.len() - missing.len();
    let rest = match missing.is_empty() {
        true => String::new(),
        false => format!("; not yet rebuilt by: {}", missing.join(", ")),
    };
    let class = if missing.is_empty() { "" } else { " gb-waiting" };
    format!(
        "<p class=\"gb-rebuilder-count gb-unverified{class}\">{done} of {} rebuilders the policy trusts have a verdict \
         on this release{} (the site's reading when it was generated, not checked in this browser).</p>\n",
        keys.len(),
        esc(&rest)
    )
}

/// releases/<file>.html, with the records of every statement shown.
pub fn release(cx: &ReleaseContext<'_>, r: &Release, verdicts: &Verdicts) -> (String, Vec<Record>) {
    let (shown, policy, log) = (cx.shown, cx.policy, cx.log);
    let mut records = Vec::new();
    let mut body = String::new();
    body.push_str("<section class=\"gb-verdict\">\n<h2>Policy verdict</h2>\n");
    body.push_str(&unverified_note(
        "glassbox verify's reading of the policy when the site was generated. The tables below it are \
         checked row by row.",
    ));
    for (v, &p) in verdicts.iter().zip(&r.provenances) {
        // The bundle the verdict is about, by the name its provenance gives it (never the
        // operator's file name of the statement).
        let subject = &shown[p].found.statement.subject;
        let bundle = subject.iter().filter_map(|d| d.name.as_deref()).find(|n| n.ends_with(".tar.gz"));
        let sign = if v.as_ref().is_ok_and(|v| v.accepted) { "gb-positive" } else { "gb-negative" };
        body.push_str(&format!(
            "<p class=\"gb-verdict-line gb-unverified {sign}\">{}: {}</p>\n",
            esc(bundle.unwrap_or("this release")),
            esc(&verdict_text(v))
        ));
        if let Ok(v) = v {
            let rows: Vec<String> = v
                .requirements
                .iter()
                .map(|q| {
                    let status = match q.met {
                        true => "<td class=\"gb-positive\">met</td>",
                        false => "<td class=\"gb-negative\">NOT met</td>",
                    };
                    format!("<tr><th scope=\"row\">{}</th>{status}{}</tr>", esc(&q.name), td(&q.summary))
                })
                .collect();
            body.push_str(&table(
                "gb-table gb-unverified",
                "The policy's requirements (not checked in this browser)",
                &["requirement", "met?", "as glassbox verify says"],
                &rows,
            ));
        }
    }
    body.push_str("</section>\n");

    // Artifacts and provenance.
    let mut artifact_rows = Vec::new();
    let mut provenance_rows = Vec::new();
    for &p in &r.provenances {
        let s = &shown[p];
        let row = row_id(&s.found.digest);
        let mut paths = Vec::new();
        for n in 0..s.found.statement.subject.len() {
            let (name, sha) = (format!("subject.{n}.name"), format!("subject.{n}.digest.sha256"));
            artifact_rows.push(statement_row(&row, &[td_claim(&s.payload, &name), td_claim_code(&s.payload, &sha)]));
            paths.extend([name, sha]);
        }
        let ext = "predicate.buildDefinition.externalParameters";
        let fields = ["source.digest.sha256", "source.digest.gitCommit", "target"].map(|f| format!("{ext}.{f}"));
        provenance_rows.push(statement_row(
            &row,
            &[
                log_index(s),
                td_claim_code(&s.payload, &fields[0]),
                td_claim_code(&s.payload, &fields[1]),
                td_claim(&s.payload, &fields[2]),
                td_signer(&describe_signer(s, &policy.builders, "builder")),
                td_envelope(&format!("../{}", envelope_url(&s.found.digest))),
            ],
        ));
        paths.extend(fields);
        let keys: Vec<_> = policy.builders.iter().collect();
        records.push(record(log, &s.found.digest, s.log_index, ("builder", &keys), &s.payload, &paths));
    }
    body.push_str("<section class=\"gb-artifacts\">\n<h2>Artifacts</h2>\n");
    body.push_str(&table(
        "gb-table",
        "The artifacts, as the builder's signed provenance names them",
        &["name", "sha256", "checked in this browser"],
        &artifact_rows,
    ));
    body.push_str("</section>\n<section class=\"gb-provenance\">\n<h2>Provenance</h2>\n");
    body.push_str(&table(
        "gb-table",
        "The builder's signed provenance: what was built, from which source",
        &["log index", "source digest", "git commit", "target", "builder key", "raw", "checked in this browser"],
        &provenance_rows,
    ));
    body.push_str("</section>\n");

    // Rebuild verdicts.
    let rebuild_keys: Vec<_> = policy.rebuilds.keys.iter().collect();
    let mut rows = Vec::new();
    for &n in &r.verdicts {
        let s = &shown[n];
        let report = match cx.reports.get(&n) {
            Some(Ok(path)) => td_unverified_link(&format!("../{path}"), "mismatch report"),
            Some(Err(why)) => td_unverified(why),
            None => td_unverified(""),
        };
        let paths = ["predicate.verificationResult".to_string(), "predicate.timeVerified".to_string()];
        rows.push(statement_row(
            &row_id(&s.found.digest),
            &[
                td_signer(&describe_signer(s, &policy.rebuilds.keys, "rebuilder")),
                td_claim_result(&s.payload, &paths[0]),
                td_claim(&s.payload, &paths[1]),
                log_index(s),
                report,
                td_envelope(&format!("../{}", envelope_url(&s.found.digest))),
            ],
        ));
        records.push(record(log, &s.found.digest, s.log_index, ("rebuilder", &rebuild_keys), &s.payload, &paths));
    }
    body.push_str("<section class=\"gb-rebuilds\">\n<h2>Rebuild verdicts</h2>\n");
    body.push_str(&rebuilder_count(cx, r));
    body.push_str(
        "<p>Every release against every rebuilder the policy trusts: <a href=\"../rebuilds.html\">rebuilds</a>.</p>\n",
    );
    if rows.is_empty() {
        body.push_str("<p>No rebuild verdict about these artifacts.</p>\n");
    } else {
        body.push_str(&table(
            "gb-table",
            "Rebuild verdicts: independent rebuilders' signed results",
            &[
                "rebuilder key",
                "result",
                "rebuilt at",
                "log index",
                "report (not checked)",
                "raw",
                "checked in this browser",
            ],
            &rows,
        ));
    }
    body.push_str("</section>\n");

    // Reviews.
    let review_keys: Vec<_> = policy.reviews.keys.iter().collect();
    let mut rows = Vec::new();
    for &n in &r.reviews {
        let s = &shown[n];
        let paths = ["predicate.criteria", "predicate.scope", "subject.0.digest.sha256", "predicate.findings"];
        rows.push(statement_row(
            &row_id(&s.found.digest),
            &[
                td_signer(&describe_signer(s, &policy.reviews.keys, "reviewer")),
                td_claim(&s.payload, paths[0]),
                td_claim_scope(&s.payload, paths[1]),
                td_claim_code(&s.payload, paths[2]),
                td_claim_findings(&s.payload, paths[3]),
                log_index(s),
                td_envelope(&format!("../{}", envelope_url(&s.found.digest))),
            ],
        ));
        let paths = paths.map(String::from);
        records.push(record(log, &s.found.digest, s.log_index, ("reviewer", &review_keys), &s.payload, &paths));
    }
    body.push_str("<section class=\"gb-reviews\">\n<h2>Source reviews</h2>\n");
    if rows.is_empty() {
        body.push_str("<p>No review of this source.</p>\n");
    } else {
        body.push_str(&table(
            "gb-table",
            "Source reviews: reviewers' signed findings",
            &["reviewer key", "criteria", "scope", "source", "findings", "log index", "raw", "checked in this browser"],
            &rows,
        ));
    }
    body.push_str("</section>\n");
    let title = format!("{} {} ({})", r.component, r.version, r.target);
    let values: Vec<Value> = records.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
    let about = serde_json::json!({"component": r.component, "version": r.version, "target": r.target});
    (page_about(cx.chrome, &title, "../", &body, &values, Some(about)), records)
}
