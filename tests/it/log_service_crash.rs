//! The log service under failure: SIGKILLed at random instants while submitters keep
//! submitting, it never loses an entry it acknowledged nor logs one twice; a second server on
//! the same bucket stops the one that loses the compare-and-swap, losing nothing acknowledged;
//! a store that ignores conditional writes is refused before anything is written. The same
//! kills with the log in a directory.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glassbox::digest::Sha256Digest;
use glassbox::remote::{Location, StoreSettings};
use glassbox::transparency::audit::{committed_entries, WitnessPolicy};
use glassbox::transparency::submit::{submit, SubmitOptions};
use glassbox::transparency::{LogDir, LogEntry, Loggable};

use crate::log::{envelopes, ORIGIN};
use crate::log_service::{bucket_log, Service};
use crate::support::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the service on a fixed address, retrying while the old process's port (or a
/// directory's lock) is released.
fn start_on(env: &[(String, String)], storage: &str, key: &Path, addr: &str) -> Service {
    let started = Instant::now();
    loop {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Service::start_env(env, storage, key, addr, &[])));
        match result {
            Ok(service) => return service,
            Err(e) if started.elapsed() > Duration::from_secs(60) => std::panic::resume_unwind(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Every (envelope digest → index) of the log at `url`, failing on an envelope logged twice.
fn logged(url: &str) -> HashMap<Sha256Digest, u64> {
    let log = LogDir::open(&Location::parse(url).unwrap(), &StoreSettings::default()).unwrap();
    let (_, entries) = committed_entries(&log).unwrap();
    let mut seen = HashMap::new();
    for (i, bytes) in entries.iter().enumerate() {
        let digest = LogEntry::parse(bytes, "entry").unwrap().envelope_digest().unwrap();
        assert!(seen.insert(digest, i as u64).is_none(), "envelope {} logged twice", digest.prefixed());
    }
    seen
}

#[test]
fn the_log_service_loses_no_acknowledged_entry_under_50_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, vkey)) = bucket_log(dir.path(), "glassbox-kills") else { return };
    survives_kills(dir.path(), &rgw.env(), &storage, &key, &vkey, 50);
}

/// The same with the log in a directory (`--storage DIR`), whose writes are fsynced files and
/// whose compare-and-swap rests on the directory lock the service holds.
#[test]
fn a_directory_served_log_loses_no_acknowledged_entry_under_20_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "log");
    let log = dir.path().join("log");
    let vkey = ok(glassbox().args(["log", "init"]).arg(&log).args(["--origin", ORIGIN, "--key"]).arg(&key));
    survives_kills(dir.path(), &[], log.to_str().unwrap(), &key, vkey.trim(), 20);
    // Every kill left the directory a log that verifies on its own, with no index file.
    ok(glassbox().args(["log", "verify"]).arg(&log).args(["--vkey", vkey.trim()]));
    assert!(!log.join("envelope-index").exists());
}

/// Submits 160 envelopes from 4 threads while the service at `storage` is SIGKILLed `kills`
/// times at pseudo-random instants, then checks every acknowledged entry is logged, once, at
/// the index its receipt gave.
fn survives_kills(dir: &Path, env: &[(String, String)], storage: &str, key: &Path, vkey: &str, kills: usize) {
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let file = dir.join("all.jsonl");
    let lines = envelopes(&file, 0, 160);
    let acknowledged: Arc<Mutex<Vec<(Sha256Digest, u64)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let submitters: Vec<_> = lines
        .chunks(40)
        .map(|chunk| {
            let chunk: Vec<String> = chunk.to_vec();
            let (url, acknowledged, done) = (url.clone(), acknowledged.clone(), done.clone());
            std::thread::spawn(move || {
                let witnesses = WitnessPolicy::default();
                let options = SubmitOptions {
                    log_key: None,
                    witnesses: &witnesses,
                    retries: 0,
                    timeout: Duration::from_secs(10),
                };
                for line in chunk {
                    let item = Loggable::from_line(&line, "envelope").unwrap();
                    // Until acknowledged (a refused or cut-off submission is simply retried).
                    while !done.load(Ordering::Relaxed) {
                        if let Ok(s) = submit(&url, &item, &options) {
                            acknowledged.lock().unwrap().push((s.envelope, s.index));
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();
    // 50 kills at pseudo-random instants (a fixed seed: the run can be repeated).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..kills {
        let mut service = start_on(env, storage, key, &addr);
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(seed >> 56));
        service.kill();
    }
    let service = start_on(env, storage, key, &addr);
    let deadline = Instant::now() + Duration::from_secs(300);
    while acknowledged.lock().unwrap().len() < lines.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    for s in submitters {
        s.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), lines.len(), "every envelope is acknowledged once the service stays up");
    let log = logged(&url);
    for (digest, index) in &acknowledged {
        assert_eq!(log.get(digest), Some(index), "acknowledged {} at {index}", digest.prefixed());
    }
    for verb in ["verify", "audit"] {
        ok(glassbox().args(["log", verb, &url, "--vkey", vkey]));
    }
    drop(service);
}

#[test]
fn a_second_server_on_the_bucket_stops_the_first_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rgw, storage, key, vkey)) = bucket_log(dir.path(), "glassbox-two") else { return };
    let first = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &[]);
    let a = dir.path().join("a.jsonl");
    envelopes(&a, 0, 10);
    ok(glassbox().args(["log", "append", &first.url, "--vkey", &vkey]).arg(&a));
    let second = Service::start(&rgw, &storage, &key, "127.0.0.1:0", &[]);
    let b = dir.path().join("b.jsonl");
    envelopes(&b, 10, 5);
    ok(glassbox().args(["log", "append", &second.url, "--vkey", &vkey]).arg(&b));
    // The first server's next commit loses the compare-and-swap: the submission is refused and
    // the server stops, naming the checkpoint the other writer committed.
    let c = dir.path().join("c.jsonl");
    envelopes(&c, 15, 1);
    let out = output(glassbox().args(["log", "append", &first.url]).arg(&c));
    assert_ne!(out.status.code(), Some(0));
    let (code, stderr) = first.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("another writer committed to this log") && stderr.contains("size 15"), "{stderr}");
    // The survivor keeps writing; all 16 envelopes end up logged once.
    ok(glassbox().args(["log", "append", &second.url]).arg(&c));
    let log = logged(&second.url);
    assert_eq!(log.len(), 16);
    ok(glassbox().args(["log", "audit", &second.url, "--vkey", &vkey]));
}

/// An S3 double that ignores `If-None-Match` and `If-Match` (and credentials), as some S3
/// clones silently do: the conformance check must refuse it.
const PY_CARELESS_S3: &str = r#"
import hashlib, sys, time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
objects = {}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body=b"", etag=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", formatdate(time.time(), usegmt=True))
        if etag: self.send_header("ETag", '"%s"' % etag)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        objects[self.path] = body
        self.send(200, etag=hashlib.md5(body).hexdigest())
    def do_GET(self):
        if self.path not in objects: return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>")
        body = objects[self.path]
        self.send(200, body, hashlib.md5(body).hexdigest())
    do_HEAD = do_GET
    def do_DELETE(self):
        objects.pop(self.path, None)
        self.send(204)
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn check_store_refuses_a_store_that_ignores_conditional_writes() {
    let mut child =
        Command::new("python3").arg("-c").arg(PY_CARELESS_S3).stdout(Stdio::piped()).spawn().expect("python3");
    let mut port = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut port).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    let env = [
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "y"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let out = output(glassbox().args(["log", "check-store", "s3://careless/log"]).envs(env));
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "log");
    // `log init` needs no conditions to succeed here, but `log serve` checks the store first.
    let init =
        output(glassbox().args(["log", "init", "s3://careless/log", "--origin", ORIGIN, "--key"]).arg(&key).envs(env));
    let serve = output(
        glassbox()
            .args(["log", "serve", "--storage", "s3://careless/log", "--listen", "127.0.0.1:0", "--key"])
            .arg(&key)
            .envs(env),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not honour create-only writes"), "{stderr}");
    assert!(!stderr.contains("AWS_SECRET") && !stderr.contains(" y "), "{stderr}");
    assert_eq!(init.status.code(), Some(0), "{}", String::from_utf8_lossy(&init.stderr));
    assert_eq!(serve.status.code(), Some(2), "{}", String::from_utf8_lossy(&serve.stderr));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("does not honour"));
}
