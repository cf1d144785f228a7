//! Escaping for names that glassbox prints. File names, key names and statement fields come from
//! people glassbox does not trust; printed raw, a newline or an ANSI escape in one can forge a
//! line of a report or erase one above it. Everything printed that came from outside goes
//! through [`escape`] (or the [`Escaped`] wrapper).

use std::borrow::Cow;
use std::fmt;

/// `s` with every control character (C0, DEL, C1) and the Unicode bidirectional overrides
/// written as `\xNN` or `\u{NNNN}`, and backslashes doubled, so the printed text is one
/// unambiguous line. Text without such characters is returned unchanged.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x80 && needs_escape(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` printed over several lines: each line [`escape`]d, and every line after the first
/// indented by two spaces, so that no line of a multi-line message (a failed build's output)
/// can pose as a line of glassbox's own.
pub fn escape_lines(s: &str) -> String {
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(escape).collect();
    lines.join("\n  ")
}

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` safe for HTML element content and attribute values in double or single quotes: `&`,
/// `<`, `>`, `"` and `'` as character references. (The site's pages and `diff --html` share it.)
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // The HTML parser turns a raw CR into LF; the reference keeps it, so that the text a
            // page shows is the statement's (verify.js compares them).
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Displays its text through [`escape`].
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_are_indented_and_escaped() {
        assert_eq!(escape_lines("a\nb\x1b[2K\n"), "a\n  b\\x1b[2K\n  ");
        assert_eq!(escape_lines("one"), "one");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("src/main.rs"), "src/main.rs");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb"), "a\\x0ab");
        assert_eq!(escape("zz\u{1b}[2K\r"), "zz\\x1b[2K\\x0d");
        assert_eq!(escape("a\\x0ab"), "a\\\\x0ab");
        assert_eq!(escape("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(escape("\u{85}"), "\\u{0085}");
        assert_eq!(escape("naïve"), "naïve");
    }
}
