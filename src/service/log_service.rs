//! Running `glassbox log serve`: opens the bucket or directory (checking first that it honours create-only
//! writes and compare-and-swap), takes the log over, starts the sequencer thread, and serves
//! the HTTP front end on bounded connections until SIGTERM, SIGINT or a sequencer failure.

use std::net::SocketAddr;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use super::log::{Sequencer, SequencerConfig, WitnessPeer};
use super::log_http;
use super::Limits;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::remote::objects::Objects;
use crate::remote::{Location, StoreSettings};
use crate::transparency::bucket::BucketWriter;
use crate::transparency::served_dir::ServedDir;
use crate::transparency::LogDir;

/// How `glassbox log serve` runs.
pub struct LogService {
    pub storage: Location,
    pub settings: StoreSettings,
    pub key: PrivateKey,
    pub listen: SocketAddr,
    pub witnesses: Vec<WitnessPeer>,
    pub threshold: usize,
    /// At most this many entries per batch (and this many waiting).
    pub pool: usize,
    /// At most this long between the first entry of a batch and its commit.
    pub period: Duration,
}

/// What the service tells its operator once it listens.
#[derive(Clone, Debug)]
pub struct Listening {
    pub addr: SocketAddr,
    pub origin: String,
    pub size: u64,
}

/// Connections of the log service: submitters wait up to a minute for their receipt.
const LIMITS: Limits = Limits {
    max_connections: 1024,
    per_client: 128,
    idle: Duration::from_secs(30),
    lifetime: Duration::from_secs(120),
};

/// Runs the log service until SIGTERM or SIGINT (Ok) or until the sequencer fails (Err: for
/// example another writer took the bucket over, or the stored tree does not match the committed
/// checkpoint). `listening` is called once the port is bound.
pub fn run_log_service(service: LogService, listening: &mut dyn FnMut(&Listening) -> Result<()>) -> Result<()> {
    if service.pool == 0 {
        return Err(Error::invalid("--pool", "must be at least 1"));
    }
    if service.threshold > service.witnesses.len() {
        return Err(Error::invalid(
            "--witness-threshold",
            format!("is {} but only {} witnesses are given", service.threshold, service.witnesses.len()),
        ));
    }
    // A directory is held (its append lock) for as long as the service runs.
    let (objects, _served) = match &service.storage {
        Location::Bucket { .. } => (Objects::open(&service.storage, &service.settings)?, None),
        Location::Dir(path) => {
            let served = ServedDir::open(&LogDir::new(path))?;
            (served.objects().clone(), Some(served))
        }
        other => {
            return Err(Error::invalid(
                other,
                "is read-only: log serve keeps its log in a bucket (s3://BUCKET/PREFIX) or a directory",
            ))
        }
    };
    crate::transparency::bucket::check_store(&objects)?;
    // The sequencer's reads go through a cache of what it wrote; the front end serves readers
    // from the bucket itself.
    let writer = BucketWriter::open(&objects.clone().with_cache(), service.key)?;
    let origin = writer.checkpoint().origin.clone();
    let config = SequencerConfig {
        pool: service.pool,
        period: service.period,
        witnesses: service.witnesses,
        threshold: service.threshold,
        witness_timeout: Duration::from_secs(10),
    };
    let mut sequencer = Sequencer::start(writer, config)?;
    let size = sequencer.size();
    let (queue, submissions) = sync_channel(service.pool);
    // The sequencer stops the server when it fails; the server stops the sequencer by closing
    // the queue (dropping the front end's sender) when it is told to stop.
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("glassbox-sequencer".into())
        .spawn(move || {
            let result = sequencer.run(submissions);
            let _ = failed_tx.send(());
            result
        })
        .map_err(|e| Error::invalid("the sequencer thread", e.to_string()))?;
    let app = log_http::router(log_http::Front { queue, objects, origin: origin.clone() });
    let stop = async move {
        let _ = failed_rx.await;
    };
    let served = super::serve(app, service.listen, LIMITS, stop, &mut |addr| {
        listening(&Listening { addr, origin: origin.clone(), size })
    });
    // The router (and with it the queue's sender) is gone: the sequencer ends after its batch.
    let sequenced = thread.join().map_err(|_| Error::invalid("the sequencer", "panicked"))?;
    sequenced?;
    served
}
