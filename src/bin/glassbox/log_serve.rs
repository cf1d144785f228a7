//! `glassbox log serve` (the log service: the only process holding the log key; submissions
//! over HTTP, the log in a bucket or a directory, witnesses cosigning every published checkpoint) and
//! `glassbox log check-store` (does a store honour create-only writes and compare-and-swap?).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use glassbox::remote::objects::Objects;
use glassbox::remote::{Location, StoreSettings};
use glassbox::service::log::WitnessPeer;
use glassbox::service::{run_log_service, LogService};
use glassbox::transparency::bucket;

use crate::log::vkey;

#[derive(Args)]
pub struct ServeArgs {
    /// Where the log is: `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX` or a
    /// directory (each created with `glassbox log init`; a directory is locked while served,
    /// and `log append` refuses it from the first start on). Credentials and endpoint come
    /// from the store's variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,
    /// AWS_REGION, AWS_ALLOW_HTTP; GOOGLE_SERVICE_ACCOUNT…; AZURE_STORAGE_ACCOUNT_NAME…
    #[arg(long)]
    storage: String,
    /// The log's private key (only this process holds it).
    #[arg(long)]
    key: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one; the address is
    /// printed as `listening on http://…`).
    #[arg(long)]
    listen: SocketAddr,
    /// A witness: `URL=VKEY` (its base URL and its cosignature verifier key, file or string).
    /// Repeatable.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// Publish a checkpoint only once this many witnesses cosigned it.
    #[arg(long, default_value_t = 0)]
    witness_threshold: usize,
    /// At most this many entries per batch, and this many waiting (more get 503).
    #[arg(long, default_value_t = 256)]
    pool: usize,
    /// At most this many milliseconds from a batch's first entry to its commit.
    #[arg(long, default_value_t = 500)]
    period: u64,
    /// At most this many connections at once (more wait in the kernel's backlog).
    #[arg(long, default_value_t = glassbox::service::MAX_CONNECTIONS)]
    max_connections: usize,
    /// At most this many connections from one IP address (more are closed at once). Behind a
    /// proxy or CDN every connection comes from the proxy: raise this to --max-connections
    /// there and let the proxy limit each client.
    #[arg(long, default_value_t = glassbox::service::MAX_PER_CLIENT)]
    max_per_client: usize,
    /// Entries per segment of the subject index (`subjects/`, formats.md section 21): readers
    /// such as `verify` scan at most this many entries past it. A power of two, at least 256.
    #[arg(long, default_value_t = glassbox::transparency::subject_index::DEFAULT_SEGMENT)]
    index_segment: u64,
}

#[derive(Args)]
pub struct CheckStoreArgs {
    /// The store: `s3://`, `gs://` or `az://` BUCKET/PREFIX (credentials from the AWS_*,
    /// GOOGLE_* or AZURE_* variables) or a directory.
    url: String,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

/// Options of commands that publish what they signed to a log service.
#[derive(Args)]
pub struct PublishArgs {
    /// Submit what was signed to this log service (`https://…`, `http://` on loopback) and keep
    /// each receipt beside the file, as `<sha256 hex>.tlog-proof`. No log key is needed.
    #[arg(long = "log", value_name = "URL")]
    log: Option<String>,
    /// The log's verifier key (file or string): each receipt's checkpoint must be signed by it.
    #[arg(long = "log-vkey", requires = "log")]
    log_vkey: Option<String>,
}

impl PublishArgs {
    pub fn requested(&self) -> bool {
        self.log.is_some()
    }

    /// Refuses a `--log` that is not a URL, and an unreadable `--log-vkey`, before any work.
    pub fn check(&self) -> Result<()> {
        if let Some(url) = &self.log {
            if !matches!(Location::parse(url)?, Location::Url(_)) {
                anyhow::bail!(glassbox::Error::invalid(url, "--log takes a log service's URL (https://…)"));
            }
        }
        if let Some(v) = &self.log_vkey {
            vkey(v, "--log-vkey")?;
        }
        Ok(())
    }
}

/// A receipt written by [`publish`].
pub struct Published {
    pub index: u64,
    pub receipt: PathBuf,
}

/// With `--log URL`: submits every envelope of `file` to the log service and writes each receipt
/// (checked) beside it. Nothing without `--log`.
pub fn publish(args: &PublishArgs, file: &std::path::Path) -> Result<Vec<Published>> {
    use glassbox::transparency::submit::{submit, SubmitOptions};
    let Some(url) = &args.log else { return Ok(Vec::new()) };
    let url = match Location::parse(url)? {
        Location::Url(url) => url,
        other => anyhow::bail!(glassbox::Error::invalid(other, "--log takes a log service's URL (https://…)")),
    };
    let log_key = args.log_vkey.as_deref().map(|v| vkey(v, "--log-vkey")).transpose()?;
    let witnesses = glassbox::transparency::audit::WitnessPolicy::default();
    let options = SubmitOptions {
        log_key: log_key.as_ref(),
        witnesses: &witnesses,
        retries: 30,
        timeout: Duration::from_secs(120),
    };
    let text = glassbox::fs::read_regular_text(file, 1 << 30)?;
    let dir = file.parent().unwrap_or(std::path::Path::new("."));
    let mut published = Vec::new();
    for item in glassbox::transparency::Loggable::parse_lines(&text, &file.display().to_string())? {
        let done = submit(&url, &item, &options)?;
        let receipt = dir.join(format!("{}.tlog-proof", done.envelope.hex()));
        glassbox::fs::write_atomic(&receipt, &done.receipt.to_bytes(), 0o644)?;
        published.push(Published { index: done.index, receipt });
    }
    Ok(published)
}

/// The object-store settings from the environment, the way each store's own tools take them
/// (`AWS_*`, `GOOGLE_*`, `AZURE_*`). Values are never printed.
pub fn store_settings() -> StoreSettings {
    let vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| ["AWS_", "GOOGLE_", "AZURE_"].iter().any(|p| k.starts_with(p)))
        .collect();
    StoreSettings { vars }
}

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    let key = crate::context::private_key(&a.key).context("reading --key")?;
    let mut witnesses = Vec::new();
    for w in &a.witnesses {
        let (url, vk) = w.split_once('=').ok_or_else(|| {
            glassbox::Error::invalid("--witness", "expected URL=VKEY (the witness's base URL and key)")
        })?;
        glassbox::remote::check_url(url)?;
        witnesses.push(WitnessPeer { url: url.trim_end_matches('/').to_string(), vkey: vkey(vk, "--witness")? });
    }
    let service = LogService {
        storage: Location::parse(&a.storage)?,
        settings: store_settings(),
        key,
        listen: a.listen,
        witnesses,
        threshold: a.witness_threshold,
        pool: a.pool,
        period: Duration::from_millis(a.period),
        max_connections: a.max_connections,
        per_client: a.max_per_client,
        index_segment: a.index_segment,
    };
    run_log_service(service, &mut |l| {
        println!("listening on http://{} (log {}, size {})", l.addr, glassbox::text::escape(&l.origin), l.size);
        use std::io::Write;
        std::io::stdout().flush().map_err(|e| glassbox::Error::io("stdout", e))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn check_store(a: CheckStoreArgs) -> Result<ExitCode> {
    let location = Location::parse(&a.url)?;
    let objects = match &location {
        Location::Dir(path) => Objects::open_dir(path)?,
        _ => Objects::open(&location, &store_settings())?,
    };
    bucket::check_store(&objects)?;
    if a.json {
        crate::render::print_json(&serde_json::json!({ "store": location.to_string(), "honoured": true }))?;
    } else {
        println!("{location}: create-only writes and compare-and-swap are honoured");
    }
    Ok(ExitCode::SUCCESS)
}
