//! Talking to other machines: logs in object storage (S3 and S3-compatible servers) or behind an
//! HTTP(S) base URL, and the HTTP clients of the log service and its witnesses.
//!
//! Async code lives only here and in the service modules ([`crate::service`]): this module runs
//! its futures on one private runtime behind a synchronous API, so the rest of the library stays
//! synchronous. Nothing read from another machine is believed: callers authenticate every byte
//! against a signed checkpoint, and every read is bounded.

pub mod http;
pub mod objects;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Where a log lives: a directory, a bucket (`s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`,
/// `az://CONTAINER/PREFIX`) or a read-only base URL (`https://…`, or `http://` on a loopback
/// address only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Bucket { cloud: Cloud, bucket: String, prefix: String },
    Url(String),
}

/// Which object store a bucket is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon S3 and S3-compatible servers (Ceph RGW, MinIO, R2): `s3://`.
    S3,
    /// Google Cloud Storage: `gs://`.
    Gcs,
    /// Azure Blob Storage: `az://`.
    Azure,
}

impl Cloud {
    const ALL: [Cloud; 3] = [Cloud::S3, Cloud::Gcs, Cloud::Azure];

    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3://",
            Cloud::Gcs => "gs://",
            Cloud::Azure => "az://",
        }
    }

    /// The prefix of the environment variables that configure this store (as its own tools
    /// read them: `AWS_…`, `GOOGLE_…`, `AZURE_…`).
    pub fn env_prefix(self) -> &'static str {
        match self {
            Cloud::S3 => "AWS_",
            Cloud::Gcs => "GOOGLE_",
            Cloud::Azure => "AZURE_",
        }
    }
}

impl Location {
    /// Parses a command-line log location. A relative or absolute path is a directory.
    pub fn parse(text: &str) -> Result<Location> {
        for cloud in Cloud::ALL {
            let Some(rest) = text.strip_prefix(cloud.scheme()) else { continue };
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || bucket == "." || bucket == ".." {
                return Err(Error::invalid(
                    text,
                    format!("names no bucket (expected {}BUCKET/PREFIX)", cloud.scheme()),
                ));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|c| c == "." || c == "..") {
                return Err(Error::invalid(text, "a bucket prefix must not contain . or .. components"));
            }
            return Ok(Location::Bucket { cloud, bucket: bucket.to_string(), prefix });
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            check_url(text)?;
            return Ok(Location::Url(text.trim_end_matches('/').to_string()));
        }
        if text.contains("://") {
            return Err(Error::invalid(text, "is not a directory, a bucket (s3://, gs://, az://) or an https:// URL"));
        }
        Ok(Location::Dir(PathBuf::from(text)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(path) => write!(f, "{}", path.display()),
            Location::Bucket { cloud, bucket, prefix } if prefix.is_empty() => write!(f, "{}{bucket}", cloud.scheme()),
            Location::Bucket { cloud, bucket, prefix } => write!(f, "{}{bucket}/{prefix}", cloud.scheme()),
            // A base URL may carry a SAS token or a signature in its query: never shown.
            Location::Url(url) => f.write_str(&redact(url, &[])),
        }
    }
}

/// Plain `http://` only to a loopback address: anything else could be altered on the way, and
/// although every byte is authenticated, a reader must not be starved or misled by the network.
pub fn check_url(url: &str) -> Result<()> {
    let Some(rest) = url.strip_prefix("http://") else {
        return if url.starts_with("https://") { Ok(()) } else { Err(Error::invalid(url, "is not an http(s) URL")) };
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(Error::invalid(url, "plain http:// is allowed only to a loopback address; use https://"))
    }
}

/// The settings of object stores, as their own tools take them: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ALLOW_HTTP`, … for S3; `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`, … for
/// GCS; `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_ENDPOINT`, …
/// for Azure. The CLI reads them from its environment and passes them in (the library reads no
/// environment). Never printed: `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct StoreSettings {
    pub vars: Vec<(String, String)>,
}

impl StoreSettings {
    /// The values of the variables that hold credentials (by their names: keys, secrets,
    /// tokens, SAS, passwords), which errors must never show.
    pub fn secrets(&self) -> Vec<String> {
        const SECRET: [&str; 6] = ["KEY", "SECRET", "TOKEN", "SAS", "PASSWORD", "CREDENTIAL"];
        self.vars.iter().filter(|(k, _)| SECRET.iter().any(|s| k.contains(s))).map(|(_, v)| v.clone()).collect()
    }

    /// The variables that configure `cloud`, with their names.
    pub fn for_cloud(&self, cloud: Cloud) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().filter(move |(k, _)| k.starts_with(cloud.env_prefix())).map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StoreSettings").field("vars", &names).finish()
    }
}

/// `text` (an error from a client, or a location) without credentials: every value in
/// `secrets`, and the query of every URL (where SAS tokens and presigned signatures travel).
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret.as_str(), "[redacted]");
    }
    let mut clean = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = ["http://", "https://"].iter().filter_map(|scheme| rest.find(scheme)).min() {
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
            .map_or(rest.len(), |e| at + e);
        let url = &rest[at..end];
        clean.push_str(&rest[..at]);
        match url.split_once('?') {
            Some((base, _)) => {
                clean.push_str(base);
                clean.push_str("?[query redacted]");
            }
            None => clean.push_str(url),
        }
        rest = &rest[end..];
    }
    clean.push_str(rest);
    clean
}

/// The runtime every blocking call of this module runs on (created on first use).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            install_crypto();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("glassbox-remote")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::invalid("the network runtime", e.clone()))
}

/// Runs `future` to completion on the private runtime. Must not be called from async code.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// Runs `future` on the private runtime without waiting for it: for work nobody waits on (the
/// removal of an object that is no longer needed). Dropped silently if there is no runtime.
pub fn spawn_detached(future: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = runtime() {
        runtime.spawn(future);
    }
}

/// TLS through rustls with the ring provider (no cmake-built crypto); installed once, before
/// any client is built.
pub fn install_crypto() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Err means another provider was installed first, which is as good. ring's provider is
        // deprecated only for lacking post-quantum key exchange, which needs aws-lc (and cmake).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_by_scheme() {
        assert_eq!(
            Location::parse("s3://b/some/prefix/").unwrap(),
            Location::Bucket { cloud: Cloud::S3, bucket: "b".into(), prefix: "some/prefix".into() }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap(),
            Location::Bucket { cloud: Cloud::S3, bucket: "b".into(), prefix: "".into() }
        );
        for (text, cloud) in [("gs://b/p", Cloud::Gcs), ("az://b/p", Cloud::Azure)] {
            let location = Location::parse(text).unwrap();
            assert_eq!(location, Location::Bucket { cloud, bucket: "b".into(), prefix: "p".into() });
            assert_eq!(location.to_string(), text);
        }
        assert!(Location::parse("gs:///x").is_err() && Location::parse("az://b/./x").is_err());
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("s3://b/../x").is_err());
        assert_eq!(Location::parse("log").unwrap(), Location::Dir("log".into()));
        assert_eq!(Location::parse("https://log.example/x/").unwrap(), Location::Url("https://log.example/x".into()));
        assert!(Location::parse("ftp://x").is_err());
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in ["http://127.0.0.1:8080/log", "http://localhost/", "http://[::1]:9/x", "https://example.org"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://example.org/", "http://127.0.0.1.evil.org/", "http://10.0.0.1/", "http://x@example.org"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
