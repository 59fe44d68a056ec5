//! The status server's sockets, bounded: at most [`MAX_CONNECTIONS`] at once, and each lives at most
//! [`CONNECTION_DEADLINE`], which bounds slow headers, slow bodies and idle keep-alive alike. When
//! all slots are taken, the oldest connection is closed to make room, so a flood of idle
//! connections can neither exhaust file descriptors nor keep a monitoring check out.
//!
//! Without these, 366 idle connections under a file-descriptor limit of 256 made `/healthz` time out
//! and both scheduled runs fail with "Too many open files".

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Connections served at once; a monitoring system needs a handful.
pub const MAX_CONNECTIONS: usize = 32;
/// How long one connection may live: the request must be read and answered within it.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(15);

/// A listener that refuses connections beyond the cap.
pub struct BoundedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    /// The open connections, oldest first (closed ones are dropped from the front lazily).
    open: std::collections::VecDeque<CancellationToken>,
}

impl BoundedListener {
    pub fn new(inner: TcpListener) -> BoundedListener {
        BoundedListener {
            inner,
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            open: Default::default(),
        }
    }

    /// A slot for a new connection: a free one, or the oldest connection's, which is closed.
    async fn slot(&mut self) -> Option<OwnedSemaphorePermit> {
        self.open.retain(|t| !t.is_cancelled());
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Some(p);
        }
        if let Some(oldest) = self.open.pop_front() {
            tracing::debug!("status server: at the cap, closing the oldest connection");
            oldest.cancel();
        }
        // The closed connection gives its slot back as soon as its task sees the cancellation.
        tokio::time::timeout(Duration::from_secs(1), self.permits.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = BoundedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (BoundedStream, std::net::SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "status server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(permit) = self.slot().await else {
                tracing::debug!(%addr, "status server: no slot came free; connection refused");
                continue;
            };
            let cancel = CancellationToken::new();
            self.open.push_back(cancel.clone());
            return (
                BoundedStream {
                    inner: stream,
                    _permit: permit,
                    deadline: Box::pin(tokio::time::sleep(CONNECTION_DEADLINE)),
                    evicted: Box::pin(cancel.clone().cancelled_owned()),
                    cancel,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that ends at its deadline and gives its slot back when dropped.
pub struct BoundedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Resolves when the listener closes this connection to make room for a newer one.
    evicted: Pin<Box<WaitForCancellationFutureOwned>>,
    cancel: CancellationToken,
}

impl BoundedStream {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready() || self.evicted.as_mut().poll(cx).is_ready()
    }
}

impl Drop for BoundedStream {
    fn drop(&mut self) {
        // Marks the slot as closed in the listener's list.
        self.cancel.cancel();
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "status connection deadline reached",
    )
}

use std::future::Future;

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
