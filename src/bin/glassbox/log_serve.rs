//! `glassbox log serve` (the log service: the only process holding the log key; submissions
//! over HTTP, the log in a bucket, witnesses cosigning every published checkpoint) and
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
    /// Where the log is: `s3://BUCKET/PREFIX` (created with `glassbox log init`). Credentials
    /// and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,
    /// AWS_REGION and AWS_ALLOW_HTTP.
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
}

#[derive(Args)]
pub struct CheckStoreArgs {
    /// The store: `s3://BUCKET/PREFIX` (credentials from the AWS_* variables).
    url: String,
}

/// The object-store settings from the environment, the way the AWS tools take them. Values are
/// never printed.
pub fn store_settings() -> StoreSettings {
    let aws = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    StoreSettings { aws }
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
    let objects = Objects::open(&location, &store_settings())?;
    bucket::check_store(&objects)?;
    println!("{location}: create-only writes and compare-and-swap are honoured");
    Ok(ExitCode::SUCCESS)
}
