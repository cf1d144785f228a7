//! `glassbox log serve` against a real S3 server (Ceph RGW, see s3_support.rs): the log in a
//! bucket behind the service, submitted to over HTTP without the key, read by URL, and the
//! bucket's objects copied to a directory pass the same checks (and an independent checker in
//! Python) as a directory log. The service survives SIGKILL at random instants without losing
//! an acknowledged entry; a second server on the same bucket stops the first; a store that
//! ignores conditional writes is refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::log::{envelopes, ORIGIN};
use crate::s3_support::Rgw;
use crate::support::*;

/// A running `glassbox log serve`, killed (by PID) when dropped.
pub(crate) struct Service {
    pub child: Child,
    pub url: String,
    stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Service {
    /// Starts the service on `listen` and waits for its `listening on` line. The pool period
    /// is 20 ms unless `extra` sets `--period`.
    pub fn start(rgw: &Rgw, storage: &str, key: &Path, listen: &str, extra: &[&str]) -> Service {
        let period: &[&str] = if extra.contains(&"--period") { &[] } else { &["--period", "20"] };
        let mut child = glassbox()
            .args(["log", "serve", "--storage", storage, "--listen", listen])
            .args(period)
            .arg("--key")
            .arg(key)
            .args(extra)
            .envs(rgw.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.strip_prefix("listening on ").and_then(|l| l.split_whitespace().next()) else {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("log serve did not start: {line}{}", String::from_utf8_lossy(&out.stderr));
        };
        Service { url: addr.to_string(), child, stdout: Some(stdout) }
    }

    /// Waits for the process to end by itself; its exit code and stderr.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                return (status.code(), err);
            }
            assert!(started.elapsed() < limit, "log serve did not stop within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout = None;
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bucket log: RGW up, bucket made, log initialised; (rgw, storage URL, key, vkey).
pub(crate) fn bucket_log(dir: &Path, bucket: &str) -> Option<(Rgw, String, PathBuf, String)> {
    let rgw = Rgw::start()?;
    rgw.create_bucket(bucket);
    let (key, _) = keypair(dir, "log");
    let storage = format!("s3://{bucket}/log");
    let vkey = ok(glassbox().args(["log", "init", &storage, "--origin", ORIGIN, "--key"]).arg(&key).envs(rgw.env()));
    Some((rgw, storage, key, vkey.trim().to_string()))
}

/// Checks a log directory without glassbox: the checkpoint's Ed25519 signature (signed-note
/// format) and the RFC 6962 root of the entry bundles (tlog-tiles format), with Python's
/// `cryptography`. Prints the size.
const PY_INDEPENDENT: &str = r#"
import base64, hashlib, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
log, vkey = sys.argv[1], sys.argv[2]
name, keyhash, key = vkey.split("+", 2)
key = base64.b64decode(key)
assert key[0] == 1
note = open(os.path.join(log, "checkpoint"), "rb").read().decode()
body, sigs = note.split("\n\n", 1)
body += "\n"
ok = False
for line in sigs.splitlines():
    _, signer, sig = line.split(" ")
    sig = base64.b64decode(sig)
    if signer == name and sig[:4].hex() == keyhash:
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(sig[4:], body.encode())
        ok = True
assert ok, "no signature by the log key"
origin, size, root = body.splitlines()[:3]
size = int(size)
def path(n):
    parts = []
    while True:
        parts.append("%03d" % (n % 1000)); n //= 1000
        if n == 0: break
    parts.reverse()
    return "/".join(["x" + p for p in parts[:-1]] + [parts[-1]])
leaves = []
for b in range((size + 255) // 256):
    width = min(256, size - b * 256)
    p = os.path.join(log, "tile", "entries", path(b) + ("" if width == 256 else ".p/%d" % width))
    data = open(p, "rb").read()
    i = 0
    while i < len(data):
        n = int.from_bytes(data[i:i+2], "big")
        leaves.append(hashlib.sha256(b"\x00" + data[i+2:i+2+n]).digest())
        i += 2 + n
assert len(leaves) == size, (len(leaves), size)
def mth(hs):
    if len(hs) == 1: return hs[0]
    k = 1
    while k * 2 < len(hs): k *= 2
    return hashlib.sha256(b"\x01" + mth(hs[:k]) + mth(hs[k:])).digest()
r = mth(leaves) if leaves else hashlib.sha256(b"").digest()
assert base64.b64encode(r).decode() == root, "root mismatch"
print(size)
"#;

fn independent_check(python: &Path, log: &Path, vkey: &str) -> u64 {
    let out = ok(Command::new(python).arg("-c").arg(PY_INDEPENDENT).arg(log).arg(vkey));
    out.trim().parse().unwrap()
}

#[test]
fn the_log_service_logs_into_a_bucket_and_the_log_reads_the_same_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, vkey)) = bucket_log(dir.path(), "glassbox-serve") else { return };
    ok(glassbox().args(["log", "check-store", &storage]).envs(rgw.env()));
    let service = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &[]);
    let url = service.url.clone();

    // 300 envelopes submitted without the key; every receipt checks against the log key.
    let batch = dir.path().join("batch.jsonl");
    envelopes(&batch, 0, 300);
    let receipts = dir.path().join("receipts");
    let out = ok(glassbox()
        .args(["log", "append", &url, "--vkey", &vkey, "--json", "--receipts"])
        .arg(&receipts)
        .arg(&batch));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["added"].as_array().unwrap().len(), 300, "{out}");
    assert_eq!(std::fs::read_dir(&receipts).unwrap().count(), 300);
    // Resubmitting gets the same entries back, not new ones.
    let again: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "append", &url, "--json"]).arg(&batch))).unwrap();
    assert_eq!(again["added"], report["added"]);
    assert_eq!(again["size"], 300);

    // The same URL is the read side: verify, audit, prove, check-proof, list.
    for verb in ["verify", "audit"] {
        let out = ok(glassbox().args(["log", verb, &url, "--vkey", &vkey]));
        assert!(out.contains("size 300"), "{verb}: {out}");
    }
    // Entries are sequenced in order of arrival (16 submitters at once): find artifact 257's.
    let one = dir.path().join("one.jsonl");
    let lines = envelopes(&one, 257, 1);
    std::fs::write(&one, &lines[0]).unwrap();
    let proof = ok(glassbox().args(["log", "prove", &url, "--envelope"]).arg(&one));
    let proof_file = dir.path().join("257.tlog-proof");
    std::fs::write(&proof_file, &proof).unwrap();
    let checked = ok(glassbox()
        .args(["log", "check-proof"])
        .arg(&proof_file)
        .arg("--envelope")
        .arg(&one)
        .args(["--vkey", &vkey]));
    assert!(checked.contains("is entry "), "{checked}");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(glassbox().args(["log", "list", &url, "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 300);
    // The bucket itself, read with its credentials.
    ok(glassbox().args(["log", "verify", &storage, "--vkey", &vkey]).envs(rgw.env()));

    // The bucket's objects, copied to a directory, pass the same checks as a directory log,
    // and an independent checker's.
    let copy = dir.path().join("copy");
    assert!(rgw.download("glassbox-serve", "log", &copy) > 0);
    assert!(!copy.join(".glassbox/lock").exists() || copy.join("checkpoint").is_file());
    for verb in ["verify", "audit"] {
        ok(glassbox().args(["log", verb]).arg(&copy).args(["--vkey", &vkey]));
    }
    let python = python_with("cryptography", "cryptography").expect("python with cryptography");
    assert_eq!(independent_check(&python, &copy, &vkey), 300);
    // Proofs from the copy's index find envelopes as in the bucket.
    let found = ok(glassbox().args(["log", "prove"]).arg(&copy).arg("--envelope").arg(&one));
    assert_eq!(found, proof);

    // A tile altered in the bucket is caught by readers of the URL (exit 1).
    let tile = std::fs::read(copy.join("tile/0/000")).unwrap();
    let mut bad = tile.clone();
    bad[5] ^= 1;
    assert_eq!(rgw.put_object("glassbox-serve", "log/tile/0/000", &bad, &[]).status, 200);
    let out = output(glassbox().args(["log", "verify", &url, "--vkey", &vkey]));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    drop(service);
}

/// Bad requests get a 4xx JSON error naming the fault; the lock object is not served.
#[test]
fn the_log_service_refuses_bad_submissions_with_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, _)) = bucket_log(dir.path(), "glassbox-refusals") else { return };
    let service = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &[]);
    let add = format!("{}/add", service.url);
    let post = |body: Vec<u8>| {
        glassbox::remote::http::post_blocking(&add, "application/json", body, 1 << 20, Duration::from_secs(30)).unwrap()
    };
    // An oversized body is refused from its Content-Length, before it is read: the server
    // answers 413 and closes, so the client may see the answer or only the closed connection.
    match glassbox::remote::http::post_blocking(
        &add,
        "application/json",
        vec![b'x'; (4 << 20) + 10],
        1 << 20,
        Duration::from_secs(30),
    ) {
        Ok(r) => assert_eq!(r.status, 413, "{}", r.body_summary()),
        Err(e) => assert!(e.to_string().contains("request failed"), "{e}"),
    }
    for (body, status, says) in [
        (b"not json".to_vec(), 400, "the envelope"),
        (br#"{"payload":"","payloadType":"x","signatures":[]}"#.to_vec(), 400, "payload type"),
        (b"{}\n{}".to_vec(), 400, "one DSSE envelope"),
    ] {
        let r = post(body);
        assert_eq!(r.status, status, "{}", r.body_summary());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            v["error"]["reason"].as_str().unwrap().contains(says)
                || v["error"]["what"].as_str().unwrap().contains(says),
            "{v}"
        );
    }
    for path in [".glassbox/lock", "tile/../.glassbox/lock", "secret"] {
        let r =
            glassbox::remote::http::get_blocking(&format!("{}/{path}", service.url), 1 << 20, Duration::from_secs(10))
                .unwrap();
        assert_eq!(r.status, 404, "{path}");
    }
    let r =
        glassbox::remote::http::get_blocking(&format!("{}/checkpoint", service.url), 1 << 20, Duration::from_secs(10))
            .unwrap();
    assert_eq!(r.status, 200);
}
