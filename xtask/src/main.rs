//! Build-engineer and maintainer tasks: `cargo xtask build | check | rebuild | dist | ci | bench | custody`.
//! Each task is a file; this one only dispatches.

mod bench;
mod build;
mod check;
mod ci;
mod custody;
mod dist;
mod rebuild;
mod release;
mod util;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "usage: cargo xtask <task> [args]

tasks:
  build [glassbox build options]   build examples/avscan into target/glassbox/dist and attestations/
  check [glassbox check options]   is examples/avscan reproducible under varied conditions, and why not
  rebuild [glassbox rebuild options] rebuild the newest avscan provenance from target/glassbox/dist
  rebuild --release VERSION|latest [glassbox rebuild options]
                                   rebuild a published glassbox release from its recorded commit
  dist [glassbox build options]    release glassbox: build it with glassbox, attest, log
                                   ($GLASSBOX_KEY, $GLASSBOX_LOG_KEY)
  ci                               formatting, clippy, and every test (installs what tests need)
  bench [--quick]                  benchmarks, as ratios against standard tools
  custody                          the whole sample custody story with development keys, under
                                   target/glassbox/custody/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((task, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match task.as_str() {
        "build" => build::run(rest),
        "check" => check::run(rest),
        "ci" => ci::run(rest),
        "dist" => dist::run(rest),
        "rebuild" => rebuild::run(rest),
        "bench" => bench::run(rest),
        "custody" => custody::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}
