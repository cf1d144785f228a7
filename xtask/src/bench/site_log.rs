//! The log `cargo xtask bench site` generates the site from: 100,000 entries (10,000 with
//! `--quick`) holding 1,000 releases (100), each a provenance signed by the builder key, two
//! PASSED verdicts by two rebuilder keys and a full review by the reviewer key, spread evenly
//! through the log; every other entry is a custody intake batch signed by the center key (the
//! bulk of a transparency center's log), over a year. Every statement is really signed and
//! appended with the library (`transparency::store::append`, in batches), with the policy that
//! trusts those keys and an empty attestations directory (everything is in the log).
//!
//! Built once under `target/bench-site/<FIXTURE>-<entries>-<releases>/` and reused while
//! `FIXTURE` and the size are the same: a `complete` file is written last, so an interrupted
//! build is redone. `ensure_grown` keeps a copy grown by more entries of the same shape beside it
//! (`…-plus-<more>/`), for the regeneration measurement.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use glassbox::attest::custody::{Intake, Period, BATCH_TREE};
use glassbox::attest::review::{Component, Review, Reviewer, Scope, SAFE_TO_DEPLOY};
use glassbox::attest::vsa::{self, PolicyRef, ReproducedArtifact, Reproduction, VerificationSummary, Verifier};
use glassbox::attest::{Envelope, ResourceDescriptor, Statement, POLICY_BIT_FOR_BIT, REVIEW_V1, SLSA_VSA_V1};
use glassbox::custody::commitment::{commit, BatchTree};
use glassbox::custody::statements::sign_intake;
use glassbox::digest::Sha256Digest;
use glassbox::keys::PrivateKey;
use glassbox::time::Timestamp;
use glassbox::transparency::{store, LogDir, Loggable};
use serde_json::Value;

use super::remove_dir;

/// Names the generated log: change it whenever what is generated changes, so that a cached log
/// of the old shape is not reused.
const FIXTURE: &str = "site-v1";
/// Log entries per release, and entries per stretch of the log that holds one release.
const PER_RELEASE: usize = 4;
pub(super) const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Samples per generated intake batch.
const SAMPLES: usize = 8;
/// Entries per `store::append` (one durable batch each).
const APPEND_BATCH: usize = 10_000;
/// Resolved dependencies kept from the template provenance (it lists ~100).
const DEPENDENCIES: usize = 12;
/// 2026-01-01T00:00:00Z: the log spans the year from then, in the order of its entries.
const T0: i64 = 1_767_225_600;
const YEAR: i64 = 360 * 86_400;
const ORIGIN: &str = "bench.glassbox.dev/site-log";

/// The keys, by role; each is derived from a fixed seed ([`role_key`]), so reruns sign alike.
const ROLES: [&str; 10] =
    ["builder", "rebuilder-1", "rebuilder-2", "reviewer", "log", "center", "gateway", "analyst", "sec1", "auditor1"];

/// What `glassbox site` and `glassbox log audit` are run on.
pub(super) struct Fixture {
    pub entries: usize,
    pub releases: usize,
    pub log: PathBuf,
    pub policy: PathBuf,
    pub attestations: PathBuf,
    /// The file holding the log's verifier key (`glassbox log audit --vkey`).
    pub vkey: PathBuf,
}

impl Fixture {
    /// The component of release `n` (0-based).
    pub fn component(n: usize) -> String {
        format!("bench-component-{n:04}")
    }
}

/// The cached fixture for this size, built first when it is missing or incomplete.
pub(super) fn ensure(bench_dir: &Path, quick: bool) -> Result<Fixture> {
    let (entries, releases) = if quick { (10_000, 100) } else { (100_000, 1_000) };
    ensure_sized(bench_dir, entries, releases)
}

/// The cached fixture of `entries` entries holding `releases` releases (at most one per
/// `PER_RELEASE` entries; with exactly that many, the log is all releases and no intake).
pub(super) fn ensure_sized(bench_dir: &Path, entries: usize, releases: usize) -> Result<Fixture> {
    if releases == 0 || entries / releases < PER_RELEASE {
        bail!("{entries} entries cannot hold {releases} releases of {PER_RELEASE} entries");
    }
    let dir = bench_dir.join(format!("{FIXTURE}-{entries}-{releases}"));
    let fixture = Fixture {
        entries,
        releases,
        log: dir.join("log"),
        policy: dir.join("policy.toml"),
        attestations: dir.join("attestations"),
        vkey: dir.join("keys/log.vkey"),
    };
    let complete = dir.join("complete");
    if complete.is_file() {
        println!("  reusing the log in {} ({FIXTURE})", dir.display());
        return Ok(fixture);
    }
    remove_dir(&dir)?;
    fs::create_dir_all(&fixture.attestations)
        .with_context(|| format!("creating {}", fixture.attestations.display()))?;
    let keys: Vec<PrivateKey> = ROLES.iter().map(|r| role_key(r)).collect();
    let key = |role: &str| &keys[ROLES.iter().position(|r| *r == role).unwrap_or(0)];
    let log = LogDir::new(&fixture.log);
    let vkey = store::init(&log, ORIGIN, key("log")).context("initialising the bench log")?;
    write_keys_and_policy(&dir, &keys, &vkey.to_string())?;

    let started = std::time::Instant::now();
    append_entries(&log, &keys, 0..entries, entries / releases, entries)?;
    fs::write(&complete, format!("{FIXTURE}\n")).with_context(|| format!("writing {}", complete.display()))?;
    println!(
        "  built a log of {entries} entries ({releases} releases) in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(fixture)
}

/// A copy of `base` (`ensure_sized`'s) whose log has `more` entries appended, of the same
/// shape (a release every `entries / releases` entries, intake batches between), really signed
/// and appended with the library: the log a center has after the site was last generated.
/// Cached beside it under `<FIXTURE>-<entries>-<releases>-plus-<more>/` like the base.
pub(super) fn ensure_grown(bench_dir: &Path, base: &Fixture, more: usize) -> Result<Fixture> {
    let (entries, releases) = (base.entries, base.releases);
    let dir = bench_dir.join(format!("{FIXTURE}-{entries}-{releases}-plus-{more}"));
    let grown = Fixture {
        entries: entries + more,
        releases: releases + more.div_ceil(entries / releases),
        log: dir.join("log"),
        policy: dir.join("policy.toml"),
        attestations: dir.join("attestations"),
        vkey: dir.join("keys/log.vkey"),
    };
    let complete = dir.join("complete");
    if complete.is_file() {
        println!("  reusing the grown log in {} ({FIXTURE})", dir.display());
        return Ok(grown);
    }
    remove_dir(&dir)?;
    let base_dir = base.log.parent().context("the bench log has no parent directory")?;
    for part in ["log", "keys", "attestations", "policy.toml"] {
        copy_tree(&base_dir.join(part), &dir.join(part))?;
    }
    let started = std::time::Instant::now();
    let keys: Vec<PrivateKey> = ROLES.iter().map(|r| role_key(r)).collect();
    append_entries(&LogDir::new(&grown.log), &keys, entries..entries + more, entries / releases, entries)?;
    fs::write(&complete, format!("{FIXTURE}\n")).with_context(|| format!("writing {}", complete.display()))?;
    println!(
        "  grew a copy of the log by {more} entries in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(grown)
}

/// Appends the entries at `indices` (a release's four statements where `index % stride == 0`,
/// an intake batch where `index % stride >= PER_RELEASE`), made at times spread so that
/// `year_entries` entries span the year, in durable batches of `APPEND_BATCH`; then checks the
/// log's size.
fn append_entries(
    log: &LogDir,
    keys: &[PrivateKey],
    indices: std::ops::Range<usize>,
    stride: usize,
    year_entries: usize,
) -> Result<()> {
    let key = |role: &str| &keys[ROLES.iter().position(|r| *r == role).unwrap_or(0)];
    let template = template_provenance()?;
    let at = |index: usize| T0 + YEAR * index as i64 / year_entries as i64;
    let end = indices.end;
    let mut batch = Vec::with_capacity(APPEND_BATCH);
    for index in indices {
        let (release, slot) = (index / stride, index % stride);
        if slot == 0 {
            batch.extend(release_entries(release, at(index), &template, &key)?);
        } else if slot >= PER_RELEASE {
            batch.push(intake_entry(index, at(index), key("center"))?);
        }
        if batch.len() >= APPEND_BATCH || index + 1 == end {
            store::append(log, key("log"), &batch).context("appending to the bench log")?;
            batch.clear();
        }
    }
    let size = log.read_checkpoint().context("the bench log's checkpoint")?.1.size;
    if size != end as u64 {
        bail!("the bench log has {size} entries, not {end}");
    }
    Ok(())
}

/// Copies a file, or a directory tree of directories and regular files, to `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.is_file() {
        fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        return Ok(());
    }
    if !meta.is_dir() {
        bail!("{} is neither a file nor a directory", from.display());
    }
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for item in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let item = item.with_context(|| format!("listing {}", from.display()))?;
        copy_tree(&item.path(), &to.join(item.file_name()))?;
    }
    Ok(())
}

/// The fixture's key for `role` (one of `ROLES`).
pub(super) fn role_key(role: &str) -> PrivateKey {
    let i = ROLES.iter().position(|r| *r == role).unwrap_or(0);
    PrivateKey::from_seed(&[0x51 + i as u8; 32])
}

/// The file whose sha256 is the binary subject of release `n`: `verify` needs the bytes.
pub(super) fn binary_of(n: usize) -> Vec<u8> {
    format!("{FIXTURE} binary {n}").into_bytes()
}

/// The public keys, the log's verifier key and the policy: builds need the builder key, two
/// PASSED rebuilds and one review, all in the log; the `[samples]` section names the custody
/// keys, so that the intake batches are the center's.
fn write_keys_and_policy(dir: &Path, keys: &[PrivateKey], vkey: &str) -> Result<()> {
    let key_dir = dir.join("keys");
    fs::create_dir_all(&key_dir).with_context(|| format!("creating {}", key_dir.display()))?;
    for (role, key) in ROLES.iter().zip(keys) {
        let path = key_dir.join(format!("{role}.pub"));
        fs::write(&path, key.public().to_pem()).with_context(|| format!("writing {}", path.display()))?;
    }
    fs::write(key_dir.join("log.vkey"), format!("{vkey}\n")).context("writing the vkey")?;
    let policy = "[builders]\nkeys = [\"keys/builder.pub\"]\n\n\
        [rebuilds]\nkeys = [\"keys/rebuilder-1.pub\", \"keys/rebuilder-2.pub\"]\nrequired = 2\n\n\
        [reviews]\nkeys = [\"keys/reviewer.pub\"]\nrequired = 1\ncriteria = \"safe-to-deploy\"\n\n\
        [log]\nvkey = \"keys/log.vkey\"\nrequired = true\nwitnesses = []\nwitness_threshold = 0\n\n\
        [samples]\ncenters = [\"keys/center.pub\"]\ngateways = [\"keys/gateway.pub\"]\n\
        reasons = [\"anomaly-manual-review\"]\ndestinations = [\"hq-lab\"]\nrequest_lifetime = \"7d\"\n\n\
        [[samples.requesters]]\nkey = \"keys/analyst.pub\"\nrole = \"malware-analyst\"\ncountry = \"CH\"\n\n\
        [[samples.approvers]]\ngroup = \"vendor-security\"\nkeys = [\"keys/sec1.pub\"]\nrequired = 1\n\n\
        [[samples.approvers]]\ngroup = \"outside-auditor\"\nkeys = [\"keys/auditor1.pub\"]\nrequired = 1\noutside = true\n";
    let path = dir.join("policy.toml");
    fs::write(&path, policy).with_context(|| format!("writing {}", path.display()))?;
    // The policy must load as `glassbox site` and `verify` will load it.
    glassbox::policy::Policy::load(&path).with_context(|| format!("the bench policy {}", path.display()))?;
    Ok(())
}

/// glassbox's own published provenance, decoded: every generated provenance is a copy with
/// other names and digests, so that it has the shape of a real one.
fn template_provenance() -> Result<Statement<Value>> {
    let path =
        crate::util::repo_root().join("attestations/glassbox/0.1.0/x86_64-unknown-linux-gnu.provenance.intoto.jsonl");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let envelope = Envelope::parse_all(&text, &path.display().to_string())?
        .into_iter()
        .next()
        .with_context(|| format!("{} holds no envelope", path.display()))?;
    let payload = envelope.payload_bytes().with_context(|| format!("decoding {}", path.display()))?;
    let mut statement: Statement<Value> = serde_json::from_slice(&payload).context("the template provenance")?;
    if let Some(deps) =
        statement.predicate.pointer_mut("/buildDefinition/resolvedDependencies").and_then(Value::as_array_mut)
    {
        deps.truncate(DEPENDENCIES);
    }
    Ok(statement)
}

fn digest(what: &str, n: usize) -> Sha256Digest {
    Sha256Digest::of(format!("{FIXTURE} {what} {n}").as_bytes())
}

fn loggable(envelope: &Envelope) -> Result<Loggable> {
    Ok(Loggable::from_envelope(envelope, "bench site")?)
}

/// The provenance, the two verdicts and the review of release `n`, made at `at` (Unix seconds).
fn release_entries<'k>(
    n: usize,
    at: i64,
    template: &Statement<Value>,
    key: &impl Fn(&str) -> &'k PrivateKey,
) -> Result<Vec<Loggable>> {
    let component = Fixture::component(n);
    let version = "1.0.0";
    let stem = format!("{component}-{version}");
    let bundle = format!("{stem}-{TARGET}.tar.gz");
    let (binary_sha, bundle_sha, source) = (digest("binary", n), digest("bundle", n), digest("source", n));
    let mut bundle_subject = ResourceDescriptor::named(bundle.clone(), bundle_sha);
    bundle_subject.annotations.insert("uncompressedSha256".into(), digest("tar", n).hex().into());
    let subjects = vec![ResourceDescriptor::named(format!("{TARGET}/{component}"), binary_sha), bundle_subject];

    let mut provenance = template.clone();
    provenance.subject = subjects.clone();
    let definition = &mut provenance.predicate["buildDefinition"];
    let source_ref = serde_json::json!({
        "name": "source",
        "uri": format!("{stem}-src.tar.gz"),
        "digest": {"gitCommit": &digest("commit", n).hex()[..40], "sha256": source.hex()},
    });
    definition["externalParameters"]["source"] = source_ref.clone();
    definition["externalParameters"]["packages"] = serde_json::json!([component]);
    definition["externalParameters"]["target"] = TARGET.into();
    if let Some(first) = definition["resolvedDependencies"].get_mut(0) {
        *first = source_ref;
    }
    let provenance_envelope = provenance.sign(key("builder"));
    let mut out = vec![loggable(&provenance_envelope)?];

    for (i, rebuilder) in ["rebuilder-1", "rebuilder-2"].into_iter().enumerate() {
        let artifacts = subjects
            .iter()
            .map(|s| {
                let hex = s.sha256().map(|d| d.hex());
                ReproducedArtifact {
                    name: s.name.clone().unwrap_or_default(),
                    expected: hex.clone(),
                    actual: hex,
                    matches: true,
                }
            })
            .collect();
        let summary = VerificationSummary {
            verifier: Verifier {
                id: format!("https://rebuilders.example/{rebuilder}"),
                version: [("glassbox".to_string(), "0.1.0".to_string())].into(),
            },
            time_verified: Timestamp(at + 1 + i as i64).rfc3339(),
            resource_uri: bundle.clone(),
            policy: PolicyRef { uri: POLICY_BIT_FOR_BIT.into() },
            input_attestations: vec![ResourceDescriptor::named(
                format!("{TARGET}.provenance.intoto.jsonl"),
                provenance_envelope.digest(),
            )],
            verification_result: vsa::PASSED.into(),
            verified_levels: vec!["SLSA_BUILD_LEVEL_1".into(), vsa::LEVEL_REPRODUCED.into()],
            slsa_version: "1.0".into(),
            reproduction: Reproduction {
                source_digest: source.hex(),
                toolchain: "rustc 1.95.0 (59807616e 2026-04-14) (the local toolchain)".into(),
                toolchain_mismatch: false,
                sandbox: None,
                artifacts,
                differences: None,
                build_log: None,
            },
        };
        let envelope = Statement::new(subjects.clone(), SLSA_VSA_V1, summary).sign(key(rebuilder));
        out.push(loggable(&envelope)?);
    }

    let reviewer = key("reviewer");
    let review = Review {
        reviewer: Reviewer { keyid: reviewer.public().key_id().to_string(), name: "bench reviewer".into() },
        criteria: SAFE_TO_DEPLOY.into(),
        scope: Scope::Full,
        component: Component { name: component.clone(), version: version.into() },
        findings: Vec::new(),
        notes: String::new(),
        time_reviewed: Timestamp(at + 3).rfc3339(),
    };
    let subject = ResourceDescriptor::named(format!("{stem} source"), source);
    out.push(loggable(&Statement::new(vec![subject], REVIEW_V1, review).sign(reviewer))?);
    debug_assert_eq!(out.len(), PER_RELEASE);
    Ok(out)
}

/// A custody intake batch of `SAMPLES` commitments, taken in from `start` for a minute.
fn intake_entry(index: usize, start: i64, center: &PrivateKey) -> Result<Loggable> {
    let commitments: Vec<Sha256Digest> = (0..SAMPLES)
        .map(|s| {
            let sample = digest("sample", index * SAMPLES + s);
            commit(&sample.0, &sample)
        })
        .collect();
    let tree = BatchTree::new(commitments)?;
    let intake = Intake {
        batch_id: digest("batch", index).hex()[..32].to_string(),
        count: SAMPLES as u64,
        period: Period { start: Timestamp(start).rfc3339(), end: Timestamp(start + 60).rfc3339() },
        merkle_root: tree.root().hex(),
        tree: BATCH_TREE.into(),
    };
    loggable(&sign_intake(&intake, &tree.root(), center))
}
