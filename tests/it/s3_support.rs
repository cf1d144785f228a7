//! A real S3-compatible server for the tests: Ceph's RADOS gateway (Debian's ceph 16.2.15,
//! `ceph-mon`, `ceph-osd`, `radosgw`, `ceph-common`) as a throwaway single-node cluster on
//! 127.0.0.1, and boto3 (from the test Python, `$GLASSBOX_TEST_PYTHON`) as an S3 client glassbox
//! did not write, to create buckets and to read back what glassbox stored.
//!
//! `Rgw::start()` builds the cluster in a temporary directory: one monitor, one OSD on the
//! in-memory `memstore` backend, and one gateway with the beast frontend on a free loopback
//! port. Authentication between the daemons is off (the cluster is only reachable on loopback
//! and lives as long as a test); S3 requests are signed with the keys of a user made with
//! `radosgw-admin`. Every daemon runs in the foreground (`-f`), so the harness owns its PID, and
//! every path a daemon writes (data, run dir, admin sockets, logs, crash dumps, the cluster log)
//! is inside the temporary directory. The configuration is `ceph_conf` below.
//!
//! One cluster per test, not one shared per test process: a start takes 1–2 s on an idle 2-core
//! machine (with the Paxos proposal interval cut from 1 s to 10 ms; at the default a start took
//! 15 s, each of the ~10 monitor commands the gateway issues while creating its pools waiting a
//! full second). At that cost a private cluster is simpler and isolates tests completely.
//!
//! Teardown: `Drop` SIGKILLs every daemon by its PID, reaps it and removes the temporary
//! directory. In case the test process itself is killed (so no `Drop` runs), each daemon is
//! spawned with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when the thread that
//! started it (the test's thread) ends; only the temporary directory is then left behind. An
//! `Rgw` must therefore stay on the thread that started it.
//!
//! Missing Ceph binaries or boto3 skip the caller (`start` returns `None`) unless
//! `GLASSBOX_REQUIRE_TOOLS` is set (`cargo xtask ci` sets it and installs both), where they fail
//! the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{have_tool, output_within, python_with};

/// The Ceph programs the cluster needs (`ceph` and `radosgw-admin` come from ceph-common).
const CEPH_TOOLS: [&str; 6] = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool"];

/// How long a start may take before it fails with the daemons' logs: generous, because the
/// whole test suite runs in parallel beside it.
const START_LIMIT: Duration = Duration::from_secs(180);

/// Limit for one administrative command or boto3 call (a guard against hangs, not a timing test).
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// The region the tests' S3 clients sign for; RGW's default zonegroup accepts it.
pub const REGION: &str = "us-east-1";

/// Python run before every boto3 script: an S3 client configured only from the environment
/// that [`Rgw::env`] gives to child processes (so the environment is tested too). Path-style
/// addressing, since the gateway has no DNS name; one attempt per request (no retries of 5xx
/// answers), so that every answer is seen.
const PY_CLIENT: &str = r#"
import json, os, sys
import boto3, botocore
from botocore.config import Config

s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    region_name=os.environ["AWS_REGION"],
    config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
)
"#;

/// `put_object` with extra request headers (added before signing), printing the outcome as
/// JSON: the HTTP status and the `ETag` header exactly as the server sent it.
const PY_PUT: &str = r#"
bucket, key, body_path, headers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
def add_headers(request, **_):
    for name, value in headers.items():
        request.headers[name] = value
s3.meta.events.register_first("before-sign.s3.PutObject", add_headers)
with open(body_path, "rb") as f:
    body = f.read()
try:
    r = s3.put_object(Bucket=bucket, Key=key, Body=body)
    meta = r["ResponseMetadata"]
except botocore.exceptions.ClientError as e:
    meta = e.response["ResponseMetadata"]
print(json.dumps({"status": meta["HTTPStatusCode"], "etag": meta["HTTPHeaders"].get("etag")}))
"#;

/// Copies every object under a prefix into a directory (keys relative to the prefix).
const PY_DOWNLOAD: &str = r#"
bucket, prefix, dest = sys.argv[1], sys.argv[2], sys.argv[3]
count = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for obj in page.get("Contents", []):
        key = obj["Key"]
        rel = key[len(prefix):].lstrip("/")
        if not rel or key.endswith("/"):
            continue
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            sys.exit(f"refusing to download key {key!r}: not a plain relative path")
        path = os.path.join(dest, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)
        count += 1
print(count)
"#;

/// A running single-node Ceph cluster with an S3 gateway; everything dies with it.
pub struct Rgw {
    /// `http://127.0.0.1:PORT`, the gateway.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    python: PathBuf,
    conf: PathBuf,
    /// The daemons, by name, in start order.
    daemons: Vec<(&'static str, Child)>,
    dir: tempfile::TempDir,
}

/// The outcome of [`Rgw::put_object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub status: u16,
    /// The `ETag` response header exactly as sent (RGW quotes it), if any.
    pub etag: Option<String>,
}

impl Rgw {
    /// Starts a cluster, or returns `None` (having printed why) when the Ceph binaries or boto3
    /// are missing and `GLASSBOX_REQUIRE_TOOLS` is unset. Panics, with the tails of the daemons'
    /// logs, when the cluster does not come up.
    pub fn start() -> Option<Rgw> {
        if !CEPH_TOOLS.iter().all(|tool| have_tool(tool, &["--version"])) {
            return None;
        }
        let python = python_with("boto3, botocore", "boto3")?;
        let started = Instant::now();
        let dir = tempfile::Builder::new().prefix("glassbox-rgw.").tempdir().expect("temporary directory");
        let mut rgw = Rgw {
            endpoint: String::new(),
            access_key: format!("GLASSBOX{}", random_hex(12).to_uppercase()),
            secret_key: random_hex(40),
            python,
            conf: dir.path().join("ceph.conf"),
            daemons: Vec::new(),
            dir,
        };
        rgw.boot(started);
        eprintln!("s3_support: RGW up at {} after {:.1?}", rgw.endpoint, started.elapsed());
        Some(rgw)
    }

    /// Writes the configuration, makes the monitor and the OSD, starts the three daemons and
    /// makes the S3 user. The daemons are recorded in `self` as soon as they are spawned, so a
    /// panic here still kills them (in `Drop`).
    fn boot(&mut self, started: Instant) {
        let d = self.dir.path().to_path_buf();
        for sub in ["run", "log", "crash", "mon.a", "osd.0"] {
            std::fs::create_dir_all(d.join(sub)).expect("cluster directory");
        }
        let mon_port = free_port();
        let rgw_port = free_port();
        self.endpoint = format!("http://127.0.0.1:{rgw_port}");
        let fsid = uuid();
        std::fs::write(&self.conf, ceph_conf(&d, &fsid, mon_port, rgw_port)).expect("writing ceph.conf");

        let monmap = d.join("monmap");
        self.admin(
            Command::new("monmaptool")
                .args(["--create", "--clobber", "--fsid", &fsid, "--addv", "a"])
                .args([&format!("[v1:127.0.0.1:{mon_port}]"), monmap.to_str().unwrap()]),
        );
        self.admin(self.ceph_cmd("ceph-mon").args(["-i", "a", "--mkfs", "--monmap"]).arg(&monmap));
        self.spawn("ceph-mon", self.ceph_cmd("ceph-mon").args(["-f", "-i", "a"]));

        // Registering the OSD is the first command that needs the monitor; the client retries
        // until it answers.
        let osd_uuid = uuid();
        // A monitor that has just formed its quorum may still answer EPERM ("problem getting
        // command descriptions"); `osd new` with the same uuid is idempotent, so ask again.
        let id = self.admin_retrying(|| {
            let mut cmd = self.ceph_cmd("ceph");
            cmd.args(["--connect-timeout", "120", "osd", "new", &osd_uuid]);
            cmd
        });
        let id = id.trim();
        // The OSD is placed in the CRUSH map here rather than by itself at start (see
        // `osd crush update on start` in ceph.conf).
        let osd = format!("osd.{id}");
        self.admin_retrying(|| {
            let mut cmd = self.ceph_cmd("ceph");
            cmd.args(["osd", "crush", "add", &osd, "1.0", "root=default", "host=localhost"]);
            cmd
        });
        self.admin(self.ceph_cmd("ceph-osd").args(["-i", id, "--mkfs", "--osd-uuid", &osd_uuid]));
        self.spawn("ceph-osd", self.ceph_cmd("ceph-osd").args(["-f", "-i", id]));
        // The gateway creates its pools itself; it serves once they exist (so once the OSD is up).
        self.spawn("radosgw", self.ceph_cmd("radosgw").args(["-f", "-n", "client.rgw"]));

        while !http_answers(rgw_port) {
            self.check_alive();
            if started.elapsed() > START_LIMIT {
                panic!("RGW did not answer on port {rgw_port} within {START_LIMIT:?}\n{}", self.log_tails());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.admin(self.ceph_cmd("radosgw-admin").args([
            "user",
            "create",
            "--uid",
            "glassbox-test",
            "--display-name",
            "glassbox tests",
            "--access-key",
            &self.access_key,
            "--secret-key",
            &self.secret_key,
        ]));
    }

    /// The variables that point an S3 client in a child process at this gateway.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Creates `name` with boto3.
    pub fn create_bucket(&self, name: &str) {
        self.python("s3.create_bucket(Bucket=sys.argv[1])", &[name]);
    }

    /// Copies every object whose key starts with `prefix` into `dest`, at its key with `prefix`
    /// (and a following `/`) removed; returns how many objects it copied.
    pub fn download(&self, bucket: &str, prefix: &str, dest: &Path) -> usize {
        let out = self.python(PY_DOWNLOAD, &[bucket, prefix, dest.to_str().expect("UTF-8 path")]);
        out.trim().parse().unwrap_or_else(|_| panic!("download printed {out:?}"))
    }

    /// A boto3 `put_object` of `body` at `bucket/key` with extra request `headers`; a refusal is
    /// an outcome, not a panic.
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8], headers: &[(&str, &str)]) -> Put {
        let body_file = tempfile::NamedTempFile::new_in(self.dir.path()).expect("body file");
        std::fs::write(body_file.path(), body).expect("writing body");
        let headers: serde_json::Map<String, serde_json::Value> =
            headers.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
        let headers = serde_json::Value::Object(headers).to_string();
        let out = self.python(PY_PUT, &[bucket, key, body_file.path().to_str().unwrap(), &headers]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        Put {
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok()).expect("status"),
            etag: v["etag"].as_str().map(str::to_string),
        }
    }

    /// Runs `script` after [`PY_CLIENT`] (so `s3` is a client of this gateway) with `args` as
    /// `sys.argv[1..]` and this gateway's [`env`](Self::env); returns stdout, panics on failure.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c").arg(format!("{PY_CLIENT}\n{script}")).args(args).envs(self.env());
        let out = output_within(&mut cmd, COMMAND_LIMIT);
        assert!(
            out.status.success(),
            "boto3 script failed ({}):\n{script}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A Ceph program reading our configuration.
    fn ceph_cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--conf").arg(&self.conf);
        cmd
    }

    /// Runs a short administrative command that must succeed; returns its stdout.
    /// [`Self::admin`] of the command `make` builds, tried again (up to 50 times, 200 ms apart)
    /// while it fails.
    fn admin_retrying(&self, make: impl Fn() -> Command) -> String {
        for _ in 0..50 {
            let out = output_within(&mut make(), COMMAND_LIMIT);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.admin(&mut make())
    }

    fn admin(&self, cmd: &mut Command) -> String {
        let out = output_within(cmd, COMMAND_LIMIT);
        if !out.status.success() {
            panic!(
                "{cmd:?} failed ({})\nstdout:\n{}\nstderr:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tails()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Spawns a daemon in the foreground, its output in `log/<name>.out`, set to be killed by
    /// the kernel when the spawning thread ends.
    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        let out = std::fs::File::create(self.dir.path().join("log").join(format!("{name}.out"))).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        die_with_parent(cmd);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.daemons.push((name, child));
    }

    /// Panics, with the logs, when a daemon has exited.
    fn check_alive(&mut self) {
        let dead: Vec<String> = self
            .daemons
            .iter_mut()
            .filter_map(|(name, child)| {
                child.try_wait().ok().flatten().map(|status| format!("{name} exited ({status})"))
            })
            .collect();
        if !dead.is_empty() {
            panic!("{}\n{}", dead.join(", "), self.log_tails());
        }
    }

    /// The last lines of every log in the cluster's `log/` directory.
    fn log_tails(&self) -> String {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("log"))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        logs.sort();
        let mut report = String::new();
        for log in logs {
            let text = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            report.push_str(&format!("==> {} <==\n", log.display()));
            for line in &lines[lines.len().saturating_sub(25)..] {
                report.push_str(line);
                report.push('\n');
            }
        }
        report
    }
}

impl Drop for Rgw {
    /// Kills every daemon (newest first) by its PID, reaps it, then removes the directory
    /// (`TempDir`'s own drop).
    fn drop(&mut self) {
        for (_, child) in self.daemons.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The cluster's configuration: authentication off, one replica, small pools, memstore (8 GiB,
/// allocated as written: the 1,000,000-entry bench writes about 3 GB, and a full OSD stalls
/// every write), every path under `d`, quick Paxos proposals, the gateway on `127.0.0.1:rgw_port`.
fn ceph_conf(d: &Path, fsid: &str, mon_port: u16, rgw_port: u16) -> String {
    let d = d.display();
    format!(
        "[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = {d}/run
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
crash dir = {d}/crash
mon cluster log file = default={d}/log/cluster.$channel.log cluster={d}/log/cluster.log
mon data = {d}/mon.$id
mon data avail crit = 0
mon data avail warn = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
paxos propose interval = 0.01
paxos min wait = 0.001
osd data = {d}/osd.$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# Without authentication a starting OSD can send its CRUSH commands before it has the monitor
# map, whose cluster id they carry; the monitor refuses them ('wrong fsid') and the OSD exits.
# The harness places the OSD instead.
osd crush update on start = false
osd class update on start = false
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw thread pool size = 32
"
    )
}

/// Asks the kernel to SIGKILL the child when the thread that spawns it ends, so that no daemon
/// outlives a test process that was killed before `Drop` could run.
fn die_with_parent(cmd: &mut Command) {
    use std::os::raw::{c_int, c_ulong};
    extern "C" {
        fn prctl(option: c_int, ...) -> c_int;
        fn getppid() -> c_int;
    }
    const PR_SET_PDEATHSIG: c_int = 1;
    const SIGKILL: c_ulong = 9;
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure only makes two async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before the request took effect: do not start an orphan.
            if u32::try_from(getppid()).ok() != Some(parent) {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}

/// A free TCP port on 127.0.0.1 (the kernel's pick from the ephemeral range, so it cannot clash
/// with the 6800–7300 range the OSD binds in).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("binding a free port").port()
}

/// True when something answers HTTP on `127.0.0.1:port`.
fn http_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A random UUID from the kernel.
fn uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("reading a random UUID").trim().to_string()
}

/// `len` random lowercase hex digits.
fn random_hex(len: usize) -> String {
    let mut hex = String::new();
    while hex.len() < len {
        hex.push_str(&uuid().replace('-', ""));
    }
    hex.truncate(len);
    hex
}
