//! Assembles the SLSA provenance statement of a finished build from what the build recorded.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::attest::provenance::{
    names, BuildDefinition, BuildMetadata, Builder, ExternalParameters, InternalParameters, Provenance, RunDetails,
};
use crate::attest::{ResourceDescriptor, Statement, BUILD_TYPE_CARGO_V1, SLSA_PROVENANCE_V1};
use crate::bundle;
use crate::cargo::Lockfile;
use crate::digest::Sha256Digest;
use crate::env::{BuildEnv, UMASK};
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
    pub cargo_args: &'a [String],
    pub manifest: &'a SourceManifest,
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
        ResourceDescriptor { name: Some(names::LINKER.into()), ..Default::default() }
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
                umask: UMASK.into(),
                bundle: bundle::settings(),
                dirty: record.dirty,
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
            byproducts: vec![manifest],
        },
    };
    Statement::new(record.subjects, SLSA_PROVENANCE_V1, predicate)
}
