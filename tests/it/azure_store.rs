//! The log service on Azure Blob Storage, against Azurite (Microsoft's emulator, from npm;
//! `cargo xtask ci` installs it under `target/browser`), started on a free port and killed by
//! PID: the store passes `check-store`, a log is created, served, grown and read in
//! `az://CONTAINER/PREFIX`, Python's `azure-storage-blob` reads the same checkpoint, and a
//! second server on the container stops the first, whose compare-and-swap (Azure's quoted
//! ETags) loses.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::log::{envelopes, ORIGIN};
use crate::log_service::Service;
use crate::support::*;

/// Azurite's well-known development account and key (public: they are in Azure's docs).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service, killed (by PID) when dropped.
struct Azurite {
    child: Child,
    url: String,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Starts Azurite in memory on a free port; `None` (a skip) without node or Azurite, which
    /// is a failure under `cargo xtask ci`.
    fn start() -> Option<Azurite> {
        let modules = std::env::var_os("GLASSBOX_TEST_NODE_MODULES")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/browser/node_modules"));
        let main = modules.join("azurite/dist/src/blob/main.js");
        if !have_tool("node", &["--version"]) {
            return None;
        }
        if !main.is_file() {
            assert!(std::env::var_os("GLASSBOX_REQUIRE_TOOLS").is_none(), "Azurite is required under cargo xtask ci");
            eprintln!("SKIPPED: Azurite is not installed in {} (run cargo xtask ci)", modules.display());
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("node")
            .arg(&main)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let azurite = Azurite { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "Azurite did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(azurite)
    }

    /// What glassbox (through object_store's emulator mode) needs to reach it.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR".into(), "true".into()),
            ("AZURITE_BLOB_STORAGE_URL".into(), self.url.clone()),
        ]
    }

    /// Runs `script` with Python's azure-storage-blob, given `client` (a BlobServiceClient)
    /// and `args`; its stdout.
    fn python(&self, script: &str, args: &[&str]) -> String {
        let python = python_with("azure.storage.blob", "azure-storage-blob").expect("azure-storage-blob");
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={}/{ACCOUNT};",
            self.url
        );
        let prelude = "import sys\nfrom azure.storage.blob import BlobServiceClient\nclient = BlobServiceClient.from_connection_string(sys.argv[1])\n";
        ok(Command::new(python).arg("-c").arg(format!("{prelude}{script}")).arg(connection).args(args))
    }
}

#[test]
fn the_log_service_keeps_a_log_in_azure_blob_storage() {
    let Some(azurite) = Azurite::start() else { return };
    azurite.python("client.create_container(sys.argv[2])", &["logs"]);
    let dir = tempfile::tempdir().unwrap();
    let env = azurite.env();
    let storage = "az://logs/prod";
    assert!(ok(glassbox().args(["log", "check-store", storage]).envs(env.clone())).contains("are honoured"));
    let (key, _) = keypair(dir.path(), "log");
    let vkey = ok(glassbox().args(["log", "init", storage, "--origin", ORIGIN, "--key"]).arg(&key).envs(env.clone()));
    let vkey = vkey.trim();

    let first = Service::start_env(&env, storage, &key, "127.0.0.1:0", &[]);
    let batch = dir.path().join("batch.jsonl");
    envelopes(&batch, 0, 300);
    let report: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "append", &first.url, "--vkey", vkey, "--json"]).arg(&batch)))
            .unwrap();
    assert_eq!(report["size"], 300, "{report}");
    for location in [storage, first.url.as_str()] {
        let out = ok(glassbox().args(["log", "audit", location, "--vkey", vkey]).envs(env.clone()));
        assert!(out.contains("size 300"), "{location}: {out}");
    }
    // Azure's own client reads the checkpoint the service published, and the index tiles.
    let listed = azurite.python(
        "c = client.get_container_client('logs')\nprint(c.download_blob('prod/checkpoint').readall().decode())\nprint(sorted(b.name for b in c.list_blobs(name_starts_with='prod/index/')))",
        &[],
    );
    assert!(listed.starts_with(&format!("{ORIGIN}\n300\n")), "{listed}");
    assert!(listed.contains("'prod/index/000'") && listed.contains("'prod/index/001.p/44'"), "{listed}");

    // A second server takes the container over; the first loses its next compare-and-swap
    // (conditional on Azure's quoted ETag) and stops, naming the other's checkpoint.
    let second = Service::start_env(&env, storage, &key, "127.0.0.1:0", &[]);
    let more = dir.path().join("more.jsonl");
    envelopes(&more, 300, 5);
    ok(glassbox().args(["log", "append", &second.url]).arg(&more));
    let last = dir.path().join("last.jsonl");
    envelopes(&last, 305, 1);
    assert_ne!(output(glassbox().args(["log", "append", &first.url]).arg(&last)).status.code(), Some(0));
    let (code, stderr) = first.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("another writer committed to this log") && stderr.contains("size 305"), "{stderr}");
    ok(glassbox().args(["log", "append", &second.url]).arg(&last));
    assert!(ok(glassbox().args(["log", "verify", storage, "--vkey", vkey]).envs(env)).contains("size 306"));
}
