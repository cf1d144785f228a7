//! `glassbox rebuild`: a reviewer rebuilds the vendor's provenance from the source bundle,
//! offline and with an empty cargo home, and signs a verdict; every way the inputs can be wrong
//! is refused with the right exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use glassbox::attest::provenance::Provenance;
use glassbox::attest::vsa::VerificationSummary;
use glassbox::attest::{Envelope, Statement, SLSA_PROVENANCE_V1, SLSA_VSA_V1};

use crate::support::*;

const TARGET: &str = "x86_64-unknown-linux-gnu";
const PROVENANCE: &str = "x86_64-unknown-linux-gnu.provenance.intoto.jsonl";

/// A reviewer's copy of build A's provenance and source bundle, in a fresh directory.
fn reviewer_copy(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let pair = avscan_pair();
    let dir = tempfile::tempdir().unwrap();
    let provenance = dir.path().join(name).join(PROVENANCE);
    std::fs::create_dir_all(provenance.parent().unwrap()).unwrap();
    std::fs::copy(pair.a.attestations.join("avscan/0.1.0").join(PROVENANCE), &provenance).unwrap();
    let bundle = dir.path().join("avscan-0.1.0-src.tar.gz");
    std::fs::copy(pair.a.out.join("avscan-0.1.0-src.tar.gz"), &bundle).unwrap();
    (dir, provenance, bundle)
}

/// `glassbox rebuild` as a reviewer runs it (`support::reviewer_rebuild`), with `extra` options.
fn rebuild(dir: &Path, provenance: &Path, source: &Path, trust: &Path, extra: &[&str]) -> std::process::Output {
    output(reviewer_rebuild(dir, provenance, source, trust).args(extra))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rebuild_from_the_source_bundle_offline_passes_and_signs_a_vsa() {
    let pair = avscan_pair();
    let (dir, provenance, bundle) = reviewer_copy("att");
    let (reviewer_key, reviewer_pub) = keypair(dir.path(), "reviewer");
    let key_arg = reviewer_key.display().to_string();
    let out = rebuild(dir.path(), &provenance, &bundle, &pair.public, &["--key", &key_arg, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["reproduced"], true);

    let id = glassbox::keys::PublicKey::read(&reviewer_pub).unwrap().key_id();
    let vsa_path = provenance.with_file_name(format!("{TARGET}.rebuild.{}.intoto.jsonl", id.short()));
    let text = std::fs::read_to_string(&vsa_path).unwrap();
    let env = &Envelope::parse_all(&text, "vsa").unwrap()[0];
    let vsa: Statement<VerificationSummary> = Statement::from_envelope(env, SLSA_VSA_V1, "vsa").unwrap();
    assert_eq!(vsa.predicate.verification_result, "PASSED");
    assert!(vsa.predicate.reproduction.artifacts.iter().all(|a| a.matches && a.expected == a.actual));
    let prov_text = std::fs::read_to_string(&provenance).unwrap();
    let prov_env = &Envelope::parse_all(&prov_text, "p").unwrap()[0];
    let prov: Statement<Provenance> = Statement::from_envelope(prov_env, SLSA_PROVENANCE_V1, "p").unwrap();
    assert_eq!(vsa.subject, prov.subject);
    assert_eq!(vsa.predicate.input_attestations[0].digest["sha256"], prov_env.digest().hex());
    assert_eq!(vsa.predicate.resource_uri, "avscan-0.1.0-x86_64-unknown-linux-gnu.tar.gz");

    if let Some(python) = python_with_sslib() {
        let printed = ok(Command::new(python).arg("-c").arg(VERIFY_DSSE).arg(&reviewer_pub).arg(&vsa_path));
        assert_eq!(printed.trim(), format!("{id} 1"));
    }
}

#[test]
fn untrusted_signer_and_edited_payload_are_definite_noes() {
    let (dir, provenance, bundle) = reviewer_copy("att");
    let (_, stranger) = keypair(dir.path(), "stranger");
    let out = rebuild(dir.path(), &provenance, &bundle, &stranger, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no signature by a --trust key verifies"), "{}", stderr(&out));

    let pair = avscan_pair();
    let text = std::fs::read_to_string(&provenance).unwrap();
    let mut env = Envelope::parse_all(&text, "p").unwrap().remove(0);
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(env.payload_bytes().unwrap())
        .unwrap()
        .replace("\"profile\":\"release\"", "\"profile\":\"dev\"");
    env.payload = b64.encode(payload);
    std::fs::write(&provenance, env.to_line()).unwrap();
    let out = rebuild(dir.path(), &provenance, &bundle, &pair.public, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_changed_source_file_is_named() {
    let pair = avscan_pair();
    let (dir, provenance, bundle) = reviewer_copy("att");
    if !have_tool("tar", &["--version"]) {
        return;
    }
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    ok(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let changed = unpacked.join("avscan-0.1.0/crates/avscan/src/main.rs");
    let mut text = std::fs::read_to_string(&changed).unwrap();
    text.push_str("// one more line\n");
    std::fs::write(&changed, text).unwrap();
    let tampered = dir.path().join("tampered-src.tar.gz");
    ok(Command::new("tar").arg("-czf").arg(&tampered).arg("-C").arg(&unpacked).arg("avscan-0.1.0"));
    // As a bundle and as a directory: both refused, naming the file.
    for source in [tampered, unpacked.join("avscan-0.1.0")] {
        let out = rebuild(dir.path(), &provenance, &source, &pair.public, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("crates/avscan/src/main.rs changed"), "{}", stderr(&out));
    }
}

#[test]
fn a_missing_toolchain_is_named_with_the_rustup_line() {
    // A provenance (signed by a key the test trusts) that claims another compiler commit.
    let pair = avscan_pair();
    let (dir, provenance, bundle) = reviewer_copy("att");
    let text = std::fs::read_to_string(&provenance).unwrap();
    let env = Envelope::parse_all(&text, "p").unwrap().remove(0);
    let mut st: Statement<Provenance> = Statement::from_envelope(&env, SLSA_PROVENANCE_V1, "p").unwrap();
    let rustc = st
        .predicate
        .build_definition
        .resolved_dependencies
        .iter_mut()
        .find(|d| d.name.as_deref() == Some("rustc"))
        .unwrap();
    rustc.annotations.insert("release".into(), "1.80.0".into());
    rustc.annotations.insert("commitHash".into(), "0".repeat(40).into());
    let (key, public) = keypair(dir.path(), "other-builder");
    let key = glassbox::keys::PrivateKey::read(&key).unwrap();
    std::fs::write(&provenance, st.sign(&key).to_line()).unwrap();
    let out = rebuild(dir.path(), &provenance, &bundle, &public, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("rustup toolchain install 1.80.0"), "{}", stderr(&out));
    let _ = pair;
}

#[test]
fn a_build_that_embeds_the_time_fails_with_a_report_and_a_failed_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("build-time");
    copy_fixture("build-time", &ws);
    let (key, public) = keypair(dir.path(), "builder");
    let (out, att) = build_workspace(&ws, dir.path(), &key);
    let provenance = att.join("build-time/0.1.0").join(PROVENANCE);
    let (reviewer, _) = keypair(dir.path(), "reviewer");
    let source = out.join("build-time-0.1.0-src.tar.gz");
    let result = rebuild(dir.path(), &provenance, &source, &public, &["--key", &reviewer.display().to_string()]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(1), "{stdout}\n{}", stderr(&result));
    assert!(stdout.contains(&format!("{TARGET}/build-time")) && stdout.contains("DIFFER"), "{stdout}");
    // The report, against the vendor's bundle found next to the source bundle, names the
    // artifact inside it and the section where the time is.
    assert!(stdout.contains("build-time-0.1.0-x86_64-unknown-linux-gnu/build-time"), "{stdout}");
    assert!(stdout.contains(".rodata"), "{stdout}");
    assert!(stdout.contains("built at "), "the differing strings should show the time: {stdout}");

    let vsa = std::fs::read_dir(provenance.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".rebuild."))
        .expect("a verdict is written");
    let env = &Envelope::parse_all(&std::fs::read_to_string(vsa).unwrap(), "vsa").unwrap()[0];
    let vsa: Statement<VerificationSummary> = Statement::from_envelope(env, SLSA_VSA_V1, "vsa").unwrap();
    assert_eq!(vsa.predicate.verification_result, "FAILED");
    assert!(vsa.predicate.verified_levels.is_empty());
    let binary = vsa.predicate.reproduction.artifacts.iter().find(|a| a.name.ends_with("/build-time")).unwrap();
    assert!(!binary.matches && binary.actual.is_some() && binary.actual != binary.expected);
}

/// Hostile source bundles, made with Python's tarfile: each is refused (exit 2) with a clear
/// error, and nothing outside the extraction directory appears.
#[test]
fn hostile_source_bundles_are_refused() {
    let pair = avscan_pair();
    let (dir, provenance, _) = reviewer_copy("att");
    if !have_tool("python3", &["--version"]) {
        return;
    }
    let sentinel = dir.path().join("escaped");
    let cases = [
        ("dotdot", "avscan-0.1.0/../../escaped", "'..'"),
        ("absolute", &*format!("{}", sentinel.display()), "absolute"),
        ("symlink", "symlink", "is a link"),
        ("hardlink", "hardlink", "is a link"),
        ("device", "device", "Char"),
        ("huge", "huge", "more than the cap"),
    ];
    for (name, arg, needle) in cases {
        let bundle = dir.path().join(format!("{name}-src.tar.gz"));
        ok(Command::new("python3").arg("-c").arg(HOSTILE).arg(&bundle).arg(name).arg(arg).arg(&sentinel));
        let out = rebuild(dir.path(), &provenance, &bundle, &pair.public, &[]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        assert!(!sentinel.exists(), "{name}: wrote outside the extraction directory");
    }
}

/// Writes a tar.gz (argv[1]) holding a top directory and one hostile entry of kind argv[2].
const HOSTILE: &str = r#"
import io, sys, tarfile
path, kind, arg, sentinel = sys.argv[1:5]
with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as t:
    top = tarfile.TarInfo("avscan-0.1.0"); top.type = tarfile.DIRTYPE; top.mode = 0o755
    t.addfile(top)
    if kind in ("dotdot", "absolute"):
        data = b"escaped\n"
        info = tarfile.TarInfo(arg); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    elif kind == "symlink":
        info = tarfile.TarInfo("avscan-0.1.0/link"); info.type = tarfile.SYMTYPE; info.linkname = sentinel
        t.addfile(info)
    elif kind == "hardlink":
        info = tarfile.TarInfo("avscan-0.1.0/hard"); info.type = tarfile.LNKTYPE; info.linkname = "/etc/hostname"
        t.addfile(info)
    elif kind == "device":
        info = tarfile.TarInfo("avscan-0.1.0/null"); info.type = tarfile.CHRTYPE; info.devmajor = 1; info.devminor = 3
        t.addfile(info)
    elif kind == "huge":
        info = tarfile.TarInfo("avscan-0.1.0/huge.bin"); info.size = 1 << 40
        t.addfile(info)
"#;
