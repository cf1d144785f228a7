//! glassbox's integration tests: one test binary, a module per capability. Tests run the real
//! `glassbox` binary on real workspaces and check its output with tools glassbox did not write
//! (sha256sum, GNU tar, Python's tarfile, openssl, securesystemslib).

mod azure_store;
mod bad_input;
mod build;
mod check;
mod custody_audit;
mod custody_history;
mod custody_intake;
mod custody_one_writer;
mod custody_policy;
mod custody_release;
mod custody_service;
mod custody_story;
mod custody_support;
mod diff;
mod hash;
mod keys;
mod log;
mod log_attacks;
mod log_gc;
mod log_service;
mod log_service_bench;
mod log_service_crash;
mod log_service_dir;
mod log_service_witness;
mod rebuild;
mod rebuilder;
mod rebuilder_support;
mod review;
mod s3_store;
mod s3_support;
mod sandbox;
mod sandbox_attacks;
mod site;
mod site_browser;
mod site_regenerate;
mod site_service;
mod subject_index;
mod support;
mod third_party;
mod verify;
mod verify_attacks;
mod verify_service;
mod witness_service;
mod workflows;
