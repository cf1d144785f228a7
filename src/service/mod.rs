//! The network services: the log service (`glassbox log serve`), which alone holds the log key,
//! and the witness service (`glassbox witness serve`). Async code lives only here and in
//! [`crate::remote`]; the log's sequencer itself is synchronous library code on its own thread.

mod cosign;
pub mod log;
pub mod log_http;

use std::net::SocketAddr;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::remote::objects::Objects;
use crate::remote::{Location, StoreSettings};
use crate::transparency::bucket::BucketWriter;
use log::{Sequencer, SequencerConfig, WitnessPeer};

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

/// Runs the log service until `stop` resolves (Ok) or the sequencer fails (Err: for example
/// another writer took the bucket over, or the stored tree does not match the committed
/// checkpoint). `listening` is called once the port is bound.
pub fn run_log_service(
    service: LogService,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    listening: impl FnOnce(&Listening),
) -> Result<()> {
    if service.pool == 0 {
        return Err(Error::invalid("--pool", "must be at least 1"));
    }
    if service.threshold > service.witnesses.len() {
        return Err(Error::invalid(
            "--witness-threshold",
            format!("is {} but only {} witnesses are given", service.threshold, service.witnesses.len()),
        ));
    }
    let objects = match &service.storage {
        Location::Bucket { .. } => Objects::open(&service.storage, &service.settings)?,
        other => return Err(Error::invalid(
            other,
            "log serve keeps its log in a bucket (s3://BUCKET/PREFIX); a directory log is appended to with log append",
        )),
    };
    crate::transparency::bucket::check_store(&objects)?;
    let writer = BucketWriter::open(&objects, service.key)?;
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("glassbox-log-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::invalid("the service runtime", e.to_string()))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(service.listen))
        .map_err(|e| Error::io(service.listen.to_string(), e))?;
    let addr = listener.local_addr().map_err(|e| Error::io(service.listen.to_string(), e))?;
    listening(&Listening { addr, origin: origin.clone(), size });
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
    let app = log_http::router(log_http::Front { queue, objects, origin });
    let shutdown = async move {
        tokio::select! {
            _ = stop => {}
            _ = failed_rx => {}
        }
    };
    let served = runtime.block_on(log_http::serve(listener, app, shutdown));
    // The router (and with it the queue's sender) is gone: the sequencer ends after its batch.
    let sequenced = thread.join().map_err(|_| Error::invalid("the sequencer", "panicked"))?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    sequenced?;
    served.map_err(|e| Error::io(addr.to_string(), e))
}
