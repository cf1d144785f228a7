//! `glassbox diff`: two builds (`rustc -O`) of a small program that differ only in constants
//! (an absolute path, a timestamp, a number), bundles of them, identical copies, missing files,
//! and agreement with diffoscope on which ELF sections differ.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

mod html;

const PATH_A: &str = "/home/builder/src/x.rs";
const PATH_B: &str = "/home/someone/src/x.rs";
const STAMP_A: &str = "built 2026-01-02T03:04:05Z";
const STAMP_B: &str = "built 2026-11-23T18:00:00Z";

/// Two builds of one program whose constants differ, compiled once per test run. The strings
/// have equal lengths so that no section moves: the sections that differ are the ones whose
/// bytes differ, on which glassbox and diffoscope can be compared.
struct ElfPair {
    dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
}

fn elf_pair() -> &'static ElfPair {
    static PAIR: OnceLock<ElfPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let build = |name: &str, path: &str, stamp: &str, seed: u32| {
            // The same file name in two directories: rustc sees the same relative path.
            let src = dir.path().join(name);
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(src.join("main.rs"), program(path, stamp, seed)).unwrap();
            ok(Command::new("rustc")
                .args(["-O", "-C", "debuginfo=0", "--crate-name", "probe", "main.rs", "-o", "probe"])
                .current_dir(&src));
            src.join("probe")
        };
        let a = build("a", PATH_A, STAMP_A, 0x1111_2222);
        let b = build("b", PATH_B, STAMP_B, 0x3333_4444);
        ElfPair { dir, a, b }
    })
}

/// The test program: `path` and `stamp` land in `.rodata`, `seed` in `.data` (a static's
/// initial value) and in `.text` (an immediate operand).
fn program(path: &str, stamp: &str, seed: u32) -> String {
    format!(
        "use std::sync::atomic::{{AtomicU64, Ordering}};\n\
         static PATH: &str = {path:?};\n\
         static STAMP: &str = {stamp:?};\n\
         static COUNTER: AtomicU64 = AtomicU64::new({seed});\n\
         fn main() {{\n\
         \x20   let n = std::hint::black_box(7u64).wrapping_mul({seed});\n\
         \x20   let c = COUNTER.fetch_add(n, Ordering::Relaxed);\n\
         \x20   println!(\"{{}} {{}} {{c}}\", std::hint::black_box(PATH), std::hint::black_box(STAMP));\n\
         }}\n"
    )
}

fn diff(a: &Path, b: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = output(glassbox().arg("diff").arg(a).arg(b).args(extra));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_diff(a: &Path, b: &Path) -> Value {
    let (code, stdout, stderr) = diff(a, b, &["--json"]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

#[test]
fn elf_pair_names_rodata_and_the_strings_only_in_each_side() {
    let pair = elf_pair();
    let (code, stdout, stderr) = diff(&pair.a, &pair.b, &[]);
    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ELF sections differ: ") && stdout.contains(".rodata (at +0x"), "{stdout}");
    let (_, only_a) = stdout.split_once("\nstrings only in A (2):\n").expect("no list of strings only in A");
    let (only_a, only_b) = only_a.split_once("\nstrings only in B (2):\n").expect("no list of strings only in B");
    for s in [PATH_A, STAMP_A] {
        assert!(only_a.contains(s) && !only_b.contains(s), "{s} not listed under A only:\n{stdout}");
    }
    for s in [PATH_B, STAMP_B] {
        assert!(only_b.contains(s), "{s} not listed under B only:\n{stdout}");
    }

    let v = json_diff(&pair.a, &pair.b);
    assert_eq!(v["identical"], false);
    assert_eq!((v["a"]["format"].as_str(), v["b"]["format"].as_str()), (Some("elf"), Some("elf")));
    assert_eq!(v["details"]["kind"], "elf");
    let sections = v["details"]["sections"].as_array().unwrap();
    let rodata = sections.iter().find(|s| s["name"] == ".rodata").expect(".rodata is not among the sections");
    assert_eq!(rodata["kind"], "PROGBITS");
    assert_eq!(rodata["sizeA"], rodata["sizeB"]);
    assert!(rodata["firstDifference"].as_u64().is_some());
    // A string is a run of printable bytes: the linker may put another string right after it.
    let (only_a, only_b) = (strings(&v["details"]["strings"]["onlyInA"]), strings(&v["details"]["strings"]["onlyInB"]));
    assert_eq!(only_a.len(), 2, "{only_a:?}");
    assert!(only_a[0].starts_with(PATH_A) && only_a[1].starts_with(STAMP_A), "{only_a:?}");
    assert!(only_b[0].starts_with(PATH_B) && only_b[1].starts_with(STAMP_B), "{only_b:?}");
    assert_eq!(v["details"]["strings"]["onlyInATotal"], 2);
    let names: Vec<&str> = sections.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in [".rodata", ".data", ".text"] {
        assert!(names.contains(&name), "{name} is not among {names:?}");
    }
}

#[test]
fn identical_copies_exit_0() {
    let pair = elf_pair();
    let copy = pair.dir.path().join("copy-of-a");
    std::fs::copy(&pair.a, &copy).unwrap();
    let (code, stdout, stderr) = diff(&pair.a, &copy, &[]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stdout.trim_end().ends_with("identical"), "{stdout}");
    let (code, stdout, _) = diff(&pair.a, &copy, &["--json"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((v["identical"].as_bool(), v["details"]["kind"].as_str()), (Some(true), Some("identical")));
}

/// A tar.gz made with the `tar` crate: (path, contents, mode).
fn bundle(path: &Path, members: &[(&str, &[u8], u32)]) {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, data, mode) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    std::fs::File::create(path).unwrap().write_all(&bytes).unwrap();
}

/// Two bundles of the ELF pair: README's mode changed, the binary changed, `old` removed and
/// `new` added.
fn probe_bundles(dir: &Path) -> (PathBuf, PathBuf) {
    let pair = elf_pair();
    let (elf_a, elf_b) = (std::fs::read(&pair.a).unwrap(), std::fs::read(&pair.b).unwrap());
    let (a, b) = (dir.join("probe-a.tar.gz"), dir.join("probe-b.tar.gz"));
    bundle(
        &a,
        &[
            ("probe-0.1.0/README", b"same\n", 0o644),
            ("probe-0.1.0/bin/probe", &elf_a, 0o755),
            ("probe-0.1.0/old", b"o", 0o644),
        ],
    );
    bundle(
        &b,
        &[
            ("probe-0.1.0/README", b"same\n", 0o600),
            ("probe-0.1.0/bin/probe", &elf_b, 0o755),
            ("probe-0.1.0/new", b"n", 0o644),
        ],
    );
    (a, b)
}

#[test]
fn tar_gz_bundles_name_added_removed_and_changed_members() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = probe_bundles(dir.path());
    let (code, stdout, stderr) = diff(&a, &b, &[]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let summary = stdout.lines().find_map(|l| l.strip_prefix("differ: ")).unwrap();
    assert!(summary.starts_with("tar.gz members differ: probe-0.1.0/README (mode 0644 -> 0600), probe-0.1.0/bin/probe (ELF sections differ: "), "{summary}");
    assert!(summary.contains(".rodata (at +0x"), "{summary}");
    assert!(summary.ends_with("; 1 added: probe-0.1.0/new; 1 removed: probe-0.1.0/old"), "{summary}");
    assert!(stdout.contains(PATH_A) && stdout.contains(PATH_B), "the nested ELF report lists the strings:\n{stdout}");

    let v = json_diff(&a, &b);
    let details = &v["details"];
    assert_eq!((v["a"]["format"].as_str(), details["kind"].as_str()), (Some("tar.gz"), Some("archive")));
    assert_eq!(details["added"][0]["path"], "probe-0.1.0/new");
    assert_eq!(details["removed"][0]["path"], "probe-0.1.0/old");
    let changed = details["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0]["changes"], serde_json::json!([{"field": "mode", "a": "0644", "b": "0600"}]));
    assert_eq!(changed[1]["contents"]["details"]["kind"], "elf");
    assert!(changed[1]["contents"]["details"]["strings"]["onlyInB"][0].as_str().unwrap().starts_with(PATH_B));
}

#[test]
fn missing_file_exits_2_naming_it() {
    let pair = elf_pair();
    let missing = pair.dir.path().join("no-such-file");
    let (code, _, stderr) = diff(&pair.a, &missing, &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("glassbox: error: ") && stderr.contains("no-such-file"), "{stderr}");
}

#[test]
fn diffoscope_flag_passes_its_exit_status_through_or_says_it_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &[("x", "one\n"), ("y", "two\n"), ("x2", "one\n")]);
    let (x, y, x2) = (dir.path().join("x"), dir.path().join("y"), dir.path().join("x2"));
    let out = output(glassbox().arg("diff").arg("--diffoscope").arg(&x).arg(&y).env("PATH", dir.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("diffoscope is not installed"));
    if have_tool("diffoscope", &["--version"]) {
        let (code, stdout, _) = diff(&x, &y, &["--diffoscope"]);
        assert_eq!(code, Some(1));
        assert!(stdout.contains("-one") && stdout.contains("+two"), "{stdout}");
        assert_eq!(diff(&x, &x2, &["--diffoscope"]).0, Some(0));
    }
}

/// What diffoscope says differs between two ELF files, from `diffoscope --json`.
#[derive(Debug, Default)]
struct DiffoscopeElf {
    /// Sections diffoscope compares one by one (`readelf --hex-dump=S`, `--string-dump=S`,
    /// `objdump --disassemble --section=S`) and found different.
    sections: BTreeSet<String>,
    /// `readelf --notes`, which covers every NOTE section at once, differs.
    notes: bool,
    /// `strings --all --bytes=8` lines only in A and only in B.
    strings_a: BTreeSet<String>,
    strings_b: BTreeSet<String>,
}

fn parse_diffoscope(node: &Value, found: &mut DiffoscopeElf) {
    let command = node["source1"].as_str().unwrap_or_default();
    let section = command
        .split_whitespace()
        .find_map(|arg| ["--hex-dump=", "--string-dump=", "--section="].iter().find_map(|p| arg.strip_prefix(p)));
    if let Some(section) = section {
        found.sections.insert(section.to_string());
    } else if command.starts_with("readelf --wide --notes") {
        found.notes = true;
    } else if command.starts_with("strings --all --bytes=8") {
        let diff = node["unified_diff"].as_str().unwrap_or_default();
        let (mut minus, mut plus) = (BTreeSet::new(), BTreeSet::new());
        for line in diff.lines() {
            if let Some(s) = line.strip_prefix('-') {
                minus.insert(s.to_string());
            } else if let Some(s) = line.strip_prefix('+') {
                plus.insert(s.to_string());
            }
        }
        found.strings_a = minus.difference(&plus).cloned().collect();
        found.strings_b = plus.difference(&minus).cloned().collect();
    }
    for child in node["details"].as_array().into_iter().flatten() {
        parse_diffoscope(child, found);
    }
}

/// "`glassbox diff` agrees with diffoscope on which ELF sections of two differing binaries
/// differ."
///
/// What is compared, like with like:
/// - diffoscope compares most sections one by one, as hex dumps, string dumps or disassembly;
///   those entries name the section. glassbox's differing sections must be exactly those, except
///   the ones diffoscope never compares one by one: sections it renders as a whole through
///   `readelf --notes/--symbols/--relocs/--dynamic/--version-info` (types NOTE, SYMTAB,
///   DYNSYM, REL, RELA, DYNAMIC, VERDEF, VERNEED, VERSYM), DWARF sections other than `*_str`
///   (`readelf --debug-dump`), and NOBITS sections (no contents to dump).
/// - NOTE sections: diffoscope's `readelf --notes` entry is present exactly when glassbox names
///   a differing NOTE section.
/// - Strings: the lines diffoscope's `strings --all --bytes=8` diff removes (adds) and does not
///   add (remove) back are glassbox's strings only in A (B).
///
/// The pair's strings have equal lengths, so no section moves; diffoscope's dumps include
/// addresses, so a moved section with identical bytes would differ for it and not for glassbox.
#[test]
fn agrees_with_diffoscope_on_which_elf_sections_differ() {
    if !have_tool("diffoscope", &["--version"]) {
        return;
    }
    let pair = elf_pair();
    let out = output(Command::new("diffoscope").args(["--json", "-"]).arg(&pair.a).arg(&pair.b));
    assert_eq!(out.status.code(), Some(1), "diffoscope: {}", String::from_utf8_lossy(&out.stderr));
    let theirs_json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut theirs = DiffoscopeElf::default();
    parse_diffoscope(&theirs_json, &mut theirs);

    let ours = json_diff(&pair.a, &pair.b);
    let sections = ours["details"]["sections"].as_array().unwrap();
    const WHOLE_TABLE_TYPES: [&str; 10] =
        ["NOTE", "SYMTAB", "DYNSYM", "REL", "RELA", "DYNAMIC", "VERDEF", "VERNEED", "VERSYM", "NOBITS"];
    let per_section: BTreeSet<String> = sections
        .iter()
        .filter(|s| !WHOLE_TABLE_TYPES.contains(&s["kind"].as_str().unwrap()))
        .map(|s| s["name"].as_str().unwrap().to_string())
        .filter(|name| !(name.starts_with(".debug") || name.starts_with(".zdebug")) || name.ends_with("_str"))
        .collect();
    let notes = sections.iter().any(|s| s["kind"] == "NOTE");
    eprintln!(
        "diffoscope: sections {:?}, notes {}; glassbox: sections {per_section:?}, notes {notes}",
        theirs.sections, theirs.notes
    );
    eprintln!("glassbox's full list: {:?}", sections.iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>());

    assert!(theirs.sections.contains(".rodata"), "diffoscope did not report .rodata: {theirs:?}");
    assert_eq!(per_section, theirs.sections, "sections compared one by one");
    assert_eq!(notes, theirs.notes, "NOTE sections");
    let ours_a: BTreeSet<String> =
        strings(&ours["details"]["strings"]["onlyInA"]).into_iter().map(String::from).collect();
    let ours_b: BTreeSet<String> =
        strings(&ours["details"]["strings"]["onlyInB"]).into_iter().map(String::from).collect();
    assert_eq!((ours_a, ours_b), (theirs.strings_a, theirs.strings_b), "strings only in A, only in B");
}

/// An ELF64 file whose `count` section headers (all named `.x`) all point at one region
/// holding `region`.
fn elf_with_overlapping_sections(region: &[u8], count: u16) -> Vec<u8> {
    let headers = vec![(".x", 1, 0, region.len() as u64); usize::from(count)];
    glassbox::diff::synthetic_elf64(region, &headers)
}

#[test]
fn d20_sections_that_share_one_region_are_compared_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut region = vec![0x55u8; 1 << 20];
    let (a, b) = (dir.path().join("a.elf"), dir.path().join("b.elf"));
    std::fs::write(&a, elf_with_overlapping_sections(&region, 2_000)).unwrap();
    *region.last_mut().unwrap() = 0x66; // the last byte differs: each comparison reads it all
    std::fs::write(&b, elf_with_overlapping_sections(&region, 2_000)).unwrap();
    let v = json_diff(&a, &b);
    let elf = &v["details"];
    assert_eq!(elf["kind"], "elf");
    assert_eq!(elf["sections"].as_array().unwrap().len(), 2_000, "every section is still reported");
    assert_eq!(elf["sections"][1999]["firstDifference"], (1 << 20) - 1);
    let compared = elf["sectionBytesCompared"].as_u64().expect("the report says how many bytes it compared");
    assert!(compared <= 2 << 20, "compared {compared} bytes: the one shared region more than once");
}

#[test]
fn d21_the_strings_pass_keeps_a_bounded_number_of_strings() {
    let dir = tempfile::tempdir().unwrap();
    let strings = |prefix: char| -> Vec<u8> {
        (0..1_100_000u32).flat_map(|i| format!("{prefix}{i:07}\0").into_bytes()).collect()
    };
    let (a, b) = (dir.path().join("a.elf"), dir.path().join("b.elf"));
    std::fs::write(&a, elf_with_overlapping_sections(&strings('a'), 1)).unwrap();
    std::fs::write(&b, elf_with_overlapping_sections(&strings('b'), 1)).unwrap();
    let v = json_diff(&a, &b);
    let s = &v["details"]["strings"];
    assert_eq!(s["truncated"], true, "more distinct strings than glassbox keeps: {s}");
    let total = s["onlyInATotal"].as_u64().unwrap();
    assert!(total > 0 && total <= 1 << 20, "{total}");
    assert_eq!(s["onlyInA"][0], "a0000000");
}

#[test]
fn d8_diff_of_a_fifo_or_a_device_answers_at_once_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, file) = (dir.path().join("fifo"), dir.path().join("file"));
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(&file, b"x").unwrap();
    let limit = std::time::Duration::from_secs(60);
    let zero = PathBuf::from("/dev/zero");
    for (a, b) in [(&fifo, &file), (&file, &fifo), (&zero, &zero)] {
        let out = output_within(glassbox().arg("diff").arg(a).arg(b), limit);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{a:?} {b:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}

#[test]
fn d19_member_and_section_names_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
    let evil = "zz\u{1b}[2K\u{1b}[1A\rM  ok";
    bundle(&a, &[(evil, b"one", 0o644), ("gone\u{1b}[8m", b"x", 0o644)]);
    bundle(&b, &[(evil, b"two", 0o644)]);
    let (code, stdout, stderr) = diff(&a, &b, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\r'), "raw control characters: {stdout:?}");
    assert!(stdout.contains("zz\\x1b[2K\\x1b[1A\\x0dM  ok"), "{stdout}");
    assert!(stdout.contains("gone\\x1b[8m"), "{stdout}");
}
