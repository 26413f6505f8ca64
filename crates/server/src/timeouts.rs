//! Connection timeouts, so slow or stalled clients cannot hold connections (and their memory)
//! indefinitely: slow-loris headers, trickled bodies, and connections that go silent.
//!
//! - **Header read** (hyper's `header_read_timeout`): the whole request head must arrive
//!   within it. Hyper starts this timer whenever an HTTP/1 connection waits for a request
//!   head, so a kept-alive connection idle for longer than it is closed as well.
//! - **Body read**: the whole body must arrive within it (408 otherwise).
//! - **Idle** ([`IdleStream`]): a connection on which no byte moves in either direction for
//!   this long is closed: a stalled TLS handshake, an HTTP/2 connection gone quiet, or a
//!   client that stopped reading its response.

use std::future::{Future, Ready};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Default header read timeout (Vault's `http_read_header_timeout`).
pub const DEFAULT_HEADER_READ: Duration = Duration::from_secs(10);
/// Default body read timeout (Vault's `http_read_timeout`).
pub const DEFAULT_BODY_READ: Duration = Duration::from_secs(30);
/// Default idle timeout (Vault's `http_idle_timeout`).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// See the module documentation.
    pub header_read: Duration,
    /// See the module documentation.
    pub body_read: Duration,
    /// See the module documentation.
    pub idle: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            header_read: DEFAULT_HEADER_READ,
            body_read: DEFAULT_BODY_READ,
            idle: DEFAULT_IDLE,
        }
    }
}

/// An accepted stream that fails once no byte has moved for `idle`.
pub struct IdleStream<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleStream<S> {
    fn new(inner: S, idle: Duration) -> Self {
        IdleStream {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// After the inner stream said `Pending`: an error once the deadline has passed (the
    /// deadline's waker is registered either way, so a silent connection wakes up to fail).
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl<S> IdleStream<S> {
    /// A write's result, with the idle deadline moved on progress and checked while pending.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Wraps every accepted connection in an [`IdleStream`] (below TLS, so a stalled handshake
/// counts too).
#[derive(Clone, Copy, Debug)]
pub struct IdleAcceptor {
    idle: Duration,
}

impl IdleAcceptor {
    /// An acceptor closing connections idle for `idle`.
    pub fn new(idle: Duration) -> Self {
        IdleAcceptor { idle }
    }
}

impl<I, S> axum_server::accept::Accept<I, S> for IdleAcceptor {
    type Stream = IdleStream<I>;
    type Service = S;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        std::future::ready(Ok((IdleStream::new(stream, self.idle), service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_fails_after_the_idle_time_and_traffic_resets_it() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = IdleStream::new(server, Duration::from_secs(5));
        let mut client = client;
        let mut buf = [0u8; 8];
        // Traffic every 3 s keeps it open past 5 s.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            client.write_all(b"x").await.expect("write");
            assert_eq!(server.read(&mut buf).await.expect("read"), 1);
        }
        // Then silence: the read fails with TimedOut.
        let err = server.read(&mut buf).await.expect_err("idle");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
