//! The network services: the log service ([`log`], [`log_http`]: `glassbox log serve`) and the
//! witness service ([`witness`], the C2SP tlog-witness protocol). Async code lives only here and in [`crate::remote`]: a service runs
//! on a runtime of its own inside [`serve`], which its synchronous caller (the CLI) blocks on
//! until SIGTERM or SIGINT.
//!
//! Every connection is bounded: at most [`Limits::max_connections`] at once (more wait in the
//! kernel's backlog), closed when idle for [`Limits::idle`] in either direction and after
//! [`Limits::lifetime`] whatever it does, so slow or silent clients cannot hold the service.
//! Handlers bound and time their own request bodies.

pub mod log;
pub mod log_http;
mod log_index;
pub mod log_publish;
mod log_service;
pub mod witness;
mod witness_state;

pub use log_service::{run_log_service, Listening, LogService, MAX_CONNECTIONS, MAX_PER_CLIENT};

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::error::{Error, IoContext, Result};

/// How long and how many connections a service keeps.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// At most this many of them from one IP address: more are closed at once, so that one
    /// host cannot hold every slot (many hosts can; put a proxy in front against that).
    pub per_client: usize,
    /// A connection with no bytes read or written for this long is closed.
    pub idle: Duration,
    /// A connection is closed this long after it was accepted, busy or not.
    pub lifetime: Duration,
}

/// Binds `listen`, calls `on_listening` with the bound address (port 0 is a free port the
/// kernel chose), then serves `router` until the process receives SIGTERM or SIGINT (or `stop`
/// resolves), and returns once the connections in progress are done (each within its lifetime).
pub fn serve(
    router: axum::Router,
    listen: SocketAddr,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
    on_listening: &mut dyn FnMut(SocketAddr) -> Result<()>,
) -> Result<()> {
    let what = format!("--listen {listen}");
    let listener = std::net::TcpListener::bind(listen).at(&what)?;
    listener.set_nonblocking(true).at(&what)?;
    let bound = listener.local_addr().at(&what)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("glassbox-service")
        .enable_all()
        .build()
        .map_err(|e| Error::invalid("the service runtime", e.to_string()))?;
    runtime.block_on(async move {
        // Handlers first, so that a signal sent as soon as the address is printed is graceful.
        let signalled = shutdown_signal()?;
        let stop = async move {
            tokio::select! {
                _ = signalled => {}
                _ = stop => {}
            }
        };
        let listener = TcpListener::from_std(listener).at(&what)?;
        on_listening(bound)?;
        let bounded = BoundedListener {
            inner: listener,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            clients: Arc::default(),
            limits,
        };
        axum::serve(bounded, router).with_graceful_shutdown(stop).await.at(&what)
    })
}

/// A future that completes at the first SIGTERM or SIGINT (the handlers are installed now).
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).at("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).at("SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// A TCP listener that hands out at most `max_connections` connections at a time, each one
/// closed when idle or too old.
struct BoundedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    /// Open connections by client address.
    clients: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    limits: Limits,
}

/// One open connection counted against its client's address; uncounted when dropped.
struct ClientSlot {
    clients: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl ClientSlot {
    /// Counts a connection from `ip`, unless it already has `limit` open.
    fn take(clients: &Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut open = clients.lock().ok()?;
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot { clients: clients.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.clients.lock() {
            if let Some(count) = open.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.ip);
                }
            }
        }
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = BoundedConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (BoundedConnection, SocketAddr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = self.slots.clone().acquire_owned().await.ok();
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // A client over its share is closed at once (its slot stays free for others).
                    let Some(client) = ClientSlot::take(&self.clients, addr.ip(), self.limits.per_client) else {
                        drop(stream);
                        continue;
                    };
                    // Small answers go out at once; a failure here only costs latency.
                    let _ = stream.set_nodelay(true);
                    return (BoundedConnection::new(stream, permit, client, self.limits), addr);
                }
                // Out of file descriptors or a connection reset before accept: wait a little
                // rather than spin, then go on serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails with `TimedOut` once it has been idle for `idle` or open for
/// `lifetime`, and frees its slot when dropped.
struct BoundedConnection {
    stream: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
    _client: ClientSlot,
    deadline: Pin<Box<Sleep>>,
    idle: Duration,
    end: Instant,
}

impl BoundedConnection {
    fn new(
        stream: TcpStream,
        slot: Option<OwnedSemaphorePermit>,
        client: ClientSlot,
        limits: Limits,
    ) -> BoundedConnection {
        let now = Instant::now();
        let end = now + limits.lifetime;
        let deadline = Box::pin(tokio::time::sleep_until(end.min(now + limits.idle)));
        BoundedConnection { stream, _slot: slot, _client: client, deadline, idle: limits.idle, end }
    }

    /// Bytes moved: the idle clock starts again (never past the end of the lifetime).
    fn progress(&mut self) {
        let next = self.end.min(Instant::now() + self.idle);
        self.deadline.as_mut().reset(next);
    }

    /// Wraps a poll of the stream: progress resets the idle clock; a pending poll past the
    /// deadline is a timeout.
    fn bounded<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.progress();
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle or open too long")))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for BoundedConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.bounded(cx, polled)
    }
}

impl AsyncWrite for BoundedConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.bounded(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.bounded(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.bounded(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn idle_and_old_connections_time_out() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let limits = Limits {
                max_connections: 1,
                per_client: 1,
                idle: Duration::from_millis(200),
                lifetime: Duration::from_millis(600),
            };
            let mut bounded = BoundedListener {
                inner: listener,
                slots: Arc::new(Semaphore::new(1)),
                clients: Arc::default(),
                limits,
            };
            // Idle: a client that sends nothing.
            let _silent = TcpStream::connect(addr).await.unwrap();
            let (mut conn, _) = axum::serve::Listener::accept(&mut bounded).await;
            let mut buf = [0u8; 8];
            let err = conn.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            drop(conn);
            // Busy but too old: a client that trickles a byte every 100 ms.
            let mut trickle = TcpStream::connect(addr).await.unwrap();
            let (mut conn, _) = axum::serve::Listener::accept(&mut bounded).await;
            let start = Instant::now();
            let writer = tokio::spawn(async move {
                for _ in 0..20 {
                    if trickle.write_all(b"x").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let err = loop {
                match conn.read(&mut buf).await {
                    Ok(_) => continue,
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(start.elapsed() < Duration::from_millis(1500));
            writer.abort();
        });
    }

    #[test]
    fn one_client_cannot_hold_more_than_its_share() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let limits = Limits {
                max_connections: 8,
                per_client: 1,
                idle: Duration::from_secs(5),
                lifetime: Duration::from_secs(5),
            };
            let mut bounded = BoundedListener {
                inner: listener,
                slots: Arc::new(Semaphore::new(8)),
                clients: Arc::default(),
                limits,
            };
            let _first = TcpStream::connect(addr).await.unwrap();
            let (held, _) = axum::serve::Listener::accept(&mut bounded).await;
            // The same address again: closed at once, while the first stays open.
            let mut second = TcpStream::connect(addr).await.unwrap();
            let accepting = tokio::spawn(async move {
                let _ = axum::serve::Listener::accept(&mut bounded).await;
            });
            let mut buf = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf)).await.unwrap();
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
            accepting.abort();
            drop(held);
        });
    }
}
