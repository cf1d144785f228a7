//! The transparency site against the log service: the site's log mirrored into a bucket
//! (`glassbox log mirror`, which authenticates every tile on the way), served by `glassbox log
//! serve` with a real witness, and the pages, generated with `--log-url` pointing at the
//! service, verify every row in Chromium from what the service serves out of the bucket.

use crate::log_service::Service;
use crate::s3_support::Rgw;
use crate::site_browser::{assert_rows, records, site, visit, Visit};
use crate::support::*;
use crate::witness_service::{serve_as, Setup};

#[test]
fn the_site_verifies_in_chromium_against_the_log_served_from_the_bucket() {
    let Some(site) = site() else { return };
    let Some(rgw) = Rgw::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let att = &site.attestations;
    let vkey = std::fs::read_to_string(att.join("keys/log.vkey")).unwrap().trim().to_string();
    let origin = vkey.split('+').next().unwrap().to_string();
    rgw.create_bucket("site-log");
    let storage = "s3://site-log/log";
    let copied =
        ok(glassbox().args(["log", "mirror"]).arg(att.join("log")).args([storage, "--vkey", &vkey]).envs(rgw.env()));
    assert!(copied.contains("mirrored"), "{copied}");

    // The policy's witness, now a service with a fresh state, cosigns what the service publishes.
    let witness_vkey = std::fs::read_to_string(att.join("keys/witness.vkey")).unwrap();
    let name = witness_vkey.split('+').next().unwrap().to_string();
    let ws = Setup {
        dir: dir.path().to_path_buf(),
        key: site.witness_key.clone(),
        public: dir.path().join("unused.pub"),
        state: dir.path().join("witness.db"),
    };
    let witness = serve_as(&ws, &name, &[format!("{origin}={vkey}")]);
    let peer = format!("{}={}", witness.url, witness_vkey.trim());
    let service =
        Service::start(&rgw, storage, &site.log_key, "127.0.0.1:0", &["--witness", &peer, "--witness-threshold", "1"]);

    let out = dir.path().join("site");
    ok(glassbox()
        .arg("site")
        .arg("--attestations")
        .arg(att)
        .arg("--log")
        .arg(format!("{}/", service.url))
        .arg("--log-url")
        .arg(format!("{}/", service.url))
        .arg("--policy")
        .arg(att.join("policy.toml"))
        .arg("--out")
        .arg(&out));
    assert!(!out.join("log").exists());
    for page in ["index.html", site.avscan_page.as_str()] {
        let seen = visit(&out, page, Visit::default());
        assert_eq!(seen["banner"]["state"], "verified", "{page}: {:#}", seen["banner"]);
        assert_rows(&seen, &records(&out, page), &|_| false, "");
    }
}
