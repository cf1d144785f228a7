//! `glassbox verify --log URL` and `glassbox log mirror`: the avscan story's log mirrored into a
//! bucket and served by `glassbox log serve`; verify reads it over HTTP and accepts, and
//! refuses once the bucket serves one altered tile. Mirroring authenticates every tile: a
//! mirror from the altered log is refused, and a mirror back into a directory verifies.

use crate::log_service::Service;
use crate::s3_support::Rgw;
use crate::support::*;
use crate::verify::scenario;

#[test]
fn verify_reads_the_log_from_the_service_and_refuses_an_altered_tile() {
    let s = scenario();
    let Some(rgw) = Rgw::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let vkey = std::fs::read_to_string(s.att.join("keys/log.vkey")).unwrap().trim().to_string();
    rgw.create_bucket("avscan-log");
    let storage = "s3://avscan-log/log";
    ok(glassbox().args(["log", "mirror"]).arg(s.att.join("log")).args([storage, "--vkey", &vkey]).envs(rgw.env()));
    // Mirroring again is harmless (everything is already there).
    ok(glassbox().args(["log", "mirror"]).arg(s.att.join("log")).args([storage, "--vkey", &vkey]).envs(rgw.env()));
    let service = Service::start(&rgw, storage, &s.keys.join("log.key"), "127.0.0.1:0", &[]);
    let url = format!("{}/", service.url);
    let verify = |log: &str| {
        output(
            glassbox()
                .arg("verify")
                .arg(&s.binary)
                .arg("--policy")
                .arg(s.att.join("policy.toml"))
                .args(["--log", log, "--json"]),
        )
    };
    let out = verify(&url);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A mirror of the served log back into a directory verifies like the original.
    let back = dir.path().join("back");
    ok(glassbox().args(["log", "mirror", &url]).arg(&back).args(["--vkey", &vkey]));
    ok(glassbox().args(["log", "audit"]).arg(&back).args(["--vkey", &vkey]));
    assert_eq!(std::fs::read(back.join("checkpoint")).unwrap(), std::fs::read(s.att.join("log/checkpoint")).unwrap());

    // One byte of one hash tile altered in the bucket: verify refuses, and so does a mirror.
    let size: u64 = std::fs::read_to_string(back.join("checkpoint")).unwrap().lines().nth(1).unwrap().parse().unwrap();
    let tile = if size >= 256 { "tile/0/000".to_string() } else { format!("tile/0/000.p/{size}") };
    let mut bytes = std::fs::read(back.join(&tile)).unwrap();
    bytes[0] ^= 1;
    assert_eq!(rgw.put_object("avscan-log", &format!("log/{tile}"), &bytes, &[]).status, 200);
    let out = verify(&url);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = dir.path().join("again");
    let out = output(glassbox().args(["log", "mirror", &url]).arg(&again).args(["--vkey", &vkey]));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!again.join("checkpoint").exists(), "a refused mirror wrote a checkpoint");
}
