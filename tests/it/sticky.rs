//! Sticky conversations through keypool: a conversation stays on one account (keeping the
//! provider's prompt cache warm) until that account is limited, then moves; a request that
//! continues state held by one account gets that account's 429 instead of another's 400.

use crate::support;

use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::{status_json, Keypool};
use support::scenario::Scenario;
use support::{account_of, Behaviour};

async fn claude(kp: &Keypool, session: &str) -> reqwest::Response {
    kp.client()
        .post("https://api.anthropic.com/v1/messages")
        .header("x-api-key", "sk-ant-placeholder")
        .header("anthropic-version", "2023-06-01")
        .header("x-claude-code-session-id", session)
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within(&format!("the answer to a Claude message in session {session}")).await
        .unwrap()
}

#[tokio::test]
async fn a_conversation_stays_on_its_account_until_that_account_is_limited() {
    let mut s = Scenario::new()
        .provider(&["api.anthropic.com"])
        .await
        .ok(&["sk-ant-a", "sk-ant-b", "sk-ant-c"])
        .keys(
            "anthropic",
            &[("a", "sk-ant-a"), ("b", "sk-ant-b"), ("c", "sk-ant-c")],
        );
    let kp = s.start().await;
    let fake = s.fake();
    let first = account_of(&claude(&kp, "session-1").await);
    for _ in 0..5 {
        // Other conversations in between spread by the strategy...
        claude(&kp, &format!("other-{}", rand_suffix())).await;
        // ...while this one keeps its account.
        assert_eq!(account_of(&claude(&kp, "session-1").await), first);
    }
    let key = |n: &str| format!("sk-ant-{n}");
    fake.set(
        &key(&first),
        Behaviour::RateLimited {
            retry_after_secs: Some(600),
        },
    );
    let r = claude(&kp, "session-1").await;
    assert_eq!(r.status(), 200);
    let moved = account_of(&r);
    assert_ne!(moved, first, "moved once its account is limited");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(
        account_of(&claude(&kp, "session-1").await),
        moved,
        "and stays on the new one"
    );

    let status = status_json(kp.addr()).await;
    let sticky: u64 = status["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == moved.as_str())
        .map(|a| a["sticky_conversations"].as_u64().unwrap())
        .sum();
    assert!(sticky >= 1, "{status}");
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_request_continuing_an_accounts_response_gets_that_accounts_limit() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a", "sk-b"])
        .keys("openai", &[("a", "sk-a"), ("b", "sk-b")]);
    let kp = s.start().await;
    let fake = s.fake();
    let respond = |prev: Option<String>| {
        let client = kp.client();
        async move {
            let mut body = json!({"model": "gpt-5", "input": "go on", "stream": true});
            if let Some(p) = prev {
                body["previous_response_id"] = json!(p);
            }
            client
                .post("https://api.openai.com/v1/responses")
                .bearer_auth("sk-placeholder")
                .json(&body)
                .send()
                .within("the answer to a Responses request")
                .await
                .unwrap()
        }
    };
    // The response's id is learned from its own stream (`response.created`).
    let r = respond(None).await;
    assert_eq!(r.status(), 200);
    let holder = account_of(&r);
    let text = r
        .text()
        .within("the Responses stream that names its id")
        .await
        .unwrap();
    let at = text
        .find("\"id\":\"resp_")
        .expect("a response id in the stream")
        + 6;
    let id = text[at..at + text[at..].find('"').unwrap()].to_string();
    for _ in 0..4 {
        // Other requests move the strategy on; the continuation stays with its account.
        respond(None).await;
        assert_eq!(account_of(&respond(Some(id.clone())).await), holder);
    }
    let key = if holder == "a" { "sk-a" } else { "sk-b" };
    fake.set(
        key,
        Behaviour::RateLimited {
            retry_after_secs: Some(120),
        },
    );
    let r = respond(Some(id.clone())).await;
    assert_eq!(
        r.status(),
        429,
        "not sent to an account that cannot continue it"
    );
    assert_eq!(r.headers()["retry-after"], "120");
    let body: Value = r
        .json()
        .within("the body of the 429 for the continuation")
        .await
        .unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("only account '{holder}' holds")),
        "{msg}"
    );
}
