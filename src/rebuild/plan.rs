//! What a rebuild needs from the vendor's provenance: the envelope verified against the trusted
//! builder keys, then every parameter of the original build, checked for what glassbox knows.

use std::path::Path;

use crate::attest::provenance::{names, Provenance};
use crate::attest::{Envelope, ResourceDescriptor, Statement, BUILD_TYPE_CARGO_V1, SLSA_PROVENANCE_V1};
use crate::cargo::{BuildParams, VendorConfig};
use crate::digest::Sha256Digest;
use crate::env::BuildRoot;
use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;
use crate::keys::{KeyId, PublicKey};
use crate::manifest::SourceManifest;
use crate::toolchain::RustcVersion;

/// A provenance statement signed by a trusted builder key.
#[derive(Clone, Debug)]
pub struct TrustedProvenance {
    pub statement: Statement<Provenance>,
    pub signer: KeyId,
    /// sha256 of the envelope's line: how the verdict names its input.
    pub envelope_digest: Sha256Digest,
    pub file_name: String,
}

/// Reads `path` and returns the first envelope that a `trusted` key signed. Signatures are
/// checked before anything in the payload is believed.
pub fn verify(path: &Path, trusted: &[PublicKey]) -> Result<TrustedProvenance> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).at(path)?;
    let envelopes = Envelope::parse_all(&text, &origin)?;
    let mut seen = Vec::new();
    for env in &envelopes {
        let Some(signer) = env.verified_by(trusted)?.into_iter().next() else {
            seen.extend(env.signatures.iter().map(|s| s.keyid.clone()));
            continue;
        };
        let statement: Statement<Provenance> = Statement::from_envelope(env, SLSA_PROVENANCE_V1, &origin)?;
        let build_type = &statement.predicate.build_definition.build_type;
        if build_type != BUILD_TYPE_CARGO_V1 {
            return Err(Error::invalid(&origin, format!("buildType {build_type:?} is not {BUILD_TYPE_CARGO_V1}")));
        }
        let file_name = path.file_name().map_or(origin.clone(), |n| n.to_string_lossy().into_owned());
        return Ok(TrustedProvenance { statement, signer, envelope_digest: env.digest(), file_name });
    }
    seen.sort();
    seen.dedup();
    Err(Error::rejected(origin, untrusted_why(&seen, trusted)))
}

/// Why no `trusted` key verifies a provenance whose signatures name the key ids `seen`. Only a
/// signature naming a trusted key that fails is reason to suspect a change after signing; a
/// signature by another key is most often the wrong `--trust` file, and is named as such.
fn untrusted_why(seen: &[String], trusted: &[PublicKey]) -> String {
    let short = |id: &str| id.get(..8).unwrap_or(id).to_string();
    let trusted_ids: Vec<String> = trusted.iter().map(|k| k.key_id().as_str().to_string()).collect();
    let trusted_list = trusted_ids.iter().map(|id| short(id)).collect::<Vec<_>>().join(", ");
    let named: Vec<&String> = seen.iter().filter(|id| !id.is_empty()).collect();
    if let Some(id) = named.iter().find(|id| trusted_ids.contains(id)) {
        return format!(
            "the signature by trusted key {} does not verify: the payload was changed after signing, or the signature is damaged",
            short(id)
        );
    }
    let signers = match (named.is_empty(), seen.iter().any(String::is_empty)) {
        (true, false) => "it carries no signature".to_string(),
        (true, true) => "its signatures name no key id, and verify with no --trust key".to_string(),
        (false, _) => format!(
            "it is signed by key {}, which is not a --trust key",
            named.iter().map(|id| short(id)).collect::<Vec<_>>().join(", ")
        ),
    };
    format!(
        "no signature by a --trust key verifies: {signers} (--trust keys: {trusted_list}); `glassbox key id FILE` \
         shows a key file's id: pass the builder's public key with --trust"
    )
}

/// Everything needed to repeat the build.
#[derive(Clone, Debug)]
pub struct RebuildPlan {
    pub params: BuildParams,
    pub source_date_epoch: i64,
    /// `<component>-<version>`.
    pub stem: String,
    pub source_digest: Sha256Digest,
    pub manifest: SourceManifest,
    pub lockfile_sha256: Sha256Digest,
    pub vendor_manifest_digest: Option<Sha256Digest>,
    pub rustc: RustcVersion,
    /// The recorded `--config source.…` flags, with `${BUILD_ROOT}` still in them.
    vendor_config: Vec<String>,
}

impl RebuildPlan {
    /// The vendor flags for a rebuild in `root`.
    pub fn vendor_config(&self, root: &BuildRoot) -> VendorConfig {
        let real = root.root.display().to_string();
        VendorConfig { config_args: self.vendor_config.iter().map(|a| a.replace("${BUILD_ROOT}", &real)).collect() }
    }
}

/// The `<component>-<version>` of the one bundle subject. Every subject name becomes a file name
/// (`bundles/<stem>-<target>.tar.gz`, `--out`, `--expected`), so each must be
/// `<target>/<file name>` or the bundle, in plain characters: a trusted builder's provenance
/// must not make the rebuild write or read outside its directories.
fn bundle_stem<'a>(subjects: &'a [ResourceDescriptor], target: &str) -> std::result::Result<&'a str, String> {
    let mut stem = None;
    for name in subjects.iter().map(|s| s.name.as_deref().unwrap_or_default()) {
        let plain = |part: &str| crate::cargo::workspace::check_component_part("subject", part).is_ok();
        let bundle = name.strip_suffix(&format!("-{target}.tar.gz"));
        match (name.strip_prefix(&format!("{target}/")), bundle) {
            (Some(file), _) if plain(file) => {}
            (_, Some(s)) if plain(s) && stem.is_none() => stem = Some(s),
            (_, Some(s)) if plain(s) => return Err("two bundle subjects".into()),
            _ => {
                return Err(format!(
                    "subject {name:?} is neither `{target}/<file name>` nor `<component>-<version>-{target}.tar.gz` \
                     (letters, digits, '.', '_', '+' and '-' only)"
                ))
            }
        }
    }
    stem.ok_or_else(|| "no bundle among the subjects".into())
}

/// Reads the build's parameters out of a trusted provenance.
pub fn plan(tp: &TrustedProvenance) -> Result<RebuildPlan> {
    let origin = tp.file_name.as_str();
    let def = &tp.statement.predicate.build_definition;
    let ext = &def.external_parameters;
    let bad = |why: String| Error::invalid(origin, why);
    check_relative(&ext.manifest_path).map_err(|why| bad(format!("manifestPath {:?}: {why}", ext.manifest_path)))?;
    for part in [&ext.profile, &ext.target] {
        crate::cargo::workspace::check_component_part("build parameter", part)?;
    }
    let manifest = tp.statement.predicate.source_manifest(origin)?;
    let source_digest = manifest.digest();

    let byproduct =
        |name: &str| tp.statement.predicate.run_details.byproducts.iter().find(|b| b.name.as_deref() == Some(name));
    let dependency = |name: &str| def.resolved_dependencies.iter().find(|d| d.name.as_deref() == Some(name));
    let lockfile_sha256 = dependency(names::CARGO_LOCK)
        .and_then(ResourceDescriptor::sha256)
        .ok_or_else(|| bad("no Cargo.lock in resolvedDependencies".into()))?;
    let rustc = dependency(names::RUSTC).ok_or_else(|| bad("no rustc in resolvedDependencies".into()))?;
    let note = |key: &str| rustc.annotations.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let rustc = RustcVersion {
        release: note("release"),
        commit_hash: note("commitHash"),
        commit_date: note("commitDate"),
        host: note("host"),
        llvm_version: note("llvmVersion"),
    };
    if rustc.release.is_empty() || rustc.commit_hash.is_empty() {
        return Err(bad("the rustc dependency lacks release or commitHash".into()));
    }

    let bundle = bundle_stem(&tp.statement.subject, &ext.target).map_err(bad)?;

    let mut vendor_config = Vec::new();
    let args = &def.internal_parameters.cargo_args;
    for (i, arg) in args.iter().enumerate() {
        if arg == "--config" {
            let value = args.get(i + 1).ok_or_else(|| bad("cargoArgs ends with --config".into()))?;
            if !value.starts_with("source.") {
                return Err(bad(format!("cargoArgs has a --config glassbox does not write: {value:?}")));
            }
            vendor_config.extend(["--config".to_string(), value.clone()]);
        }
    }
    let source_date_epoch = def.internal_parameters.source_date_epoch;
    if source_date_epoch < 0 {
        return Err(bad(format!("negative sourceDateEpoch {source_date_epoch}")));
    }
    Ok(RebuildPlan {
        params: BuildParams {
            manifest_rel: ext.manifest_path.clone(),
            packages: ext.packages.clone(),
            profile: ext.profile.clone(),
            target: ext.target.clone(),
            features: ext.features.clone(),
        },
        source_date_epoch,
        stem: bundle.to_string(),
        source_digest,
        manifest,
        lockfile_sha256,
        vendor_manifest_digest: byproduct(names::VENDOR_MANIFEST).and_then(ResourceDescriptor::sha256),
        rustc,
        vendor_config,
    })
}
