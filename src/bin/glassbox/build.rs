//! `glassbox build`: a deterministic build with signed SLSA provenance.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use glassbox::attest::DEFAULT_BUILDER_ID;
use glassbox::build::{build, BuildOutcome, BuildRequest};
use glassbox::env::DEFAULT_BUILD_BASE;
use glassbox::sandbox::Sandbox;

use crate::context::{host_env, invocation_id, now, TerminalProgress};
use crate::render::{bytes, print_json, table};

#[derive(Args)]
pub struct BuildArgs {
    /// The workspace's Cargo.toml.
    #[arg(long, default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// Package to build (repeatable); default: the workspace's default members.
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
    /// PKCS#8 PEM private key that signs the provenance.
    #[arg(long)]
    key: PathBuf,
    /// Where artifacts and bundles go.
    #[arg(long, default_value = "target/glassbox/dist")]
    out: PathBuf,
    /// Where sources.sha256 and the provenance go (under <component>/<version>/).
    #[arg(long, default_value = "attestations")]
    attestations: PathBuf,
    /// The provenance's `builder.id`: who ran the build (a URI).
    #[arg(long, default_value = DEFAULT_BUILDER_ID)]
    builder_id: String,
    /// SOURCE_DATE_EPOCH (default: the git commit time, else 0).
    #[arg(long)]
    source_date_epoch: Option<i64>,
    /// Build a git checkout whose tracked files differ from HEAD (recorded as dirty).
    #[arg(long)]
    allow_dirty: bool,
    /// Parent directory of the canonical build roots.
    #[arg(long, default_value = DEFAULT_BUILD_BASE)]
    build_base: PathBuf,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

/// Where the vendor's build code runs (`build`, `check` and `rebuild`).
#[derive(Args)]
pub struct SandboxArgs {
    /// Run the vendor's build scripts and proc macros without the bubblewrap sandbox, with
    /// this user's rights (recorded in the provenance or verdict).
    #[arg(long)]
    no_sandbox: bool,
    /// The bubblewrap program (default: `bwrap` on PATH).
    #[arg(long, value_name = "PATH", conflicts_with = "no_sandbox")]
    bwrap: Option<PathBuf>,
}

impl SandboxArgs {
    /// The sandbox: refused (exit 2, with the install line) when bwrap is missing.
    pub fn sandbox(&self) -> Result<Sandbox> {
        let bwrap = match &self.bwrap {
            Some(given) => given.is_file().then(|| given.clone()),
            None => glassbox::toolchain::which("bwrap", &std::env::var("PATH").unwrap_or_default()),
        };
        Ok(Sandbox::choose(bwrap.as_deref(), self.no_sandbox)?)
    }
}

pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let sandbox = args.sandbox.sandbox()?;
    let key = crate::context::private_key(&args.key).context("reading the signing key (--key)")?;
    let features = args.features.iter().flat_map(|f| f.split_whitespace()).map(str::to_string).collect();
    let progress = TerminalProgress::new();
    let request = BuildRequest {
        manifest_path: crate::context::find_manifest(&args.manifest_path)?,
        packages: args.packages,
        target: args.target,
        profile: args.profile,
        features,
        key: &key,
        out_dir: args.out,
        attestations_dir: args.attestations,
        builder_id: args.builder_id,
        source_date_epoch: args.source_date_epoch,
        allow_dirty: args.allow_dirty,
        build_base: args.build_base,
        sandbox,
        host_env: host_env(),
        clock: &now,
        invocation_id: invocation_id(),
        progress: &progress,
    };
    let outcome = build(&request)?;
    drop(progress);
    if args.json {
        print_json(&outcome)?;
    } else {
        print!("{}", render(&outcome));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(o: &BuildOutcome) -> String {
    let mut rows: Vec<Vec<String>> =
        o.artifacts.iter().map(|a| vec![a.name.clone(), bytes(a.size), a.sha256.hex()]).collect();
    for b in [&o.bundle, &o.source_bundle] {
        rows.push(vec![b.name.clone(), bytes(b.size), b.sha256.hex()]);
    }
    let mut out = format!(
        "built {} {} ({}) for {}\nsource digest {}{}\n\n",
        o.component,
        o.version,
        o.component_origin,
        o.target,
        o.source_digest.prefixed(),
        o.git_commit
            .as_ref()
            .map(|c| format!(" (git {c}{})", if o.dirty { ", dirty" } else { "" }))
            .unwrap_or_default()
    );
    out.push_str(&table(&["artifact", "size", "sha256"], &rows));
    out.push('\n');
    for f in o.artifacts.iter().chain([&o.bundle, &o.source_bundle]) {
        out.push_str(&format!("wrote {}\n", f.path.display()));
    }
    out.push_str(&format!("wrote {}\n", o.manifest_file.display()));
    out.push_str(&format!("wrote {}\n", o.vendor_manifest_file.display()));
    out.push_str(&format!("wrote {} (signed by {})\n", o.provenance_file.display(), o.key_id));
    out
}
