//! Parser for the signature database text format (`signatures/signatures.txt`).
//!
//! This module is compiled twice: into the build script (via `#[path]`), which
//! turns the database into Rust code, and into the library's unit tests, which
//! check the validation rules. It therefore uses only `std`.

use std::collections::BTreeMap;
use std::fmt;

/// One validated signature from the database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique signature name, e.g. `EICAR-Test-File`.
    pub name: String,
    /// The byte pattern to look for.
    pub pattern: Vec<u8>,
    /// 1-based line number in the database file.
    pub line: usize,
}

/// A validation failure, pointing at the offending line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the database file.
    pub line: usize,
    /// What is wrong with that line.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses and validates a whole database, returning its entries sorted by name.
///
/// Rejects malformed lines, invalid names, bad hex, empty patterns, duplicate
/// names and duplicate patterns.
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut by_name: BTreeMap<String, Entry> = BTreeMap::new();
    let mut by_pattern: BTreeMap<Vec<u8>, (String, usize)> = BTreeMap::new();

    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| ParseError { line, message };

        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }

        let (name, pattern) = raw_line
            .split_once('\t')
            .ok_or_else(|| error("expected `NAME<TAB>PATTERN`".to_string()))?;
        let name = name.trim();
        validate_name(name).map_err(error)?;
        let pattern = parse_pattern(pattern.trim()).map_err(error)?;

        if let Some(first) = by_name.get(name) {
            return Err(error(format!(
                "duplicate signature name `{name}` (first defined on line {})",
                first.line
            )));
        }
        if let Some((other, other_line)) = by_pattern.get(&pattern) {
            return Err(error(format!(
                "signature `{name}` has the same pattern as `{other}` (line {other_line})"
            )));
        }

        by_pattern.insert(pattern.clone(), (name.to_string(), line));
        by_name.insert(
            name.to_string(),
            Entry {
                name: name.to_string(),
                pattern,
                line,
            },
        );
    }

    Ok(by_name.into_values().collect())
}

/// Checks that a signature name is non-empty and uses only `[A-Za-z0-9._-]`.
fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty signature name".to_string());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "invalid character {bad:?} in signature name `{name}`"
        ));
    }
    Ok(())
}

/// Parses a pattern: a `"quoted literal"` or space-separated hex bytes.
fn parse_pattern(pattern: &str) -> Result<Vec<u8>, String> {
    let bytes = if let Some(rest) = pattern.strip_prefix('"') {
        let literal = rest
            .strip_suffix('"')
            .ok_or_else(|| "unterminated literal: missing closing `\"`".to_string())?;
        literal.as_bytes().to_vec()
    } else {
        parse_hex(pattern)?
    };
    if bytes.is_empty() {
        return Err("empty pattern".to_string());
    }
    Ok(bytes)
}

/// Decodes hex digit pairs; spaces between pairs are allowed.
fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = hex.chars().filter(|c| *c != ' ').collect();
    let pairs = digits.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!(
            "bad hex pattern: odd number of hex digits ({})",
            digits.len()
        ));
    }
    pairs
        .map(|pair| {
            let high = pair[0].to_digit(16);
            let low = pair[1].to_digit(16);
            match (high, low) {
                (Some(high), Some(low)) => Ok((high * 16 + low) as u8),
                _ => Err(format!("bad hex byte `{}{}`", pair[0], pair[1])),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> ParseError {
        parse(text).unwrap_err()
    }

    #[test]
    fn parses_hex_and_literals_sorted_by_name() {
        let text = "# comment\n\nZeta\t\"hi there\"\r\nAlpha\t4d 5A90\n";
        let entries = parse(text).unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    name: "Alpha".to_string(),
                    pattern: vec![0x4d, 0x5a, 0x90],
                    line: 4,
                },
                Entry {
                    name: "Zeta".to_string(),
                    pattern: b"hi there".to_vec(),
                    line: 3,
                },
            ]
        );
    }

    #[test]
    fn literals_are_verbatim() {
        let entries = parse("Quote\t\"a \"quoted\" \\x41\"\n").unwrap();
        assert_eq!(entries[0].pattern, b"a \"quoted\" \\x41");
    }

    #[test]
    fn rejects_bad_hex_with_line_number() {
        let err = error_of("# header\nGood\t00 11\nBad\t00 1g\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("bad hex byte `1g`"), "{err}");

        let err = error_of("Odd\t001\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("odd number"), "{err}");
    }

    #[test]
    fn rejects_duplicate_names_with_line_number() {
        let err = error_of("Same\t00 11\n\nSame\t22 33\n");
        assert_eq!(err.line, 3);
        assert_eq!(
            err.to_string(),
            "line 3: duplicate signature name `Same` (first defined on line 1)"
        );
    }

    #[test]
    fn rejects_duplicate_patterns() {
        let err = error_of("One\t\"AB\"\nTwo\t41 42\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("same pattern as `One`"), "{err}");
    }

    #[test]
    fn rejects_malformed_lines() {
        for (text, message) in [
            ("NoTab 00\n", "expected `NAME<TAB>PATTERN`"),
            ("\t00\n", "empty signature name"),
            ("Bad Name\t00\n", "invalid character ' '"),
            ("Empty\t\n", "empty pattern"),
            ("EmptyLiteral\t\"\"\n", "empty pattern"),
            ("Open\t\"abc\n", "unterminated literal"),
        ] {
            let err = error_of(text);
            assert_eq!(err.line, 1, "{text:?}");
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
    }
}
