//! One client connection served over HTTP/1.1: keypool's bounds on its heads, the first
//! head's deadline, graceful shutdown, and a reset when an answer breaks off. Below the
//! listener and the TLS interception, which both serve connections through it.

use crate::body::ProxyBody;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// Request heads larger than this are refused with 431.
const MAX_HEAD_BYTES: usize = 256 * 1024;
/// hyper runs this timer while a keep-alive connection waits for its next request too, so
/// it doubles as the idle timeout. It is longer than client pools keep idle connections
/// (reqwest 90 s, httpx 5 s, undici 4 s): closing first would race a client reusing the
/// connection for a POST it cannot safely retry.
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// How one client connection is served, besides its requests.
pub struct ClientConn {
    /// The first request head must be complete by then (from the start of the connection
    /// or of the tunnel): a client that connects and says nothing, or trickles its head, is
    /// closed. Later heads get hyper's header-read timeout, which is also the keep-alive
    /// idle time.
    pub first_head: Duration,
    /// The client's TCP socket, reset when an answer breaks off.
    pub socket: ClientSocket,
}

/// Serves HTTP/1.1 on `io` until the peer closes or shutdown asks the connection to
/// finish its current request and close. An idle keep-alive connection closes at once on
/// shutdown; a request in flight finishes first.
pub async fn serve_http1<I, S, F>(io: I, svc: S, shutdown: &CancellationToken, c: ClientConn)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
            Future = F,
        > + Send
        + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let seen = Arc::new(tokio::sync::Notify::new());
    let svc = FirstHead {
        inner: svc,
        seen: seen.clone(),
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_READ_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES.max(400 * 1024))
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let first_head_late = async {
        tokio::select! {
            () = seen.notified() => std::future::pending::<()>().await,
            () = tokio::time::sleep(c.first_head) => {}
        }
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        () = first_head_late => {
            tracing::debug!("no request within {}s of connecting; closed", c.first_head.as_secs());
            return;
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended with an error: {e}");
        if e.is_user() {
            // The answer's body failed (the upstream broke off). Chunked framing already
            // tells the client, but an HTTP/1.0 or close-delimited answer would end in a
            // clean-looking FIN: a reset says "broken" to every client.
            c.socket.reset_on_close();
        }
    }
}

/// Tells [`serve_http1`] when the first request head has arrived.
struct FirstHead<S> {
    inner: S,
    seen: Arc<tokio::sync::Notify>,
}

impl<S, R> hyper::service::Service<R> for FirstHead<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> S::Future {
        self.seen.notify_one();
        self.inner.call(req)
    }
}

/// A client's TCP socket, by descriptor, so a broken answer can end in a reset. Used only
/// while the stream that owns the descriptor is alive (inside [`serve_http1`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSocket {
    #[cfg(unix)]
    fd: Option<std::os::fd::RawFd>,
}

impl ClientSocket {
    /// No socket to reset (a connection inside a tunnel: TLS already tells truncation).
    pub fn none() -> ClientSocket {
        ClientSocket::default()
    }

    pub fn of(stream: &tokio::net::TcpStream) -> ClientSocket {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            ClientSocket {
                fd: Some(stream.as_raw_fd()),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = stream;
            ClientSocket {}
        }
    }

    /// With a zero linger time, the coming close sends RST instead of FIN.
    fn reset_on_close(self) {
        #[cfg(unix)]
        if let Some(fd) = self.fd {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: `fd` belongs to the stream serve_http1 still owns (its connection
            // future is alive), and setsockopt reads only the struct we pass.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
    }
}
