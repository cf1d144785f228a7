//! A transparency center for the custody tests: every key of every role, a log, an empty
//! sample store, the destination's age identity, and a policy with two approver groups (the
//! vendor's security team and an outside auditor), a quota and break-glass rules, and a witness
//! whose cosignature the policy requires (the gateway judges only under a witnessed checkpoint).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use glassbox::custody::policies::sign_policy;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::policy::Policy;
use glassbox::time::Timestamp;
use glassbox::transparency::{store, LogDir, Loggable};

use crate::log::{new_log, ORIGIN};
use crate::support::*;

/// Requester keys and what the policy says they speak for.
pub const REQUESTERS: [(&str, &str, &str); 2] =
    [("analyst", "malware-analyst", "CH"), ("support", "support-engineer", "DE")];
/// Approver groups: (group, keys, outside).
pub const GROUPS: [(&str, &[&str], bool); 2] =
    [("vendor-security", &["sec1", "sec2"], false), ("outside-auditor", &["auditor1", "auditor2"], true)];
pub const REASONS: [&str; 4] = ["anomaly-manual-review", "detection-quality", "customer-support", "legal-process"];
pub const DESTINATION: &str = "hq-lab";
/// The witness's name in its cosignatures.
pub const WITNESS: &str = "witness.example";

// Each custody test module uses its own part of the center.
#[allow(dead_code)]
pub struct Center {
    pub dir: tempfile::TempDir,
    pub keys: PathBuf,
    pub policy: PathBuf,
    pub log: PathBuf,
    pub log_key: PathBuf,
    pub vkey: String,
    pub store: PathBuf,
    /// The destination's age identity file (`AGE-SECRET-KEY-1…`) and its recipient (`age1…`).
    pub identity: PathBuf,
    pub recipient: String,
    /// The digest of the policy last published in the log by [`Center::publish_policy`].
    pub published: RefCell<Option<Sha256Digest>>,
}

/// The `effectiveAt` of the test center's policy statements (2026-10-27).
pub const POLICY_EFFECTIVE_AT: i64 = 1_793_000_000;

impl Center {
    /// A fresh center. Keys are `keys/<name>.key` and `.pub` for center, gateway, each
    /// requester and each approver.
    pub fn new() -> Center {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        for name in ["center", "gateway", "outsider", "witness"]
            .into_iter()
            .chain(REQUESTERS.iter().map(|r| r.0))
            .chain(GROUPS.iter().flat_map(|g| g.1.iter().copied()))
        {
            keypair(&keys, name);
        }
        let (log, log_key, vkey) = new_log(dir.path());
        std::fs::write(keys.join("log.vkey"), format!("{vkey}\n")).unwrap();
        let witness_vkey = glassbox::tlog::note::NoteVerifier::cosignature_v1(
            WITNESS,
            &glassbox::keys::PublicKey::read(&keys.join("witness.pub")).unwrap(),
        );
        std::fs::write(keys.join("witness.vkey"), format!("{witness_vkey}\n")).unwrap();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let identity_file = keys.join("destination.agekey");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&identity_file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        }
        let center = Center {
            policy: dir.path().join("policy.toml"),
            store: dir.path().join("store"),
            keys,
            log,
            log_key,
            vkey,
            identity: identity_file,
            recipient,
            dir,
            published: RefCell::new(None),
        };
        center.write_policy(&center.policy_text(""));
        center
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The private key file of `name`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.keys.join(format!("{name}.key"))
    }

    /// The default policy, with `extra` appended to the `[samples]` table (before its
    /// sub-tables), e.g. `"quota = { period = \"month\", releases = 1 }\n"`.
    pub fn policy_text(&self, extra: &str) -> String {
        let list = |items: &[&str]| items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ");
        let mut text = format!(
            "# The custody policy of the test center.\n[log]\nvkey = \"keys/log.vkey\"\n\
             witnesses = [\"keys/witness.vkey\"]\nwitness_threshold = 1\n\n[samples]\n\
             centers = [\"keys/center.pub\"]\ngateways = [\"keys/gateway.pub\"]\nreasons = [{}]\n\
             destinations = [{DESTINATION:?}]\nrequest_lifetime = \"7d\"\n{extra}",
            list(&REASONS)
        );
        if !extra.contains("quota") {
            text.push_str("quota = { period = \"month\", releases = 1000 }\n");
        }
        if !extra.contains("break_glass") {
            text.push_str("break_glass = { post_hoc_within = \"72h\" }\n");
        }
        for (key, role, country) in REQUESTERS {
            text.push_str(&format!(
                "\n[[samples.requesters]]\nkey = \"keys/{key}.pub\"\nrole = {role:?}\ncountry = {country:?}\n"
            ));
        }
        for (group, keys, outside) in GROUPS {
            let keys: Vec<String> = keys.iter().map(|k| format!("keys/{k}.pub")).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            text.push_str(&format!(
                "\n[[samples.approvers]]\ngroup = {group:?}\nkeys = [{}]\nrequired = 1\noutside = {outside}\n",
                list(&keys)
            ));
        }
        text
    }

    /// The witness cosigns the log's current checkpoint (consistent with the last one it
    /// cosigned): what must happen before the gateway judges, and before an audit with the
    /// policy, whose `[log]` requires one cosignature.
    /// Returns whether it did: it refuses a checkpoint that is not consistent with the last one
    /// it cosigned (a rewritten log), and the tests of that go on to show the gateway refusing.
    pub fn cosign(&self) -> bool {
        let key = glassbox::keys::PrivateKey::read(&self.key("witness")).unwrap();
        glassbox::transparency::witness::cosign(&glassbox::transparency::witness::Cosign {
            checkpoint: self.log.join("checkpoint"),
            key: &key,
            name: WITNESS.to_string(),
            state: self.path().join("witness.state"),
            log_key: glassbox::tlog::note::NoteVerifier::parse(&self.vkey).unwrap(),
            log_dir: Some(self.log.clone()),
            now: glassbox::time::Timestamp(1_700_000_000),
        })
        .is_ok()
    }

    pub fn write_policy(&self, text: &str) {
        std::fs::write(&self.policy, text).unwrap();
    }

    /// Publishes the policy file in the log (its statement signed by the center key, appended
    /// with the log key), unless it is the policy published last: what the center does before
    /// the first request under a policy. Returns the policy's digest.
    pub fn publish_policy(&self) -> Sha256Digest {
        let policy = Policy::load(&self.policy).unwrap();
        if *self.published.borrow() == Some(policy.digest) {
            return policy.digest;
        }
        let center = PrivateKey::read(&self.key("center")).unwrap();
        let envelope = sign_policy(&policy, None, Timestamp(POLICY_EFFECTIVE_AT), &center).unwrap();
        let item = Loggable::from_envelope(&envelope, "policy statement").unwrap();
        let log_key = PrivateKey::read(&self.log_key).unwrap();
        store::append(&LogDir::new(&self.log), &log_key, std::slice::from_ref(&item)).unwrap();
        self.published.replace(Some(policy.digest));
        policy.digest
    }

    /// `count` distinct sample files of `size` bytes under `dir/samples/`.
    #[allow(dead_code)]
    pub fn sample_files(&self, count: usize, size: usize) -> Vec<PathBuf> {
        let dir = self.path().join("incoming");
        std::fs::create_dir_all(&dir).unwrap();
        (0..count)
            .map(|i| {
                let path = dir.join(format!("sample-{i:05}.bin"));
                let mut bytes = format!("suspicious file {i}\n").into_bytes();
                bytes.resize(size.max(bytes.len()), (i % 251) as u8);
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }
}

/// The hex of a digest a custody JSON report writes; fails unless it is spelled
/// `sha256:<64 lowercase hex>`, as every CLI JSON report writes digests (formats.md section 22).
#[allow(dead_code)]
pub fn report_hex(value: &serde_json::Value) -> String {
    let text = value.as_str().unwrap_or_else(|| panic!("a digest is not a string: {value}"));
    let hex = text.strip_prefix("sha256:").unwrap_or_else(|| panic!("{text:?} has no sha256: prefix"));
    assert!(Sha256Digest::from_hex(hex).is_some(), "{text:?} is not sha256: and 64 lowercase hex digits");
    hex.to_string()
}

#[test]
fn the_test_policy_loads() {
    let center = Center::new();
    let policy = glassbox::policy::Policy::load(&center.policy).unwrap();
    let samples = policy.samples.unwrap();
    assert_eq!((samples.requesters.len(), samples.approvers.len(), samples.reasons.len()), (2, 2, 4));
    assert!(samples.break_glass.is_some() && samples.quota.is_some());
    assert!(center.recipient.starts_with("age1"), "{}", center.recipient);
    assert!(std::fs::read_to_string(&center.identity).unwrap().starts_with("AGE-SECRET-KEY-1"));
    assert_eq!(ORIGIN, crate::log::ORIGIN);
}
