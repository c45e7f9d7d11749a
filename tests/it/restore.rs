//! What `state.json` holds comes back at start, each part on its own: learned quota
//! windows (read straight from the status JSON), a cooldown with no quota window beside
//! it, a sticky conversation and a response pin. Each test writes a state file holding
//! only the part it checks, then starts keypool on it, as a restart would; where routing
//! is the evidence, the pool's strategy (`priority`) would choose another account than
//! the saved one, so only the restored entry explains where the request went.

use crate::support;
use support::scenario::Scenario;

use keypool::persist::fingerprint;
use keypool::sticky::pins::PinKey;
use keypool::sticky::{ConversationKey, KeySource};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use support::guard::Within;
use support::keypool::{key_account, status_json};
use support::Behaviour;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Two key accounts `a` and `b` of `provider`, in one pool that always prefers `a`.
fn a_then_b(provider: &str, key_a: &str, key_b: &str) -> String {
    key_account("a", provider, key_a)
        + &key_account("b", provider, key_b)
        + &format!(
            "[[pools]]\nname = \"{provider}\"\nprovider = \"{provider}\"\naccounts = [\"a\", \"b\"]\nstrategy = \"priority\"\n"
        )
}

fn account<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {status}"))
}

fn served_by(r: &reqwest::Response) -> String {
    r.headers()["x-keypool-account"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn learned_quota_windows_are_restored_at_start() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let resets = now_secs() + 3600;
    let mut b =
        s.config(&(key_account("a", "openai", "sk-a") + &key_account("b", "openai", "sk-b")));
    let state = json!({"version": 1, "accounts": {"a": {
        "credential": fingerprint("sk-a"),
        "quota": [
            {"name": "requests", "limit": 500, "remaining": 120, "utilization": 0.76, "resets_at": resets},
            {"name": "7d", "scope": "opus", "utilization": 0.42, "resets_at": resets + 600},
        ],
    }}});
    b.home_file("state.json", &state.to_string());
    let kp = b.start().await;
    let fake = b.fake();

    // No request is sent: what the status shows can only come from the file.
    let status = status_json(kp.addr()).within("the status JSON").await;
    let a = account(&status, "a");
    let windows = a["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2, "both saved windows restored: {a}");
    let by_name = |n: &str| {
        windows
            .iter()
            .find(|w| w["name"] == n)
            .unwrap_or_else(|| panic!("no window {n} restored: {a}"))
    };
    let requests = by_name("requests");
    assert_eq!(requests["limit"], 500, "{a}");
    assert_eq!(requests["remaining"], 120, "{a}");
    assert_eq!(requests["resets_at"], resets, "{a}");
    assert_eq!(requests["utilization"], 0.76, "{a}");
    let weekly = by_name("7d");
    assert_eq!(weekly["scope"], "opus", "{a}");
    assert_eq!(weekly["utilization"], 0.42, "{a}");
    assert_eq!(weekly["resets_at"], resets + 600, "{a}");
    assert_eq!(a["tightest"]["name"], "requests", "{a}");
    assert_eq!(account(&status, "b")["windows"], json!([]), "{status}");
    assert!(fake.seen().is_empty(), "nothing was sent upstream");
}

#[tokio::test]
async fn a_saved_cooldown_alone_keeps_its_account_out() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let fake = s.fake();
    fake.set("sk-a", Behaviour::Ok);
    fake.set("sk-b", Behaviour::Ok);
    let until = now_secs() + 3600;
    // Without the cooldown, 'a' serves first: neither account was used, nothing is
    // known of their quota, and pool order breaks the tie.
    let mut b =
        s.config(&(key_account("a", "openai", "sk-a") + &key_account("b", "openai", "sk-b")));
    let state = json!({"version": 1, "accounts": {"a": {
        "credential": fingerprint("sk-a"),
        "state": "cooling", "until": until,
        "verdict": "rate_limited", "detail": "429 rate_limit_exceeded",
    }}});
    assert!(state["accounts"]["a"].get("quota").is_none());
    b.home_file("state.json", &state.to_string());
    let kp = b.start().await;
    let fake = b.fake();

    let status = status_json(kp.addr()).within("the status JSON").await;
    let a = account(&status, "a");
    assert_eq!(a["state"], "cooling", "{a}");
    assert_eq!(a["until"], until, "{a}");
    assert_eq!(a["detail"], "429 rate_limit_exceeded", "{a}");
    assert_eq!(
        a["windows"],
        json!([]),
        "no quota window masks the cooldown"
    );

    let client = kp.client();
    for _ in 0..3 {
        let r = support::keypool::openai_chat(&client)
            .within("a chat completion")
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(served_by(&r), "b");
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    assert!(
        !fake.credentials_seen().iter().any(|c| c == "sk-a"),
        "the cooling account was skipped: {:?}",
        fake.credentials_seen()
    );
}

#[tokio::test]
async fn a_saved_sticky_conversation_goes_to_its_account_against_the_strategy() {
    let s = Scenario::new().provider(&["api.anthropic.com"]).await;
    let fake = s.fake();
    fake.set("sk-ant-a", Behaviour::Ok);
    fake.set("sk-ant-b", Behaviour::Ok);
    let key = ConversationKey::from_session(KeySource::ClaudeCode, "session-saved");
    let mut b = s.config(&a_then_b("anthropic", "sk-ant-a", "sk-ant-b"));
    let state = json!({"version": 1, "affinity": {"sticky": {"entries": [
        {"pool": "anthropic", "key": key.to_string(), "account": "b", "seen": now_secs() - 60},
    ]}}});
    b.home_file("state.json", &state.to_string());
    let kp = b.start().await;
    let claude = |session: &'static str| {
        kp.client()
            .post("https://api.anthropic.com/v1/messages")
            .header("x-api-key", "sk-ant-placeholder")
            .header("anthropic-version", "2023-06-01")
            .header("x-claude-code-session-id", session)
            .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };

    let first = claude("session-saved")
        .within("the saved conversation's turn")
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(served_by(&first), "b", "the restored assignment wins");
    let other = claude("session-new")
        .within("a new conversation")
        .await
        .unwrap();
    assert_eq!(served_by(&other), "a", "the strategy's own choice is 'a'");
    let again = claude("session-saved")
        .within("the next turn")
        .await
        .unwrap();
    assert_eq!(served_by(&again), "b");
}

#[tokio::test]
async fn a_saved_response_pin_goes_to_its_account_against_the_strategy() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let fake = s.fake();
    fake.set("sk-a", Behaviour::Ok);
    fake.set("sk-b", Behaviour::Ok);
    let mut b = s.config(&a_then_b("openai", "sk-a", "sk-b"));
    let pin = PinKey::response("resp_saved").to_string();
    let state = json!({"version": 1, "affinity": {"pins": {"entries": [
        {"pool": "openai", "key": pin, "account": "b", "seen": now_secs() - 60},
    ]}}});
    b.home_file("state.json", &state.to_string());
    let kp = b.start().await;
    // Different inputs: a conversation key made from the content must not tie the two.
    let respond = |previous: Option<&str>| {
        let input = if previous.is_some() {
            "go on"
        } else {
            "a new question"
        };
        let mut body = json!({"model": "gpt-5", "input": input, "stream": true});
        if let Some(p) = previous {
            body["previous_response_id"] = json!(p);
        }
        kp.client()
            .post("https://api.openai.com/v1/responses")
            .bearer_auth("sk-placeholder")
            .json(&body)
            .send()
    };

    let first = respond(Some("resp_saved"))
        .within("the continuation of the saved response")
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(served_by(&first), "b", "the restored pin wins");
    let fresh = respond(None).within("a fresh response").await.unwrap();
    assert_eq!(served_by(&fresh), "a", "the strategy's own choice is 'a'");
}
