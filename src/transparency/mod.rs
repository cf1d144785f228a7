//! The transparency log of attestations: appending DSSE envelopes as entries, proving and
//! checking inclusion, verifying and auditing the whole log from its static files, removing
//! the partial files the checkpoint no longer needs, the witness role, and the log's client of
//! witness services (C2SP tlog-witness). The formats (C2SP tlog-tiles, checkpoints, signed notes, cosignatures,
//! tlog-proof) live in [`crate::tlog`].

pub mod append;
pub mod audit;
pub mod bucket;
pub mod entry;
mod files;
pub mod follow;
pub mod gc;
pub mod mirror;
pub mod proofs;
pub mod served_dir;
pub mod store;
pub mod subject_index;
pub mod submit;
pub mod witness;
pub mod witness_client;

pub use entry::{LogEntry, Loggable};
pub use files::MAX_TILE_BYTES;
pub use store::{LogDir, MAX_BUNDLE_BYTES};
