//! A log's objects in a bucket or behind a base URL, through the `object_store` crate: bounded
//! reads, create-only writes (an existing object with identical bytes is success, different bytes
//! an error naming the object), and compare-and-swap on one object (the log service's lock).
//! Async methods for the services; `*_blocking` wrappers for the synchronous library.

use std::sync::Arc;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::{block_on, install_crypto, Location, StoreSettings};
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
        let fail = |e: object_store::Error| Error::invalid(&display, format!("cannot open the store: {e}"));
        match location {
            Location::Bucket { bucket, prefix } => {
                let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
                for (key, value) in &settings.aws {
                    match key.to_ascii_lowercase().parse() {
                        Ok(config) => builder = builder.with_config(config, value),
                        // Variables object_store does not know (AWS_PROFILE, …) are not for us.
                        Err(_) => continue,
                    }
                }
                let store = builder.build().map_err(fail)?;
                Ok(Objects { store: Arc::new(store), prefix: prefix.clone(), display, writable: true })
            }
            Location::Url(url) => {
                let options = ClientOptions::new().with_allow_http(url.starts_with("http://"));
                let store = HttpBuilder::new().with_url(url).with_client_options(options).build().map_err(fail)?;
                Ok(Objects { store: Arc::new(store), prefix: String::new(), display, writable: false })
            }
            Location::Dir(path) => {
                Err(Error::invalid(path.display(), "is a directory: open it as a log directory, not as objects"))
            }
        }
    }

    /// Wraps any object store (tests: a store that ignores conditions).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, display: &str) -> Objects {
        Objects { store, prefix: prefix.trim_matches('/').to_string(), display: display.to_string(), writable: true }
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
        Error::invalid(self.name(rel), format!("{what} failed: {e}"))
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
        let path = self.path(rel)?;
        let result = match self.store.get_opts(&path, GetOptions::default()).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed(rel, "reading", e)),
        };
        if result.meta.size > max {
            return Err(Error::invalid(self.name(rel), format!("is larger than the {max} bytes it may have")));
        }
        let version = Version(UpdateVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() });
        let mut stream = result.into_stream();
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(rel, "reading", e))?;
            if data.len() as u64 + chunk.len() as u64 > max {
                return Err(Error::invalid(self.name(rel), format!("is larger than the {max} bytes it may have")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Some((data, version)))
    }

    /// Writes `bytes` to `rel` only if no object is there. An existing object with the same
    /// bytes is success (a batch being finished again); different bytes are an error naming it.
    pub async fn create(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.check_writable(rel)?;
        let path = self.path(rel)?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from(bytes.to_vec()), opts).await {
            Ok(_) => Ok(()),
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
    pub async fn swap(&self, rel: &str, bytes: &[u8], expected: Option<&Version>) -> Result<Swap> {
        self.check_writable(rel)?;
        let path = self.path(rel)?;
        let mode = match expected {
            Some(Version(v)) => PutMode::Update(v.clone()),
            None => PutMode::Create,
        };
        let opts = PutOptions { mode, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from(bytes.to_vec()), opts).await {
            Ok(put) => Ok(Swap::Swapped(Version(UpdateVersion { e_tag: put.e_tag, version: put.version }))),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(Swap::Lost),
            Err(e) => Err(self.failed(rel, "compare-and-swap", e)),
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
