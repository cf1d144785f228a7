//! The CI workflows in `.github/workflows/`: valid against the published GitHub workflow schema
//! (check-jsonschema from PyPI, as `cargo xtask ci` installs it), running the release tasks, in
//! the build environment the published release's provenance records.

use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox::attest::provenance::Provenance;
use glassbox::attest::{Envelope, Statement, SLSA_PROVENANCE_V1};
use serde_json::Value;

use crate::support::{python_with, repo};

fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn check_jsonschema(python: &Path, files: &[PathBuf]) -> std::process::Output {
    Command::new(python)
        .args(["-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn workflows_validate_against_the_published_schema() {
    let Some(python) = python_with("check_jsonschema", "check-jsonschema") else { return };
    let files = workflow_files();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["ci.yml", "rebuild.yml", "release.yml"]);
    let out = check_jsonschema(&python, &files);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // The validator does reject a broken workflow: a job without `runs-on`.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("release.yml");
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    assert!(text.contains("    runs-on: "));
    std::fs::write(&broken, text.replace("    runs-on: ", "    run-on: ")).unwrap();
    let out = check_jsonschema(&python, &[broken]);
    assert!(!out.status.success(), "a job without runs-on passed validation");
    assert!(String::from_utf8_lossy(&out.stdout).contains("runs-on"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Every workflow as JSON (ruamel.yaml comes with check-jsonschema; it reads `on:` as a string).
fn workflows_as_json(python: &Path) -> Value {
    let script = "import json, sys\nfrom ruamel.yaml import YAML\n\
                  print(json.dumps({p.rsplit('/', 1)[-1]: YAML(typ='safe').load(open(p)) for p in sys.argv[1:]}))";
    let out = Command::new(python).args(["-c", script]).args(workflow_files()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `run` scripts of every step of every job of a workflow, joined.
fn scripts(workflow: &Value) -> String {
    let mut all = String::new();
    for job in workflow["jobs"].as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            all.push_str(step["run"].as_str().unwrap_or_default());
            all.push('\n');
        }
    }
    all
}

/// The rustc release and the linker's version the newest published glassbox provenance records.
fn published_toolchain() -> (String, String) {
    let dir = repo().join("attestations/glassbox");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    // Newest last, numerically (1.10.0 after 1.9.0).
    let numbers = |p: &PathBuf| -> Vec<u64> {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.split(['.', '-']).map(|n| n.parse().unwrap_or(0)).collect()
    };
    versions.sort_by_key(numbers);
    let provenance = std::fs::read_dir(versions.last().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".provenance.intoto.jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&provenance).unwrap();
    let envelope = &Envelope::parse_all(&text, "provenance").unwrap()[0];
    let statement = Statement::<Provenance>::from_envelope(envelope, SLSA_PROVENANCE_V1, "provenance").unwrap();
    let deps = &statement.predicate.build_definition.resolved_dependencies;
    let annotation = |name: &str, key: &str| {
        let dep = deps.iter().find(|d| d.name.as_deref() == Some(name)).unwrap();
        dep.annotations[key].as_str().unwrap().to_string()
    };
    (annotation("rustc", "release"), annotation("linker", "version"))
}

#[test]
fn the_workflows_run_the_release_tasks_in_the_recorded_environment() {
    let Some(python) = python_with("check_jsonschema, ruamel.yaml", "check-jsonschema") else { return };
    let all = workflows_as_json(&python);

    let release = &all["release.yml"];
    assert_eq!(release["on"]["push"]["tags"], serde_json::json!(["v*"]));
    let script = scripts(release);
    for needed in ["cargo xtask dist", "GLASSBOX_KEY=", "GLASSBOX_LOG_KEY=", "gh release create", "git push origin"] {
        assert!(script.contains(needed), "release.yml does not run {needed:?}");
    }

    let rebuild = &all["rebuild.yml"];
    assert!(!rebuild["on"]["schedule"].as_array().unwrap().is_empty(), "rebuild.yml has no schedule");
    assert!(scripts(rebuild).contains("cargo xtask rebuild --release"));
    let steps = rebuild["jobs"]["rebuild"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["if"] == "failure()"), "rebuild.yml does not report a failure");

    assert!(scripts(&all["ci.yml"]).contains(".ci/run"));
    // Builds run in bubblewrap: the jobs that build install it (`cargo xtask ci` installs it
    // itself), and every container may create the sandbox's namespaces.
    for name in ["release.yml", "rebuild.yml"] {
        assert!(scripts(&all[name]).contains("install -y -qq --no-install-recommends bubblewrap"), "{name}");
    }

    // Every job runs in the environment the release was built in: that rustc, and Debian 12
    // (bookworm), whose cc the provenance names as the linker.
    let (rustc, linker) = published_toolchain();
    assert!(linker.contains("Debian 12."), "the release was linked by {linker:?}: update the containers");
    for (name, workflow) in all.as_object().unwrap() {
        for (job, body) in workflow["jobs"].as_object().unwrap() {
            assert_eq!(body["container"]["image"], format!("rust:{rustc}-bookworm"), "{name} job {job}");
            assert_eq!(body["container"]["options"], "--privileged", "{name} job {job}: bwrap needs namespaces");
        }
    }
}
