//! When the CA and the config disagree: a `[[providers]]` host added after the CA was
//! made (tunnelled blind, warned about, fixed by `keypool ca rotate` + `keypool reload`),
//! and a CA from before keypool constrained its CA (kept, warned about at every start).

use crate::support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::Path;
use support::binary::{keypool, keypool_with, run_ok, Served};
use support::guard::Within;
use support::keypool::key_account;
use support::scenario::Scenario;

const CUSTOM_HOST: &str = "llm.internal.example";

/// A provider of the user's own, on a host the built-in CA was not made for.
fn custom_provider_accounts() -> String {
    format!(
        "[[providers]]\nid = \"my-llm\"\nhosts = [\"{CUSTOM_HOST}\"]\nauth = \"bearer\"\n{}",
        key_account("vllm-1", "my-llm", "vllm-pooled")
    )
}

/// reqwest through `proxy`, trusting only the CA in `roots_pem`. It offers both HTTP
/// versions: some of its tunnels are blind, to a fake that speaks HTTP/1.1 only.
fn client_trusting(proxy: std::net::SocketAddr, roots_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(roots_pem.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn chat(client: &reqwest::Client, credential: &str) -> reqwest::Response {
    client
        .post(format!("https://{CUSTOM_HOST}/v1/chat/completions"))
        .bearer_auth(credential)
        .json(&serde_json::json!({"model": "m", "messages": []}))
        .send()
        .within(&format!("the answer to a chat request for {CUSTOM_HOST}"))
        .await
        .unwrap()
}

/// What `keypool serve` logs from its start (it is stopped right after, exiting 0).
async fn start_log(cmd: std::process::Command) -> String {
    tokio::task::spawn_blocking(move || Served::log_of_a_start(cmd))
        .await
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_added_after_the_ca_is_tunnelled_blind_until_rotate_and_reload() {
    let s = Scenario::new()
        .provider(&["api.openai.com", CUSTOM_HOST])
        .await
        .ok(&["client-own", "vllm-pooled"]);
    let home = s.home().to_path_buf();
    // The CA is made before the provider is configured: built-in hosts only.
    run_ok(keypool(&home).args(["ca", "init"]));
    let first_ca = std::fs::read_to_string(home.join("certs/ca.pem")).unwrap();
    let mut s = s.config(&custom_provider_accounts()).reloadable();
    let kp = s.start().await;
    let (ca, fake, proxy) = (&s.ca, s.fake(), &kp.proxy);
    let cfg = kp.config_path();

    // Blind: the client meets the provider's own certificate and keeps its own key; no
    // broken handshake, no pooled key, no account cooled.
    let r = chat(&client_trusting(proxy.addr(), &ca.cert_pem()), "client-own").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-keypool-account").is_none());
    assert_eq!(fake.credentials_seen(), vec!["client-own"]);

    let msg = keypool::reload::reload(proxy.state()).unwrap();
    assert!(
        msg.contains(&format!("cannot sign for {CUSTOM_HOST}"))
            && msg.contains("fix: run `keypool ca rotate`"),
        "{msg}"
    );

    // A bundle from `keypool env`, which the rotation must rewrite.
    run_ok(keypool_with(&home, &cfg).arg("env"));
    let out = run_ok(keypool_with(&home, &cfg).args(["ca", "rotate"]));
    let said = String::from_utf8_lossy(&out.stdout);
    let new_ca = std::fs::read_to_string(home.join("certs/ca.pem")).unwrap();
    assert_ne!(new_ca, first_ca);
    let kept: Vec<_> = std::fs::read_dir(home.join("certs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".old-"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for p in &kept {
        assert!(
            said.contains(&p.display().to_string()),
            "rotate names {}:\n{said}",
            p.display()
        );
        if p.to_string_lossy().contains("ca-key.pem.old-") {
            assert_eq!(mode(p), 0o600);
        } else {
            assert_eq!(std::fs::read_to_string(p).unwrap(), first_ca);
        }
    }
    let bundle = std::fs::read_to_string(home.join("certs/bundle.pem")).unwrap();
    assert!(bundle.contains(&new_ca) && !bundle.contains(&first_ca));
    for step in [
        "Rewrote",
        "keypool reload",
        "restart them",
        "keypool ca install",
    ] {
        assert!(said.contains(step), "rotate says {step:?}:\n{said}");
    }
    assert!(said.contains(CUSTOM_HOST), "{said}");

    let msg = keypool::reload::reload(proxy.state()).unwrap();
    assert!(msg.contains("now signing with the new CA"), "{msg}");
    assert!(!msg.contains("warning"), "{msg}");
    let r = chat(&client_trusting(proxy.addr(), &new_ca), "client-own").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "vllm-1");
    assert_eq!(fake.credentials_seen(), vec!["client-own", "vllm-pooled"]);
    kp.kp
        .proxy
        .shutdown()
        .within("keypool's shutdown drain")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keypool_serve_warns_at_start_about_a_host_the_ca_cannot_sign_for() {
    let s = Scenario::new()
        .provider(&[CUSTOM_HOST])
        .await
        .config(&custom_provider_accounts());
    let home = s.home();
    run_ok(keypool(home).args(["ca", "init"]));
    let cfg = s.write_config();
    let log = start_log(keypool_with(home, &cfg)).await;
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains(&format!("cannot sign for {CUSTOM_HOST}")),
        "{log}"
    );
    assert!(log.contains("fix: run `keypool ca rotate`"), "{log}");
    // `keypool ca init` says the same about the configured account's host.
    let out = run_ok(keypool_with(home, &cfg).args(["ca", "init"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(CUSTOM_HOST) && err.contains("keypool ca rotate"),
        "{err}"
    );
}

/// A CA as keypool made them before it constrained its CA.
fn unconstrained_ca() -> (String, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "keypool local CA (old)");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unconstrained_ca_is_kept_working_and_warned_about_at_every_start() {
    let (ca_pem, key_pem) = unconstrained_ca();
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a"])
        .keys("openai", &[("a", "sk-a")]);
    s.home_file("certs/ca.pem", &ca_pem);
    s.home_file("certs/ca-key.pem", &key_pem);
    let home = s.home().to_path_buf();

    let out = run_ok(keypool(&home).args(["ca", "init"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no name constraints") && err.contains("fix: run `keypool ca rotate`"),
        "{err}"
    );
    let cfg = s.write_config();
    for _ in 0..2 {
        let log = start_log(keypool_with(&home, &cfg)).await;
        assert!(
            log.contains("has no name constraints") && log.contains("keypool ca rotate"),
            "{log}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(home.join("certs/ca.pem")).unwrap(),
        ca_pem,
        "never replaced silently"
    );

    // Tools that trust it keep working.
    let kp = s.start().await;
    let r = support::keypool::openai_chat(&client_trusting(kp.addr(), &ca_pem)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "a");
}

#[tokio::test]
async fn a_reload_that_finds_a_half_written_ca_keeps_signing_with_the_running_one() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a"])
        .keys("openai", &[("a", "sk-a")])
        .reloadable();
    let kp = s.start().await;
    let (home, proxy) = (&kp.kp.home, &kp.proxy);
    let running = std::fs::read_to_string(home.path().join("certs/ca.pem")).unwrap();

    // What a rotation interrupted between its two writes leaves: a new certificate
    // next to a key that is not its own.
    let other = tempfile::tempdir().unwrap();
    run_ok(keypool(other.path()).args(["ca", "init"]));
    std::fs::copy(
        other.path().join("certs/ca.pem"),
        home.path().join("certs/ca.pem"),
    )
    .unwrap();

    let msg = keypool::reload::reload(proxy.state()).unwrap();
    assert!(
        msg.contains("cannot be used") && msg.contains("does not belong"),
        "{msg}"
    );
    let r = support::keypool::openai_chat(&client_trusting(proxy.addr(), &running)).await;
    assert_eq!(r.status(), 200, "still signing with the CA it started with");
    assert_eq!(r.headers()["x-keypool-account"], "a");
    kp.kp
        .proxy
        .shutdown()
        .within("keypool's shutdown drain")
        .await;
}
