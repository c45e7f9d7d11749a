//! Talks to the fake provider directly (no keypool in between) to prove the
//! fake itself speaks the wire shapes the proxy tests rely on.

use crate::support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::guard::Within;
use support::scenario::Scenario;
use support::{Behaviour, FakeProvider, StreamFault, TestCa, PROVIDER_HOSTS};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

const CHAT: &str = "https://api.openai.com/v1/chat/completions";
const MESSAGES: &str = "https://api.anthropic.com/v1/messages?beta=true";
const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash";
const REPLY: &str = "Hello from the fake provider.";
/// Only guards against hangs; results are never decided by time.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// The CA and the fake on the provider hosts, from a scenario that never starts keypool.
async fn start() -> (TestCa, FakeProvider) {
    Scenario::new().provider(PROVIDER_HOSTS).await.into_fake()
}

/// POSTs `body` with one credential header (reqwest is built without `json`).
async fn post(
    fake: &FakeProvider,
    url: &str,
    auth: (&str, &str),
    body: Value,
) -> reqwest::Response {
    fake.direct_client()
        .post(url)
        .header(auth.0, auth.1)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .within(&format!("the fake's answer to POST {url}"))
        .await
        .expect("request to fake")
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().within("the fake's answer body").await.unwrap())
        .expect("JSON body")
}

fn chat_body(stream: bool) -> Value {
    let messages = json!([{"role": "user", "content": "hi"}]);
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": messages})
}

/// `data:` payloads of an SSE body whose events end with `separator`.
fn sse_data(body: &str, separator: &str) -> Vec<String> {
    assert!(body.ends_with(separator), "unterminated SSE body: {body:?}");
    body.split(separator)
        .filter(|event| !event.is_empty())
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn openai_json_is_served_and_recorded() {
    let (_ca, fake) = start().await;
    fake.set("sk-good", Behaviour::Ok);

    let resp = post(
        &fake,
        CHAT,
        ("authorization", "Bearer sk-good"),
        chat_body(false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    // The fake only offers http/1.1 over ALPN even though reqwest offers h2.
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    assert!(header(&resp, "x-request-id").unwrap().starts_with("req_"));
    assert_eq!(header(&resp, "x-ratelimit-remaining-requests"), Some("499"));
    let body = json_of(resp).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].host.as_deref(), Some("api.openai.com"));
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].query, None);
    assert_eq!(seen[0].credential.as_deref(), Some("sk-good"));
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-good");
    let sent: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent, chat_body(false));
    assert_eq!(fake.sni_seen(), vec!["api.openai.com".to_string()]);
}

#[tokio::test]
async fn openai_stream_is_sse_chunks_then_done() {
    let (_ca, fake) = start().await;
    fake.set("sk-good", Behaviour::Ok);

    let resp = post(
        &fake,
        CHAT,
        ("authorization", "Bearer sk-good"),
        chat_body(true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let body = String::from_utf8(
        resp.bytes()
            .within("the fake's whole SSE body")
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let mut data = sse_data(&body, "\n\n");
    assert_eq!(data.pop().as_deref(), Some("[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = (chunks.iter())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn held_stream_delivers_first_event_before_release() {
    let (_ca, fake) = start().await;
    fake.set("sk-held", Behaviour::Ok);
    let url = "https://api.openai.com/v1/held";
    let mut resp = post(&fake, url, ("authorization", "Bearer sk-held"), json!({})).await;
    assert_eq!(resp.status(), 200);

    // Read until one complete event arrived; release_held() was not called yet,
    // so reaching the end of this loop proves the first event is not held back.
    let mut first = Vec::new();
    while !first.ends_with(b"\n\n") {
        let chunk = tokio::time::timeout(HANG_GUARD, resp.chunk()).await;
        first.extend(
            chunk
                .expect("first event held back")
                .unwrap()
                .expect("ended early"),
        );
    }
    let first = String::from_utf8(first).unwrap();
    assert_eq!(
        first.matches("\n\n").count(),
        1,
        "exactly one event: {first:?}"
    );
    let event: Value = serde_json::from_str(&sse_data(&first, "\n\n")[0]).unwrap();
    assert_eq!(event["choices"][0]["delta"]["role"], "assistant");

    fake.release_held();
    let mut rest = Vec::new();
    while let Some(chunk) = tokio::time::timeout(HANG_GUARD, resp.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        rest.extend(chunk);
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.ends_with("data: [DONE]\n\n"));
    assert!(rest.contains(r#""finish_reason":"stop""#));
}

#[tokio::test]
async fn endless_stream_disconnect_is_noticed() {
    let (_ca, fake) = start().await;
    fake.set("sk-endless", Behaviour::Ok);
    let url = "https://api.openai.com/v1/endless";
    let mut resp = post(
        &fake,
        url,
        ("authorization", "Bearer sk-endless"),
        json!({}),
    )
    .await;
    let chunk = resp
        .chunk()
        .within("the endless stream's first event")
        .await
        .unwrap()
        .expect("a first event");
    assert!(chunk.starts_with(b"data: "));
    assert_eq!(fake.disconnects(), 0);

    drop(resp);
    tokio::time::timeout(HANG_GUARD, fake.wait_disconnect())
        .await
        .expect("fake never noticed the consumer went away");
    assert_eq!(fake.disconnects(), 1);
}

#[tokio::test]
async fn openai_error_shapes_per_credential() {
    let (_ca, fake) = start().await;
    fake.set(
        "sk-limited",
        Behaviour::RateLimited {
            retry_after_secs: Some(7),
        },
    );
    fake.set("sk-broke", Behaviour::InsufficientQuota);
    fake.set("sk-busy", Behaviour::Overloaded);
    fake.set("sk-revoked-0123456789", Behaviour::Unauthorized);
    let bearer = |key: &str| format!("Bearer {key}");

    let resp = post(
        &fake,
        CHAT,
        ("authorization", &bearer("sk-limited")),
        chat_body(false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), Some("7"));
    assert_eq!(header(&resp, "x-ratelimit-limit-requests"), Some("500"));
    assert_eq!(header(&resp, "x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(header(&resp, "x-ratelimit-reset-requests"), Some("6m0s"));
    assert_eq!(header(&resp, "x-ratelimit-reset-tokens"), Some("1s"));
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "requests");
    assert_eq!(body["error"]["param"], Value::Null);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o-mini"));

    let resp = post(
        &fake,
        CHAT,
        ("authorization", &bearer("sk-broke")),
        chat_body(false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), None);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert_eq!(body["error"]["type"], "insufficient_quota");

    let resp = post(
        &fake,
        CHAT,
        ("authorization", &bearer("sk-busy")),
        chat_body(false),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json_of(resp).await["error"]["code"], "server_is_overloaded");

    for key in ["sk-never-configured-42", "sk-revoked-0123456789"] {
        let resp = post(
            &fake,
            CHAT,
            ("authorization", &bearer(key)),
            chat_body(false),
        )
        .await;
        assert_eq!(resp.status(), 401);
        let body = json_of(resp).await;
        assert_eq!(body["error"]["code"], "invalid_api_key");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Incorrect API key provided: "));
        assert!(!message.contains(key), "the key is redacted: {message}");
    }

    assert_eq!(
        fake.credentials_seen(),
        [
            "sk-limited",
            "sk-broke",
            "sk-busy",
            "sk-never-configured-42",
            "sk-revoked-0123456789"
        ]
    );
}

#[tokio::test]
async fn anthropic_shapes_per_credential() {
    let (_ca, fake) = start().await;
    fake.set("sk-ant-ok", Behaviour::Ok);
    fake.set(
        "sk-ant-limited",
        Behaviour::RateLimited {
            retry_after_secs: None,
        },
    );
    fake.set("sk-ant-busy", Behaviour::Overloaded);
    let request = json!({"model": "claude-sonnet-4-20250514", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});

    let resp = post(&fake, MESSAGES, ("x-api-key", "sk-ant-ok"), request.clone()).await;
    assert_eq!(resp.status(), 200);
    let body = String::from_utf8(
        resp.bytes()
            .within("the fake's whole Anthropic SSE body")
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let names: Vec<&str> = (body.split("\n\n"))
        .filter_map(|e| e.strip_prefix("event: ")?.split('\n').next())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = (sse_data(&body, "\n\n").iter())
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(fake.seen()[0].query.as_deref(), Some("beta=true"));

    let resp = post(
        &fake,
        MESSAGES,
        ("x-api-key", "sk-ant-limited"),
        request.clone(),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), None);
    assert_eq!(
        header(&resp, "anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    let reset = header(&resp, "anthropic-ratelimit-requests-reset").unwrap();
    let reset = time::OffsetDateTime::parse(reset, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 reset");
    assert!(reset > time::OffsetDateTime::now_utc());
    let request_id = header(&resp, "request-id").unwrap().to_string();
    let body = json_of(resp).await;
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["request_id"], request_id.as_str());

    let resp = post(
        &fake,
        MESSAGES,
        ("x-api-key", "sk-ant-busy"),
        request.clone(),
    )
    .await;
    assert_eq!(resp.status(), 529);
    assert_eq!(json_of(resp).await["error"]["type"], "overloaded_error");

    let resp = post(&fake, MESSAGES, ("x-api-key", "sk-ant-unknown"), request).await;
    assert_eq!(resp.status(), 401);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["message"], "invalid x-api-key");
}

#[tokio::test]
async fn gemini_query_key_json_sse_and_exhaustion() {
    let (_ca, fake) = start().await;
    fake.set("g-ok", Behaviour::Ok);
    fake.set(
        "g-exhausted",
        Behaviour::GoogleExhausted {
            retry_delay: "34.5s".into(),
        },
    );
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let client = fake.direct_client();
    let send = |url: String| client.post(url).body(request.to_string()).send();

    let resp = send(format!("{GEMINI}:generateContent?key=g-ok"))
        .within("the fake's Gemini answer for a good key")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["candidates"][0]["content"]["parts"][0]["text"], REPLY);
    assert_eq!(body["modelVersion"], "gemini-2.0-flash");
    let seen = fake.seen();
    assert_eq!(seen[0].credential.as_deref(), Some("g-ok"));
    assert_eq!(seen[0].query.as_deref(), Some("key=g-ok"));
    assert_eq!(
        seen[0].host.as_deref(),
        Some("generativelanguage.googleapis.com")
    );

    let resp = send(format!("{GEMINI}:streamGenerateContent?alt=sse&key=g-ok"))
        .within("the head of the fake's Gemini SSE answer")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), Some("text/event-stream"));
    let body = String::from_utf8(
        resp.bytes()
            .within("the fake's whole Gemini SSE body")
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    // Every event is CRLF-framed, like the real API.
    assert!(!body.replace("\r\n\r\n", "").contains("\n\n"), "{body:?}");
    let chunks: Vec<Value> = (sse_data(&body, "\r\n\r\n").iter())
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = (chunks.iter())
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );

    let resp = client
        .post(format!("{GEMINI}:generateContent"))
        .header("x-goog-api-key", "g-exhausted")
        .body(request.to_string())
        .send()
        .within("the fake's Gemini answer for an exhausted key")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let details = body["error"]["details"].as_array().unwrap();
    let retry = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo");
    assert_eq!(retry.unwrap()["retryDelay"], "34.5s");
    assert_eq!(
        details[0]["violations"][0]["quotaDimensions"]["model"],
        "gemini-2.0-flash"
    );

    let resp = send(format!("{GEMINI}:generateContent?key=g-unknown"))
        .within("the fake's Gemini answer for an unknown key")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");

    assert_eq!(
        fake.credentials_seen(),
        ["g-ok", "g-ok", "g-exhausted", "g-unknown"]
    );
}

#[tokio::test]
async fn responses_websocket_echoes_with_handshake_credential() {
    let (ca, fake) = start().await;
    fake.set("sk-ws", Behaviour::Ok);
    fake.set(
        "sk-ws-limited",
        Behaviour::RateLimited {
            retry_after_secs: Some(3),
        },
    );
    let handshake = |key: &str| {
        let mut req = "wss://api.openai.com/v1/responses"
            .into_client_request()
            .unwrap();
        let auth = format!("Bearer {key}").parse().unwrap();
        req.headers_mut().insert("authorization", auth);
        req
    };

    let tls = ca.connect_tls(fake.addr(), "api.openai.com").await;
    let (mut ws, resp) = tokio_tungstenite::client_async(handshake("sk-ws"), tls)
        .within("the WebSocket handshake with the fake")
        .await
        .expect("websocket handshake");
    assert_eq!(resp.status(), 101);

    let create = json!({"type": "response.create", "model": "gpt-5-codex"});
    ws.send(Message::text(create.to_string()))
        .within("the fake taking the response.create frame")
        .await
        .unwrap();
    let reply = ws
        .next()
        .within("the echo of response.create")
        .await
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"type": "echo", "credential": "sk-ws", "data": create})
    );
    ws.send(Message::text("not json"))
        .within("the fake taking a non-JSON frame")
        .await
        .unwrap();
    let reply = ws
        .next()
        .within("the echo of the non-JSON frame")
        .await
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["data"], "not json");
    ws.close(None)
        .within("the WebSocket close handshake")
        .await
        .unwrap();

    let seen = fake.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/responses");
    assert_eq!(seen[0].host.as_deref(), Some("api.openai.com"));
    assert_eq!(seen[0].credential.as_deref(), Some("sk-ws"));

    // A rate-limited credential gets the 429 instead of the 101.
    let tls = ca.connect_tls(fake.addr(), "api.openai.com").await;
    match tokio_tungstenite::client_async(handshake("sk-ws-limited"), tls)
        .within("the fake's 429 to a limited WebSocket handshake")
        .await
    {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            assert_eq!(resp.headers()["retry-after"], "3");
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        }
        other => panic!("expected a 429 handshake, got {other:?}"),
    }
    assert_eq!(fake.credentials_seen(), ["sk-ws", "sk-ws-limited"]);
}

/// `(event name, data)` of each event of an SSE body framed with `\n\n`.
fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split_terminator("\n\n")
        .filter(|e| !e.starts_with(':'))
        .map(|e| {
            let field = |f: &str| e.lines().find_map(|l| l.strip_prefix(f)).unwrap_or("");
            let name = field("event: ");
            let data = serde_json::from_str(field("data: ")).unwrap_or(Value::Null);
            (name.to_string(), data)
        })
        .collect()
}

#[tokio::test]
async fn stream_faults_in_the_responses_and_gemini_shapes() {
    let (_ca, fake) = Scenario::new()
        .provider(&support::every_host())
        .await
        .into_fake();
    let codex = "https://chatgpt.com/backend-api/codex/responses";
    let body = json!({"model": "gpt-5-codex", "input": [], "stream": true});
    let names = |events: &[(String, Value)]| events.iter().map(|e| e.0.clone()).collect::<Vec<_>>();

    fake.set(
        "tok-first",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    );
    let resp = post(
        &fake,
        codex,
        ("authorization", "Bearer tok-first"),
        body.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let events = named_events(
        &resp
            .text()
            .within("the fake's whole Responses stream")
            .await
            .unwrap(),
    );
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    let failed = &events[2].1;
    assert_eq!(failed["type"], "response.failed");
    assert_eq!(failed["sequence_number"], 2);
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "rate_limit_exceeded");

    fake.set(
        "tok-after",
        Behaviour::Stream(StreamFault::ErrorAfterFirstEvent),
    );
    let resp = post(&fake, codex, ("authorization", "Bearer tok-after"), body).await;
    let events = named_events(
        &resp
            .text()
            .within("the fake's whole Responses stream after the fault")
            .await
            .unwrap(),
    );
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.failed"
        ]
    );

    // Comments first; already released, so one comment and then the events.
    fake.release_held();
    fake.set(
        "AIza-slow",
        Behaviour::Stream(StreamFault::CommentsUntilReleased),
    );
    let url = format!("{GEMINI}:streamGenerateContent?alt=sse");
    let resp = post(&fake, &url, ("x-goog-api-key", "AIza-slow"), json!({})).await;
    let text = resp
        .text()
        .within("the fake's whole slow Gemini stream")
        .await
        .unwrap();
    let events = text
        .strip_prefix(": keep-alive\n\n")
        .unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(sse_data(events, "\r\n\r\n").len(), 6, "{text:?}");

    // In the first event, Gemini's own error shape; a request without a stream is fine.
    fake.set(
        "AIza-busy",
        Behaviour::Stream(StreamFault::ErrorAsFirstEvent),
    );
    let resp = post(&fake, &url, ("x-goog-api-key", "AIza-busy"), json!({})).await;
    let data = sse_data(
        &resp
            .text()
            .within("the fake's whole Gemini stream with the in-stream error")
            .await
            .unwrap(),
        "\r\n\r\n",
    );
    let error: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(error["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(data.len(), 1);
    let url = format!("{GEMINI}:generateContent");
    let resp = post(&fake, &url, ("x-goog-api-key", "AIza-busy"), json!({})).await;
    assert_eq!(resp.status(), 200);
    assert!(json_of(resp).await["candidates"].is_array());
}
