//! Path patterns for `glassbox.toml` excludes and review scopes: `*` and `?` stay within one
//! path component, `**` crosses components. A pattern without `/` matches any component (like
//! a `.gitignore` line); one with `/` is anchored at the tree root. A pattern that matches a
//! directory matches everything below it.

/// True when `pattern` matches the relative path `path` or one of its parent directories.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    if pattern.is_empty() {
        return false;
    }
    let anchored = pattern.contains('/');
    let pattern = pattern.trim_start_matches('/');
    let components: Vec<&str> = path.split('/').collect();
    if anchored {
        (1..=components.len()).any(|n| matches_here(pattern.as_bytes(), components[..n].join("/").as_bytes()))
    } else {
        components.iter().any(|c| matches_here(pattern.as_bytes(), c.as_bytes()))
    }
}

/// Wildcard match of the whole of `text` against the whole of `pat`.
fn matches_here(pat: &[u8], text: &[u8]) -> bool {
    match pat {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => {
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=text.len())
                .any(|i| (i == 0 || text[i - 1] == b'/' || rest.is_empty()) && matches_here(rest, &text[i..]))
        }
        [b'*', rest @ ..] => {
            let mut i = 0;
            loop {
                if matches_here(rest, &text[i..]) {
                    return true;
                }
                if i == text.len() || text[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        [b'?', rest @ ..] => matches!(text, [c, tail @ ..] if *c != b'/' && matches_here(rest, tail)),
        [c, rest @ ..] => matches!(text, [t, tail @ ..] if t == c && matches_here(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

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
}
