//! Why an account sits out reaches the client and the status views: a login whose token
//! endpoint cannot be reached is "token endpoint unavailable", never "overloaded".

use crate::support;

use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use support::guard::Within;
use support::keypool::{status_json, Keypool};
use support::{every_host, FakeOAuth, FakeProvider, Flavor, TestCa};

#[tokio::test]
async fn a_token_endpoint_outage_is_named_to_the_client_and_in_the_status() {
    let ca = TestCa::new();
    let fake = FakeProvider::start(&ca, &every_host()).await;
    let oauth = FakeOAuth::start(&ca, Some(&fake)).await;
    let id = oauth.identity(Flavor::Anthropic, "max");
    let g = oauth.grant(&id);
    // Expired a minute ago, so the request needs a refresh; and the token endpoint is a
    // port nothing listens on.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let b = Keypool::builder(&ca)
        .accounts("[[accounts]]\nname = \"max\"\nprovider = \"anthropic\"\noauth = \"stored\"\n")
        .upstream(fake.addr())
        .connect_to(
            oauth
                .hosts()
                .iter()
                .map(|h| format!("{h}:443:127.0.0.1:{closed}")),
        );
    let entry = json!({
        "provider": "anthropic",
        "access_token": g.access,
        "refresh_token": g.refresh,
        "expires_at": now_ms - 60_000,
        "account_id": id.account_id,
        "email": id.email,
    });
    let creds = json!({"version": 1, "accounts": {"max": entry}});
    b.home_file("credentials.json", &creds.to_string());
    let kp = b.start().await;

    let r = kp
        .client()
        .post("https://api.anthropic.com/v1/messages")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("the answer to a Claude message through keypool")
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let text = r.text().within("the body of the 429").await.unwrap();
    assert!(
        text.contains("max (token endpoint unavailable (") && text.contains("frees in 30s"),
        "{text}"
    );
    assert!(!text.contains("overloaded"), "{text}");
    assert!(
        !text.contains(&g.refresh) && !text.contains(&g.access),
        "{text}"
    );

    let v = status_json(kp.addr()).await;
    let a = &v["pools"][0]["accounts"][0];
    assert_eq!(a["name"], "max");
    assert_eq!(a["state"], "cooling", "{a}");
    assert_eq!(a["cause"], "token_endpoint", "{a}");
    assert!(a["until"].as_u64().is_some(), "{a}");
    assert_eq!(a["detail"], a["last_error"]["detail"], "{a}");

    // `keypool status` says which it is.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, format!("listen = \"{}\"\n", kp.addr())).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("KEYPOOL_HOME", dir.path())
        .arg("--config")
        .arg(&cfg)
        .arg("status")
        .output()
        .within("`keypool status` against the running proxy")
        .await
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.contains(" max "))
        .unwrap_or_default();
    assert!(
        row.contains("cooling") && row.contains("(token endpoint unavailable)"),
        "{table}"
    );
}
