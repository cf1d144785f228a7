//! Why two builds differ, from the evidence a diff report gives: an absolute path of the build
//! (and which variation it follows), a timestamp, or nondeterminism that needs no variation at
//! all (found by a third build under the control's conditions).

use serde::Serialize;

use super::variation::{Conditions, Variation};
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
    control: &Conditions,
    varied: &Conditions,
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
    fn recognises_times_near_now() {
        let now = Timestamp(1_795_460_855);
        assert!(looks_like_now("built at 1795460855.539300555/rustc", now));
        assert!(looks_like_now("stamp 1795460000123 ms", now));
        assert!(looks_like_now(&format!("date {}", &now.rfc3339()[..10]), now));
        assert!(!looks_like_now("version 1700000000", now));
        assert!(!looks_like_now("signature-17,signature-3", now));
    }
}
