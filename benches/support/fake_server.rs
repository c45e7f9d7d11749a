//! The benches' fake providers' listener: TLS with the test CA's leaf for one host, then
//! HTTP/1.1, or HTTP/2 where the fake offers it and the client's ALPN chose it.

use crate::ca::TestCa;
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How the fake speaks HTTP/2, when it offers it.
#[derive(Clone, Copy, Default)]
pub struct H2 {
    /// The initial flow-control window of each stream and of the connection.
    pub window: Option<u32>,
    pub max_streams: Option<u32>,
}

/// Listens on `127.0.0.1:0` and serves `svc` on every connection; with `h2`, `h2` is
/// offered before `http/1.1`.
pub async fn start<S, B>(ca: &TestCa, host: &str, h2: Option<H2>, svc: S) -> SocketAddr
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    let mut config = (*ca.server_config(&[host])).clone();
    if h2.is_some() {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            // Without it, small responses wait on Nagle and delayed ACKs.
            let _ = tcp.set_nodelay(true);
            let (acceptor, svc) = (acceptor.clone(), svc.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let chose_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let io = TokioIo::new(tls);
                match h2.filter(|_| chose_h2) {
                    Some(h2) => {
                        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                        if let Some(w) = h2.window {
                            b.initial_stream_window_size(w)
                                .initial_connection_window_size(w);
                        }
                        b.max_concurrent_streams(h2.max_streams);
                        let _ = b.serve_connection(io, svc).await;
                    }
                    None => {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    }
                }
            });
        }
    });
    addr
}
