//! Each dialect's usage, streamed and not, read off the answer as keypool passes it on and
//! found in the ledger row: tokens by kind in keypool's one convention, the model, the
//! account billed and the price. The fake's usage numbers are in support/fake/bodies.rs.

use crate::support;

use futures_util::{SinkExt, StreamExt};
use keypool::usage::{Record, Tokens};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};
use support::guard::Within;
use support::keypool::Keypool;
use support::scenario::{key_accounts, Scenario};
use support::usage::usage_rows;
use support::{every_host, Flavor};

const HOUR: Duration = Duration::from_secs(3600);

/// Chat: 2006 prompt tokens of which 1920 cached; 300 completion of which 256 reasoning.
const CHAT: Tokens = tokens(86, 300, 1920, 0, 256);
/// Responses: 3000 input of which 2048 cached; 400 output of which 320 reasoning.
const RESPONSES: Tokens = tokens(952, 400, 2048, 0, 320);
/// Anthropic: 12 uncached, 1500 written to the cache, 9000 read; 80 out.
const ANTHROPIC: Tokens = tokens(12, 80, 9000, 1500, 0);
/// Gemini: 5000 prompt of which 4000 cached; 60 candidates + 400 thoughts.
const GEMINI: Tokens = tokens(1000, 460, 4000, 0, 400);

const fn tokens(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
    }
}

/// USD per million tokens, as `(input, output, cache_read, cache_write)`.
fn usd(t: &Tokens, (i, o, r, w): (f64, f64, f64, f64)) -> f64 {
    (t.input as f64 * i + t.output as f64 * o + t.cache_read as f64 * r + t.cache_write as f64 * w)
        / 1e6
}

fn assert_cost(row: &Record, want: f64) {
    let got = row
        .cost_usd
        .unwrap_or_else(|| panic!("no price for {row:?}"));
    // The ledger keeps micro-dollars.
    assert!((got - want).abs() <= 1e-6, "cost {got} != {want}: {row:?}");
}

/// Sends `req`, reads its whole body (the row is written at its end), checks the status.
async fn send(req: reqwest::RequestBuilder, what: &str) -> bytes::Bytes {
    let r = req.send().within(what).await.unwrap();
    let status = r.status();
    let body = r.bytes().within(what).await.unwrap();
    assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&body));
    body
}

/// The newest row once there are `n`.
async fn row(kp: &Keypool, n: usize) -> Record {
    let rows = usage_rows(kp, n).await;
    assert_eq!(rows.len(), n, "one row per answer: {rows:?}");
    rows[0].clone()
}

fn assert_row(row: &Record, model: &str, t: Tokens, stream: bool) {
    assert_eq!(row.model.as_deref(), Some(model), "{row:?}");
    assert_eq!(row.tokens, t, "{row:?}");
    assert_eq!(row.stream, stream, "{row:?}");
    // A WebSocket's rows carry its handshake's status.
    let want = if row.provider == "openai-codex" && stream {
        101
    } else {
        200
    };
    assert_eq!(row.status, want, "{row:?}");
}

/// The scenario holds the fake provider: it must outlive the test's requests.
async fn api_keypool() -> (Scenario, support::keypool::Harness) {
    let mut accounts = key_accounts("openai", &[("oa", "sk-oa")]);
    accounts.push_str(&key_accounts("anthropic", &[("an", "sk-ant-api-an")]));
    accounts.push_str(&key_accounts("google", &[("gg", "AIza-gg")]));
    let mut s = Scenario::new()
        .provider(&every_host())
        .await
        .ok(&["sk-oa", "sk-ant-api-an", "AIza-gg"])
        .config(&accounts);
    let kp = s.start().await;
    (s, kp)
}

#[tokio::test]
async fn openai_chat_and_responses_streamed_and_not() {
    let (_fake, kp) = api_keypool().await;
    let c = kp.client();
    let chat = "https://api.openai.com/v1/chat/completions";
    let responses = "https://api.openai.com/v1/responses";
    let ask = |model: &str, extra: Value| {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    send(
        c.post(chat).json(&ask("gpt-4o", json!({}))),
        "a chat completion",
    )
    .await;
    let r = row(&kp, 1).await;
    assert_row(&r, "gpt-4o", CHAT, false);
    assert_eq!(
        (r.provider.as_str(), r.account.as_deref(), r.kind.as_deref()),
        ("openai", Some("oa"), Some("key"))
    );
    assert_cost(&r, usd(&CHAT, (2.5, 10.0, 1.25, 2.5)));

    let streamed = json!({"stream": true, "stream_options": {"include_usage": true}});
    send(
        c.post(chat).json(&ask("gpt-4o-mini", streamed)),
        "a streamed chat completion",
    )
    .await;
    let r = row(&kp, 2).await;
    assert_row(&r, "gpt-4o-mini", CHAT, true);
    assert_cost(&r, usd(&CHAT, (0.15, 0.6, 0.075, 0.15)));

    // Without include_usage the stream carries no usage: the row has the request's model
    // and no tokens.
    send(
        c.post(chat).json(&ask("gpt-4o", json!({"stream": true}))),
        "a chat stream without usage",
    )
    .await;
    assert_row(&row(&kp, 3).await, "gpt-4o", Tokens::default(), true);

    send(
        c.post(responses)
            .json(&json!({"model": "gpt-5", "input": "hi"})),
        "a Responses answer",
    )
    .await;
    let r = row(&kp, 4).await;
    assert_row(&r, "gpt-5", RESPONSES, false);
    assert_cost(&r, usd(&RESPONSES, (1.25, 10.0, 0.125, 1.25)));

    let body = json!({"model": "gpt-5", "input": "hi", "stream": true});
    send(c.post(responses).json(&body), "a streamed Responses answer").await;
    assert_row(&row(&kp, 5).await, "gpt-5", RESPONSES, true);
}

#[tokio::test]
async fn anthropic_messages_streamed_and_not() {
    let (_fake, kp) = api_keypool().await;
    let c = kp.client();
    let url = "https://api.anthropic.com/v1/messages";
    let model = "claude-sonnet-4-5-20250929";
    for (n, stream) in [(1, false), (2, true)] {
        let body = json!({"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let req = c
            .post(url)
            .header("x-api-key", "sk-ant-client")
            .header("anthropic-version", "2023-06-01");
        send(req.json(&body), "an Anthropic message").await;
        let r = row(&kp, n).await;
        assert_row(&r, model, ANTHROPIC, stream);
        assert_eq!(r.account.as_deref(), Some("an"));
        assert_cost(&r, usd(&ANTHROPIC, (3.0, 15.0, 0.3, 3.75)));
    }
}

#[tokio::test]
async fn gemini_json_array_and_event_stream() {
    let (_fake, kp) = api_keypool().await;
    let c = kp.client();
    let base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash";
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    for (n, (path, stream)) in [
        (":generateContent", false),
        (":streamGenerateContent", false),
        (":streamGenerateContent?alt=sse", true),
    ]
    .into_iter()
    .enumerate()
    {
        let req = c
            .post(format!("{base}{path}"))
            .header("x-goog-api-key", "AIza-client");
        send(req.json(&body), "a Gemini answer").await;
        let r = row(&kp, n + 1).await;
        assert_row(&r, "gemini-2.5-flash", GEMINI, stream);
        assert_cost(&r, usd(&GEMINI, (0.3, 2.5, 0.03, 0.3)));
    }
}

/// Every provider host faked and the fake OAuth server beside them.
async fn world() -> Scenario {
    let clock = std::sync::Arc::new(keypool::clock::ManualClock::new(SystemTime::now()));
    Scenario::new()
        .provider(&every_host())
        .await
        .oauth()
        .await
        .clock(clock)
}

#[tokio::test]
async fn code_assist_wrapped_answers_streamed_and_not() {
    let mut w = world().await;
    let id = w.oauth_server().identity(Flavor::Google, "paid");
    w.stored_login("gemini", "google-gemini-cli", &id, HOUR);
    let kp = w.start().await;
    let body = json!({"model": "gemini-2.5-pro", "project": "p", "request": {"contents": []}});
    for (n, (path, stream)) in [
        ("generateContent", false),
        ("streamGenerateContent", false),
        ("streamGenerateContent?alt=sse", true),
    ]
    .into_iter()
    .enumerate()
    {
        let url = format!("https://cloudcode-pa.googleapis.com/v1internal:{path}");
        let req = kp.client().post(url).bearer_auth("ya29.client-own");
        send(req.json(&body), "a Code Assist answer").await;
        let r = row(&kp, n + 1).await;
        assert_row(&r, "gemini-2.5-pro", GEMINI, stream);
        assert_eq!(
            (r.provider.as_str(), r.kind.as_deref()),
            ("google-gemini-cli", Some("subscription"))
        );
        // A subscription is priced as what the API would have charged.
        assert_cost(&r, usd(&GEMINI, (1.25, 10.0, 0.125, 1.25)));
    }
}

#[tokio::test]
async fn codex_websocket_rows_per_completed_response() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut w = world().await;
    let id = w.oauth_server().identity(Flavor::Codex, "pro");
    w.stored_login("codex", "openai-codex", &id, HOUR);
    let kp = w.start().await;
    let tls = kp.tls_through("chatgpt.com", &kp.ca_pem()).await;
    let mut req = "wss://chatgpt.com/backend-api/codex/responses"
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert("authorization", "Bearer client-own".parse().unwrap());
    h.insert(
        "openai-beta",
        "responses_websockets=2026-02-06".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls)
        .within("the Codex WebSocket handshake through keypool")
        .await
        .unwrap();
    for (n, model) in [(1, "gpt-5-codex"), (2, "gpt-5.1-codex-mini")] {
        let create = json!({"type": "response.create", "model": model, "input": []});
        ws.send(Message::text(create.to_string()))
            .within("response.create")
            .await
            .unwrap();
        loop {
            let m = ws.next().within("the Codex events").await.unwrap().unwrap();
            let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            if v["type"] == "response.completed" {
                break;
            }
        }
        let r = row(&kp, n).await;
        assert_row(&r, model, RESPONSES, true);
        assert_eq!(
            (r.account.as_deref(), r.kind.as_deref()),
            (Some("codex"), Some("subscription"))
        );
        let rates = if n == 1 {
            (1.25, 10.0, 0.125, 1.25)
        } else {
            (0.25, 2.0, 0.025, 0.25)
        };
        assert_cost(&r, usd(&RESPONSES, rates));
    }
}

#[tokio::test]
async fn a_rotated_request_bills_the_account_that_answered() {
    let mut s = Scenario::new()
        .provider(&every_host())
        .await
        .limited("sk-first", 60)
        .ok(&["sk-second"])
        .config(&key_accounts(
            "openai",
            &[("first", "sk-first"), ("second", "sk-second")],
        ));
    let kp = s.start().await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let url = "https://api.openai.com/v1/chat/completions";
    send(
        kp.client().post(url).json(&body),
        "a chat answer after a 429",
    )
    .await;
    let r = row(&kp, 1).await;
    assert_row(&r, "gpt-4o", CHAT, false);
    assert_eq!(r.account.as_deref(), Some("second"));
    assert_eq!(
        (r.attempts, r.rotations, r.rotation.as_deref()),
        (2, 1, Some("rate_limited")),
        "{r:?}"
    );
}

#[tokio::test]
async fn configured_prices_win_and_unknown_models_have_none() {
    let prices = "[[prices]]\nmodel = \"gpt-4o\"\ninput = 1.0\noutput = 2.0\n\n\
                  [[prices]]\nprovider = \"openai\"\nmodel = \"house-\"\ninput = 4.0\noutput = 4.0\ncache_read = 0.5\n";
    let mut s = Scenario::new()
        .provider(&every_host())
        .await
        .ok(&["sk-oa"])
        .config(&key_accounts("openai", &[("oa", "sk-oa")]))
        .config(prices);
    let kp = s.start().await;
    let url = "https://api.openai.com/v1/chat/completions";
    for (n, model) in [(1, "gpt-4o"), (2, "house-model-7b"), (3, "no-such-model")] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        send(kp.client().post(url).json(&body), "a chat answer").await;
        let r = row(&kp, n).await;
        // Tokens are counted whether or not the model has a price.
        assert_row(&r, model, CHAT, false);
        match n {
            // Cache reads fall back to the input price when an entry names none.
            1 => assert_cost(&r, usd(&CHAT, (1.0, 2.0, 1.0, 1.0))),
            2 => assert_cost(&r, usd(&CHAT, (4.0, 4.0, 0.5, 4.0))),
            _ => assert_eq!(r.cost_usd, None, "{r:?}"),
        }
    }
}

#[tokio::test]
async fn compressed_answers_are_counted_and_passed_on_compressed() {
    let (_fake, kp) = api_keypool().await;
    let c = kp.client();
    let chat = "https://api.openai.com/v1/chat/completions";
    let streamed = json!({"model": "gpt-4o", "messages": [], "stream": true,
        "stream_options": {"include_usage": true}});
    let cases = [
        ("gzip", json!({"model": "gpt-4o", "messages": []}), false),
        ("deflate", streamed.clone(), true),
        ("gzip", streamed, true),
    ];
    for (n, (encoding, body, stream)) in cases.into_iter().enumerate() {
        let req = (c.post(chat).json(&body))
            .header("accept-encoding", encoding)
            .header("x-fake-compress", encoding);
        let got = send(req, "a compressed answer").await;
        // The client gets the compressed bytes as they came (no reqwest decoding here).
        let magic = if encoding == "gzip" { 0x1f } else { 0x78 };
        assert_eq!(
            got.first(),
            Some(&magic),
            "{encoding} answer passed on as it came"
        );
        assert_row(&row(&kp, n + 1).await, "gpt-4o", CHAT, stream);
    }
}

#[tokio::test]
async fn copilot_answers_are_priced_by_the_models_vendor() {
    let mut w = world().await;
    let id = w.oauth_server().github_identity("seat", "github.com");
    let g = w.oauth_server().grant(&id);
    let entry = json!({"provider": "github-copilot", "refresh_token": g.refresh});
    w.stored_entry("copilot", "github-copilot", entry);
    let kp = w.start().await;
    let url = "https://api.individual.githubcopilot.com/chat/completions";
    for (n, (model, rates)) in [
        ("claude-sonnet-4.5", (3.0, 15.0, 0.3, 3.75)),
        ("gpt-4.1", (2.0, 8.0, 0.5, 2.0)),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        send(
            kp.client().post(url).bearer_auth("client-own").json(&body),
            "a Copilot chat",
        )
        .await;
        let r = row(&kp, n + 1).await;
        assert_row(&r, model, CHAT, false);
        assert_eq!(r.provider, "github-copilot");
        assert_cost(&r, usd(&CHAT, rates));
    }
}
