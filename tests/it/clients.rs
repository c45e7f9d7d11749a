//! Per-client pools: the user name in the proxy URL selects the pools that serve a
//! client, a password makes it an access control, and anything else is refused with 407.

use crate::support;
use support::scenario::Scenario;

use serde_json::json;
use support::guard::{Within, CLIENT_TIMEOUT};
use support::keypool::{read_head, Keypool};
use tokio::io::AsyncWriteExt;

const CONFIG: &str = r#"
[[accounts]]
name = "work-key"
provider = "openai"
api_key = "sk-work"
[[accounts]]
name = "home-key"
provider = "openai"
api_key = "sk-home"
[[accounts]]
name = "ci-key"
provider = "openai"
api_key = "sk-ci"

[[pools]]
name = "work"
provider = "openai"
accounts = ["work-key"]
[[pools]]
name = "personal"
provider = "openai"
accounts = ["home-key"]
[[pools]]
name = "ci"
provider = "openai"
accounts = ["ci-key"]

[clients.work]
pools = ["work"]
[clients.home]
pools = ["personal"]
[clients.ci]
pools = ["ci"]
password = "ci-secret"
"#;

fn client(kp: &Keypool, user: Option<(&str, &str)>) -> reqwest::Client {
    let mut proxy = reqwest::Proxy::all(format!("http://{}", kp.addr())).unwrap();
    if let Some((u, p)) = user {
        proxy = proxy.basic_auth(u, p);
    }
    crate::support::client_http::through_keypool(reqwest::Client::builder())
        .proxy(proxy)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(kp.ca_pem().as_bytes()).unwrap())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

async fn served_by(c: &reqwest::Client) -> String {
    let r = c
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-placeholder")
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .within("the answer to a chat request for a proxy user")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["x-keypool-account"]
        .to_str()
        .unwrap()
        .to_string()
}

async fn connect_status(kp: &Keypool, auth: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    s.write_all(
        format!("CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n{auth}\r\n")
            .as_bytes(),
    )
    .within("keypool taking the CONNECT request")
    .await
    .unwrap();
    read_head(&mut s)
        .within("keypool's answer to the CONNECT request")
        .await
}

#[tokio::test]
async fn the_proxy_user_selects_the_pools_and_a_password_guards_them() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-work", "sk-home", "sk-ci"])
        .config(CONFIG);
    let kp = s.start().await;

    for _ in 0..3 {
        assert_eq!(
            served_by(&client(&kp, Some(("work", "")))).await,
            "work-key"
        );
        assert_eq!(
            served_by(&client(&kp, Some(("home", "")))).await,
            "home-key"
        );
        assert_eq!(
            served_by(&client(&kp, Some(("ci", "ci-secret")))).await,
            "ci-key"
        );
    }
    // No user: the provider's first pool.
    assert_eq!(served_by(&client(&kp, None)).await, "work-key");

    let basic = |up: &str| {
        use base64::Engine;
        format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(up)
        )
    };
    let head = connect_status(&kp, &basic("ci:wrong")).await;
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("proxy-authenticate: basic"),
        "{head}"
    );
    let head = connect_status(&kp, &basic("stranger:")).await;
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    assert!(connect_status(&kp, &basic("ci:ci-secret"))
        .await
        .starts_with("HTTP/1.1 200"));
}

#[test]
fn client_config_errors_name_the_line() {
    let parse = |extra: &str| {
        keypool::Config::parse(
            &format!("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n{extra}"),
            std::path::Path::new("config.toml"),
        )
        .map(|_| ())
        .map_err(|e| e.0)
    };
    let e = parse("[clients.w]\npools = [\"nope\"]\n").unwrap_err();
    assert!(
        e.starts_with("config.toml:6:") && e.contains("'nope', which is not a pool"),
        "{e}"
    );
    let e = parse("[clients.w]\npools = [\"openai\"]\ncolour = 1\n").unwrap_err();
    assert!(e.contains("unknown field `colour`"), "{e}");
    assert!(parse("[clients.w]\npools = [\"openai\"]\n").is_ok());
}
