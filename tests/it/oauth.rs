//! Subscription (OAuth) accounts through keypool, against the fake provider and the fake
//! OAuth server over real TLS: refresh (proactive, after a 401, single-flight), rotation
//! persisted, dead logins, linked files, and the account-bound parts of each request.

use crate::support;

mod kimi;
mod linked;
mod requests;

use keypool::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::guard::Within;
use support::keypool::Harness;
use support::scenario::Scenario;
use support::{every_host, Behaviour, Flavor, Grant, Identity};

/// Every provider host faked, the fake OAuth server beside them, keypool on a manual
/// clock: what each subscription test starts from.
pub async fn world() -> Scenario {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = Scenario::new().provider(&every_host()).await;
    s.oauth().await.clock(clock)
}

pub fn stored(name: &str, provider: &str) -> String {
    login_account(name, provider, "stored")
}

/// An `[[accounts]]` block for a subscription login: `oauth` is `stored` or `link:PATH`.
pub fn login_account(name: &str, provider: &str, oauth: &str) -> String {
    format!("[[accounts]]\nname = \"{name}\"\nprovider = \"{provider}\"\noauth = \"{oauth}\"\n")
}

pub fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Claude Code's request shape: its own subscription token and betas.
pub async fn claude_message(kp: &Harness) -> reqwest::Response {
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]});
    claude_message_with(kp, body.to_string()).await
}

/// [`claude_message`] with `body` as the request body.
pub async fn claude_message_with(kp: &Harness, body: String) -> reqwest::Response {
    kp.client()
        .post("https://api.anthropic.com/v1/messages?beta=true")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .within("the answer to a Claude message through keypool")
        .await
        .unwrap()
}

/// The smallest Claude message, through `client` (owned, so it can be spawned); its
/// status.
pub async fn short_claude_message(client: reqwest::Client) -> reqwest::StatusCode {
    client
        .post("https://api.anthropic.com/v1/messages")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(json!({"model": "m", "max_tokens": 1, "messages": []}).to_string())
        .send()
        .within("the answer to a Claude message through keypool")
        .await
        .unwrap()
        .status()
}

/// Stored Anthropic logins, one per name, expiring `expires_in` from now.
async fn anthropic_world(
    names: &[&str],
    expires_in: Duration,
) -> (Scenario, Vec<(Identity, Grant)>) {
    let mut w = world().await;
    let mut grants = Vec::new();
    for n in names {
        let id = w.oauth_server().identity(Flavor::Anthropic, n);
        let g = w.stored_login(n, "anthropic", &id, expires_in);
        grants.push((id, g));
    }
    (w, grants)
}

#[tokio::test]
async fn refreshes_before_expiry_and_the_rotation_survives_a_restart() {
    let (mut w, grants) = anthropic_world(&["max"], Duration::from_secs(600)).await;
    let (_, g1) = &grants[0];
    let kp = w.start().await;

    let r = claude_message(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        0,
        "10 minutes left: no refresh"
    );
    let seen = w.fake().seen().pop().unwrap();
    assert_eq!(seen.credential.as_deref(), Some(g1.access.as_str()));
    assert!(seen.headers.get("x-api-key").is_none());
    assert_eq!(
        seen.headers["anthropic-beta"],
        "claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20"
    );

    // Within the 5-minute margin: refreshed before use, not after a failure.
    w.manual_clock().advance(Duration::from_secs(6 * 60));
    assert_eq!(claude_message(&kp).await.status(), 200);
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
    let fresh = w.fake().seen().pop().unwrap().credential.unwrap();
    assert_ne!(fresh, g1.access);
    let stored = read_json(&kp.home_path("credentials.json"));
    let rt = stored["accounts"]["max"]["refresh_token"].as_str().unwrap();
    assert_ne!(rt, g1.refresh, "the rotated refresh token is saved");
    assert_eq!(stored["accounts"]["max"]["access_token"], fresh.as_str());

    let kp = kp.restart().await;
    assert_eq!(claude_message(&kp).await.status(), 200);
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        1,
        "the saved token is used after a restart"
    );
    assert_eq!(w.fake().seen().pop().unwrap().credential.unwrap(), fresh);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_request_replayed() {
    let (mut w, grants) = anthropic_world(&["max"], Duration::from_secs(3 * 3600)).await;
    let kp = w.start().await;
    // The server is authoritative: the token is refused while it looks valid locally.
    w.fake().set(&grants[0].1.access, Behaviour::Unauthorized);
    let r = claude_message(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "max");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
}

#[tokio::test]
async fn a_refused_token_whose_refresh_fails_moves_the_request_to_the_next_login() {
    let (mut w, grants) = anthropic_world(&["a", "b"], Duration::from_secs(3 * 3600)).await;
    let kp = w.start().await;
    // a's token looks valid locally, the provider refuses it, and its login was signed
    // out elsewhere: the refresh after the 401 fails too.
    w.fake().set(&grants[0].1.access, Behaviour::Unauthorized);
    w.oauth_server()
        .revoke(Flavor::Anthropic, &grants[0].1.refresh);
    let r = claude_message(&kp).await;
    assert_eq!(r.status(), 200, "the buffered body is replayed on b");
    assert_eq!(r.headers()["x-keypool-account"], "b");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        1,
        "only a's failed refresh"
    );
}

#[tokio::test]
async fn a_body_too_large_to_replay_gets_the_401_as_is_without_a_refresh() {
    let mut w = world().await.limits("replay_body_mib = 1");
    let id = w.oauth_server().identity(Flavor::Anthropic, "max");
    let g = w.stored_login("max", "anthropic", &id, Duration::from_secs(3 * 3600));
    let kp = w.start().await;
    w.fake().set(&g.access, Behaviour::Unauthorized);
    let big = json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
        "messages": [{"role": "user", "content": "x".repeat(2 << 20)}]})
    .to_string();
    let r = claude_message_with(&kp, big.clone()).await;
    // The body streamed upstream and is gone: a refreshed token would have nothing to send.
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-keypool-attempts"], "1");
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 0);
    assert_eq!(w.fake().seen().len(), 1);
    assert_eq!(w.fake().seen()[0].body.len(), big.len());
}

#[tokio::test]
async fn fifty_concurrent_requests_cause_one_refresh() {
    let (mut w, _grants) = anthropic_world(&["max"], Duration::from_secs(60)).await;
    let kp = w.start().await;
    w.oauth_server().hold_token_endpoint();
    let client = kp.client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        tasks.spawn(short_claude_message(client.clone()));
    }
    w.oauth_server().wait_token_call().await;
    w.oauth_server().release_token_endpoint();
    while let Some(status) = tasks
        .join_next()
        .within("the fifty requests held behind one refresh")
        .await
    {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
}

#[tokio::test]
async fn a_reused_refresh_token_disables_only_that_account_and_names_the_fix() {
    let (mut w, grants) = anthropic_world(&["a", "b"], Duration::from_secs(60)).await;
    // Another program redeemed a's refresh token first: keypool's copy is now a reuse.
    w.oauth_server()
        .use_refresh(Flavor::Anthropic, &grants[0].1.refresh)
        .unwrap();
    let kp = w.start().await;
    for _ in 0..3 {
        let r = claude_message(&kp).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "b");
    }
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        2,
        "a is tried once and then left alone; b refreshes once"
    );
    let status: Value = reqwest::Client::builder()
        .no_proxy()
        .timeout(support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap()
        .get(format!("http://{}/", kp.addr()))
        .header("accept", "application/json")
        .send()
        .within("keypool's own answer to GET /")
        .await
        .unwrap()
        .json()
        .within("the body of keypool's GET / answer")
        .await
        .unwrap();
    let a = &status["pools"][0]["members"][0];
    assert_eq!(a["name"], "a");
    assert_eq!(a["state"], "disabled");
    let why = a["detail"].as_str().unwrap();
    assert!(why.contains("invalid_grant"), "{why}");
    assert!(why.contains("keypool login anthropic --name a"), "{why}");
    assert!(!why.contains(&grants[0].1.refresh), "{why}");
    assert_eq!(status["pools"][0]["members"][1]["state"], "ok");

    // `keypool accounts list` shows the running proxy's view next to what the files say.
    let cfg = kp.home_path("list.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"{}\"\n{}{}",
            kp.addr(),
            stored("a", "anthropic"),
            stored("b", "anthropic")
        ),
    )
    .unwrap();
    // tokio's Command: the proxy under test runs on this same runtime and must answer.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("KEYPOOL_HOME", kp.home.path())
        .env("HOME", kp.home.path())
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "list"])
        .output()
        .within("`keypool accounts list` against the running proxy")
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a disabled account fails the listing"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |n: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no row for {n}:\n{text}"))
            .to_string()
    };
    assert!(
        row("a").contains("needs login") && row("a").contains("keypool login anthropic --name a"),
        "{text}"
    );
    assert!(
        row("b").contains(" oauth ") && row("b").contains(" ok ") && row("b").ends_with("stored"),
        "{text}"
    );
    assert!(row("b").contains(&grants[1].0.email), "{text}");
    for (_, g) in &grants {
        assert!(
            !text.contains(&g.refresh) && !text.contains(&g.access),
            "{text}"
        );
    }
}
