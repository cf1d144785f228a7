//! The sandbox is a wall both ways (security review 2, R2-D7 and R2-D3): what the vendor's build
//! code leaves in the build root and prints through cargo is the vendor's input. The hostile
//! fixture (`tests/fixtures/hostile`) plants links where glassbox used to write bundles, prints
//! forged `compiler-artifact` messages naming host files, `/proc` and `/dev` files, a FIFO and
//! files inside the build root, floods cargo's output, and links its binary as a symlink to a
//! host file. Through `build`, `check` and `rebuild`: a canary file outside the build root keeps
//! its bytes and mtime, its content appears in no output, nothing hangs, and no PASSED verdict is
//! signed for a refused build.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::Engine as _;
use glassbox::attest::provenance::Provenance;
use glassbox::attest::{Envelope, Statement, SLSA_PROVENANCE_V1};
use glassbox::keys::PrivateKey;

use crate::support::*;

const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Generous: only a hang (a FIFO, `/dev/zero`) reaches it.
const LIMIT: Duration = Duration::from_secs(600);
const CANARY_TEXT: &str = "canary: the rebuilder's private file, 5f0c1e5e-7d2a";

/// A test directory with a canary file outside any build root and a builder key.
struct Scene {
    dir: tempfile::TempDir,
    canary: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

impl Scene {
    fn new() -> Option<Scene> {
        if !have_tool("bwrap", &["--version"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("host/canary");
        std::fs::create_dir_all(canary.parent().unwrap()).unwrap();
        std::fs::write(&canary, CANARY_TEXT).unwrap();
        let (key, public) = keypair(dir.path(), "builder");
        Some(Scene { dir, canary, key, public })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The hostile workspace at `<dir>/<name>`, primed with `attack`.
    fn workspace(&self, name: &str, attack: &str) -> PathBuf {
        let ws = self.path().join(name);
        let src = repo().join("tests/fixtures/hostile");
        for entry in walkdir::WalkDir::new(&src) {
            let entry = entry.unwrap();
            let to = ws.join(entry.path().strip_prefix(&src).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(entry.path(), &to).unwrap(); // keeps tools/cc executable
            }
        }
        std::fs::write(ws.join("attack.txt"), format!("{attack}\n{}\n", self.canary.display())).unwrap();
        ws
    }

    fn canary_state(&self) -> (Vec<u8>, std::time::SystemTime) {
        (std::fs::read(&self.canary).unwrap(), std::fs::metadata(&self.canary).unwrap().modified().unwrap())
    }

    /// Every file under the test directory but the canary itself holds none of its text.
    fn assert_canary_leaked_nowhere(&self) {
        for entry in walkdir::WalkDir::new(self.path()).follow_links(false) {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() || entry.path() == self.canary {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes.windows(CANARY_TEXT.len()).any(|w| w == CANARY_TEXT.as_bytes()),
                "the canary's content is in {}",
                entry.path().display()
            );
        }
    }

    /// `glassbox build` of `ws` into `<out_dir>/out` and `<out_dir>/att`.
    fn build(&self, ws: &Path, out_dir: &Path) -> Output {
        output_within(build_command(ws, out_dir, &self.key).arg("--allow-dirty"), LIMIT)
    }

    fn check(&self, ws: &Path) -> Output {
        output_within(
            glassbox().arg("check").arg("--manifest-path").arg(ws.join("Cargo.toml")).arg("--allow-dirty"),
            LIMIT,
        )
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The benign build's provenance, re-pointed at the hostile workspace `ws` (its source manifest
/// and digest) and signed again with the builder key: what a vendor whose build turns hostile
/// only on a rebuild would publish. Written to `<dir>/<name>/`.
fn provenance_for(scene: &Scene, benign: &Path, ws: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(benign).unwrap();
    let mut statement: Statement<Provenance> =
        Statement::from_envelope(&Envelope::parse_all(&text, "p").unwrap()[0], SLSA_PROVENANCE_V1, "p").unwrap();
    let manifest = scene.path().join(format!("{name}.sha256"));
    let printed = ok(glassbox().arg("hash").arg(ws).arg("--out").arg(&manifest));
    let digest = glassbox::digest::Sha256Digest::parse(printed.trim()).unwrap();
    let content = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&manifest).unwrap());
    let predicate = &mut statement.predicate;
    predicate.build_definition.external_parameters.source.digest.insert("sha256".into(), digest.hex());
    // Built in the sandbox at the canonical root of this source, as a real build would record.
    if let Some(sandbox) = predicate.build_definition.internal_parameters.sandbox.as_mut() {
        sandbox.build_root = Some(glassbox::sandbox::canonical_root(&digest).display().to_string());
    }
    for b in &mut predicate.run_details.byproducts {
        if b.name.as_deref() == Some("sources.sha256") {
            b.content = Some(content.clone());
            b.digest
                .insert("sha256".into(), glassbox::digest::Sha256Digest::of(&std::fs::read(&manifest).unwrap()).hex());
        }
    }
    let file = scene.path().join(name).join(format!("{TARGET}.provenance.intoto.jsonl"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let line = statement.sign(&PrivateKey::read(&scene.key).unwrap()).to_line();
    std::fs::write(&file, format!("{line}\n")).unwrap();
    file
}

/// A benign build of the fixture: its provenance, to re-point at hostile variants.
fn benign_provenance(scene: &Scene) -> PathBuf {
    let ws = scene.workspace("benign", "none");
    let out = scene.build(&ws, &scene.path().join("benign-build"));
    assert!(out.status.success(), "{}", stderr(&out));
    scene.path().join(format!("benign-build/att/hostile/0.1.0/{TARGET}.provenance.intoto.jsonl"))
}

/// `glassbox rebuild` of the hostile workspace `ws` (as a source directory) with a verdict key.
fn rebuild(scene: &Scene, provenance: &Path, ws: &Path, out: &str) -> Output {
    let (reviewer, _) = keypair(scene.path(), &format!("reviewer-{out}"));
    let mut cmd = reviewer_rebuild(scene.path(), provenance, ws, &scene.public);
    cmd.arg("--key").arg(reviewer).arg("--out").arg(scene.path().join(out));
    output_within(&mut cmd, LIMIT)
}

/// No verdict at all next to `provenance`, or only FAILED ones.
fn assert_no_passed_verdict(provenance: &Path) {
    for file in verdict_files(provenance.parent().unwrap()) {
        let text = std::fs::read_to_string(&file).unwrap();
        let payload = Envelope::parse_all(&text, "v").unwrap()[0].payload_bytes().unwrap();
        assert!(!String::from_utf8_lossy(&payload).contains("\"PASSED\""), "a PASSED verdict: {}", file.display());
    }
}

#[test]
fn r2_d7_links_planted_where_glassbox_writes_change_no_host_file() {
    let Some(scene) = Scene::new() else { return };
    let before = scene.canary_state();
    let ws = scene.workspace("plant", "plant-links");

    // build: the links in the build root are never written through; the bundles are real.
    let out = scene.build(&ws, &scene.path().join("b"));
    assert!(out.status.success(), "{}", stderr(&out));
    for bundle in [format!("hostile-0.1.0-{TARGET}.tar.gz"), "hostile-0.1.0-src.tar.gz".to_string()] {
        let path = scene.path().join("b/out").join(&bundle);
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file(), "{bundle}");
        ok(std::process::Command::new("tar").arg("-tzf").arg(&path));
    }
    assert_eq!(scene.canary_state(), before);

    // check: two builds (three when they differ), each planting the links again.
    let out = scene.check(&ws);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert_eq!(scene.canary_state(), before);

    // rebuild, with --out and a verdict key.
    let provenance = provenance_for(&scene, &benign_provenance(&scene), &ws, "plant-att");
    let out = rebuild(&scene, &provenance, &ws, "rebuilt");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert_eq!(scene.canary_state(), before);
    scene.assert_canary_leaked_nowhere();
}

#[test]
fn r2_d3_forged_artifact_messages_are_refused_naming_the_message() {
    let Some(scene) = Scene::new() else { return };
    let before = scene.canary_state();
    let canary = scene.canary.display().to_string();
    for (attack, named) in [
        ("forge-host", canary.as_str()),
        ("forge-environ", "/proc/self/environ"),
        ("forge-fd", "/proc/self/fd/0"),
        ("forge-zero", "/dev/zero"),
        ("forge-fifo", "/src/fifo"),
        ("forge-inside", "/src/Cargo.toml"),
        ("forge-target", "\"evil\""),
    ] {
        let ws = scene.workspace(attack, attack);
        let out = scene.build(&ws, &scene.path().join(format!("{attack}-build")));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{attack}: {err}");
        assert!(err.contains("cargo build message") && err.contains(named), "{attack}: {err}");
        assert!(!scene.path().join(format!("{attack}-build/out")).exists(), "{attack}");
    }
    assert_eq!(scene.canary_state(), before);

    // The same messages through check and rebuild.
    let benign = benign_provenance(&scene);
    for attack in ["forge-host", "forge-environ"] {
        let ws = scene.path().join(attack);
        let out = scene.check(&ws);
        assert_eq!(out.status.code(), Some(1), "check {attack}: {}", stderr(&out));
        let provenance = provenance_for(&scene, &benign, &ws, &format!("{attack}-att"));
        let out = rebuild(&scene, &provenance, &ws, &format!("{attack}-rebuilt"));
        assert_eq!(out.status.code(), Some(1), "rebuild {attack}: {}", stderr(&out));
        assert!(stderr(&out).contains("cargo build message"), "{}", stderr(&out));
        assert_no_passed_verdict(&provenance);
    }
    assert_eq!(scene.canary_state(), before);
    scene.assert_canary_leaked_nowhere();
}

#[test]
fn r2_d3_an_artifact_linked_to_a_host_file_is_refused() {
    let Some(scene) = Scene::new() else { return };
    let before = scene.canary_state();
    let ws = scene.workspace("linked", "link-artifact");
    let out = scene.build(&ws, &scene.path().join("b"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
    let out = scene.check(&ws);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let provenance = provenance_for(&scene, &benign_provenance(&scene), &ws, "linked-att");
    let out = rebuild(&scene, &provenance, &ws, "rebuilt");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_passed_verdict(&provenance);
    assert_eq!(scene.canary_state(), before);
    scene.assert_canary_leaked_nowhere();
}

#[test]
fn r2_d3_floods_of_cargo_output_are_bounded() {
    let Some(scene) = Scene::new() else { return };
    for (attack, said) in [("flood-line", "a line longer than"), ("flood-lines", "more than 1000000 lines")] {
        let ws = scene.workspace(attack, attack);
        let out = scene.build(&ws, &scene.path().join(format!("{attack}-build")));
        assert_eq!(out.status.code(), Some(1), "{attack}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{attack}: {}", stderr(&out));
    }
}

#[test]
fn r2_d7_outputs_inside_the_build_base_and_a_shared_base_are_refused() {
    let Some(scene) = Scene::new() else { return };
    let ws = scene.workspace("ws", "none");
    let base = scene.path().join("base");
    let base_arg = base.display().to_string();

    // An output directory where the vendor's build code runs: refused before anything is built.
    let mut cmd = build_command(&ws, &base.join("inside"), &scene.key);
    let out = output_within(cmd.args(["--allow-dirty", "--build-base", &base_arg]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("inside the build base"), "{}", stderr(&out));
    assert!(!base.join("inside/out").exists());

    // A base that others can list (as another user's /tmp/glassbox could be): refused.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = build_command(&ws, &scene.path().join("elsewhere"), &scene.key);
    let out = output_within(cmd.args(["--allow-dirty", "--build-base", &base_arg]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("mode 0700"), "{}", stderr(&out));
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = build_command(&ws, &scene.path().join("elsewhere"), &scene.key);
    let out = output_within(cmd.args(["--allow-dirty", "--build-base", &base_arg]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
}
