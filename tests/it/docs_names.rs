//! The names the docs give must exist, and every name the code reads must be in the docs: the
//! environment variables glassbox, xtask and the tests read, the `cargo xtask` tasks, the xtask
//! alias design.md shows.

use std::path::{Path, PathBuf};

use crate::docs::{documents, relative};
use crate::support::*;

/// design.md's layout shows the real `xtask` alias of `.cargo/config.toml`.
#[test]
fn design_md_shows_the_real_xtask_alias() {
    let config = std::fs::read_to_string(repo().join(".cargo/config.toml")).unwrap();
    let alias = config.lines().find(|l| l.starts_with("xtask = ")).expect("an xtask alias");
    let design = std::fs::read_to_string(repo().join("docs/design.md")).unwrap();
    assert!(
        design.lines().any(|l| l.starts_with(".cargo/config.toml") && l.ends_with(alias)),
        "docs/design.md does not show {alias}"
    );
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect()
}

/// The names in `"NAME"` string literals that directly follow one of `openers` in `text`.
fn quoted_after(text: &str, openers: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for opener in openers {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if !name.is_empty() && rest[name.len()..].starts_with('"') {
                names.push(name);
            }
        }
    }
    names
}

/// The environment variables glassbox, xtask and the tests read, found in their sources: reads by
/// name (`var`, `var_os`, a `*_VAR` constant, xtask's `key_from_env`), the object-store prefixes
/// `log_serve.rs` filters the environment by, `TMPDIR` behind `temp_dir`, and every `GLASSBOX_*`
/// name the tests use.
fn variables_read() -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let roots = [repo().join("src"), repo().join("xtask/src"), repo().join("tests/it")];
    for file in roots.iter().flat_map(|r| rust_files(r)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut names = quoted_after(&text, &["var(\"", "var_os(\"", "_VAR: &str = \"", "key_from_env(\""]);
        if text.contains("env::temp_dir") {
            names.push("TMPDIR".to_string());
        }
        if text.contains("env::vars") {
            names.extend(
                quoted_after(&text, &["starts_with(\"", "[\"", ", \""]).into_iter().filter(|n| n.ends_with('_')),
            );
        }
        if file.starts_with(repo().join("tests")) {
            for (at, _) in text.match_indices("GLASSBOX_") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.ends_with('_') {
                    names.push(name);
                }
            }
        }
        found.extend(names.into_iter().map(|n| (n, file.clone())));
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    found
}

/// Every environment variable read anywhere is named in README.md or docs/ (a prefix as `AWS_*`).
#[test]
fn every_environment_variable_is_documented() {
    let docs: String = documents().iter().map(|d| std::fs::read_to_string(d).unwrap()).collect();
    let read = variables_read();
    for expected in
        ["GLASSBOX_ALLOW_OPEN_KEYS", "GLASSBOX_KEY", "GLASSBOX_REVIEWER_KEY", "PYTHON", "AWS_", "GLASSBOX_TEST_PYTHON"]
    {
        assert!(read.iter().any(|(n, _)| n == expected), "the scan no longer finds {expected}: {read:?}");
    }
    let missing: Vec<String> = read
        .iter()
        .filter(|(name, _)| {
            let written = if name.ends_with('_') { format!("`{name}*`") } else { format!("`{name}`") };
            !docs.contains(&written)
        })
        .map(|(name, file)| format!("{name} (read in {})", file.strip_prefix(repo()).unwrap().display()))
        .collect();
    assert!(missing.is_empty(), "environment variables no doc names (README.md, Environment variables): {missing:?}");
}

/// Every `cargo xtask TASK` the docs mention is a task xtask's usage lists.
#[test]
fn every_xtask_the_docs_name_exists() {
    let main = std::fs::read_to_string(repo().join("xtask/src/main.rs")).unwrap();
    let usage = main.split("\ntasks:\n").nth(1).expect("xtask's usage lists its tasks");
    let tasks: Vec<&str> = usage
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(tasks.contains(&"build") && tasks.contains(&"custody"), "{tasks:?}");
    let mut unknown = Vec::new();
    for doc in documents().into_iter().chain([repo().join("ARCHITECTURE.md")]) {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (at, _) in text.match_indices("cargo xtask ") {
            let task: String =
                text[at + "cargo xtask ".len()..].chars().take_while(|c| c.is_ascii_lowercase()).collect();
            if !task.is_empty() && !tasks.contains(&task.as_str()) {
                unknown.push(format!("{}: cargo xtask {task}", relative(&doc)));
            }
        }
    }
    assert!(unknown.is_empty(), "tasks xtask does not have: {unknown:?}");
}
