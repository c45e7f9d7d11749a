//! Errors inside a 200 event stream, through keypool over real TLS: a limit as the first
//! event rotates like a 429 and the client sees a clean stream from the next account; an
//! error after the first event is the client's; streams that pass are untouched, byte for
//! byte, and not delayed past their first event.

use crate::support;
use support::scenario::Scenario;

use futures_util::StreamExt;
use keypool::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::SystemTime;
use support::guard::Within;
use support::keypool::{status_json, Harness};
use support::{Behaviour, FakeProvider, StreamFault, TestCa, RAW_SSE};

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

const HOSTS: &[&str] = &[
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "openrouter.ai",
];

/// Keypool with `accounts` in front of a fake, on a clock that stands still, so a
/// cooldown lasts however long the test takes.
async fn setup(accounts: &str) -> (TestCa, FakeProvider, Harness) {
    Scenario::new()
        .provider(HOSTS)
        .await
        .config(accounts)
        .clock(Arc::new(ManualClock::new(SystemTime::now())))
        .start_parts()
        .await
}

/// Two accounts `a` and `b` of `provider` with keys `{prefix}a` and `{prefix}b`: `a`
/// behaves as `first`, `b` is fine.
async fn a_then_b(provider: &str, prefix: &str, first: Behaviour) -> (FakeProvider, Harness) {
    let accounts = ["a", "b"]
        .map(|n| {
            format!("[[accounts]]\nname = \"{n}\"\nprovider = \"{provider}\"\napi_key = \"{prefix}{n}\"\n")
        })
        .concat();
    let (_ca, fake, kp) = setup(&accounts).await;
    fake.set(&format!("{prefix}a"), first);
    fake.set(&format!("{prefix}b"), Behaviour::Ok);
    (fake, kp)
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn claude_stream() -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

async fn anthropic(kp: &Harness) -> reqwest::Response {
    kp.client()
        .post("https://api.anthropic.com/v1/messages")
        .header("x-api-key", "sk-ant-client")
        .header("anthropic-version", "2023-06-01")
        .json(&claude_stream())
        .send()
        .within("the head of the streamed Anthropic answer")
        .await
        .unwrap()
}

/// The status endpoint's entry for `account`.
async fn status_of(kp: &Harness, account: &str) -> Value {
    let v = status_json(kp.addr()).await;
    let accounts = v["pools"][0]["accounts"].as_array().unwrap();
    accounts
        .iter()
        .find(|a| a["name"] == account)
        .unwrap()
        .clone()
}

/// The answer of a rotated request: from `b` on the second attempt, clean, whole.
async fn assert_clean_from_b(r: reqwest::Response, ends_with: &str, error: &str) -> String {
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-keypool-account"), "b");
    assert_eq!(header(&r, "x-keypool-attempts"), "2");
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = r.text().within("the whole rotated stream").await.unwrap();
    assert!(!text.contains(error), "{text}");
    assert!(text.trim_end().ends_with(ends_with), "{text}");
    text
}

#[tokio::test]
async fn anthropic_overloaded_as_the_first_event_rotates_and_the_account_sits_out() {
    let (fake, kp) = a_then_b(
        "anthropic",
        "sk-ant-",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    )
    .await;
    let text = assert_clean_from_b(
        anthropic(&kp).await,
        "data: {\"type\":\"message_stop\"}",
        "overloaded_error",
    )
    .await;
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert_eq!(fake.credentials_seen(), vec!["sk-ant-a", "sk-ant-b"]);
    // Both attempts carried the same body: the request was replayed.
    let seen = fake.seen();
    assert_eq!(seen[0].body, seen[1].body);

    // `a` sits out like after a 529: the next request goes straight to `b`.
    let r = anthropic(&kp).await;
    assert_eq!(header(&r, "x-keypool-account"), "b");
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    r.text().within("the whole stream from b").await.unwrap();
    assert_eq!(fake.credentials_seen().len(), 3);
    let a = status_of(&kp, "a").await;
    assert_eq!(a["state"], "cooling");
    assert_eq!(a["last_error"]["detail"], "in-stream overloaded_error");
}

#[tokio::test]
async fn responses_failed_with_rate_limit_exceeded_after_the_lifecycle_events_rotates() {
    let (fake, kp) = a_then_b(
        "openai",
        "sk-",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    )
    .await;
    let r = kp
        .client()
        .post("https://api.openai.com/v1/responses")
        .bearer_auth("sk-client")
        .json(&json!({"model": "gpt-5", "input": "hi", "stream": true}))
        .send()
        .within("the head of the rotated Responses stream")
        .await
        .unwrap();
    let text = assert_clean_from_b(r, "}", "response.failed").await;
    // b's own lifecycle events, once: a's held ones never reached the client.
    assert_eq!(text.matches("event: response.created\n").count(), 1);
    assert!(text.contains("event: response.completed\n"), "{text}");
    assert_eq!(fake.credentials_seen(), vec!["sk-a", "sk-b"]);
    let a = status_of(&kp, "a").await;
    assert_eq!(a["last_error"]["detail"], "in-stream rate_limit_exceeded");
}

#[tokio::test]
async fn openrouter_in_stream_429_rotates() {
    let (fake, kp) = a_then_b(
        "openrouter",
        "sk-or-v1-",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    )
    .await;
    let r = kp
        .client()
        .post("https://openrouter.ai/api/v1/chat/completions")
        .bearer_auth("sk-or-v1-client")
        .json(&json!({"model": "openai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("the head of the rotated OpenRouter stream").await
        .unwrap();
    assert_clean_from_b(r, "data: [DONE]", "\"error\"").await;
    assert_eq!(fake.credentials_seen(), vec!["sk-or-v1-a", "sk-or-v1-b"]);
    let a = status_of(&kp, "a").await;
    assert_eq!(a["state"], "cooling");
}

#[tokio::test]
async fn gemini_resource_exhausted_in_the_stream_rotates() {
    let (fake, kp) = a_then_b(
        "google",
        "AIza-",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    )
    .await;
    let r = kp
        .client()
        .post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .header("x-goog-api-key", "AIza-client")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .within("the head of the rotated Gemini stream").await
        .unwrap();
    let text = assert_clean_from_b(r, "}", "RESOURCE_EXHAUSTED").await;
    assert!(text.contains("\"finishReason\":\"STOP\""), "{text}");
    assert_eq!(fake.credentials_seen(), vec!["AIza-a", "AIza-b"]);
    let a = status_of(&kp, "a").await;
    assert_eq!(a["last_error"]["detail"], "in-stream RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn an_error_after_the_first_event_is_passed_through_and_not_retried() {
    let (fake, kp) = a_then_b(
        "anthropic",
        "sk-ant-",
        Behaviour::Stream(StreamFault::ErrorAfterFirstEvent),
    )
    .await;
    let r = anthropic(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-keypool-account"), "a");
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    let text = r
        .text()
        .within("the whole stream with the late error")
        .await
        .unwrap();
    let events: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(events.len(), 2, "{text}");
    assert!(events[0].starts_with("event: message_start\n"), "{text}");
    assert!(
        events[1].starts_with("event: error\n") && events[1].contains("overloaded_error"),
        "{text}"
    );
    assert_eq!(fake.credentials_seen(), vec!["sk-ant-a"]);
    // The stream was the client's: `a` is not held responsible.
    let a = status_of(&kp, "a").await;
    assert_eq!(a["state"], "ok");
    assert_eq!(a["last_error"], Value::Null);
}

#[tokio::test]
async fn a_normal_stream_is_passed_on_byte_for_byte() {
    let (_ca, fake, kp) =
        setup("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n").await;
    fake.set("sk-a", Behaviour::Ok);
    let body = json!({"model": "gpt-4o", "stream": true});
    let direct = fake
        .direct_client()
        .post("https://api.openai.com/v1/raw-sse")
        .bearer_auth("sk-a")
        .json(&body)
        .send()
        .within("the fake's own answer to the raw SSE request")
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let direct = direct
        .bytes()
        .within("the fake's raw SSE body")
        .await
        .unwrap();
    assert_eq!(direct, RAW_SSE.concat().as_bytes(), "the fake's own stream");

    let r = kp
        .client()
        .post("https://api.openai.com/v1/raw-sse")
        .bearer_auth("sk-client")
        .json(&body)
        .send()
        .within("the head of the raw SSE answer through keypool")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    assert_eq!(
        r.bytes()
            .within("the raw SSE body through keypool")
            .await
            .unwrap(),
        direct
    );
}

#[tokio::test]
async fn the_first_event_reaches_the_client_while_upstream_holds_the_rest() {
    let (_ca, fake, kp) =
        setup("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n").await;
    fake.set("sk-a", Behaviour::Ok);
    let r = kp
        .client()
        .post("https://api.openai.com/v1/held")
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": []}))
        .send()
        .within("the head of the held SSE answer")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    // Exactly the first event, while the fake sends nothing more until released.
    let mut first = Vec::new();
    while !first.ends_with(b"\n\n") {
        let chunk = stream
            .next()
            .within("the first SSE event while upstream holds the rest")
            .await;
        first.extend_from_slice(&chunk.unwrap().unwrap());
    }
    let first = String::from_utf8(first).unwrap();
    assert!(first.starts_with("data: {"), "{first}");
    assert!(first.ends_with("}\n\n"), "{first}");
    assert_eq!(first.matches("\n\n").count(), 1, "{first}");
    fake.release_held();
    let mut rest = Vec::new();
    while let Some(chunk) = stream
        .next()
        .within("the rest of the SSE stream after the release")
        .await
    {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_stream_of_comments_only_is_passed_on_when_the_bound_is_up() {
    let accounts = "[[accounts]]\nname = \"a\"\nprovider = \"deepseek\"\napi_key = \"sk-a\"\n\
                    [[accounts]]\nname = \"b\"\nprovider = \"deepseek\"\napi_key = \"sk-b\"\n\
                    [limits]\nfirst_event_timeout = \"300ms\"\n";
    let mut s = Scenario::new()
        .provider(&["api.deepseek.com"])
        .await
        .config(accounts);
    let kp = s.start().await;
    let fake = s.fake();
    fake.set(
        "sk-a",
        Behaviour::Stream(StreamFault::CommentsUntilReleased),
    );
    fake.set("sk-b", Behaviour::Ok);
    // The answer comes while the fake still sends nothing but comments: the bound, not
    // an event, ended the hold.
    let send = kp
        .client()
        .post("https://api.deepseek.com/v1/chat/completions")
        .json(&json!({"model": "deepseek-chat", "stream": true, "messages": []}))
        .send();
    let r = send
        .within("the head of the answer once first_event_timeout ends the hold")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-keypool-account"), "a");
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    let mut stream = r.bytes_stream();
    let mut all = Vec::new();
    while all.len() < KEEP_ALIVE.len() {
        let chunk = stream.next().within("the held keep-alive comments").await;
        all.extend_from_slice(&chunk.unwrap().unwrap());
    }
    assert!(all.starts_with(KEEP_ALIVE), "{all:?}");
    fake.release_held();
    while let Some(chunk) = stream
        .next()
        .within("the events after the comments are released")
        .await
    {
        all.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(all).unwrap();
    let (comments, events) = text.split_at(text.find("data: ").unwrap());
    assert!(
        !comments.is_empty()
            && comments
                .split_terminator("\n\n")
                .all(|c| c == ": keep-alive"),
        "{text}"
    );
    assert!(events.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(fake.credentials_seen(), vec!["sk-a"]);
}

#[tokio::test]
async fn a_body_too_big_to_replay_gets_the_error_stream_and_the_account_still_sits_out() {
    let accounts = ["a", "b"]
        .map(|n| format!("[[accounts]]\nname = \"{n}\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-{n}\"\n"))
        .concat()
        + "[limits]\nreplay_body_mib = 1\n";
    let (_ca, fake, kp) = setup(&accounts).await;
    fake.set(
        "sk-ant-a",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    );
    fake.set("sk-ant-b", Behaviour::Ok);
    let mut big = claude_stream();
    big["messages"][0]["content"] = json!("x".repeat(2 << 20));
    let r = kp
        .client()
        .post("https://api.anthropic.com/v1/messages")
        .header("x-api-key", "sk-ant-client")
        .body(big.to_string())
        .send()
        .within("the answer to the body too big to replay")
        .await
        .unwrap();
    // The body streamed upstream and is gone: the provider's own answer comes back.
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-keypool-account"), "a");
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    let text = r
        .text()
        .within("the error stream for the body too big to replay")
        .await
        .unwrap();
    assert!(
        text.starts_with("event: error\n") && text.contains("overloaded_error"),
        "{text}"
    );
    let r = anthropic(&kp).await;
    assert_eq!(header(&r, "x-keypool-account"), "b");
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    assert_eq!(fake.credentials_seen(), vec!["sk-ant-a", "sk-ant-b"]);
}

#[tokio::test]
async fn a_zero_bound_turns_the_hold_off() {
    let accounts = ["a", "b"]
        .map(|n| format!("[[accounts]]\nname = \"{n}\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-{n}\"\n"))
        .concat()
        + "[limits]\nfirst_event_timeout = \"0s\"\n";
    let (_ca, fake, kp) = setup(&accounts).await;
    fake.set(
        "sk-ant-a",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    );
    let r = anthropic(&kp).await;
    assert_eq!(header(&r, "x-keypool-attempts"), "1");
    assert!(r
        .text()
        .within("the whole overloaded stream passed through")
        .await
        .unwrap()
        .contains("overloaded_error"));
    assert_eq!(fake.credentials_seen(), vec!["sk-ant-a"]);
}
