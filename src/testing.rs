//! What every property test of the library shares: `cargo xtask ci` runs each for a bounded
//! number of cases and never writes failure files into the source tree, so one place sets both.

use proptest::prelude::ProptestConfig;

/// A property-test configuration of `cases` cases (at most a few hundred, so the whole suite
/// stays within CI's time) that persists no failures.
pub fn bounded_cases(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}
