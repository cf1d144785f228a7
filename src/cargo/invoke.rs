//! Running cargo: `cargo vendor` into the staged tree (with the caller's cargo home and network),
//! then `cargo build --locked --offline` in the controlled environment and the sandbox,
//! collecting the workspace's artifacts from cargo's JSON messages.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::Message;

use super::workspace::{failure_report, first_error_line, Workspace};
use crate::env::{BuildEnv, BuildRoot};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::sandbox::View;
use crate::toolchain::Toolchain;

/// The `--config` flags that point cargo at the vendored sources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VendorConfig {
    pub config_args: Vec<String>,
}

/// Vendors every dependency of the staged workspace into `.glassbox/vendor`. Runs with the
/// caller's environment `host_env` (their cargo home and registry access): this is the only
/// step that may use the network. It runs no vendor code, outside the sandbox, in `/`: cargo
/// reads `.cargo/config.toml` in every ancestor of its working directory, and neither a
/// shared `/tmp` nor the vendor's staged tree may configure it (only the caller's cargo home).
pub fn vendor(
    toolchain: &Toolchain,
    root: &BuildRoot,
    manifest_rel: &str,
    host_env: &BTreeMap<String, String>,
) -> Result<VendorConfig> {
    let out = Command::new(&toolchain.cargo)
        .args(["vendor", "--locked", "--versioned-dirs", "--manifest-path"])
        .arg(root.src.join(manifest_rel))
        .arg(root.vendor_dir())
        .current_dir("/")
        .env_clear()
        .envs(host_env)
        .output()
        .map_err(|e| Error::tool("cargo vendor", format!("cannot run {} ({e})", toolchain.cargo.display())))?;
    if !out.status.success() {
        return Err(Error::tool("cargo vendor", first_error_line(&String::from_utf8_lossy(&out.stderr))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    vendor_config_args(&text, &root.vendor_dir())
}

/// Turns the TOML that `cargo vendor` prints into `--config` flags (never touching the
/// project's own `.cargo/config.toml`), with the directory pointing at `vendor_dir`.
pub fn vendor_config_args(printed: &str, vendor_dir: &Path) -> Result<VendorConfig> {
    let doc: toml::Table = toml::from_str(printed)
        .map_err(|e| Error::tool("cargo vendor", format!("unreadable output ({})", e.message())))?;
    let mut config_args = Vec::new();
    let Some(sources) = doc.get("source").and_then(|s| s.as_table()) else {
        return Ok(VendorConfig::default()); // nothing to vendor: no external dependencies
    };
    for (name, table) in sources {
        let Some(table) = table.as_table() else { continue };
        for (key, value) in table {
            let value =
                if key == "directory" { toml::Value::String(vendor_dir.display().to_string()) } else { value.clone() };
            config_args.push("--config".to_string());
            config_args.push(format!("source.{}.{key}={value}", toml_key(name)));
        }
    }
    Ok(VendorConfig { config_args })
}

/// A TOML quoted key (a basic string: `toml`'s own formatting may choose a multi-line string,
/// which a key cannot be).
fn toml_key(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildParams {
    pub manifest_rel: String,
    pub packages: Vec<String>,
    pub profile: String,
    pub target: String,
    pub features: Vec<String>,
}

/// One artifact cargo produced for a workspace member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// File name, e.g. `avscan`.
    pub file_name: String,
    /// Where it is: in the build root, or (once copied out) glassbox's private copy.
    pub path: PathBuf,
    /// Its path relative to the build root, as cargo's layout places it.
    pub rel_path: PathBuf,
    /// `bin`, `cdylib`, `dylib` or `staticlib`.
    pub kind: String,
    pub package: String,
}

/// Where cargo puts a workspace's final artifacts: `<target-dir>/<triple>/<profile dir>/`, file
/// names made from the target's name. A path in a build message is believed only when it is
/// exactly that: anything printed on cargo's stdout may come from the vendor's proc macros.
#[derive(Clone, Debug)]
pub struct ArtifactLayout {
    /// The build root as the build sees it.
    root: PathBuf,
    /// `<target-dir>/<triple>/<profile dir>` as the build sees it.
    dir: PathBuf,
}

impl ArtifactLayout {
    pub fn of(inside: &BuildRoot, params: &BuildParams) -> ArtifactLayout {
        // cargo's names for the built-in profiles' directories; a custom profile's is its name.
        let profile_dir = match params.profile.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        };
        ArtifactLayout { root: inside.root.clone(), dir: inside.target_dir.join(&params.target).join(profile_dir) }
    }

    /// The path relative to the build root of the artifact `path` (as the build reported it)
    /// of a `kind` target named `name`, if it is where cargo puts that artifact.
    fn place(&self, path: &Path, kind: &str, name: &str) -> Option<PathBuf> {
        if path.parent() != Some(self.dir.as_path()) {
            return None;
        }
        let file = path.file_name()?.to_str()?;
        let krate = name.replace('-', "_");
        let expected: Vec<String> = match kind {
            "bin" => vec![name.to_string(), format!("{name}.exe"), format!("{name}.wasm")],
            "cdylib" | "dylib" => {
                vec![format!("lib{krate}.so"), format!("lib{krate}.dylib"), format!("{krate}.dll")]
            }
            "staticlib" => vec![format!("lib{krate}.a"), format!("{krate}.lib")],
            _ => Vec::new(),
        };
        if !expected.iter().any(|e| e == file) {
            return None;
        }
        path.strip_prefix(&self.root).ok().map(Path::to_path_buf)
    }
}

/// A finished cargo build.
#[derive(Clone, Debug)]
pub struct CargoBuild {
    /// The arguments after `cargo`, as run.
    pub args: Vec<String>,
    pub artifacts: Vec<Artifact>,
    /// What cargo printed on stderr (the compiler's and build scripts' messages), its first
    /// [`output_limits::STDERR_KEPT`] bytes: the build log a rebuild keeps beside its verdict.
    pub log: Vec<u8>,
}

/// The arguments of `cargo build` for `params` in `root`.
pub fn build_args(root: &BuildRoot, params: &BuildParams, vendor: &VendorConfig) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "build".into(),
        "--locked".into(),
        "--offline".into(),
        "--message-format=json-render-diagnostics".into(),
        "--manifest-path".into(),
        root.src.join(&params.manifest_rel).display().to_string(),
        "--target-dir".into(),
        root.target_dir.display().to_string(),
        "--target".into(),
        params.target.clone(),
        "--profile".into(),
        params.profile.clone(),
    ];
    for p in &params.packages {
        args.extend(["--package".to_string(), p.clone()]);
    }
    if !params.features.is_empty() {
        args.extend(["--features".to_string(), params.features.join(",")]);
    }
    args.extend(vendor.config_args.iter().cloned());
    args
}

/// Bounds on what glassbox reads of cargo's output: the vendor's proc macros and build scripts
/// can print anything there.
pub mod output_limits {
    /// The longest line of cargo's stdout (one JSON message) or stderr.
    pub const LINE_BYTES: usize = 1 << 20;
    /// The most lines of each stream.
    pub const LINES: u64 = 1_000_000;
    /// How much of stderr is kept for the error message.
    pub const STDERR_KEPT: usize = 256 << 10;
}

/// Runs `cargo <args>` in the controlled environment with the build's umask, as `view` says (in
/// the sandbox, or not), and returns the artifacts of workspace members (bin, cdylib, dylib,
/// staticlib) with their paths relative to the build root. `args` and `env` use the paths the
/// build sees. A build message naming an artifact anywhere but where `layout` puts it, or for
/// a target no member has, fails the build (exit 1, naming the message): cargo forwards what
/// proc macros print.
pub fn build(
    toolchain: &Toolchain,
    view: &View,
    env: &BuildEnv,
    workspace: &Workspace,
    layout: &ArtifactLayout,
    args: Vec<String>,
    progress: &dyn Progress,
) -> Result<CargoBuild> {
    // The umask is set by a shell so that glassbox needs no unsafe code to set it in the child.
    let mut command = view.command_on(Path::new("/bin/sh"), &view.inside.src, &env.vars, env.hostname.as_deref());
    command
        .arg("-c")
        .arg(format!("umask {} && exec \"$0\" \"$@\"", env.umask))
        .arg(&toolchain.cargo)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_on_cpus(&mut command, env.cpus)
        .map_err(|e| Error::tool("cargo build", format!("cannot run {} ({e})", toolchain.cargo.display())))?;
    let stderr = child.stderr.take().map(|s| std::thread::spawn(move || read_stderr(s)));
    let stdout = child.stdout.take();
    let read = stdout.map_or(Ok(Vec::new()), |out| artifacts_of(out, workspace, layout, progress));
    if read.is_err() {
        // Stop the build: what it prints can no longer be believed.
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| Error::tool("cargo build", format!("cannot wait for cargo ({e})")))?;
    let log = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let mut artifacts = read?;
    if !status.success() {
        return Err(Error::tool("cargo build", failure_report(&String::from_utf8_lossy(&log))));
    }
    artifacts.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    artifacts.dedup_by(|a, b| a.rel_path == b.rel_path);
    if artifacts.is_empty() {
        return Err(Error::invalid(
            view.host_path(&view.inside.src.join("Cargo.toml")).display(),
            "the build produced no bin, cdylib, dylib or staticlib artifact",
        ));
    }
    Ok(CargoBuild { args, artifacts, log })
}

/// Spawns `command`, on only the first `cpus` of glassbox's CPUs when given: from a thread of
/// its own whose affinity is narrowed first, since a child inherits its parent thread's
/// affinity (and with it what `nproc` and `available_parallelism` say).
fn spawn_on_cpus(command: &mut Command, cpus: Option<usize>) -> std::io::Result<std::process::Child> {
    let Some(cpus) = cpus else { return command.spawn() };
    std::thread::scope(|scope| {
        let spawner = scope.spawn(|| {
            use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
            let mine = sched_getaffinity(None)?;
            let mut narrowed = CpuSet::new();
            for cpu in (0..CpuSet::MAX_CPU).filter(|c| mine.is_set(*c)).take(cpus.max(1)) {
                narrowed.set(cpu);
            }
            sched_setaffinity(None, &narrowed)?;
            command.spawn()
        });
        spawner.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Reads cargo's JSON messages, within [`output_limits`], and collects the workspace members'
/// artifacts, each checked against `layout`.
/// Each crate compiled (a compiler-artifact message that is not a build script's) is reported
/// to `progress`: one unit and a status naming it.
fn artifacts_of(
    stdout: impl Read,
    workspace: &Workspace,
    layout: &ArtifactLayout,
    progress: &dyn Progress,
) -> Result<Vec<Artifact>> {
    let mut artifacts = Vec::new();
    let mut compiled = 0u64;
    let mut lines = BoundedLines::new(BufReader::new(stdout), "cargo build's output");
    while let Some(line) = lines.next_line()? {
        let Ok(Message::CompilerArtifact(art)) = serde_json::from_slice::<Message>(&line) else { continue };
        if !art.target.kind.iter().any(|k| k.to_string() == "custom-build") {
            compiled += 1;
            progress.advance(1);
            // The name is the vendor's to choose: escaped, and cut to a display's width.
            let name: String = crate::text::escape(&art.target.name).chars().take(40).collect();
            progress.status(&format!("{compiled} crate{} compiled, last {name}", if compiled == 1 { "" } else { "s" }));
        }
        if !workspace.is_member(&art.package_id) {
            continue;
        }
        let forged = |path: &Path, why: &str| {
            Error::rejected(
                format!("cargo build message for {} {}", art.package_id, path.display()),
                format!("{why}; the message may have been printed by the vendor's build code, so the build is refused"),
            )
        };
        for kind in &art.target.kind {
            let kind = kind.to_string();
            let files: Vec<&Path> = match kind.as_str() {
                "bin" => art.executable.iter().map(|p| p.as_std_path()).collect(),
                "cdylib" | "dylib" | "staticlib" => art
                    .filenames
                    .iter()
                    .map(|p| p.as_std_path())
                    .filter(|p| {
                        p.extension().is_some_and(|e| matches!(e.to_str(), Some("so" | "a" | "dylib" | "dll" | "lib")))
                    })
                    .collect(),
                _ => continue,
            };
            if !workspace.has_target(&art.package_id, &art.target.name, &kind) {
                let path = files.first().copied().unwrap_or(Path::new(""));
                return Err(forged(
                    path,
                    &format!("names a {kind} target {:?} that the member does not have", art.target.name),
                ));
            }
            for path in files {
                let Some(rel_path) = layout.place(path, &kind, &art.target.name) else {
                    return Err(forged(path, "names a file that is not where cargo puts this artifact"));
                };
                let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                artifacts.push(Artifact {
                    file_name,
                    path: path.to_path_buf(),
                    rel_path,
                    kind: kind.clone(),
                    package: art.target.name.clone(),
                });
            }
        }
    }
    Ok(artifacts)
}

/// Keeps the first [`output_limits::STDERR_KEPT`] bytes of cargo's stderr and drains the rest,
/// so cargo never blocks on a full pipe and a flood costs no memory; says where it was cut.
fn read_stderr(stderr: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut reader = BufReader::new(stderr);
    let mut buf = [0u8; 64 << 10];
    let mut cut = false;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = output_limits::STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    if cut {
        kept.extend_from_slice(
            format!("\n[glassbox: cut here, after {} bytes]\n", output_limits::STDERR_KEPT).as_bytes(),
        );
    }
    kept
}

/// Lines of a stream, each at most [`output_limits::LINE_BYTES`] long and at most
/// [`output_limits::LINES`] of them: more is an error naming `what`, never unbounded memory.
struct BoundedLines<R> {
    reader: R,
    what: &'static str,
    count: u64,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R, what: &'static str) -> Self {
        BoundedLines { reader, what, count: 0 }
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let limit = output_limits::LINE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::tool("cargo build", format!("reading {} ({e})", self.what)))?;
        if n == 0 {
            return Ok(None);
        }
        if line.len() > output_limits::LINE_BYTES {
            return Err(Error::rejected(
                self.what,
                format!("a line longer than {} bytes (printed by the vendor's build code?)", output_limits::LINE_BYTES),
            ));
        }
        self.count += 1;
        if self.count > output_limits::LINES {
            return Err(Error::rejected(self.what, format!("more than {} lines", output_limits::LINES)));
        }
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_output_becomes_config_flags() {
        let printed = "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
                       [source.\"git+https://x/y?rev=1\"]\ngit = \"https://x/y\"\nrev = \"1\"\nreplace-with = \"vendored-sources\"\n\n\
                       [source.vendored-sources]\ndirectory = \"/elsewhere\"\n";
        let cfg = vendor_config_args(printed, Path::new("/b/src/.glassbox/vendor")).unwrap();
        assert_eq!(
            cfg.config_args.iter().skip(1).step_by(2).collect::<Vec<_>>(),
            [
                "source.\"crates-io\".replace-with=\"vendored-sources\"",
                "source.\"git+https://x/y?rev=1\".git=\"https://x/y\"",
                "source.\"git+https://x/y?rev=1\".replace-with=\"vendored-sources\"",
                "source.\"git+https://x/y?rev=1\".rev=\"1\"",
                "source.\"vendored-sources\".directory=\"/b/src/.glassbox/vendor\"",
            ]
        );
        assert!(vendor_config_args("", Path::new("/v")).unwrap().config_args.is_empty());
    }

    #[test]
    fn only_paths_where_cargo_puts_the_artifact_are_believed() {
        let inside = BuildRoot::at(PathBuf::from("/tmp/glassbox/0123456789abcdef"));
        let params = BuildParams {
            manifest_rel: "Cargo.toml".into(),
            packages: Vec::new(),
            profile: "release".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            features: Vec::new(),
        };
        let layout = ArtifactLayout::of(&inside, &params);
        let dir = "/tmp/glassbox/0123456789abcdef/src/target/x86_64-unknown-linux-gnu/release";
        let place = |path: &str, kind: &str, name: &str| layout.place(Path::new(path), kind, name);
        assert_eq!(
            place(&format!("{dir}/av-scan"), "bin", "av-scan"),
            Some(PathBuf::from("src/target/x86_64-unknown-linux-gnu/release/av-scan"))
        );
        assert!(place(&format!("{dir}/libav_scan.so"), "cdylib", "av-scan").is_some());
        assert!(place(&format!("{dir}/libav_scan.a"), "staticlib", "av-scan").is_some());
        for (path, kind) in [
            ("/proc/self/environ".to_string(), "bin"),
            ("/dev/zero".to_string(), "bin"),
            (format!("{dir}/other"), "bin"),
            (format!("{dir}/deps/av-scan"), "bin"),
            (format!("{dir}/../release/av-scan"), "bin"),
            (format!("{dir}/av-scan"), "staticlib"),
            ("/tmp/glassbox/0123456789abcdef/src/Cargo.toml".to_string(), "bin"),
        ] {
            assert_eq!(place(&path, kind, "av-scan"), None, "{path}");
        }
        let dev = ArtifactLayout::of(&inside, &BuildParams { profile: "dev".into(), ..params });
        assert!(dev.place(Path::new(&dir.replace("release", "debug")).join("x").as_path(), "bin", "x").is_some());
    }

    #[test]
    fn cargo_output_is_read_within_bounds() {
        let long = vec![b'x'; output_limits::LINE_BYTES + 1];
        let mut lines = BoundedLines::new(std::io::Cursor::new(long), "out");
        assert_eq!(lines.next_line().unwrap_err().exit_code(), 1);
        let mut lines = BoundedLines::new(std::io::Cursor::new(b"a\nb".to_vec()), "out");
        assert_eq!(lines.next_line().unwrap().unwrap(), b"a\n");
        assert_eq!(lines.next_line().unwrap().unwrap(), b"b");
        assert!(lines.next_line().unwrap().is_none());
        let kept = read_stderr(std::io::repeat(b'e').take(4 * output_limits::STDERR_KEPT as u64));
        assert!(kept.starts_with(&[b'e'; output_limits::STDERR_KEPT]));
        assert!(String::from_utf8_lossy(&kept[output_limits::STDERR_KEPT..]).contains("[glassbox: cut here"));
        assert_eq!(read_stderr(&b"short"[..]), b"short");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            /// `cargo vendor`'s output names sources from the vendor's lockfile: any text is
            /// an answer or an error, never a panic.
            #[test]
            fn any_printed_text_is_handled(text in "\\PC{0,300}") {
                let _ = vendor_config_args(&text, Path::new("/v"));
            }

            /// Every flag is a TOML `key=value` that reads back as the printed table's entry.
            #[test]
            fn flags_read_back_as_the_printed_tables(name in "[ -~]{1,24}", value in "[ -~]{0,24}") {
                let printed = format!("[source.{}]\nreplace-with = {}\n", toml_key(&name), toml::Value::String(value.clone()));
                let cfg = vendor_config_args(&printed, Path::new("/v")).unwrap();
                prop_assert_eq!(cfg.config_args.len(), 2);
                prop_assert_eq!(cfg.config_args[0].as_str(), "--config");
                let parsed: toml::Table = toml::from_str(&cfg.config_args[1]).unwrap();
                prop_assert_eq!(parsed["source"][&name]["replace-with"].as_str(), Some(value.as_str()));
            }
        }
    }
}
