//! What `glassbox --help` and every subcommand's help say beyond their options: the exit
//! codes, under every command; and the tests that every option says what it is.

/// What exit 2 means, for every command.
const EXIT_2: &str = "could not answer: bad input or usage, a missing or unreadable file, a tool or the network \
failed (the error names the file or value at fault)";

/// What exit 1 says for a command that never answers "no".
const NO_EXIT_1: &str = "not used by this command";

/// What a log that does not verify means to the commands that read one before they write.
const LOG_REFUSED: &str = "refused: the log (its checkpoint, tiles or entries) or a signature does not verify";

/// What exits 0 and 1 mean for each command, by its path under `glassbox` ("" for glassbox
/// itself): the last lines of its `--help`. A command missing here fails the tests below.
const EXIT_CODES: &[(&str, &str, &str)] = &[
    ("", "success", "a definite no: not reproduced, not accepted, refused (see each command's --help)"),
    ("key", "success", "see each subcommand's --help"),
    ("key generate", "the keys were written", NO_EXIT_1),
    ("key id", "the key id was printed", NO_EXIT_1),
    ("hash", "the source digest was printed and the manifest written", NO_EXIT_1),
    (
        "build",
        "built, and the provenance signed",
        "refused: the vendor's build code wrote what glassbox \
does not accept (a planted link, endless output)",
    ),
    (
        "check",
        "the builds are bit-for-bit identical",
        "the builds differ (the report says where and why), or \
a build's output was refused as for build",
    ),
    ("log", "success", "see each subcommand's --help"),
    ("log init", "the log was created", NO_EXIT_1),
    ("log append", "every envelope is in the log under a new checkpoint", LOG_REFUSED),
    ("log prove", "the proof was printed", "the log does not verify or does not hold the entry"),
    (
        "log check-proof",
        "the receipt proves the envelope is in the log",
        "the receipt does not prove it: a signature, \
the inclusion proof or a witness threshold fails",
    ),
    (
        "log verify",
        "the checkpoint, every tile and the older checkpoint's consistency verify",
        "the log is \
inconsistent or a signature (checkpoint, cosignature, subject index) fails",
    ),
    (
        "log audit",
        "the log verifies and every entry and envelope matches it",
        "the log is inconsistent, an \
entry or envelope does not match, or a signature is not by a --trust key",
    ),
    (
        "log cosign",
        "the checkpoint was cosigned",
        "refused: the checkpoint is not the log's, or not consistent with \
the last one cosigned",
    ),
    ("log list", "the entries were listed", "the log does not verify against its own checkpoint"),
    ("log witness-key", "the verifier key was printed", NO_EXIT_1),
    ("log gc", "the stale files were removed (or listed)", "the log does not verify: nothing was removed"),
    ("log index", "the subject index was written", "the log or its existing index does not verify"),
    ("log serve", "stopped by SIGTERM or SIGINT", "refused to start: the bucket's log does not verify"),
    ("log check-store", "the store honours create-only writes and compare-and-swap", "it does not"),
    (
        "log mirror",
        "the copy holds the source's checkpoint and everything it commits to",
        "the source or the copy \
does not verify (nothing unverified is written)",
    ),
    (
        "rebuild",
        "reproduced: the rebuild matches the provenance (verdict PASSED)",
        "not reproduced (verdict FAILED); \
or refused: the provenance is not signed by a --trust key, or the source, Cargo.lock or vendored crates are not \
the attested ones",
    ),
    ("rebuilder", "success", "see each subcommand's --help"),
    ("rebuilder follow", "stopped, every job published", "the log does not verify"),
    ("rebuilder work", "stopped (or, with --once, the queue was empty)", "the log or a job does not verify"),
    ("rebuilder status", "the status was printed", "the log does not verify"),
    (
        "verify",
        "the artifact is accepted by the policy",
        "the artifact is not accepted by the policy (the \
report says which requirement fails)",
    ),
    ("diff", "the files are identical", "the files differ"),
    ("review", "success", "see each subcommand's --help"),
    ("review diff", "the two sources are identical", "the sources differ"),
    ("review sign", "the review was signed (and logged)", LOG_REFUSED),
    ("sample", "success", "see each subcommand's --help"),
    ("sample policy", "the policy statement was signed (and logged)", LOG_REFUSED),
    ("sample intake", "the batch was taken in, signed and logged; receipts written", LOG_REFUSED),
    ("sample receipts", "the receipts were written", LOG_REFUSED),
    (
        "sample forget",
        "the sample and its salt are erased",
        "a receipt holding the salt could not be deleted: \
the erasure is not complete",
    ),
    ("sample request", "the request was signed (and logged)", LOG_REFUSED),
    ("sample decide", "the decision was signed (and logged)", LOG_REFUSED),
    ("sample release", "the sample was released", "refused: a custody rule does not hold (the error names it)"),
    ("sample audit", "no violation", "a custody rule was violated, or the log does not verify"),
    (
        "sample lookup",
        "answered from the log",
        "the file does not open the receipt's commitment, or the log does \
not verify",
    ),
    ("site", "the site was written", "the log does not verify, or a statement is not in it"),
    ("witness", "success", "see each subcommand's --help"),
    ("witness serve", "stopped by SIGTERM or SIGINT", NO_EXIT_1),
];

/// The exit codes under the help of the command at `path`, if it has its own text.
fn exit_codes(path: &str) -> Option<String> {
    let (_, zero, one) = EXIT_CODES.iter().find(|(p, _, _)| *p == path)?;
    Some(format!(
        "Exit codes:\n  0  {zero}\n  1  {one}\n  2  {EXIT_2}\n\nWith --json, an error is printed on stdout as \
{{\"error\": {{\"message\", \"exitCode\", \"kind\", …}}}} (docs/formats.md, \"CLI JSON reports\")."
    ))
}

/// The command line, with its own exit codes under every command's help.
pub fn command() -> clap::Command {
    fn with_exit_codes(cmd: clap::Command, path: &str) -> clap::Command {
        let cmd = match exit_codes(path) {
            Some(text) => cmd.after_help(text),
            None => cmd,
        };
        cmd.mut_subcommands(|sub| {
            let sub_path = format!("{path} {}", sub.get_name());
            with_exit_codes(sub, sub_path.trim_start())
        })
    }
    with_exit_codes(<crate::Cli as clap::CommandFactory>::command(), "")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, as `glassbox a b` paths, with the command itself.
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            out.push((p.clone(), sub.clone()));
            walk(sub, p, out);
        }
    }

    #[test]
    fn every_help_ends_with_its_own_exit_codes() {
        let mut all = vec![("glassbox".to_string(), super::command())];
        walk(&super::command(), "glassbox".into(), &mut all);
        let mut seen = Vec::new();
        for (path, mut cmd) in all {
            let own = path.strip_prefix("glassbox").unwrap_or(&path).trim_start();
            let text = super::exit_codes(own).unwrap_or_else(|| panic!("{path} has no exit codes of its own"));
            let help = cmd.render_long_help().to_string();
            assert!(help.trim_end().ends_with(text.trim_end()), "{path}:\n{help}");
            for code in ["\n  0  ", "\n  1  ", "\n  2  "] {
                assert!(help.contains(code), "{path}: no exit code{code}in\n{help}");
            }
            seen.push(own.to_string());
        }
        // No text for a command that no longer exists (a renamed command keeps its meaning).
        for (p, _, _) in super::EXIT_CODES {
            assert!(seen.iter().any(|s| s == p), "exit codes for {p:?}, which is not a command");
        }
    }

    #[test]
    fn the_exit_codes_are_per_command() {
        let verify = super::exit_codes("verify").unwrap_or_default();
        let log_verify = super::exit_codes("log verify").unwrap_or_default();
        assert!(verify.contains("not accepted by the policy"), "{verify}");
        assert!(log_verify.contains("inconsistent or a signature"), "{log_verify}");
        assert!(super::exit_codes("key generate").unwrap_or_default().contains("1  not used"));
        assert!(super::exit_codes("no such command").is_none());
    }

    #[test]
    fn every_option_and_argument_says_what_it_is() {
        let mut all = Vec::new();
        walk(&crate::Cli::command(), "glassbox".into(), &mut all);
        let missing: Vec<String> = all
            .iter()
            .flat_map(|(path, cmd)| {
                cmd.get_arguments()
                    .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
                    .filter(|a| a.get_help().is_none() && a.get_long_help().is_none())
                    .map(move |a| {
                        format!("{path} {}", a.get_long().map_or(a.get_id().to_string(), |l| format!("--{l}")))
                    })
            })
            .collect();
        assert!(missing.is_empty(), "{} without help text:\n{}", missing.len(), missing.join("\n"));
    }
}
