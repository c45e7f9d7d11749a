//! What a subscription (OAuth) account's error answers mean: any 401 is a refused token,
//! refreshed once and replayed on the same account, whatever shape its body has; a limit
//! is a limit, the next account answers and no token is refreshed for it.

use crate::support;

use serde_json::json;
use std::time::Duration;
use support::guard::Within;
use support::keypool::{status_json, Harness};
use support::scenario::Scenario;
use support::{every_host, Behaviour, Flavor, Grant};

const HOURS: Duration = Duration::from_secs(3 * 3600);

/// keypool with one Claude subscription account per name, each token valid for
/// `expires_in` (hours: no refresh happens unless a refusal asks for one); the scenario
/// keeps the fakes, and the grants come back in the order of `names`.
async fn world(names: &[&str], expires_in: Duration) -> (Scenario, Vec<Grant>, Harness) {
    let mut s = Scenario::new().provider(&every_host()).await.oauth().await;
    let mut grants = Vec::new();
    for n in names {
        let id = s.oauth_server().identity(Flavor::Anthropic, n);
        grants.push(s.stored_login(n, "anthropic", &id, expires_in));
    }
    let kp = s.start().await;
    (s, grants, kp)
}

async fn claude_message(kp: &Harness) -> reqwest::Response {
    kp.client()
        .post("https://api.anthropic.com/v1/messages")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}).to_string())
        .send()
        .within("the answer to a Claude message through keypool")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_401_in_no_error_dialect_refreshes_the_token_and_replays() {
    let (w, grants, kp) = world(&["max"], HOURS).await;
    // Subscription backends answer an expired token with bodies of their own.
    w.fake().set(
        &grants[0].access,
        Behaviour::Verbatim {
            status: 401,
            headers: vec![("content-type".into(), "application/json".into())],
            body: r#"{"detail":"Unauthorized"}"#.into(),
        },
    );
    let r = claude_message(&kp).await;
    assert_eq!(r.status(), 200, "answered with the refreshed token");
    assert_eq!(r.headers()["x-keypool-account"], "max");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
}

#[tokio::test]
async fn a_subscription_limit_moves_on_without_a_refresh() {
    let (w, grants, kp) = world(&["a", "b"], HOURS).await;
    for g in &grants {
        w.fake().set(
            &g.access,
            Behaviour::RateLimited {
                retry_after_secs: Some(600),
            },
        );
    }
    let r = claude_message(&kp).await;
    assert_eq!(r.status(), 429, "every account limited");
    assert_eq!(w.fake().seen().len(), 2, "one send per account");
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        0,
        "a limit says nothing about the token"
    );
}

#[tokio::test]
async fn a_dead_login_is_set_aside_not_retried_on_every_request() {
    // Tokens about to expire: the first use refreshes.
    let (w, grants, kp) = world(&["a", "b"], Duration::from_secs(60)).await;
    // Another program redeemed a's refresh token first: keypool's copy is now a reuse.
    w.oauth_server()
        .use_refresh(Flavor::Anthropic, &grants[0].refresh)
        .unwrap();
    for _ in 0..4 {
        let r = claude_message(&kp).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "b");
    }
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        2,
        "a's refresh is tried once and then a is left alone; b refreshes once"
    );
    let status = status_json(kp.addr()).await;
    let a = status["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "a")
        .cloned()
        .unwrap();
    assert_eq!(
        a["state"], "disabled",
        "the status says why a sits out: {a}"
    );
    assert!(a.to_string().contains("invalid_grant"), "{a}");
}
