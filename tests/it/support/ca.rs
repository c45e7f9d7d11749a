//! A throwaway certificate authority for tests.
//!
//! Every `TestCa::new()` generates a fresh ECDSA P-256 key at run time, so no
//! private key ever lives in the repository and tests cannot share trust by
//! accident.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

pub struct TestCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "keypool test upstream CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Writes the CA certificate (never the key) as `dir/test-ca.pem`.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, &self.cert_pem).expect("write test-ca.pem");
        path
    }

    /// A server config presenting one leaf valid for every name in `hosts`.
    /// ALPN is `http/1.1` only, like a server that refuses h2, so clients that
    /// offer h2 must fall back.
    pub fn server_config(&self, hosts: &[&str]) -> Arc<rustls::ServerConfig> {
        assert!(!hosts.is_empty(), "a leaf needs at least one host name");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generate leaf key");
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, hosts[0]);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&key, &self.issuer).expect("sign leaf");

        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key_der)
        .expect("server cert");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A client config trusting only this CA (ALPN `http/1.1`), for tests that
    /// speak TLS themselves (e.g. a WebSocket client).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("add test CA root");
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Opens TCP + TLS to `addr`, sending `sni` and verifying against this CA.
    pub async fn connect_tls(
        &self,
        addr: std::net::SocketAddr,
        sni: &str,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        // Not support::guard: the benches include this file on its own.
        let bound = std::time::Duration::from_secs(20);
        let tcp = tokio::time::timeout(bound, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("waited {bound:?} for a TCP connection to {addr}"))
            .expect("connect TCP");
        let name = ServerName::try_from(sni.to_string()).expect("valid SNI");
        let handshake = tokio_rustls::TlsConnector::from(self.client_config()).connect(name, tcp);
        tokio::time::timeout(bound, handshake)
            .await
            .unwrap_or_else(|_| panic!("waited {bound:?} for the TLS handshake with {sni}"))
            .expect("TLS handshake")
    }
}
