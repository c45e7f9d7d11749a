//! When every account of a pool is limited: continue in its fallback pools, or hold the
//! request for the first account to free (`hold_max`), before answering 429.

use crate::support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::guard::Within;
use support::keypool::Keypool;
use support::scenario::Scenario;
use support::Behaviour;

fn account(name: &str, key: &str) -> String {
    support::keypool::key_account(name, "openai", key)
}

async fn chat(kp: &Keypool) -> reqwest::Response {
    support::keypool::openai_chat(&kp.client()).await
}

#[tokio::test]
async fn a_limited_pool_continues_in_its_fallback() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-work", 600)
        .ok(&["sk-home"])
        .keys("openai", &[("work", "sk-work"), ("home", "sk-home")])
        .pool("work", "openai", &["work"], "fallback = [\"personal\"]")
        .pool("personal", "openai", &["home"], "");
    let kp = s.start().await;
    let fake = s.fake();
    let r = chat(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "home");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(fake.credentials_seen(), ["sk-work", "sk-home"]);
    let r = chat(&kp).await;
    assert_eq!(
        r.headers()["x-keypool-attempts"],
        "1",
        "the cooling pool is passed over at once"
    );
}

#[tokio::test]
async fn fallbacks_are_tried_in_order() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-1", 600)
        .limited("sk-2", 600)
        .ok(&["sk-3", "sk-4"])
        .keys(
            "openai",
            &[
                ("one", "sk-1"),
                ("two", "sk-2"),
                ("three", "sk-3"),
                ("four", "sk-4"),
            ],
        )
        .pool(
            "first",
            "openai",
            &["one"],
            "fallback = [\"second\", \"third\", \"fourth\"]",
        )
        .pool("second", "openai", &["two"], "fallback = []")
        .pool("third", "openai", &["three"], "fallback = []")
        .pool("fourth", "openai", &["four"], "fallback = []");
    let kp = s.start().await;
    let fake = s.fake();
    let r = chat(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "three");
    assert_eq!(fake.credentials_seen(), ["sk-1", "sk-2", "sk-3"]);
}

/// Pool `p` of the one account `a`, limited for `secs`, holding requests up to 30 s.
async fn held_pool(secs: u64) -> Scenario {
    Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-a", secs)
        .keys("openai", &[("a", "sk-a")])
        .pool("p", "openai", &["a"], "hold_max = \"30s\"")
}

#[tokio::test]
async fn a_pool_holds_a_request_until_its_account_frees() {
    let mut s = held_pool(1).await;
    let kp = s.start().await;
    let fake = s.fake();
    let client = kp.client();
    let held = tokio::spawn(async move {
        client
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-placeholder")
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
            .await
            .unwrap()
    });
    // Once the limit has been seen, the provider lets the account through again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.credentials_seen().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the request never reached the provider"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fake.set("sk-a", Behaviour::Ok);
    let r = held
        .within("the held request, served once the account is let through")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "held, then served instead of a 429");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
}

#[tokio::test]
async fn a_wait_longer_than_hold_max_is_answered_at_once() {
    let mut s = held_pool(600).await;
    let kp = s.start().await;
    let r = chat(&kp).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "600");
}

#[test]
fn fallback_must_name_another_pool_of_the_same_provider() {
    let parse = |extra: &str| {
        keypool::Config::parse(
            &format!(
                "{}[[accounts]]\nname = \"c\"\nprovider = \"anthropic\"\napi_key = \"k\"\n{extra}",
                account("a", "k")
            ),
            std::path::Path::new("config.toml"),
        )
        .map(|_| ())
        .map_err(|e| e.0)
    };
    let e = parse("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\nfallback = [\"nope\"]\n").unwrap_err();
    assert!(
        e.contains("falls back to 'nope', which is not a pool") && e.contains("fix:"),
        "{e}"
    );
    let e = parse("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\nfallback = [\"anthropic\"]\n").unwrap_err();
    assert!(
        e.contains("cannot fall back to 'anthropic' (anthropic)"),
        "{e}"
    );
    let e = parse(
        "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\nhold_max = \"soon\"\n",
    )
    .unwrap_err();
    assert!(e.contains("config.toml:"), "{e}");
}
