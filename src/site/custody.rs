//! The custody page (`custody.html`): per month, samples taken in and released (an inline SVG
//! bar chart glassbox draws itself, deterministically), approvals, break-glass requests and
//! releases, releases per intake, requests and releases by reason, destination, requester role
//! and country, every violation `sample audit` finds, the releases with their requests and
//! approvals (statement records, `releases`), and the receipt box; and the data the receipt box
//! reads: the `custody/intakes/<N>.json` and `custody/lookup/<2 hex>.json` shards.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::html::{esc, page, table, td, unverified_note, Chrome};
use super::model::{record, Log, Record};
use crate::custody::audit::{Counts, Report};
use crate::custody::statements::Custody;
use crate::digest::Sha256Digest;
use crate::error::Result;
use crate::policy::samples::SamplesPolicy;
use crate::policy::TrustedKey;

mod releases;

/// What the custody part of the site is: the page, its JSON files and the envelopes to copy.
pub struct CustodyFiles {
    pub files: BTreeMap<String, Vec<u8>>,
    /// The releases the page links to: (log index, envelope digest). Intake batches and
    /// requests get no copy (a log of 100,000 entries would make as many files): their records
    /// name the line's range in the log's own envelope bundle.
    pub envelopes: Vec<(u64, Sha256Digest)>,
    pub records: usize,
}

/// The payload of a logged custody statement, for claims.
fn payload(log: &Log, index: u64) -> Result<Value> {
    let line = log.envelope_line(index)?;
    let envelope: Option<crate::attest::Envelope> = serde_json::from_slice(&line).ok();
    let bytes = envelope.and_then(|e| e.payload_bytes().ok()).unwrap_or_default();
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A custody statement's record, trusting `keys` for `role`; `copied` when the site has a copy of
/// its envelope, else the record names the line's range in the log's envelope bundle.
fn custody_record(
    log: &Log,
    c: &Custody,
    (role, keys): (&str, &[&TrustedKey]),
    paths: &[&str],
    copied: bool,
) -> Result<(Record, Value)> {
    // A record that claims nothing (an intake batch's) needs no payload: a log of 100,000
    // entries is mostly intake batches, and decoding each was most of the custody page's time.
    let p = if paths.is_empty() { Value::Null } else { payload(log, c.index())? };
    let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
    let mut r = record(log, &c.envelope(), Some(c.index()), (role, keys), &p, &paths);
    if !copied {
        let (offset, length) = log.envelope_span(c.index())?;
        (r.envelope_url, r.envelope_offset, r.envelope_length) = (None, Some(offset), Some(length));
    }
    Ok((r, p))
}

/// The role of a custody statement's record and the policy keys trusted for it.
fn role_of<'p>(c: &Custody, samples: &'p SamplesPolicy) -> (&'static str, Vec<&'p TrustedKey>) {
    let role = match c {
        Custody::Intake(_) => "center",
        Custody::Request(_) => "requester",
        Custody::Decision(_) => "approver",
        Custody::Release(_) => "gateway",
    };
    (role, c.role_keys(samples))
}

/// Renders the custody page and data from the audit's report.
pub fn render(chrome: &Chrome, log: &Log, report: &Report, samples: &SamplesPolicy) -> Result<CustodyFiles> {
    let mut files = BTreeMap::new();
    let mut body = String::new();

    // Per month.
    let bars: Vec<(String, u64, u64)> =
        report.periods.iter().map(|p| (p.period.clone(), p.samples_in, p.releases)).collect();
    body.push_str("<section class=\"gb-custody-months\">\n<h2>Samples per month</h2>\n");
    body.push_str(&unverified_note(
        "the counts, the chart and the violations are glassbox sample audit's reading of the whole log when \
         the site was generated. The releases, their requests and approvals, and the receipt box below are \
         checked in this browser.",
    ));
    body.push_str(&bar_chart(&bars));
    let rows: Vec<String> = report
        .periods
        .iter()
        .map(|p| {
            let cells = [
                p.samples_in,
                p.requests,
                p.approvals,
                p.releases,
                p.break_glass.requests,
                p.break_glass.releases,
                p.denials,
            ];
            let cells: String = cells.iter().map(|n| format!("<td>{n}</td>")).collect();
            format!("<tr>{}{cells}<td>{}</td></tr>", td(&p.period), esc(&percent(p.releases, p.samples_in)))
        })
        .collect();
    body.push_str(&table(
        "gb-table gb-unverified",
        "Samples per month (counted by glassbox when the site was generated, not checked in this browser)",
        &[
            "month",
            "samples in",
            "requests",
            "approvals",
            "released",
            "break-glass requests",
            "break-glass released",
            "denied",
            "released per intake",
        ],
        &rows,
    ));
    body.push_str(
        "<p>A break-glass request is an emergency: its sample may leave before the outside approvers have \
         approved, and their approval is then due within the window the policy sets (the violations below \
         list any that came too late).</p>\n",
    );
    body.push_str("</section>\n");

    // By reason, destination, requester role and country, over the whole log.
    let mut breakdowns: [BTreeMap<String, Counts>; 4] = Default::default();
    for p in &report.periods {
        for (into, from) in breakdowns.iter_mut().zip([&p.by_reason, &p.by_destination, &p.by_role, &p.by_country]) {
            for (k, c) in from {
                let e = into.entry(k.clone()).or_default();
                e.requests += c.requests;
                e.releases += c.releases;
            }
        }
    }
    let titles = [
        ("By reason", "reason"),
        ("By destination", "destination"),
        ("By requester's role", "requester's role"),
        ("By requester's country", "requester's country"),
    ];
    for ((title, what), map) in titles.iter().zip(&breakdowns) {
        let rows: Vec<String> = map
            .iter()
            .map(|(k, c)| format!("<tr>{}<td>{}</td><td>{}</td></tr>", td(k), c.requests, c.releases))
            .collect();
        body.push_str(&format!("<section>\n<h2>{}</h2>\n", esc(title)));
        let caption = format!("Requests and releases {} (not checked in this browser)", title.to_lowercase());
        body.push_str(&table("gb-table gb-unverified", &caption, &[what, "requests", "releases"], &rows));
        body.push_str("</section>\n");
    }

    // Violations.
    body.push_str("<section class=\"gb-violations\">\n<h2>Violations</h2>\n");
    if report.violations.is_empty() {
        body.push_str("<p>sample audit finds no violation in the log.</p>\n");
    } else {
        let rows: Vec<String> = report
            .violations
            .iter()
            .map(|v| {
                format!("<tr><td>{}</td><td class=\"gb-negative\">{}</td>{}</tr>", v.index, esc(&v.kind), td(&v.detail))
            })
            .collect();
        body.push_str(&table(
            "gb-table gb-unverified gb-violation-list",
            "Violations glassbox sample audit finds (not checked in this browser)",
            &["log index", "kind", "detail"],
            &rows,
        ));
    }
    body.push_str("</section>\n");

    // Releases, each with its request and approvals: statement records.
    let shown = releases::render(log, &report.decoded, samples)?;
    body.push_str(&shown.html);
    body.push_str(RECEIPT_BOX);

    // Intakes (nearly every entry of a large log, so on all cores) and the lookup shards.
    // No row shows an intake batch, so its record claims nothing: the receipt box compares the
    // batch's merkleRoot with the receipt itself. (At 100,000 entries the claims were 25 MB of
    // the intake records' 68 MB.)
    let intakes: Vec<Record> = {
        use rayon::prelude::*;
        report
            .decoded
            .par_iter()
            .filter(|c| matches!(c, Custody::Intake(_)))
            .map(|c| {
                let (role, keys) = role_of(c, samples);
                Ok(custody_record(log, c, (role, &keys), &[], false)?.0)
            })
            .collect::<Result<_>>()?
    };
    let mut lookup: BTreeMap<String, (Vec<Record>, Vec<Record>)> = BTreeMap::new();
    for c in &report.decoded {
        match c {
            Custody::Intake(_) => continue,
            Custody::Request(l) => {
                let paths =
                    ["predicate.reason", "predicate.destination", "predicate.requestedAt", "predicate.intake.logIndex"];
                let (role, keys) = role_of(c, samples);
                let (r, _) = custody_record(log, c, (role, &keys), &paths, false)?;
                lookup.entry(l.subject.hex()).or_default().0.push(r);
            }
            Custody::Decision(_) => continue,
            Custody::Release(l) => {
                let r = releases::lookup_record(log, c, samples)?;
                lookup.entry(l.subject.hex()).or_default().1.push(r);
            }
        }
    }

    let values: Vec<Value> = shown.records.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
    files.insert("custody.html".to_string(), page(chrome, "Sample custody", "", &body, &values).into_bytes());
    // Intake batches by log index, INTAKE_SHARD to a file: a receipt names its batch's index,
    // so the receipt box reads one small file, not every batch of the log.
    let mut shards: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    for r in &intakes {
        shards.entry(r.log_index.unwrap_or_default() / INTAKE_SHARD).or_default().push(r);
    }
    // 45 MB of JSON at 100,000 entries: serialised on all cores.
    let shards: Vec<(u64, Vec<&Record>)> = shards.into_iter().collect();
    let shards: Vec<(String, Vec<u8>)> = {
        use rayon::prelude::*;
        shards.par_iter().map(|(n, shard)| (format!("custody/intakes/{n}.json"), json_bytes(shard))).collect()
    };
    files.extend(shards);
    let count = shown.records.len() + intakes.len() + lookup.values().map(|(a, b)| a.len() + b.len()).sum::<usize>();
    // Every shard exists (possibly `{}`), so a missing file is never an answer.
    for byte in 0..=255u8 {
        let prefix = format!("{byte:02x}");
        let shard: BTreeMap<&String, Value> = lookup
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, (req, rel))| (k, json!({"requests": req, "releases": rel})))
            .collect();
        files.insert(format!("custody/lookup/{prefix}.json"), json_bytes(&shard));
    }
    Ok(CustodyFiles { files, envelopes: shown.envelopes, records: count })
}

/// Intake batch records per `custody/intakes/<N>.json` (log indices `64·N` to `64·N + 63`).
pub const INTAKE_SHARD: u64 = 64;

fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `released / in` as a percentage with two decimals, or "n/a" without intake.
fn percent(released: u64, taken_in: u64) -> String {
    if taken_in == 0 {
        return "n/a".into();
    }
    // Integer arithmetic: the same text on every machine.
    let hundredths = (u128::from(released) * 10_000 + u128::from(taken_in) / 2) / u128::from(taken_in);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// The receipt box: a file picker and a paste box (the file is read in the browser, never
/// uploaded), the Check button, and the answer verify.js writes.
const RECEIPT_BOX: &str = "<section class=\"gb-receipt-box\">\n<h2>Was my sample requested or released?</h2>\n\
<p>When the center took your sample in, it gave you a receipt: a small file ending in <code>.json</code>. \
Choose that file, or paste its text, and this page tells you whether anyone asked for your sample and whether \
it left the center. The receipt is read and checked in this browser against the log key above; nothing is \
sent anywhere.</p>\n\
<p class=\"gb-receipt-file\"><label for=\"gb-receipt-file\">Choose your receipt file</label>\n\
<input type=\"file\" id=\"gb-receipt-file\" accept=\".json,application/json,text/plain\"></p>\n\
<label for=\"gb-receipt\">Or paste the receipt's text (it starts with <code>{</code>)</label>\n\
<textarea id=\"gb-receipt\" rows=\"8\" spellcheck=\"false\"></textarea>\n\
<p><button id=\"gb-receipt-check\" type=\"button\">Check</button></p>\n\
<div id=\"gb-receipt-answer\" data-state=\"empty\" aria-live=\"polite\">The receipt box needs JavaScript; \
without it, run <code>glassbox sample lookup</code> with your receipt.</div>\n</section>\n";

/// Chart geometry (pixels): narrow enough for a 390 px phone, labels at 13 px.
const CHART_WIDTH: u64 = 340;
const LABEL_WIDTH: u64 = 64;
const BAR_MAX: u64 = 200;
const ROW: u64 = 24;
const BAR_HEIGHT: u64 = 16;
const FONT: u64 = 13;

/// The per-month charts: samples taken in, and samples released, each a horizontal bar chart on
/// its own scale (released counts are a sliver of intakes of thousands, invisible on a shared
/// axis) with every bar's number beside it. Integer coordinates only, so the same data draw the
/// same bytes.
pub fn bar_chart(bars: &[(String, u64, u64)]) -> String {
    let taken_in: Vec<(&str, u64)> = bars.iter().map(|(l, a, _)| (l.as_str(), *a)).collect();
    let released: Vec<(&str, u64)> = bars.iter().map(|(l, _, b)| (l.as_str(), *b)).collect();
    let mut out = String::from("<div class=\"gb-charts\">\n");
    out.push_str(&one_chart("Samples taken in per month", "gb-bar-in", &taken_in));
    out.push_str(&one_chart("Samples released per month (its own scale)", "gb-bar-out", &released));
    out.push_str("</div>\n");
    out
}

/// One chart: a figure with its caption, a bar per label scaled to the largest value.
fn one_chart(title: &str, class: &str, bars: &[(&str, u64)]) -> String {
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = ROW * bars.len() as u64 + 4;
    let summary: Vec<String> = bars.iter().map(|(l, v)| format!("{l}: {v}")).collect();
    let mut out = format!(
        "<figure class=\"gb-chart\">\n<figcaption>{}</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"{}\">\n",
        esc(title),
        esc(&format!("{title}: {}", if summary.is_empty() { "none".into() } else { summary.join(", ") }))
    );
    for (n, (label, value)) in bars.iter().enumerate() {
        let y = ROW * n as u64 + 2;
        let w = (u128::from(*value) * u128::from(BAR_MAX) / u128::from(max)) as u64;
        // A value above zero always shows at least a sliver.
        let w = if *value > 0 { w.max(2) } else { 0 };
        let text_y = y + BAR_HEIGHT - 3;
        out.push_str(&format!(
            "<text x=\"0\" y=\"{text_y}\" font-size=\"{FONT}\">{}</text>\
             <rect class=\"{class}\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{w}\" height=\"{BAR_HEIGHT}\"/>\
             <text x=\"{}\" y=\"{text_y}\" font-size=\"{FONT}\">{value}</text>\n",
            esc(label),
            LABEL_WIDTH + w + 4,
        ));
    }
    out.push_str("</svg>\n</figure>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charts_scale_each_to_its_largest_bar_and_print_every_number() {
        let svg = bar_chart(&[("2026-11".into(), 2000, 4), ("<x>".into(), 1000, 0)]);
        // Intake: 2000 is the full 200 px, 1000 half; released on its own scale: 4 is 200 px.
        assert!(svg.contains("x=\"64\" y=\"2\" width=\"200\" height=\"16\""), "{svg}");
        assert!(svg.contains("x=\"64\" y=\"26\" width=\"100\" height=\"16\""), "{svg}");
        assert_eq!(svg.matches("class=\"gb-bar-out\" x=\"64\" y=\"2\" width=\"200\"").count(), 1, "{svg}");
        for number in [">2000<", ">1000<", ">4<", ">0<"] {
            assert!(svg.contains(number), "{number} is printed: {svg}");
        }
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert_eq!(svg, bar_chart(&[("2026-11".into(), 2000, 4), ("<x>".into(), 1000, 0)]));
        assert_eq!(svg.matches("<svg").count(), 2);
        assert_eq!(svg.matches("font-size=\"13\"").count(), svg.matches("font-size").count(), "labels at 13 px");
        // One released out of thousands still shows a bar.
        let thin = bar_chart(&[("a".into(), 5000, 1), ("b".into(), 4000, 900)]);
        assert!(thin.contains("class=\"gb-bar-out\" x=\"64\" y=\"2\" width=\"2\""), "{thin}");
        assert!(bar_chart(&[]).contains("none"));
    }

    #[test]
    fn percentages_are_exact_text() {
        assert_eq!(percent(1, 3), "33.33%");
        assert_eq!(percent(2, 3), "66.67%");
        assert_eq!(percent(0, 0), "n/a");
        assert_eq!(percent(5, 5), "100.00%");
    }
}
