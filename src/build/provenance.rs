//! Assembles the SLSA provenance statement of a finished build from what the build recorded.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::attest::provenance::{
    names, BuildDefinition, BuildMetadata, Builder, ExternalParameters, InternalParameters, Provenance, RunDetails,
    SandboxRecord,
};
use crate::attest::{Envelope, ResourceDescriptor, Statement, BUILD_TYPE_CARGO_V1, SLSA_PROVENANCE_V1};
use crate::bundle;
use crate::cargo::Lockfile;
use crate::digest::Sha256Digest;
use crate::env::BuildEnv;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::manifest::SourceManifest;
use crate::time::Timestamp;
use crate::toolchain::{Toolchain, LINKER};
use crate::tree::GitState;

/// Everything a provenance statement records about one build.
pub struct BuildRecord<'a> {
    pub subjects: Vec<ResourceDescriptor>,
    pub external: ExternalParameters,
    pub source_date_epoch: i64,
    pub env: &'a BuildEnv,
    pub sandbox: SandboxRecord,
    pub cargo_args: &'a [String],
    pub manifest: &'a SourceManifest,
    /// The vendored dependencies' files (`.glassbox/vendor/…`), which the source digest does
    /// not cover.
    pub vendor_manifest: &'a SourceManifest,
    /// The source bundle, whose digest also covers file modes.
    pub source_bundle: ResourceDescriptor,
    pub lockfile: &'a Lockfile,
    pub lockfile_sha256: Sha256Digest,
    pub toolchain: &'a Toolchain,
    pub builder_id: String,
    pub invocation_id: String,
    pub started: Timestamp,
    pub finished: Timestamp,
    /// The source differed from its git commit.
    pub dirty: bool,
}

/// The source tree's descriptor: `sha256` is the source digest, `gitCommit` the commit.
pub fn source_descriptor(uri: String, digest: Sha256Digest, git: Option<&GitState>) -> ResourceDescriptor {
    let mut d = ResourceDescriptor::named(names::SOURCE_TREE, digest);
    d.uri = Some(uri);
    if let Some(g) = git {
        d.digest.insert("gitCommit".into(), g.commit.clone());
    }
    d
}

/// The signed-to-be statement.
pub fn statement(record: BuildRecord<'_>) -> Statement<Provenance> {
    let tc = record.toolchain;
    let mut deps =
        vec![record.external.source.clone(), ResourceDescriptor::named(names::CARGO_LOCK, record.lockfile_sha256)];
    deps.extend(record.lockfile.external().map(|p| p.descriptor()));
    let v = &tc.rustc_version;
    let mut rustc = ResourceDescriptor::named(names::RUSTC, tc.rustc_sha256)
        .annotate("release", v.release.clone())
        .annotate("commitHash", v.commit_hash.clone())
        .annotate("commitDate", v.commit_date.clone())
        .annotate("host", v.host.clone())
        .annotate("llvmVersion", v.llvm_version.clone());
    rustc.uri = Some(format!("pkg:generic/rustc@{}", v.release));
    deps.push(rustc);
    deps.push(
        ResourceDescriptor { name: Some(names::CARGO.into()), ..Default::default() }
            .annotate("version", tc.cargo_version.clone()),
    );
    deps.push(
        ResourceDescriptor::named(names::LINKER, tc.linker_sha256)
            .annotate("program", LINKER)
            .annotate("version", tc.linker_version.clone()),
    );

    let manifest_text = record.manifest.to_text();
    let mut manifest = ResourceDescriptor::named(names::SOURCE_MANIFEST, record.manifest.digest());
    manifest.content = Some(BASE64.encode(manifest_text.as_bytes()));

    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE_CARGO_V1.into(),
            external_parameters: record.external,
            internal_parameters: InternalParameters {
                source_date_epoch: record.source_date_epoch,
                environment: record.env.recorded_vars(),
                rustflags: record.env.recorded_rustflags(),
                cargo_args: record.cargo_args.iter().map(|a| record.env.placeholders(a)).collect(),
                umask: record.env.umask.clone(),
                bundle: bundle::settings(),
                dirty: record.dirty,
                sandbox: Some(record.sandbox),
            },
            resolved_dependencies: deps,
        },
        run_details: RunDetails {
            builder: Builder {
                id: record.builder_id,
                version: BTreeMap::from([("glassbox".to_string(), crate::VERSION.to_string())]),
            },
            metadata: BuildMetadata {
                invocation_id: record.invocation_id,
                started_on: record.started.rfc3339(),
                finished_on: record.finished.rfc3339(),
            },
            byproducts: vec![
                manifest,
                ResourceDescriptor::named(names::VENDOR_MANIFEST, record.vendor_manifest.digest()),
                record.source_bundle,
            ],
        },
    };
    Statement::new(record.subjects, SLSA_PROVENANCE_V1, predicate)
}

/// The provenance file's new text: `envelope`, plus the envelopes other builders already
/// published there for the same subjects (one file may hold several, one per line). An envelope
/// by the same key is replaced. Another key's provenance for different bytes is an error: one
/// version must not be published with two different sets of artifacts.
pub fn merge_into(
    path: &Path,
    envelope: &Envelope,
    subjects: &[ResourceDescriptor],
    key: &PrivateKey,
) -> Result<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let origin = path.display().to_string();
    let ours = key.public().key_id();
    let mut lines = Vec::new();
    if !text.trim().is_empty() {
        for existing in Envelope::parse_all(&text, &origin)? {
            if existing.signatures.iter().any(|s| s.keyid == ours.as_str()) {
                continue;
            }
            let theirs: Statement<serde_json::Value> =
                Statement::from_envelope(&existing, SLSA_PROVENANCE_V1, &origin)?;
            if theirs.subject != subjects {
                let by = existing.signatures.first().map_or("an unknown key", |s| s.keyid.as_str());
                return Err(Error::invalid(
                    origin,
                    format!(
                        "already holds provenance by {by} for different artifacts; bump the version or remove the file"
                    ),
                ));
            }
            lines.push(existing.to_line());
        }
    }
    lines.push(envelope.to_line());
    Ok(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    fn provenance_for(subject: &str, key: &PrivateKey) -> (Envelope, Vec<ResourceDescriptor>) {
        let subjects = vec![ResourceDescriptor::named(subject, Sha256Digest::of(subject.as_bytes()))];
        let st = Statement::new(subjects.clone(), SLSA_PROVENANCE_V1, serde_json::json!({}));
        (st.sign(key), subjects)
    }

    #[test]
    fn merge_keeps_other_builders_and_replaces_our_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.provenance.intoto.jsonl");
        let (alice, bob) = (PrivateKey::from_seed(&[1; 32]), PrivateKey::from_seed(&[2; 32]));
        let (a1, subjects) = provenance_for("t/app", &alice);
        assert_eq!(merge_into(&path, &a1, &subjects, &alice).unwrap(), format!("{}\n", a1.to_line()));
        std::fs::write(&path, format!("{}\n", a1.to_line())).unwrap();

        let (b1, _) = provenance_for("t/app", &bob);
        let both = merge_into(&path, &b1, &subjects, &bob).unwrap();
        assert_eq!(both, format!("{}\n{}\n", a1.to_line(), b1.to_line()));
        std::fs::write(&path, &both).unwrap();

        // Alice again: her old line is replaced, Bob's stays.
        let (a2, _) = provenance_for("t/app", &alice);
        assert_eq!(merge_into(&path, &a2, &subjects, &alice).unwrap(), format!("{}\n{}\n", b1.to_line(), a2.to_line()));

        // Different bytes under the same version by someone else: refused, naming the file.
        let (other, other_subjects) = provenance_for("t/other", &PrivateKey::from_seed(&[3; 32]));
        let err = merge_into(&path, &other, &other_subjects, &PrivateKey::from_seed(&[3; 32])).unwrap_err().to_string();
        assert!(err.contains("x.provenance.intoto.jsonl") && err.contains("different artifacts"), "{err}");
    }
}
