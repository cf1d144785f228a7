//! Running cargo: `cargo vendor` into the staged tree (with the caller's cargo home and network),
//! then `cargo build --locked --offline` in the controlled environment and the sandbox,
//! collecting the workspace's artifacts from cargo's JSON messages.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_metadata::Message;

use super::workspace::{first_error_line, Workspace};
use crate::env::{BuildEnv, BuildRoot};
use crate::error::{Error, Result};
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
    pub path: PathBuf,
    /// `bin`, `cdylib`, `dylib` or `staticlib`.
    pub kind: String,
    pub package: String,
}

/// A finished cargo build.
#[derive(Clone, Debug)]
pub struct CargoBuild {
    /// The arguments after `cargo`, as run.
    pub args: Vec<String>,
    pub artifacts: Vec<Artifact>,
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

/// Runs `cargo <args>` in the controlled environment with the build's umask, as `view` says (in
/// the sandbox, or not), and returns the artifacts of workspace members (bin, cdylib, dylib,
/// staticlib) at their host paths. `args` and `env` use the paths the build sees.
pub fn build(
    toolchain: &Toolchain,
    view: &View,
    env: &BuildEnv,
    workspace: &Workspace,
    args: Vec<String>,
) -> Result<CargoBuild> {
    // The umask is set by a shell so that glassbox needs no unsafe code to set it in the child.
    let out = view
        .command(Path::new("/bin/sh"), &view.inside.src, &env.vars)
        .arg("-c")
        .arg(format!("umask {} && exec \"$0\" \"$@\"", env.umask))
        .arg(&toolchain.cargo)
        .args(&args)
        .output()
        .map_err(|e| Error::tool("cargo build", format!("cannot run {} ({e})", toolchain.cargo.display())))?;
    let mut artifacts = Vec::new();
    for message in Message::parse_stream(BufReader::new(out.stdout.as_slice())) {
        let Ok(Message::CompilerArtifact(art)) = message else { continue };
        if !workspace.is_member(&art.package_id) {
            continue;
        }
        for kind in &art.target.kind {
            let kind = kind.to_string();
            let files: Vec<PathBuf> = match kind.as_str() {
                "bin" => art.executable.iter().map(|p| p.clone().into_std_path_buf()).collect(),
                "cdylib" | "dylib" | "staticlib" => art
                    .filenames
                    .iter()
                    .map(|p| p.clone().into_std_path_buf())
                    .filter(|p| {
                        p.extension().is_some_and(|e| matches!(e.to_str(), Some("so" | "a" | "dylib" | "dll" | "lib")))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for path in files.iter().map(|p| view.host_path(p)) {
                let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                artifacts.push(Artifact { file_name, path, kind: kind.clone(), package: art.target.name.clone() });
            }
        }
    }
    if !out.status.success() {
        return Err(Error::tool("cargo build", first_error_line(&String::from_utf8_lossy(&out.stderr))));
    }
    artifacts.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    artifacts.dedup_by(|a, b| a.path == b.path);
    if artifacts.is_empty() {
        return Err(Error::invalid(
            view.host_path(&view.inside.src.join("Cargo.toml")).display(),
            "the build produced no bin, cdylib, dylib or staticlib artifact",
        ));
    }
    Ok(CargoBuild { args, artifacts })
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
