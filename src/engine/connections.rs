//! The engine's TCP connections: accepted with a pause when the process is
//! out of file descriptors (instead of retrying at full speed), counted, and
//! closed when idle.
//!
//! A connection is idle while it has no open stream (an RPC in progress or an
//! OpenSession stream); one that never completes the HTTP/2 handshake never
//! has one. After `idle_timeout` of that, the engine reads it as ended, and
//! the HTTP/2 server closes it. A client with an open session is never
//! idle, however quiet the player.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_stream::Stream;
use tonic::transport::server::Connected;

/// The first pause after a failed accept; it doubles up to `MAX_ACCEPT_PAUSE`.
const MIN_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_millis(500);

/// Connection counts of one engine.
#[derive(Debug, Default)]
pub(crate) struct ConnectionStats {
    open: AtomicUsize,
    accepted: AtomicU64,
}

impl ConnectionStats {
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// The accepted connections of a listener, as the HTTP/2 server takes them.
pub(crate) struct Incoming {
    listener: TcpListener,
    stats: Arc<ConnectionStats>,
    idle_timeout: Duration,
    pause: Option<Pin<Box<Sleep>>>,
    next_pause: Duration,
}

impl Incoming {
    pub fn new(listener: TcpListener, stats: Arc<ConnectionStats>, idle_timeout: Duration) -> Self {
        Incoming {
            listener,
            stats,
            idle_timeout,
            pause: None,
            next_pause: MIN_ACCEPT_PAUSE,
        }
    }
}

/// Errors that concern one connection only: accept the next one at once.
fn only_that_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

impl Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = this.pause.as_mut() {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            match ready!(this.listener.poll_accept(cx)) {
                Ok((stream, peer)) => {
                    if this.next_pause > MIN_ACCEPT_PAUSE {
                        log::info!("accepting connections again");
                        this.next_pause = MIN_ACCEPT_PAUSE;
                    }
                    let _ = stream.set_nodelay(true);
                    return Poll::Ready(Some(Ok(Connection::new(
                        stream,
                        peer,
                        this.stats.clone(),
                        this.idle_timeout,
                    ))));
                }
                Err(e) if only_that_connection(&e) => continue,
                Err(e) => {
                    // Out of file descriptors (or memory): retrying at once
                    // would fail the same way, at full speed. Pause instead;
                    // idle connections closing will make room.
                    if this.next_pause == MIN_ACCEPT_PAUSE {
                        log::warn!("cannot accept connections: {e}; retrying with pauses");
                    }
                    this.pause = Some(Box::pin(tokio::time::sleep(this.next_pause)));
                    this.next_pause = (this.next_pause * 2).min(MAX_ACCEPT_PAUSE);
                }
            }
        }
    }
}

/// Whether a connection has open streams, and since when it has none.
#[derive(Debug)]
struct Activity {
    streams: AtomicUsize,
    idle_since: parking_lot::Mutex<Instant>,
}

/// What a request knows of its connection (in the request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo(Arc<Activity>);

impl ConnectionInfo {
    /// Marks a stream open on the connection until the guard is dropped.
    pub fn stream_started(&self) -> StreamGuard {
        self.0.streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.0.clone())
    }
}

/// An open stream of a connection (see [`ConnectionInfo::stream_started`]).
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<Activity>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut idle_since = self.0.idle_since.lock();
        if self.0.streams.fetch_sub(1, Ordering::SeqCst) == 1 {
            *idle_since = Instant::now();
        }
    }
}

/// Counts a connection as open until dropped.
struct Counted(Arc<ConnectionStats>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An accepted TCP connection that reads as ended once idle for too long.
pub(crate) struct Connection {
    io: TcpStream,
    peer: SocketAddr,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    check: Pin<Box<Sleep>>,
    ended: bool,
    _counted: Counted,
}

impl Connection {
    fn new(
        io: TcpStream,
        peer: SocketAddr,
        stats: Arc<ConnectionStats>,
        idle_timeout: Duration,
    ) -> Self {
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        Connection {
            io,
            peer,
            activity: Arc::new(Activity {
                streams: AtomicUsize::new(0),
                idle_since: parking_lot::Mutex::new(now),
            }),
            idle_timeout,
            check: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
            ended: false,
            _counted: Counted(stats),
        }
    }

    /// Ready once the connection has been idle for the idle timeout;
    /// until then the timer is set to look again when that could be.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.check.as_mut().poll(cx));
            let next = {
                let idle_since = self.activity.idle_since.lock();
                if self.activity.streams.load(Ordering::SeqCst) > 0 {
                    Instant::now() + self.idle_timeout
                } else {
                    *idle_since + self.idle_timeout
                }
            };
            if next <= Instant::now() {
                return Poll::Ready(());
            }
            self.check.as_mut().reset(next);
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo(self.activity.clone())
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(result) = Pin::new(&mut this.io).poll_read(cx, buf) {
            return Poll::Ready(result);
        }
        ready!(this.poll_idle(cx));
        log::debug!(
            "closing the connection from {}: no open stream for {:?}",
            this.peer,
            this.idle_timeout
        );
        this.ended = true;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
