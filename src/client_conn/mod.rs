//! One client connection served over HTTP/1.1 or HTTP/2: keypool's bounds on its heads
//! and streams, the first head's deadline, the idle timeout, graceful shutdown, and a
//! reset when an answer breaks off. Below the listener and the TLS interception, which
//! both serve connections through it.

mod activity;
mod parking;

pub use activity::ClientBody;

use crate::body::ProxyBody;
use activity::{Activity, Answering};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking::Parked;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
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
    /// Counts the connection while it is parked.
    pub parked: crate::metrics::OpenGauge,
    /// HTTP/1.1: how long the connection may be idle before it is parked
    /// (`[limits] park_after`).
    pub park_after: Duration,
}

/// What a connection serves: the pipeline, one answer per request and never an error.
pub trait Pipeline:
    hyper::service::Service<
        Request<ClientBody>,
        Response = Response<ProxyBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Send
    + 'static
{
}

impl<S> Pipeline for S where
    S: hyper::service::Service<
            Request<ClientBody>,
            Response = Response<ProxyBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Send
        + 'static
{
}

/// Serves `http` on `io` until the peer closes or shutdown asks the connection to finish
/// what is in flight and close. An idle keep-alive connection closes at once on shutdown;
/// a request in flight finishes first (HTTP/2: a GOAWAY, then its open streams finish).
pub async fn serve_conn<I, S>(
    io: I,
    svc: S,
    shutdown: &CancellationToken,
    c: ClientConn,
    http: Http,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Pipeline,
{
    let on = On {
        seen: Arc::new(tokio::sync::Notify::new()),
        shutdown,
        c: &c,
    };
    // Each boxed: the task keeps room only for the protocol it speaks (an HTTP/2
    // connection is kilobytes, a parked HTTP/1.1 one a stream and a timer).
    match http {
        Http::One => Box::pin(serve_h1(io, svc, on)).await,
        Http::Two => Box::pin(serve_h2(io, svc, on)).await,
    }
}

/// What a connection is served with besides its stream and the pipeline.
struct On<'a> {
    /// Told when a request head has arrived.
    seen: Arc<tokio::sync::Notify>,
    shutdown: &'a CancellationToken,
    c: &'a ClientConn,
}

async fn serve_h2<I, S>(io: I, svc: S, on: On<'_>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Pipeline,
{
    let On { seen, shutdown, c } = on;
    let svc = Watch {
        inner: svc,
        seen: seen.clone(),
        activity: None,
    };
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(PING_EVERY)
        .keep_alive_timeout(PING_TIMEOUT)
        // RFC 8441: a WebSocket opens with an extended CONNECT (forward/websocket_h2.rs).
        .enable_connect_protocol()
        .serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let deadline = tokio::time::Instant::now() + c.first_head;
    let bounds = Bounds {
        seen: &seen,
        shutdown,
        first_head: Some(deadline),
        idle: Some(HEAD_READ_TIMEOUT),
        park: None,
    };
    if let Driven::Ended(r) = drive(conn.as_mut(), |c| c.graceful_shutdown(), bounds).await {
        ended(r, c);
    }
}

/// HTTP/1.1, parked between requests (parking.rs): hyper has the stream only from the
/// client's first byte of a request until its answer is flushed.
async fn serve_h1<I, S>(io: I, svc: S, on: On<'_>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Pipeline,
{
    let On { seen, shutdown, c } = on;
    let activity = Arc::new(Activity::default());
    let mut io = Parked::new(io, activity.clone());
    let mut svc = Watch {
        inner: svc,
        seen: seen.clone(),
        activity: Some(activity.clone()),
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_READ_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES.max(400 * 1024));
    let mut first_head = Some(tokio::time::Instant::now() + c.first_head);
    loop {
        let parked = c.parked.opened();
        let wait = first_head.unwrap_or_else(|| tokio::time::Instant::now() + HEAD_READ_TIMEOUT);
        let woke = tokio::select! {
            woke = tokio::time::timeout_at(wait, io.wait_for_bytes()) => woke.unwrap_or(false),
            () = shutdown.cancelled() => false,
        };
        drop(parked);
        if !woke {
            // Silent past the idle time (or the first head's deadline), closed, or shutdown.
            let _ = tokio::time::timeout(CLOSE_GRACE, io.get_mut().shutdown()).await;
            return;
        }
        // Boxed: while parked, the task keeps no room for hyper's connection.
        let mut conn = Box::new(
            builder
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades(),
        );
        let held = parking::Held::new();
        let bounds = Bounds {
            seen: &seen,
            shutdown,
            first_head,
            // hyper's header-read timeout is the idle timeout of an HTTP/1.1 connection
            // that is not parked.
            idle: None,
            park: Some(Park {
                activity: &activity,
                after: c.park_after,
            }),
        };
        match drive(Pin::new(&mut *conn), |c| c.graceful_shutdown(), bounds).await {
            Driven::Ended(r) => return ended(r, c),
            Driven::Idle => {
                if activity.asked() {
                    first_head = None;
                }
                drop(held);
                let Some(parts) = (*conn).into_parts() else {
                    return; // upgraded: the stream went with the upgrade
                };
                io = parts.io.into_inner();
                io.unread(parts.read_buf);
                svc = parts.service;
                crate::trim::after_release();
            }
        }
    }
}

/// How long a parked connection that timed out may take to say goodbye (TLS's
/// close_notify, then FIN) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What [`drive`] watches besides the connection.
struct Bounds<'a> {
    seen: &'a tokio::sync::Notify,
    shutdown: &'a CancellationToken,
    /// Until the first request head: the deadline for it.
    first_head: Option<tokio::time::Instant>,
    /// Where hyper keeps no idle timeout of its own: the longest time from a request's
    /// beginning to the next one's.
    idle: Option<Duration>,
    /// HTTP/1.1: when to give the connection back to be parked.
    park: Option<Park<'a>>,
}

/// An HTTP/1.1 connection is parked once hyper has held nothing worth keeping for `after`.
#[derive(Clone, Copy)]
struct Park<'a> {
    activity: &'a Activity,
    after: Duration,
}

enum Driven {
    Ended(Result<(), hyper::Error>),
    /// Between requests with nothing held: the caller parks the connection.
    Idle,
}

/// Runs `conn` until it ends or, with [`Bounds::park`], until it has been idle for the
/// park delay; bounded by shutdown, the first head's deadline and the idle time, at which
/// it is asked to finish what is open and close.
async fn drive<C: Future<Output = Result<(), hyper::Error>>>(
    mut conn: Pin<&mut C>,
    graceful: fn(Pin<&mut C>),
    b: Bounds<'_>,
) -> Driven {
    let mut first_head = b.first_head;
    // One timer for the connection's whole turn, set when it goes idle: a connection
    // busy with request after request is not taken apart and rebuilt between them.
    let park_timer = tokio::time::sleep_until(far());
    tokio::pin!(park_timer);
    let mut park_armed = false;
    // Each registered once per turn, not once per request: every connection waits on the
    // one shutdown token, whose waiters sit behind a lock.
    let cancelled = b.shutdown.cancelled();
    tokio::pin!(cancelled);
    let notified = b.seen.notified();
    tokio::pin!(notified);
    // Bounded: each turn is a request beginning, its end, or the end.
    loop {
        let wait = match first_head {
            Some(deadline) => Some(deadline),
            None => b.idle.map(|d| tokio::time::Instant::now() + d),
        };
        let idle_watch = b.park.filter(|_| !park_armed).map(|p| p.activity);
        tokio::select! {
            r = poll_until_idle(conn.as_mut(), idle_watch) => {
                if let Some(r) = r {
                    return Driven::Ended(r);
                }
                // Idle (watched only with a park delay): parked now, or once it passes.
                let after = b.park.map_or(Duration::ZERO, |p| p.after);
                if after.is_zero() || parking::Held::crowded() {
                    return Driven::Idle;
                }
                park_timer.as_mut().reset(tokio::time::Instant::now() + after);
                park_armed = true;
            }
            () = &mut park_timer, if park_armed => {
                if b.park.is_some_and(|p| p.activity.idle()) {
                    return Driven::Idle;
                }
                // Busy since: the next idle moment sets the timer again.
                park_armed = false;
            }
            () = &mut cancelled => {
                graceful(conn.as_mut());
                return Driven::Ended(conn.as_mut().await);
            }
            () = &mut notified => {
                first_head = None;
                notified.set(b.seen.notified());
            }
            () = tokio::time::sleep_until(wait.unwrap_or_else(far)), if wait.is_some() => {
                if first_head.is_some() {
                    tracing::debug!("no request head in time after connecting; closed");
                    return Driven::Ended(Ok(()));
                }
                let secs = b.idle.map_or(0, |w| w.as_secs());
                tracing::debug!("no request for {secs}s; closing the connection");
                graceful(conn.as_mut());
                return Driven::Ended(conn.as_mut().await);
            }
        }
    }
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86400 * 365)
}

/// The connection's end (`Some`), or `None` once it waits with nothing held (watched
/// only with `idle`).
async fn poll_until_idle<C: Future<Output = Result<(), hyper::Error>>>(
    mut conn: Pin<&mut C>,
    idle: Option<&Activity>,
) -> Option<Result<(), hyper::Error>> {
    std::future::poll_fn(|cx| match conn.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending if idle.is_some_and(Activity::idle) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await
}

/// A connection's error, logged; a broken answer ends in a reset.
fn ended(result: Result<(), hyper::Error>, c: &ClientConn) {
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

type Answer = Result<Response<ProxyBody>, Infallible>;

/// The service as hyper sees it: tells [`serve_conn`] when a request head has arrived,
/// and on HTTP/1.1 counts the request and its answer in the connection's [`Activity`].
/// Its future is boxed: hyper keeps room for one per HTTP/1.1 connection for the
/// connection's whole life, and the pipeline's is several KiB.
struct Watch<S> {
    inner: S,
    seen: Arc<tokio::sync::Notify>,
    activity: Option<Arc<Activity>>,
}

impl<S: Pipeline> hyper::service::Service<Request<Incoming>> for Watch<S> {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.seen.notify_one();
        if let Some(a) = &self.activity {
            let switching = req.method() == http::Method::CONNECT
                || req.headers().contains_key(http::header::UPGRADE);
            if switching {
                a.keep();
            }
        }
        let answering = self.activity.as_ref().map(Answering::begin);
        let req = req.map(|body| ClientBody::new(body, self.activity.clone()));
        let answer = self.inner.call(req);
        Box::pin(async move {
            let Ok(response) = answer.await;
            Ok(match answering {
                Some(a) => response.map(|body| a.around(body)),
                None => response,
            })
        })
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
