//! The sandbox the vendor's build code runs in: a build script cannot read the caller's home,
//! the signing key or any file outside the build root, cannot reach the network, and no
//! `.cargo/config.toml` above the build base is read; a missing bwrap is refused; `--no-sandbox`
//! works and is recorded; provenance without the sandbox field (the legacy layout) rebuilds.

use std::path::{Path, PathBuf};

use glassbox::attest::provenance::Provenance;
use glassbox::attest::vsa::VerificationSummary;
use glassbox::attest::{Envelope, Statement, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use glassbox::keys::PrivateKey;
use serde_json::json;

use crate::support::*;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// A workspace with one binary `name` (no dependencies) and optionally a build script.
fn workspace(dir: &Path, name: &str, build_rs: Option<&str>) {
    let manifest = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    let lock = format!("version = 4\n\n[[package]]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
    let main = if build_rs.is_some() {
        "fn main() {\n    println!(\"{}\", env!(\"SEEN\"));\n}\n"
    } else {
        "fn main() {\n    println!(\"hello\");\n}\n"
    };
    write_tree(dir, &[("Cargo.toml", &manifest), ("Cargo.lock", &lock), ("src/main.rs", main)]);
    if let Some(body) = build_rs {
        write_tree(dir, &[("build.rs", body)]);
    }
}

/// A test's directory with a workspace `<dir>/ws` (binary `name`) and a builder key pair.
struct Setup {
    dir: tempfile::TempDir,
    ws: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

fn setup(name: &str, build_rs: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    workspace(&ws, name, build_rs);
    let (key, public) = keypair(dir.path(), "builder");
    Setup { dir, ws, key, public }
}

/// `glassbox build` of `ws` into `<dir>/out` and `<dir>/att` with `extra` options.
fn build(ws: &Path, dir: &Path, key: &Path, extra: &[&str]) -> std::process::Output {
    output(build_command(ws, dir, key).args(extra))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn provenance_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("att/{name}/0.1.0/{TARGET}.provenance.intoto.jsonl"))
}

fn provenance(path: &Path) -> Statement<Provenance> {
    let text = std::fs::read_to_string(path).unwrap();
    Statement::from_envelope(&Envelope::parse_all(&text, "p").unwrap()[0], SLSA_PROVENANCE_V1, "p").unwrap()
}

/// The `sandbox` object of a provenance, as JSON.
fn recorded_sandbox(path: &Path) -> serde_json::Value {
    serde_json::to_value(&provenance(path).predicate.build_definition.internal_parameters.sandbox).unwrap()
}

/// The only verdict next to `provenance`, as JSON.
fn verdict(provenance: &Path) -> VerificationSummary {
    let dir = provenance.parent().unwrap();
    let file = verdict_files(dir).pop().expect("no verdict was written");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    Statement::from_envelope(&Envelope::parse_all(&text, "vsa").unwrap()[0], SLSA_VSA_V1, "vsa").unwrap().predicate
}

#[test]
fn d25_cargo_config_above_the_build_base_is_never_read() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    let Setup { dir, ws, key, .. } = setup("sandbox-d25", None);
    let t = dir.path();
    // Stands in for /tmp/.cargo/config.toml, which any local user can create.
    let pwned = t.join("PWNED");
    let wrapper = t.join("wrapper.sh");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"ran: $*\" >> {}\nexit 1\n", pwned.display())).unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&wrapper, executable).unwrap();
    write_tree(t, &[(".cargo/config.toml", &format!("[build]\nrustc-wrapper = \"{}\"\n", wrapper.display()))]);
    let base = t.join("build-base");
    let base_arg = base.display().to_string();

    let out = build(&ws, t, &key, &["--build-base", &base_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!pwned.exists(), "the rustc-wrapper of a .cargo/config.toml above the build base ran");
    let hello = ok(&mut std::process::Command::new(t.join("out").join(TARGET).join("sandbox-d25")));
    assert_eq!(hello.trim(), "hello");

    // Without the sandbox, the same configuration is refused, naming the directory.
    let out = build(&ws, &t.join("unconfined"), &key, &["--build-base", &base_arg, "--no-sandbox"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&t.join(".cargo").display().to_string()), "{}", stderr(&out));
    assert!(!pwned.exists());
}

/// The build script reports what it could reach; `main` prints the report.
const PROBING_BUILD_RS: &str = r#"
use std::fmt::Write as _;
fn main() {
    let mut seen = String::new();
    for (what, path) in [("home", "@HOME@"), ("key", "@KEY@"), ("outside", "@OUTSIDE@"), ("cargo-home", "@CARGO_HOME@")] {
        let readable = std::fs::read(path).is_ok() || std::fs::read_dir(path).is_ok();
        write!(seen, "{what}={readable} ").unwrap();
    }
    let tcp = std::net::TcpStream::connect(("127.0.0.1", @PORT@)).is_ok();
    write!(seen, "tcp={tcp}").unwrap();
    println!("cargo:rustc-env=SEEN={seen}");
}
"#;

#[test]
fn d_sandbox_a_build_script_cannot_reach_the_home_the_key_other_files_or_the_network() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let home = t.join("caller-home");
    let cargo_home = t.join("caller-cargo-home");
    write_tree(&home, &[("secret.txt", "the caller's secret")]);
    write_tree(&cargo_home, &[("credentials.toml", "token = \"x\"")]);
    write_tree(t, &[("outside.txt", "not part of the source")]);
    let (key, _) = keypair(t, "builder");
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = PROBING_BUILD_RS
        .replace("@HOME@", &home.join("secret.txt").display().to_string())
        .replace("@KEY@", &key.display().to_string())
        .replace("@OUTSIDE@", &t.join("outside.txt").display().to_string())
        .replace("@CARGO_HOME@", &cargo_home.join("credentials.toml").display().to_string())
        .replace("@PORT@", &port.to_string());
    let ws = t.join("ws");
    workspace(&ws, "sandbox-probe", Some(&script));

    let out = output(
        build_command(&ws, t, &key).env("HOME", &home).env("CARGO_HOME", &cargo_home).env("RUSTUP_HOME", rustup_home()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = ok(&mut std::process::Command::new(t.join("out").join(TARGET).join("sandbox-probe")));
    assert_eq!(seen.trim(), "home=false key=false outside=false cargo-home=false tcp=false");
    drop(listener);

    // The provenance says so, and what ${BUILD_ROOT} stood for inside the sandbox.
    let st = provenance(&provenance_file(t, "sandbox-probe"));
    let source = st.predicate.build_definition.external_parameters.source.digest["sha256"].clone();
    let sandbox = recorded_sandbox(&provenance_file(t, "sandbox-probe"));
    assert_eq!(sandbox["tool"], "bubblewrap");
    assert!(sandbox["version"].as_str().is_some_and(|v| !v.is_empty()), "{sandbox}");
    assert_eq!(sandbox["buildRoot"], format!("/tmp/glassbox/{}", &source[..16]));
}

#[test]
fn d_sandbox_a_missing_bwrap_is_refused_with_the_install_line() {
    let Setup { dir, ws, key, public } = setup("sandbox-missing", None);
    let t = dir.path();
    let empty = t.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let key_arg = key.display().to_string();
    let trust_arg = public.display().to_string();
    let manifest = ws.join("Cargo.toml").display().to_string();
    let provenance = t.join("none.provenance.intoto.jsonl").display().to_string();
    let missing = t.join("no-bwrap-here").display().to_string();
    for args in [
        vec!["build", "--manifest-path", &manifest, "--key", &key_arg],
        vec!["check", "--manifest-path", &manifest],
        vec!["rebuild", &provenance, "--source", &manifest, "--trust", &trust_arg],
    ] {
        // No bwrap on PATH (nor anything else).
        let out = output(glassbox().args(&args).env("PATH", &empty));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("apt-get install bubblewrap"), "{args:?}: {}", stderr(&out));
        // An explicit --bwrap that does not exist.
        let out = output(glassbox().args(&args).args(["--bwrap", &missing]));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("apt-get install bubblewrap"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn d_sandbox_no_sandbox_is_recorded_and_legacy_provenance_rebuilds_in_the_sandbox() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    let Setup { dir, ws, key, public } = setup("sandbox-none", None);
    let t = dir.path();
    let (reviewer, _) = keypair(t, "reviewer");
    let reviewer_arg = reviewer.display().to_string();

    // At the default build base, outside the sandbox: the layout glassbox 0.1.0 built in.
    let out = build(&ws, t, &key, &["--no-sandbox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let prov = provenance_file(t, "sandbox-none");
    assert_eq!(recorded_sandbox(&prov), json!({"tool": "none"}));
    let source = t.join("out/sandbox-none-0.1.0-src.tar.gz");

    // Rebuilt in the sandbox: the same bytes, and the verdict records the sandbox.
    let out = output(reviewer_rebuild(t, &prov, &source, &public).args(["--key", &reviewer_arg, "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["notes"].to_string().contains("--no-sandbox"), "{report}");
    let vsa = verdict(&prov);
    assert_eq!(vsa.verification_result, "PASSED");
    let sandbox = serde_json::to_value(&vsa.reproduction.sandbox).unwrap();
    assert_eq!(sandbox["tool"], "bubblewrap", "{sandbox}");
    assert!(sandbox["buildRoot"].as_str().is_some_and(|r| r.starts_with("/tmp/glassbox/")), "{sandbox}");

    // Rebuilt with --no-sandbox: recorded as such.
    let out = output(reviewer_rebuild(t, &prov, &source, &public).args(["--key", &reviewer_arg, "--no-sandbox"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(serde_json::to_value(&verdict(&prov).reproduction.sandbox).unwrap(), json!({"tool": "none"}));

    // Provenance written before glassbox recorded the sandbox (no field) rebuilds in it.
    let mut legacy = provenance(&prov);
    legacy.predicate.build_definition.internal_parameters.sandbox = None;
    let legacy_file = t.join("legacy").join(format!("{TARGET}.provenance.intoto.jsonl"));
    std::fs::create_dir_all(legacy_file.parent().unwrap()).unwrap();
    let line = legacy.sign(&PrivateKey::read(&key).unwrap()).to_line();
    assert!(!line.is_empty() && !serde_json::to_string(&legacy).unwrap().contains("\"sandbox\""));
    std::fs::write(&legacy_file, format!("{line}\n")).unwrap();
    let out = output(reviewer_rebuild(t, &legacy_file, &source, &public).args(["--key", &reviewer_arg]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(verdict(&legacy_file).verification_result, "PASSED");
}
