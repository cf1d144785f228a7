//! Custody history is judged under the policy in force (custody spec review, point 23): each
//! release is judged under the policy its request cites, rebuilt from the policy statement the
//! center logged, so loosening the policy afterwards erases no violation; a request under a
//! policy the log never published is `policy-unlogged`, one under a policy replaced before it
//! is `policy-changed`, in the audit and at the gateway alike; and a policy statement no center
//! key of the chain signed changes nothing. Logs are hand-built with custody_audit's `Book`.

use glassbox::attest::custody::{PolicyStatement, SUBJECT_POLICY};
use glassbox::attest::{ResourceDescriptor, Statement, SAMPLE_POLICY_V1};
use glassbox::custody::policies::sign_policy;
use glassbox::custody::statements;
use glassbox::digest::Sha256Digest;
use glassbox::policy::Policy;
use glassbox::time::Timestamp;
use serde_json::{json, Value};

use crate::custody_audit::{Book, Logged, Sample, HOUR};
use crate::custody_history::violations;
use crate::custody_release::{approve_both, intake, release, request_cli};
use crate::custody_support::{Center, POLICY_EFFECTIVE_AT};
use crate::support::*;

const QUOTA_1: &str = "quota = { period = \"month\", releases = 1 }\n";
const QUOTA_10: &str = "quota = { period = \"month\", releases = 10 }\n";

fn audit(b: &Book) -> (i32, Value) {
    let (code, json, _) = b.audit(&["--json", "--as-of", &crate::custody_audit::at(40 * HOUR)]);
    (code, json)
}

/// A request by the analyst citing `policy` (whatever the log holds), approved by both groups.
fn approved_under(b: &Book, sample: &Sample, policy: Sha256Digest, offset: i64) -> Logged {
    let mut request = b.request_value("analyst", sample, offset, false);
    request.policy = policy.prefixed();
    let (index, digest) = b.append(&statements::sign_request(&request, &sample.commitment, &b.key("analyst")));
    let r = Logged { index, digest, request, commitment: sample.commitment };
    b.decide("sec1", &r, glassbox::attest::custody::DecisionKind::Approve, offset + HOUR);
    b.decide("auditor1", &r, glassbox::attest::custody::DecisionKind::Approve, offset + 2 * HOUR);
    r
}

/// The digest `text` would have as the test center's policy, without publishing it.
fn digest_of(c: &Center, text: &str) -> Sha256Digest {
    Policy::parse(text, &c.policy).unwrap().digest
}

#[test]
fn spec_a_policy_loosened_after_a_violation_still_reports_it() {
    let b = Book::new();
    b.c.write_policy(&b.c.policy_text(QUOTA_1));
    let s = b.intake(2, "a", "center");
    // Policy A (quota 1) is logged before the first request; both releases cite it.
    let first = b.approved(&s[0]);
    b.release("gateway", &first, 4 * HOUR);
    let second = b.approved(&s[1]);
    let over = b.release("gateway", &second, 5 * HOUR);
    // The center loosens the policy afterwards (B, quota 10) and publishes it.
    b.c.write_policy(&b.c.policy_text(QUOTA_10));
    b.c.publish_policy();
    // Audited with B as the trust root, the old violation stands: the requests cite A.
    let (code, json) = audit(&b);
    assert_eq!((code, violations(&json)), (1, vec![(over, "quota-exceeded".to_string())]), "{json:#}");
    let published: Vec<&Value> = json["policies"].as_array().unwrap().iter().collect();
    assert_eq!(published.len(), 2, "A and B both count: {json:#}");
    assert_eq!(published[1]["policy"], b.c.publish_policy().prefixed());
    // And a release under B, the third of the month, is within B's quota.
    let s2 = b.intake(1, "b", "center");
    let third = b.approved(&s2[0]);
    b.release("gateway", &third, 6 * HOUR);
    let (_, json) = audit(&b);
    assert_eq!(violations(&json), vec![(over, "quota-exceeded".to_string())], "{json:#}");
}

#[test]
fn spec_a_stricter_policy_afterwards_invents_no_violation() {
    let b = Book::new();
    b.c.write_policy(&b.c.policy_text(QUOTA_10));
    let s = b.intake(2, "a", "center");
    for (n, sample) in s.iter().enumerate() {
        let r = b.approved(sample);
        b.release("gateway", &r, (4 + n as i64) * HOUR);
    }
    // A stricter policy (quota 1, the outside auditors dropped) is published afterwards.
    let stricter = b.c.policy_text(QUOTA_1);
    let cut = stricter.find("\n[[samples.approvers]]\ngroup = \"outside-auditor\"").unwrap();
    b.c.write_policy(&stricter[..cut].replace("break_glass = { post_hoc_within = \"72h\" }\n", ""));
    b.c.publish_policy();
    let (code, json) = audit(&b);
    assert_eq!((code, violations(&json)), (0, vec![]), "{json:#}");
}

#[test]
fn spec_a_request_under_an_unlogged_policy_is_policy_unlogged() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    // No policy statement at all yet: the request cites the very trust root, unpublished.
    let root = digest_of(&b.c, &std::fs::read_to_string(&b.c.policy).unwrap());
    let r = approved_under(&b, &s[0], root, HOUR);
    let early = b.release("gateway", &r, 4 * HOUR);
    // Published now, but after that request: it still was not in force when it was made.
    b.c.publish_policy();
    // A request citing a policy nobody published, after the real one was.
    let other = digest_of(&b.c, &b.c.policy_text(QUOTA_10));
    let r = approved_under(&b, &s[1], other, 5 * HOUR);
    let late = b.release("gateway", &r, 8 * HOUR);
    let (code, json) = audit(&b);
    assert_eq!(
        (code, violations(&json)),
        (1, vec![(early, "policy-unlogged".to_string()), (late, "policy-unlogged".to_string())]),
        "{json:#}"
    );
}

#[test]
fn spec_a_request_under_a_replaced_policy_is_policy_changed() {
    let b = Book::new();
    let s = b.intake(2, "a", "center");
    let a = b.c.publish_policy();
    b.c.write_policy(&b.c.policy_text(QUOTA_10));
    let replaced_by = {
        let (_, checkpoint) = b.log.read_checkpoint().unwrap();
        b.c.publish_policy();
        checkpoint.size
    };
    // A request made under A after B replaced it: judged under A, and policy-changed.
    let r = approved_under(&b, &s[0], a, HOUR);
    let release = b.release("gateway", &r, 4 * HOUR);
    let (code, json) = audit(&b);
    assert_eq!((code, violations(&json)), (1, vec![(release, "policy-changed".to_string())]), "{json:#}");
    let detail = json["violations"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("entry {replaced_by}")), "{detail}");
    // A request under B (in force) is proper.
    let r = approved_under(&b, &s[1], b.c.publish_policy(), 5 * HOUR);
    b.release("gateway", &r, 8 * HOUR);
    let (_, json) = audit(&b);
    assert_eq!(violations(&json), vec![(release, "policy-changed".to_string())], "{json:#}");
}

#[test]
fn spec_a_policy_statement_signed_by_a_stranger_is_ignored() {
    let b = Book::new();
    b.c.write_policy(&b.c.policy_text(QUOTA_1));
    let s = b.intake(2, "a", "center");
    let first = b.approved(&s[0]);
    b.release("gateway", &first, 4 * HOUR);
    // A stranger publishes a looser policy, correctly built, and a request cites it.
    let looser = b.c.policy_text(QUOTA_10);
    b.c.write_policy(&looser);
    let loose = Policy::load(&b.c.policy).unwrap();
    let predicate = PolicyStatement {
        policy: loose.text.clone(),
        keys: loose.key_files.clone(),
        effective_at: Timestamp(POLICY_EFFECTIVE_AT).rfc3339(),
    };
    let subject = ResourceDescriptor::named(SUBJECT_POLICY, loose.digest);
    let forged = Statement::new(vec![subject], SAMPLE_POLICY_V1, predicate).sign(&b.key("outsider"));
    let (forged_at, _) = b.append(&forged);
    // A center key's statement whose policy is not the digest it names counts neither.
    let mut wrong = sign_policy(&loose, None, Timestamp(POLICY_EFFECTIVE_AT), &b.key("center")).unwrap();
    let mut statement: Value = serde_json::from_slice(&wrong.payload_bytes().unwrap()).unwrap();
    statement["predicate"]["policy"] = json!(loose.text.replace("releases = 10", "releases = 11"));
    wrong = glassbox::attest::Envelope::sign(
        glassbox::attest::PAYLOAD_TYPE_INTOTO,
        statement.to_string().as_bytes(),
        &b.key("center"),
    );
    let (mismatch_at, _) = b.append(&wrong);
    let second = approved_under(&b, &s[1], loose.digest, 5 * HOUR);
    let over = b.release("gateway", &second, 8 * HOUR);
    // Judged under the policy in force (A): over quota, and under a policy nobody published.
    b.c.write_policy(&b.c.policy_text(QUOTA_1));
    let (code, json) = audit(&b);
    assert_eq!(
        (code, violations(&json)),
        (1, vec![(over, "policy-unlogged".to_string()), (over, "quota-exceeded".to_string())]),
        "{json:#}"
    );
    assert_eq!(json["policies"].as_array().unwrap().len(), 1, "{json:#}");
    let ignored = json["ignored"].as_array().unwrap();
    assert!(ignored.contains(&json!({"index": forged_at, "reason": "untrusted"})), "{json:#}");
    assert!(ignored.contains(&json!({"index": mismatch_at, "reason": "digest-mismatch"})), "{json:#}");
}

#[test]
fn spec_a_new_center_key_signs_from_the_policy_that_names_it() {
    let b = Book::new();
    keypair(&b.c.keys, "center2");
    let a = b.c.publish_policy();
    // A batch by the new center key before any policy names it is a stranger's.
    let early = b.intake(1, "early", "center2");
    // B names the new center key instead of the old; the old one (A's) signs the change.
    let text = b.c.policy_text("").replace("keys/center.pub", "keys/center2.pub");
    b.c.write_policy(&text);
    let policy_b = Policy::load(&b.c.policy).unwrap();
    let policy_a_path = b.c.path().join("policy-a.toml");
    std::fs::write(&policy_a_path, b.c.policy_text("")).unwrap();
    let policy_a = Policy::load(&policy_a_path).unwrap();
    assert_eq!(policy_a.digest, a);
    let statement = sign_policy(&policy_b, Some(&policy_a), Timestamp(POLICY_EFFECTIVE_AT), &b.key("center")).unwrap();
    b.append(&statement);
    b.c.published.replace(Some(policy_b.digest));
    let s = b.intake(1, "late", "center2");
    let r = b.approved(&s[0]);
    b.release("gateway", &r, 4 * HOUR);
    // The auditor starts the chain at A: B counts (A's center key signed it), and with it the
    // new center key, from the entry after B.
    b.c.cosign();
    let out = output(
        glassbox()
            .args(["sample", "audit", "--json", "--as-of", &crate::custody_audit::at(40 * HOUR), "--log"])
            .arg(&b.c.log)
            .arg("--policy")
            .arg(&policy_a_path),
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), violations(&json)), (Some(0), vec![]), "{json:#}");
    assert_eq!(json["policies"].as_array().unwrap().len(), 2, "{json:#}");
    let early_index = early[0].intake.log_index;
    assert_eq!(json["ignored"], json!([{"index": early_index, "reason": "untrusted"}]), "{json:#}");
    assert_eq!(json["periods"][0]["samplesIn"], 1, "only the batch after B counts: {json:#}");
}

#[test]
fn spec_the_gateway_refuses_an_unlogged_or_replaced_policy() {
    let center = Center::new();
    let files = center.sample_files(3, 100);
    let samples = intake(&center, &files);
    let out = center.path().join("out");
    // The request cites the gateway's policy, but nobody published it.
    center.published.replace(Some(Policy::load(&center.policy).unwrap().digest));
    let unlogged = request_cli(&center, &samples[0].0, &[], true);
    approve_both(&center, &unlogged);
    let refused = release(&center, &unlogged, &out);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused (policy-unlogged)"), "{stderr}");
    // Published after the request: still not the policy in force when it was made.
    center.published.replace(None);
    center.publish_policy();
    let refused = release(&center, &unlogged, &out);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused (policy-unlogged)"));
    // B replaces A in the log; a request still made under A (and a gateway still running A):
    // replaced before the request was made.
    let a_text = std::fs::read_to_string(&center.policy).unwrap();
    let a = center.publish_policy();
    center.write_policy(&center.policy_text(QUOTA_10));
    center.publish_policy();
    center.write_policy(&a_text);
    center.published.replace(Some(a));
    let under_a = request_cli(&center, &samples[1].0, &[], true);
    approve_both(&center, &under_a);
    let refused = release(&center, &under_a, &out);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused (policy-changed)"), "{stderr}");
    // Under the policy in force, the gateway releases.
    center.write_policy(&center.policy_text(QUOTA_10));
    let fresh = request_cli(&center, &samples[2].0, &[], true);
    approve_both(&center, &fresh);
    let released = release(&center, &fresh, &out);
    assert_eq!(released.status.code(), Some(0), "{}", String::from_utf8_lossy(&released.stderr));
    assert!(!out
        .join(format!(
            "{}.age",
            Sha256Digest::of(std::fs::read_to_string(&unlogged).unwrap().trim_end().as_bytes()).hex()
        ))
        .exists());
}

/// F6: `sample policy` publishes the policy's text, so a key named by absolute path or by a path
/// climbing out of the policy's directory would publish the operator's file layout in the log.
/// Refused (exit 2, the key path named, nothing signed or written) unless
/// `--allow-operator-paths`, which publishes the paths as they are.
#[test]
fn sample_policy_refuses_key_paths_that_publish_the_operators_layout() {
    let c = Center::new();
    let absolute = c.keys.join("center.pub").display().to_string();
    let dir_name = c.path().file_name().unwrap().to_str().unwrap().to_string();
    let climbing = format!("../{dir_name}/keys/gateway.pub");
    let relative = c.policy_text("");
    let sign = |out: &std::path::Path, extra: &[&str]| {
        output(
            glassbox()
                .args(["sample", "policy", "--policy"])
                .arg(&c.policy)
                .arg("--key")
                .arg(c.key("center"))
                .arg("--out")
                .arg(out)
                .arg("--json")
                .args(extra),
        )
    };
    let out = c.path().join("policy.intoto.jsonl");
    for (name, text) in [
        (absolute.as_str(), relative.replace("\"keys/center.pub\"", &format!("{absolute:?}"))),
        (climbing.as_str(), relative.replace("\"keys/gateway.pub\"", &format!("{climbing:?}"))),
    ] {
        assert_ne!(text, relative, "the policy names {name}");
        c.write_policy(&text);
        // The policy itself loads: only publishing it is refused.
        assert!(Policy::load(&c.policy).is_ok());
        let refused = sign(&out, &[]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("key path {name}")), "names the key path: {stderr}");
        assert!(stderr.contains("relative to the policy's directory"), "{stderr}");
        assert!(stderr.contains("--allow-operator-paths"), "{stderr}");
        let error: Value = serde_json::from_slice(&refused.stdout).unwrap();
        assert_eq!(error["error"]["kind"], "invalid", "{error}");
        assert!(!out.exists(), "nothing is written");
        let beside: Vec<_> = std::fs::read_dir(c.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("policy.") && n.ends_with(".intoto.jsonl"))
            .collect();
        assert_eq!(beside, Vec::<String>::new(), "nothing is written beside the policy");

        // Given the flag, the statement is signed with the paths as the policy writes them.
        let allowed = sign(&out, &["--allow-operator-paths"]);
        assert_eq!(allowed.status.code(), Some(0), "{}", String::from_utf8_lossy(&allowed.stderr));
        let report: Value = serde_json::from_slice(&allowed.stdout).unwrap();
        assert!(report["keys"].as_array().unwrap().iter().any(|k| k == name), "{report}");
        let line = std::fs::read_to_string(&out).unwrap();
        let envelope: glassbox::attest::Envelope = serde_json::from_str(line.trim_end()).unwrap();
        let statement: Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
        assert!(statement["predicate"]["keys"].get(name).is_some(), "{statement}");
        std::fs::remove_file(&out).unwrap();
    }

    // The policy with relative key paths signs without the flag.
    c.write_policy(&relative);
    let signed = sign(&out, &[]);
    assert_eq!(signed.status.code(), Some(0), "{}", String::from_utf8_lossy(&signed.stderr));
    assert!(out.is_file());
}
