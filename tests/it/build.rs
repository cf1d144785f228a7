//! `glassbox build`: two builds of examples/avscan from different clones and environments give
//! identical bytes, and everything they publish checks out with standard tools.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use glassbox::attest::provenance::Provenance;
use glassbox::attest::{dsse, Envelope, Statement, SLSA_PROVENANCE_V1};

use crate::support::*;

const TARGET: &str = "x86_64-unknown-linux-gnu";
const BUNDLE: &str = "avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz";
const SRC_BUNDLE: &str = "avscan-0.1.0-src.tar.gz";

fn provenance_path(b: &AvscanBuild) -> std::path::PathBuf {
    b.attestations.join(format!("avscan/0.1.0/{TARGET}.provenance.intoto.jsonl"))
}

fn envelope(b: &AvscanBuild) -> Envelope {
    let text = std::fs::read_to_string(provenance_path(b)).unwrap();
    let mut all = Envelope::parse_all(&text, "provenance").unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn statement(b: &AvscanBuild) -> Statement<Provenance> {
    Statement::from_envelope(&envelope(b), SLSA_PROVENANCE_V1, "provenance").unwrap()
}

#[test]
fn two_clones_in_different_environments_build_identical_bytes() {
    let pair = avscan_pair();
    let (a, b) = (read_all(&pair.a.out), read_all(&pair.b.out));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [SRC_BUNDLE, BUNDLE, &format!("{TARGET}/avscan")]);
    assert_eq!(a, b, "artifacts and bundles differ between the two builds");
    assert_eq!(statement(&pair.a).subject, statement(&pair.b).subject);
    assert_eq!(
        std::fs::read(pair.a.attestations.join("avscan/0.1.0/sources.sha256")).unwrap(),
        std::fs::read(pair.b.attestations.join("avscan/0.1.0/sources.sha256")).unwrap()
    );
    // The built scanner really works: it finds EICAR (assembled here, never stored whole).
    let eicar = format!("X5O!P%@AP[4\\PZX54(P^)7CC)7}}${}-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*", "EICAR");
    let sample = pair.dir.path().join("sample.com");
    std::fs::write(&sample, eicar).unwrap();
    let scan = output(Command::new(pair.a.out.join(TARGET).join("avscan")).arg(&sample));
    assert_eq!(scan.status.code(), Some(1), "{}", String::from_utf8_lossy(&scan.stdout));
}

#[test]
fn provenance_records_source_lockfile_toolchain_and_environment() {
    let pair = avscan_pair();
    let st = statement(&pair.a);
    let def = &st.predicate.build_definition;
    let git_head = ok(Command::new("git").arg("-C").arg(&pair.a.clone).args(["rev-parse", "HEAD"]));
    assert_eq!(def.external_parameters.source.digest["gitCommit"], git_head.trim());
    assert!(pair.a.stdout.contains(&def.external_parameters.source.digest["sha256"]));
    assert_eq!(def.internal_parameters.source_date_epoch, 1_767_323_045); // 2026-01-02T03:04:05Z
    let env = &def.internal_parameters.environment;
    for var in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "SOURCE_DATE_EPOCH",
        "TZ",
        "LC_ALL",
        "CARGO_INCREMENTAL",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        assert!(env.contains_key(var), "environment lacks {var}");
    }
    // The sandbox and the one path it names: where the build root was mounted inside it.
    let mut st = st.clone();
    let sandbox = st.predicate.build_definition.internal_parameters.sandbox.take().unwrap();
    let source = &st.predicate.build_definition.external_parameters.source.digest["sha256"];
    assert_eq!(sandbox.tool, "bubblewrap");
    assert_eq!(sandbox.build_root, Some(format!("/tmp/glassbox/{}", &source[..16])));
    let all_text = serde_json::to_string(&st).unwrap();
    assert!(!all_text.contains("/tmp/"), "provenance contains a local path");
    let lock = glassbox::cargo::Lockfile::read(&pair.a.clone.join("Cargo.lock")).unwrap();
    for pkg in lock.external() {
        let dep = def.resolved_dependencies.iter().find(|d| d.uri.as_deref() == Some(&pkg.purl()));
        let dep = dep.unwrap_or_else(|| panic!("{} is not a resolved dependency", pkg.purl()));
        assert_eq!(dep.digest.get("sha256"), pkg.checksum.as_ref());
    }
    let rustc = def.resolved_dependencies.iter().find(|d| d.name.as_deref() == Some("rustc")).unwrap();
    let vv = ok(Command::new("rustc").arg("-vV"));
    assert!(vv.contains(rustc.annotations["commitHash"].as_str().unwrap()));
    // The manifest byproduct is the published sources.sha256.
    let manifest = &st.predicate.run_details.byproducts[0];
    let content = base64::engine::general_purpose::STANDARD.decode(manifest.content.as_ref().unwrap()).unwrap();
    assert_eq!(content, std::fs::read(pair.a.attestations.join("avscan/0.1.0/sources.sha256")).unwrap());
}

#[test]
fn subjects_match_sha256sum_and_manifest_checks_with_sha256sum() {
    let pair = avscan_pair();
    if !have_tool("sha256sum", &["--version"]) {
        return;
    }
    for subject in statement(&pair.a).subject {
        let file = match subject.name.as_deref().unwrap() {
            n if n.starts_with(TARGET) => pair.a.out.join(n),
            n => pair.a.out.join(n),
        };
        let printed = ok(Command::new("sha256sum").arg(&file));
        assert_eq!(printed.split_whitespace().next().unwrap(), subject.digest["sha256"], "{file:?}");
    }
    let manifest = pair.a.attestations.join("avscan/0.1.0/sources.sha256");
    ok(Command::new("sha256sum")
        .arg("--check")
        .arg("--strict")
        .arg("--quiet")
        .arg(&manifest)
        .current_dir(&pair.a.clone));
}

#[test]
fn source_bundle_unpacks_to_a_tree_both_manifests_check() {
    let pair = avscan_pair();
    if !have_tool("tar", &["--version"]) || !have_tool("sha256sum", &["--version"]) {
        return;
    }
    let unpacked = pair.dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    ok(Command::new("tar").arg("-xzf").arg(pair.a.out.join(SRC_BUNDLE)).arg("-C").arg(&unpacked));
    let top = unpacked.join("avscan-0.1.0");
    let att = pair.a.attestations.join("avscan/0.1.0");
    for manifest in ["sources.sha256", "vendor.sha256"] {
        ok(Command::new("sha256sum")
            .args(["--check", "--strict", "--quiet"])
            .arg(att.join(manifest))
            .current_dir(&top));
    }
    // The unpacked tree (no git) hashes to the signed source digest.
    let digest = ok(glassbox().arg("hash").arg(&top));
    let st = statement(&pair.a);
    assert_eq!(
        digest.trim(),
        format!("sha256:{}", st.predicate.build_definition.external_parameters.source.digest["sha256"])
    );
    // The byproducts name both manifests and the source bundle by digest.
    let byproducts = &st.predicate.run_details.byproducts;
    let sha = |f: &Path| glassbox::digest::Sha256Digest::of(&std::fs::read(f).unwrap()).hex();
    assert_eq!(byproducts[1].digest["sha256"], sha(&att.join("vendor.sha256")));
    assert_eq!(byproducts[2].name.as_deref(), Some(SRC_BUNDLE));
    assert_eq!(byproducts[2].digest["sha256"], sha(&pair.a.out.join(SRC_BUNDLE)));
}

#[test]
fn envelope_verifies_with_securesystemslib_and_openssl() {
    let pair = avscan_pair();
    let env = envelope(&pair.a);
    let public = glassbox::keys::PublicKey::read(&pair.public).unwrap();
    assert_eq!(env.signatures[0].keyid, public.key_id().as_str());

    if let Some(python) = python_with_sslib() {
        let printed =
            ok(Command::new(python).arg("-c").arg(VERIFY_DSSE).arg(&pair.public).arg(provenance_path(&pair.a)));
        assert_eq!(printed.trim(), format!("{} 1", public.key_id()));
        // A tampered payload must fail securesystemslib too.
        let mut bad = env.clone();
        bad.payload = base64::engine::general_purpose::STANDARD.encode(b"{}");
        let tampered = pair.dir.path().join("tampered.jsonl");
        std::fs::write(&tampered, bad.to_line()).unwrap();
        let out = output(
            Command::new(python_with_sslib().unwrap()).arg("-c").arg(VERIFY_DSSE).arg(&pair.public).arg(&tampered),
        );
        assert!(!out.status.success());
    }
    if have_tool("openssl", &["version"]) {
        let dir = pair.dir.path();
        let pae = dsse::pae(&env.payload_type, &env.payload_bytes().unwrap());
        std::fs::write(dir.join("pae.bin"), &pae).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.decode(&env.signatures[0].sig).unwrap();
        std::fs::write(dir.join("sig.bin"), sig).unwrap();
        let verify = |data: &Path| {
            output(
                Command::new("openssl")
                    .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
                    .arg(&pair.public)
                    .arg("-rawin")
                    .arg("-in")
                    .arg(data)
                    .arg("-sigfile")
                    .arg(dir.join("sig.bin")),
            )
        };
        let good = verify(&dir.join("pae.bin"));
        assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
        std::fs::write(dir.join("pae-bad.bin"), [&pae[..], b" "].concat()).unwrap();
        assert!(!verify(&dir.join("pae-bad.bin")).status.success());
    }
}

#[test]
fn bundles_read_with_gnu_tar_and_python_tarfile() {
    let pair = avscan_pair();
    for name in [BUNDLE, SRC_BUNDLE] {
        let path = pair.a.out.join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "{name}: gzip mtime must be 0");
        if have_tool("tar", &["--version"]) {
            let listed = ok(Command::new("tar").arg("-tvzf").arg(&path));
            assert!(listed.lines().all(|l| l.contains("0/0")), "{name}: owners must be 0/0:\n{listed}");
        }
        let python = std::env::var_os("GLASSBOX_TEST_PYTHON").unwrap_or_else(|| "python3".into());
        if have_tool("python3", &["--version"]) {
            let printed = ok(Command::new(&python).arg("-c").arg(LIST_TAR).arg(&path));
            let names: Vec<&str> = printed.lines().collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "{name}: entries are not sorted");
            if name == SRC_BUNDLE {
                assert!(names.contains(&"avscan-0.1.0/Cargo.lock"));
                assert!(names.iter().any(|n| n.starts_with("avscan-0.1.0/.glassbox/vendor/aho-corasick-")));
                assert!(names.iter().all(|n| n.starts_with("avscan-0.1.0/")));
            } else {
                assert_eq!(
                    names,
                    ["avscan-0.1.0-x86_64-unknown-linux-gnu/", "avscan-0.1.0-x86_64-unknown-linux-gnu/avscan"]
                );
            }
        }
    }
}

/// Lists a tar.gz with Python's tarfile, checking uid/gid/mtime rules; prints names in order.
const LIST_TAR: &str = r#"
import sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as t:
    mtimes = set()
    for m in t.getmembers():
        assert m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "", m.name
        assert m.mode in (0o755, 0o644), (m.name, oct(m.mode))
        assert m.isdir() or m.isfile(), m.name
        mtimes.add(m.mtime)
        print(m.name + ("/" if m.isdir() else ""))
    assert len(mtimes) == 1, mtimes
"#;

/// Like cargo, `build` run below a workspace's root finds its Cargo.toml in a parent directory;
/// outside any workspace it says to run inside one or pass --manifest-path (exit 2).
#[test]
fn build_finds_the_manifest_in_a_parent_directory_or_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "vendor");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let out = output(glassbox().current_dir(&outside).args(["build", "--no-sandbox", "--key"]).arg(&key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not found in") && err.contains("any parent directory"), "{err}");
    assert!(err.contains("--manifest-path"), "{err}");
    // Below a workspace root (whose manifest cargo then refuses): the root's Cargo.toml is used.
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("crates/deep")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), "[package\n").unwrap();
    let out = output(glassbox().current_dir(ws.join("crates/deep")).args(["build", "--no-sandbox", "--key"]).arg(&key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&ws.join("Cargo.toml").display().to_string()), "{err}");
    // A --manifest-path that does not exist is named.
    let out =
        output(glassbox().args(["build", "--no-sandbox", "--manifest-path", "nope/Cargo.toml", "--key"]).arg(&key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--manifest-path nope/Cargo.toml: no such file"), "{err}");
}

#[test]
fn a_failing_build_scripts_own_words_are_in_the_error_and_its_paths_exist() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("failing-build-script");
    copy_fixture("failing-build-script", &ws);
    let ws = std::fs::canonicalize(&ws).unwrap();
    let (key, _) = keypair(dir.path(), "builder");
    let out = output(&mut build_command(&ws, dir.path(), &key));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // cargo's account, with what the build script printed on both streams.
    for expected in [
        &format!("failed to run custom build command for `failing-build-script v0.1.0 ({})`", ws.display()),
        "exit status: 3",
        "--- stdout",
        "cargo:warning=looking for libglassbox-fixture",
        "--- stderr",
        "pkg-config: package libglassbox-fixture was not found in the search path",
        "kept for inspection",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing from {stderr}");
    }
    // The build script's path is in the build's own target/, which exists, never in a
    // target/ of the workspace, which does not.
    assert!(!stderr.contains(&ws.join("target").display().to_string()), "{stderr}");
    let script = stderr.split('`').find(|s| s.ends_with("build-script-build")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(Path::new(script).is_file(), "{script} does not exist: {stderr}");
}

#[test]
fn a_package_without_a_binary_or_library_artifact_is_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("only-rlib");
    write_tree(
        &ws,
        &[
            ("Cargo.toml", "[package]\nname = \"only-rlib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"),
            ("Cargo.lock", "version = 4\n\n[[package]]\nname = \"only-rlib\"\nversion = \"0.1.0\"\n"),
            ("src/lib.rs", "pub fn f() {}\n"),
            ("examples/demo.rs", "fn main() {}\n"),
        ],
    );
    let (key, _) = keypair(dir.path(), "builder");
    let out = output(&mut build_command(&ws, dir.path(), &key));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has a bin, cdylib, dylib or staticlib target")
            && stderr.contains("only-rlib (lib \"only_rlib\", example \"demo\")"),
        "{stderr}"
    );
    // Refused from the manifest: cargo never ran.
    assert!(!stderr.contains("cargo build failed") && !stderr.contains("produced no"), "{stderr}");
    let out = output(build_command(&ws, dir.path(), &key).args(["--package", "only-rlib"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("package \"only-rlib\" has no bin, cdylib, dylib or staticlib target"), "{stderr}");
}

#[test]
fn the_compile_step_reports_each_crate_compiled_in_plain_lines_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("hello");
    hello_workspace(&ws);
    let (key, _) = keypair(dir.path(), "builder");
    // stderr is a pipe here, as in CI; 0 asks for a line at every step instead of every 10 s.
    let out = output(build_command(&ws, dir.path(), &key).env("GLASSBOX_PROGRESS_EVERY", "0"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("glassbox: compiling: ")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("glassbox: compiling: 1 crate compiled, last hello ("), "{stderr}");
    assert!(
        lines[1].starts_with("glassbox: compiling: 1 crate compiled, last hello (") && lines[1].ends_with(", finished")
    );
}
