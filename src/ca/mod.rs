//! The local certificate authority: created once, then mints a leaf per intercepted host.
//! It can sign only for the provider hosts it was made for (`constraints`); `rotate`
//! replaces it with one covering the hosts configured now.

mod constraints;
mod rotate;

pub use constraints::{hosts_of, normalise, Scope};
pub use rotate::{rotate, Rotated};

use crate::atomic_file;
use crate::home::Home;
use lru::LruCache;
use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, PKCS_ECDSA_P256_SHA256,
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
    #[error("{path} is not a usable keypool CA ({why})\nfix: run `keypool ca rotate` to make a new CA (it keeps the old files aside; clients must then trust the new one)")]
    Corrupt { path: PathBuf, why: String },
    #[error("cannot mint a certificate for '{host}': {why}")]
    Mint { host: String, why: String },
}

pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    scope: Scope,
    crypto: Arc<CryptoProvider>,
    leaves: Mutex<LruCache<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertAuthority { .. }")
    }
}

/// The CA in force and the one TLS server config built on it, swapped together when a
/// reload finds a rotated CA (connections already open keep the pair they started with).
#[derive(Debug)]
pub struct Minting {
    pub ca: Arc<CertAuthority>,
    pub tls: Arc<rustls::ServerConfig>,
}

impl Minting {
    pub fn new(ca: CertAuthority) -> Arc<Minting> {
        let ca = Arc::new(ca);
        Arc::new(Minting {
            tls: ca.server_config(),
            ca,
        })
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
    /// Loads the CA from `home`, creating it on first use, constrained to `hosts` (see
    /// [`hosts_of`]). Returns whether it was created.
    pub fn load_or_create(home: &Home, hosts: &[String]) -> Result<(CertAuthority, bool), CaError> {
        if !home.ca_cert().exists() && !home.ca_key().exists() {
            return Ok((Self::create(home, hosts)?, true));
        }
        Ok((Self::load(home)?, false))
    }

    /// Makes a new CA for `hosts` and writes it over whatever `home` holds.
    pub(crate) fn create(home: &Home, hosts: &[String]) -> Result<CertAuthority, CaError> {
        let (cert_path, key_path) = (home.ca_cert(), home.ca_key());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| mint_err("CA", e))?;
        let scope = Scope::for_hosts(hosts);
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
        params.name_constraints = scope.to_rcgen();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(3600);
        params.not_after = now + Duration::from_secs(10 * 365 * 24 * 3600);
        let cert = params.self_signed(&key).map_err(|e| mint_err("CA", e))?;
        let ca_pem = cert.pem();
        // Key first: a certificate without its key on disk would be unusable.
        atomic_file::write(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| io("write", &key_path, e))?;
        atomic_file::write(&cert_path, ca_pem.as_bytes(), 0o644)
            .map_err(|e| io("write", &cert_path, e))?;
        Ok(Self::from_parts(Issuer::new(params, key), ca_pem, scope))
    }

    /// Loads the CA `home` holds; never creates one.
    pub fn load(home: &Home) -> Result<CertAuthority, CaError> {
        let (cert_path, key_path) = (home.ca_cert(), home.ca_key());
        let corrupt = |path: &Path, why: String| CaError::Corrupt {
            path: path.to_path_buf(),
            why,
        };
        for (path, other) in [(&key_path, "certificate"), (&cert_path, "key")] {
            if !path.exists() {
                return Err(corrupt(
                    path,
                    format!("the file is missing while the {other} exists"),
                ));
            }
        }
        let ca_pem = std::fs::read_to_string(&cert_path).map_err(|e| io("read", &cert_path, e))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(|e| io("read", &key_path, e))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| corrupt(&key_path, e.to_string()))?;
        let der = pem::parse(&ca_pem).map_err(|e| corrupt(&cert_path, e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.contents())
            .map_err(|e| corrupt(&cert_path, e.to_string()))?;
        // A pair written half way (a rotate under way) would sign leaves nobody trusts.
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(corrupt(
                &key_path,
                format!("the key does not belong to {}", cert_path.display()),
            ));
        }
        let scope = Scope::of_cert(&cert).map_err(|e| corrupt(&cert_path, e))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
            .map_err(|e| corrupt(&cert_path, e.to_string()))?;
        Ok(Self::from_parts(issuer, ca_pem, scope))
    }

    /// The CA `home` holds now, when it is not this one (it was rotated since).
    pub fn reloaded(&self, home: &Home) -> Result<Option<CertAuthority>, CaError> {
        let path = home.ca_cert();
        let on_disk = std::fs::read_to_string(&path).map_err(|e| io("read", &path, e))?;
        if on_disk == self.ca_pem {
            return Ok(None);
        }
        Self::load(home).map(Some)
    }

    fn from_parts(issuer: Issuer<'static, KeyPair>, ca_pem: String, scope: Scope) -> CertAuthority {
        CertAuthority {
            issuer,
            ca_pem,
            scope,
            crypto: crypto_provider(),
            leaves: Mutex::new(LruCache::new(
                NonZeroUsize::new(LEAF_CACHE).expect("non-zero"),
            )),
        }
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// What this CA may sign for.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether keypool can mint a leaf for `host` that clients will accept.
    pub fn permits(&self, host: &str) -> bool {
        self.scope.permits(host)
    }

    /// What to tell the user about this CA, given the hosts keypool would intercept:
    /// an unconstrained CA, and hosts it cannot sign for. `ca` is its path.
    pub fn warnings<'a>(&self, hosts: impl IntoIterator<Item = &'a str>, ca: &Path) -> Vec<String> {
        if !self.scope.is_constrained() {
            return vec![format!(
                "the CA at {} has no name constraints: it (and anyone holding its key) can sign \
                for any site, and a system-wide install trusts it for every site\nfix: run \
                `keypool ca rotate` for a CA that can sign only for the provider hosts, then \
                re-trust it as it says",
                ca.display()
            )];
        }
        let missing = self.scope.uncovered(hosts);
        if missing.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "the CA at {} cannot sign for {} (added after the CA was made), so keypool tunnels {} \
            blind, without its accounts\nfix: run `keypool ca rotate`, then `keypool reload` (or \
            restart keypool) and re-trust the new CA as it says",
            ca.display(),
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        )]
    }

    /// The hosts this CA has minted a leaf for (still cached), for status and tests.
    pub fn cached_leaves(&self) -> Vec<String> {
        self.leaves.lock().iter().map(|(h, _)| h.clone()).collect()
    }

    /// How many leaves the cache holds now, for the metrics.
    pub fn cached_leaf_count(&self) -> usize {
        self.leaves.lock().len()
    }

    /// The leaf for `host`, minted on first use and cached.
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        let host = normalise(host);
        if let Some(k) = self.leaves.lock().get(&host) {
            return Ok(k.clone());
        }
        if !self.scope.permits(&host) {
            return Err(CaError::Mint {
                host,
                why: "the name is outside this CA's name constraints (it signs only for the \
                    provider hosts configured when it was made), and clients would reject the \
                    certificate\nfix: run `keypool ca rotate` to make a CA that covers the hosts \
                    configured now"
                    .into(),
            });
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

    /// HTTP/2 first, then HTTP/1.1: the inner server speaks both (`client_conn.rs`).
    fn tls_config(&self, resolver: Arc<dyn ResolvesServerCert>) -> rustls::ServerConfig {
        let mut cfg = rustls::ServerConfig::builder_with_provider(self.crypto.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

    fn hosts() -> Vec<String> {
        hosts_of(&crate::providers::Registry::new(crate::providers::builtin()))
    }

    #[test]
    fn creates_once_then_loads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let (ca, created) = CertAuthority::load_or_create(&home, &hosts()).unwrap();
        assert!(created);
        let (again, created) = CertAuthority::load_or_create(&home, &[]).unwrap();
        assert!(!created);
        assert_eq!(ca.ca_pem(), again.ca_pem());
        assert_eq!(ca.scope(), again.scope(), "the constraints are read back");
        assert!(again
            .scope()
            .dns_names()
            .contains(&"api.openai.com".to_string()));
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
        let b = again.leaf("API.openai.com.").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "leaves are cached per host");
        assert!(again.reloaded(&home).unwrap().is_none(), "same CA on disk");
    }

    /// The CA and the minting pair around it are held by the proxy's state, which a
    /// debug print may reach: no byte of the private key may show.
    #[test]
    fn debug_of_the_ca_never_shows_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let (ca, _) = CertAuthority::load_or_create(&home, &hosts()).unwrap();
        let key_pem = std::fs::read_to_string(home.ca_key()).unwrap();
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let key_der: Vec<u8> = der.secret_der().to_vec();
        let body: String = key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let ca_shown = format!("{ca:?} {ca:#?}");
        let minting = Minting::new(ca);
        let shown = format!("{ca_shown} {minting:?} {minting:#?}");
        // Failures name what leaked, not the text: that would hold the key.
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                !shown.contains(line),
                "a line of the CA key's PEM in a debug print"
            );
        }
        assert!(
            !shown.contains(&body[..body.len().min(24)]),
            "the CA key's PEM in a debug print"
        );
        // The key as numbers, as a derived Debug of a byte buffer would print it.
        let as_numbers = format!("{:?}", &key_der[key_der.len() - 16..]);
        let tail = &as_numbers[1..as_numbers.len() - 1];
        assert!(!shown.contains(tail), "the CA key's bytes in a debug print");
        assert!(ca_shown.contains("CertAuthority"), "{ca_shown}");
    }

    #[test]
    fn refuses_to_mint_outside_its_constraints() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = CertAuthority::load_or_create(&Home::at(dir.path()), &hosts()).unwrap();
        for name in ["www.example.com", "openai.com", "127.0.0.1"] {
            let e = ca.leaf(name).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("name constraints"), "{e}");
            assert!(e.contains("fix: run `keypool ca rotate`"), "{e}");
        }
        assert!(ca.server_config_for("www.example.com").is_err());
    }

    #[test]
    fn a_missing_or_mismatched_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        CertAuthority::load_or_create(&home, &hosts()).unwrap();
        let key = std::fs::read(home.ca_key()).unwrap();
        std::fs::remove_file(home.ca_key()).unwrap();
        let e = CertAuthority::load_or_create(&home, &hosts())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing") && e.contains("keypool ca rotate"),
            "{e}"
        );
        // A key from another CA next to this certificate.
        let other = tempfile::tempdir().unwrap();
        let other = Home::at(other.path());
        CertAuthority::load_or_create(&other, &hosts()).unwrap();
        std::fs::copy(other.ca_key(), home.ca_key()).unwrap();
        let e = CertAuthority::load(&home).unwrap_err().to_string();
        assert!(e.contains("does not belong"), "{e}");
        std::fs::write(home.ca_key(), key).unwrap();
        CertAuthority::load(&home).unwrap();
    }
}
