//! Sample custody (`glassbox sample`): suspicious files collected from customers leave the
//! center only on a signed request, approved as the policy's `[samples]` section requires, with
//! every step in the transparency log before a byte leaves. The log names samples only by
//! salted commitments ([`commitment`]); the center's private store ([`store`]) keeps the files,
//! salts and openings; [`intake`] takes files in as one signed batch and [`receipt`] writes
//! and reads the customers' receipts; [`log_writer`] logs the center's own statements (with the
//! log's key, or through the log service, which alone holds it). [`statements`] signs and strictly reads the four statement kinds,
//! [`rules`] is the one definition of a proper release, which the gateway ([`gateway`]) applies
//! before releasing and the audit ([`audit`]) applies again to the whole log.

pub mod audit;
pub mod commitment;
pub mod gateway;
pub mod intake;
pub mod ledger;
pub mod log_writer;
pub mod lookup;
pub mod policies;
pub mod receipt;
pub mod replay;
pub mod request;
pub mod rules;
pub mod statements;
pub mod store;
