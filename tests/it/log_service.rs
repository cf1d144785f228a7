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
    /// Starts the service on `listen` and waits for its `listening on` line.
    pub fn start(rgw: &Rgw, storage: &str, key: &Path, listen: &str, extra: &[&str]) -> Service {
        Service::start_env(&rgw.env(), storage, key, listen, extra)
    }

    /// [`Service::start`] with the store's environment given (none for a directory).
    pub fn start_env(env: &[(String, String)], storage: &str, key: &Path, listen: &str, extra: &[&str]) -> Service {
        let period: &[&str] = if extra.contains(&"--period") { &[] } else { &["--period", "20"] };
        let mut child = glassbox()
            .args(["log", "serve", "--storage", storage, "--listen", listen, "--key"])
            .arg(key)
            .args(period)
            .args(extra)
            .envs(env.iter().cloned())
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

    /// Kills the process; everything it printed (stdout after the first line, and stderr).
    pub fn kill_and_read(mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut all = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut all);
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut all);
        }
        all
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

pub(crate) fn independent_check(python: &Path, log: &Path, vkey: &str) -> u64 {
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
    assert_eq!(listed["entries"].as_array().unwrap().len(), 300);
    // The bucket itself, read with its credentials.
    ok(glassbox().args(["log", "verify", &storage, "--vkey", &vkey]).envs(rgw.env()));

    // The bucket's objects, copied to a directory, pass the same checks as a directory log,
    // and an independent checker's.
    let copy = dir.path().join("copy");
    assert!(rgw.download("glassbox-serve", "log", &copy) > 0);
    // The copy holds the bucket's index tiles, not a directory's index file.
    assert!(copy.join("index/000").is_file() && copy.join("index/001.p/44").is_file());
    assert!(!copy.join("envelope-index").exists());
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

    // The bucket's secret is in nothing glassbox printed or wrote: not in the service's output,
    // not in a client's, not in any object of the log.
    let printed = service.kill_and_read();
    let check = output(glassbox().args(["log", "check-store", &storage]).envs(rgw.env()));
    let mut everything = printed.into_bytes();
    everything.extend_from_slice(&check.stdout);
    everything.extend_from_slice(&check.stderr);
    for (_, bytes) in read_all(&copy) {
        everything.extend_from_slice(&bytes);
    }
    for secret in [&rgw.secret_key, &rgw.access_key] {
        assert!(!String::from_utf8_lossy(&everything).contains(secret.as_str()), "a credential leaked");
    }
}

/// A flood: with a pool of one envelope and a long period, concurrent submitters beyond the
/// queue are answered 503 with `Retry-After` at once, never queued without bound; once the
/// flood passes, every envelope gets logged.
#[test]
fn a_flood_of_submissions_gets_503_with_retry_after_not_an_unbounded_queue() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, _)) = bucket_log(dir.path(), "glassbox-flood") else { return };
    let service = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &["--pool", "1", "--period", "1500"]);
    let file = dir.path().join("flood.jsonl");
    let lines = envelopes(&file, 0, 12);
    let add = format!("{}/add", service.url);
    let answers: Vec<(u16, Option<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .iter()
            .map(|line| {
                let add = &add;
                scope.spawn(move || {
                    let r = glassbox::remote::http::post_blocking(
                        add,
                        "application/json",
                        line.clone().into_bytes(),
                        1 << 20,
                        Duration::from_secs(60),
                    )
                    .unwrap();
                    (r.status, r.retry_after)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: Vec<_> = answers.iter().filter(|(status, _)| *status == 503).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    assert!(refused.iter().all(|(_, retry)| *retry == Some(1)), "{answers:?}");
    assert!(answers.iter().all(|(status, _)| *status == 200 || *status == 503), "{answers:?}");
    // Submitted again (as `log append URL` does after Retry-After), all of them are logged.
    ok(glassbox().args(["log", "append", &service.url]).arg(&file));
    let checkpoint =
        glassbox::remote::http::get_blocking(&format!("{}/checkpoint", service.url), 1 << 16, Duration::from_secs(10))
            .unwrap();
    assert_eq!(String::from_utf8(checkpoint.body).unwrap().lines().nth(1), Some("12"));
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
    // An oversized body is refused from its Content-Length, before any of it is sent.
    assert_eq!(status_for_declared_length(&service.url, "/add", (4 << 20) + 10), 413);
    for (body, status, says) in [
        (b"not json".to_vec(), 400, "the envelope"),
        (br#"{"payload":"","payloadType":"x","signatures":[]}"#.to_vec(), 400, "payload type"),
        (b"{}\n{}".to_vec(), 400, "the envelope"),
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
    // A pretty-printed envelope is one envelope (stored canonically); the conditional header
    // must be given once, in plain decimal digits.
    let file = dir.path().join("one.jsonl");
    let line = envelopes(&file, 0, 1).remove(0);
    let pretty = serde_json::to_vec_pretty(&serde_json::from_str::<serde_json::Value>(&line).unwrap()).unwrap();
    let r = post(pretty);
    assert_eq!(r.status, 200, "{}", r.body_summary());
    for values in [&["+1"][..], &["1", "2"], &[" "]] {
        let headers: Vec<(&str, String)> = values.iter().map(|v| ("glassbox-expect-size", v.to_string())).collect();
        let r = glassbox::remote::http::post_with_headers_blocking(
            &add,
            "application/json",
            &headers,
            line.clone().into_bytes(),
            1 << 20,
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(r.status, 400, "{values:?}: {}", r.body_summary());
    }
    // A conditional submission is idempotent: sent again (its answer lost), an envelope logged
    // as exactly the expected entry gets that entry's receipt; any other expectation is 409.
    let conditional = |line: &str, expect: u64| {
        glassbox::remote::http::post_with_headers_blocking(
            &add,
            "application/json",
            &[("glassbox-expect-size", expect.to_string())],
            line.as_bytes().to_vec(),
            1 << 20,
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let second = envelopes(&dir.path().join("two.jsonl"), 1, 1).remove(0);
    for (line, expect, status, says) in [
        (&line, 0, 200, "index 0\n"),
        (&line, 1, 409, "\"size\":1"),
        (&second, 1, 200, "index 1\n"),
        (&second, 1, 200, "index 1\n"),
        (&second, 0, 409, "\"size\":2"),
    ] {
        let r = conditional(line, expect);
        assert_eq!(r.status, status, "expect {expect}: {}", r.body_summary());
        assert!(String::from_utf8_lossy(&r.body).contains(says), "expect {expect}: {}", r.body_summary());
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

/// `review sign --log URL`: the reviewer publishes the review to the log service without the
/// log key and keeps the receipt, which checks offline against the log key.
#[test]
fn a_review_is_signed_and_published_to_the_log_service_with_its_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, vkey)) = bucket_log(dir.path(), "glassbox-review") else { return };
    let service = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &[]);
    let src = dir.path().join("src");
    write_tree(&src, &[("Cargo.toml", "[package]\nname = \"x\"\nversion = \"0.1.0\"\n"), ("src/lib.rs", "")]);
    let (reviewer, _) = keypair(dir.path(), "reviewer");
    let out_file = dir.path().join("reviews/review.intoto.jsonl");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();
    let printed = ok(glassbox()
        .args(["review", "sign", "--source"])
        .arg(&src)
        .args(["--criteria", "safe-to-run", "--component", "x", "--version", "0.1.0", "--no-git", "--key"])
        .arg(&reviewer)
        .arg("--out")
        .arg(&out_file)
        .args(["--log", &service.url, "--log-vkey", &vkey]));
    assert!(printed.contains("logged as entry 0"), "{printed}");
    let receipt = std::fs::read_dir(out_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tlog-proof"))
        .expect("a receipt beside the review");
    let checked = ok(glassbox()
        .args(["log", "check-proof"])
        .arg(&receipt)
        .arg("--envelope")
        .arg(&out_file)
        .args(["--vkey", &vkey]));
    assert!(checked.contains("is entry 0"), "{checked}");
    // A directory is not a log service: refused before anything is signed.
    let out = output(
        glassbox()
            .args(["review", "sign", "--source"])
            .arg(&src)
            .args(["--criteria", "safe-to-run", "--component", "x", "--version", "0.1.0", "--no-git", "--key"])
            .arg(&reviewer)
            .arg("--out")
            .arg(dir.path().join("other.intoto.jsonl"))
            .args(["--log", "some/dir"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("other.intoto.jsonl").exists());
}
