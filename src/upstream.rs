//! Every connection keypool opens: pooled clients for provider requests (HTTP/2 where
//! the provider offers it, HTTP/1.1 for large bodies, upgrades and the rest) and plain
//! TCP for blind tunnels, all honouring `connect_to` and the extra roots.

use crate::body::{BoxError, ProxyBody};
use crate::config::{ConnectTo, Http2, UpstreamConfig};
use http::Uri;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_io_timeout::TimeoutStream;

struct Dialer {
    /// Offers `http/1.1` only.
    tls_h1: Arc<rustls::ClientConfig>,
    /// Offers `h2`, then `http/1.1`.
    tls_h2: Arc<rustls::ClientConfig>,
    connect_to: Vec<ConnectTo>,
    connect_timeout: Duration,
    read_timeout: Duration,
    egress: crate::egress::Egress,
}

impl Dialer {
    /// Every connection keypool opens passes here: resolved once, checked against the
    /// egress policy, then connected to the checked address.
    async fn tcp(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let host = host.trim_matches(['[', ']']);
        let route = self.connect_to.iter().find(|c| c.matches(host, port));
        let (h, p) = match route {
            Some(c) => c.to(),
            None => (host, port),
        };
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {h}:{p} timed out"),
            )
        };
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let resolved: Vec<std::net::SocketAddr> =
            tokio::time::timeout_at(deadline, tokio::net::lookup_host((h, p)))
                .await
                .map_err(|_| timed_out())??
                .take(16)
                .collect();
        let target = match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        };
        let addrs = self
            .egress
            .filter(&target, host, route.is_some(), resolved)
            .map_err(|r| io::Error::new(io::ErrorKind::PermissionDenied, r))?;
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{h} resolves to no address"),
        );
        for addr in addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Ok(Err(e)) => last = e,
            }
        }
        Err(last)
    }

    async fn connect(&self, uri: Uri, alpn: Alpn) -> io::Result<Conn> {
        let host = uri
            .host()
            .ok_or_else(|| io::Error::other("request URI has no host"))?;
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut tcp = TimeoutStream::new(self.tcp(host, port).await?);
        tcp.set_read_timeout(Some(self.read_timeout));
        let tcp = Box::pin(tcp);
        if !https {
            return Ok(Conn::Plain(tcp));
        }
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .map_err(|_| io::Error::other(format!("'{host}' is not a valid TLS server name")))?;
        let config = match alpn {
            Alpn::H1 => &self.tls_h1,
            Alpn::H2 => &self.tls_h2,
        };
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await?;
        Ok(Conn::Tls(Box::new(tls)))
    }
}

type Timed = Pin<Box<TimeoutStream<TcpStream>>>;

/// An upstream connection, plain or TLS, with a read (idle) timeout underneath.
pub enum Conn {
    Plain(Timed),
    Tls(Box<tokio_rustls::client::TlsStream<Timed>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => s.as_mut().poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => s.as_mut().poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => s.as_mut().poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => s.as_mut().poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        match self {
            Conn::Tls(s) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
                Connected::new().negotiated_h2()
            }
            _ => Connected::new(),
        }
    }
}

/// What a connector's TLS handshakes offer.
#[derive(Clone, Copy)]
enum Alpn {
    H1,
    H2,
}

#[derive(Clone)]
pub struct Connector(Arc<Dialer>, Alpn);

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Conn>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Conn>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (dialer, alpn) = (self.0.clone(), self.1);
        Box::pin(async move { Ok(TokioIo::new(dialer.connect(uri, alpn).await?)) })
    }
}

/// The upstream side of keypool.
#[derive(Clone)]
pub struct Upstream {
    h1: Client<Connector, ProxyBody>,
    /// `None` with `[upstream] http2 = "off"`.
    h2: Option<H2>,
    dialer: Arc<Dialer>,
}

/// Streams one provider's HTTP/2 connection carries at most from keypool: past this the
/// next requests go on HTTP/1.1 connections rather than queue for a stream.
const MAX_H2_STREAMS: usize = 100;

/// The client that speaks HTTP/2 to providers that offer it (one connection per host,
/// shared by its streams).
#[derive(Clone)]
struct H2 {
    client: Client<Connector, ProxyBody>,
    large_body: u64,
    /// Requests sent on it whose answer's head has not come yet.
    waiting: Arc<AtomicUsize>,
}

impl H2 {
    /// Whether `req` goes on HTTP/2: not an upgrade (a WebSocket is an HTTP/1.1
    /// handshake), a body known to be smaller than `large_body` (one streamed through
    /// without a length may be any size), and a stream free.
    fn takes(&self, req: &http::Request<ProxyBody>) -> bool {
        let hint = http_body::Body::size_hint(req.body());
        let size = hint.exact().or(hint.upper()).unwrap_or(u64::MAX);
        !crate::headers::is_websocket_upgrade(req.headers())
            && size < self.large_body
            && self.waiting.load(Ordering::Relaxed) < MAX_H2_STREAMS
    }
}

/// Counts one request in [`H2::waiting`] while it lives.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(n: &Arc<AtomicUsize>) -> Waiting {
        n.fetch_add(1, Ordering::Relaxed);
        Waiting(n.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// `extra_connect_to` comes from the command line and is tried before the config's.
    pub fn new(cfg: &UpstreamConfig, extra_connect_to: &[ConnectTo]) -> Result<Upstream, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert); // one odd system certificate must not stop keypool
        }
        for path in &cfg.extra_ca {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read extra CA file {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("extra CA file {} is not PEM: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "extra CA file {} holds no certificate",
                    path.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("extra CA file {}: {e}", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(crate::ca::crypto_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let offering = |alpn: &[&[u8]]| {
            let mut t = tls.clone();
            t.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(t)
        };

        let mut connect_to = extra_connect_to.to_vec();
        for c in &cfg.connect_to {
            connect_to.push(ConnectTo::parse(c)?);
        }
        let dialer = Arc::new(Dialer {
            tls_h1: offering(&[b"http/1.1"]),
            tls_h2: offering(&[b"h2", b"http/1.1"]),
            connect_to,
            connect_timeout: cfg.connect_timeout,
            read_timeout: cfg.read_timeout,
            egress: crate::egress::Egress::new(&cfg.allow_private),
        });
        let h1 = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(Connector(dialer.clone(), Alpn::H1));
        let h2 = (cfg.http2 == Http2::Auto).then(|| H2 {
            client: h2_client(Connector(dialer.clone(), Alpn::H2)),
            large_body: cfg.large_body.as_u64(),
            waiting: Arc::default(),
        });
        Ok(Upstream { h1, h2, dialer })
    }

    /// Sends one request; the URI must be absolute (`https://host/path`).
    pub async fn send(
        &self,
        req: http::Request<ProxyBody>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        match &self.h2 {
            Some(h2) if h2.takes(&req) => {
                let _waiting = Waiting::new(&h2.waiting);
                h2.client.request(req).await
            }
            _ => self.h1.request(req).await,
        }
    }

    /// Where keypool may connect: the provider hosts of the config in force, and its own
    /// listening address, which it never connects to.
    pub fn egress(&self) -> &crate::egress::Egress {
        &self.dialer.egress
    }

    /// The longest silence allowed from an upstream, for messages that name it.
    pub fn read_timeout(&self) -> Duration {
        self.dialer.read_timeout
    }

    /// A raw TCP connection for a blind tunnel.
    pub async fn connect_tcp(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        self.dialer.tcp(host, port).await
    }
}

/// A client that speaks HTTP/2 where the TLS handshake chose it (HTTP/1.1 elsewhere).
/// The windows it sets are for answers: a long stream is not slowed by window updates.
/// An upload is bound by the provider's window, which keypool cannot widen: hence
/// large bodies on HTTP/1.1.
fn h2_client(connector: Connector) -> Client<Connector, ProxyBody> {
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .http2_initial_stream_window_size(1 << 20)
        .http2_initial_connection_window_size(8 << 20)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(20))
        .build(connector)
}

/// A one-line reason built from an error's source chain, for 502 answers and logs.
pub fn describe_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Whether `e` (or an error in its source chain) is a timeout: the upstream said nothing
/// for `[upstream] read_timeout`, or a connect took longer than `connect_timeout`.
/// Told apart from a reset because the fix differs (a longer timeout, not the network).
pub fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let timed_out = err
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
            || err
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout);
        if timed_out {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_bodies_of_known_size_and_no_upgrades_go_on_http2() {
        let cfg = UpstreamConfig::default();
        let up = Upstream::new(&cfg, &[]).unwrap();
        let h2 = up.h2.as_ref().expect("http2 = auto by default");
        let req = |body: ProxyBody| http::Request::new(body);
        assert!(h2.takes(&req(crate::body::full(vec![b'x'; 1000]))));
        assert!(!h2.takes(&req(crate::body::full(vec![b'x'; 256 << 10]))));
        let streamed: ProxyBody =
            http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(
                futures_util::stream::pending::<Result<http_body::Frame<bytes::Bytes>, BoxError>>(),
            ));
        assert!(!h2.takes(&req(streamed)), "a body of unknown length");
        let mut ws = req(crate::body::empty());
        crate::headers::restore_websocket_upgrade(ws.headers_mut());
        assert!(!h2.takes(&ws));
        let off = UpstreamConfig {
            http2: Http2::Off,
            ..UpstreamConfig::default()
        };
        assert!(Upstream::new(&off, &[]).unwrap().h2.is_none());
    }

    #[test]
    fn a_timeout_is_found_anywhere_in_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the body failed")]
        struct Wrapper(#[source] io::Error);
        let timed_out = Wrapper(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        assert!(is_timeout(&timed_out));
        let reset = Wrapper(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(!is_timeout(&reset));
    }
}
