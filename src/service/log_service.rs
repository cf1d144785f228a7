//! Running `glassbox log serve`: opens the bucket or directory (checking first that it honours create-only
//! writes and compare-and-swap), takes the log over, starts the sequencer thread, and serves
//! the HTTP front end on bounded connections until SIGTERM, SIGINT or a sequencer failure.

use std::net::SocketAddr;
use std::sync::mpsc::{channel, sync_channel};
use std::time::Duration;

use super::log::{Sequencer, SequencerConfig, WitnessPeer};
use super::log_http;
use super::log_index::Indexer;
use super::log_publish::{Publisher, WitnessConfig};
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
    /// At most this many connections at once, and this many from one IP address (behind a
    /// proxy or CDN every connection comes from its addresses: raise it there).
    pub max_connections: usize,
    pub per_client: usize,
    /// Entries per segment of the subject index (formats.md section 21).
    pub index_segment: u64,
}

/// What the service tells its operator once it listens.
#[derive(Clone, Debug)]
pub struct Listening {
    pub addr: SocketAddr,
    pub origin: String,
    pub size: u64,
}

/// The largest pool (a staged batch stays bounded), pool period (a submitter waits a minute for
/// its receipt) and connection limit.
const MAX_POOL: usize = 4096;
const MAX_PERIOD: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS_LIMIT: usize = 65_536;

/// The default connection limits (`--max-connections`, `--max-per-client`).
pub const MAX_CONNECTIONS: usize = 1024;
pub const MAX_PER_CLIENT: usize = 128;
/// How long connections live: submitters wait up to a minute for their receipt.
/// How long one witness may take to answer.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than a submitter's wait for its receipt (a minute), during which no byte flows.
const IDLE: Duration = Duration::from_secs(90);
const LIFETIME: Duration = Duration::from_secs(120);

/// Runs the log service until SIGTERM or SIGINT (Ok) or until the sequencer fails (Err: for
/// example another writer took the bucket over, or the stored tree does not match the committed
/// checkpoint). `listening` is called once the port is bound.
pub fn run_log_service(service: LogService, listening: &mut dyn FnMut(&Listening) -> Result<()>) -> Result<()> {
    if !(1..=MAX_POOL).contains(&service.pool) {
        return Err(Error::invalid("--pool", format!("must be from 1 to {MAX_POOL}")));
    }
    if service.period > MAX_PERIOD {
        return Err(Error::invalid("--period", format!("must be at most {} ms", MAX_PERIOD.as_millis())));
    }
    if service.max_connections > MAX_CONNECTIONS_LIMIT {
        return Err(Error::invalid("--max-connections", format!("must be at most {MAX_CONNECTIONS_LIMIT}")));
    }
    if service.max_connections == 0 || service.per_client == 0 || service.per_client > service.max_connections {
        return Err(Error::invalid(
            "--max-per-client",
            format!(
                "must be at least 1 and at most --max-connections ({}), which must be at least 1",
                service.max_connections
            ),
        ));
    }
    let limits = Limits {
        max_connections: service.max_connections,
        per_client: service.per_client,
        idle: IDLE,
        lifetime: LIFETIME,
    };
    if service.threshold > service.witnesses.len() {
        return Err(Error::invalid(
            "--witness-threshold",
            format!("is {} but only {} witnesses are given", service.threshold, service.witnesses.len()),
        ));
    }
    // A directory is held (its append lock) for as long as the service runs.
    let (objects, served) = match &service.storage {
        Location::Bucket { .. } => (Objects::open(&service.storage, &service.settings)?, None),
        Location::Dir(path) => {
            let served = ServedDir::open(&LogDir::new(path), &service.key)?;
            (served.objects().clone(), Some(served))
        }
        other => {
            return Err(Error::invalid(
                other,
                "is read-only: log serve keeps its log in a bucket (s3://, gs://, az://) or a directory",
            ))
        }
    };
    crate::transparency::bucket::check_store(&objects)?;
    // The sequencer's and publisher's reads go through a cache of what was written; the front
    // end serves readers from the store itself.
    let cached = objects.clone().with_cache();
    let index_key = service.key.duplicate();
    let writer = BucketWriter::open(&cached, service.key)?;
    if let Some(served) = &served {
        served.retire_index()?;
    }
    let origin = writer.checkpoint().origin.clone();
    let size = writer.checkpoint().size;
    let mut indexer =
        Indexer::open(LogDir::in_objects(cached.clone()), index_key, origin.clone(), service.index_segment)?;
    let mut publisher = Publisher::new(
        LogDir::in_objects(cached),
        WitnessConfig { witnesses: service.witnesses, threshold: service.threshold, timeout: WITNESS_TIMEOUT },
    );
    // The indexer hears of every published checkpoint, this first one too: it catches up with
    // the log at start.
    let (published_tx, published_rx) = channel();
    publisher.tell_published(published_tx);
    // Without enough cosignatures now (a witness down, or one that refuses this history) the
    // service still starts: it publishes nothing, and every submitter is told why.
    let _ = publisher.cosign_and_publish(writer.note(), size);
    let (committed_tx, committed_rx) = channel();
    let sequencer =
        Sequencer::start(writer, SequencerConfig { pool: service.pool, period: service.period }, committed_tx)?;
    let (queue, submissions) = sync_channel(service.pool);
    // The sequencer stops the server when it fails; the server stops the sequencer by closing
    // the queue (dropping the front end's sender) when it is told to stop, and the sequencer's
    // end closes the publisher's channel.
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("glassbox-sequencer".into())
        .spawn(move || {
            let result = sequencer.run(submissions);
            let _ = failed_tx.send(());
            result
        })
        .map_err(|e| Error::invalid("the sequencer thread", e.to_string()))?;
    let publishing = std::thread::Builder::new()
        .name("glassbox-publisher".into())
        .spawn(move || publisher.run(committed_rx))
        .map_err(|e| Error::invalid("the publisher thread", e.to_string()))?;
    let indexing = std::thread::Builder::new()
        .name("glassbox-indexer".into())
        .spawn(move || indexer.run(published_rx))
        .map_err(|e| Error::invalid("the indexer thread", e.to_string()))?;
    let app = log_http::router(log_http::Front { queue, objects, origin: origin.clone() });
    let stop = async move {
        let _ = failed_rx.await;
    };
    let served = super::serve(app, service.listen, limits, stop, &mut |addr| {
        listening(&Listening { addr, origin: origin.clone(), size })
    });
    // The router (and with it the queue's sender) is gone: the sequencer ends after its batch.
    let sequenced = thread.join().map_err(|_| Error::invalid("the sequencer", "panicked"))?;
    publishing.join().map_err(|_| Error::invalid("the publisher", "panicked"))?;
    indexing.join().map_err(|_| Error::invalid("the indexer", "panicked"))?;
    sequenced?;
    served
}
