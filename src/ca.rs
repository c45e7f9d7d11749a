//! The local certificate authority: created once, then mints a leaf per intercepted host.

use crate::atomic_file;
use crate::home::Home;
use lru::LruCache;
use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable keypool CA ({why})\nfix: move {dir} aside and run `keypool ca init` to make a new CA (clients must then trust the new one)")]
    Corrupt {
        path: PathBuf,
        dir: PathBuf,
        why: String,
    },
    #[error("cannot mint a certificate for '{host}': {why}")]
    Mint { host: String, why: String },
}

pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    crypto: Arc<CryptoProvider>,
    leaves: Mutex<LruCache<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertAuthority { .. }")
    }
}

/// The one crypto provider keypool uses everywhere.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Browsers and Apple platforms reject leaves valid longer than 397 days.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
const LEAF_CACHE: usize = 1024;

impl CertAuthority {
    /// Loads the CA from `home`, creating it on first use. Returns whether it was created.
    pub fn load_or_create(home: &Home) -> Result<(CertAuthority, bool), CaError> {
        let (cert_path, key_path) = (home.ca_cert(), home.ca_key());
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Ok((Self::load(&cert_path, &key_path, home)?, false)),
            (false, false) => Ok((Self::create(&cert_path, &key_path)?, true)),
            (true, false) => Err(CaError::Corrupt {
                path: key_path,
                dir: home.certs_dir(),
                why: "the key file is missing while the certificate exists".into(),
            }),
            (false, true) => Err(CaError::Corrupt {
                path: cert_path,
                dir: home.certs_dir(),
                why: "the certificate is missing while the key exists".into(),
            }),
        }
    }

    fn create(cert_path: &Path, key_path: &Path) -> Result<CertAuthority, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| mint_err("CA", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("keypool local CA ({})", hostname()),
        );
        dn.push(DnType::OrganizationName, "keypool");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(3600);
        params.not_after = now + Duration::from_secs(10 * 365 * 24 * 3600);
        let cert = params.self_signed(&key).map_err(|e| mint_err("CA", e))?;
        let ca_pem = cert.pem();
        // Key first: a certificate without its key on disk would be unusable.
        atomic_file::write(key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| io("write", key_path, e))?;
        atomic_file::write(cert_path, ca_pem.as_bytes(), 0o644)
            .map_err(|e| io("write", cert_path, e))?;
        Ok(Self::from_parts(Issuer::new(params, key), ca_pem))
    }

    fn load(cert_path: &Path, key_path: &Path, home: &Home) -> Result<CertAuthority, CaError> {
        let corrupt = |path: &Path, why: String| CaError::Corrupt {
            path: path.to_path_buf(),
            dir: home.certs_dir(),
            why,
        };
        let ca_pem = std::fs::read_to_string(cert_path).map_err(|e| io("read", cert_path, e))?;
        let key_pem = std::fs::read_to_string(key_path).map_err(|e| io("read", key_path, e))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| corrupt(key_path, e.to_string()))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
            .map_err(|e| corrupt(cert_path, e.to_string()))?;
        Ok(Self::from_parts(issuer, ca_pem))
    }

    fn from_parts(issuer: Issuer<'static, KeyPair>, ca_pem: String) -> CertAuthority {
        CertAuthority {
            issuer,
            ca_pem,
            crypto: crypto_provider(),
            leaves: Mutex::new(LruCache::new(
                NonZeroUsize::new(LEAF_CACHE).expect("non-zero"),
            )),
        }
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The leaf for `host`, minted on first use and cached.
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.leaves.lock().get(&host) {
            return Ok(k.clone());
        }
        let key = self.mint(&host)?;
        self.leaves.lock().put(host, key.clone());
        Ok(key)
    }

    fn mint(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| mint_err(host, e))?;
        let mut params =
            CertificateParams::new(vec![host.to_string()]).map_err(|e| mint_err(host, e))?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        params.is_ca = IsCa::NoCa;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        // A minute in the past absorbs clock skew between keypool and the client.
        params.not_before = now - Duration::from_secs(60);
        params.not_after = now + LEAF_VALIDITY;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| mint_err(host, e))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = self
            .crypto
            .key_provider
            .load_private_key(der)
            .map_err(|e| mint_err(host, e))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![cert.der().clone()],
            signer,
        )))
    }

    /// The one TLS server config for every intercepted connection; sharing it is what
    /// makes session resumption work across connections.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut cfg = self.tls_config(Arc::new(LeafResolver(self.clone())));
        if let Ok(t) = rustls::crypto::ring::Ticketer::new() {
            cfg.ticketer = t;
        }
        Arc::new(cfg)
    }

    /// A config for a client that sent no SNI: the leaf is the CONNECT host's.
    pub fn server_config_for(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let leaf = self.leaf(host)?;
        Ok(Arc::new(self.tls_config(Arc::new(FixedResolver(leaf)))))
    }

    /// HTTP/1.1 only: the inner server speaks HTTP/1.1, and clients fall back to it.
    fn tls_config(&self, resolver: Arc<dyn ResolvesServerCert>) -> rustls::ServerConfig {
        let mut cfg = rustls::ServerConfig::builder_with_provider(self.crypto.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        cfg
    }
}

#[derive(Debug)]
struct LeafResolver(Arc<CertAuthority>);

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello.server_name()?;
        match self.0.leaf(host) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }
}

#[derive(Debug)]
struct FixedResolver(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn mint_err(host: &str, e: impl std::fmt::Display) -> CaError {
    CaError::Mint {
        host: host.to_string(),
        why: e.to_string(),
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> CaError {
    CaError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_loads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let (ca, created) = CertAuthority::load_or_create(&home).unwrap();
        assert!(created);
        let (again, created) = CertAuthority::load_or_create(&home).unwrap();
        assert!(!created);
        assert_eq!(ca.ca_pem(), again.ca_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.ca_key())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        let a = again.leaf("api.openai.com").unwrap();
        let b = again.leaf("API.openai.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "leaves are cached per host");
    }

    #[test]
    fn a_missing_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        CertAuthority::load_or_create(&home).unwrap();
        std::fs::remove_file(home.ca_key()).unwrap();
        let e = CertAuthority::load_or_create(&home)
            .unwrap_err()
            .to_string();
        assert!(e.contains("keypool ca init"), "{e}");
    }
}
