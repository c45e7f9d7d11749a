//! TLS termination for provider hosts: accept with a leaf minted for the host, then
//! serve the HTTP requests inside through the forward pipeline.

use crate::client_conn::{serve_conn, ClientConn, ClientSocket, Http};
use crate::forward;
use crate::rewind::Rewind;
use crate::state::State;
use crate::target::Target;
use bytes::Bytes;
use hyper::service::service_fn;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::LazyConfigAcceptor;
use tokio_util::sync::CancellationToken;

/// One intercepted tunnel, in the order its bytes arrive: the first byte (TLS or not),
/// the ClientHello, the certificate for the tunnel's host, the handshake, then the
/// requests inside.
pub async fn serve<I>(io: I, target: Arc<Target>, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _open = state.metrics.opened(crate::metrics::Open::Intercepted);
    // The handshake boxed: an idle connection's task does not keep the room the handshake
    // took (the whole future was 8.7 KB, 1.4 KB this way, and a task never shrinks). The
    // stream it makes is boxed too, once, and moves as a pointer from here on.
    let Some(tls) = Box::pin(handshake(io, &target, &state)).await.map(Box::new) else {
        return;
    };
    let shutdown = state.shutdown.clone();
    let conn = ClientConn {
        first_head: state.limits.handshake_timeout,
        socket: ClientSocket::none(),
        parked: state.metrics.gauge(crate::metrics::Open::Parked),
        park_after: state.limits.park_after,
    };
    let http = Http::from_alpn(tls.get_ref().1.alpn_protocol());
    let svc = service_fn(move |req| forward::handle(req, target.clone(), state.clone()));
    serve_conn(tls, svc, &shutdown, conn, http).await;
}

/// The TLS handshake with the client, bounded (see [`Handshake`]); `None` once it failed,
/// was refused or ran out of time (each logged).
async fn handshake<I>(
    io: I,
    target: &Target,
    state: &State,
) -> Option<tokio_rustls::server::TlsStream<Rewind<I>>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = Handshake {
        deadline: tokio::time::Instant::now() + state.limits.handshake_timeout,
        shutdown: state.shutdown.clone(),
        host: &target.host,
    };
    let io = expect_tls(io, &handshake).await?;
    let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = match handshake.bound(hello).await? {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(host = %target.host, "bad TLS handshake after CONNECT: {e}");
            return None;
        }
    };
    let (start, config) = certificate_for(start, target, state).await?;
    match handshake.bound(start.into_stream(config)).await? {
        Ok(t) => Some(t),
        Err(e) => {
            // Most often the client does not trust keypool's CA yet.
            tracing::info!(
                host = %target.host,
                "TLS handshake with the client failed: {e} (does the client trust {}? {})",
                state.home.ca_cert().display(),
                "see `keypool env`"
            );
            None
        }
    }
}

/// The tunnel's bytes from the start, when they begin a TLS handshake (a handshake record,
/// 0x16). Anything else is a client speaking plain HTTP into the tunnel: it is answered
/// in HTTP, which it can read, rather than with a TLS alert, which it cannot.
async fn expect_tls<I>(mut io: I, handshake: &Handshake<'_>) -> Option<Rewind<I>>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut first = [0u8; 1];
    match handshake.bound(io.read(&mut first)).await? {
        Ok(1) if first[0] == 0x16 => Some(Rewind::new(Bytes::copy_from_slice(&first), io)),
        Ok(1) => {
            tracing::info!(
                host = %handshake.host,
                "expected a TLS handshake after CONNECT, got plain bytes"
            );
            let msg = concat!(
                "keypool: this CONNECT tunnel expects TLS (https://); ",
                "the client sent something else\n"
            );
            let resp = format!(
                concat!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n",
                    "content-length: {}\r\nconnection: close\r\n\r\n{}"
                ),
                msg.len(),
                msg
            );
            handshake
                .bound(async {
                    let _ = io.write_all(resp.as_bytes()).await;
                    let _ = io.shutdown().await;
                })
                .await;
            None
        }
        _ => None, // closed before saying anything
    }
}

/// The TLS config that presents the tunnel host's leaf, or `None` once the ClientHello
/// was refused. keypool mints only for the host the tunnel was opened to: minting for
/// whatever name a client asks would hand any local process a certificate for any site.
async fn certificate_for<I>(
    start: tokio_rustls::StartHandshake<I>,
    target: &Target,
    state: &State,
) -> Option<(tokio_rustls::StartHandshake<I>, Arc<rustls::ServerConfig>)>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let hello = start.client_hello();
    let has_sni = hello.server_name().is_some();
    let other_name = hello
        .server_name()
        .filter(|sni| !same_host(sni, &target.host))
        .map(str::to_owned);
    let minting = state.minting();
    let config = match (other_name, has_sni) {
        (Some(sni), _) => {
            tracing::info!(
                host = %target.host,
                sni = ?sni,
                concat!(
                    "refused a TLS ClientHello whose server name differs from the CONNECT ",
                    "target: keypool signs only for the host a tunnel was opened to; ",
                    "fix: the client must CONNECT to the name it verifies"
                )
            );
            refuse_name(start.io).await;
            return None;
        }
        (None, true) => minting.tls.clone(),
        (None, false) => match minting.ca.server_config_for(&target.host) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{e}");
                return None;
            }
        },
    };
    Some((start, config))
}

const HANDSHAKE_LATE: &str = "no TLS handshake in time after CONNECT; closed \
    (raise [limits] handshake_timeout if the client is that slow)";

/// The bound on a handshake: done by the deadline (`[limits] handshake_timeout`), and
/// abandoned at once when shutdown begins. Without it a client that never starts TLS,
/// or stops mid-hello, would hold its descriptor forever and shutdown for the whole grace.
struct Handshake<'a> {
    deadline: tokio::time::Instant,
    shutdown: CancellationToken,
    host: &'a str,
}

impl Handshake<'_> {
    /// `fut`'s output, or `None` when the deadline or shutdown came first.
    async fn bound<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            r = tokio::time::timeout_at(self.deadline, fut) => {
                if r.is_err() {
                    tracing::info!(host = %self.host, "{HANDSHAKE_LATE}");
                }
                r.ok()
            }
            () = self.shutdown.cancelled() => None,
        }
    }
}

/// Host names compare case-insensitively, and `host.` is `host`.
fn same_host(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('.'), b.trim_end_matches('.'));
    a.eq_ignore_ascii_case(b)
}

/// A fatal `unrecognized_name` alert (RFC 6066 §3), the answer for a server name we do
/// not serve, sent in the clear as any alert before the handshake; then close.
async fn refuse_name<I: AsyncWrite + Unpin>(mut io: I) {
    const ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];
    let _ = io.write_all(&ALERT).await;
    let _ = io.shutdown().await;
}
