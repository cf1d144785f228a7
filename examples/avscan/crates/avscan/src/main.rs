//! `avscan`: command-line front end of the avscan example antivirus product.
//!
//! Scans the files and directories given on the command line with the
//! built-in signature database, prints one line per match and a summary, and
//! reports the verdict in its exit status.

use std::env;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use avscan_engine::{FileScan, Scanner};

const USAGE: &str = "\
usage: avscan [--quiet] PATH...

Scans files and directories (recursively) for known malware signatures.
Symbolic links inside directories are not followed.

options:
  -q, --quiet    print nothing but errors; rely on the exit status
  -h, --help     print this help and exit
  -V, --version  print the version and exit

exit status:
  0  nothing found
  1  at least one signature matched
  2  an error occurred (bad usage, unreadable path); the scan is incomplete
";

/// Exit status when nothing was found.
const EXIT_CLEAN: u8 = 0;
/// Exit status when at least one signature matched.
const EXIT_FOUND: u8 = 1;
/// Exit status on any error; takes precedence over [`EXIT_FOUND`].
const EXIT_ERROR: u8 = 2;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Scan { quiet: bool, paths: Vec<PathBuf> },
    Help,
    Version,
}

/// Running counts for the summary line and the exit status.
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    infected: u64,
    errors: u64,
}

impl Totals {
    /// The exit status for these totals: errors win over matches.
    fn exit_status(&self) -> u8 {
        if self.errors > 0 {
            EXIT_ERROR
        } else if self.infected > 0 {
            EXIT_FOUND
        } else {
            EXIT_CLEAN
        }
    }
}

fn main() -> ExitCode {
    match parse_args(env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::from(EXIT_CLEAN)
        }
        Ok(Command::Version) => {
            println!("avscan {}", env!("CARGO_PKG_VERSION"));
            ExitCode::from(EXIT_CLEAN)
        }
        Ok(Command::Scan { quiet, paths }) => ExitCode::from(scan(quiet, &paths)),
        Err(message) => {
            eprintln!("avscan: {message}\nTry 'avscan --help' for more information.");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Parses the arguments (without the program name).
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut quiet = false;
    let mut paths = Vec::new();
    let mut options_done = false;

    for arg in args {
        if options_done {
            paths.push(PathBuf::from(arg));
            continue;
        }
        match arg.to_str() {
            Some("--") => options_done = true,
            Some("-q" | "--quiet") => quiet = true,
            Some("-h" | "--help") => return Ok(Command::Help),
            Some("-V" | "--version") => return Ok(Command::Version),
            Some(option) if option.starts_with('-') && option != "-" => {
                return Err(format!("unknown option '{option}'"));
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }

    if paths.is_empty() {
        return Err("no path to scan".to_string());
    }
    Ok(Command::Scan { quiet, paths })
}

/// Scans every path, prints the report and returns the exit status.
fn scan(quiet: bool, paths: &[PathBuf]) -> u8 {
    let scanner = Scanner::new();
    let mut totals = Totals::default();
    let mut out = io::stdout().lock();
    if let Err(err) = scan_and_report(&scanner, paths, quiet, &mut out, &mut totals) {
        eprintln!("avscan: cannot write report: {err}");
        return EXIT_ERROR;
    }
    totals.exit_status()
}

/// Scans every path, writing matches and the summary to `out` and errors to
/// standard error. Fails only if `out` cannot be written.
fn scan_and_report(
    scanner: &Scanner,
    paths: &[PathBuf],
    quiet: bool,
    out: &mut impl Write,
    totals: &mut Totals,
) -> io::Result<()> {
    for path in paths {
        match scanner.scan_path(path) {
            Ok(scans) => {
                for file in &scans {
                    report_file(out, file, quiet, totals)?;
                }
            }
            Err(err) => {
                totals.errors += 1;
                eprintln!("avscan: {}: {err}", path.display());
            }
        }
    }
    if !quiet {
        writeln!(
            out,
            "scanned {}: {} infected, {}",
            count(totals.files, "file"),
            totals.infected,
            count(totals.errors, "error"),
        )?;
    }
    out.flush()
}

/// Prints one file's matches (or its error) and adds it to the totals.
fn report_file(
    out: &mut impl Write,
    file: &FileScan,
    quiet: bool,
    totals: &mut Totals,
) -> io::Result<()> {
    let matches = match &file.result {
        Ok(matches) => matches,
        Err(err) => {
            totals.errors += 1;
            eprintln!("avscan: {}: {err}", file.path.display());
            return Ok(());
        }
    };

    totals.files += 1;
    if !matches.is_empty() {
        totals.infected += 1;
    }
    if !quiet {
        for found in matches {
            writeln!(
                out,
                "{}: {} at offset {}",
                file.path.display(),
                found.signature,
                found.offset
            )?;
        }
    }
    Ok(())
}

/// Formats `n` with `noun`, pluralized in English: "1 file", "2 files".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_paths_and_quiet() {
        assert_eq!(
            parse(&["-q", "a", "--", "--quiet", "-"]),
            Ok(Command::Scan {
                quiet: true,
                paths: vec!["a".into(), "--quiet".into(), "-".into()],
            })
        );
        assert_eq!(parse(&["--help", "a"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
    }

    #[test]
    fn rejects_bad_usage() {
        assert_eq!(parse(&[]), Err("no path to scan".to_string()));
        assert_eq!(parse(&["--quiet"]), Err("no path to scan".to_string()));
        assert_eq!(parse(&["-x", "a"]), Err("unknown option '-x'".to_string()));
    }

    #[test]
    fn pluralizes() {
        assert_eq!(count(0, "error"), "0 errors");
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(2, "file"), "2 files");
    }
}
