//! What `glassbox --help` and every subcommand's help say beyond their options: the exit
//! codes, under every command; and the tests that every option says what it is.

/// What every `--help` ends with.
const EXIT_CODES: &str = "Exit codes: 0 success (reproduced, accepted, verified, done); 1 a definite no (not \
reproduced, rejected, refused: an input is wrong or does not hold); 2 could not answer (bad input, a missing \
file, a tool or the network failed). Errors name the file or value at fault.";

/// The command line, with the exit codes under every command's help.
pub fn command() -> clap::Command {
    fn with_exit_codes(cmd: clap::Command) -> clap::Command {
        cmd.after_help(EXIT_CODES).mut_subcommands(with_exit_codes)
    }
    with_exit_codes(<crate::Cli as clap::CommandFactory>::command())
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
    fn every_help_ends_with_the_exit_codes() {
        let mut all = vec![("glassbox".to_string(), super::command())];
        walk(&super::command(), "glassbox".into(), &mut all);
        for (path, mut cmd) in all {
            let help = cmd.render_long_help().to_string();
            assert!(help.trim_end().ends_with("Errors name the file or value at fault."), "{path}:\n{help}");
        }
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
