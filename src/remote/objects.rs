//! A log's objects in a bucket or behind a base URL, through the `object_store` crate: bounded
//! reads, create-only writes (an existing object with identical bytes is success, different bytes
//! an error naming the object), and compare-and-swap on one object (the log service's lock).
//! Async methods for the services; `*_blocking` wrappers for the synchronous library.
//!
//! The log service may also keep its objects in a local directory (`object_store`'s local file
//! system, every write fsynced). That backend has no conditional overwrite, so a directory's
//! versions are the SHA-256 of the object's bytes and its compare-and-swap is read, compare,
//! replace: atomic only because the service holds the directory's append lock for its whole
//! life (see `crate::transparency::served_dir`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::{block_on, install_crypto, redact, Cloud, Location, StoreSettings};

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn errors_lose_credentials_and_url_queries() {
        let secrets = vec!["s3cr3t-value".to_string(), "ab".to_string()];
        let text =
            "PUT failed (http://127.0.0.1:9/b/k?sv=2024&sig=XYZ): key s3cr3t-value refused; about https://x.example/p";
        assert_eq!(
            redact(text, &secrets),
            "PUT failed (http://127.0.0.1:9/b/k?[query redacted]): key [redacted] refused; about https://x.example/p"
        );
        // A word "http" that starts no URL does not stop the scan.
        assert_eq!(
            redact("az://c/http-logs then http://h/p?sig=1", &[]),
            "az://c/http-logs then http://h/p?[query redacted]"
        );
    }
}
use crate::error::{Error, Result};

/// The version of an object a compare-and-swap is conditional on (its ETag, and its version id
/// where the store has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(UpdateVersion);

/// What a compare-and-swap did.
#[derive(Clone, Debug)]
pub enum Swap {
    /// The object now holds the new bytes, at this version.
    Swapped(Version),
    /// Someone else changed (or created) the object first: nothing was written.
    Lost,
}

/// A bucket prefix or a base URL holding a log's objects.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// How errors name this store (`s3://bucket/prefix`, or the URL); never credentials.
    display: String,
    writable: bool,
    /// Whether `If-Match` must carry the ETag without its quotes (see [`Objects::swap`]).
    unquoted_etags: Arc<AtomicBool>,
    /// The log service's copies of immutable objects (see [`Objects::with_cache`]).
    cache: Option<Arc<Mutex<Cache>>>,
    /// A local directory: versions are content digests and swaps are compared here.
    local: bool,
    /// Credential values that must never reach an error message (see [`redact`]).
    secrets: Arc<Vec<String>>,
}

/// Immutable objects (tiles, bundles, index tiles: a path's bytes never change once written)
/// kept in memory up to a byte budget, so that the log's one writer does not read back what it
/// wrote or read a moment ago. Nothing in it is believed more than a fresh read: callers
/// authenticate what they read either way.
#[derive(Default)]
struct Cache {
    objects: HashMap<String, Vec<u8>>,
    bytes: usize,
}

/// The cache's budget: past it, the cache starts again empty (the next batch's edge is small).
const CACHE_BYTES: usize = 256 << 20;

/// Whether the bytes at `rel` never change once written.
fn immutable(rel: &str) -> bool {
    ["tile/", "envelopes/", "index/"].iter().any(|p| rel.starts_with(p))
}

impl Cache {
    fn insert(&mut self, rel: &str, bytes: &[u8]) {
        if self.bytes + bytes.len() > CACHE_BYTES {
            self.objects.clear();
            self.bytes = 0;
        }
        if self.objects.insert(rel.to_string(), bytes.to_vec()).is_none() {
            self.bytes += bytes.len();
        }
    }
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Objects {
    /// Opens a bucket (read and write) or a base URL (read only). A directory is not opened
    /// here: [`crate::transparency::LogDir`] reads and writes directories itself.
    pub fn open(location: &Location, settings: &StoreSettings) -> Result<Objects> {
        install_crypto();
        let display = location.to_string();
        let secrets = settings.secrets();
        let fail =
            |e: object_store::Error| Error::invalid(&display, redact(&format!("cannot open the store: {e}"), &secrets));
        match location {
            Location::Bucket { cloud, bucket, prefix } => {
                let vars = settings.for_cloud(*cloud);
                let store: Arc<dyn ObjectStore> = match cloud {
                    Cloud::S3 => {
                        let builder = AmazonS3Builder::new().with_bucket_name(bucket);
                        Arc::new(configured(builder, vars, |b, k, v| b.with_config(k, v)).build().map_err(fail)?)
                    }
                    Cloud::Gcs => {
                        let builder = GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
                        Arc::new(configured(builder, vars, |b, k, v| b.with_config(k, v)).build().map_err(fail)?)
                    }
                    Cloud::Azure => {
                        let builder = MicrosoftAzureBuilder::new().with_container_name(bucket);
                        Arc::new(configured(builder, vars, |b, k, v| b.with_config(k, v)).build().map_err(fail)?)
                    }
                };
                let mut objects = Objects::new(store, prefix, display, true);
                objects.secrets = Arc::new(secrets);
                Ok(objects)
            }
            Location::Url(url) => {
                let options = ClientOptions::new().with_allow_http(url.starts_with("http://"));
                let store = HttpBuilder::new().with_url(url).with_client_options(options).build().map_err(fail)?;
                Ok(Objects::new(Arc::new(store), "", display, false))
            }
            Location::Dir(path) => {
                Err(Error::invalid(path.display(), "is a directory: open it as a log directory, not as objects"))
            }
        }
    }

    /// A local directory as objects, for the log service only, which must hold the directory's
    /// append lock while it uses them (the only guard of [`Objects::swap`] here). Every write
    /// is fsynced with its directory before it returns, like an object store's PUT.
    pub fn open_dir(dir: &std::path::Path) -> Result<Objects> {
        install_crypto();
        let display = dir.display().to_string();
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::invalid(&display, format!("cannot open the directory as a store: {e}")))?
            .with_fsync(true);
        let mut objects = Objects::new(Arc::new(store), "", display, true);
        objects.local = true;
        Ok(objects)
    }

    /// Wraps any object store (tests: a store that ignores conditions).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, display: &str) -> Objects {
        Objects::new(store, prefix, display.to_string(), true)
    }

    fn new(store: Arc<dyn ObjectStore>, prefix: &str, display: String, writable: bool) -> Objects {
        let prefix = prefix.trim_matches('/').to_string();
        Objects {
            store,
            prefix,
            display,
            writable,
            unquoted_etags: Arc::new(AtomicBool::new(false)),
            cache: None,
            local: false,
            secrets: Arc::default(),
        }
    }

    /// These objects with a memory of immutable objects written or read through them: for the
    /// log service, the only writer, whose every batch reads the tree's edge it just wrote.
    pub fn with_cache(mut self) -> Objects {
        self.cache = Some(Arc::default());
        self
    }

    fn cached(&self, rel: &str) -> Option<Vec<u8>> {
        let cache = self.cache.as_ref()?.lock().ok()?;
        cache.objects.get(rel).cloned()
    }

    fn remember(&self, rel: &str, bytes: &[u8]) {
        if let Some(mut cache) = self.cache.as_ref().and_then(|c| c.lock().ok()) {
            if immutable(rel) {
                cache.insert(rel, bytes);
            }
        }
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// How errors name object `rel`.
    pub fn name(&self, rel: &str) -> String {
        format!("{}/{rel}", self.display)
    }

    fn path(&self, rel: &str) -> Result<ObjectPath> {
        let full = if self.prefix.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.prefix) };
        ObjectPath::parse(&full).map_err(|e| Error::invalid(self.name(rel), e.to_string()))
    }

    fn failed(&self, rel: &str, what: &str, e: object_store::Error) -> Error {
        Error::invalid(self.name(rel), redact(&format!("{what} failed: {e}"), &self.secrets))
    }

    fn check_writable(&self, rel: &str) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::invalid(self.name(rel), "is read from a URL: submit to the log service instead of writing"))
        }
    }

    /// Object `rel` of at most `max` bytes with its version; `None` if it does not exist.
    pub async fn get(&self, rel: &str, max: u64) -> Result<Option<(Vec<u8>, Version)>> {
        if let Some(bytes) = self.cached(rel) {
            if bytes.len() as u64 > max {
                return Err(Error::invalid(self.name(rel), format!("is larger than the {max} bytes it may have")));
            }
            // Versions matter only for the lock object, which is never cached.
            return Ok(Some((bytes, Version(UpdateVersion { e_tag: None, version: None }))));
        }
        let path = self.path(rel)?;
        let result = match self.store.get_opts(&path, GetOptions::default()).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed(rel, "reading", e)),
        };
        if result.meta.size > max {
            return Err(Error::invalid(self.name(rel), format!("is larger than the {max} bytes it may have")));
        }
        let mut version =
            Version(UpdateVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() });
        let mut stream = result.into_stream();
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(rel, "reading", e))?;
            if data.len() as u64 + chunk.len() as u64 > max {
                return Err(Error::invalid(self.name(rel), format!("is larger than the {max} bytes it may have")));
            }
            data.extend_from_slice(&chunk);
        }
        if self.local {
            version = content_version(&data);
        }
        self.remember(rel, &data);
        Ok(Some((data, version)))
    }

    /// Writes `bytes` to `rel` only if no object is there. An existing object with the same
    /// bytes is success (a batch being finished again); different bytes are an error naming it.
    pub async fn create(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.check_writable(rel)?;
        let path = self.path(rel)?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from(bytes.to_vec()), opts).await {
            Ok(_) => {
                self.remember(rel, bytes);
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                match self.get(rel, bytes.len() as u64 + 1).await {
                    Ok(Some((existing, _))) if existing == bytes => Ok(()),
                    _ => Err(Error::rejected(
                        self.name(rel),
                        "already exists with other bytes: the store holds a different history at this path",
                    )),
                }
            }
            Err(e) => Err(self.failed(rel, "writing", e)),
        }
    }

    /// Replaces `rel` with `bytes` only if it is still at version `expected` (or, for `None`,
    /// only if it does not exist yet).
    ///
    /// Two S3 servers' habits are handled here rather than by switches. Ceph's RADOS gateway
    /// sends ETags quoted but compares `If-Match` unquoted, so a quoted ETag can never match:
    /// when a swap loses while the object still has the expected ETag, it is retried once,
    /// still conditional, with the quotes stripped (and stripped from then on). RGW may also
    /// answer a lost race with 500 instead of 412: any failed conditional write is settled by
    /// reading the object back (our bytes: we won; another version: we lost).
    pub async fn swap(&self, rel: &str, bytes: &[u8], expected: Option<&Version>) -> Result<Swap> {
        self.check_writable(rel)?;
        if self.local {
            return self.swap_local(rel, bytes, expected).await;
        }
        let path = self.path(rel)?;
        let mut unquote = self.unquoted_etags.load(Ordering::Relaxed);
        loop {
            let mode = match expected {
                Some(Version(v)) => PutMode::Update(if unquote { unquoted(v) } else { v.clone() }),
                None => PutMode::Create,
            };
            let opts = PutOptions { mode, ..Default::default() };
            let outcome = self.store.put_opts(&path, PutPayload::from(bytes.to_vec()), opts).await;
            let e = match outcome {
                Ok(put) => return Ok(Swap::Swapped(Version(UpdateVersion { e_tag: put.e_tag, version: put.version }))),
                Err(e) => e,
            };
            let precondition =
                matches!(e, object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. });
            // What is there now settles it.
            let current = self.get(rel, bytes.len() as u64 + 1).await.ok().flatten();
            match (current, expected) {
                (Some((now, version)), _) if now == bytes => return Ok(Swap::Swapped(version)),
                (Some((_, Version(now))), Some(Version(want))) if precondition && !unquote && same_etag(&now, want) => {
                    // Unchanged, yet the condition failed: the server wants the ETag unquoted.
                    unquote = true;
                    self.unquoted_etags.store(true, Ordering::Relaxed);
                }
                _ if precondition => return Ok(Swap::Lost),
                (Some((_, Version(now))), Some(Version(want))) if !same_etag(&now, want) => return Ok(Swap::Lost),
                (Some(_), None) => return Ok(Swap::Lost),
                _ => return Err(self.failed(rel, "compare-and-swap", e)),
            }
        }
    }

    /// [`Objects::swap`] in a local directory: compare the bytes there now with the expected
    /// version, then create (no expected version) or atomically replace. The caller's lock on
    /// the directory keeps anyone from writing between the read and the write.
    async fn swap_local(&self, rel: &str, bytes: &[u8], expected: Option<&Version>) -> Result<Swap> {
        const MAX_SWAPPED: u64 = 1 << 20;
        let current = self.get(rel, MAX_SWAPPED).await?;
        match (current, expected) {
            (None, None) => match self.create(rel, bytes).await {
                Ok(()) => Ok(Swap::Swapped(content_version(bytes))),
                Err(Error::Rejected { .. }) => Ok(Swap::Lost),
                Err(e) => Err(e),
            },
            (Some((_, now)), Some(want)) if &now == want => {
                self.put(rel, bytes).await?;
                Ok(Swap::Swapped(content_version(bytes)))
            }
            _ => Ok(Swap::Lost),
        }
    }

    /// Overwrites `rel` (the public checkpoint, which readers may see stale anyway).
    pub async fn put(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.check_writable(rel)?;
        let path = self.path(rel)?;
        self.store.put(&path, PutPayload::from(bytes.to_vec())).await.map_err(|e| self.failed(rel, "writing", e))?;
        Ok(())
    }

    /// Removes `rel` (a conformance probe's own objects); absent is success.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        self.check_writable(rel)?;
        let path = self.path(rel)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(rel, "deleting", e)),
        }
    }

    pub fn get_blocking(&self, rel: &str, max: u64) -> Result<Option<(Vec<u8>, Version)>> {
        block_on(self.get(rel, max))?
    }

    pub fn create_blocking(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        block_on(self.create(rel, bytes))?
    }

    pub fn swap_blocking(&self, rel: &str, bytes: &[u8], expected: Option<&Version>) -> Result<Swap> {
        block_on(self.swap(rel, bytes, expected))?
    }

    pub fn put_blocking(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        block_on(self.put(rel, bytes))?
    }

    pub fn delete_blocking(&self, rel: &str) -> Result<()> {
        block_on(self.delete(rel))?
    }
}

/// `builder` given every variable its store knows by name (lower-cased, as the store's crate
/// spells its keys); the others (AWS_PROFILE, …) are not for us.
fn configured<'a, B, K: std::str::FromStr>(
    builder: B,
    vars: impl Iterator<Item = (&'a str, &'a str)>,
    set: impl Fn(B, K, &str) -> B,
) -> B {
    vars.fold(builder, |b, (key, value)| match key.to_ascii_lowercase().parse() {
        Ok(key) => set(b, key, value),
        Err(_) => b,
    })
}

/// A local object's version: the digest of its bytes (the same bytes are the same state).
fn content_version(bytes: &[u8]) -> Version {
    let digest = crate::digest::Sha256Digest::of(bytes).hex();
    Version(UpdateVersion { e_tag: Some(digest), version: None })
}

/// `v` with its ETag's quotes (and a weak `W/` prefix) removed.
fn unquoted(v: &UpdateVersion) -> UpdateVersion {
    UpdateVersion { e_tag: v.e_tag.as_deref().map(bare_etag).map(str::to_string), version: v.version.clone() }
}

fn bare_etag(tag: &str) -> &str {
    tag.trim_start_matches("W/").trim_matches('"')
}

/// Whether two versions carry the same ETag, quoted or not.
fn same_etag(a: &UpdateVersion, b: &UpdateVersion) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => bare_etag(x) == bare_etag(y),
        _ => a.version.is_some() && a.version == b.version,
    }
}
