//! TLS termination for provider hosts: accept with a leaf minted for the host, then
//! serve the HTTP requests inside through the forward pipeline.

use crate::forward::{self, Target};
use crate::rewind::Rewind;
use crate::server::serve_http1;
use crate::state::State;
use bytes::Bytes;
use hyper::service::service_fn;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::LazyConfigAcceptor;

pub async fn serve<I>(mut io: I, target: Arc<Target>, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A TLS handshake starts with a handshake record (0x16). Anything else is a client
    // speaking plain HTTP into the tunnel: answer in HTTP, which it can read, rather than
    // with a TLS alert, which it cannot.
    let mut first = [0u8; 1];
    match io.read(&mut first).await {
        Ok(1) if first[0] == 0x16 => {}
        Ok(1) => {
            tracing::info!(host = %target.host, "expected a TLS handshake after CONNECT, got plain bytes");
            let msg = "keypool: this CONNECT tunnel expects TLS (https://); the client sent something else\n";
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{msg}",
                msg.len()
            );
            let _ = io.write_all(resp.as_bytes()).await;
            let _ = io.shutdown().await;
            return;
        }
        _ => return, // closed before saying anything
    }
    let io = Rewind::new(Bytes::copy_from_slice(&first), io);
    let start = match LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(host = %target.host, "bad TLS handshake after CONNECT: {e}");
            return;
        }
    };
    let config = if start.client_hello().server_name().is_some() {
        state.tls.clone()
    } else {
        match state.ca.server_config_for(&target.host) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        }
    };
    let tls = match start.into_stream(config).await {
        Ok(t) => t,
        Err(e) => {
            // Most often the client does not trust keypool's CA yet.
            tracing::info!(
                host = %target.host,
                "TLS handshake with the client failed: {e} (does the client trust {}? see `keypool env`)",
                state.home.ca_cert().display()
            );
            return;
        }
    };
    let shutdown = state.shutdown.clone();
    let svc = service_fn(move |req| forward::handle(req, target.clone(), state.clone()));
    serve_http1(tls, svc, &shutdown).await;
}
