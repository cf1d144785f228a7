//! `glassbox log`: the transparency log of attestations (init, append, prove, check-proof,
//! verify, audit, cosign, witness-key, gc, index, mirror; `list` is in log_list.rs).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use glassbox::attest::Envelope;
use glassbox::digest::Sha256Digest;
use glassbox::fs::{limits, read_regular, read_regular_text};
use glassbox::keys::form::Wanted;
use glassbox::keys::PublicKey;
use glassbox::remote::objects::Objects;
use glassbox::remote::Location;
use glassbox::text::escape;
use glassbox::tlog::note::{is_valid_key_name, NoteVerifier};
use glassbox::tlog::proof::TlogProof;
use glassbox::transparency::audit::{self, WitnessPolicy};
use glassbox::transparency::entry::MAX_ENVELOPE_BYTES;
use glassbox::transparency::proofs::{self, Target};
use glassbox::transparency::{bucket, gc, mirror, store, witness, LogDir, Loggable};

use crate::context::now;
use crate::log_serve::store_settings;
use crate::render::print_json;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Create an empty log and its first checkpoint; print the verifier key.
    Init(InitArgs),
    /// Append DSSE envelopes (files of one or more) and publish one new checkpoint.
    Append(crate::log_append::AppendArgs),
    /// Print a c2sp.org/tlog-proof@v1 inclusion proof for an entry.
    Prove(ProveArgs),
    /// Check an inclusion proof offline.
    CheckProof(CheckProofArgs),
    /// Verify the checkpoint and every tile, and consistency with an older checkpoint.
    Verify(VerifyArgs),
    /// Verify, then recompute every entry and check every stored envelope.
    Audit(AuditArgs),
    /// As a witness: cosign a checkpoint consistent with the last one cosigned.
    Cosign(CosignArgs),
    /// List every entry: index, type, subjects, signers.
    List(crate::log_list::ListArgs),
    /// Print a witness's cosignature verifier key.
    WitnessKey(WitnessKeyArgs),
    /// Remove the partial tiles and bundles the current checkpoint no longer needs, and the
    /// temporary files of killed appends (for a publisher serving only the latest checkpoint).
    Gc(GcArgs),
    /// Write the subject index (`subjects/`) with the log's key, so that verify reads only the
    /// entries after it; a log served by `log serve` keeps its own.
    Index(IndexArgs),
    /// Run the log service: the only holder of the log key; POST /add takes envelopes, the log
    /// lives in a bucket, witnesses cosign each published checkpoint; the same URL serves it.
    Serve(crate::log_serve::ServeArgs),
    /// Check that an object store honours create-only writes and compare-and-swap.
    CheckStore(crate::log_serve::CheckStoreArgs),
    /// Copy a log between any two of a directory, a bucket and a URL (a URL only as the
    /// source), authenticating every tile and bundle against the source's checkpoint.
    Mirror(MirrorArgs),
}

#[derive(Args)]
pub struct MirrorArgs {
    /// The log to copy: a directory, a bucket (`s3://`, `gs://`, `az://` BUCKET/PREFIX) or a base URL.
    src: String,
    /// Where to copy it: a directory or a bucket (empty, or an earlier copy).
    dst: String,
    /// The log's verifier key (file or string): nothing is copied unless the source verifies.
    #[arg(long)]
    vkey: String,
    #[command(flatten)]
    witness: WitnessArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct InitArgs {
    /// A directory, or a bucket (`s3://`, `gs://` or `az://` BUCKET/PREFIX; credentials from the
    /// AWS_*, GOOGLE_* or AZURE_* variables).
    dir: String,
    /// The log's origin (also the checkpoint key's name), e.g. `example.com/glassbox-log`.
    #[arg(long)]
    origin: String,
    /// The log's private key: it signs the first checkpoint (mode 0600).
    #[arg(long)]
    key: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("entry").required(true).args(["envelope", "index"])))]
pub struct ProveArgs {
    /// The log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    dir: String,
    /// Prove the entry of the envelope in this file (its first line).
    #[arg(long)]
    envelope: Option<PathBuf>,
    /// Prove the entry with this index.
    #[arg(long)]
    index: Option<u64>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

/// Witness options shared by verify and check-proof.
#[derive(Args)]
pub struct WitnessArgs {
    /// A witness's cosignature verifier key (file or string), repeatable.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned the checkpoint (0: none required).
    #[arg(long, default_value_t = 0)]
    witness_threshold: usize,
}

#[derive(Args)]
pub struct CheckProofArgs {
    /// The `c2sp.org/tlog-proof@v1` receipt to check.
    proof: PathBuf,
    /// The envelope the receipt is for (its first line).
    #[arg(long)]
    envelope: PathBuf,
    /// The log's verifier key (file or string).
    #[arg(long)]
    vkey: String,
    #[command(flatten)]
    witness: WitnessArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    dir: String,
    /// The log's verifier key (file or string).
    #[arg(long)]
    vkey: String,
    /// An older signed checkpoint: check that the log only grew since.
    #[arg(long)]
    old: Option<PathBuf>,
    #[command(flatten)]
    witness: WitnessArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AuditArgs {
    /// The log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`).
    dir: String,
    /// The log's verifier key (file or string).
    #[arg(long)]
    vkey: String,
    /// Check every envelope's signatures against these keys (repeatable).
    #[arg(long)]
    trust: Vec<PathBuf>,
    #[command(flatten)]
    witness: WitnessArgs,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CosignArgs {
    /// The signed checkpoint to cosign.
    checkpoint: PathBuf,
    /// The witness's private key.
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (default: `witness-<key id 8 hex>`).
    #[arg(long)]
    name: Option<String>,
    /// Where the witness remembers the last checkpoint it cosigned per log (created if missing).
    #[arg(long)]
    state: PathBuf,
    /// The log's verifier key (file or string): only its checkpoints are cosigned.
    #[arg(long)]
    log_vkey: String,
    /// The log directory, to prove the new checkpoint extends the last one cosigned.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct WitnessKeyArgs {
    /// The witness's public key.
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (default: `witness-<key id 8 hex>`).
    #[arg(long)]
    name: Option<String>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    /// The log directory.
    dir: PathBuf,
    /// The log's verifier key (file or string): nothing is removed unless the log verifies.
    #[arg(long)]
    vkey: String,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct IndexArgs {
    /// The log: a directory or a bucket (`s3://…`, `gs://…`, `az://…`).
    log: String,
    /// The log's private key: it signs the index's manifest.
    #[arg(long)]
    key: PathBuf,
    /// Entries per segment (a power of two, at least 256): verify scans at most this many past
    /// the index.
    #[arg(long, default_value_t = glassbox::transparency::subject_index::DEFAULT_SEGMENT)]
    segment: u64,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: LogCommand) -> Result<ExitCode> {
    match cmd {
        LogCommand::Init(a) => {
            let key = crate::context::private_key(&a.key).context("reading --key")?;
            let vkey = match Location::parse(&a.dir)? {
                Location::Dir(dir) => store::init(&LogDir::new(dir), &a.origin, &key)?,
                location => bucket::init(&Objects::open(&location, &store_settings())?, &a.origin, &key)?,
            };
            if a.json {
                print_json(&serde_json::json!({ "origin": vkey.name, "vkey": vkey.to_string() }))?;
            } else {
                println!("{vkey}");
            }
        }
        LogCommand::Append(a) => {
            crate::log_append::run(a)?;
        }
        LogCommand::Prove(a) => {
            let target = match (&a.envelope, a.index) {
                (Some(file), _) => Target::Envelope(envelope_digest(file)?),
                (None, Some(i)) => Target::Index(i),
                (None, None) => anyhow::bail!("give --envelope or --index"),
            };
            let (proof, _) = proofs::prove(&open_log(&a.dir)?, target)?;
            if a.json {
                // The receipt as its text (c2sp.org/tlog-proof@v1): the bytes `check-proof` reads.
                print_json(&serde_json::json!({ "index": proof.index, "proof": proof.to_text() }))?;
            } else {
                print!("{}", proof.to_text());
            }
        }
        LogCommand::CheckProof(a) => {
            let text = read_regular(&a.proof, MAX_PROOF_FILE)?;
            let proof =
                TlogProof::parse(&text).map_err(|e| glassbox::Error::invalid(a.proof.display(), e.to_string()))?;
            let envelope = single_envelope(&a.envelope)?;
            let checked = proofs::check_proof(&proof, &envelope, &vkey(&a.vkey, "--vkey")?, &witnesses(&a.witness)?)?;
            if a.json {
                print_json(&checked)?;
            } else {
                println!(
                    "OK: envelope {} is entry {} of {} (size {})",
                    checked.envelope.prefixed(),
                    checked.index,
                    checked.origin,
                    checked.size
                );
            }
        }
        LogCommand::Verify(a) => {
            let old = a.old.as_ref().map(|p| read_regular(p, limits::CHECKPOINT)).transpose()?;
            let v = audit::verify_with_bundles(
                &open_log(&a.dir)?,
                &vkey(&a.vkey, "--vkey")?,
                &witnesses(&a.witness)?,
                old.as_deref(),
            )?;
            report(&v, a.json, "verified")?;
        }
        LogCommand::Audit(a) => {
            let trusted = a.trust.iter().map(|p| PublicKey::read(p)).collect::<glassbox::Result<Vec<_>>>()?;
            let v = audit::audit(&open_log(&a.dir)?, &vkey(&a.vkey, "--vkey")?, &witnesses(&a.witness)?, &trusted)?;
            report(&v, a.json, "audited")?;
        }
        LogCommand::Cosign(a) => {
            let key = crate::context::private_key(&a.key).map_err(|e| {
                wrong_key_file(
                    e,
                    &a.key,
                    Wanted::PrivatePem,
                    "log cosign --key",
                    "the witness's public key is what `log witness-key --key` takes",
                )
            })?;
            let name = a.name.unwrap_or_else(|| format!("witness-{}", key.public().key_id().short()));
            let done = witness::cosign(&witness::Cosign {
                checkpoint: a.checkpoint,
                key: &key,
                name,
                state: a.state,
                log_key: vkey(&a.log_vkey, "--log-vkey")?,
                log_dir: a.log,
                now: now(),
            })?;
            if a.json {
                print_json(&done)?;
            } else {
                let since =
                    done.previous.map_or("first cosignature".to_string(), |p| format!("consistent with size {p}"));
                println!("cosigned {} at size {} ({since})", done.origin, done.size);
            }
        }
        LogCommand::List(a) => crate::log_list::list(&a)?,
        LogCommand::Serve(a) => return crate::log_serve::serve(a),
        LogCommand::CheckStore(a) => return crate::log_serve::check_store(a),
        LogCommand::Mirror(a) => {
            let dst = match Location::parse(&a.dst)? {
                Location::Url(url) => anyhow::bail!(glassbox::Error::invalid(
                    url,
                    "a URL is read-only: mirror into a directory or a bucket"
                )),
                location => LogDir::open(&location, &store_settings())?,
            };
            let done = mirror::mirror(&open_log(&a.src)?, &dst, &vkey(&a.vkey, "--vkey")?, &witnesses(&a.witness)?)?;
            if a.json {
                print_json(&done)?;
            } else {
                println!(
                    "mirrored {} at size {} (the copy had {}): {} objects, {} bytes written to {}",
                    escape(&done.origin),
                    done.size,
                    done.previous,
                    done.objects,
                    done.bytes,
                    a.dst
                );
            }
        }
        LogCommand::Index(a) => {
            let key = crate::context::private_key(&a.key).context("reading --key")?;
            let log = match Location::parse(&a.log)? {
                Location::Dir(path) => LogDir::in_objects(glassbox::remote::objects::Objects::open_dir(&path)?),
                Location::Url(_) => {
                    anyhow::bail!(glassbox::Error::invalid(&a.log, "is read-only: give a directory or a bucket"))
                }
                location => LogDir::open(&location, &store_settings())?,
            };
            let done = glassbox::transparency::subject_index::index_log(&log, &key, a.segment)?;
            if a.json {
                print_json(&done)?;
            } else {
                println!(
                    "{} at size {}: the subject index covers {} entries in {} segment(s){}",
                    escape(&done.origin),
                    done.size,
                    done.covered,
                    done.segments,
                    if done.extended { "" } else { " (nothing new)" }
                );
            }
        }
        LogCommand::Gc(a) => {
            let done = gc::collect(&LogDir::new(&a.dir), &vkey(&a.vkey, "--vkey")?, a.dry_run)?;
            if a.json {
                print_json(&done)?;
            } else {
                let verb = if done.dry_run { "would remove" } else { "removed" };
                println!(
                    "{verb} {} stale file(s), {} bytes, from {} (checkpoint size {}); {} empty directories removed",
                    done.removed.len(),
                    done.bytes,
                    escape(&done.origin),
                    done.size,
                    done.directories.len()
                );
            }
        }
        LogCommand::WitnessKey(a) => {
            let key = PublicKey::read(&a.key).map_err(|e| {
                wrong_key_file(
                    e,
                    &a.key,
                    Wanted::PublicPem,
                    "log witness-key --key",
                    "the witness's private key is what `log cosign --key` and `witness serve --key` take",
                )
            })?;
            let name = a.name.unwrap_or_else(|| format!("witness-{}", key.key_id().short()));
            if !is_valid_key_name(&name) {
                anyhow::bail!(glassbox::Error::invalid(
                    "--name",
                    "a witness name must be non-empty, without spaces or '+'"
                ));
            }
            let vkey = NoteVerifier::cosignature_v1(&name, &key);
            if a.json {
                print_json(&serde_json::json!({ "name": name, "keyId": key.key_id(), "vkey": vkey.to_string() }))?;
            } else {
                println!("{vkey}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The log at a command-line location: a directory, a bucket or a base URL.
pub(crate) fn open_log(arg: &str) -> Result<LogDir> {
    Ok(LogDir::open(&Location::parse(arg)?, &store_settings())?)
}

/// The largest tlog-proof file: 64 hashes and a checkpoint.
const MAX_PROOF_FILE: u64 = limits::CHECKPOINT + (64 << 10);

/// A verifier key given as a string (`name+hash+key`) or as a file holding one; `flag` names
/// the option. Neither the string nor the file's text is ever quoted in an error (either may be
/// a private key given by mistake): the error names the file or the option.
pub(crate) fn vkey(arg: &str, flag: &str) -> Result<NoteVerifier> {
    use glassbox::keys::form::mismatch;
    let path = Path::new(arg);
    let (text, what) = if std::fs::symlink_metadata(path).is_ok() {
        (read_regular_text(path, limits::KEY_FILE)?.trim().to_string(), path.display().to_string())
    } else if !arg.contains('+') && glassbox::keys::form::recognise(arg).is_none() {
        // Every verifier key holds a '+': this was meant as a file. (A key's text, which may be
        // a secret, is never quoted: it is recognised and named below.)
        anyhow::bail!(glassbox::Error::invalid(
            format!("{flag} {arg}"),
            "no such file, and not a verifier key (`name+hash+base64`) either"
        ));
    } else {
        (arg.to_string(), flag.to_string())
    };
    // Witnesses sign cosignatures (type 0x04), logs their checkpoints (0x01): a key of the
    // other kind, or a PEM key, is named for what it is.
    let wanted = if flag == "--witness" { Wanted::WitnessVerifier } else { Wanted::LogVerifier };
    if let Some(why) = mismatch(&text, wanted, flag) {
        anyhow::bail!(glassbox::Error::invalid(what, why));
    }
    NoteVerifier::parse(&text).map_err(|e| glassbox::Error::invalid(what, e.to_string()).into())
}

/// `error` reading the key file `path` for `flag`, said in the words of the two options that
/// are easily swapped when the file holds another form than `wanted` (`other` says which
/// option takes that form); any other error as it is.
fn wrong_key_file(error: glassbox::Error, path: &Path, wanted: Wanted, flag: &str, other: &str) -> anyhow::Error {
    let text = read_regular_text(path, limits::KEY_FILE).unwrap_or_default();
    match glassbox::keys::form::mismatch(&text, wanted, flag) {
        Some(why) => glassbox::Error::invalid(path.display(), format!("{why}; {other}")).into(),
        None => error.into(),
    }
}

/// The `--witness` keys, each a distinct public key (a key given twice, even under two names,
/// would count one witness twice), and the threshold.
pub(crate) fn witnesses(args: &WitnessArgs) -> Result<WitnessPolicy> {
    let witnesses = args.witnesses.iter().map(|w| vkey(w, "--witness")).collect::<Result<Vec<_>>>()?;
    for (i, w) in witnesses.iter().enumerate() {
        if witnesses[..i].iter().any(|earlier| earlier.key.as_bytes() == w.key.as_bytes()) {
            anyhow::bail!(glassbox::Error::invalid(
                format!("--witness {}", i + 1),
                "is the same public key as an earlier --witness: each witness counts once"
            ));
        }
    }
    if args.witness_threshold > witnesses.len() {
        anyhow::bail!(glassbox::Error::invalid(
            "--witness-threshold",
            format!("{} is more than the {} --witness keys", args.witness_threshold, witnesses.len())
        ));
    }
    Ok(WitnessPolicy { witnesses, threshold: args.witness_threshold })
}

fn single_envelope(path: &Path) -> Result<Envelope> {
    let text = read_regular_text(path, 2 * MAX_ENVELOPE_BYTES as u64)?;
    let mut all = Envelope::parse_all(&text, &path.display().to_string())?;
    if all.len() != 1 {
        anyhow::bail!(glassbox::Error::invalid(
            path.display(),
            format!("holds {} envelopes; give a file with one", all.len())
        ));
    }
    Ok(all.remove(0))
}

fn envelope_digest(path: &Path) -> Result<Sha256Digest> {
    Ok(Loggable::from_envelope(&single_envelope(path)?, &path.display().to_string())?.digest)
}

fn report(v: &audit::Verified, json: bool, what: &str) -> Result<()> {
    if json {
        return print_json(v);
    }
    let tiles = if v.tiles == 1 { "tile" } else { "tiles" };
    println!("{what} {}: size {}, root {}, {} {tiles} authenticated", v.origin, v.size, v.root, v.tiles);
    if v.entries > 0 {
        println!("{} entries recomputed, {} stored envelopes checked", v.entries, v.envelopes);
    }
    if !v.cosigned_by.is_empty() {
        println!("cosigned by {}", v.cosigned_by.join(", "));
    }
    if let Some(old) = v.consistent_with {
        println!("consistent with the checkpoint of size {old}: the log was only appended to");
    }
    if let Some(n) = v.subject_index {
        println!("the signed subject index of the first {n} entries matches them");
    }
    Ok(())
}
