//! glassbox: reproducible builds, signed provenance, rebuild verdicts, source reviews and a
//! transparency log for Cargo workspaces.
//!
//! Layers (a module uses only its own layer or lower ones; see ARCHITECTURE.md):
//! 1. [`digest`], [`error`], [`json`], [`time`], [`fs`], [`beneath`], [`glob`], [`progress`], [`text`]
//! 2. [`keys`], [`tree`], [`manifest`], [`toolchain`], [`env`], [`sandbox`], [`remote`]
//! 3. [`cargo`], [`bundle`], [`unpack`], [`attest`], [`tlog`]
//! 4. [`build`], [`check`], [`custody`], [`diff`], [`policy`], [`rebuild`], [`review`], [`site`],
//!    [`transparency`]
//! 5. [`service`]: the network services (the witness service; the log service)
//!
//! The library never prints, never reads the wall clock and never reads the process
//! environment: callers pass time, environment and progress reporting in.

pub mod beneath;
pub mod digest;
pub mod error;
pub mod fs;
pub mod glob;
pub mod json;
pub mod progress;
pub mod text;
pub mod time;

pub mod env;
pub mod keys;
pub mod manifest;
pub mod sandbox;
pub mod toolchain;
pub mod tree;

pub mod attest;
pub mod bundle;
pub mod cargo;
pub mod tlog;
pub mod unpack;

pub mod build;
pub mod check;
pub mod custody;
pub mod diff;
pub mod policy;
pub mod rebuild;
pub mod rebuilder;
pub mod remote;
pub mod review;
pub mod site;
pub mod transparency;

pub mod service;

#[cfg(test)]
mod testing;

pub use error::{Error, Result};

/// glassbox's own version, recorded in every attestation it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
