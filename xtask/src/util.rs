//! Helpers shared by xtask tasks: the repository root, running commands, the glassbox binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{bail, Context, Result};

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    let xtask_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().map(Path::to_path_buf).unwrap_or(xtask_dir)
}

/// The cargo that runs us (falls back to `cargo` on PATH).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd`, echoing it; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd`, echoing it, and returns its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("$ {}", describe(cmd));
    cmd.status().with_context(|| format!("cannot run `{}`", describe(cmd)))
}

pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// A program and the Debian packages that provide it.
pub type SystemTool = (&'static str, &'static [&'static str]);

/// bubblewrap: `glassbox build`, `check` and `rebuild` run the vendor's build code in its
/// sandbox and refuse to run without it.
pub const BUBBLEWRAP: SystemTool = ("bwrap", &["bubblewrap"]);

/// The Debian `age` tool: the custody tests check that released samples decrypt with it.
pub const AGE: SystemTool = ("age", &["age"]);

/// Debian's Chromium: the site tests (tests/it/site_browser.rs) verify pages in a real browser.
pub const CHROMIUM: SystemTool = ("chromium", &["chromium"]);

/// Node and npm: tests/browser drives Chromium with playwright-core from npm.
pub const NPM: SystemTool = ("npm", &["nodejs", "npm"]);

/// The NATS server with JetStream: the rebuilder tests (tests/it/rebuilder.rs) and
/// `cargo xtask bench rebuilder` run one on loopback as the rebuilders' work queue.
pub const NATS_SERVER: SystemTool = ("nats-server", &["nats-server"]);

/// Ceph's RADOS gateway, monitor and OSD: the S3 tests (tests/it/s3_support.rs) run a throwaway
/// single-node cluster as a real S3-compatible server. One tool per daemon, so that a machine
/// with only some of them gets the rest; `radosgw-admin`, `ceph` and `monmaptool` come with
/// ceph-common.
pub const CEPH_MON: SystemTool = ("ceph-mon", &["ceph-mon"]);
pub const CEPH_OSD: SystemTool = ("ceph-osd", &["ceph-osd"]);
pub const RADOSGW: SystemTool = ("radosgw", &["radosgw", "ceph-common"]);

/// Installs the missing `tools` with apt-get when this is a root shell that has it, so that a
/// fresh machine needs nothing but Rust, Python 3 and git; elsewhere says what is missing and
/// leaves the refusal to whatever needs the tool.
pub fn install_system_tools(task: &str, tools: &[SystemTool]) -> Result<()> {
    let runs = |program: &str| Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> =
        tools.iter().filter(|(tool, _)| !runs(tool)).flat_map(|(_, packages)| packages.iter().copied()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !runs("apt-get") {
        eprintln!("xtask {task}: {} missing and cannot be installed here (needs root and apt-get)", missing.join(", "));
        return Ok(());
    }
    run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .with_context(|| format!("installing {}", missing.join(", ")))
}

/// Before a task that runs `glassbox build`, `check` or `rebuild`: bubblewrap, unless the
/// task's arguments turn the sandbox off.
pub fn sandbox_ready(task: &str, args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--no-sandbox") {
        return Ok(());
    }
    install_system_tools(task, &[BUBBLEWRAP])
}

/// Builds the glassbox binary (profile `release` or `dev`) and returns its path.
pub fn glassbox_binary(release: bool) -> Result<PathBuf> {
    let root = repo_root();
    let mut cmd = cargo();
    cmd.current_dir(&root).args(["build", "--locked", "--quiet", "--bin", "glassbox"]);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    Ok(dir.join(if release { "release" } else { "debug" }).join("glassbox"))
}
