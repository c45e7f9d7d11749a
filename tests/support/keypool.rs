//! Starting keypool in-process against a fake provider, and clients that go through it.

use super::ca::TestCa;
use super::fake::FakeProvider;
use keypool::{Config, Home, ProxyOptions, RunningProxy};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Keypool {
    pub proxy: RunningProxy,
    pub home: tempfile::TempDir,
}

impl Keypool {
    /// Starts keypool with `accounts_toml` plus an `[upstream]` section that sends every
    /// :443 connection to `fake` and trusts the test CA.
    pub async fn start(accounts_toml: &str, fake: &FakeProvider, ca: &TestCa) -> Keypool {
        Self::start_with_upstream(accounts_toml, fake.addr(), ca).await
    }

    pub async fn start_with_upstream(
        accounts_toml: &str,
        upstream: SocketAddr,
        ca: &TestCa,
    ) -> Keypool {
        let home = tempfile::tempdir().unwrap();
        let text = config_text(accounts_toml, upstream, &ca.write_pem(home.path()));
        let config = Config::parse(&text, Path::new("test.toml")).unwrap();
        let proxy = keypool::start(ProxyOptions::new(Home::at(home.path()), config))
            .await
            .unwrap();
        Keypool { proxy, home }
    }

    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr()
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.home.path().join("certs/ca.pem")).unwrap()
    }

    /// reqwest through keypool, trusting only keypool's CA.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(format!("http://{}", self.addr())).unwrap())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem().as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// A raw CONNECT tunnel through keypool; returns the stream after the `200`.
    pub async fn connect(&self, authority: &str) -> TcpStream {
        let mut s = TcpStream::connect(self.addr()).await.unwrap();
        s.write_all(
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "CONNECT answered: {head}");
        s
    }

    /// CONNECT plus a TLS handshake that trusts `roots` only.
    pub async fn tls_through(
        &self,
        host: &str,
        roots_pem: &str,
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = self.connect(&format!("{host}:443")).await;
        tls_connect(tcp, host, roots_pem).await
    }
}

pub fn config_text(accounts_toml: &str, upstream: SocketAddr, ca_file: &Path) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n{accounts_toml}\n[upstream]\nconnect_to = [\":443:127.0.0.1:{}\"]\nextra_ca = [{:?}]\n",
        upstream.port(),
        ca_file.display().to_string()
    )
}

pub async fn tls_connect(
    tcp: TcpStream,
    host: &str,
    roots_pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(roots_pem) {
        roots.add(c).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap()
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Reads an HTTP head (up to the blank line) byte by byte, leaving the body unread.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
