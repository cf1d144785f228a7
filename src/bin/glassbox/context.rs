//! What the CLI passes into the library: the process environment, the clock, random ids, and
//! a progress display on terminals.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use glassbox::keys::{KeyFileOptions, PrivateKey, ALLOW_OPEN_KEYS_VAR};
use glassbox::progress::Progress;
use glassbox::time::Timestamp;
use glassbox::tree::TreeOptions;
use indicatif::{ProgressBar, ProgressStyle};

/// The process environment (UTF-8 variables only).
pub fn host_env() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// How a source directory that may be a git checkout is read (shared by `hash` and `review`).
#[derive(Args)]
pub struct GitTreeArgs {
    /// Accept a git checkout whose tracked files differ from HEAD.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Walk the directory even in a git checkout.
    #[arg(long)]
    pub no_git: bool,
}

impl GitTreeArgs {
    pub fn tree_options(&self) -> TreeOptions {
        TreeOptions { allow_dirty: self.allow_dirty, no_git: self.no_git, env: host_env() }
    }
}

/// Reads a private key file, the one way every command does: refused when group or others may
/// access it, unless `GLASSBOX_ALLOW_OPEN_KEYS=1` (docs/formats.md, section 2).
pub fn private_key(path: &std::path::Path) -> glassbox::Result<PrivateKey> {
    PrivateKey::read_with(path, key_file_options())
}

/// How key files are read, from the environment.
pub fn key_file_options() -> KeyFileOptions {
    KeyFileOptions { allow_open: std::env::var_os(ALLOW_OPEN_KEYS_VAR).is_some_and(|v| v == "1") }
}

/// The wall clock.
pub fn now() -> Timestamp {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A random id for `runDetails.metadata.invocationId`.
pub fn invocation_id() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    glassbox::digest::hex_encode(&bytes)
}

/// Draws progress on stderr when it is a terminal; silent otherwise.
pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress { bar: Mutex::new(None), enabled: std::io::stderr().is_terminal() }
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, name: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = if total > 0 {
            let style = ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(total).with_style(style)
        } else {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        bar.set_message(name.to_string());
        if let Some(old) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, units: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(units);
        }
    }

    fn finish_phase(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.finish_phase();
    }
}

/// The workspace manifest for `--manifest-path`: as given when it exists; for the default
/// (`Cargo.toml`) missing in the current directory, the nearest `Cargo.toml` above it, as cargo
/// finds it; otherwise bad input that says to run inside a workspace or pass --manifest-path.
pub fn find_manifest(given: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if given.exists() {
        return Ok(given.to_path_buf());
    }
    if given == std::path::Path::new("Cargo.toml") {
        let cwd = std::env::current_dir()?;
        if let Some(found) = cwd.ancestors().skip(1).map(|d| d.join("Cargo.toml")).find(|m| m.is_file()) {
            return Ok(found);
        }
        anyhow::bail!(glassbox::Error::invalid(
            "Cargo.toml",
            format!(
                "not found in {} or any parent directory: run this inside the workspace, or pass --manifest-path \
                 PATH/Cargo.toml",
                glassbox::text::escape(&cwd.display().to_string())
            )
        ));
    }
    anyhow::bail!(glassbox::Error::invalid(
        format!("--manifest-path {}", glassbox::text::escape(&given.display().to_string())),
        "no such file: give the workspace's Cargo.toml"
    ))
}
