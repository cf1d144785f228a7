//! The docs cannot drift: every fenced block of README.md and docs/*.md is either run or
//! explicitly exempted here with a reason.
//!
//! - ```` ```console ```` blocks are transcripts: each `$ ` line (with its `\` continuation lines)
//!   is run by `sh` (continuation lines may start with `> `) in the doc's scratch directory, with the test build's `glassbox` first on
//!   `PATH`, and its output (stdout and stderr merged, in order) must match the lines below it,
//!   with snapbox's wildcards: `[..]` inside a line, `...` for any lines. A last line `? N` says
//!   the command exits with N (0 otherwise), as does a following `$ echo $?`. Shell variables a
//!   command sets stay set. All console blocks of one doc are one scenario, run
//!   in order in one directory that [`scenario`] prepares from the suite's shared fixtures.
//! - ```` ```sh ```` blocks are synopses (placeholders, services, other machines): each must be
//!   listed in [`SYNOPSES`] with why it is not run, and every `glassbox` line in it must name a
//!   real subcommand and only options that subcommand's `--help` lists.
//! - Other blocks (`toml`, `ini`, `yaml`, `text`, bare) must not look like a transcript (no line
//!   starting with `$ `): a runnable example is a console block or it is not tested. The
//!   `glassbox` command lines of `ini` blocks (systemd's `ExecStart=`) are checked like a synopsis.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// The documents whose blocks are checked.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![repo().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// One fenced block: the info string, the line its body starts on, and its body.
#[derive(Debug)]
struct Block {
    info: String,
    line: usize,
    body: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some(Block { info: info.trim().to_string(), line: n + 2, body: Vec::new() }),
            (Some(_), Some("")) => found.extend(open.take()),
            (Some(block), _) => block.body.push(line.to_string()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    found
}

fn relative(doc: &Path) -> String {
    doc.strip_prefix(repo()).unwrap().display().to_string()
}

/// The documents with console blocks, each run by a test below that prepares its directory.
const SCENARIOS: &[&str] = &[
    "docs/check.md",
    "docs/custody.md",
    "docs/deployer.md",
    "docs/formats.md",
    "docs/log.md",
    "docs/releasing.md",
    "docs/reviewer.md",
    "docs/source-review.md",
];

/// The `sh` blocks that are synopses, not runnable transcripts: (document, the block's first
/// line, why it is not run). A new `sh` block fails the test until it is a console transcript or
/// listed here.
const SYNOPSES: &[(&str, &str, &str)] = &[
    ("README.md", "cargo xtask build   #", "xtask wraps the suite itself; build tests run the glassbox build it wraps"),
    ("README.md", "glassbox key generate --out keys/builder", "the synopsis of every command, with placeholders"),
    ("README.md", "glassbox rebuild PROVENANCE", "the synopsis of every command, with placeholders"),
    ("README.md", "glassbox sample intake", "the synopsis of the custody commands; docs/custody.md runs them"),
    ("docs/check.md", "glassbox check [--manifest-path", "the synopsis; the transcript below runs it"),
    ("docs/custody.md", "glassbox sample decide REQUEST --deny", "the other decisions; custody_release tests each"),
    ("docs/custody.md", "glassbox sample forget C", "placeholders; erasure is tested in custody_intake"),
    (
        "docs/custody.md",
        "# The log's operator, once",
        "a bucket and services on other machines: custody_service tests it",
    ),
    (
        "docs/custody.md",
        "glassbox sample audit --log log --policy policy.toml [",
        "the synopsis of the audit's options",
    ),
    ("docs/custody.md", "glassbox sample lookup --receipt", "the synopsis of the lookup's options"),
    ("docs/deployer.md", "glassbox verify avscan", "the synopsis; the transcript below runs it"),
    (
        "docs/deployer.md",
        "glassbox review diff avscan-0.1.0",
        "placeholders; docs/source-review.md runs these commands",
    ),
    (
        "docs/log.md",
        "glassbox log verify attestations/log",
        "the reader's options; the transcript above runs verify, check-proof, list",
    ),
    ("docs/log.md", "glassbox key generate --out ~/keys/witness", "a service: witness_service tests it"),
    ("docs/log.md", "export AWS_ACCESS_KEY_ID", "a bucket and services: log_service_witness tests them on Ceph RGW"),
    ("docs/rebuilders.md", "# A NATS server", "a NATS server and services: rebuilder tests them"),
    ("docs/rebuilders.md", "#!/bin/sh", "a rebuilderd backend script; rebuild is tested in rebuild"),
    (
        "docs/reviewer.md",
        "glassbox key generate --out ~/keys/reviewer",
        "a full rebuild of avscan (minutes): rebuild tests run it",
    ),
    ("docs/reviewer.md", "cargo xtask build", "cargo xtask ci runs both; rebuild tests run glassbox rebuild"),
    ("docs/site.md", "glassbox site --attestations", "site tests run it on avscan's attestations and log"),
    ("docs/source-review.md", "glassbox log append attestations/log", "placeholders; log tests append"),
];

/// Every block is run or exempted; synopses name real subcommands and options.
#[test]
fn every_doc_block_is_run_or_exempted() {
    let mut used = vec![false; SYNOPSES.len()];
    let mut problems = Vec::new();
    for doc in documents() {
        let name = relative(&doc);
        for block in blocks(&std::fs::read_to_string(&doc).unwrap()) {
            let first = block.body.iter().find(|l| !l.trim().is_empty()).cloned().unwrap_or_default();
            match block.info.as_str() {
                "console" => {
                    if !SCENARIOS.contains(&name.as_str()) {
                        problems.push(format!("{name}:{}: a console block of a doc no scenario test runs", block.line));
                    }
                    if !block.body.first().is_some_and(|l| l.starts_with("$ ")) {
                        problems.push(format!("{name}:{}: a console block starts with a `$ ` command", block.line));
                    }
                }
                "sh" => {
                    match SYNOPSES.iter().position(|(d, start, _)| *d == name && first.starts_with(start)) {
                        Some(i) => used[i] = true,
                        None => problems.push(format!(
                            "{name}:{}: a sh block that is neither a console transcript nor listed in SYNOPSES",
                            block.line
                        )),
                    }
                    problems.extend(check_synopsis(&name, &block));
                }
                _ => {
                    if block.info == "ini" {
                        problems.extend(check_synopsis(&name, &block));
                    }
                    if let Some(i) = block.body.iter().position(|l| l.starts_with("$ ")) {
                        problems.push(format!(
                            "{name}:{}: a `$ ` transcript in a `{}` block: make it a console block",
                            block.line + i,
                            block.info
                        ));
                    }
                }
            }
        }
    }
    for (i, (doc, start, _)) in SYNOPSES.iter().enumerate() {
        if !used[i] {
            problems.push(format!("SYNOPSES lists a block of {doc} starting {start:?} that no longer exists"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The `glassbox` command lines of a synopsis block or unit file, continuation lines joined.
fn glassbox_lines(block: &Block) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in block.body.iter().enumerate() {
        let text = raw.split("  #").next().unwrap_or("").trim_end();
        let (text, continues) = match text.strip_suffix('\\') {
            Some(t) => (t, true),
            None => (text, false),
        };
        match &mut current {
            Some((_, so_far)) => {
                so_far.push(' ');
                so_far.push_str(text.trim());
            }
            None => {
                // `exec glassbox …` in a script, `ExecStart=/usr/bin/glassbox …` in a unit file.
                let command = match text.find("bin/glassbox ") {
                    Some(at) => &text[at + "bin/".len()..],
                    None => text.trim_start().strip_prefix("exec ").unwrap_or(text.trim_start()),
                };
                if command.starts_with("glassbox ") {
                    current = Some((block.line + i, command.to_string()));
                }
            }
        }
        if !continues {
            lines.extend(current.take());
        }
    }
    lines
}

/// Problems with the subcommands and options a synopsis block names.
fn check_synopsis(doc: &str, block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, command) in glassbox_lines(block) {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        // The subcommand path: the leading words that `--help` accepts as subcommands.
        let mut path: Vec<&str> = Vec::new();
        let mut help = help_of(&path).expect("glassbox --help");
        for word in &words {
            if word.starts_with('-') || !word.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                break;
            }
            let mut longer = path.clone();
            longer.push(word);
            match help_of(&longer) {
                Some(h) if subcommands(&help).contains(&word.to_string()) => {
                    path = longer;
                    help = h;
                }
                _ => break,
            }
        }
        if path.is_empty() || !subcommands(&help).is_empty() {
            problems.push(format!("{doc}:{line}: `{command}` names no glassbox subcommand"));
            continue;
        }
        for word in &words {
            let option = word.trim_start_matches(['[', '(']).split(['=', ']', ')', '|']).next().unwrap_or("");
            let listed = ["{option} ", "{option}\n", "{option},"]
                .iter()
                .any(|form| help.contains(&form.replace("{option}", option)));
            if option.starts_with("--") && option.len() > 2 && !listed {
                problems.push(format!("{doc}:{line}: `glassbox {}` has no option {option}", path.join(" ")));
            }
        }
    }
    problems
}

/// `glassbox <path> --help`, or None when that is not a command.
fn help_of(path: &[&str]) -> Option<String> {
    let out = output(glassbox().args(path).arg("--help"));
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(str::to_string)
        .collect()
}

/// One `$ ` command of a console block and what it must print and exit with.
struct Step {
    line: usize,
    command: String,
    expected: String,
    status: i32,
}

fn steps(block: &Block) -> Vec<Step> {
    let mut steps = written_steps(block);
    // `$ echo $?` after a command shows its exit status: that is the status it must exit with.
    for i in 1..steps.len() {
        if steps[i].command == "echo $?" {
            steps[i - 1].status = steps[i].expected.trim().parse().expect("`echo $?` shows a number");
        }
    }
    steps
}

fn written_steps(block: &Block) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    for (i, line) in block.body.iter().enumerate() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step { line: block.line + i, command: command.to_string(), expected: String::new(), status: 0 });
            continuing = command.ends_with('\\');
            continue;
        }
        let step = steps.last_mut().expect("a console block starts with a command");
        if continuing {
            step.command.push('\n');
            step.command.push_str(line.strip_prefix("> ").unwrap_or(line));
            continuing = line.ends_with('\\');
        } else if let Some(code) = line.strip_prefix("? ") {
            step.status = code.trim().parse().unwrap_or_else(|_| panic!("`? N` with a number: {line}"));
        } else {
            step.expected.push_str(line);
            step.expected.push('\n');
        }
    }
    steps
}

/// Runs the console blocks of `doc` in order in `dir`; returns every mismatch.
fn run_console_blocks(doc: &str, dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(doc)).unwrap();
    let bin_dir = Path::new(GLASSBOX).parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let variables = dir.parent().unwrap().join("variables.sh");
    std::fs::write(&variables, "").unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut redactions = snapbox::Redactions::new();
    redactions.insert("[ROOT]", dir.to_path_buf()).unwrap();
    let assert = snapbox::Assert::new().redact_with(redactions);
    let mut problems = Vec::new();
    let mut ran = 0;
    let mut last_status = 0;
    for block in blocks(&text).into_iter().filter(|b| b.info == "console") {
        for step in steps(&block) {
            ran += 1;
            // Shell variables a step sets (`C=$(…)`) stay set for the doc's later steps.
            // `$?` is the previous step's status.
            let out = output(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "exec 2>&1\nset -a\n. \"$0\"\n(exit {last_status})\n{}\nstatus=$?\nexport -p > \"$0\"\nexit $status",
                        step.command
                    ))
                    .arg(&variables)
                    .current_dir(dir)
                    .env("PATH", &path)
                    .env("HOME", &home)
                    .env("TZ", "UTC")
                    .env_remove("GLASSBOX_KEY")
                    .env("RUSTUP_HOME", rustup_home()),
            );
            let actual = String::from_utf8_lossy(&out.stdout).into_owned();
            let status = out.status.code().unwrap_or(-1);
            last_status = status;
            if status != step.status {
                problems.push(format!(
                    "{doc}:{}: `{}` exited {status}, the doc says {}\n{actual}",
                    step.line, step.command, step.status
                ));
            } else if let Err(e) =
                assert.try_eq(Some(&format!("{doc}:{}", step.line)), actual.into(), step.expected.into())
            {
                problems.push(format!("{doc}:{}: `{}`: {e}", step.line, step.command));
            }
        }
    }
    assert!(ran > 0, "{doc} has no console block to run");
    problems
}

/// Runs a doc's console blocks in the directory `prepare` sets up; fails with every mismatch.
fn scenario(doc: &str, prepare: impl FnOnce(&Path)) {
    assert!(SCENARIOS.contains(&doc), "{doc} is not in SCENARIOS");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    prepare(&dir);
    let problems = run_console_blocks(doc, &dir);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Copies a directory tree (regular files only).
fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in read_all(from) {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// docs/custody.md: the whole chain on one machine, with the guide's own policy (its `toml`
/// block) and one file to take in.
#[test]
fn custody_md() {
    if !have_tool("age", &["--version"]) {
        return;
    }
    scenario("docs/custody.md", |dir| {
        let text = std::fs::read_to_string(repo().join("docs/custody.md")).unwrap();
        let policy = blocks(&text).into_iter().find(|b| b.info == "toml").expect("the guide's policy");
        std::fs::write(dir.join("policy.toml"), policy.body.join("\n") + "\n").unwrap();
        write_tree(dir, &[("incoming/installer.exe", "MZ a suspicious installer\n")]);
    });
}

/// docs/check.md: the example on the `manifest-dir` fixture.
#[test]
fn check_md() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    scenario("docs/check.md", |dir| copy_fixture("manifest-dir", &dir.join("tests/fixtures/manifest-dir")));
}

/// docs/formats.md: the key id with openssl, the source digest and the bundles' listings of the
/// shared avscan build, a refused SOURCE_DATE_EPOCH.
#[test]
fn formats_md() {
    let pair = avscan_pair();
    scenario("docs/formats.md", |dir| {
        let text = std::fs::read_to_string(repo().join("docs/formats.md")).unwrap();
        let keys = blocks(&text).into_iter().find(|b| b.body.iter().any(|l| l.contains("BEGIN PUBLIC KEY"))).unwrap();
        let public: Vec<&str> =
            keys.body.iter().map(String::as_str).skip_while(|l| !l.contains("BEGIN PUBLIC KEY")).collect();
        std::fs::write(dir.join("rfc8032-1.pub"), public.join("\n") + "\n").unwrap();
        copy_avscan(&dir.join("examples/avscan"));
        copy_tree(&pair.a.attestations, &dir.join("attestations"));
        for bundle in ["avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz", "avscan-0.1.0-src.tar.gz"] {
            std::fs::copy(pair.a.out.join(bundle), dir.join(bundle)).unwrap();
        }
    });
}

/// docs/deployer.md: `verify` of the shared avscan build's bundle under a policy of the builder
/// and the log (the log made here from the build's provenance).
#[test]
fn deployer_md() {
    let pair = avscan_pair();
    scenario("docs/deployer.md", |dir| {
        let attestations = dir.join("attestations");
        copy_tree(&pair.a.attestations, &attestations);
        std::fs::create_dir_all(attestations.join("keys")).unwrap();
        std::fs::copy(&pair.public, attestations.join("keys/vendor.pub")).unwrap();
        let (log_key, _) = keypair(dir.parent().unwrap(), "log");
        let vkey = ok(glassbox()
            .args(["log", "init"])
            .arg(attestations.join("log"))
            .args(["--origin", "example.com/log", "--key"])
            .arg(&log_key));
        std::fs::write(attestations.join("keys/log.vkey"), vkey).unwrap();
        ok(glassbox()
            .args(["log", "append"])
            .arg(attestations.join("log"))
            .arg("--key")
            .arg(&log_key)
            .arg(attestations.join("avscan/0.1.0/x86_64-unknown-linux-gnu.provenance.intoto.jsonl")));
        std::fs::write(
            attestations.join("policy.toml"),
            "[builders]\nkeys = [\"keys/vendor.pub\"]\n[log]\nvkey = \"keys/log.vkey\"\nrequired = true\n",
        )
        .unwrap();
        let bundle = "avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz";
        std::fs::copy(pair.a.out.join(bundle), dir.join(bundle)).unwrap();
        let binary = "x86_64-unknown-linux-gnu/avscan";
        std::fs::create_dir_all(dir.join("x86_64-unknown-linux-gnu")).unwrap();
        std::fs::copy(pair.a.out.join(binary), dir.join(binary)).unwrap();
    });
}

/// docs/reviewer.md: `diff` of the two shared avscan builds, as the vendor's and the rebuild.
#[test]
fn reviewer_md() {
    let pair = avscan_pair();
    scenario("docs/reviewer.md", |dir| {
        copy_tree(&pair.a.out, &dir.join("vendor"));
        copy_tree(&pair.b.out, &dir.join("rebuilt"));
    });
}

/// docs/source-review.md: the shared avscan build's source bundle against a checkout of a next
/// version (made here: version 0.2.0, a doubled chunk size), diffed and reviewed.
#[test]
fn source_review_md() {
    let pair = avscan_pair();
    scenario("docs/source-review.md", |dir| {
        std::fs::copy(pair.a.out.join("avscan-0.1.0-src.tar.gz"), dir.join("avscan-0.1.0-src.tar.gz")).unwrap();
        let next = dir.join("avscan-0.2.0");
        copy_avscan(&next);
        for (file, old, new) in [
            ("Cargo.toml", "version = \"0.1.0\"", "version = \"0.2.0\""),
            ("crates/avscan-engine/src/lib.rs", "64 * 1024;", "128 * 1024;"),
        ] {
            let text = std::fs::read_to_string(next.join(file)).unwrap();
            assert!(text.contains(old), "{file} no longer holds {old}");
            std::fs::write(next.join(file), text.replace(old, new)).unwrap();
        }
    });
}

/// docs/releasing.md: the maintainers' keys and log, made in a fresh `attestations/`.
#[test]
fn releasing_md() {
    scenario("docs/releasing.md", |dir| std::fs::create_dir_all(dir.join("attestations/keys")).unwrap());
}

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

/// docs/log.md: the operator's commands on the shared avscan build's attestations.
#[test]
fn log_md() {
    scenario("docs/log.md", |dir| {
        let pair = avscan_pair();
        copy_tree(&pair.a.attestations, &dir.join("attestations"));
        std::fs::create_dir_all(dir.join("attestations/keys")).unwrap();
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::copy(&pair.public, dir.join("keys/vendor.pub")).unwrap();
    });
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
