//! The client's own credentials never travel upstream when the account sends a Bearer
//! token: an `x-api-key` beside (or instead of) the client's `Authorization` is
//! stripped, for an OpenAI key account and for an Anthropic subscription (which uses
//! `Authorization: Bearer`). Checked on what the fake provider received, every header.

use crate::support;
use support::scenario::Scenario;

use http::HeaderMap;
use serde_json::json;
use std::time::Duration;
use support::guard::Within;
use support::keypool::key_account;
use support::{every_host, Flavor};

const CLIENT_KEY: &str = "sk-client-own-x-api-key-1f2e3d";
const CLIENT_BEARER: &str = "sk-ant-oat01-client-own-bearer-9a8b7c";

/// Fails naming the header when any of `secrets` appears in any header value.
fn assert_no_client_secret(headers: &HeaderMap, secrets: &[&str]) {
    assert!(
        !headers.contains_key("x-api-key"),
        "the client's x-api-key reached a Bearer account's upstream"
    );
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        for s in secrets {
            assert!(
                !value.contains(s),
                "a client credential reached upstream in the {name} header"
            );
        }
    }
}

#[tokio::test]
async fn a_key_account_sends_only_its_bearer_token() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-account"])
        .config(&key_account("work", "openai", "sk-account"));
    let kp = s.start().await;
    let fake = s.fake();
    let r = kp
        .client()
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-client-own-bearer")
        .header("x-api-key", CLIENT_KEY)
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .within("a chat completion")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "work");

    let seen = fake.seen();
    let [req] = &seen[..] else {
        panic!("one request upstream, got {}", seen.len())
    };
    assert_eq!(req.headers["authorization"], "Bearer sk-account");
    assert_no_client_secret(&req.headers, &[CLIENT_KEY, "sk-client-own-bearer"]);
}

#[tokio::test]
async fn a_subscription_account_sends_only_its_access_token() {
    let mut s = Scenario::new().provider(&every_host()).await.oauth().await;
    let id = s.oauth_server().identity(Flavor::Anthropic, "max");
    // Stored with the fake's own lifetime for an Anthropic token, as a login saves it.
    let grant = s.stored_login("max", "anthropic", &id, Duration::from_secs(8 * 3600));
    let kp = s.start().await;
    let fake = s.fake();
    // Claude Code with a subscription sends its own Bearer token; an ANTHROPIC_API_KEY
    // left in the environment adds an x-api-key.
    let r = kp
        .client()
        .post("https://api.anthropic.com/v1/messages?beta=true")
        .bearer_auth(CLIENT_BEARER)
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "claude-code-20250219")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("a message on the subscription")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "max");

    let seen = fake.seen();
    let [req] = &seen[..] else {
        panic!("one request upstream, got {}", seen.len())
    };
    assert_eq!(
        req.headers["authorization"].to_str().unwrap(),
        format!("Bearer {}", grant.access),
        "the account's access token"
    );
    assert_no_client_secret(&req.headers, &[CLIENT_KEY, CLIENT_BEARER]);
}
