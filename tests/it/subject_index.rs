//! The subject index (`subjects/`, formats.md section 21) that `glassbox log serve` keeps and
//! `verify` reads so that it scans only the entries after it: a FAILED verdict before the
//! index is still found; a mirror that leaves it out of a shard, or forges the manifest, is refused
//! by verify; and an index the key holder itself signed without it passes verify but not
//! `log audit`, which recomputes the index from the entries.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use glassbox::attest::vsa::VerificationSummary;
use glassbox::attest::{Envelope, Statement, SLSA_VSA_V1};
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::tlog::note::NoteVerifier;
use glassbox::transparency::subject_index::{build_segment, shard_path, shards_list, shards_path, Manifest};

use crate::log::{envelopes, new_log};
use crate::log_service::Service;
use crate::rebuilder_support::{releases, TARGET};
use crate::support::*;

/// Runs verify for `binary` with a policy trusting `rebuilders`, one PASSED verdict required.
fn verify(dir: &Path, url: &str, rebuilders: &[&Path], vkey: &str, att: &Path, binary: &Path) -> (i32, String) {
    verify_witnessed(dir, url, rebuilders, vkey, None, att, binary)
}

/// [`verify`] with a policy that requires the cosignature of the witness `witness` (its vkey).
fn verify_witnessed(
    dir: &Path,
    url: &str,
    rebuilders: &[&Path],
    vkey: &str,
    witness: Option<&str>,
    att: &Path,
    binary: &Path,
) -> (i32, String) {
    let policy_dir = tempfile::Builder::new().prefix("policy-").tempdir_in(dir).unwrap().keep();
    std::fs::create_dir(policy_dir.join("keys")).unwrap();
    std::fs::copy(&releases().builder_pub, policy_dir.join("keys/builder.pub")).unwrap();
    std::fs::write(policy_dir.join("keys/log.vkey"), vkey).unwrap();
    let witnesses = match witness {
        Some(w) => {
            std::fs::write(policy_dir.join("keys/w.vkey"), w).unwrap();
            "witnesses = [\"keys/w.vkey\"]\nwitness_threshold = 1\n"
        }
        None => "witnesses = []\nwitness_threshold = 0\n",
    };
    let mut names = Vec::new();
    for (i, public) in rebuilders.iter().enumerate() {
        std::fs::copy(public, policy_dir.join(format!("keys/r{i}.pub"))).unwrap();
        names.push(format!("\"keys/r{i}.pub\""));
    }
    std::fs::write(
        policy_dir.join("policy.toml"),
        format!(
            "[builders]\nkeys = [\"keys/builder.pub\"]\n[rebuilds]\nkeys = [{}]\nrequired = 1\n\
             [log]\nvkey = \"keys/log.vkey\"\nrequired = true\n{witnesses}",
            names.join(", ")
        ),
    )
    .unwrap();
    let out = output(
        glassbox()
            .arg("verify")
            .arg(binary)
            .arg("--policy")
            .arg(policy_dir.join("policy.toml"))
            .arg("--attestations")
            .arg(att)
            .args(["--log", url]),
    );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

/// Signs, with the log's key, an index of segment 0 from which every verdict line of entry
/// `index` is gone: what the key holder could show a reader.
fn forge_index_without(log: &Path, log_key: &Path, manifest: &Manifest, index: u64, size: u64) {
    let key = PrivateKey::read(log_key).unwrap();
    let dir = glassbox::transparency::LogDir::new(log);
    let (entries, envelopes) = (dir.entries(0, 256, size).unwrap(), dir.envelopes(0, 256, size).unwrap());
    let mut shards = build_segment(0, &entries, &envelopes).unwrap();
    let gone = |l: &str| (l.starts_with("s ") || l.starts_with("i ")) && l.ends_with(&format!(" {index}"));
    for (xx, shard) in shards.iter_mut().enumerate() {
        let text = String::from_utf8(shard.clone()).unwrap();
        let kept: String = text.lines().filter(|l| !gone(l)).map(|l| format!("{l}\n")).collect();
        if kept != text {
            *shard = kept.into_bytes();
            std::fs::write(log.join(shard_path(0, xx as u8)), &shard).unwrap();
        }
    }
    std::fs::write(log.join(shards_path(0)), shards_list(&shards)).unwrap();
    let mut lying = manifest.clone();
    lying.segments[0] = Sha256Digest::of(&shards_list(&shards));
    std::fs::write(log.join("subjects/manifest"), lying.sign(&key).unwrap()).unwrap();
}

fn wait_for_manifest(log: &Path, vkey: &NoteVerifier, size: u64) -> Manifest {
    let started = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(log.join("subjects/manifest")) {
            let manifest = Manifest::verify(&bytes, vkey).unwrap();
            if manifest.size == size {
                return manifest;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no subject index of {size} entries");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// r1's PASSED verdict on the first quick release (a real rebuild) and r2's FAILED one (the
/// same with the result changed): (passed file, failed file, r1's public key, r2's).
fn verdicts(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let release = &releases().quick[0];
    // r1 rebuilds and passes; r2's verdict (the same with the result changed) says FAILED.
    let work = dir.join("rebuild");
    let provenance = work.join(format!("att/{TARGET}.provenance.intoto.jsonl"));
    std::fs::create_dir_all(provenance.parent().unwrap()).unwrap();
    std::fs::copy(&release.provenance, &provenance).unwrap();
    let (r1_key, r1_pub) = keypair(dir, "r1");
    let (r2_key, r2_pub) = keypair(dir, "r2");
    let bundle: PathBuf = std::fs::read_dir(&release.out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-src.tar.gz"))
        .unwrap();
    ok(reviewer_rebuild(&work, &provenance, &bundle, &releases().builder_pub).arg("--key").arg(&r1_key));
    let r1 = glassbox::keys::PublicKey::read(&r1_pub).unwrap().key_id();
    let passed = provenance.with_file_name(format!("{TARGET}.rebuild.{}.intoto.jsonl", r1.short()));
    let env = Envelope::parse_all(&std::fs::read_to_string(&passed).unwrap(), "vsa").unwrap().remove(0);
    let mut vsa: Statement<VerificationSummary> = Statement::from_envelope(&env, SLSA_VSA_V1, "vsa").unwrap();
    vsa.predicate.verification_result = "FAILED".into();
    vsa.predicate.verified_levels.clear();
    let failed = dir.join("failed.jsonl");
    std::fs::write(&failed, vsa.sign(&PrivateKey::read(&r2_key).unwrap()).to_line() + "\n").unwrap();

    (passed, failed, r1_pub, r2_pub)
}

#[test]
fn verify_finds_a_failed_verdict_through_the_index_and_a_lying_index_is_caught() {
    let release = &releases().quick[0];
    let dir = tempfile::tempdir().unwrap();
    let (log, log_key, vkey) = new_log(dir.path());
    let service = Service::start_env(&[], log.to_str().unwrap(), &log_key, "127.0.0.1:0", &["--index-segment", "256"]);
    let append = |file: &Path| ok(glassbox().args(["log", "append", &service.url]).arg(file));

    let (passed, failed, r1_pub, r2_pub) = verdicts(dir.path());

    // Entries 0, 1, 2: the provenance and both verdicts; then enough for two segments and a tail.
    append(&release.provenance);
    append(&passed);
    append(&failed);
    let noise = dir.path().join("noise.jsonl");
    envelopes(&noise, 0, 600);
    append(&noise);
    let verifier = NoteVerifier::parse(&vkey).unwrap();
    let manifest = wait_for_manifest(&log, &verifier, 512);
    assert_eq!(manifest.segments.len(), 2);
    let audited = ok(glassbox().args(["log", "audit", &service.url, "--vkey", &vkey]));
    assert!(audited.contains("the signed subject index of the first 512 entries matches them"), "{audited}");

    // Only the 91 entries after the index are read; the verdicts before it are still found.
    let (code, said) = verify(dir.path(), &service.url, &[&r1_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("log index 1"), "{said}");
    let (code, said) = verify(dir.path(), &service.url, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("FAILED") && said.contains("log entry 2"), "{said}");

    // A mirror leaves the FAILED verdict out of its shard: refused, like an altered tile.
    let artifact = Sha256Digest::of(&std::fs::read(&release.binary).unwrap());
    let shard = log.join(shard_path(0, artifact.0[0]));
    let original = std::fs::read_to_string(&shard).unwrap();
    let line = format!("s {} 2\n", artifact.hex());
    assert!(original.contains(&line), "{original}");
    std::fs::write(&shard, original.replace(&line, "")).unwrap();
    let (code, said) = verify(dir.path(), &service.url, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("is not the shard its segment's list names"), "{said}");
    std::fs::write(&shard, &original).unwrap();

    // A manifest signed by another key: refused.
    let genuine = std::fs::read(log.join("subjects/manifest")).unwrap();
    let stranger = PrivateKey::from_seed(&[9; 32]);
    std::fs::write(log.join("subjects/manifest"), manifest.sign(&stranger).unwrap()).unwrap();
    let (code, said) = verify(dir.path(), &service.url, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("is not signed by the log key"), "{said}");

    // The key holder signs an index without the FAILED verdict: verify, which trusts the log
    // key for the index as for the checkpoint, accepts; the audit recomputes it and says so.
    forge_index_without(&log, &log_key, &manifest, 2, 603);
    let (code, said) = verify(dir.path(), &service.url, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 0, "the index is the log key's word: {said}");
    let out = output(glassbox().args(["log", "audit", &service.url, "--vkey", &vkey]));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("that is not the one the entries give"));
    std::fs::write(log.join("subjects/manifest"), genuine).unwrap();
}

#[test]
fn log_index_writes_the_index_of_a_directory_log_with_its_key() {
    let release = &releases().quick[0];
    let dir = tempfile::tempdir().unwrap();
    let (log, log_key, vkey) = new_log(dir.path());
    let (passed, failed, r1_pub, r2_pub) = verdicts(dir.path());
    let noise = dir.path().join("noise.jsonl");
    envelopes(&noise, 0, 300);
    for file in [&release.provenance, &passed, &failed, &noise] {
        ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&log_key).arg(file));
    }
    let log_arg = log.to_str().unwrap();
    let said = ok(glassbox().args(["log", "index", log_arg, "--segment", "256", "--key"]).arg(&log_key));
    assert!(said.contains("covers 256 entries in 1 segment(s)"), "{said}");
    let again = ok(glassbox().args(["log", "index", log_arg, "--segment", "256", "--key"]).arg(&log_key));
    assert!(again.contains("(nothing new)"), "{again}");
    // Another key cannot sign it.
    let (other, _) = keypair(dir.path(), "other");
    let out = output(glassbox().args(["log", "index", log_arg, "--key"]).arg(&other));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(ok(glassbox().args(["log", "audit", log_arg, "--vkey", &vkey])).contains("first 256 entries matches them"));
    let (code, said) = verify(dir.path(), log_arg, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("FAILED") && said.contains("log entry 2"), "{said}");

    // The key holder's lying index fools a policy without witnesses (the audit catches it);
    // with a witness required, verify does not use the index and still rejects.
    let verifier = NoteVerifier::parse(&vkey).unwrap();
    let manifest = Manifest::verify(&std::fs::read(log.join("subjects/manifest")).unwrap(), &verifier).unwrap();
    forge_index_without(&log, &log_key, &manifest, 2, 303);
    let (code, said) = verify(dir.path(), log_arg, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
    assert_eq!(code, 0, "the index is the log key's word: {said}");
    let (witness_key, witness_pub) = keypair(dir.path(), "witness");
    let mut cosign = glassbox();
    cosign.args(["log", "cosign"]).arg(log.join("checkpoint")).arg("--key").arg(&witness_key);
    cosign.args(["--name", "witness.example", "--log-vkey", &vkey]).arg("--state").arg(dir.path().join("w-state"));
    ok(cosign.arg("--log").arg(&log));
    let witness =
        ok(glassbox().args(["log", "witness-key", "--key"]).arg(&witness_pub).args(["--name", "witness.example"]));
    let (code, said) = verify_witnessed(
        dir.path(),
        log_arg,
        &[&r1_pub, &r2_pub],
        &vkey,
        Some(witness.trim()),
        &release.att,
        &release.binary,
    );
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("FAILED") && said.contains("log entry 2") && said.contains("cosigned by"), "{said}");
}

#[test]
fn a_failed_verdict_on_the_provenance_only_rejects_from_the_log() {
    let release = &releases().quick[0];
    let dir = tempfile::tempdir().unwrap();
    let (log, log_key, vkey) = new_log(dir.path());
    let (passed, _, r1_pub, r2_pub) = verdicts(dir.path());
    // r2's FAILED verdict names what it built (not the vendor's artifact) as its subject, and
    // the provenance as its input: it is about the release all the same.
    let env = Envelope::parse_all(&std::fs::read_to_string(&passed).unwrap(), "vsa").unwrap().remove(0);
    let mut vsa: Statement<VerificationSummary> = Statement::from_envelope(&env, SLSA_VSA_V1, "vsa").unwrap();
    vsa.subject = vec![glassbox::attest::ResourceDescriptor::named("what r2 built", Sha256Digest::of(b"elsewhere"))];
    vsa.predicate.verification_result = "FAILED".into();
    let r2_key = dir.path().join("r2.key");
    let failed = dir.path().join("inputs-only.jsonl");
    std::fs::write(&failed, vsa.sign(&PrivateKey::read(&r2_key).unwrap()).to_line() + "\n").unwrap();
    let noise = dir.path().join("noise.jsonl");
    envelopes(&noise, 0, 300);
    for file in [&release.provenance, &failed, &noise] {
        ok(glassbox().args(["log", "append"]).arg(&log).arg("--key").arg(&log_key).arg(file));
    }
    let log_arg = log.to_str().unwrap();
    // Read whole, then through the index's `i` lines: rejected both ways.
    for indexed in [false, true] {
        if indexed {
            ok(glassbox().args(["log", "index", log_arg, "--segment", "256", "--key"]).arg(&log_key));
        }
        let (code, said) = verify(dir.path(), log_arg, &[&r1_pub, &r2_pub], &vkey, &release.att, &release.binary);
        assert_eq!(code, 1, "indexed: {indexed}: {said}");
        assert!(said.contains("FAILED") && said.contains("log entry 1"), "{said}");
    }
}
