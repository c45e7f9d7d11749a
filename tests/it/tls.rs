//! The certificates keypool mints, and TLS session resumption across connections.

use crate::support;
use support::scenario::Scenario;

use rustls::pki_types::ServerName;
use rustls::HandshakeKind;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::guard::Within;
use support::keypool::read_head;
use tokio::io::AsyncWriteExt;
use x509_parser::prelude::*;

#[tokio::test]
async fn leaves_are_p256_server_certs_and_sessions_resume() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n");
    let kp = s.start().await;

    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = kp.ca_pem();
    let ca_der = pem_der(&ca_pem);
    roots.add(ca_der.clone().into()).unwrap();
    // One client config for both connections: its session cache is what resumes.
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::try_from("api.openai.com").unwrap();

    let mut first = connector
        .connect(name.clone(), kp.connect("api.openai.com:443").await)
        .within("the first TLS handshake through keypool")
        .await
        .unwrap();
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        first.get_ref().1.alpn_protocol(),
        None,
        "no ALPN offered, none chosen"
    );
    let leaf_der = first.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    // A request round trip lets the client receive the session ticket.
    first
        .write_all(
            b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer x\r\n\r\n",
        )
        .within("keypool taking the request in the first session")
        .await
        .unwrap();
    let head = read_head(&mut first)
        .within("keypool's answer in the first session")
        .await;
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    drop(first);

    let second = connector
        .connect(name, kp.connect("api.openai.com:443").await)
        .within("the resumed TLS handshake through keypool")
        .await
        .unwrap();
    assert_eq!(
        second.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Resumed)
    );

    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    let (_, root) = X509Certificate::from_der(&ca_der).unwrap();
    assert_eq!(leaf.issuer(), root.subject());
    assert!(!leaf.is_ca());
    assert!(root.is_ca());
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(sans, vec!["DNSName(api.openai.com)"]);
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert_eq!(
        leaf.public_key()
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap(),
        x509_parser::oid_registry::OID_EC_P256
    );
    let nb = leaf.validity().not_before.timestamp();
    let na = leaf.validity().not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(nb < now, "not-before lies in the past, for clock skew");
    assert!(
        na - nb <= 397 * 24 * 3600,
        "validity within the 397-day limit"
    );
    assert!(na - now > Duration::from_secs(300 * 24 * 3600).as_secs() as i64);
}

fn pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}
