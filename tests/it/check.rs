//! `glassbox check`: examples/avscan is reproducible under every variation; each fixture is not,
//! and the report names the artifact and the right cause.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Runs `glassbox check --json` on the workspace at `ws`; returns the exit code and the report.
fn check(ws: &Path, extra: &[&str]) -> (i32, Value) {
    let out =
        output(glassbox().arg("check").arg("--manifest-path").arg(ws.join("Cargo.toml")).arg("--json").args(extra));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.code().unwrap_or(-1), report)
}

fn fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join(name);
    copy_fixture(name, &ws);
    (dir, ws)
}

fn causes(report: &Value) -> Vec<(String, String)> {
    report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["artifact"].as_str().unwrap().to_string(), c["kind"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn avscan_is_reproducible_under_every_variation() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("avscan");
    copy_avscan(&ws);
    let (code, report) = check(&ws, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["reproducible"], true);
    let applied: Vec<&str> = report["variations"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        applied,
        [
            "build-root",
            "cargo-home",
            "home",
            "timezone",
            "locale",
            "umask",
            "jobs",
            "extra-env",
            "file-order",
            "time",
            "cpu-count",
            "hostname"
        ]
    );
    assert_eq!(report["notVaried"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["machines"]["second"], serde_json::json!({"cpus": 1, "hostname": "glassbox-check-varied-host"}));
    let artifacts = report["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 2);
    assert!(artifacts.iter().all(|a| a["identical"] == true));
    // The human report says what was varied: never a silent pass.
    let text = ok(glassbox()
        .arg("check")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
        .args(["--variations", "umask,timezone"]));
    assert!(text.contains("second build varied: timezone, umask") && text.contains("REPRODUCIBLE"), "{text}");
}

#[test]
fn a_build_time_is_named_as_a_timestamp() {
    let (_dir, ws) = fixture("build-time");
    let (code, report) = check(&ws, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(causes(&report), [("x86_64-unknown-linux-gnu/build-time".to_string(), "timestamp".to_string())]);
}

#[test]
fn an_embedded_manifest_dir_is_a_path_that_follows_the_build_root() {
    let (_dir, ws) = fixture("manifest-dir");
    let (code, report) = check(&ws, &["--explain"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(causes(&report), [("x86_64-unknown-linux-gnu/manifest-dir".to_string(), "path".to_string())]);
    assert_eq!(report["causes"][0]["follows"], serde_json::json!(["build-root"]));
    assert_eq!(report["canonicalRootOnly"], true);
    assert_eq!(report["repeatDiffers"], false);
    // --explain: the build root alone makes the difference; nothing else does.
    for e in report["explained"].as_array().unwrap() {
        let differs = !e["differing"].as_array().unwrap().is_empty();
        assert_eq!(differs, e["variation"] == "build-root", "{e}");
    }
}

#[test]
fn hashmap_order_is_nondeterminism_without_any_variation() {
    let (_dir, ws) = fixture("hashmap-order");
    let (code, report) = check(&ws, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["repeatDiffers"], true);
    assert_eq!(causes(&report), [("x86_64-unknown-linux-gnu/hashmap-order".to_string(), "nondeterminism".to_string())]);
}

#[test]
fn the_build_machines_cpu_count_and_host_name_are_named_as_the_build_machine() {
    let (_dir, ws) = fixture("build-machine");
    let (code, report) = check(&ws, &[]);
    assert_eq!(code, 1, "{report:#}");
    let binary = "x86_64-unknown-linux-gnu/build-machine".to_string();
    assert_eq!(causes(&report), [(binary.clone(), "build-machine".to_string())], "{report:#}");
    assert_eq!(report["causes"][0]["follows"], serde_json::json!(["cpu-count", "hostname"]), "{report:#}");
    let first = &report["machines"]["first"];
    let evidence = report["causes"][0]["evidence"].to_string();
    let seen = format!("with {} cpus", first["cpus"]);
    assert!(
        evidence.contains(&seen) && evidence.contains("built on glassbox-check-varied-host with 1 cpus"),
        "{report:#}"
    );
    // Each alone is found too, and named alone.
    let (code, report) = check(&ws, &["--variations", "hostname"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["causes"][0]["follows"], serde_json::json!(["hostname"]), "{report:#}");
    let (code, report) = check(&ws, &["--variations", "cpu-count", "--no-sandbox"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["causes"][0]["follows"], serde_json::json!(["cpu-count"]), "{report:#}");
    // Without the sandbox there is no host name of the build's own: said, not pretended.
    let (code, report) = check(&ws, &["--variations", "cpu-count,hostname", "--no-sandbox"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["variations"], serde_json::json!(["cpu-count"]), "{report:#}");
    assert_eq!(report["notVaried"][0]["variation"], "hostname", "{report:#}");
}

#[test]
fn an_unknown_variation_is_refused() {
    let (_dir, ws) = fixture("manifest-dir");
    let out = output(
        glassbox().arg("check").arg("--manifest-path").arg(ws.join("Cargo.toml")).args(["--variations", "moon-phase"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("moon-phase"));
}

#[test]
fn d_sandbox_the_varied_build_root_is_another_inside_path_whatever_the_build_base() {
    if !have_tool("bwrap", &["--version"]) {
        return;
    }
    let (dir, ws) = fixture("manifest-dir");
    let base = dir.path().join("private-build-base");
    let (code, report) = check(&ws, &["--variations", "build-root", "--build-base", &base.display().to_string()]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["causes"][0]["follows"], serde_json::json!(["build-root"]), "{report:#}");
    // The build saw its root at the sandbox's paths, never the host's build base.
    let evidence: Vec<&str> =
        report["causes"][0]["evidence"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(evidence.len(), 2, "{report:#}");
    assert!(evidence[0].contains("/tmp/glassbox/check-") && evidence[0].contains("/control/src"), "{evidence:?}");
    assert!(evidence[1].contains("/tmp/glassbox/check-") && evidence[1].contains("/varied/"), "{evidence:?}");
    assert!(!report["causes"].to_string().contains(&base.display().to_string()), "{report:#}");
}
