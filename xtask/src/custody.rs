//! `cargo xtask custody`: the whole sample custody story (docs/custody.md) in one command, on
//! generated sample files with development keys, under `target/glassbox/custody/` (emptied
//! first): `keys/` (every role's key, mode 0600, the log's verifier key and the destination's
//! age identity `keys/destination.agekey`), `policy.toml`, `log/`, `store/`, 200 files in
//! `incoming/` taken in as one logged batch with a receipt each in `receipts/`, the policy's
//! statement `policy.intoto.jsonl` (signed by the center key, appended by the log's operator
//! before the first request), requests and
//! decisions in `requests/` (one approved by both groups, one denied, one break-glass approved
//! post hoc, one approved normally), the releases in `out/` (checked to decrypt to the original
//! bytes), then `sample audit` of the log and `sample lookup` for a released and an unreleased
//! sample. Every step runs the glassbox binary, as an operator would. The roles' keys stay
//! apart: requesters and approvers only sign, the log's operator appends (`log append`), and
//! a witness (`keys/witness.key`) cosigns the checkpoint before the gateway judges.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::util::{describe, glassbox_binary, repo_root};

const ORIGIN: &str = "custody.glassbox.dev/dev-log";
const SAMPLES: usize = 200;
const DESTINATION: &str = "hq-lab";
const WITNESS: &str = "witness.custody.glassbox.dev";
const REQUESTERS: [(&str, &str, &str); 2] =
    [("analyst", "malware-analyst", "CH"), ("support", "support-engineer", "DE")];
const APPROVERS: [(&str, [&str; 2], bool); 2] =
    [("vendor-security", ["sec1", "sec2"], false), ("outside-auditor", ["auditor1", "auditor2"], true)];

struct Story {
    glassbox: PathBuf,
    dir: PathBuf,
}

impl Story {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Runs glassbox in the story's directory; fails unless it exits `expect`. Returns stdout.
    fn run(&self, args: &[&str], expect: i32) -> Result<String> {
        let mut cmd = Command::new(&self.glassbox);
        cmd.current_dir(&self.dir).args(args);
        println!("$ glassbox {}", args.join(" "));
        let out = cmd.output().with_context(|| format!("cannot run `{}`", describe(&cmd)))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() != Some(expect) {
            bail!(
                "`{}` exited with {} (expected {expect}):\n{stdout}{}",
                describe(&cmd),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if expect != 0 {
            print!("{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(stdout)
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.run(&args, 0)?;
        serde_json::from_str(&out).with_context(|| format!("glassbox {} printed no JSON", args.join(" ")))
    }

    fn log_args<'a>(&self, mut args: Vec<&'a str>) -> Vec<&'a str> {
        args.extend(["--log", "log", "--log-key", "keys/log.key"]);
        args
    }

    /// The log's operator appends a signed envelope file (no requester or approver holds the
    /// log's key).
    fn operator_appends(&self, file: &str) -> Result<()> {
        self.run(&["log", "append", "log", "--key", "keys/log.key", file], 0).map(drop)
    }

    /// The witness cosigns the log's checkpoint (consistent with the last one it cosigned).
    fn witness_cosigns(&self) -> Result<()> {
        let args = [
            "log",
            "cosign",
            "log/checkpoint",
            "--key",
            "keys/witness.key",
            "--name",
            WITNESS,
            "--state",
            "witness.state",
            "--log-vkey",
            "keys/log.vkey",
            "--log",
            "log",
        ];
        self.run(&args, 0).map(drop)
    }

    /// Signs a request for `commitment`, which the log's operator appends; returns the request
    /// file (relative).
    fn request(
        &self,
        label: &str,
        commitment: &str,
        key: &str,
        reason: &str,
        recipient: &str,
        glass: bool,
    ) -> Result<String> {
        let out = format!("requests/{label}.intoto.jsonl");
        let key = format!("keys/{key}.key");
        let detail = format!("development story: {label}");
        let mut args = vec![
            "sample",
            "request",
            "--store",
            "store",
            "--policy",
            "policy.toml",
            "--sample",
            commitment,
            "--reason",
            reason,
            "--detail",
            &detail,
            "--destination",
            DESTINATION,
            "--recipient",
            recipient,
            "--key",
            &key,
            "--out",
            &out,
        ];
        if glass {
            args.push("--break-glass");
        }
        args.extend(["--log", "log"]);
        self.run(&args, 0)?;
        self.operator_appends(&out)?;
        Ok(out)
    }

    fn decide(&self, request: &str, key: &str, decision: &[&str]) -> Result<()> {
        let label = Path::new(request).file_name().and_then(|n| n.to_str()).unwrap_or("request");
        let out = format!("requests/{}-{key}.decision.intoto.jsonl", label.trim_end_matches(".intoto.jsonl"));
        let key = format!("keys/{key}.key");
        let mut args = vec!["sample", "decide", request];
        args.extend(decision);
        args.extend(["--key", &key, "--policy", "policy.toml", "--out", &out, "--log", "log"]);
        self.run(&args, 0)?;
        self.operator_appends(&out)
    }

    /// The gateway, under the checkpoint the witness has just cosigned.
    fn release(&self, request: &str, expect: i32) -> Result<String> {
        self.witness_cosigns()?;
        let args = vec![
            "sample",
            "release",
            request,
            "--store",
            "store",
            "--policy",
            "policy.toml",
            "--key",
            "keys/gateway.key",
            "--out",
            "out",
        ];
        self.run(&self.log_args(args), expect)
    }
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    if let Some(arg) = args.first() {
        bail!("cargo xtask custody takes no arguments (got {arg:?})");
    }
    let story = Story { glassbox: glassbox_binary(false)?, dir: repo_root().join("target/glassbox/custody") };
    if story.dir.exists() {
        fs::remove_dir_all(&story.dir).with_context(|| format!("removing {}", story.dir.display()))?;
    }
    for sub in ["keys", "incoming", "requests", "out"] {
        fs::create_dir_all(story.path(sub)).with_context(|| format!("creating {sub}"))?;
    }

    println!("== keys, log and policy");
    let names = ["center", "gateway", "log", "witness"]
        .into_iter()
        .chain(REQUESTERS.iter().map(|r| r.0))
        .chain(APPROVERS.iter().flat_map(|g| g.1));
    for name in names {
        story.run(&["key", "generate", "--out", &format!("keys/{name}")], 0)?;
        let key = story.path(&format!("keys/{name}.key"));
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).with_context(|| key.display().to_string())?;
    }
    let vkey = story.run(&["log", "init", "log", "--origin", ORIGIN, "--key", "keys/log.key"], 0)?;
    fs::write(story.path("keys/log.vkey"), vkey.trim().to_string() + "\n").context("writing keys/log.vkey")?;
    let witness = story.run(&["log", "witness-key", "--key", "keys/witness.pub", "--name", WITNESS], 0)?;
    fs::write(story.path("keys/witness.vkey"), witness.trim().to_string() + "\n")
        .context("writing keys/witness.vkey")?;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    {
        use age::secrecy::ExposeSecret;
        let path = story.path("keys/destination.agekey");
        let text =
            format!("# the destination's age identity (development only)\n{}\n", identity.to_string().expose_secret());
        glassbox::fs::write_atomic(&path, text.as_bytes(), 0o600)?;
    }
    fs::write(story.path("policy.toml"), policy()).context("writing policy.toml")?;

    println!("\n== intake of {SAMPLES} samples");
    let mut originals = Vec::new();
    for i in 0..SAMPLES {
        let mut bytes = format!("development sample {i}: a file a customer's scanner found suspicious\n").into_bytes();
        bytes.resize(4096 + 37 * i, (i % 251) as u8);
        let rel = format!("incoming/sample-{i:03}.bin");
        fs::write(story.path(&rel), &bytes).with_context(|| rel.clone())?;
        originals.push((rel, bytes));
    }
    let list: String = originals.iter().map(|(rel, _)| format!("{rel}\n")).collect();
    fs::write(story.path("incoming.list"), list).context("writing incoming.list")?;
    let intake = story.json(&story.log_args(vec![
        "sample",
        "intake",
        "--store",
        "store",
        "--key",
        "keys/center.key",
        "--from-list",
        "incoming.list",
        "--receipts",
        "receipts",
    ]))?;
    ensure!(intake["count"] == SAMPLES, "intake took in {} samples", intake["count"]);
    // The report writes `sha256:<hex>`; a receipt is named by the bare hex.
    let commitment = |i: usize| {
        let text = intake["samples"][i]["commitment"].as_str().unwrap_or_default();
        text.strip_prefix("sha256:").unwrap_or(text).to_string()
    };
    println!(
        "batch {} in the log at index {}, {SAMPLES} receipts in receipts/",
        intake["batchId"].as_str().unwrap_or("?"),
        intake["logIndex"]
    );

    println!("\n== the policy, published before the first request");
    // The center signs the policy statement; the log's operator appends it.
    let published = story.json(&[
        "sample",
        "policy",
        "--policy",
        "policy.toml",
        "--key",
        "keys/center.key",
        "--out",
        "policy.intoto.jsonl",
    ])?;
    story.run(&["log", "append", "log", "--key", "keys/log.key", "policy.intoto.jsonl"], 0)?;
    println!("policy {} in the log", published["policy"].as_str().unwrap_or("?"));

    println!("\n== requests and decisions");
    // Approved by one of each group, then released.
    let approved = story.request("approved", &commitment(0), "analyst", "anomaly-manual-review", &recipient, false)?;
    story.decide(&approved, "sec1", &["--approve"])?;
    story.decide(&approved, "auditor1", &["--approve"])?;
    // Denied by the vendor's security team: never released.
    let denied = story.request("denied", &commitment(1), "support", "customer-support", &recipient, false)?;
    story.decide(&denied, "auditor2", &["--approve"])?;
    story.decide(&denied, "sec2", &["--deny", "--why", "the customer did not consent to a transfer"])?;
    // Break-glass: released on the vendor's approval alone, approved post hoc by an auditor.
    let glass = story.request("break-glass", &commitment(2), "analyst", "detection-quality", &recipient, true)?;
    story.decide(&glass, "sec2", &["--approve"])?;
    // Approved normally by the other keys of each group.
    let second = story.request("second", &commitment(3), "support", "detection-quality", &recipient, false)?;
    story.decide(&second, "sec2", &["--approve"])?;
    story.decide(&second, "auditor2", &["--approve"])?;

    println!("\n== releases");
    story.release(&approved, 0)?;
    story.release(&denied, 1)?;
    story.release(&glass, 0)?;
    story.decide(&glass, "auditor1", &["--approve"])?;
    story.release(&second, 0)?;
    // The released files decrypt with the destination's identity to the original bytes.
    let mut released = 0;
    for entry in fs::read_dir(story.path("out")).context("reading out/")? {
        let path = entry.context("reading out/")?.path();
        if path.extension().is_some_and(|e| e == "age") {
            let ciphertext = fs::read(&path).with_context(|| path.display().to_string())?;
            let plain =
                age::decrypt(&identity, &ciphertext).with_context(|| format!("decrypting {}", path.display()))?;
            ensure!(
                originals[..4].iter().any(|(_, bytes)| *bytes == plain),
                "{} does not decrypt to a requested sample",
                path.display()
            );
            released += 1;
        }
    }
    ensure!(released == 3, "out/ holds {released} released files, not 3");
    println!(
        "out/ holds {released} encrypted samples; each decrypts (age -d -i keys/destination.agekey) to its original"
    );

    println!("\n== audit");
    story.witness_cosigns()?;
    print!("{}", story.run(&["sample", "audit", "--log", "log", "--policy", "policy.toml"], 0)?);

    println!("\n== lookup: a released sample, then one that never left");
    for i in [0, 10] {
        let receipt = format!("receipts/{}.json", commitment(i));
        let file = &originals[i].0;
        let args =
            ["sample", "lookup", "--receipt", &receipt, "--log", "log", "--policy", "policy.toml", "--file", file];
        print!("{}", story.run(&args, 0)?);
    }
    println!("\neverything is under {}", story.dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The development policy: two approver groups (the vendor's security team and an outside
/// auditor), a monthly quota and break-glass with a 72-hour post-hoc window.
fn policy() -> String {
    let quote = |items: &[&str]| items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "# The development custody policy of `cargo xtask custody`.\n[log]\nvkey = \"keys/log.vkey\"\n\
         witnesses = [\"keys/witness.vkey\"]\nwitness_threshold = 1\n\n\
         [samples]\ncenters = [\"keys/center.pub\"]\ngateways = [\"keys/gateway.pub\"]\n\
         reasons = [{}]\ndestinations = [{DESTINATION:?}]\nrequest_lifetime = \"7d\"\n\
         quota = {{ period = \"month\", releases = 40 }}\nbreak_glass = {{ post_hoc_within = \"72h\" }}\n",
        quote(&["anomaly-manual-review", "detection-quality", "customer-support", "legal-process"])
    );
    for (key, role, country) in REQUESTERS {
        text.push_str(&format!(
            "\n[[samples.requesters]]\nkey = \"keys/{key}.pub\"\nrole = {role:?}\ncountry = {country:?}\n"
        ));
    }
    for (group, keys, outside) in APPROVERS {
        let keys: Vec<String> = keys.iter().map(|k| format!("keys/{k}.pub")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "\n[[samples.approvers]]\ngroup = {group:?}\nkeys = [{}]\nrequired = 1\noutside = {outside}\n",
            quote(&keys)
        ));
    }
    text
}
