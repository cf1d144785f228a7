//! `glassbox diff --html`: the standalone page for the ELF and tar pairs, read back with
//! Python's html.parser (tags balanced, no script, nothing loaded from anywhere), its tables
//! checked against `--json` and sha256sum, and hostile member names shown as text.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{bundle, diff, elf_pair, json_diff, probe_bundles, PATH_A, PATH_B, STAMP_A, STAMP_B};
use crate::support::*;

/// Reads an HTML page from stdin with html.parser and prints what it holds as JSON: every tag,
/// the text of every table row's cells, headings, list items and `<mark>`s, the whole text,
/// and the structural errors found (an end tag that closes another element, an element left
/// open, a script, an event handler, a reference to another resource).
const READ_PAGE: &str = r##"
import json, sys
from html.parser import HTMLParser
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col"}
class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.errors = [], set(), []
        self.rows, self.headings, self.items, self.marks, self.text = [], [], [], [], []
        self.row = self.cell = self.heading = self.item = self.mark = None
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href", "action") and not (v or "").startswith("#"):
                self.errors.append(f"<{tag} {k}={v!r}> loads something")
            if k.startswith("on"):
                self.errors.append(f"<{tag}> has an event handler {k}")
        if tag == "script":
            self.errors.append("a script")
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr": self.row = []
        if tag in ("td", "th"): self.cell = ""
        if tag in ("h1", "h2", "h3", "h4"): self.heading = ""
        if tag == "li": self.item = ""
        if tag == "mark": self.mark = ""
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell); self.cell = None
        if tag == "tr": self.rows.append(self.row); self.row = None
        if tag in ("h1", "h2", "h3", "h4"): self.headings.append(self.heading); self.heading = None
        if tag == "li": self.items.append(self.item); self.item = None
        if tag == "mark": self.marks.append(self.mark); self.mark = None
    def handle_data(self, data):
        self.text.append(data)
        for name in ("cell", "heading", "item", "mark"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name) + data)
page = Page()
page.feed(sys.stdin.read())
page.close()
if page.stack:
    page.errors.append(f"left open: {page.stack}")
print(json.dumps({"tags": sorted(page.tags), "rows": page.rows, "headings": page.headings, "items": page.items,
                  "marks": page.marks, "text": "".join(page.text), "errors": page.errors}))
"##;

/// `glassbox diff --html a b` (exit 1), read by [`READ_PAGE`]; `None` without Python.
fn html_page(a: &Path, b: &Path) -> Option<Value> {
    let python = python_with("html.parser, json", "python3")?;
    let (code, page, stderr) = diff(a, b, &["--html"]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(page.starts_with("<!DOCTYPE html>\n"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, &page).unwrap();
    let parsed = ok(Command::new(python).arg("-c").arg(READ_PAGE).stdin(std::fs::File::open(&file).unwrap()));
    let v: Value = serde_json::from_str(&parsed).unwrap();
    assert_eq!(v["errors"], serde_json::json!([]), "{page}");
    // The same inputs give the same page.
    assert_eq!(diff(a, b, &["--html"]).1, page);
    Some(v)
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn rows(v: &Value) -> Vec<Vec<String>> {
    v["rows"].as_array().unwrap().iter().map(texts).collect()
}

fn sha256sum(path: &Path) -> String {
    ok(Command::new("sha256sum").arg(path)).split_whitespace().next().unwrap().to_string()
}

#[test]
fn html_page_of_the_elf_pair_shows_both_sides_the_sections_and_the_strings() {
    let pair = elf_pair();
    let Some(v) = html_page(&pair.a, &pair.b) else { return };
    let rows = rows(&v);
    let side = |label: &str| rows.iter().find(|r| r[0] == label).unwrap_or_else(|| panic!("no row {label}: {rows:?}"));
    for (label, path) in [("A", &pair.a), ("B", &pair.b)] {
        let row = side(label);
        assert_eq!((row[1].as_str(), row[2].as_str()), (&*path.display().to_string(), "ELF"), "{row:?}");
        assert_eq!(row[4], sha256sum(path), "{row:?}");
    }
    let headings = texts(&v["headings"]);
    for h in ["ELF sections that differ", "Strings only in A (2)", "Strings only in B (2)"] {
        assert!(headings.iter().any(|x| x == h), "no heading {h:?}: {headings:?}");
    }
    let json = json_diff(&pair.a, &pair.b);
    for section in json["details"]["sections"].as_array().unwrap() {
        let name = section["name"].as_str().unwrap();
        let row = rows.iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("no row for {name}: {rows:?}"));
        let at = section["firstDifference"].as_u64().map_or("-".to_string(), |at| format!("+{at:#x}"));
        let size = |key: &str| section[key].as_u64().unwrap().to_string();
        assert_eq!(row[1], section["kind"].as_str().unwrap(), "{row:?}");
        assert_eq!((row[2].replace(',', ""), row[3].replace(',', "")), (size("sizeA"), size("sizeB")), "{row:?}");
        assert_eq!(row[4], at, "{row:?}");
    }
    let items = texts(&v["items"]);
    for s in [PATH_A, STAMP_A, PATH_B, STAMP_B] {
        assert!(items.iter().any(|i| i.starts_with(s)), "{s} is not listed: {items:?}");
    }
}

#[test]
fn html_page_of_the_bundles_shows_members_changes_and_the_nested_elf_report() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = probe_bundles(dir.path());
    let Some(v) = html_page(&a, &b) else { return };
    let rows = rows(&v);
    let headings = texts(&v["headings"]);
    for h in ["Only in A (removed)", "Only in B (added)", "Changed members", "ELF sections that differ"] {
        assert!(headings.iter().any(|x| x == h), "no heading {h:?}: {headings:?}");
    }
    for (path, data) in [("probe-0.1.0/old", b"o"), ("probe-0.1.0/new", b"n")] {
        let row = rows.iter().find(|r| r[0] == path).unwrap_or_else(|| panic!("no row for {path}: {rows:?}"));
        let sha = glassbox::digest::Sha256Digest::of(data).hex();
        assert_eq!(row[1..], ["file".to_string(), "1".to_string(), sha], "{row:?}");
    }
    assert!(
        headings.iter().any(|h| h == "probe-0.1.0/README") && headings.iter().any(|h| h == "probe-0.1.0/bin/probe")
    );
    assert!(rows.contains(&vec!["mode".into(), "0644".into(), "→".into(), "0600".into()]), "{rows:?}");
    // The nested report: both versions of the member, then its sections and strings.
    let nested_a = rows.iter().find(|r| r[0] == "A" && r[1] == "probe-0.1.0/bin/probe").expect("the member's sides");
    assert_eq!(nested_a[2], "ELF");
    assert!(rows.iter().any(|r| r[0] == ".rodata" && r[4].starts_with("+0x")), "{rows:?}");
    let items = texts(&v["items"]);
    assert!(items.iter().any(|i| i.starts_with(PATH_B)), "{items:?}");
}

#[test]
fn html_page_shows_hostile_member_names_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\u{1b}[2K\"'&";
    let gone = "gone</td></tr></table><h1>forged</h1>";
    bundle(&a, &[(evil, b"one", 0o644), (gone, b"x", 0o644)]);
    bundle(&b, &[(evil, b"two", 0o644)]);
    let Some(v) = html_page(&a, &b) else { return };
    assert_eq!(texts(&v["tags"]).iter().filter(|t| ["script", "img"].contains(&t.as_str())).count(), 0, "{v}");
    let headings = texts(&v["headings"]);
    let shown = "<script>alert(1)</script><img src=x onerror=alert(2)>\\x1b[2K\"'&";
    assert!(headings.iter().any(|h| h == shown), "{headings:?}");
    assert!(!headings.iter().any(|h| h == "forged"), "{headings:?}");
    assert!(rows(&v).iter().any(|r| r[0] == gone), "{v}");
    assert!(!v["text"].as_str().unwrap().contains('\u{1b}'));
}

#[test]
fn html_conflicts_with_json_and_diffoscope() {
    let pair = elf_pair();
    for other in ["--json", "--diffoscope"] {
        let (code, stdout, stderr) = diff(&pair.a, &pair.b, &["--html", other]);
        assert_eq!(code, Some(2), "{stdout}");
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
}
