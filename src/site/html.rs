//! The site's HTML: an escaper for text and attribute values, the page chrome every page shares
//! (header, the banner naming the log key the browser verifies against, the `glassbox-data`
//! block, footer) and small table helpers. Every string that came from a statement, a policy or
//! a file name goes through [`esc`]; nothing here is a template engine.

use serde::Serialize;
use serde_json::Value;

/// What a status the browser fills in says before it does: "checking…" where JavaScript runs,
/// "not checked (JavaScript is off)" where it does not (the `<noscript>` style of [`page`]
/// swaps them), so that neither text is ever shown when it is false.
pub const PENDING_TEXT: &str =
    "<span class=\"gb-js\">checking…</span><span class=\"gb-nojs\">not checked (JavaScript is off)</span>";

/// The status cell of a statement row as the server writes it: the browser replaces it.
pub const PENDING: &str = "<td class=\"gb-status gb-pending\"><span class=\"gb-js\">checking…</span><span \
     class=\"gb-nojs\">not checked (JavaScript is off)</span></td>";

/// Where the page says how to get the log key independently (the footer of every page).
pub const KEY_SOURCES: &str = "gb-key-sources";

/// Escapes text for HTML element content and for attribute values in double or single quotes.
pub fn esc(text: &str) -> String {
    crate::text::html(text)
}

/// JSON for a `<script type="application/json">` block: `<` as `\u003c`, so that no
/// `</script>` or `<!--` in a value can end the block (inside JSON strings only; JSON has no
/// `<` elsewhere).
pub fn script_json<T: Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    text.replace('<', "\\u003c")
}

/// What every page's chrome and data block say about the log.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub origin: String,
    pub vkey: String,
    pub log_url: String,
    pub size: u64,
    /// Standard base64 of the root hash.
    pub root_base64: String,
    /// `[{name, vkey}]` of the policy's witnesses.
    pub witnesses: Vec<Value>,
    /// Whether the site has a custody page (the header links it).
    pub custody: bool,
}

/// One page: `title`, at `site_root` (`""` or `"../"`), with `body` (already HTML) and the
/// statement records its rows show.
pub fn page(chrome: &Chrome, title: &str, site_root: &str, body: &str, statements: &[Value]) -> String {
    page_about(chrome, title, site_root, body, statements, None)
}

/// A release's page: [`page`] whose data also names the release (`{component, version,
/// target}`), which verify.js ties the page's heading and every statement row to.
pub fn page_about(
    chrome: &Chrome,
    title: &str,
    site_root: &str,
    body: &str,
    statements: &[Value],
    release: Option<Value>,
) -> String {
    let mut data = serde_json::json!({
        "version": 1,
        "siteRoot": site_root,
        "logUrl": chrome.log_url,
        "origin": chrome.origin,
        "vkey": chrome.vkey,
        "checkpoint": {"size": chrome.size, "root": chrome.root_base64},
        "witnesses": chrome.witnesses,
        "statements": statements,
    });
    if let Some(release) = release {
        data["release"] = release;
    }
    let root = esc(site_root);
    let mut out = String::with_capacity(body.len() + 4096);
    // Not translated, and no phone number or date turned into a link: the browser's own rewrites
    // would change the text verify.js compares (the heading, the title, the cells). The title's
    // dot is a character reference, so that a server's other charset cannot change it.
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\" translate=\"no\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"format-detection\" content=\"telephone=no, date=no, address=no, email=no\">\n");
    out.push_str(&format!("<title>{} &#183; glassbox transparency</title>\n", esc(title)));
    out.push_str(&format!("<link rel=\"stylesheet\" href=\"{root}site.css\">\n"));
    out.push_str(&format!("<script type=\"application/json\" id=\"glassbox-data\">{}</script>\n", script_json(&data)));
    // Without JavaScript, the "checking…" texts are hidden and the "JavaScript is off" ones shown.
    out.push_str("<noscript><style>.gb-js{display:none}.gb-nojs{display:inline}</style></noscript>\n");
    out.push_str(&format!("<script type=\"module\" src=\"{root}verify.js\"></script>\n</head>\n<body>\n"));
    out.push_str("<a class=\"gb-skip\" href=\"#gb-main\">Skip to the content</a>\n");
    let custody =
        if chrome.custody { format!(" · <a href=\"{root}custody.html\">sample custody</a>") } else { String::new() };
    out.push_str(&format!(
        "<header class=\"gb-header\"><nav aria-label=\"site\"><a href=\"{root}index.html\">glassbox transparency</a> · \
         <span class=\"gb-origin\">{}</span> · <a href=\"{root}rebuilds.html\">rebuilds</a>{custody}</nav></header>\n",
        esc(&chrome.origin)
    ));
    out.push_str(&banner(chrome));
    out.push_str(&format!("<main id=\"gb-main\">\n<h1>{}</h1>\n", esc(title)));
    out.push_str(body);
    out.push_str("</main>\n<footer class=\"gb-footer\">\n");
    out.push_str(&key_sources(chrome));
    out.push_str(
        "<p>Generated by glassbox from the log and the attestations. \
        Every table is readable without JavaScript; with it, each row is checked in this browser \
        against the log key above. Nothing is loaded from anywhere but this site and the log.</p>\n</footer>\n",
    );
    out.push_str("</body>\n</html>\n");
    out
}

/// The footer section the banner links to: where to get the log key other than from this page,
/// and what the reader trusts besides it (docs/site.md, "What the reader still has to trust").
fn key_sources(chrome: &Chrome) -> String {
    // Each witness with its key, which verify.js checks is the key it checks cosignatures with.
    let witnesses: Vec<String> = chrome
        .witnesses
        .iter()
        .map(|w| {
            let text = |field: &str| esc(w.get(field).and_then(Value::as_str).unwrap_or_default());
            format!("{} (<code class=\"gb-witness-vkey\">{}</code>)", text("name"), text("vkey"))
        })
        .collect();
    let witnesses = match witnesses.is_empty() {
        true => String::new(),
        false => format!(" The witnesses this log names: {}.", witnesses.join(", ")),
    };
    format!(
        "<section id=\"{KEY_SOURCES}\" class=\"gb-key-sources\" aria-labelledby=\"{KEY_SOURCES}-h\">\n\
         <h2 id=\"{KEY_SOURCES}-h\">Checking the log key yourself</h2>\n\
         <p>Compare the key in the banner, character by character, with a copy you did not get from this site: \
         the vendor's source repository (<code>attestations/keys/log.vkey</code>), the vendor's release notes, \
         or a witness you trust that cosigns this log.{witnesses} A site showing another key shows another log.</p>\n\
         <p>Besides the key, you trust the site's publisher for the policy (which keys count as builders, \
         rebuilders and reviewers), for what the pages leave out (the browser checks the statements a page shows, \
         not that none is missing), and for every table marked \"not checked in this browser\".</p>\n</section>\n"
    )
}

/// The banner: which key the browser verifies against and how to get that key elsewhere.
fn banner(chrome: &Chrome) -> String {
    format!(
        "<section id=\"gb-banner\" class=\"gb-banner\" data-state=\"pending\" aria-label=\"what this browser checked\">\n\
         <p>\"Authentic, in the log\" on a row means this browser checked that the statement is signed by a key \
         the site's policy trusts, is in the log whose checkpoint is signed by the log key below, and says what \
         the row shows; it does not mean the software is good: an authentic statement can report a failed \
         rebuild. You must still trust that this is the log's real key (<a href=\"#{KEY_SOURCES}\">get it \
         independently</a>) and the site's policy and choice of what to show.</p>\n\
         <p>Log key: <code class=\"gb-vkey\">{}</code></p>\n\
         <p class=\"gb-banner-status\" role=\"status\">{PENDING_TEXT}</p>\n\
         <p id=\"gb-progress\" class=\"gb-progress\"></p>\n</section>\n",
        esc(&chrome.vkey)
    )
}

/// A table with a caption, a header row and server-rendered rows (each already `<tr>…</tr>`),
/// in a box that scrolls sideways on its own when the table is wider than the screen.
pub fn table(class: &str, caption: &str, headers: &[&str], rows: &[String]) -> String {
    let mut out = scroll_open(caption);
    out.push_str(&format!("<table class=\"{}\">\n<caption>{}</caption>\n<thead><tr>", esc(class), esc(caption)));
    for h in headers {
        out.push_str(&format!("<th scope=\"col\">{}</th>", esc(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    out
}

/// The start of a sideways-scrolling box named `label`: focusable, so that a keyboard can
/// scroll it too.
pub fn scroll_open(label: &str) -> String {
    format!("<div class=\"gb-scroll\" role=\"region\" tabindex=\"0\" aria-label=\"{}\">\n", esc(label))
}

/// A statement row: `cells` (already HTML `<td>`s) then the status cell.
pub fn statement_row(row_id: &str, cells: &[String]) -> String {
    format!("<tr data-statement=\"{}\">{}{PENDING}</tr>", esc(row_id), cells.concat())
}

/// A cell showing the value at `path` of the row's statement (`data-claim`): verify.js fails the
/// row unless the cell's text is exactly [`shown`] of the verified statement's value there.
pub fn td_claim(payload: &Value, path: &str) -> String {
    format!("<td data-claim=\"{}\">{}</td>", esc(path), esc(&shown(super::model::at_path(payload, path))))
}

/// A rebuild verdict's result cell ([`td_claim`]): any result but `PASSED` is drawn as a failure
/// (class `gb-negative`: red, with a cross), as the words already say.
pub fn td_claim_result(payload: &Value, path: &str) -> String {
    let text = shown(super::model::at_path(payload, path));
    let class = if text == "PASSED" { "gb-positive" } else { "gb-negative" };
    format!("<td class=\"{class}\" data-claim=\"{}\">{}</td>", esc(path), esc(&text))
}

/// [`td_claim`] in a `<code>` (digests, commits).
pub fn td_claim_code(payload: &Value, path: &str) -> String {
    format!("<td data-claim=\"{}\"><code>{}</code></td>", esc(path), esc(&shown(super::model::at_path(payload, path))))
}

/// [`td_claim_code`] as a link to `href` (a release's request, to the block that shows it): the
/// link changes nothing the browser compares, which is the cell's text.
pub fn td_claim_code_link(payload: &Value, path: &str, href: &str) -> String {
    format!(
        "<td data-claim=\"{}\"><a href=\"{}\"><code>{}</code></a></td>",
        esc(path),
        esc(href),
        esc(&shown(super::model::at_path(payload, path)))
    )
}

/// A flag (`data-format="yes-no"`), shown as [`shown_yes_no`].
pub fn td_claim_yes_no(payload: &Value, path: &str) -> String {
    let text = shown_yes_no(super::model::at_path(payload, path));
    format!("<td data-claim=\"{}\" data-format=\"yes-no\">{}</td>", esc(path), esc(&text))
}

/// The length of a list (`data-format="count"`), shown as [`shown_count`], as a link to `href`.
pub fn td_claim_count_link(payload: &Value, path: &str, href: &str) -> String {
    let text = shown_count(super::model::at_path(payload, path));
    format!("<td data-claim=\"{}\" data-format=\"count\"><a href=\"{}\">{}</a></td>", esc(path), esc(href), esc(&text))
}

/// A review's scope (`data-format="scope"`), shown as [`shown_scope`].
pub fn td_claim_scope(payload: &Value, path: &str) -> String {
    let text = shown_scope(super::model::at_path(payload, path));
    format!("<td data-claim=\"{}\" data-format=\"scope\">{}</td>", esc(path), esc(&text))
}

/// A review's findings (`data-format="findings"`): one `<li>` per [`shown_findings`] line, or
/// `none`.
pub fn td_claim_findings(payload: &Value, path: &str) -> String {
    let lines = shown_findings(super::model::at_path(payload, path));
    let head = format!("<td data-claim=\"{}\" data-format=\"findings\">", esc(path));
    if lines.is_empty() {
        return format!("{head}none</td>");
    }
    let items: String = lines.iter().map(|l| format!("<li>{}</li>", esc(l))).collect();
    format!("{head}<ul class=\"gb-findings\">{items}</ul></td>")
}

/// The log index cell: verify.js checks it is the index it proved the entry's inclusion at.
pub fn td_log_index(index: u64) -> String {
    format!("<td data-log-index>{index}</td>")
}

/// The signer cell: verify.js checks it names a key of the record whose signature verifies
/// ([`super::model::trusted_signer`]'s text).
pub fn td_signer(text: &str) -> String {
    format!("<td data-signer>{}</td>", esc(text))
}

/// The link to the statement's envelope on the site: verify.js checks it points at the
/// envelope it verified.
pub fn td_envelope(href: &str) -> String {
    format!("<td data-envelope><a href=\"{}\">envelope</a></td>", esc(href))
}

/// A cell of a statement row the browser does not check: shown as such (class
/// `gb-unverified`, styled apart, with a tooltip).
pub fn td_unverified(text: &str) -> String {
    format!("<td class=\"gb-unverified\" title=\"{UNVERIFIED_TITLE}\">{}</td>", esc(text))
}

/// [`td_unverified`] around a link.
pub fn td_unverified_link(href: &str, text: &str) -> String {
    format!("<td class=\"gb-unverified\" title=\"{UNVERIFIED_TITLE}\"><a href=\"{}\">{}</a></td>", esc(href), esc(text))
}

/// The tooltip of a cell the browser does not check.
pub const UNVERIFIED_TITLE: &str = "not checked in this browser: what the site's publisher says";

/// The note above a table or section whose values no signed statement carries.
pub fn unverified_note(what: &str) -> String {
    format!("<p class=\"gb-unverified-note\">Not checked in this browser: {}</p>\n", esc(what))
}

/// How a claimed value is shown (the same rule as verify.js's `shown`): a string as itself, an
/// integer within 2^53 in decimal, anything else (absent, null, a list, an object) as `none`.
pub fn shown(value: Option<&Value>) -> String {
    const SAFE: u64 = (1 << 53) - 1;
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n))
            if n.as_u64().is_some_and(|u| u <= SAFE) || n.as_i64().is_some_and(|i| i.unsigned_abs() <= SAFE) =>
        {
            n.to_string()
        }
        _ => "none".into(),
    }
}

/// A flag: `yes` for true, `no` for false, anything else `none`.
pub fn shown_yes_no(value: Option<&Value>) -> String {
    match value {
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        _ => "none".into(),
    }
}

/// A list's length in decimal; anything but a list is `none`.
pub fn shown_count(value: Option<&Value>) -> String {
    match value {
        Some(Value::Array(items)) => items.len().to_string(),
        _ => "none".into(),
    }
}

/// A review scope: `full`, `delta from <from>`, `some paths only`, else [`shown`] of its kind.
pub fn shown_scope(scope: Option<&Value>) -> String {
    let field = |name: &str| scope.and_then(|s| s.get(name));
    match field("kind").and_then(Value::as_str) {
        Some("full") => "full".into(),
        Some("delta") => format!("delta from {}", shown(field("from"))),
        Some("paths") => "some paths only".into(),
        _ => shown(field("kind")),
    }
}

/// Review findings, one line each: `<severity> <path>:<line>: <text>` (a field that is not a
/// string is empty, a line that is not a non-negative integer within 2^53 is 0).
pub fn shown_findings(findings: Option<&Value>) -> Vec<String> {
    let text = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let line = |f: &Value| f.get("line").and_then(Value::as_u64).filter(|&l| l < (1 << 53)).unwrap_or(0);
    let list = findings.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|f| format!("{} {}:{}: {}", text(f, "severity"), text(f, "path"), line(f), text(f, "text")))
        .collect()
}

/// A text cell.
pub fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(esc("<script>a&b</script>"), "&lt;script&gt;a&amp;b&lt;/script&gt;");
        assert_eq!(esc("\" onload='x'"), "&quot; onload=&#39;x&#39;");
        assert_eq!(esc("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            statement_row("a\"b", &[td("<x>")]),
            format!("<tr data-statement=\"a&quot;b\"><td>&lt;x&gt;</td>{PENDING}</tr>")
        );
        let t = table("c", "cap<", &["h"], &[]);
        assert!(t.contains("<caption>cap&lt;</caption>") && t.contains("<th scope=\"col\">h</th>"), "{t}");
    }

    #[test]
    fn flags_and_counts_are_shown_as_verify_js_shows_them() {
        let v = serde_json::json!({"t": true, "f": false, "l": ["a", "b"], "e": [], "s": "yes"});
        let at = |p: &str| super::super::model::at_path(&v, p);
        assert_eq!([shown_yes_no(at("t")), shown_yes_no(at("f")), shown_yes_no(at("s"))], ["yes", "no", "none"]);
        assert_eq!(shown_yes_no(at("missing")), "none");
        assert_eq!([shown_count(at("l")), shown_count(at("e")), shown_count(at("s"))], ["2", "0", "none"]);
        let cell = td_claim_count_link(&v, "l", "#release-<3>");
        assert_eq!(cell, "<td data-claim=\"l\" data-format=\"count\"><a href=\"#release-&lt;3&gt;\">2</a></td>");
        assert_eq!(td_claim_yes_no(&v, "f"), "<td data-claim=\"f\" data-format=\"yes-no\">no</td>");
    }

    #[test]
    fn script_json_cannot_close_the_block() {
        let text = script_json(&serde_json::json!({"a": "</script><!--"}));
        assert!(!text.contains('<'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a"], "</script><!--");
    }

    #[test]
    fn every_page_links_the_css_and_module_and_carries_its_data() {
        let chrome = Chrome {
            origin: "o<".into(),
            vkey: "v+1+k".into(),
            log_url: "log/".into(),
            size: 3,
            root_base64: "AA==".into(),
            witnesses: vec![],
            custody: false,
        };
        let html = page(&chrome, "t", "../", "<p>b</p>", &[]);
        assert!(html.contains("<link rel=\"stylesheet\" href=\"../site.css\">"));
        assert!(html.contains("<script type=\"module\" src=\"../verify.js\"></script>"));
        assert!(html.contains("id=\"gb-banner\"") && html.contains("o&lt;"));
        assert!(!html.contains("custody.html"), "no link to a page that is not there");
        assert!(html.contains("<a href=\"../rebuilds.html\">rebuilds</a>"), "every page links the rebuilds page");
        assert!(html.contains("href=\"#gb-key-sources\"") && html.contains("id=\"gb-key-sources\""), "the trust link");
        assert!(html.contains("href=\"#gb-main\"") && html.contains("<main id=\"gb-main\">"), "the skip link");
        let start = html.find("id=\"glassbox-data\">").unwrap() + 19;
        let end = start + html[start..].find("</script>").unwrap();
        let data: Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!((data["siteRoot"].as_str(), data["checkpoint"]["size"].as_u64()), (Some("../"), Some(3)));
    }
}
