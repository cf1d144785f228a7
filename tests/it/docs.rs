//! The docs cannot drift: every fenced block of README.md and docs/*.md is either run or
//! explicitly exempted here with a reason.
//!
//! - ```` ```console ```` blocks are transcripts: each `$ ` line (with its `\` continuation
//!   lines, which may start with `> `) is run by `sh` in the doc's scratch directory, with the
//!   test build's `glassbox` first on `PATH`, and its output (stdout and stderr merged, in order)
//!   must match the lines below it, with snapbox's wildcards: `[..]` inside a line, `...` for any
//!   lines. A last line `? N` says the command exits with N (0 otherwise), as does a following
//!   `$ echo $?`. Shell variables a command sets stay set. All console blocks of one doc are one
//!   scenario, run in order in one directory: a test in `docs_scenarios.rs` prepares it from the
//!   suite's shared fixtures and calls [`scenario`]; [`SCENARIOS`] lists those docs.
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
pub(crate) fn documents() -> Vec<PathBuf> {
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
pub(crate) struct Block {
    pub(crate) info: String,
    pub(crate) line: usize,
    pub(crate) body: Vec<String>,
}

pub(crate) fn blocks(text: &str) -> Vec<Block> {
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

pub(crate) fn relative(doc: &Path) -> String {
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
fn run_console_blocks(doc: &str, text: &str, dir: &Path) -> Vec<String> {
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
    for block in blocks(text).into_iter().filter(|b| b.info == "console") {
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
pub(crate) fn scenario(doc: &str, prepare: impl FnOnce(&Path)) {
    assert!(SCENARIOS.contains(&doc), "{doc} is not in SCENARIOS");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    prepare(&dir);
    let text = std::fs::read_to_string(repo().join(doc)).unwrap();
    let problems = run_console_blocks(doc, &text, &dir);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The runner fails a wrong output, a wrong exit status and a missing file, and keeps variables
/// and `$?` across steps.
#[test]
fn the_runner_finds_what_a_doc_gets_wrong() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    let doc = "```console
$ X=kept; echo \"$X in [ROOT]\"
kept in [..]
$ echo $X
kept
$ echo hello
bye
$ false
$ false
$ echo $?
1
$ glassbox key id missing.pub
...
$ glassbox --version
glassbox [..]
```
";
    let problems = run_console_blocks("test.md", doc, &dir);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("test.md:6: `echo hello`:"), "{}", problems[0]);
    assert!(problems[1].starts_with("test.md:8: `false` exited 1, the doc says 0"), "{}", problems[1]);
    assert!(problems[2].starts_with("test.md:12: `glassbox key id missing.pub` exited 2"), "{}", problems[2]);
}
