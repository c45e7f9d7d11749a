//! Who gets in: a pool a password guards serves only the client that gave it, a listener
//! other machines can reach asks every request for a password, and keypool's own pages
//! and endpoints serve only this machine's tools (no forged Host, no cross-site request,
//! no anonymous caller when clients have passwords).

use crate::support;

use keypool::{Config, Home, ProxyOptions};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use support::guard::Within;
use support::guarded::{inside, CHAT, GUARDED_POOLS};
use support::keypool::{config_text, Harness, Keypool};
use support::raw_client::{basic, exchange, Answer};
use support::scenario::Scenario;
use support::{Behaviour, TestCa};

/// A chat completion inside a tunnel whose CONNECT carries `proxy_auth`.
async fn chat_with(kp: &Keypool, proxy_auth: &str) -> (Answer, Option<Answer>) {
    inside(kp, proxy_auth, CHAT).await
}

#[tokio::test]
async fn a_guarded_pool_never_serves_a_request_that_did_not_give_its_password() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-work", "sk-shared"])
        .config(GUARDED_POOLS);
    let kp = s.start().await;
    let fake = s.fake();

    // Anonymous in every spelling: the provider's first pool that no password guards.
    let empty_user = format!("Proxy-Authorization: {}\r\n", basic(":"));
    let colon_x = format!("Proxy-Authorization: {}\r\n", basic(":x"));
    for auth in ["", empty_user.as_str(), colon_x.as_str()] {
        let (connect, answer) = chat_with(&kp, auth).await;
        assert_eq!(connect.status, 200, "{auth:?}: {}", connect.head);
        let answer = answer.unwrap();
        assert_eq!(answer.status, 200, "{auth:?}");
        assert_eq!(
            answer.header("x-keypool-account"),
            Some("shared-key"),
            "{auth:?}"
        );
    }
    // The client that guards it, with its password.
    let ci = format!("Proxy-Authorization: {}\r\n", basic("ci:ci-secret"));
    let (_, answer) = chat_with(&kp, &ci).await;
    assert_eq!(
        answer.unwrap().header("x-keypool-account"),
        Some("work-key")
    );
    // Its name with a wrong or empty password: 407, with the fix.
    for up in ["ci:wrong", "ci:", "ci"] {
        let auth = format!("Proxy-Authorization: {}\r\n", basic(up));
        let (connect, _) = chat_with(&kp, &auth).await;
        assert_eq!(connect.status, 407, "{up}");
        assert!(
            connect.body.contains("wrong or missing password"),
            "{}",
            connect.body
        );
        assert!(!connect.body.contains("ci-secret"));
    }

    // Every account of the anonymous pool limited: the fallback chain does not lead into
    // the guarded pool; the client gets the 429.
    fake.set(
        "sk-shared",
        Behaviour::RateLimited {
            retry_after_secs: Some(60),
        },
    );
    let (_, answer) = chat_with(&kp, "").await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 429, "{}", answer.body);
    let work_uses = fake
        .credentials_seen()
        .iter()
        .filter(|c| *c == "sk-work")
        .count();
    assert_eq!(
        work_uses, 1,
        "only ci's own request reached the guarded pool's key"
    );
}

#[tokio::test]
async fn with_every_pool_guarded_an_anonymous_request_keeps_its_own_credential() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-work", "sk-client-own"])
        .keys("openai", &[("work-key", "sk-work")])
        .config("[clients.ci]\npools = [\"openai\"]\npassword = \"ci-secret\"\n");
    let kp = s.start().await;
    let (ca, fake) = (&s.ca, s.fake());
    // Not intercepted: the tunnel is blind, so the client meets the provider's own
    // certificate (here the test CA's leaf), never keypool's.
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", kp.addr())).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .timeout(support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let r = client
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-client-own")
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .within("the answer through the blind tunnel of a client without a password")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("x-keypool-account"));
    assert_eq!(fake.credentials_seen(), ["sk-client-own"]);
}

#[test]
fn a_client_without_a_password_cannot_share_a_guarded_pool() {
    let text = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n\
                [clients.ci]\npools = [\"openai\"]\npassword = \"p\"\n\
                [clients.laptop]\npools = [\"openai\"]\n";
    let e = Config::parse(text, Path::new("config.toml")).unwrap_err().0;
    assert!(
        e.contains("client 'laptop' uses pool 'openai' without a password")
            && e.contains("fix: give [clients.laptop] a password"),
        "{e}"
    );
    assert!(!e.contains("\"p\""), "{e}");
}

/// A config that listens on every interface, from `accounts` plus the test upstream.
fn exposed_config(accounts: &str, listen: &str, upstream: SocketAddr, ca: &Path) -> Config {
    let text = config_text(accounts, upstream, ca).replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{listen}\""),
        1,
    );
    Config::parse(&text, Path::new("config.toml")).unwrap()
}

// Keeps its own arrangement: the start failing (in-process and as the binary) is what
// it tests, so it builds the config and calls keypool itself.
#[tokio::test]
async fn an_exposed_listener_without_a_password_refuses_to_start() {
    let ca = TestCa::new();
    let home = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(home.path());
    let accounts = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n\
                    [clients.laptop]\npools = [\"openai\"]\n";
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let config = exposed_config(accounts, listen, "127.0.0.1:9".parse().unwrap(), &ca_file);
        let e = match keypool::start(ProxyOptions::new(Home::at(home.path()), config)).await {
            Ok(_) => panic!("{listen}: keypool started unauthenticated beyond loopback"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("reachable from other machines") && e.contains("fix: listen on 127.0.0.1"),
            "{e}"
        );
    }

    // `keypool serve` exits 2 with the message; nothing was written but the CA.
    let cfg = home.path().join("config.toml");
    std::fs::write(&cfg, format!("listen = \"0.0.0.0:0\"\n{accounts}")).unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
            .env_clear()
            .env("KEYPOOL_HOME", home.path())
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .output(),
    )
    .await
    .expect("keypool serve exits")
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no [clients] entry has a password") && err.contains("fix:"),
        "{err}"
    );
    assert!(!home.path().join("state.json").exists());
}

/// A non-loopback address of this machine, or 127.0.0.1 when it has none (the rule keys
/// on the listen address, which is 0.0.0.0 either way).
fn reachable_address() -> std::net::IpAddr {
    keypool::egress::local_addresses()
        .into_iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
}

#[tokio::test]
async fn an_exposed_listener_asks_every_request_for_a_password() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a"])
        .keys("openai", &[("a", "sk-a")])
        .keys("anthropic", &[("b", "sk-ant-b")])
        .config("[clients.ci]\npools = [\"openai\"]\npassword = \"ci-secret\"\n")
        .config("[clients.laptop]\npools = [\"anthropic\"]\n")
        .listen_ip("0.0.0.0");
    // The home stays for as long as the proxy runs.
    let Harness {
        kp: Keypool { proxy, home: _home },
        ..
    } = s.start().await;
    let addr = SocketAddr::new(reachable_address(), proxy.addr().port());

    let connect = |auth: String| {
        let req = format!(
            "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n{auth}\r\n"
        );
        async move { exchange(addr, req.as_bytes()).await }
    };
    // Nobody, a name without a password, a wrong password: 407 with the fix.
    for auth in [
        String::new(),
        format!("Proxy-Authorization: {}\r\n", basic("laptop:")),
        format!("Proxy-Authorization: {}\r\n", basic(":x")),
        format!("Proxy-Authorization: {}\r\n", basic("ci:nope")),
    ] {
        let a = connect(auth.clone()).await;
        assert_eq!(a.status, 407, "{auth:?}: {}", a.head);
        assert!(a
            .header("proxy-authenticate")
            .is_some_and(|v| v.starts_with("Basic")));
        assert!(a.body.contains("fix:"), "{}", a.body);
    }
    // Absolute form too.
    let a = exchange(
        addr,
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .await;
    assert_eq!(a.status, 407);
    // The password opens it.
    let a = connect(format!(
        "Proxy-Authorization: {}\r\n",
        basic("ci:ci-secret")
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.head);

    // The admin endpoints ask too (401 for an origin), and answer with the password.
    let host = format!("Host: {addr}\r\n");
    let status = |extra: String| {
        let req =
            format!("GET /_keypool/status HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n");
        async move { exchange(addr, req.as_bytes()).await }
    };
    let a = status(String::new()).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic")));
    assert!(!a.body.contains("work-key") && !a.body.contains("\"pools\""));
    let a = status(format!("Authorization: {}\r\n", basic("ci:ci-secret"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["pools"][0]["name"], "openai");
    proxy.shutdown().within("keypool's shutdown drain").await;
}
