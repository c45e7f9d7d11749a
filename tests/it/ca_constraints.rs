//! keypool's CA can sign only for provider hosts, and every runtime the README supports
//! holds it to that: a provider host verifies, a leaf for any other name signed by the
//! very same CA key is rejected. Also: keypool mints only for the CONNECT target.
//!
//! The forged leaves are made here with rcgen straight from `ca-key.pem`, bypassing
//! keypool's own refusal, as an attacker who stole the key (or a bug) would. A small TLS
//! server presents each leaf for its name (no SNI: the IP leaf).

use crate::support;
use crate::support::scenario::Scenario;

use keypool::ca::CertAuthority;
use keypool::Home;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use support::binary::{keypool_with, run_ok};
use support::guard::Within;
use support::keypool::client_config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A host of a `[[providers]]` entry in the config the CA is made with.
const CUSTOM_HOST: &str = "llm.internal.example";

/// Leaves keypool itself mints: a built-in provider host and a configured one.
const MINTED_BY_KEYPOOL: &[&str] = &["api.openai.com", CUSTOM_HOST];
/// Forged from the CA key but for a provider host: proves the forging is sound, so the
/// rejections below are about the name and nothing else.
/// The placed providers' families count: a resource below an Azure suffix, a Bedrock
/// region host, a Vertex region host.
const FORGED_PERMITTED: &[&str] = &[
    "api.anthropic.com",
    "res-x.openai.azure.com",
    "bedrock-runtime.eu-west-1.amazonaws.com",
    "us-east5-aiplatform.googleapis.com",
];
/// Forged for names outside the constraints: another site, the parent domain of a
/// provider host, and an IP address (DNS constraints alone would leave IPs open); a name
/// that only contains an Azure host, another AWS service in a Bedrock region, and
/// Google's token endpoint beside Vertex's hosts (their parent is every Google API).
const FORGED_OUTSIDE: &[&str] = &[
    "www.example.com",
    "openai.com",
    "127.0.0.1",
    "openai.azure.com.evil.example",
    "s3.eu-west-1.amazonaws.com",
    "oauth2.googleapis.com",
];

fn all_names() -> Vec<&'static str> {
    [MINTED_BY_KEYPOOL, FORGED_PERMITTED, FORGED_OUTSIDE].concat()
}

fn must_verify(name: &str) -> bool {
    !FORGED_OUTSIDE.contains(&name)
}

/// A home whose CA `keypool ca init` made from a config with a `[[providers]]` host,
/// and a TLS server presenting a leaf per name.
struct Fixture {
    home: tempfile::TempDir,
    server: SocketAddr,
    /// Each name's leaf as PEM, for `openssl verify`.
    leaf_files: BTreeMap<&'static str, PathBuf>,
}

impl Fixture {
    async fn new() -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[providers]]\nid = \"my-llm\"\nhosts = [\"{CUSTOM_HOST}\"]\nauth = \"bearer\"\n"
            ),
        )
        .unwrap();
        run_ok(keypool_with(home.path(), &cfg).args(["ca", "init"]));
        let ca = CertAuthority::load(&Home::at(home.path())).unwrap();
        let mut leaves = BTreeMap::new();
        for name in MINTED_BY_KEYPOOL {
            leaves.insert(*name, ca.leaf(name).unwrap());
        }
        for name in [FORGED_PERMITTED, FORGED_OUTSIDE].concat() {
            leaves.insert(name, forge(home.path(), name));
        }
        let dir = home.path().join("leaves");
        std::fs::create_dir(&dir).unwrap();
        let leaf_files = leaves
            .iter()
            .map(|(name, key)| {
                let path = dir.join(format!("{name}.pem"));
                let pem = pem::encode(&pem::Pem::new("CERTIFICATE", key.cert[0].to_vec()));
                std::fs::write(&path, pem).unwrap();
                (*name, path)
            })
            .collect();
        let server = serve_leaves(leaves).await;
        Fixture {
            home,
            server,
            leaf_files,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.home.path().join("certs/ca.pem")
    }

    fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.ca_file()).unwrap()
    }

    /// Checks one runtime's verdicts (`Ok(())` or `Err(what it said)` per name): the
    /// permitted names verify, the others are rejected saying `because`, i.e. for the
    /// name constraints and not for some other fault of the leaf.
    fn check(&self, runtime: &str, verdicts: &BTreeMap<String, Result<(), String>>, because: &str) {
        for name in all_names() {
            let v = verdicts
                .get(name)
                .unwrap_or_else(|| panic!("{runtime}: no verdict for {name}: {verdicts:?}"));
            eprintln!("{runtime:>8} | {name:<22} | {v:?}");
            if must_verify(name) {
                assert!(v.is_ok(), "{runtime} must accept {name}: {v:?}");
            } else {
                let e = v
                    .as_ref()
                    .expect_err("a forged leaf outside the constraints");
                assert!(
                    e.contains(because),
                    "{runtime} rejects {name} for its name: {e}"
                );
            }
        }
    }
}

/// A leaf for `name` signed with keypool's CA key, the way keypool would sign one but
/// without asking keypool.
fn forge(home: &Path, name: &str) -> Arc<CertifiedKey> {
    let ca_pem = std::fs::read_to_string(home.join("certs/ca.pem")).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(home.join("certs/ca-key.pem")).unwrap())
            .unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
    Arc::new(CertifiedKey::new(vec![cert.der().clone()], signer))
}

#[derive(Debug)]
struct ByName(BTreeMap<&'static str, Arc<CertifiedKey>>);

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Clients send no SNI for an IP address.
        let name = hello.server_name().unwrap_or("127.0.0.1");
        self.0.get(name).cloned()
    }
}

/// Serves each leaf for its name and answers one `200 ok` per connection.
async fn serve_leaves(leaves: BTreeMap<&'static str, Arc<CertifiedKey>>) -> SocketAddr {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(ByName(leaves)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(tokio::time::timeout(Duration::from_secs(20), async move {
                // A rejecting client aborts the handshake: nothing to answer then.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            }));
        }
    });
    addr
}

/// Runs an external program with a guard; `None` (and a printed reason) when it is not
/// installed, so the test is skipped visibly rather than failed or silently passed.
async fn external(program: &str, args: &[&str]) -> Option<std::process::Output> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: `{program}` is not installed; install it to check this runtime");
            return None;
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish within 60 s"))
        .unwrap();
    Some(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn the_ca_carries_critical_name_constraints_for_the_configured_hosts() {
    let f = Fixture::new().await;
    let der = pem::parse(f.ca_pem()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.contents()).unwrap();
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS)
        .expect("a NameConstraints extension");
    assert!(
        ext.critical,
        "RFC 5280: name constraints on a CA are critical"
    );
    let nc = cert.name_constraints().unwrap().unwrap().value;
    let permitted: Vec<String> = nc
        .permitted_subtrees
        .iter()
        .flatten()
        .map(|s| s.base.to_string())
        .collect();
    for host in [
        "api.openai.com",
        "api.anthropic.com",
        "chatgpt.com",
        "openai.azure.com",
        "services.ai.azure.com",
        "bedrock-runtime.us-east-1.amazonaws.com",
        "bedrock-mantle.us-east-1.api.aws",
        "gateway.ai.cloudflare.com",
        "aiplatform.googleapis.com",
        "us-east5-aiplatform.googleapis.com",
        "europe-west4-aiplatform.googleapis.com",
        CUSTOM_HOST,
    ] {
        assert!(
            permitted.contains(&format!("DNSName({host})")),
            "{host} in {permitted:?}"
        );
    }
    for parent in [
        "openai.com",
        "azure.com",
        "amazonaws.com",
        "api.aws",
        "googleapis.com",
    ] {
        assert!(
            !permitted.iter().any(|p| *p == format!("DNSName({parent})")),
            "never a parent domain: {parent}"
        );
    }
    let excluded = nc
        .excluded_subtrees
        .as_ref()
        .expect("IP addresses excluded");
    assert_eq!(
        excluded.len(),
        2,
        "all of IPv4 and all of IPv6: {excluded:?}"
    );
    // keypool itself refuses what the constraints forbid.
    let ca = CertAuthority::load(&Home::at(f.home.path())).unwrap();
    for name in FORGED_OUTSIDE {
        let e = ca.leaf(name).unwrap_err().to_string();
        assert!(e.contains("keypool ca rotate"), "{e}");
    }
}

#[tokio::test]
async fn rustls_tokio_rustls_and_reqwest_enforce_the_constraints() {
    let f = Fixture::new().await;
    let cfg = Arc::new(client_config(&f.ca_pem()));
    let mut tls_verdicts = BTreeMap::new();
    let mut reqwest_verdicts = BTreeMap::new();
    for name in all_names() {
        let tcp = tokio::net::TcpStream::connect(f.server)
            .within(&format!("a TCP connection to the leaf server for {name}"))
            .await
            .unwrap();
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_rustls::TlsConnector::from(cfg.clone()).connect(server_name, tcp),
        )
        .await
        .expect("handshake within 10 s");
        tls_verdicts.insert(name.to_string(), r.map(drop).map_err(|e| e.to_string()));

        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(f.ca_pem().as_bytes()).unwrap())
            .resolve(name, f.server)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let r = client
            .get(format!("https://{name}:{}/", f.server.port()))
            .send()
            .within(&format!("reqwest's verdict on {name}"))
            .await;
        reqwest_verdicts.insert(
            name.to_string(),
            match r {
                Ok(resp) => {
                    assert_eq!(
                        resp.text()
                            .within(&format!("the leaf server's body for {name}"))
                            .await
                            .unwrap(),
                        "ok"
                    );
                    Ok(())
                }
                Err(e) => Err(format!("{e:?}")),
            },
        );
    }
    f.check("rustls", &tls_verdicts, "NameConstraintViolation");
    f.check("reqwest", &reqwest_verdicts, "NameConstraintViolation");
}

#[tokio::test]
async fn curl_enforces_the_constraints() {
    let f = Fixture::new().await;
    let mut verdicts = BTreeMap::new();
    for name in all_names() {
        let port = f.server.port();
        let resolve = format!("{name}:{port}:127.0.0.1");
        let url = format!("https://{name}:{port}/");
        let ca = f.ca_file().display().to_string();
        let args = [
            "-sS",
            "--max-time",
            "10",
            "--noproxy",
            "*",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            &url,
        ];
        let Some(out) = external("curl", &args).await else {
            return;
        };
        let v = match out.status.code() {
            Some(0) => {
                assert_eq!(text(&out.stdout), "ok");
                Ok(())
            }
            // 60: the peer's certificate cannot be verified.
            Some(60) => Err(text(&out.stderr)),
            c => panic!("curl {name}: unexpected exit {c:?}: {}", text(&out.stderr)),
        };
        verdicts.insert(name.to_string(), v);
    }
    f.check("curl", &verdicts, "subtree violation");
}

#[tokio::test]
async fn openssl_verify_and_s_client_enforce_the_constraints() {
    let f = Fixture::new().await;
    let ca = f.ca_file().display().to_string();
    let mut verify = BTreeMap::new();
    let mut s_client = BTreeMap::new();
    for name in all_names() {
        let leaf = f.leaf_files[name].display().to_string();
        let Some(out) = external(
            "openssl",
            &["verify", "-CAfile", &ca, "-purpose", "sslserver", &leaf],
        )
        .await
        else {
            return;
        };
        let said = text(&out.stdout) + &text(&out.stderr);
        verify.insert(
            name.to_string(),
            if out.status.success() && said.contains(": OK") {
                Ok(())
            } else {
                Err(said)
            },
        );

        let connect = format!("127.0.0.1:{}", f.server.port());
        let mut args = vec![
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-brief",
        ];
        if name.parse::<std::net::IpAddr>().is_ok() {
            args.extend(["-verify_ip", name]);
        } else {
            args.extend(["-servername", name, "-verify_hostname", name]);
        }
        let out = external("openssl", &args)
            .await
            .expect("openssl was there a moment ago");
        let said = text(&out.stderr);
        s_client.insert(
            name.to_string(),
            if out.status.success() {
                Ok(())
            } else {
                Err(said)
            },
        );
    }
    f.check("openssl verify", &verify, "subtree violation");
    f.check("s_client", &s_client, "subtree violation");
}

/// Python's `ssl` module: what httpx, and so the OpenAI and Anthropic SDKs, verify with.
const PYTHON: &str = r#"
import json, socket, ssl, sys
port, cafile, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
out = {}
for name in names:
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=name):
                out[name] = None
    except ssl.SSLCertVerificationError as e:
        out[name] = e.verify_message
print(json.dumps(out))
"#;

/// Node's `tls` (what `https`, undici's `fetch` and Claude Code verify with), with the
/// CA given as `ca`, as `NODE_EXTRA_CA_CERTS` adds it.
const NODE: &str = r#"
const tls = require('tls'), fs = require('fs'), net = require('net');
const [port, cafile, ...names] = process.argv.slice(1);
const ca = fs.readFileSync(cafile);
setTimeout(() => { console.error('node: timed out'); process.exit(3); }, 30000).unref();
(async () => {
  const out = {};
  for (const name of names) {
    out[name] = await new Promise((done) => {
      const opts = { host: '127.0.0.1', port: Number(port), ca };
      if (!net.isIP(name)) opts.servername = name; else opts.host = name;
      const s = tls.connect(opts, () => { s.end(); done(null); });
      s.on('error', (e) => done(`${e.code}: ${e.message}`));
    });
  }
  console.log(JSON.stringify(out));
})();
"#;

async fn script_verdicts(
    program: &str,
    flag: &str,
    script: &str,
    f: &Fixture,
) -> Option<BTreeMap<String, Result<(), String>>> {
    let port = f.server.port().to_string();
    let ca = f.ca_file().display().to_string();
    let mut args = vec![flag, script, &port, &ca];
    let names = all_names();
    args.extend(names.iter().copied());
    let out = external(program, &args).await?;
    assert!(
        out.status.success(),
        "{program} failed: {}",
        text(&out.stderr)
    );
    let v: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        v.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    if v.is_null() {
                        Ok(())
                    } else {
                        Err(v.to_string())
                    },
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn python_ssl_enforces_the_constraints() {
    let f = Fixture::new().await;
    let Some(v) = script_verdicts("python3", "-c", PYTHON, &f).await else {
        return;
    };
    f.check("python", &v, "subtree violation");
}

#[tokio::test]
async fn node_tls_enforces_the_constraints() {
    let f = Fixture::new().await;
    let Some(v) = script_verdicts("node", "-e", NODE, &f).await else {
        return;
    };
    // Node has no error code of its own for it ("UNSPECIFIED"); OpenSSL's reason shows.
    f.check("node", &v, "subtree violation");
}

/// A TLS client through keypool's tunnel trusting keypool's CA only, sending `sni`
/// (none when `None`) and verifying `verify_as`.
async fn handshake_through(
    tunnel: tokio::net::TcpStream,
    ca_pem: &str,
    sni: Option<&str>,
    verify_as: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut cfg = client_config(ca_pem);
    cfg.enable_sni = sni.is_some();
    let name = ServerName::try_from(sni.unwrap_or(verify_as).to_string()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tunnel),
    )
    .await
    .expect("TLS handshake through keypool within 10 s")
}

fn is_unrecognised_name(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        == Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::UnrecognisedName,
        ))
}

async fn openai_keypool() -> (support::FakeProvider, support::keypool::Harness) {
    let s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-pooled"])
        .keys("openai", &[("a", "sk-pooled")]);
    let (_ca, fake, kp) = s.start_parts().await;
    (fake, kp)
}

#[tokio::test]
async fn a_client_hello_for_another_name_than_the_connect_target_gets_no_certificate() {
    let (_fake, kp) = openai_keypool().await;
    // Another site; a name inside the CA's constraints but not the target; another
    // provider's host.
    for sni in ["www.example.com", "eu.api.openai.com", "api.anthropic.com"] {
        let tunnel = kp.connect("api.openai.com:443").await;
        let e = handshake_through(tunnel, &kp.ca_pem(), Some(sni), sni)
            .await
            .expect_err("keypool must refuse the handshake");
        assert!(
            is_unrecognised_name(&e),
            "an unrecognized_name alert for {sni}, before any certificate: {e:?}"
        );
    }
    let minting = kp.proxy.state().minting();
    assert!(
        minting.ca.cached_leaves().is_empty(),
        "no leaf minted: {:?}",
        minting.ca.cached_leaves()
    );
    // The tunnel's own name still works, and is the only leaf there is.
    let tunnel = kp.connect("api.openai.com:443").await;
    handshake_through(
        tunnel,
        &kp.ca_pem(),
        Some("api.openai.com"),
        "api.openai.com",
    )
    .await
    .unwrap();
    assert_eq!(minting.ca.cached_leaves(), vec!["api.openai.com"]);
}

#[tokio::test]
async fn the_names_compare_without_case_or_trailing_dot_and_no_sni_gets_the_target() {
    let (fake, kp) = openai_keypool().await;
    let tunnel = kp.connect("API.OpenAI.com.:443").await;
    let mut tls = handshake_through(tunnel, &kp.ca_pem(), Some("api.openai.com"), "")
        .await
        .expect("the same host in another spelling");
    let body = r#"{"model":"gpt-4o","messages":[]}"#;
    tls.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-placeholder\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .within("keypool taking the request inside the tunnel").await
    .unwrap();
    let head = tokio::time::timeout(
        Duration::from_secs(10),
        support::keypool::read_head(&mut tls),
    )
    .await
    .expect("an answer within 10 s");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("x-keypool-account: a"), "{head}");
    assert_eq!(fake.credentials_seen(), vec!["sk-pooled"]);

    // No SNI at all (as for a client that connects by address): the CONNECT target's leaf.
    let tunnel = kp.connect("api.openai.com:443").await;
    let tls = handshake_through(tunnel, &kp.ca_pem(), None, "api.openai.com")
        .await
        .expect("no SNI gets the target's leaf");
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(
        san.general_names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        vec!["DNSName(api.openai.com)"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refusal_is_logged_with_both_names() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\n{}",
            support::keypool::key_account("a", "openai", "sk-pooled")
        ),
    )
    .unwrap();
    let mut cmd = keypool_with(home.path(), &cfg);
    cmd.env("KEYPOOL_LOG", "info");
    let mut served = tokio::task::spawn_blocking(move || support::binary::Served::start(cmd))
        .await
        .unwrap();
    let tunnel = support::keypool::connect_at(served.addr.as_str(), "api.openai.com:443").await;
    let ca_pem = std::fs::read_to_string(home.path().join("certs/ca.pem")).unwrap();
    let e = handshake_through(tunnel, &ca_pem, Some("www.example.com"), "")
        .await
        .expect_err("refused");
    assert!(is_unrecognised_name(&e), "{e:?}");
    let (line, served) = tokio::task::spawn_blocking(move || {
        let line = served.wait_for(|l| l.contains("refused a TLS ClientHello"));
        (line, served)
    })
    .await
    .unwrap();
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("api.openai.com") && line.contains("www.example.com"),
        "{line}"
    );
    assert!(line.contains("fix:"), "{line}");
    let (code, log) = served.stop();
    assert_eq!(code, Some(0), "{log}");
}
