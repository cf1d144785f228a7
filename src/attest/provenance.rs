//! SLSA provenance v1 for a glassbox Cargo build (buildType `https://glassbox.dev/cargo-build/v1`).
//! These types are written by `build` and read back by `rebuild`, so every parameter a rebuild
//! needs is here, with paths as placeholders.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::ResourceDescriptor;
use crate::error::{Error, Result};
use crate::manifest::SourceManifest;

impl Provenance {
    /// The source manifest the build embedded (the `sources.sha256` byproduct), checked against
    /// the source digest it claims. `origin` names the provenance in errors. A manifest that
    /// does not hash to the digest is a definite "no" (`Rejected`); anything unreadable is
    /// `Invalid`. The signature is the caller's business.
    pub fn source_manifest(&self, origin: &str) -> Result<SourceManifest> {
        let bad = |why: String| Error::invalid(origin, why);
        let digest = self
            .build_definition
            .external_parameters
            .source
            .sha256()
            .ok_or_else(|| bad("externalParameters.source has no sha256 digest".into()))?;
        let byproduct = self.run_details.byproducts.iter().find(|b| b.name.as_deref() == Some(names::SOURCE_MANIFEST));
        let content = byproduct
            .ok_or_else(|| bad("no sources.sha256 byproduct".into()))?
            .content
            .as_deref()
            .ok_or_else(|| bad("sources.sha256 byproduct has no content".into()))?;
        let bytes = BASE64.decode(content).map_err(|e| bad(format!("sources.sha256 byproduct is not base64 ({e})")))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("sources.sha256 byproduct is not UTF-8".into()))?;
        let manifest = SourceManifest::parse(&text, &format!("{origin}: sources.sha256"))?;
        if manifest.digest() != digest {
            return Err(Error::rejected(origin, "the embedded source manifest does not hash to the source digest"));
        }
        Ok(manifest)
    }
}

/// The provenance predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: ExternalParameters,
    pub internal_parameters: InternalParameters,
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// What the person starting the build chose. Unknown fields are refused: a rebuilder must not
/// ignore a parameter it does not understand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalParameters {
    /// The source tree: `digest.sha256` is the source digest (sha256 of the source manifest),
    /// `digest.gitCommit` the commit when built from a git checkout.
    pub source: ResourceDescriptor,
    /// The workspace manifest, relative to the source root.
    pub manifest_path: String,
    /// `-p` packages; empty means cargo's default members.
    pub packages: Vec<String>,
    pub profile: String,
    pub target: String,
    pub features: Vec<String>,
}

/// What glassbox itself fixed for the build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InternalParameters {
    pub source_date_epoch: i64,
    /// The complete build environment, paths as placeholders (`${BUILD_ROOT}`, `${SYSROOT}`, …).
    pub environment: BTreeMap<String, String>,
    /// The rustflags given to cargo through `CARGO_ENCODED_RUSTFLAGS`, with placeholders.
    pub rustflags: Vec<String>,
    /// The cargo command line after `cargo`, with placeholders.
    pub cargo_args: Vec<String>,
    pub umask: String,
    pub bundle: BundleSettings,
    /// Whether the source differed from its git commit (`--allow-dirty`).
    pub dirty: bool,
    /// How the vendor's build code was confined. Absent in provenance written before glassbox
    /// recorded it: the legacy layout, built outside a sandbox with `${BUILD_ROOT}` at
    /// `/tmp/glassbox/<16 hex of the source digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxRecord>,
}

/// The sandbox of a build or rebuild (`internalParameters.sandbox`, `reproduction.sandbox`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxRecord {
    /// `bubblewrap`, or `none` for a build run with `--no-sandbox`.
    pub tool: String,
    /// The tool's version (`bwrap --version`); absent for `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What `${BUILD_ROOT}` stood for: the path the build root was mounted at inside the
    /// sandbox. Absent for `none` (a host path, which glassbox never records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_root: Option<String>,
}

/// How bundles are written, so that a rebuilder writes the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleSettings {
    pub format: String,
    pub gzip_level: u32,
    pub gzip_mtime: u32,
    pub entry_order: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: BuildMetadata,
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
    pub version: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    pub invocation_id: String,
    pub started_on: String,
    pub finished_on: String,
}

/// Names of resolved dependencies and byproducts with a fixed meaning.
pub mod names {
    pub const SOURCE_TREE: &str = "source";
    pub const CARGO_LOCK: &str = "Cargo.lock";
    pub const RUSTC: &str = "rustc";
    pub const CARGO: &str = "cargo";
    pub const LINKER: &str = "linker";
    pub const SOURCE_MANIFEST: &str = "sources.sha256";
    pub const VENDOR_MANIFEST: &str = "vendor.sha256";
}
