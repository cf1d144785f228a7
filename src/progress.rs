//! Progress reporting for long operations (hashing, building). The library reports; the CLI
//! decides whether and how to draw it.

/// Receives progress from long-running library operations. Implementations must be cheap:
/// `advance` is called once per file hashed.
pub trait Progress: Sync {
    /// A new phase begins, measured in `total` units (bytes for hashing; 0 when unknown).
    fn phase(&self, _name: &str, _total: u64) {}
    /// `units` more of the current phase are done.
    fn advance(&self, _units: u64) {}
    /// What the current phase is doing now, in a few words ("37 crates compiled, last serde"),
    /// for displays that show it.
    fn status(&self, _text: &str) {}
    /// The current phase is over.
    fn finish_phase(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
