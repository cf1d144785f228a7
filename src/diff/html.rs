//! The mismatch report as one standalone HTML page (`glassbox diff --html`, and the site's
//! `reports/` pages), like diffoscope's `--html`: for each artifact both sides, the one-line
//! summary, then the differing ELF sections with sizes and offsets, one-sided strings, tar
//! members (nested reports rendered recursively, to a bounded depth) and byte windows.
//!
//! The reports may come from someone else's `.diff.json` file, so every name and value in the
//! page is escaped (control characters as the text output writes them, then HTML), the page
//! has no script and loads nothing, and the output depends only on the input (no time).

use super::{ArchiveDiff, BytesDiff, Details, DiffReport, ElfDiff, MemberInfo, SectionInfo, Side, StringsDiff};

/// Archive members nested deeper than this are summarised, not rendered: a hand-made report can
/// nest far deeper than `diff` ever does ([`super::MAX_DEPTH`]).
pub const MAX_RENDER_DEPTH: usize = 8;

/// One compared artifact: its name (as the provenance names it) and the report.
pub struct ReportItem<'a> {
    pub name: &'a str,
    pub report: &'a DiffReport,
}

/// The page's only style: inline, so the page stands alone (offline, as an attachment).
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;color:#1b1b1b;background:#fff}\
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
h3{font-size:1em;margin:1.2em 0 .4em}h4{font-size:1em;margin:.8em 0 .3em;font-weight:normal}\
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.gb-num{text-align:right;font-variant-numeric:tabular-nums}\
code,.gb-hex td{font-family:ui-monospace,monospace;font-size:.92em}.gb-hex td{white-space:pre}\
.gb-summary{padding:.4em .6em;border-left:4px solid #b00020;background:#fdf0f0}\
.gb-summary.gb-same{border-color:#1b7f3b;background:#eef8f0}\
.gb-nested{margin-left:1.2em;padding-left:.8em;border-left:2px solid #ddd}\
.gb-note{color:#555;font-size:.92em}mark{background:#ffd54f}mark.gb-first{background:#ff8a65;outline:1px solid #b00020}\
ul.gb-strings{margin:.3em 0;padding-left:1.5em}ul.gb-strings li{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}\
.gb-sha{word-break:break-all}\
.gb-scroll{overflow-x:auto;max-width:100%}code{overflow-wrap:anywhere}\
:focus-visible{outline:3px solid #1f5fbf;outline-offset:2px}.gb-back{margin:0 0 1em}";

/// A link from the page back to where it belongs (the site's release page), and what the page
/// there says about this one.
pub struct BackLink<'a> {
    pub href: &'a str,
    pub text: &'a str,
    pub note: &'a str,
}

/// The standalone page (inline CSS, no script) for `items` under `title`.
pub fn report_page(title: &str, items: &[ReportItem<'_>]) -> String {
    report_page_with(title, items, None)
}

/// [`report_page`], with a link back to `back` above the title.
pub fn report_page_with(title: &str, items: &[ReportItem<'_>], back: Option<&BackLink<'_>>) -> String {
    let mut out = String::with_capacity(16 << 10);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", esc(title)));
    if let Some(back) = back {
        out.push_str(&format!(
            "<nav class=\"gb-back\" aria-label=\"back\"><a href=\"{}\">← {}</a></nav>\n\
             <p class=\"gb-note\">{}</p>\n",
            esc(back.href),
            esc(back.text),
            esc(back.note)
        ));
    }
    out.push_str(&format!("<main>\n<h1>{}</h1>\n", esc(title)));
    let differ = items.iter().filter(|i| !i.report.identical()).count();
    out.push_str(&format!(
        "<p class=\"gb-lead\">{} compared, {differ} differ{}.</p>\n",
        plural(items.len() as u64, "artifact"),
        if differ == 1 { "s" } else { "" }
    ));
    if items.len() > 1 {
        out.push_str("<nav>\n<ul>\n");
        for (n, item) in items.iter().enumerate() {
            out.push_str(&format!(
                "<li><a href=\"#item-{}\"><code>{}</code></a>: {}</li>\n",
                n + 1,
                esc(item.name),
                esc(&item.report.summary())
            ));
        }
        out.push_str("</ul>\n</nav>\n");
    }
    for (n, item) in items.iter().enumerate() {
        out.push_str(&format!("<section class=\"gb-item\" id=\"item-{}\">\n", n + 1));
        out.push_str(&format!("<h2><code>{}</code></h2>\n", esc(item.name)));
        render_report(item.report, 0, &mut out);
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Both sides, the summary and the details of one report; `depth` is its archive nesting.
fn render_report(report: &DiffReport, depth: usize, out: &mut String) {
    open_table("gb-sides", &["side", "name", "format", "size", "sha256"], out);
    for (label, side) in [("A", &report.a), ("B", &report.b)] {
        side_row(label, side, out);
    }
    out.push_str(CLOSE_TABLE);
    if report.identical() {
        out.push_str("<p class=\"gb-summary gb-same\">identical</p>\n");
        return;
    }
    out.push_str(&format!("<p class=\"gb-summary\">differ: {}</p>\n", esc(&report.summary())));
    match &report.details {
        Details::Identical => {}
        Details::Elf(elf) => render_elf(elf, out),
        Details::Archive(archive) => render_archive(archive, depth, out),
        Details::Bytes(bytes) => render_bytes(bytes, out),
    }
}

fn side_row(label: &str, side: &Side, out: &mut String) {
    out.push_str(&format!(
        "<tr><th scope=\"row\">{label}</th><td><code>{}</code></td><td>{}</td><td class=\"gb-num\">{}</td><td class=\"gb-sha\"><code>{}</code></td></tr>\n",
        esc(&side.name),
        side.format.label(),
        bytes_label(side.size),
        side.sha256
    ));
}

fn render_elf(elf: &ElfDiff, out: &mut String) {
    if !elf.sections.is_empty() {
        out.push_str("<h3>ELF sections that differ</h3>\n");
        open_table("gb-sections", &["section", "type", "size A", "size B", "first difference"], out);
        for s in &elf.sections {
            let at = s.first_difference.map_or("-".to_string(), |at| format!("<code>+{at:#x}</code>"));
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"gb-num\">{}</td><td class=\"gb-num\">{}</td><td>{at}</td></tr>\n",
                esc(&s.name),
                esc(&s.kind),
                group(s.size_a),
                group(s.size_b)
            ));
        }
        out.push_str(CLOSE_TABLE);
    }
    for (side, only) in [("A", &elf.only_in_a), ("B", &elf.only_in_b)] {
        sections_only(side, only, out);
    }
    if elf.sections_not_compared > 0 {
        out.push_str(&format!(
            "<p class=\"gb-note\">{} not compared (more than glassbox's limits: the section table claims too many, or overlapping ones).</p>\n",
            plural(elf.sections_not_compared as u64, "section")
        ));
    }
    if let Some(outside) = &elf.outside_sections {
        out.push_str("<h3>No section differs; the files differ outside sections</h3>\n");
        render_bytes(outside, out);
    }
    render_strings(&elf.strings, out);
    out.push_str(&format!(
        "<p class=\"gb-note\">{} of section contents compared.</p>\n",
        bytes_label(elf.section_bytes_compared)
    ));
}

fn sections_only(side: &str, only: &[SectionInfo], out: &mut String) {
    let heading = format!("ELF sections only in {side}");
    listing(&heading, "gb-sections", &["section", "type", "size"], only, out, |s| {
        format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"gb-num\">{}</td></tr>\n",
            esc(&s.name),
            esc(&s.kind),
            group(s.size)
        )
    });
}

/// A heading and a table of `items` (nothing when there are none), one `row` each.
fn listing<T>(heading: &str, class: &str, headers: &[&str], items: &[T], out: &mut String, row: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("<h3>{heading}</h3>\n"));
    open_table(class, headers, out);
    for item in items {
        out.push_str(&row(item));
    }
    out.push_str(CLOSE_TABLE);
}

/// A table's start, with its header row, in a box that scrolls sideways on its own (focusable,
/// so that a keyboard can scroll it) when the table is wider than the screen.
fn open_table(class: &str, headers: &[&str], out: &mut String) {
    out.push_str(&format!(
        "<div class=\"gb-scroll\" role=\"region\" tabindex=\"0\" aria-label=\"table: {}\">\n<table class=\"{class}\">\n<thead><tr>",
        esc(&headers.join(", "))
    ));
    for h in headers {
        out.push_str(&format!("<th scope=\"col\">{h}</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

const CLOSE_TABLE: &str = "</tbody>\n</table>\n</div>\n";

fn render_strings(strings: &StringsDiff, out: &mut String) {
    for (side, listed, total) in
        [("A", &strings.only_in_a, strings.only_in_a_total), ("B", &strings.only_in_b, strings.only_in_b_total)]
    {
        if total == 0 && listed.is_empty() {
            continue;
        }
        let at_least = if strings.truncated { "at least " } else { "" };
        out.push_str(&format!(
            "<h3>Strings only in {side} ({at_least}{})</h3>\n<ul class=\"gb-strings\">\n",
            group(total as u64)
        ));
        for s in listed {
            out.push_str(&format!("<li>{}</li>\n", esc(s)));
        }
        out.push_str("</ul>\n");
        if total > listed.len() {
            out.push_str(&format!("<p class=\"gb-note\">… and {} more.</p>\n", group((total - listed.len()) as u64)));
        }
        if strings.truncated {
            out.push_str(&format!(
                "<p class=\"gb-note\">truncated: the files hold more distinct strings than glassbox compares (the first {} of each side).</p>\n",
                group(super::MAX_STRINGS_KEPT as u64)
            ));
        }
    }
}

fn render_archive(archive: &ArchiveDiff, depth: usize, out: &mut String) {
    out.push_str(&format!(
        "<p>members: {} in A, {} in B</p>\n",
        group(archive.members_a as u64),
        group(archive.members_b as u64)
    ));
    for (what, list) in [("Only in A (removed)", &archive.removed), ("Only in B (added)", &archive.added)] {
        members_table(what, list, out);
    }
    if !archive.changed.is_empty() {
        out.push_str("<h3>Changed members</h3>\n");
    }
    for member in &archive.changed {
        out.push_str(&format!("<div class=\"gb-member\">\n<h4><code>{}</code></h4>\n", esc(&member.path)));
        if !member.changes.is_empty() {
            open_table("gb-changes", &["field", "A", "→", "B"], out);
            for c in &member.changes {
                out.push_str(&format!(
                    "<tr><td>{}</td><td><code>{}</code></td><td>→</td><td><code>{}</code></td></tr>\n",
                    esc(&c.field),
                    esc(&c.a),
                    esc(&c.b)
                ));
            }
            out.push_str(CLOSE_TABLE);
        }
        if let Some(contents) = &member.contents {
            if depth + 1 > MAX_RENDER_DEPTH {
                out.push_str(&format!(
                    "<p class=\"gb-note\">contents: {} (nested more than {MAX_RENDER_DEPTH} archives deep: not shown).</p>\n",
                    esc(&contents.summary())
                ));
            } else {
                out.push_str("<div class=\"gb-nested\">\n");
                render_report(contents, depth + 1, out);
                out.push_str("</div>\n");
            }
        }
        out.push_str("</div>\n");
    }
    if archive.order_differs {
        out.push_str("<p class=\"gb-note\">The members both archives have are in a different order.</p>\n");
    }
}

fn members_table(what: &str, list: &[MemberInfo], out: &mut String) {
    listing(what, "gb-members", &["path", "kind", "size", "sha256"], list, out, |m| {
        let sha = m.sha256.map_or(String::new(), |d| format!("<code>{d}</code>"));
        format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"gb-num\">{}</td><td class=\"gb-sha\">{sha}</td></tr>\n",
            esc(&m.path),
            esc(&m.kind),
            group(m.size)
        )
    });
}

/// Bytes shown per row of a window.
const ROW: usize = 16;

/// Both windows, row by row at the same offsets, each byte that differs from the other side's
/// marked (the first difference distinctly), with a printable-ASCII column per side.
fn render_bytes(diff: &BytesDiff, out: &mut String) {
    out.push_str(&format!("<p>first difference at offset <code>{:#x}</code></p>\n", diff.first_difference));
    let (a, b) = (&diff.window_a, &diff.window_b);
    let len = a.len().max(b.len());
    if len == 0 {
        out.push_str("<p class=\"gb-note\">both windows are empty.</p>\n");
        return;
    }
    open_table("gb-hex", &["offset", "A", "A text", "B", "B text"], out);
    for row in (0..len).step_by(ROW) {
        let offset = diff.window_start.saturating_add(row as u64);
        let end = (row + ROW).min(len);
        out.push_str(&format!("<tr><td>{offset:08x}</td>"));
        for (this, other) in [(a, b), (b, a)] {
            let (mut hex, mut text) = (String::new(), String::new());
            for i in row..end {
                if i > row {
                    hex.push(' ');
                }
                let Some(&byte) = this.get(i) else {
                    hex.push_str("  ");
                    text.push(' ');
                    continue;
                };
                let shown =
                    if byte.is_ascii_graphic() || byte == b' ' { esc(&(byte as char).to_string()) } else { ".".into() };
                if other.get(i) == Some(&byte) {
                    hex.push_str(&format!("{byte:02x}"));
                    text.push_str(&shown);
                } else {
                    let first = diff.window_start.saturating_add(i as u64) == diff.first_difference;
                    let open = if first { "<mark class=\"gb-first\">" } else { "<mark>" };
                    hex.push_str(&format!("{open}{byte:02x}</mark>"));
                    text.push_str(&format!("{open}{shown}</mark>"));
                }
            }
            out.push_str(&format!("<td>{hex}</td><td>{text}</td>"));
        }
        out.push_str("</tr>\n");
    }
    out.push_str(CLOSE_TABLE);
}

/// Text from outside, made safe for HTML text and attribute values: control characters and
/// bidirectional overrides written as the text output writes them (`\x1b`), then `&`, `<`, `>`,
/// `"` and `'` as character references.
fn esc(s: &str) -> String {
    crate::text::html(&crate::text::escape(s))
}

/// `n` with thousands separators.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes_label(n: u64) -> String {
    plural(n, "byte")
}

fn plural(n: impl Into<u64>, what: &str) -> String {
    let n = n.into();
    format!("{} {what}{}", group(n), if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::archive::tests::{gzip, tar};
    use crate::diff::diff_bytes;

    #[test]
    fn escaping_covers_text_attributes_and_control_characters() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        assert_eq!(esc("zz\u{1b}[2K\r"), "zz\\x1b[2K\\x0d");
        assert_eq!(esc("plain .rodata"), "plain .rodata");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(
            (group(0), group(999), group(1000), group(4_336_688)),
            ("0".into(), "999".into(), "1,000".into(), "4,336,688".into())
        );
        assert_eq!((bytes_label(1), bytes_label(12_345)), ("1 byte".to_string(), "12,345 bytes".to_string()));
    }

    #[test]
    fn byte_windows_mark_the_differing_bytes_at_aligned_offsets() {
        let a = b"0123456789abcdef0123456789abcdefXY";
        let b = b"0123456789abcdef0123456789abcdef_Y_";
        let report = diff_bytes("x", a, b).unwrap();
        let page = report_page("t", &[ReportItem { name: "x", report: &report }]);
        assert!(page.contains("first difference at offset <code>0x20</code>"), "{page}");
        // The window starts 16 bytes before the difference: rows at 0x10 and 0x20.
        assert!(page.contains("<tr><td>00000010</td>") && page.contains("<tr><td>00000020</td>"), "{page}");
        assert!(page.contains("<mark class=\"gb-first\">58</mark> 59"), "{page}");
        assert!(page.contains("<mark class=\"gb-first\">5f</mark> 59 <mark>5f</mark>"), "{page}");
        // A is one byte shorter: its row is padded so that the columns stay aligned.
        assert!(page.contains("<mark class=\"gb-first\">58</mark> 59   </td>"), "{page}");
    }

    #[test]
    fn archives_nest_and_hostile_names_are_escaped() {
        let evil = "x<script>alert(1)</script>\u{1b}[2K";
        let a = gzip(&tar(&[(evil, b"one", 0o644), ("gone", b"x", 0o644)], 0), 6);
        let b = gzip(&tar(&[(evil, b"two", 0o755), ("new\"'&", b"y", 0o644)], 0), 6);
        let report = diff_bytes("bundle.tar.gz", &a, &b).unwrap();
        let page = report_page("<b>title</b>", &[ReportItem { name: "a&b", report: &report }]);
        assert!(!page.contains("<script") && !page.contains('\u{1b}') && !page.contains("<b>"), "{page}");
        assert!(page.contains("x&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2K"), "{page}");
        assert!(page.contains("new&quot;&#39;&amp;") && page.contains("<code>a&amp;b</code>"), "{page}");
        assert!(page.contains("<td>mode</td><td><code>0644</code></td><td>→</td><td><code>0755</code></td>"), "{page}");
        assert!(page.contains("<h3>Only in A (removed)</h3>") && page.contains("<h3>Only in B (added)</h3>"));
        assert!(page.contains("<div class=\"gb-nested\">"), "the changed member's contents are rendered: {page}");
        assert_eq!(page, report_page("<b>title</b>", &[ReportItem { name: "a&b", report: &report }]));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_summarised() {
        let mut report = diff_bytes("m", b"one", b"two").unwrap();
        for _ in 0..MAX_RENDER_DEPTH + 3 {
            let member =
                crate::diff::MemberDiff { path: "m".into(), changes: Vec::new(), contents: Some(Box::new(report)) };
            let archive = ArchiveDiff {
                members_a: 1,
                members_b: 1,
                added: Vec::new(),
                removed: Vec::new(),
                changed: vec![member],
                order_differs: false,
            };
            report = DiffReport { details: Details::Archive(archive), ..diff_bytes("t", b"a", b"b").unwrap() };
        }
        let page = report_page("deep", &[ReportItem { name: "t", report: &report }]);
        assert_eq!(page.matches("<div class=\"gb-nested\">").count(), MAX_RENDER_DEPTH, "{page}");
        assert!(page.contains("nested more than 8 archives deep: not shown"), "{page}");
    }
}
