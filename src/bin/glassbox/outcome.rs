//! How a command's end reaches the caller, the one way for every command: the exit code (0 yes,
//! 1 a definite no, 2 could not answer) and, when the command was given `--json`, an error as a
//! JSON object on stdout (docs/formats.md, "CLI JSON reports"), so that a script reads stdout
//! as JSON whatever happened.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

/// Whether the command the matches select (the deepest subcommand) was given `--json`.
pub fn wants_json(matches: &clap::ArgMatches) -> bool {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    // A command without a `json` argument answers Err here: it has no JSON output.
    matches!(leaf.try_get_one::<bool>("json"), Ok(Some(true)))
}

/// A command line clap refused: its usual message on stderr and, when the words include
/// `--json`, the error object on stdout (the command line did not parse, so its words are all
/// there is to go by). Help and version requests print as usual.
pub fn usage_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(err.exit_code()).unwrap_or(2);
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = !informational && args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
    if informational {
        // Printing fails only on a closed stream; the exit code still says what happened.
        let _ = err.print();
        return ExitCode::from(code);
    }
    // clap quotes the words it refused, which may be a key pasted in by mistake or a hostile
    // file name: plain text, secrets withheld, control characters escaped.
    let message = redact(&err.render().to_string());
    let _ = writeln!(std::io::stderr().lock(), "{}", glassbox::text::escape_lines(message.trim_end()));
    if json {
        let message = message.trim().strip_prefix("error: ").unwrap_or(message.trim());
        print_error(ErrorReport {
            message: message.to_string(),
            exit_code: code,
            kind: "usage",
            subject: None,
            reason: None,
            context: Vec::new(),
        });
    }
    ExitCode::from(code)
}

/// The exit code of a command's result; an error is told on stderr and, with `--json`, as the
/// error object on stdout.
pub fn finish(result: anyhow::Result<ExitCode>, json: bool) -> ExitCode {
    let err = match result {
        Ok(code) => return code,
        Err(err) => err,
    };
    let told = Told::of(&err);
    // Error messages quote names from hostile inputs: escaped for the terminal, and the subject
    // (a file name may hold a newline) always on the one line of glassbox's own.
    eprintln!("glassbox: error: {}", told.stderr);
    let library = err.chain().find_map(|cause| cause.downcast_ref::<glassbox::Error>());
    let code = library.map_or(2, glassbox::Error::exit_code);
    if json {
        print_error(error_object(&err, library, &told.message, code));
    }
    ExitCode::from(code)
}

/// An error's message, its causes joined by ": " (as anyhow's `{:#}`), private keys withheld.
/// The subject a library error names is written by [`one_line`] in both forms; the rest keeps
/// its lines (a tool's account of a failure): on stderr each line escaped and every line after
/// the first indented ([`glassbox::text::escape_lines`]), in the JSON object as it is.
struct Told {
    stderr: String,
    message: String,
}

impl Told {
    fn of(err: &anyhow::Error) -> Told {
        let mut told = Told { stderr: String::new(), message: String::new() };
        for (i, cause) in err.chain().enumerate() {
            if i > 0 {
                told.text(": ");
            }
            match cause.downcast_ref::<glassbox::Error>() {
                Some(e) => {
                    let (subject, rest) = e.subject_and_rest();
                    let subject = one_line(&subject);
                    told.stderr.push_str(&subject);
                    told.message.push_str(&subject);
                    told.text(&rest);
                }
                None => told.text(&cause.to_string()),
            }
        }
        told
    }

    fn text(&mut self, text: &str) {
        let text = redact(text);
        self.stderr.push_str(&glassbox::text::escape_lines(&text));
        self.message.push_str(&text);
    }
}

/// The subject of an error (a file, value or program), as the message and the JSON object's
/// `subject` write it: private keys withheld and every control character escaped, a newline
/// included, so that one error is always the lines glassbox means.
fn one_line(subject: &str) -> String {
    glassbox::text::escape(&redact(subject)).into_owned()
}

/// The error object of docs/formats.md, "CLI JSON reports": `{"error": ErrorReport}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReport {
    /// What stderr says (without the `glassbox: error: ` prefix), causes joined by ": ".
    message: String,
    /// The process's exit code: 1 a definite no, 2 could not answer.
    exit_code: u8,
    /// `usage`, `io`, `invalid`, `tree`, `tool`, `rejected` or `other`.
    kind: &'static str,
    /// The file, value or program at fault, when the error names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// What the CLI was doing, outermost first (the causes above the root one).
    context: Vec<String>,
}

fn error_object(err: &anyhow::Error, library: Option<&glassbox::Error>, message: &str, code: u8) -> ErrorReport {
    let (kind, subject, reason) = match library {
        Some(glassbox::Error::Io { path, cause }) => ("io", Some(path.display().to_string()), cause.to_string()),
        Some(glassbox::Error::Invalid { what, reason }) => ("invalid", Some(what.clone()), reason.clone()),
        Some(glassbox::Error::Tree { path, reason }) => ("tree", Some(path.display().to_string()), reason.clone()),
        Some(glassbox::Error::Tool { program, reason }) => ("tool", Some(program.clone()), reason.clone()),
        Some(glassbox::Error::Rejected { what, reason }) => ("rejected", Some(what.clone()), reason.clone()),
        None => ("other", None, err.root_cause().to_string()),
    };
    let chain: Vec<String> = err.chain().map(|c| redact(&c.to_string())).collect();
    ErrorReport {
        message: message.to_string(),
        exit_code: code,
        kind,
        subject: subject.map(|s| one_line(&s)),
        reason: Some(redact(&reason)),
        context: chain[..chain.len().saturating_sub(1)].to_vec(),
    }
}

/// `text` with every private key in it withheld: a PEM block whose label names a private key
/// (PKCS#8, OpenSSH, RSA, EC…), to its END line or the end of the text, and an age secret key.
/// An option that takes a file may be given the key's text instead (`--key="$(cat k)"`), and
/// the error that names the "file" must not print it to a terminal, a log or a JSON reader.
fn redact(text: &str) -> String {
    const WITHHELD: &str = "<a private key, not repeated here>";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let header_end = rest[start + 11..].find("-----").map(|i| start + 11 + i + 5);
        let label = header_end.map_or("", |end| &rest[start + 11..end - 5]);
        if !label.contains("PRIVATE KEY") {
            let skip = header_end.unwrap_or(rest.len());
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str(WITHHELD);
        let after = header_end.unwrap_or(rest.len());
        rest = match rest[after..].find("-----END ") {
            Some(i) => {
                let end = after + i + 9;
                match rest[end..].find("-----") {
                    Some(j) => &rest[end + j + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    let mut redacted = String::with_capacity(out.len());
    for word in out.split_inclusive(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
        if word.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-1") {
            redacted.push_str(WITHHELD);
            redacted.extend(word.chars().last().filter(|c| !c.is_ascii_alphanumeric() && *c != '-'));
        } else {
            redacted.push_str(word);
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn private_keys_are_withheld_and_everything_else_kept() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";
        let said = redact(&format!("{pem}: No such file or directory (os error 2)"));
        assert_eq!(said, "<a private key, not repeated here>: No such file or directory (os error 2)");
        let ssh = "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n(cut";
        assert_eq!(redact(ssh), "x <a private key, not repeated here>");
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY----- is not a verifier key";
        assert_eq!(redact(public), public);
        let age = "--recipient AGE-SECRET-KEY-1QQPQ3SYN5J0R8XW7 is not a recipient";
        assert_eq!(redact(age), "--recipient <a private key, not repeated here> is not a recipient");
        assert_eq!(redact("plain text, no key"), "plain text, no key");
    }
}

#[derive(Serialize)]
struct Wrapped {
    error: ErrorReport,
}

/// On one line: a reader of a JSON-lines command (`rebuilder work --json`) gets one more line.
fn print_error(error: ErrorReport) {
    let mut text = String::from_utf8_lossy(&glassbox::json::to_compact(&Wrapped { error })).into_owned();
    text.push('\n');
    // Nothing more can be said if stdout is closed: the exit code still tells.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
