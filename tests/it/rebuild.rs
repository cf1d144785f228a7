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
    crate::cli_json::assert_prefixed_digests(&report, &["sourceDigest", "expected", "actual"]);
    let builder = glassbox::keys::PublicKey::read(&pair.public).unwrap().key_id();
    assert_eq!(report["builderKey"], builder.as_str(), "{report:#}");
    // The toolchain as data, not a sentence.
    assert!(report["toolchain"]["rustc"]["release"].is_string(), "{report:#}");
    assert!(["local", "rustup"].contains(&report["toolchain"]["selected"].as_str().unwrap()), "{report:#}");

    let id = glassbox::keys::PublicKey::read(&reviewer_pub).unwrap().key_id();
    let vsa_path = provenance.with_file_name(format!("{TARGET}.rebuild.{}.intoto.jsonl", id.short()));
    let text = std::fs::read_to_string(&vsa_path).unwrap();
    let env = &Envelope::parse_all(&text, "vsa").unwrap()[0];
    let vsa: Statement<VerificationSummary> = Statement::from_envelope(env, SLSA_VSA_V1, "vsa").unwrap();
    assert_eq!(vsa.predicate.verification_result, "PASSED");
    assert!(vsa.predicate.reproduction.artifacts.iter().all(|a| a.matches && a.expected == a.actual));
    assert_eq!(vsa.predicate.reproduction.differences, None, "a PASSED verdict names no reports");
    assert!(!vsa_path.with_file_name(format!("{TARGET}.rebuild.{}.diff.json", id.short())).exists());
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
    // Another key is named as such, with both key ids, and no tampering is suggested.
    let pair_id = glassbox::keys::PublicKey::read(&avscan_pair().public).unwrap().key_id();
    let stranger_id = glassbox::keys::PublicKey::read(&stranger).unwrap().key_id();
    let err = stderr(&out);
    assert!(err.contains("no signature by a --trust key verifies"), "{err}");
    assert!(err.contains(&format!("signed by key {}, which is not a --trust key", pair_id.short())), "{err}");
    assert!(err.contains(&format!("--trust keys: {}", stranger_id.short())), "{err}");
    assert!(!err.contains("changed after signing"), "{err}");
    // With --json the refusal is a JSON error object on stdout, exit code unchanged.
    let out = rebuild(dir.path(), &provenance, &bundle, &stranger, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["error"]["exitCode"].as_u64(), report["error"]["kind"].as_str()), (Some(1), Some("rejected")));

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
    // The trusted key's own signature fails: that one is a change after signing.
    assert!(stderr(&out).contains("does not verify: the payload was changed after signing"), "{}", stderr(&out));
}

#[test]
fn the_binary_bundle_or_another_bundle_as_source_names_the_source_bundle() {
    let pair = avscan_pair();
    let (dir, provenance, _) = reviewer_copy("att");
    let binary = pair.a.out.join(format!("avscan-0.1.0-{TARGET}.tar.gz"));
    let out = rebuild(dir.path(), &provenance, &binary, &pair.public, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("this is the binary bundle of avscan-0.1.0 for {TARGET}")), "{err}");
    assert!(err.contains("needs the source bundle avscan-0.1.0-src.tar.gz"), "{err}");
    // Another product's source bundle.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("other-2.0")).unwrap();
    std::fs::write(other.join("other-2.0/README"), "another product\n").unwrap();
    let bundle = dir.path().join("other-2.0-src.tar.gz");
    ok(Command::new("tar").arg("-czf").arg(&bundle).arg("-C").arg(&other).arg("other-2.0"));
    let out = rebuild(dir.path(), &provenance, &bundle, &pair.public, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("files are under other-2.0/, not avscan-0.1.0/"), "{err}");
    assert!(err.contains("avscan-0.1.0-src.tar.gz"), "{err}");
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
    let (reviewer, reviewer_pub) = keypair(dir.path(), "reviewer");
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

    let vsa = verdict_files(provenance.parent().unwrap()).pop().expect("a verdict is written");
    let env = &Envelope::parse_all(&std::fs::read_to_string(vsa).unwrap(), "vsa").unwrap()[0];
    let vsa: Statement<VerificationSummary> = Statement::from_envelope(env, SLSA_VSA_V1, "vsa").unwrap();
    assert_eq!(vsa.predicate.verification_result, "FAILED");
    assert!(vsa.predicate.verified_levels.is_empty());
    let binary = vsa.predicate.reproduction.artifacts.iter().find(|a| a.name.ends_with("/build-time")).unwrap();
    assert!(!binary.matches && binary.actual.is_some() && binary.actual != binary.expected);

    // The reports are beside the verdict, bound to it by the digest in the signed statement.
    let id = glassbox::keys::PublicKey::read(&reviewer_pub).unwrap().key_id();
    let name = format!("{TARGET}.rebuild.{}.diff.json", id.short());
    let differences = vsa.predicate.reproduction.differences.as_ref().expect("the verdict names its reports");
    assert_eq!(differences.name.as_deref(), Some(name.as_str()));
    let file = provenance.with_file_name(&name);
    let sha256sum = ok(Command::new("sha256sum").arg(&file));
    assert_eq!(differences.digest.get("sha256").map(String::as_str), sha256sum.split_whitespace().next());
    let text = std::fs::read_to_string(&file).unwrap();
    let reports: Vec<glassbox::rebuild::ArtifactDifference> = serde_json::from_str(&text).unwrap();
    assert_eq!(reports.len(), 1, "{text}");
    assert_eq!(reports[0].name, "build-time-0.1.0-x86_64-unknown-linux-gnu.tar.gz");
    assert!(reports[0].report.summary().contains(".rodata"), "{}", reports[0].report.summary());
    let again: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&reports).unwrap(), again, "the reports parse back to the same JSON");
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
        info = tarfile.TarInfo("avscan-0.1.0/Cargo.toml"); info.size = 1 << 40
        t.addfile(info)
"#;

/// One `glassbox build` of the tiny `hello` workspace (no dependencies, seconds to build), shared
/// by the bundle-intake tests below: its provenance, source bundle and builder key pair.
struct HelloBuild {
    _dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    provenance: PathBuf,
    bundle: PathBuf,
}

fn hello_build() -> &'static HelloBuild {
    static BUILD: std::sync::OnceLock<HelloBuild> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("hello");
        hello_workspace(&ws);
        let (key, public) = keypair(dir.path(), "builder");
        let (out, att) = build_workspace(&ws, dir.path(), &key);
        let provenance = att.join("hello/0.1.0").join(PROVENANCE);
        let bundle = out.join("hello-0.1.0-src.tar.gz");
        assert!(provenance.is_file() && bundle.is_file());
        HelloBuild { _dir: dir, key, public, provenance, bundle }
    })
}

/// Runs the Python program `script` with `args` (the test skips when there is no python3).
fn python(script: &str, args: &[&str]) -> bool {
    if !have_tool("python3", &["--version"]) {
        return false;
    }
    ok(Command::new("python3").arg("-c").arg(script).args(args));
    true
}

/// `glassbox rebuild` of `bundle` against `provenance` with the hello builder trusted and
/// `--build-base <base>`; returns its output and the build roots (directories) left in `base`.
fn rebuild_in(base: &Path, provenance: &Path, bundle: &Path) -> (std::process::Output, Vec<PathBuf>) {
    let hello = hello_build();
    let dir = base.parent().unwrap();
    let out = rebuild(dir, provenance, bundle, &hello.public, &["--build-base", &base.display().to_string()]);
    let left = std::fs::read_dir(base).map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>()).unwrap_or_default();
    (out, left.into_iter().filter(|p| p.is_dir()).collect())
}

#[test]
fn d15_bundle_files_outside_the_manifest_are_refused() {
    let hello = hello_build();
    let dir = tempfile::tempdir().unwrap();
    if !have_tool("tar", &["--version"]) {
        return;
    }
    // The review's bundle: the attested files plus a `.cargo/` that a CACHEDIR.TAG hides from
    // the source digest, whose config hands every compilation to the vendor's script.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    ok(Command::new("tar").arg("-xzf").arg(&hello.bundle).arg("-C").arg(&unpacked));
    let pwned = dir.path().join("PWNED");
    let top = unpacked.join("hello-0.1.0");
    write_tree(
        &top,
        &[
            (".cargo/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"),
            (".cargo/config.toml", "[build]\nrustc-wrapper = \".cargo/w.sh\"\n"),
            (".cargo/w.sh", &format!("#!/bin/sh\necho \"ran: $*\" >> {}\nexit 1\n", pwned.display())),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(top.join(".cargo/w.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = dir.path().join("hello-0.1.0-src.tar.gz");
    ok(Command::new("tar").arg("-czf").arg(&bundle).arg("-C").arg(&unpacked).arg("hello-0.1.0"));

    let (out, roots) = rebuild_in(&dir.path().join("bb"), &hello.provenance, &bundle);
    assert!(!pwned.exists(), "the bundle's rustc-wrapper ran: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(".cargo/") && stderr(&out).contains("not in the attested"), "{}", stderr(&out));
    assert!(roots.is_empty(), "the refused build root is kept: {roots:?}");
    // A reviewer comparing the two bundles sees the same source digest, and is told of the rest.
    let out = output(glassbox().args(["review", "diff"]).arg(&hello.bundle).arg(&bundle));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr(&out));
    assert!(stdout.contains("not part of its source digest") && stdout.contains(".cargo/config.toml"), "{stdout}");
}

/// Writes a gzip bomb (argv[1]): the top directory and one entry `zeros0.bin` of argv[2] bytes
/// of zeros, compressed about a thousand times.
const BOMB: &str = r#"
import sys, tarfile, zlib
path, size = sys.argv[1], int(sys.argv[2])
def hdr(n, s): t = tarfile.TarInfo(n); t.size = s; return t.tobuf(format=tarfile.GNU_FORMAT)
co = zlib.compressobj(9, zlib.DEFLATED, 31); f = open(path, 'wb'); z = b'\0' * (1 << 24)
f.write(co.compress(hdr('hello-0.1.0/Cargo.toml', 0)))
f.write(co.compress(hdr('hello-0.1.0/zeros0.bin', size)))
for _ in range(size >> 24): f.write(co.compress(z))
f.write(co.compress(b'\0' * 1024) + co.flush())
"#;

#[test]
fn d14_a_gzip_bomb_is_refused_before_it_is_written() {
    let hello = hello_build();
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb-src.tar.gz");
    if !python(BOMB, &[&bomb.display().to_string(), "1073741824"]) {
        return;
    }
    let compressed = std::fs::metadata(&bomb).unwrap().len();
    assert!(compressed < 4 << 20, "{compressed}");

    // rebuild: zeros0.bin is not in the attested manifest; refused at its header, nothing kept.
    let (out, roots) = rebuild_in(&dir.path().join("bb"), &hello.provenance, &bomb);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("zeros0.bin"), "{}", stderr(&out));
    assert!(roots.is_empty(), "the refused build root is kept: {roots:?}");

    // review diff (no attested manifest): a 1 GiB file from a 1 MB bundle is over the cap.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = output(glassbox().args(["review", "diff"]).arg(&hello.bundle).arg(&bomb).env("TMPDIR", &tmp));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bomb-src.tar.gz") && stderr(&out).contains("cap"), "{}", stderr(&out));
    assert!(std::fs::read_dir(&tmp).unwrap().next().is_none(), "review diff left files in TMPDIR");
}

/// Rewrites the bundle argv[1] as argv[2]: its entries as a first gzip member without the tar
/// end blocks, then a second member holding `HIDDEN_second_member.rs` (what `tar -tzf` and
/// Python's tarfile read as one archive).
const TWO_MEMBERS: &str = r#"
import gzip, io, sys, tarfile
src, dst = sys.argv[1:3]
first = b''
with tarfile.open(src, 'r:gz') as t:
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isfile() else b''
        first += m.tobuf(format=tarfile.GNU_FORMAT) + data + b'\0' * (-len(data) % 512)
second = io.BytesIO()
with tarfile.open(fileobj=second, mode='w', format=tarfile.GNU_FORMAT) as t:
    body = b'fn hidden() {}\n'
    info = tarfile.TarInfo('hello-0.1.0/src/HIDDEN_second_member.rs'); info.size = len(body)
    t.addfile(info, io.BytesIO(body))
open(dst, 'wb').write(gzip.compress(first) + gzip.compress(second.getvalue()))
"#;

#[test]
fn d16_a_second_gzip_member_is_read_as_gnu_tar_reads_it() {
    let hello = hello_build();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("hello-0.1.0-src.tar.gz");
    if !python(TWO_MEMBERS, &[&hello.bundle.display().to_string(), &bundle.display().to_string()])
        || !have_tool("tar", &["--version"])
    {
        return;
    }
    let listed = ok(Command::new("tar").arg("-tzf").arg(&bundle));
    assert!(listed.contains("hello-0.1.0/src/HIDDEN_second_member.rs"), "{listed}");

    let (out, roots) = rebuild_in(&dir.path().join("bb"), &hello.provenance, &bundle);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("src/HIDDEN_second_member.rs"), "{}", stderr(&out));
    assert!(roots.is_empty(), "the refused build root is kept: {roots:?}");
    // The reviewer's view agrees with tar: the second member's file is there.
    let out = output(glassbox().args(["review", "diff"]).arg(&hello.bundle).arg(&bundle));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("A  src/HIDDEN_second_member.rs"), "{out:?}");
    // Anything after the last gzip member is refused, not ignored.
    let mut garbage = std::fs::read(&hello.bundle).unwrap();
    garbage.extend_from_slice(b"trailing garbage");
    std::fs::write(&bundle, garbage).unwrap();
    let out = output(glassbox().args(["review", "diff"]).arg(&hello.bundle).arg(&bundle));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("hello-0.1.0-src.tar.gz") && stderr(&out).contains("after"), "{}", stderr(&out));
}

/// Rewrites the bundle argv[1] as argv[2] with one more file, `notes.txt`, of 30 bytes: its
/// PAX header says 30 and its ustar header says argv[3].
const PAX_SIZE: &str = r#"
import io, sys, tarfile
src, dst, ustar = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tarfile.open(src, 'r:gz') as t, tarfile.open(dst, 'w:gz', format=tarfile.PAX_FORMAT) as out:
    for m in t.getmembers():
        out.addfile(m, t.extractfile(m) if m.isfile() else None)
    body = b'A' * 30
    info = tarfile.TarInfo('hello-0.1.0/notes.txt'); info.size = ustar; info.pax_headers = {'size': '30'}
    buf = info.tobuf(format=tarfile.PAX_FORMAT)
    out.fileobj.write(buf + body + b'\0' * (512 - 30)); out.offset += len(buf) + 512
    out.members.append(info)
"#;

#[test]
fn d16_a_pax_size_is_honoured_and_a_disagreeing_ustar_size_refused() {
    let hello = hello_build();
    let dir = tempfile::tempdir().unwrap();
    if !have_tool("tar", &["--version"]) {
        return;
    }
    for ustar in ["5", "0", "30"] {
        let bundle = dir.path().join(format!("pax-{ustar}")).join("hello-0.1.0-src.tar.gz");
        std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
        if !python(PAX_SIZE, &[&hello.bundle.display().to_string(), &bundle.display().to_string(), ustar]) {
            return;
        }
        // What GNU tar extracts: notes.txt with all 30 bytes.
        let extracted = dir.path().join(format!("x-{ustar}"));
        std::fs::create_dir_all(&extracted).unwrap();
        ok(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&extracted));
        let tree = extracted.join("hello-0.1.0");
        assert_eq!(std::fs::read(tree.join("notes.txt")).unwrap(), [b'A'; 30]);
        let out = output(glassbox().args(["review", "diff"]).arg(&tree).arg(&bundle));
        if ustar == "30" {
            assert_eq!(out.status.code(), Some(0), "glassbox reads another notes.txt than tar: {out:?}");
        } else {
            assert_eq!(out.status.code(), Some(2), "{ustar}: {out:?}");
            assert!(stderr(&out).contains("notes.txt") && stderr(&out).contains("PAX"), "{}", stderr(&out));
        }
    }
}

#[test]
fn d17_bundle_and_artifact_names_from_the_provenance_are_checked_before_building() {
    let hello = hello_build();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join(format!("VICTIM-{TARGET}.tar.gz"));
    std::fs::write(&victim, "precious").unwrap();
    let text = std::fs::read_to_string(&hello.provenance).unwrap();
    let env = Envelope::parse_all(&text, "p").unwrap().remove(0);
    let original: Statement<Provenance> = Statement::from_envelope(&env, SLSA_PROVENANCE_V1, "p").unwrap();
    let bundle_subject = format!("hello-0.1.0-{TARGET}.tar.gz");
    let key = glassbox::keys::PrivateKey::read(&hello.key).unwrap();
    let cases = [
        (bundle_subject.clone(), victim.display().to_string()),
        (bundle_subject.clone(), format!("../../escape-{TARGET}.tar.gz")),
        (format!("{TARGET}/hello"), format!("{TARGET}/../../hello")),
    ];
    for (i, (from, to)) in cases.iter().enumerate() {
        let mut st = original.clone();
        let subject = st.subject.iter_mut().find(|s| s.name.as_deref() == Some(from)).unwrap();
        subject.name = Some(to.clone());
        let provenance = dir.path().join(format!("case{i}/att/x/y")).join(PROVENANCE);
        std::fs::create_dir_all(provenance.parent().unwrap()).unwrap();
        std::fs::write(&provenance, st.sign(&key).to_line()).unwrap();
        let (out, roots) = rebuild_in(&dir.path().join(format!("case{i}/bb")), &provenance, &hello.bundle);
        assert_eq!(out.status.code(), Some(2), "{to}: {}", stderr(&out));
        assert!(stderr(&out).contains("subject"), "{to}: {}", stderr(&out));
        assert!(roots.is_empty(), "{to}: built before checking the names");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!dir.path().join(format!("case1/escape-{TARGET}.tar.gz")).exists());
}
