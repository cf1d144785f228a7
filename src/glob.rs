//! Path patterns for `glassbox.toml` excludes and review scopes: `*` and `?` stay within one
//! path component, `**` crosses components. A pattern without `/` matches any component (like
//! a `.gitignore` line); one with `/` is anchored at the tree root. A pattern that matches a
//! directory matches everything below it. Every other character is literal (`[`, `{` and `\`
//! included).
//!
//! The patterns come from sources under review, so matching must stay linear in the path
//! whatever the pattern: each pattern is compiled once into `globset`'s automaton (the
//! hand-written backtracking matcher was exponential, security review D23).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

/// One compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    set: GlobSet,
}

impl Pattern {
    /// Compiles `pattern`; errors name it.
    pub fn new(pattern: &str) -> Result<Pattern> {
        Ok(Pattern { set: PatternSet::new([pattern])?.set })
    }

    /// True when the pattern matches the relative path `path` or one of its parent directories.
    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// Several patterns compiled into one automaton: a path matches when any of them does.
#[derive(Clone, Debug, Default)]
pub struct PatternSet {
    set: GlobSet,
}

impl PatternSet {
    /// Compiles every pattern; errors name the one at fault.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<PatternSet> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            for glob in globs(pattern) {
                let compiled = GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(false)
                    .build()
                    .map_err(|e| Error::invalid(format!("pattern {pattern:?}"), e.kind().to_string()))?;
                builder.add(compiled);
            }
        }
        let set = builder.build().map_err(|e| Error::invalid("patterns", e.kind().to_string()))?;
        Ok(PatternSet { set })
    }

    /// True when any pattern matches the relative path `path` or one of its parent directories.
    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// The `globset` globs equivalent to one glassbox pattern: the pattern itself (anchored, or
/// under `**/` when it has no `/`), and the same followed by `/**` for everything below a
/// directory it matches. None for an empty pattern, which matches nothing.
fn globs(pattern: &str) -> Vec<String> {
    let trimmed = pattern.trim_end_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    let anchored = trimmed.contains('/');
    let body = literal_specials(trimmed.trim_start_matches('/'));
    let base = if anchored { body } else { format!("**/{body}") };
    vec![format!("{base}/**"), base]
}

/// `[`, `]`, `{` and `}` as one-character classes, so that globset reads them literally.
fn literal_specials(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '[' | ']' | '{' | '}' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn unanchored_patterns_match_any_component() {
        assert!(matches("*.bak", "a/b/c.bak"));
        assert!(matches("target", "x/target/debug/app"));
        assert!(matches("*.bak", "a/b.bak/c.rs")); // a directory named *.bak: all below it
        assert!(!matches("*.rs", "src/main.rsx"));
        assert!(matches("ma?n.rs", "src/main.rs"));
    }

    #[test]
    fn anchored_patterns_and_double_star() {
        assert!(matches("docs/**", "docs/a/b.md"));
        assert!(matches("docs", "docs/a.md"));
        assert!(!matches("/docs", "src/docs/a.md"));
        assert!(matches("src/**/*.rs", "src/a/b/c.rs"));
        assert!(matches("src/**/*.rs", "src/c.rs"));
        assert!(!matches("src/*.rs", "src/a/c.rs"));
        assert!(matches("**/fixtures/*.bin", "tests/fixtures/x.bin"));
        assert!(!matches("", "a"));
    }

    #[test]
    fn globset_syntax_beyond_the_documented_one_is_literal() {
        assert!(matches("[ab].rs", "x/[ab].rs"));
        assert!(!matches("[ab].rs", "a.rs"));
        assert!(matches("{a,b}", "{a,b}"));
        assert!(!matches("{a,b}", "a"));
        assert!(matches("a\\*", "a\\x"));
    }

    #[test]
    fn the_review_d23_pattern_is_fast() {
        let long = format!("{}.rs", "a".repeat(10_000));
        let set = PatternSet::new(["*a*a*a*a*a*a*a*a*a*a*a*b", "**/*a*a*a*a*a*a*c/**"]).unwrap();
        assert!(!set.matches(&long));
        assert!(set.matches(&format!("x/{}b", "a".repeat(5_000))));
    }

    /// The previous matcher, exponential on hostile input but a clear statement of the
    /// semantics on small input.
    fn reference(pattern: &str, path: &str) -> bool {
        fn here(pat: &[u8], text: &[u8]) -> bool {
            match pat {
                [] => text.is_empty(),
                [b'*', b'*', rest @ ..] => {
                    let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                    (0..=text.len())
                        .any(|i| (i == 0 || text[i - 1] == b'/' || rest.is_empty()) && here(rest, &text[i..]))
                }
                [b'*', rest @ ..] => {
                    let mut i = 0;
                    loop {
                        if here(rest, &text[i..]) {
                            return true;
                        }
                        if i == text.len() || text[i] == b'/' {
                            return false;
                        }
                        i += 1;
                    }
                }
                [b'?', rest @ ..] => matches!(text, [c, tail @ ..] if *c != b'/' && here(rest, tail)),
                [c, rest @ ..] => matches!(text, [t, tail @ ..] if t == c && here(rest, tail)),
            }
        }
        let pattern = pattern.trim_end_matches('/');
        if pattern.is_empty() {
            return false;
        }
        let anchored = pattern.contains('/');
        let pattern = pattern.trim_start_matches('/');
        let components: Vec<&str> = path.split('/').collect();
        if anchored {
            (1..=components.len()).any(|n| here(pattern.as_bytes(), components[..n].join("/").as_bytes()))
        } else {
            components.iter().any(|c| here(pattern.as_bytes(), c.as_bytes()))
        }
    }

    /// A pattern component: `**` alone, or letters, `*` and `?` without `**` inside.
    fn component() -> impl Strategy<Value = String> {
        prop_oneof![Just("**".to_string()), "[ab*?]{1,3}".prop_filter("no ** inside", |c| !c.contains("**"))]
    }

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        #[test]
        fn agrees_with_the_reference_on_small_inputs(
            lead in prop::bool::ANY,
            parts in prop::collection::vec(component(), 1..4),
            trail in prop::bool::ANY,
            path in prop::collection::vec("[ab]{1,3}", 1..4),
        ) {
            let pattern = format!("{}{}{}", if lead { "/" } else { "" }, parts.join("/"), if trail { "/" } else { "" });
            let path = path.join("/");
            prop_assert_eq!(matches(&pattern, &path), reference(&pattern, &path), "{} on {}", pattern, path);
        }

        #[test]
        fn any_pattern_compiles_and_matches_long_paths(pattern in "[ab*?/\\[\\]{},\\\\!]{0,40}", n in 1usize..2_000) {
            let path = format!("{}/{}", "a".repeat(n), "ab".repeat(n));
            let _ = Pattern::new(&pattern).map(|p| p.matches(&path));
        }
    }
}
