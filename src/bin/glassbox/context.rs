//! What the CLI passes into the library: the process environment, the clock, random ids, and
//! a progress display on terminals.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Draws progress on stderr: bars and spinners on a terminal; otherwise (CI logs) a plain line
/// every [`PLAIN_EVERY`] while a phase runs longer than that, and one when it ends, so short
/// commands stay quiet and long ones never look hung.
pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    plain: Arc<Mutex<PlainPhase>>,
    /// How often plain lines are printed; zero prints one at every status and phase end.
    every: Duration,
    ticker: Once,
}

/// How often a plain progress line is printed when stderr is not a terminal, by default.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Seconds between plain progress lines, instead of [`PLAIN_EVERY`] (README, "Environment").
pub const PROGRESS_EVERY_VAR: &str = "GLASSBOX_PROGRESS_EVERY";

/// The phase as plain lines describe it.
#[derive(Default)]
struct PlainPhase {
    name: Option<String>,
    total: u64,
    done: u64,
    status: String,
    started: Option<Instant>,
    last_line: Option<Instant>,
    printed: bool,
}

impl PlainPhase {
    fn line(&self, now: Instant) -> Option<String> {
        let name = self.name.as_ref()?;
        let elapsed = self.started.map_or(Duration::ZERO, |s| now - s);
        let what = match (self.done * 100).checked_div(self.total) {
            Some(percent) => format!("{percent}% of {}", indicatif::HumanBytes(self.total)),
            None => self.status.clone(),
        };
        let what = if what.is_empty() { "running".to_string() } else { what };
        Some(format!("glassbox: {name}: {what} ({})", indicatif::HumanDuration(elapsed)))
    }

    /// Ends the phase: a last line if any was printed.
    fn end(&mut self, now: Instant) {
        if self.printed {
            if let Some(line) = self.line(now) {
                eprintln!("{line}, finished");
            }
        }
        *self = PlainPhase::default();
    }
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress {
            bar: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
            plain: Arc::new(Mutex::new(PlainPhase::default())),
            every: std::env::var(PROGRESS_EVERY_VAR)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .map_or(PLAIN_EVERY, Duration::from_secs),
            ticker: Once::new(),
        }
    }

    fn plain(&self) -> std::sync::MutexGuard<'_, PlainPhase> {
        self.plain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The thread that prints plain lines; it lives as long as the process.
    fn start_ticker(&self) {
        let (plain, every) = (Arc::clone(&self.plain), self.every);
        if every.is_zero() {
            return; // lines are printed as things happen
        }
        self.ticker.call_once(|| {
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                let mut phase = plain.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let due = phase.last_line.or(phase.started).is_some_and(|t| now - t >= every);
                if due {
                    if let Some(line) = phase.line(now) {
                        eprintln!("{line}");
                        phase.last_line = Some(now);
                        phase.printed = true;
                    }
                }
            });
        });
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, name: &str, total: u64) {
        if !self.terminal {
            let now = Instant::now();
            let mut phase = self.plain();
            phase.end(now);
            *phase = PlainPhase { name: Some(name.to_string()), total, started: Some(now), ..PlainPhase::default() };
            drop(phase);
            self.start_ticker();
            return;
        }
        let bar = if total > 0 {
            let style = ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::new(total).with_style(style);
            bar.set_message(name.to_string());
            bar
        } else {
            let style = ProgressStyle::with_template("{prefix:>12} {spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = ProgressBar::new_spinner().with_style(style);
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        if let Some(old) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, units: u64) {
        if !self.terminal {
            self.plain().done += units;
        } else if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(units);
        }
    }

    fn status(&self, text: &str) {
        if !self.terminal {
            let mut phase = self.plain();
            phase.status = text.to_string();
            if self.every.is_zero() {
                if let Some(line) = phase.line(Instant::now()) {
                    eprintln!("{line}");
                    phase.printed = true;
                }
            }
        } else if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if bar.length().is_none() {
                bar.set_message(text.to_string());
            }
        }
    }

    fn finish_phase(&self) {
        if !self.terminal {
            self.plain().end(Instant::now());
        } else if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for TerminalProgress {
    /// A phase still running here ended in an error: cleared, never called finished.
    fn drop(&mut self) {
        *self.plain() = PlainPhase::default();
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
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
        format!("--manifest-path {}", given.display()),
        "no such file: give the workspace's Cargo.toml"
    ))
}
