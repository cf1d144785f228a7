//! Why two builds differ, from the evidence a diff report gives: an absolute path of the build
//! (and which variation it follows), a timestamp, or nondeterminism that needs no variation at
//! all (found by a third build under the control's conditions).

use serde::Serialize;

use super::variation::{Conditions, Machine, Variation};
use crate::diff::DiffReport;
use crate::time::Timestamp;

/// The kind of a likely cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseKind {
    /// An absolute path of the build is embedded in the artifact.
    Path,
    /// The time of the build is embedded.
    Timestamp,
    /// Something of the build machine is embedded: its CPU count or host name.
    BuildMachine,
    /// The artifact changes between builds under identical conditions (e.g. `HashMap`
    /// iteration order in a build script).
    Nondeterminism,
    /// It depends on some variation, but the evidence does not say which (`--explain` does).
    Unknown,
}

impl CauseKind {
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::Path => "path",
            CauseKind::Timestamp => "timestamp",
            CauseKind::BuildMachine => "build-machine",
            CauseKind::Nondeterminism => "nondeterminism",
            CauseKind::Unknown => "unknown",
        }
    }
}

/// A likely cause of one artifact's difference.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    pub artifact: String,
    pub kind: CauseKind,
    /// What to tell the engineer.
    pub explanation: String,
    /// The strings that show it (paths, times), as found in the artifacts.
    pub evidence: Vec<String>,
    /// The variations this follows, when known.
    pub follows: Vec<Variation>,
}

/// Diagnoses one artifact's difference between the control build (A) and the varied one (B).
/// `repeat_differs` is whether a third build under A's conditions differed from A.
pub fn diagnose(
    artifact: &str,
    report: &DiffReport,
    (control, control_machine): (&Conditions, &Machine),
    (varied, varied_machine): (&Conditions, &Machine),
    now: Timestamp,
    repeat_differs: bool,
) -> Vec<Cause> {
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    for (_, elf) in report.elf_diffs() {
        only_a.extend(elf.strings.only_in_a.iter().cloned());
        only_b.extend(elf.strings.only_in_b.iter().cloned());
    }
    let mut causes = Vec::new();

    // Paths: a control path in A's strings whose varied counterpart is in B's.
    let mut follows = Vec::new();
    let mut evidence = Vec::new();
    for ((path_a, v), (path_b, _)) in control.paths().into_iter().zip(varied.paths()) {
        if path_a == path_b {
            continue;
        }
        let hit_a = only_a.iter().find(|s| s.contains(&path_a));
        let hit_b = only_b.iter().find(|s| s.contains(&path_b));
        if let (Some(a), Some(b)) = (hit_a, hit_b) {
            follows.push(v);
            evidence.extend([a.clone(), b.clone()]);
        }
    }
    if !follows.is_empty() {
        let names: Vec<&str> = follows.iter().map(|v| v.name()).collect();
        causes.push(Cause {
            artifact: artifact.to_string(),
            kind: CauseKind::Path,
            explanation: format!(
                "embeds an absolute path of the build that follows the {} variation (look for env!(\"CARGO_MANIFEST_DIR\"), file!() outside of panics, OUT_DIR or a build script writing paths)",
                names.join(", ")
            ),
            evidence,
            follows,
        });
    }

    // The build machine: a string only in A that is a string only in B once A's host name
    // and CPU count are replaced by B's.
    let mut follows = Vec::new();
    let mut evidence = Vec::new();
    for a in &only_a {
        if let Some((b, used)) = machine_counterpart(a, &only_b, control_machine, varied_machine) {
            for v in used {
                if !follows.contains(&v) {
                    follows.push(v);
                }
            }
            if evidence.len() < 4 {
                evidence.extend([a.clone(), b]);
            }
        }
    }
    if !follows.is_empty() {
        follows.sort();
        let what: Vec<&str> =
            follows.iter().map(|v| if *v == Variation::CpuCount { "CPU count" } else { "host name" }).collect();
        causes.push(Cause {
            artifact: artifact.to_string(),
            kind: CauseKind::BuildMachine,
            explanation: format!(
                "embeds the build machine's {} (a build script or proc macro reading std::thread::available_parallelism, num_cpus, nproc or the host name into the output)",
                what.join(" and ")
            ),
            evidence,
            follows,
        });
    }

    // Times: a string on either side holding the build's date or a Unix time near now.
    let times: Vec<String> = only_a.iter().chain(&only_b).filter(|s| looks_like_now(s, now)).cloned().collect();
    if !times.is_empty() {
        causes.push(Cause {
            artifact: artifact.to_string(),
            kind: CauseKind::Timestamp,
            explanation: "embeds the time of the build (use SOURCE_DATE_EPOCH instead of the clock)".into(),
            evidence: times.into_iter().take(4).collect(),
            follows: vec![Variation::Time],
        });
    }

    if causes.is_empty() && repeat_differs {
        causes.push(Cause {
            artifact: artifact.to_string(),
            kind: CauseKind::Nondeterminism,
            explanation: "differs between two builds under identical conditions, with no variation at all: an ordering that changes from run to run (HashMap or HashSet iteration in a build script or proc macro, threads racing to write)".into(),
            evidence: only_a.iter().chain(&only_b).take(4).cloned().collect(),
            follows: Vec::new(),
        });
    }
    if causes.is_empty() {
        causes.push(Cause {
            artifact: artifact.to_string(),
            kind: CauseKind::Unknown,
            explanation: "depends on one of the variations; run again with --explain to find which".into(),
            evidence: only_a.iter().chain(&only_b).take(4).cloned().collect(),
            follows: Vec::new(),
        });
    }
    causes
}

/// The string of `only_b` that `a` becomes with the control machine's host name and CPU count
/// replaced by the varied one's (every occurrence of the host name; the CPU count as a whole
/// number, one occurrence or all), and the variations that took.
fn machine_counterpart(
    a: &str,
    only_b: &[String],
    control: &Machine,
    varied: &Machine,
) -> Option<(String, Vec<Variation>)> {
    let mut hosts = vec![(a.to_string(), false)];
    if control.hostname != varied.hostname && !control.hostname.is_empty() && a.contains(&control.hostname) {
        hosts.push((a.replace(&control.hostname, &varied.hostname), true));
    }
    for (text, host_used) in hosts {
        let mut candidates = vec![(text.clone(), false)];
        if control.cpus != varied.cpus {
            let (from, to) = (control.cpus.to_string(), varied.cpus.to_string());
            let runs: Vec<(usize, usize)> = number_runs(&text).filter(|(s, e)| text[*s..*e] == from).collect();
            let replace = |which: &[(usize, usize)]| {
                let mut out = text.clone();
                for (s, e) in which.iter().rev() {
                    out.replace_range(*s..*e, &to);
                }
                out
            };
            candidates.extend(runs.iter().map(|r| (replace(std::slice::from_ref(r)), true)));
            if runs.len() > 1 {
                candidates.push((replace(&runs), true));
            }
        }
        for (candidate, cpus_used) in candidates {
            if (host_used || cpus_used) && only_b.contains(&candidate) {
                let mut used = Vec::new();
                if cpus_used {
                    used.push(Variation::CpuCount);
                }
                if host_used {
                    used.push(Variation::Hostname);
                }
                return Some((candidate, used));
            }
        }
    }
    None
}

/// The byte ranges of the whole numbers in `s`.
fn number_runs(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        Some((start, i))
    })
}

/// True when `s` holds today's date (`YYYY-MM-DD`, `YYYYMMDD`) or a Unix time in seconds or
/// milliseconds within a day of `now`.
pub fn looks_like_now(s: &str, now: Timestamp) -> bool {
    let date = now.rfc3339();
    let day = &date[..10];
    if s.contains(day) || s.contains(&day.replace('-', "")) {
        return true;
    }
    digit_runs(s).any(|run| {
        let secs: Option<i64> = match run.len() {
            10 => run.parse().ok(),
            13 => run[..10].parse().ok(),
            _ => None,
        };
        secs.is_some_and(|t| (t - now.0).abs() <= 86_400)
    })
}

fn digit_runs(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_machines_cpu_count_and_host_name_are_found_together_or_alone() {
        let (a, b) = (
            Machine { cpus: 2, hostname: "ci-7".into() },
            Machine { cpus: 1, hostname: "glassbox-check-varied-host".into() },
        );
        let only_b = vec!["built on glassbox-check-varied-host with 1 cpus (v2)".to_string()];
        let (found, used) = machine_counterpart("built on ci-7 with 2 cpus (v2)", &only_b, &a, &b).unwrap();
        assert_eq!((found.as_str(), used), (only_b[0].as_str(), vec![Variation::CpuCount, Variation::Hostname]));
        let only_b = vec!["jobs=1 of 12".to_string()];
        assert_eq!(machine_counterpart("jobs=2 of 12", &only_b, &a, &b).unwrap().1, [Variation::CpuCount]);
        // 12 is not 2, and a string that changes some other way is no counterpart.
        assert!(machine_counterpart("jobs=12", &["jobs=11".to_string()], &a, &b).is_none());
        assert!(machine_counterpart("built at 100", &["built at 101".to_string()], &a, &b).is_none());
        assert!(machine_counterpart("same", &["same".to_string()], &a, &b).is_none());
    }

    #[test]
    fn recognises_times_near_now() {
        let now = Timestamp(1_795_460_855);
        assert!(looks_like_now("built at 1795460855.539300555/rustc", now));
        assert!(looks_like_now("stamp 1795460000123 ms", now));
        assert!(looks_like_now(&format!("date {}", &now.rfc3339()[..10]), now));
        assert!(!looks_like_now("version 1700000000", now));
        assert!(!looks_like_now("signature-17,signature-3", now));
    }
}
