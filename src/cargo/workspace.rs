//! The workspace being built: its component name and version (what bundles and attestation
//! directories are named after) and its members, from `cargo metadata --no-deps`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand};

use crate::error::{Error, Result};

/// The name and version a build publishes under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub origin: ComponentOrigin,
}

/// Where the component's name and version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentOrigin {
    /// `[workspace.metadata.glassbox] name = …, version = …` (takes precedence: it is explicit).
    WorkspaceMetadata,
    /// The workspace's root package.
    RootPackage,
    /// The workspace directory's name, version `0.0.0`.
    DirectoryName,
}

/// A loaded workspace.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub component: Component,
    /// Member package names.
    pub members: Vec<String>,
    metadata: Metadata,
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` on `manifest_path` with `cargo` in the environment `env`.
    pub fn load(cargo: &Path, manifest_path: &Path, env: &BTreeMap<String, String>) -> Result<Workspace> {
        let mut command = std::process::Command::new(cargo);
        command.env_clear().envs(env).args(metadata_args(manifest_path));
        Workspace::load_with(command, manifest_path)
    }

    /// Runs `command`, a `cargo` (possibly in a sandbox) given [`metadata_args`], and reads the
    /// workspace it prints. `manifest_path` names the workspace in errors.
    pub fn load_with(mut command: std::process::Command, manifest_path: &Path) -> Result<Workspace> {
        let cargo = PathBuf::from(command.get_program());
        let out = command
            .output()
            .map_err(|e| Error::tool("cargo metadata", format!("cannot run {} ({e})", cargo.display())))?;
        if !out.status.success() {
            return Err(Error::tool(
                "cargo metadata",
                format!("{}: {}", manifest_path.display(), first_error_line(&String::from_utf8_lossy(&out.stderr))),
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let metadata = MetadataCommand::parse(stdout.as_ref())
            .map_err(|e| Error::tool("cargo metadata", format!("unreadable output ({e})")))?;
        let root = metadata.workspace_root.clone().into_std_path_buf();
        let component = component_of(&metadata, &root)?;
        let members = metadata.workspace_packages().iter().map(|p| p.name.to_string()).collect();
        Ok(Workspace { root, component, members, metadata })
    }

    /// True when `id` (a cargo package id from a build message) is a member of this workspace.
    pub fn is_member(&self, id: &cargo_metadata::PackageId) -> bool {
        self.metadata.workspace_members.contains(id)
    }

    /// True when the member `id` has a target `name` of `kind` (`bin`, `cdylib`, ...), as its
    /// manifest says: a build message about any other target did not come from cargo.
    pub fn has_target(&self, id: &cargo_metadata::PackageId, name: &str, kind: &str) -> bool {
        self.metadata
            .packages
            .iter()
            .filter(|p| &p.id == id)
            .any(|p| p.targets.iter().any(|t| t.name == name && t.kind.iter().any(|k| k.to_string() == kind)))
    }
}

impl Workspace {
    /// Refuses, before anything is built, a selection that cannot give glassbox an artifact to
    /// publish: a package named with `--package` that has no bin, cdylib, dylib or staticlib
    /// target, or (with no `--package`) a selection of which no package has one. The message
    /// names the targets the package does have, from its manifest.
    pub fn check_artifact_targets(&self, packages: &[String]) -> Result<()> {
        let members = self.metadata.workspace_packages();
        let publishable = |p: &cargo_metadata::Package| {
            p.targets.iter().any(|t| t.kind.iter().any(|k| ARTIFACT_KINDS.contains(&k.to_string().as_str())))
        };
        let described = |p: &cargo_metadata::Package| {
            let targets: Vec<String> = p
                .targets
                .iter()
                .filter(|t| !t.kind.iter().any(|k| matches!(k.to_string().as_str(), "custom-build")))
                .map(|t| {
                    let kinds: Vec<String> = t.kind.iter().map(|k| k.to_string()).collect();
                    format!("{} {:?}", kinds.join("+"), t.name)
                })
                .collect();
            if targets.is_empty() {
                "none".to_string()
            } else {
                targets.join(", ")
            }
        };
        let manifest = |p: &cargo_metadata::Package| p.manifest_path.to_string();
        for name in packages {
            // A name that is no member is cargo's to refuse, in its own words.
            if let Some(p) = members.iter().find(|p| p.name.as_str() == name.as_str()) {
                if !publishable(p) {
                    return Err(Error::invalid(
                        manifest(p),
                        format!(
                            "package {name:?} has no bin, cdylib, dylib or staticlib target, so a build would publish nothing (its targets: {}); choose another --package, or add a [[bin]] or a [lib] crate-type = [\"cdylib\"]",
                            described(p)
                        ),
                    ));
                }
            }
        }
        if packages.is_empty() {
            let selected = if self.metadata.workspace_default_members.is_available() {
                self.metadata.workspace_default_packages()
            } else {
                members.clone()
            };
            if !selected.is_empty() && !selected.iter().any(|p| publishable(p)) {
                let list: Vec<String> = selected.iter().map(|p| format!("{} ({})", p.name, described(p))).collect();
                return Err(Error::invalid(
                    self.root.join("Cargo.toml").display(),
                    format!(
                        "no package the build selects has a bin, cdylib, dylib or staticlib target, so a build would publish nothing: {}; pass --package for a member that has one",
                        list.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The target kinds whose artifacts a build publishes.
pub const ARTIFACT_KINDS: [&str; 4] = ["bin", "cdylib", "dylib", "staticlib"];

/// The arguments after `cargo` that [`Workspace::load_with`] expects.
pub fn metadata_args(manifest_path: &Path) -> Vec<std::ffi::OsString> {
    let mut cmd = MetadataCommand::new();
    // The program is the caller's; naming one keeps cargo_metadata from reading `$CARGO`.
    cmd.cargo_path("cargo").manifest_path(manifest_path).no_deps();
    cmd.cargo_command().get_args().map(std::ffi::OsStr::to_os_string).collect()
}

fn component_of(metadata: &Metadata, root: &Path) -> Result<Component> {
    let glassbox = &metadata.workspace_metadata["glassbox"];
    if !glassbox.is_null() {
        let field = |key: &str| {
            glassbox[key].as_str().map(str::to_string).ok_or_else(|| {
                Error::invalid(
                    root.join("Cargo.toml").display(),
                    format!("[workspace.metadata.glassbox] needs a string `{key}`"),
                )
            })
        };
        return Ok(Component {
            name: field("name")?,
            version: field("version")?,
            origin: ComponentOrigin::WorkspaceMetadata,
        });
    }
    if let Some(pkg) = metadata.root_package() {
        return Ok(Component {
            name: pkg.name.to_string(),
            version: pkg.version.to_string(),
            origin: ComponentOrigin::RootPackage,
        });
    }
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "workspace".into());
    Ok(Component { name, version: "0.0.0".into(), origin: ComponentOrigin::DirectoryName })
}

/// One line summing up cargo's stderr: the first `error…` line, with the source location of a
/// compiler error and the innermost `Caused by:` of a cargo error.
pub fn first_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("error")) else {
        return lines.iter().rev().find(|l| !l.is_empty()).map_or("no error output".into(), |l| l.to_string());
    };
    let mut summary = lines[start].to_string();
    if let Some(location) = lines.get(start + 1).and_then(|l| l.strip_prefix("-->")) {
        summary.push_str(&format!(" ({})", location.trim()));
    }
    if let Some(caused) = lines.iter().rposition(|l| *l == "Caused by:") {
        if let Some(cause) = lines[caused + 1..].iter().find(|l| !l.is_empty()) {
            summary.push_str(": ");
            summary.push_str(cause);
        }
    }
    summary
}

/// The most lines of cargo's output a failed build's error quotes.
pub const FAILURE_LINES: usize = 60;

/// What a failed `cargo build` says, for its error: the one-line summary of
/// [`first_error_line`], then cargo's own account from the first `error` line on (the
/// compiler's diagnostics, the `Caused by:` chain, the build script's `--- stdout` and
/// `--- stderr` that cargo quotes), without cargo's `Compiling …` status lines, at most
/// [`FAILURE_LINES`] lines (the first and the last half when there are more), each with
/// control characters escaped: the text comes from the vendor's build code.
pub fn failure_report(stderr: &str) -> String {
    let summary = first_error_line(stderr);
    let lines: Vec<&str> = stderr.lines().map(str::trim_end).collect();
    let start = lines.iter().position(|l| l.starts_with("error")).unwrap_or(0);
    let quoted: Vec<&str> = lines[start..].iter().copied().filter(|l| !is_status_line(l)).collect();
    let quoted: Vec<&str> = {
        let mut q = quoted;
        while q.last().is_some_and(|l| l.is_empty()) {
            q.pop();
        }
        q
    };
    if quoted.is_empty() {
        return summary;
    }
    let mut out = format!(
        "{summary}
cargo's output:"
    );
    let half = FAILURE_LINES / 2;
    let mut push = |l: &str| {
        out.push_str(
            "
  ",
        );
        out.push_str(&crate::text::escape(l));
    };
    if quoted.len() <= FAILURE_LINES {
        quoted.iter().for_each(|l| push(l));
    } else {
        quoted[..half].iter().for_each(|l| push(l));
        push(&format!("[… {} lines left out …]", quoted.len() - 2 * half));
        quoted[quoted.len() - half..].iter().for_each(|l| push(l));
    }
    out
}

/// cargo's right-aligned progress lines (`   Compiling serde v1.0.0`), which interleave with
/// the errors of a parallel build.
fn is_status_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    line.len() > trimmed.len()
        && ["Compiling ", "Checking ", "Downloaded ", "Downloading ", "Fresh ", "Building ", "Running "]
            .iter()
            .any(|s| trimmed.starts_with(s))
}

/// A component name or version must be usable as one path component and a file-name part.
pub fn check_component_part(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        && !value.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("{what} {value:?}"), "use letters, digits, '.', '_', '+' and '-' only"))
    }
}

#[cfg(test)]
mod tests {
    use super::{failure_report, first_error_line, FAILURE_LINES};

    #[test]
    fn a_failed_build_quotes_cargos_account_with_the_build_scripts_output() {
        let stderr = "   Compiling cc v1.0.0\n   Compiling x v0.1.0 (/b/src)\n\
                      error: failed to run custom build command for `x v0.1.0 (/b/src)`\n\n\
                      Caused by:\n  process didn't exit successfully: `/b/src/target/release/build/x-1/build-script-build` (exit status: 101)\n\
                      \x20 --- stdout\n  cargo:warning=looking for libfoo\n  --- stderr\n\
                      \x20 thread 'main' panicked at build.rs:3:5:\n  libfoo not found\x1b[0m\n   Compiling y v1.0.0\n";
        let report = failure_report(stderr);
        let lines: Vec<&str> = report.lines().collect();
        assert!(lines[0].starts_with("error: failed to run custom build command for `x"), "{report}");
        assert_eq!(lines[1], "cargo's output:");
        for expected in
            ["--- stderr", "libfoo not found\\x1b[0m", "cargo:warning=looking for libfoo", "exit status: 101"]
        {
            assert!(report.contains(expected), "{expected} missing from {report}");
        }
        assert!(!report.contains("Compiling"), "{report}");
        let flood: String = (0..1000).map(|i| format!("error: line {i}\n")).collect();
        let report = failure_report(&flood);
        assert_eq!(report.lines().count(), 2 + FAILURE_LINES + 1);
        assert!(
            report.contains("error: line 0\n")
                && report.contains("error: line 999")
                && report.contains("lines left out")
        );
        assert_eq!(failure_report(""), "no error output");
    }

    #[test]
    fn summarises_cargo_and_rustc_errors() {
        let cargo = "error: failed to sync\n\nCaused by:\n  failed to load lockfile\n\nCaused by:\n  cannot update the lock file /x/Cargo.lock because --locked was passed\n  help: remove --locked\n";
        assert_eq!(
            first_error_line(cargo),
            "error: failed to sync: cannot update the lock file /x/Cargo.lock because --locked was passed"
        );
        let rustc = "   Compiling x v0.1.0\nerror[E0308]: mismatched types\n --> src/main.rs:1:26\n  |\n";
        assert_eq!(first_error_line(rustc), "error[E0308]: mismatched types (src/main.rs:1:26)");
        assert_eq!(first_error_line("warning: x\nlast\n"), "last");
    }

    mod properties {
        use super::first_error_line;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            /// cargo's stderr carries the vendor's build script output: any text gives one
            /// line, never a panic.
            #[test]
            fn any_stderr_is_summarised_in_one_line(text in "(error|Caused by:|-->|\\PC{0,40}|\n){0,30}") {
                prop_assert!(!first_error_line(&text).contains('\n'));
            }
        }
    }
}
