//! `glassbox diff A B`: where and why two files differ (ELF sections and strings, tar(.gz)
//! members, bytes), as text, JSON or one standalone HTML page. Exit 0 identical, 1 different, 2
//! could not compare. `--diffoscope` hands the pair to diffoscope instead.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Args;
use glassbox::diff::html::{report_page, ReportItem};
use glassbox::diff::{diff_files, ArchiveDiff, BytesDiff, Details, DiffReport, ElfDiff, Side};
use glassbox::text::escape;

use crate::render::{bytes, print_json, table};

#[derive(Args)]
pub struct DiffArgs {
    /// The first file (the expected one, e.g. the vendor's).
    a: PathBuf,
    /// The second file (e.g. the rebuilt one).
    b: PathBuf,
    /// Print the report as JSON (see docs/formats.md, "Diff reports").
    #[arg(long)]
    json: bool,
    /// Print the report as one standalone HTML page (inline style, no script), as diffoscope's
    /// --html does.
    #[arg(long, conflicts_with_all = ["json", "diffoscope"])]
    html: bool,
    /// Run diffoscope on the pair instead and pass its output and exit status through.
    #[arg(long)]
    diffoscope: bool,
}

pub fn run(args: DiffArgs) -> Result<ExitCode> {
    if args.diffoscope {
        return run_diffoscope(&args);
    }
    let report = diff_files(&args.a, &args.b)?;
    if args.json {
        print_json(&report)?;
    } else if args.html {
        let (a, b) = (args.a.display().to_string(), args.b.display().to_string());
        let title = format!("glassbox diff {a} {b}");
        print!("{}", report_page(&title, &[ReportItem { name: &a, report: &report }]));
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.identical() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_diffoscope(args: &DiffArgs) -> Result<ExitCode> {
    let mut cmd = Command::new("diffoscope");
    if args.json {
        cmd.args(["--json", "-"]);
    }
    cmd.arg(&args.a).arg(&args.b);
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "diffoscope is not installed (on Debian: apt-get install diffoscope-minimal); \
             `glassbox diff` without --diffoscope does not need it"
        ),
        Err(e) => return Err(e).context("cannot run diffoscope"),
    };
    // diffoscope exits 0 for identical files, 1 for differences and 2 for errors; a signal
    // is an error too.
    Ok(ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(2)))
}

/// The human-readable report: both sides, the one-line summary, then the details.
pub fn render(report: &DiffReport) -> String {
    let mut out = String::new();
    for (label, side) in [("A", &report.a), ("B", &report.b)] {
        out.push_str(&format!("{label}: {}\n", describe_side(side)));
    }
    if report.identical() {
        out.push_str("identical\n");
        return out;
    }
    out.push_str(&format!("differ: {}\n", escape(&report.summary())));
    render_details(report, "", &mut out);
    out
}

fn describe_side(side: &Side) -> String {
    format!("{} ({}, {}, sha256 {})", escape(&side.name), side.format.label(), bytes(side.size), side.sha256)
}

/// The details of `report`, each line prefixed with `indent`.
fn render_details(report: &DiffReport, indent: &str, out: &mut String) {
    match &report.details {
        Details::Identical => {}
        Details::Elf(elf) => render_elf(elf, indent, out),
        Details::Archive(archive) => render_archive(archive, indent, out),
        Details::Bytes(diff) => render_bytes(diff, indent, out),
    }
}

fn render_elf(elf: &ElfDiff, indent: &str, out: &mut String) {
    if !elf.sections.is_empty() {
        out.push_str(&format!("{indent}ELF sections that differ:\n"));
        let rows: Vec<Vec<String>> = elf
            .sections
            .iter()
            .map(|s| {
                let at = s.first_difference.map_or("-".to_string(), |at| format!("+{at:#x}"));
                vec![escape(&s.name).into_owned(), s.kind.clone(), s.size_a.to_string(), s.size_b.to_string(), at]
            })
            .collect();
        push_indented(&table(&["section", "type", "size A", "size B", "first difference"], &rows), indent, out);
    }
    for (side, only) in [("A", &elf.only_in_a), ("B", &elf.only_in_b)] {
        if !only.is_empty() {
            out.push_str(&format!("{indent}ELF sections only in {side}:\n"));
            for s in only {
                out.push_str(&format!("{indent}  {} ({}, {} bytes)\n", escape(&s.name), s.kind, s.size));
            }
        }
    }
    if elf.sections_not_compared > 0 {
        out.push_str(&format!(
            "{indent}{} sections not compared (more than glassbox's limits: the section table claims too many, \
             or overlapping ones)\n",
            elf.sections_not_compared
        ));
    }
    if let Some(outside) = &elf.outside_sections {
        out.push_str(&format!("{indent}no section differs; the files differ outside sections:\n"));
        render_bytes(outside, indent, out);
    }
    let strings = &elf.strings;
    for (side, listed, total) in
        [("A", &strings.only_in_a, strings.only_in_a_total), ("B", &strings.only_in_b, strings.only_in_b_total)]
    {
        if total == 0 {
            continue;
        }
        out.push_str(&format!("{indent}strings only in {side} ({total}):\n"));
        for s in listed {
            out.push_str(&format!("{indent}  {}\n", escape(s)));
        }
        if total > listed.len() {
            out.push_str(&format!("{indent}  … and {} more\n", total - listed.len()));
        }
        if strings.truncated {
            out.push_str(&format!(
                "{indent}  (the files hold more distinct strings than glassbox compares: the first {} of each)\n",
                glassbox::diff::MAX_STRINGS_KEPT
            ));
        }
    }
}

fn render_archive(archive: &ArchiveDiff, indent: &str, out: &mut String) {
    out.push_str(&format!("{indent}members: {} in A, {} in B\n", archive.members_a, archive.members_b));
    for (what, list) in [("only in A (removed)", &archive.removed), ("only in B (added)", &archive.added)] {
        if !list.is_empty() {
            out.push_str(&format!("{indent}{what}:\n"));
            for m in list {
                out.push_str(&format!("{indent}  {} ({}, {} bytes)\n", escape(&m.path), m.kind, m.size));
            }
        }
    }
    if !archive.changed.is_empty() {
        out.push_str(&format!("{indent}changed:\n"));
    }
    let nested_indent = format!("{indent}      ");
    for member in &archive.changed {
        out.push_str(&format!("{indent}  {}\n", escape(&member.path)));
        for change in &member.changes {
            out.push_str(&format!("{indent}    {}: {} -> {}\n", change.field, escape(&change.a), escape(&change.b)));
        }
        if let Some(contents) = &member.contents {
            out.push_str(&format!("{indent}    contents ({}):\n", contents.a.format.label()));
            render_details(contents, &nested_indent, out);
        }
    }
    if archive.order_differs {
        out.push_str(&format!("{indent}the members both have are in a different order\n"));
    }
}

fn render_bytes(diff: &BytesDiff, indent: &str, out: &mut String) {
    out.push_str(&format!("{indent}first difference at offset {:#x}:\n", diff.first_difference));
    for (side, window) in [("A", &diff.window_a), ("B", &diff.window_b)] {
        if window.is_empty() {
            out.push_str(&format!("{indent}  {side}  (ends before {:#x})\n", diff.first_difference));
        }
        for (row, chunk) in window.chunks(16).enumerate() {
            let label = if row == 0 { side } else { " " };
            let offset = diff.window_start + 16 * row as u64;
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String =
                chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
            out.push_str(&format!("{indent}  {label}  {offset:08x}  {:<47}  |{ascii}|\n", hex.join(" ")));
        }
    }
}

fn push_indented(text: &str, indent: &str, out: &mut String) {
    for line in text.lines() {
        out.push_str(&format!("{indent}  {line}\n"));
    }
}
