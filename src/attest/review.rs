//! The source review predicate (`https://glassbox.dev/review/v1`): a reviewer's signed
//! statement about exactly which source digest they read, to which criteria, over which scope.

use serde::{Deserialize, Serialize};

/// The built-in criteria. `safe-to-deploy` implies `safe-to-run` (as in cargo-vet); any other
/// name is a custom criterion that only satisfies itself.
pub const SAFE_TO_RUN: &str = "safe-to-run";
pub const SAFE_TO_DEPLOY: &str = "safe-to-deploy";

/// The review predicate. The statement's subject is the source digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Review {
    pub reviewer: Reviewer,
    pub criteria: String,
    pub scope: Scope,
    /// The component the source belongs to, as the reviewer saw it.
    pub component: Component,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    pub time_reviewed: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reviewer {
    /// The signing key's id (securesystemslib key id).
    pub keyid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// What the reviewer read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Scope {
    /// Every file of the source.
    Full,
    /// The changes from an earlier source digest (hex) to this one.
    Delta { from: String },
    /// Only the files matching these patterns (see `glob`): never enough for a policy.
    Paths { paths: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub version: String,
}

/// One finding: where, how bad, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub path: String,
    pub line: u64,
    pub severity: String,
    pub text: String,
}

/// Whether a review to `have` satisfies a requirement of `want`.
pub fn criteria_satisfies(have: &str, want: &str) -> bool {
    have == want || (have == SAFE_TO_DEPLOY && want == SAFE_TO_RUN)
}

/// The built-in criteria, strongest first.
pub const BUILT_IN_CRITERIA: [&str; 2] = [SAFE_TO_DEPLOY, SAFE_TO_RUN];

/// The built-in criterion `name` is likely a misspelling of (at most a third of its letters
/// edited, case ignored), for a "did you mean" in the error: a typo would otherwise sign a
/// custom criterion no policy ever asks for.
pub fn nearest_criteria(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    BUILT_IN_CRITERIA
        .into_iter()
        .map(|known| (edit_distance(&name, known), known))
        .filter(|(d, known)| *d <= known.len() / 3)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance over bytes (criteria are ASCII), two rows.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, y) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(x != y);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A criteria name: the built-ins or a custom one of letters, digits and dashes.
pub fn valid_criteria(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_and_scope_serialise_as_documented() {
        assert!(criteria_satisfies(SAFE_TO_DEPLOY, SAFE_TO_RUN));
        assert!(!criteria_satisfies(SAFE_TO_RUN, SAFE_TO_DEPLOY));
        assert!(criteria_satisfies("crypto-reviewed", "crypto-reviewed"));
        assert!(!criteria_satisfies(SAFE_TO_DEPLOY, "crypto-reviewed"));
        assert_eq!(serde_json::to_string(&Scope::Full).unwrap(), r#"{"kind":"full"}"#);
        assert_eq!(
            serde_json::to_string(&Scope::Delta { from: "ab".into() }).unwrap(),
            r#"{"kind":"delta","from":"ab"}"#
        );
        assert!(valid_criteria("safe-to-run") && !valid_criteria("no spaces"));
        assert_eq!(nearest_criteria("safe-to-deplyo"), Some(SAFE_TO_DEPLOY));
        assert_eq!(nearest_criteria("Safe-To-Run"), Some(SAFE_TO_RUN));
        assert_eq!(nearest_criteria("safe-to-rn"), Some(SAFE_TO_RUN));
        assert_eq!(nearest_criteria("crypto-reviewed"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
