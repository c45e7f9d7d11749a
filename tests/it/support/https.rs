//! Plumbing shared by the fake servers: a TLS + HTTP accept loop, streamed
//! bodies, and unique ids.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderMap, Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub type Body = BoxBody<Bytes, Infallible>;

/// Accepts TLS connections and serves HTTP/1.1 (with upgrades), or HTTP/2 where the
/// config offers it and the client chose it, on each until
/// the returned future is dropped; dropping it closes every connection, so an
/// aborted accept task makes the whole server vanish at once.
pub async fn accept_loop<H, Fut>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    on_sni: impl Fn(&str) + Send + Sync + 'static,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let on_sni = Arc::new(on_sni);
    let handler = Arc::new(handler);
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let (acceptor, on_sni, handler) = (acceptor.clone(), on_sni.clone(), handler.clone());
        connections.spawn(async move {
            // A failed handshake is the client's business (e.g. an untrusted
            // CA); the server just drops the connection.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            if let Some(sni) = tls.get_ref().1.server_name() {
                on_sni(sni);
            }
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let service = service_fn(move |req| handler(req));
            if h2 {
                let _ = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
                return;
            }
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await;
        });
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A response body fed by a channel: each `send` becomes its own frame, and
/// hyper flushes it as soon as the body has nothing more ready. The sender
/// fails once hyper drops the body, i.e. the consumer went away.
pub fn channel_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(1);
    let frames = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok::<_, Infallible>(Frame::data(b))))
    });
    (tx, BodyExt::boxed(StreamBody::new(frames)))
}

/// Streams pre-rendered events, one frame each.
pub fn spawn_events(events: Vec<Bytes>) -> Body {
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    body
}

/// Unique within the process and sortable by creation time.
pub fn fresh_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!(
        "{nanos:016x}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `len` URL-safe characters that look random (a hash of a unique id), so
/// tokens of the same kind never share a prefix beyond their fixed one.
pub fn random_token(len: usize) -> String {
    let mut out = String::new();
    let mut block = 0u32;
    let seed = fresh_id();
    while out.len() < len {
        let digest = Sha256::digest(format!("{seed}/{block}").as_bytes());
        out.push_str(&URL_SAFE_NO_PAD.encode(digest));
        block += 1;
    }
    out.truncate(len);
    out
}

/// Lower-case hex of `len` pseudo-random characters.
pub fn random_hex(len: usize) -> String {
    let mut out = String::new();
    let seed = fresh_id();
    let mut block = 0u32;
    while out.len() < len {
        let digest = Sha256::digest(format!("{seed}/{block}").as_bytes());
        out.extend(digest.iter().map(|b| format!("{b:02x}")));
        block += 1;
    }
    out.truncate(len);
    out
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The first value of `name` in a query string or form body.
pub fn form_param(form: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(form?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A reqwest client straight to a fake at `addr`: every one of `hosts` resolves there
/// (reqwest uses the override's port when the URL has none), only the test CA is
/// trusted, and system proxies are ignored.
pub fn direct_client(
    ca_pem: &str,
    addr: std::net::SocketAddr,
    hosts: &[impl AsRef<str>],
) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA pem");
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(super::guard::CLIENT_TIMEOUT);
    for host in hosts {
        builder = builder.resolve(host.as_ref(), addr);
    }
    builder.build().expect("reqwest client")
}
