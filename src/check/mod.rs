//! `glassbox check`: is this workspace reproducible, and if not, why? Builds twice at once, the
//! second build with every condition varied that an honest build must not depend on (as
//! reprotest does) and started on a later wall-clock second, compares every artifact, and names a likely cause for each difference. A third build
//! under the first build's conditions tells ordering nondeterminism from a dependence on a
//! variation; `--explain` rebuilds with one variation at a time.

pub mod cause;
pub mod variation;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use self::cause::{Cause, CauseKind};
use self::variation::{Conditions, Machine, Variation};
use crate::build::{compile, stage, WorkspaceSource};
use crate::cargo::{self, BuildParams, VendorConfig};
use crate::diff::{self, DiffReport};
use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{IoContext, Result};
use crate::fs::install_copy;
use crate::progress::Progress;
use crate::sandbox::Sandbox;
use crate::time::Timestamp;

/// What to check.
pub struct CheckRequest<'a> {
    pub manifest_path: PathBuf,
    pub packages: Vec<String>,
    pub target: Option<String>,
    pub profile: String,
    pub features: Vec<String>,
    pub variations: Vec<Variation>,
    /// Rebuild with one variation at a time to pin the cause.
    pub explain: bool,
    /// Keep the build directories for inspection.
    pub keep: bool,
    pub allow_dirty: bool,
    pub build_base: PathBuf,
    /// Where the vendor's build code runs (bubblewrap unless `--no-sandbox`). In the sandbox
    /// the check's directories appear below `/tmp/glassbox/check-<16 hex>/`, the varied build
    /// root at another path than the control's.
    pub sandbox: Sandbox,
    pub host_env: BTreeMap<String, String>,
    /// `Sync`: the two builds of a check run on two threads.
    pub clock: &'a (dyn Fn() -> Timestamp + Sync),
    pub progress: &'a dyn Progress,
}

/// One artifact's result.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactResult {
    pub name: String,
    pub identical: bool,
    /// Where it differs (one line), when it does.
    pub difference: Option<String>,
}

/// The result of `--explain` for one variation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub variation: Variation,
    /// The artifacts that differ when only this variation is applied.
    pub differing: Vec<String>,
}

/// The report of a check.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub component: String,
    pub version: String,
    pub target: String,
    #[serde(serialize_with = "crate::digest::report::prefixed")]
    pub source_digest: Sha256Digest,
    /// The variations applied to the second build (never empty).
    pub variations: Vec<Variation>,
    /// Variations asked for that this machine cannot apply, and why.
    pub not_varied: Vec<NotVaried>,
    /// The build machine as the first and the second build saw it.
    pub machines: Machines,
    pub reproducible: bool,
    pub artifacts: Vec<ArtifactResult>,
    /// Whether a third build under the first build's conditions differed from the first (only
    /// run when something differed).
    pub repeat_differs: Option<bool>,
    pub causes: Vec<Cause>,
    /// Every difference is an embedded build path: `build` and `rebuild` (which use one
    /// canonical build root) still match, but any other build will not.
    pub canonical_root_only: bool,
    pub explained: Vec<Explanation>,
    pub differences: Vec<(String, DiffReport)>,
    /// The build directories, when kept.
    pub kept: Option<PathBuf>,
}

/// A variation that was asked for but not applied.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotVaried {
    pub variation: Variation,
    pub reason: String,
}

/// What the builds of a check could see of the build machine.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machines {
    pub first: Machine,
    pub second: Machine,
}

/// The machine glassbox runs on: its CPUs (the affinity it may use) and host name.
fn host_machine() -> Machine {
    let cpus = rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count() as usize);
    let hostname = rustix::system::uname().nodename().to_string_lossy().into_owned();
    Machine { cpus, hostname }
}

/// Splits the asked-for variations into those this machine can apply and those it cannot.
fn applicable(asked: &[Variation], sandbox: &Sandbox, host: &Machine) -> (Vec<Variation>, Vec<NotVaried>) {
    let mut not_varied = Vec::new();
    let applied = asked
        .iter()
        .copied()
        .filter(|v| {
            let reason = match v {
                Variation::CpuCount if host.cpus < 2 => {
                    "glassbox may use only one CPU here, so there is no fewer to give"
                }
                Variation::Hostname if *sandbox == Sandbox::Disabled => {
                    "only the sandbox has a host name of its own (drop --no-sandbox)"
                }
                _ => return true,
            };
            not_varied.push(NotVaried { variation: *v, reason: reason.into() });
            false
        })
        .collect();
    (applied, not_varied)
}

/// One finished build of the check, its files copied out of its build root.
struct Outcome {
    conditions: Conditions,
    /// Provenance-style name -> (digest, saved copy).
    files: BTreeMap<String, (Sha256Digest, PathBuf)>,
}

/// Runs a check.
pub fn check(req: &CheckRequest<'_>) -> Result<CheckReport> {
    let ws = WorkspaceSource::inspect(&req.manifest_path, req.allow_dirty, &req.host_env, req.progress)?;
    ws.original.check_artifact_targets(&req.packages)?;
    let component = ws.original.component.clone();
    let source_digest = ws.manifest.digest();
    let source_date_epoch = ws.tree.git.as_ref().map_or(0, |g| g.commit_time);
    let target = req.target.clone().unwrap_or_else(|| ws.toolchain.rustc_version.host.clone());
    let params = BuildParams {
        manifest_rel: ws.manifest_rel.clone(),
        packages: req.packages.clone(),
        profile: req.profile.clone(),
        target: target.clone(),
        features: req.features.clone(),
    };
    let area = req.build_base.join(format!("check-{}", &source_digest.hex()[..16]));
    let _lock = stage::lock(&BuildRoot::at(area.clone()))?;
    if area.exists() {
        fs::remove_dir_all(&area).at(&area)?;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    let host = host_machine();
    let (variations, not_varied) = applicable(&req.variations, &req.sandbox, &host);
    if variations.is_empty() {
        return Err(crate::error::Error::invalid(
            "--variations",
            format!(
                "none of them can be applied here ({}): a check that varies nothing tests nothing",
                not_varied.iter().map(|n| format!("{}: {}", n.variation, n.reason)).collect::<Vec<_>>().join("; ")
            ),
        ));
    }
    let control_root = BuildRoot::at(area.join("control"));
    let checker = Checker {
        ws: &ws,
        params: &params,
        area: &area,
        source_date_epoch,
        req,
        stem: format!("{}-{}", component.name, component.version),
    };

    // The control build vendors; the others reuse its crates (copied out, since build C
    // empties the control root) and its flags, pointed at their own vendor directory.
    let control = Conditions::control(control_root.clone());
    let flags = checker.prepare(&control, Vendoring::FromRegistry)?;
    let vendor_copy = area.join("vendor");
    if control_root.vendor_dir().is_dir() {
        stage::copy_vendored(&control_root.vendor_dir(), &vendor_copy)?;
    }
    let reuse = Vendoring::Copy { dir: &vendor_copy, first_root: &control_root, flags: &flags };
    let varied = Conditions::varied(&control_root, &area.join("varied"), &variations, cores);
    let machines = Machines { first: control.machine(&host), second: varied.machine(&host) };

    // When the varied build has a build root and cargo home of its own, the two builds run at
    // the same time, the varied one starting on a later wall-clock second: a build rarely keeps
    // every core busy, and a loaded machine is one more condition a reproducible build must not
    // depend on. Otherwise they share directories and run one after the other.
    let separate = varied.root.root != control_root.root && varied.root.cargo_home != control_root.cargo_home;
    let started = (req.clock)();
    let (a, b) = if separate {
        std::thread::scope(|scope| {
            let control_build = scope.spawn(|| checker.compile_and_save("a", control, &flags));
            checker.wait_for_clock_to_move(started);
            let varied_build = checker.prepare(&varied, reuse).and_then(|v| checker.compile_and_save("b", varied, &v));
            // A panic in the control build's thread is a bug; surface it as one.
            let control_result = control_build.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            Ok::<_, crate::error::Error>((control_result?, varied_build?))
        })?
    } else {
        let a = checker.compile_and_save("a", control, &flags)?;
        checker.wait_for_clock_to_move(started);
        (a, checker.run("b", varied, reuse)?)
    };

    let differing = differing_names(&a, &b);
    let mut report = CheckReport {
        component: component.name.clone(),
        version: component.version.clone(),
        target,
        source_digest,
        variations: variations.clone(),
        not_varied,
        machines,
        reproducible: differing.is_empty(),
        artifacts: a
            .files
            .keys()
            .chain(b.files.keys().filter(|k| !a.files.contains_key(*k)))
            .map(|name| ArtifactResult { name: name.clone(), identical: !differing.contains(name), difference: None })
            .collect(),
        repeat_differs: None,
        causes: Vec::new(),
        canonical_root_only: false,
        explained: Vec::new(),
        differences: Vec::new(),
        kept: None,
    };
    if !differing.is_empty() {
        let repeat = checker.run("c", Conditions::control(control_root.clone()), reuse)?;
        let repeat_differs = !differing_names(&a, &repeat).is_empty();
        report.repeat_differs = Some(repeat_differs);
        for name in &differing {
            let (Some((_, path_a)), Some((_, path_b))) = (a.files.get(name), b.files.get(name)) else { continue };
            let diff = diff::diff_files(path_a, path_b)?;
            if let Some(r) = report.artifacts.iter_mut().find(|r| &r.name == name) {
                r.difference = Some(diff.summary());
            }
            // The bundle differs because its members do: diagnose the members themselves.
            if !name.ends_with(".tar.gz") {
                report.causes.extend(cause::diagnose(
                    name,
                    &diff,
                    (&a.conditions, &report.machines.first),
                    (&b.conditions, &report.machines.second),
                    (req.clock)(),
                    repeat_differs,
                ));
            }
            report.differences.push((name.clone(), diff));
        }
        report.canonical_root_only = !report.causes.is_empty()
            && report.causes.iter().all(|c| c.kind == CauseKind::Path && c.follows == [Variation::BuildRoot]);
        if req.explain {
            for v in variations.iter().filter(|v| **v != Variation::Time) {
                let only = Conditions::varied(&control_root, &area.join(format!("only-{v}")), &[*v], cores);
                let one = checker.run(&format!("only-{v}"), only, reuse)?;
                report.explained.push(Explanation { variation: *v, differing: differing_names(&a, &one) });
            }
        }
    }
    if req.keep {
        report.kept = Some(area.clone());
    } else {
        let _ = fs::remove_dir_all(&area);
    }
    Ok(report)
}

/// Where a build's vendored crates come from.
#[derive(Clone, Copy)]
enum Vendoring<'a> {
    /// `cargo vendor` (the first build).
    FromRegistry,
    /// A copy of the first build's crates, with its flags rewritten for this build root.
    Copy { dir: &'a Path, first_root: &'a BuildRoot, flags: &'a VendorConfig },
}

/// What every build of one check shares.
struct Checker<'a> {
    ws: &'a WorkspaceSource,
    params: &'a BuildParams,
    area: &'a Path,
    source_date_epoch: i64,
    req: &'a CheckRequest<'a>,
    stem: String,
}

impl Checker<'_> {
    /// Stages, vendors, compiles, and copies the artifacts and bundle to
    /// `<area>/results/<label>/`.
    fn run(&self, label: &str, conditions: Conditions, vendoring: Vendoring<'_>) -> Result<Outcome> {
        let vendor = self.prepare(&conditions, vendoring)?;
        self.compile_and_save(label, conditions, &vendor)
    }

    /// Stages the source and vendors (or copies the first build's vendored crates); returns
    /// the vendor flags for this build root.
    fn prepare(&self, conditions: &Conditions, vendoring: Vendoring<'_>) -> Result<VendorConfig> {
        let root = &conditions.root;
        stage::stage_in_order(&self.ws.tree, &self.ws.manifest, root, conditions.order)?;
        for dir in [&root.cargo_home, &root.home] {
            fs::create_dir_all(dir).at(dir)?;
        }
        match vendoring {
            Vendoring::FromRegistry => {
                cargo::vendor(&self.ws.toolchain, root, &self.params.manifest_rel, &self.req.host_env)
                    .map_err(|e| self.ws.relabel(e, &root.src))
            }
            Vendoring::Copy { dir, first_root, flags } => {
                if dir.is_dir() {
                    stage::copy_vendored(dir, &root.vendor_dir())?;
                }
                let (first, here) =
                    (first_root.vendor_dir().display().to_string(), root.vendor_dir().display().to_string());
                Ok(VendorConfig { config_args: flags.config_args.iter().map(|a| a.replace(&first, &here)).collect() })
            }
        }
    }

    /// Compiles a prepared build root and copies the artifacts and bundle out of it.
    fn compile_and_save(&self, label: &str, conditions: Conditions, vendor: &VendorConfig) -> Result<Outcome> {
        let root = &conditions.root;
        self.req.progress.phase(&format!("build {label}"), 0);
        let outputs = compile::private_dir(&self.req.build_base)?;
        let adjust = |env: &mut crate::env::BuildEnv| conditions.apply(env);
        let compiled = compile::compile(&compile::Compilation {
            root,
            build_base: &self.req.build_base,
            sandbox: &self.req.sandbox,
            toolchain: &self.ws.toolchain,
            params: self.params,
            vendor,
            source_date_epoch: self.source_date_epoch,
            stem: &self.stem,
            progress: self.req.progress,
            outputs: outputs.path(),
            adjust_env: Some(&adjust),
        })
        .map_err(|e| self.ws.relabel(e, &root.src))?;
        let results = self.area.join("results").join(label);
        let mut files = BTreeMap::new();
        for a in &compiled.artifacts {
            let saved = results.join(&a.subject);
            install_copy(&a.file.path, &saved, 0o755)?;
            files.insert(a.subject.clone(), (a.sha256, saved));
        }
        let saved = results.join(&compiled.bundle_name);
        install_copy(&compiled.bundle_path, &saved, 0o644)?;
        files.insert(compiled.bundle_name.clone(), (compiled.bundle.sha256, saved));
        self.req.progress.finish_phase();
        // Causes are found by the paths the artifacts can embed: those the build saw.
        let conditions = Conditions { root: compiled.inside, ..conditions };
        Ok(Outcome { conditions, files })
    }

    /// The varied build must run at another wall-clock second than the control build.
    fn wait_for_clock_to_move(&self, started: Timestamp) {
        while (self.req.clock)() <= started {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Names present in either build whose digests differ (or that only one build produced).
fn differing_names(a: &Outcome, b: &Outcome) -> Vec<String> {
    let mut names: Vec<String> = a.files.keys().chain(b.files.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|n| a.files.get(n).map(|f| f.0) != b.files.get(n).map(|f| f.0));
    names
}
