//! `glassbox check`: build twice under varied conditions and explain any difference.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::check::variation::Variation;
use glassbox::check::{check, CheckReport, CheckRequest};
use glassbox::env::DEFAULT_BUILD_BASE;
use glassbox::text::escape;

use crate::build::SandboxArgs;
use crate::context::{host_env, now, TerminalProgress};
use crate::render::{print_json, table};

#[derive(Args)]
pub struct CheckArgs {
    /// The workspace's Cargo.toml.
    #[arg(long, default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// A workspace member to build (repeatable; default: every member with a binary).
    #[arg(short = 'p', long = "package")]
    packages: Vec<String>,
    /// Target triple (default: the host).
    #[arg(long)]
    target: Option<String>,
    /// The cargo profile to build with.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Features to enable (comma- or space-separated, repeatable).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// What to vary in the second build: `all`, or a comma-separated list of build-root,
    /// cargo-home, home, timezone, locale, umask, jobs, extra-env, file-order, time, cpu-count,
    /// hostname.
    #[arg(long, default_value = "all")]
    variations: String,
    /// After a difference, rebuild with one variation at a time to pin the cause (slow).
    #[arg(long)]
    explain: bool,
    /// Keep the build directories for inspection.
    #[arg(long)]
    keep: bool,
    /// Build a git checkout whose tracked files differ from HEAD.
    #[arg(long)]
    allow_dirty: bool,
    /// Parent directory of the check's build directories.
    #[arg(long, default_value = DEFAULT_BUILD_BASE)]
    build_base: PathBuf,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let variations = Variation::parse_list(&args.variations)?;
    let progress = TerminalProgress::new();
    let report = check(&CheckRequest {
        manifest_path: crate::context::find_manifest(&args.manifest_path)?,
        packages: args.packages,
        target: args.target,
        profile: args.profile,
        features: args.features.iter().flat_map(|f| f.split_whitespace()).map(str::to_string).collect(),
        variations,
        explain: args.explain,
        keep: args.keep,
        allow_dirty: args.allow_dirty,
        build_base: args.build_base,
        sandbox: args.sandbox.sandbox()?,
        host_env: host_env(),
        clock: &now,
        progress: &progress,
    })?;
    drop(progress);
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.reproducible { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn render(r: &CheckReport) -> String {
    let names: Vec<&str> = r.variations.iter().map(|v| v.name()).collect();
    let mut out = format!(
        "checked {} {} for {} (source {})\nsecond build varied: {}\n",
        r.component,
        r.version,
        r.target,
        r.source_digest.prefixed(),
        names.join(", ")
    );
    let (first, second) = (&r.machines.first, &r.machines.second);
    out.push_str(&format!(
        "build machine: the first build saw {} CPU{} and host name {}, the second {} CPU{} and {}\n",
        first.cpus,
        if first.cpus == 1 { "" } else { "s" },
        escape(&first.hostname),
        second.cpus,
        if second.cpus == 1 { "" } else { "s" },
        escape(&second.hostname),
    ));
    for n in &r.not_varied {
        out.push_str(&format!("not varied: {} ({})\n", n.variation, n.reason));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = r
        .artifacts
        .iter()
        .map(|a| {
            let state = if a.identical { "identical" } else { "DIFFERENT" };
            vec![a.name.clone(), state.into(), a.difference.clone().unwrap_or_default()]
        })
        .collect();
    out.push_str(&table(&["artifact", "", "where"], &rows));
    if let Some(repeat) = r.repeat_differs {
        out.push_str(&format!(
            "\na third build under the first build's conditions {}\n",
            if repeat {
                "ALSO differed: the build is nondeterministic by itself"
            } else {
                "was identical to the first"
            }
        ));
    }
    for c in &r.causes {
        out.push_str(&format!("\nlikely cause ({}): {} {}\n", c.kind.name(), c.artifact, c.explanation));
        for e in &c.evidence {
            out.push_str(&format!("    {e}\n"));
        }
    }
    if r.canonical_root_only {
        out.push_str(
            "\nreproducible only at the canonical build root: `glassbox build` and `glassbox rebuild` use one\n\
             build root per source and will still match, but the artifacts embed the build's path, so a build\n\
             anywhere else (plain cargo, another tool, another --build-base) will differ. Remove the path.\n",
        );
    }
    for e in &r.explained {
        let what = if e.differing.is_empty() {
            "no difference".to_string()
        } else {
            format!("differs: {}", e.differing.join(", "))
        };
        out.push_str(&format!("only {:<11} {what}\n", e.variation.name()));
    }
    if let Some(dir) = &r.kept {
        out.push_str(&format!("\nbuild directories kept in {}\n", dir.display()));
    }
    out.push_str(if r.reproducible { "\nREPRODUCIBLE\n" } else { "\nNOT REPRODUCIBLE\n" });
    out
}
