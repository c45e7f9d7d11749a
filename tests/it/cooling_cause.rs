//! Why an account sits out reaches the client and the status views: a login whose token
//! endpoint cannot be reached is "token endpoint unavailable", never "overloaded".

use crate::support;

use serde_json::json;
use std::time::Duration;
use support::guard::Within;
use support::keypool::{status_command, status_json};
use support::scenario::Scenario;
use support::{every_host, Flavor, OAUTH_HOSTS};

#[tokio::test]
async fn a_token_endpoint_outage_is_named_to_the_client_and_in_the_status() {
    // keypool reaches the token endpoint on a port nothing listens on: these go before
    // the fake OAuth server's own entries, and keypool takes the first match.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let unreachable = OAUTH_HOSTS
        .iter()
        .map(|h| format!("{h}:443:127.0.0.1:{closed}"));
    let mut s = Scenario::new().provider(&every_host()).await;
    s = s.connect_to(unreachable).oauth().await;
    let id = s.oauth_server().identity(Flavor::Anthropic, "max");
    // Expired a minute ago, so the request needs a refresh.
    let expired = s.ms_from_now(Duration::ZERO) - 60_000;
    let g = s.stored_login_at("max", "anthropic", &id, expired);
    let kp = s.start().await;

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
    let what = "`keypool status` against the running proxy";
    let out = status_command(dir.path(), kp.addr(), what).await;
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
