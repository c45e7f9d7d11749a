//! One client connection served over HTTP/1.1 or HTTP/2: keypool's bounds on its heads
//! and streams, the first head's deadline, the idle timeout, graceful shutdown, and a
//! reset when an answer breaks off. Below the listener and the TLS interception, which
//! both serve connections through it.

use crate::body::ProxyBody;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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
/// Streams one HTTP/2 connection may have open at once (hyper's default is 200; a client
/// past it is refused streams, not served slower).
const MAX_STREAMS: u32 = 256;
/// An HTTP/2 connection pings a peer it has not heard from for this long, and closes when
/// the ping is not answered within [`PING_TIMEOUT`]: a peer that vanished frees its streams.
const PING_EVERY: Duration = Duration::from_secs(60);
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Which HTTP a connection speaks: TLS's ALPN chose it inside a tunnel; HTTP/1.1 on the
/// listener itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    One,
    Two,
}

impl Http {
    /// The protocol ALPN settled on (`None`: the client offered none, so HTTP/1.1).
    pub fn from_alpn(alpn: Option<&[u8]>) -> Http {
        match alpn {
            Some(b"h2") => Http::Two,
            _ => Http::One,
        }
    }
}

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

/// Serves `http` on `io` until the peer closes or shutdown asks the connection to finish
/// what is in flight and close. An idle keep-alive connection closes at once on shutdown;
/// a request in flight finishes first (HTTP/2: a GOAWAY, then its open streams finish).
pub async fn serve_conn<I, S, F>(
    io: I,
    svc: S,
    shutdown: &CancellationToken,
    c: ClientConn,
    http: Http,
) where
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
    match http {
        Http::One => {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_READ_TIMEOUT)
                .max_header_size(MAX_HEAD_BYTES)
                .max_buf_size(MAX_HEAD_BYTES.max(400 * 1024))
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades();
            // hyper's header-read timeout is the idle timeout of HTTP/1.1.
            drive(conn, |c| c.graceful_shutdown(), &seen, shutdown, &c, None).await;
        }
        Http::Two => {
            let conn = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_header_list_size(MAX_HEAD_BYTES as u32)
                .max_concurrent_streams(MAX_STREAMS)
                .keep_alive_interval(PING_EVERY)
                .keep_alive_timeout(PING_TIMEOUT)
                // RFC 8441: a WebSocket opens with an extended CONNECT (forward/websocket_h2.rs).
                .enable_connect_protocol()
                .serve_connection(TokioIo::new(io), svc);
            drive(
                conn,
                |c| c.graceful_shutdown(),
                &seen,
                shutdown,
                &c,
                Some(HEAD_READ_TIMEOUT),
            )
            .await;
        }
    }
}

/// Runs `conn` to its end, bounded by shutdown, the first head's deadline and, where
/// hyper keeps no idle timeout of its own (`idle`), the time since the last request
/// began: then it is asked to finish what is open and close.
async fn drive<C: Future<Output = Result<(), hyper::Error>>>(
    conn: C,
    graceful: fn(std::pin::Pin<&mut C>),
    seen: &tokio::sync::Notify,
    shutdown: &CancellationToken,
    c: &ClientConn,
    idle: Option<Duration>,
) {
    tokio::pin!(conn);
    let mut first = true;
    // Bounded: each turn is a request beginning, or the end.
    let result = loop {
        let wait = if first { Some(c.first_head) } else { idle };
        tokio::select! {
            r = conn.as_mut() => break r,
            () = shutdown.cancelled() => {
                graceful(conn.as_mut());
                break conn.as_mut().await;
            }
            () = seen.notified() => first = false,
            () = tokio::time::sleep(wait.unwrap_or(Duration::MAX)), if wait.is_some() => {
                let secs = wait.map_or(0, |w| w.as_secs());
                if first {
                    tracing::debug!("no request within {secs}s of connecting; closed");
                    return;
                }
                tracing::debug!("no request for {secs}s; closing the connection");
                graceful(conn.as_mut());
                break conn.as_mut().await;
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended with an error: {e}");
        if e.is_user() {
            // The answer's body failed (the upstream broke off). Chunked framing already
            // tells the client, but an HTTP/1.0 or close-delimited answer would end in a
            // clean-looking FIN: a reset says "broken" to every client. The connection
            // is still open here, so its close is the reset.
            c.socket.reset_on_close();
        }
    }
}

/// Tells [`serve_conn`] when a request head has arrived.
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
/// while the stream that owns the descriptor is alive (inside [`serve_conn`]).
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
            // SAFETY: `fd` belongs to the stream serve_conn still owns (its connection
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
