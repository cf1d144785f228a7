//! The gateway's authenticated view of the log's custody entries, kept in the store's SQLite
//! database and extended incrementally: each release reads only the entries logged since the
//! last one, so a release costs the same on a log of a million entries as on an empty one.

/// Tables of the ledger (created with the store's schema).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root TEXT NOT NULL
);
";
