//! The variations `glassbox check` applies to its second build, as reprotest does: each changes
//! one condition that an honest build must not depend on.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::build::stage::FileOrder;
use crate::env::{BuildEnv, BuildRoot};
use crate::error::{Error, Result};

/// One condition a reproducible build must not depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variation {
    /// The build root's path (so path leaks show up even though `build` hides them).
    BuildRoot,
    /// The `CARGO_HOME` path.
    CargoHome,
    /// The `HOME` path.
    Home,
    /// `TZ`.
    Timezone,
    /// `LANG` and `LC_ALL`.
    Locale,
    /// umask 077 instead of 022.
    Umask,
    /// `cargo --jobs`: more jobs than cores, so units are scheduled differently.
    Jobs,
    /// Extra, unrelated environment variables.
    ExtraEnv,
    /// Staged files are created in reverse order.
    FileOrder,
    /// The wall clock (it moves between builds; `SOURCE_DATE_EPOCH` stays fixed).
    Time,
    /// The CPUs the build may run on: all of them, then one (`nproc` and
    /// `std::thread::available_parallelism` see 1), as a smaller machine would.
    CpuCount,
    /// The host name the build sees (the sandbox's own UTS namespace), as another machine's.
    Hostname,
}

impl Variation {
    pub const ALL: [Variation; 12] = [
        Variation::BuildRoot,
        Variation::CargoHome,
        Variation::Home,
        Variation::Timezone,
        Variation::Locale,
        Variation::Umask,
        Variation::Jobs,
        Variation::ExtraEnv,
        Variation::FileOrder,
        Variation::Time,
        Variation::CpuCount,
        Variation::Hostname,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variation::BuildRoot => "build-root",
            Variation::CargoHome => "cargo-home",
            Variation::Home => "home",
            Variation::Timezone => "timezone",
            Variation::Locale => "locale",
            Variation::Umask => "umask",
            Variation::Jobs => "jobs",
            Variation::ExtraEnv => "extra-env",
            Variation::FileOrder => "file-order",
            Variation::Time => "time",
            Variation::CpuCount => "cpu-count",
            Variation::Hostname => "hostname",
        }
    }

    /// Parses `all` or a comma-separated list of names.
    pub fn parse_list(text: &str) -> Result<Vec<Variation>> {
        if text.trim() == "all" {
            return Ok(Variation::ALL.to_vec());
        }
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let v = Variation::ALL.iter().copied().find(|v| v.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Variation::ALL.iter().map(|v| v.name()).collect();
                Error::invalid(format!("variation {name:?}"), format!("not one of all, {}", known.join(", ")))
            })?;
            if !out.contains(&v) {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(
                "--variations",
                "names no variation: a check that varies nothing tests nothing",
            ));
        }
        out.sort();
        Ok(out)
    }
}

impl fmt::Display for Variation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The conditions of one build of a check.
#[derive(Clone, Debug)]
pub struct Conditions {
    pub root: BuildRoot,
    pub order: FileOrder,
    /// Applied on top of the controlled environment.
    pub env_changes: Vec<(String, String)>,
    pub umask: Option<String>,
    pub jobs: Option<u32>,
    /// How many CPUs the build may use; all of glassbox's when `None`.
    pub cpus: Option<usize>,
    /// The host name the build sees; the host's when `None`.
    pub hostname: Option<String>,
}

/// The host name the varied build sees.
pub const VARIED_HOSTNAME: &str = "glassbox-check-varied-host";

/// The build machine as one build of a check saw it: what a binary can embed of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// CPUs the build could run on (`nproc`).
    pub cpus: usize,
    pub hostname: String,
}

impl Conditions {
    /// The control build's conditions: glassbox's controlled environment at `root`.
    pub fn control(root: BuildRoot) -> Conditions {
        Conditions {
            root,
            order: FileOrder::Manifest,
            env_changes: Vec::new(),
            umask: None,
            jobs: None,
            cpus: None,
            hostname: None,
        }
    }

    /// The control conditions with `variations` applied; `area` is a directory for the varied
    /// paths (other than the control root's).
    pub fn varied(control: &BuildRoot, area: &Path, variations: &[Variation], cores: u32) -> Conditions {
        let mut c = Conditions::control(control.clone());
        for v in variations {
            match v {
                // A longer path, so that nothing depends on the length either.
                Variation::BuildRoot => {
                    let moved = BuildRoot::at(area.join("a-much-longer-and-different-build-root"));
                    c.root = BuildRoot { cargo_home: c.root.cargo_home.clone(), home: c.root.home.clone(), ..moved };
                }
                Variation::CargoHome => c.root.cargo_home = area.join("varied-cargo-home"),
                Variation::Home => c.root.home = area.join("varied-home"),
                Variation::Timezone => c.env_changes.push(("TZ".into(), "Pacific/Chatham".into())),
                Variation::Locale => {
                    c.env_changes.push(("LC_ALL".into(), "fr_FR.UTF-8".into()));
                    c.env_changes.push(("LANG".into(), "fr_FR.UTF-8".into()));
                }
                Variation::Umask => c.umask = Some("077".into()),
                Variation::Jobs => c.jobs = Some(cores * 2 + 1),
                Variation::ExtraEnv => {
                    c.env_changes.push(("GLASSBOX_CHECK_UNRELATED".into(), "varied".into()));
                    c.env_changes.push(("EDITOR".into(), "ed".into()));
                }
                Variation::FileOrder => c.order = FileOrder::Reversed,
                // Nothing to set: the builds run at different times.
                Variation::Time => {}
                Variation::CpuCount => c.cpus = Some(1),
                Variation::Hostname => c.hostname = Some(VARIED_HOSTNAME.into()),
            }
        }
        c
    }

    /// Applies the environment changes to a controlled environment.
    pub fn apply(&self, env: &mut BuildEnv) {
        for (k, v) in &self.env_changes {
            env.vars.insert(k.clone(), v.clone());
        }
        if let Some(umask) = &self.umask {
            env.umask = umask.clone();
        }
        env.jobs = self.jobs;
        env.cpus = self.cpus;
        env.hostname = self.hostname.clone();
    }

    /// The machine this build sees, on a host with `host` (all CPUs, the host's name).
    pub fn machine(&self, host: &Machine) -> Machine {
        Machine {
            cpus: self.cpus.map_or(host.cpus, |n| n.min(host.cpus)),
            hostname: self.hostname.clone().unwrap_or_else(|| host.hostname.clone()),
        }
    }

    /// The paths of this build that could leak into artifacts, with the variation each follows.
    pub fn paths(&self) -> Vec<(String, Variation)> {
        let p = |path: &Path| path.display().to_string();
        vec![
            (p(&self.root.root), Variation::BuildRoot),
            (p(&self.root.cargo_home), Variation::CargoHome),
            (p(&self.root.home), Variation::Home),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(Variation::parse_list("all").unwrap().len(), 12);
        assert_eq!(Variation::parse_list("cpu-count,hostname").unwrap(), [Variation::CpuCount, Variation::Hostname]);
        assert_eq!(Variation::parse_list("umask, timezone,umask").unwrap(), [Variation::Timezone, Variation::Umask]);
        assert!(Variation::parse_list("umask,bogus").unwrap_err().to_string().contains("bogus"));
        assert!(Variation::parse_list(" , ").is_err());
    }

    #[test]
    fn varied_conditions_change_what_they_say() {
        let control = BuildRoot::at("/tmp/c/control".into());
        let area = Path::new("/tmp/c/varied");
        let c = Conditions::varied(&control, area, &[Variation::BuildRoot], 2);
        assert_ne!(c.root.src, control.src);
        assert_eq!(c.root.cargo_home, control.cargo_home);
        let c = Conditions::varied(&control, area, &[Variation::Jobs, Variation::Umask], 2);
        assert_eq!((c.jobs, c.umask.as_deref(), c.root.clone()), (Some(5), Some("077"), control.clone()));
        let host = Machine { cpus: 2, hostname: "builder-7".into() };
        let c = Conditions::varied(&control, area, &[Variation::CpuCount, Variation::Hostname], 2);
        assert_eq!(c.machine(&host), Machine { cpus: 1, hostname: VARIED_HOSTNAME.into() });
        assert_eq!(Conditions::control(control).machine(&host), host);
    }
}
