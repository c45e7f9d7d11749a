//! The fake provider's subscription routes (Codex backend, Anthropic OAuth
//! metadata, Copilot, Cloud Code), talked to directly.

use crate::support::guard::Within;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use super::{json_of, sse_events};
use crate::support::scenario::Scenario;
use crate::support::{every_host, Behaviour, FakeProvider, Owner, Service, TestCa};

const REPLY: &str = "Hello from the fake provider.";
const CODEX: &str = "https://chatgpt.com/backend-api/codex/responses";

/// The CA and the fake on every host, from a scenario that never starts keypool.
async fn start() -> (TestCa, FakeProvider) {
    Scenario::new().provider(&every_host()).await.into_fake()
}

fn codex_owner(account: &str) -> Owner {
    Owner {
        service: Some(Service::Codex),
        account_id: Some(account.into()),
        email: Some("a@example.com".into()),
        plan: Some("pro".into()),
        project: None,
        device_headers: false,
    }
}

fn codex_request(fake: &FakeProvider, token: &str, account: &str) -> reqwest::RequestBuilder {
    fake.direct_client()
        .post(CODEX)
        .bearer_auth(token)
        .header("ChatGPT-Account-ID", account)
        .header("content-type", "application/json")
        .body(
            json!({"model": "gpt-5-codex", "stream": true, "store": false, "input": []})
                .to_string(),
        )
}

#[tokio::test]
async fn codex_sse_streams_responses_events_with_usage_headers() {
    let (_ca, fake) = start().await;
    fake.set("at-1", Behaviour::Ok);
    fake.set_owner("at-1", codex_owner("acct-1"));

    let resp = codex_request(&fake, "at-1", "acct-1")
        .send()
        .within("the fake's Codex stream head")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(resp.headers()["x-codex-primary-window-minutes"], "300");
    assert_eq!(resp.headers()["x-codex-plan-type"], "pro");
    let events = sse_events(
        &resp
            .text()
            .within("the fake's whole Codex stream")
            .await
            .unwrap(),
    );
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"response.created"));
    assert_eq!(names.last(), Some(&"response.completed"));
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "event name equals payload type"
        );
    }
    let text: String = (events.iter())
        .filter(|(name, _)| name == "response.output_text.delta")
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, REPLY);
    let completed = &events.last().unwrap().1;
    assert_eq!(completed["response"]["status"], "completed");
    assert_eq!(completed["response"]["model"], "gpt-5-codex");

    let seen = &fake.seen()[0];
    assert_eq!(seen.host.as_deref(), Some("chatgpt.com"));
    assert_eq!(seen.headers["chatgpt-account-id"], "acct-1");
    assert_eq!(seen.credential.as_deref(), Some("at-1"));
}

#[tokio::test]
async fn codex_refuses_a_foreign_account_header_and_bad_tokens() {
    let (_ca, fake) = start().await;
    fake.set("at-1", Behaviour::Ok);
    fake.set_owner("at-1", codex_owner("acct-1"));
    fake.set("at-expired", Behaviour::Unauthorized);
    fake.set(
        "at-limited",
        Behaviour::RateLimited {
            retry_after_secs: Some(600),
        },
    );

    let resp = codex_request(&fake, "at-1", "acct-2")
        .send()
        .within("the fake's answer to Codex with a mismatched account id")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(json_of(resp).await["detail"]
        .as_str()
        .unwrap()
        .contains("acct-2"));

    let resp = codex_request(&fake, "at-unknown", "acct-1")
        .send()
        .within("the fake's answer to an unknown Codex token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], "token_invalidated");
    assert_eq!(body["status"], 401);

    let resp = codex_request(&fake, "at-expired", "acct-1")
        .send()
        .within("the fake's answer to an expired Codex token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(json_of(resp).await["error"]["code"], "token_expired");

    let resp = codex_request(&fake, "at-limited", "acct-1")
        .send()
        .within("the fake's answer to a limited Codex token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let reset_header: u64 = resp.headers()["x-codex-primary-reset-at"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = json_of(resp).await;
    assert_eq!(body["error"]["type"], "usage_limit_reached");
    assert_eq!(body["error"]["resets_at"], reset_header);
    assert_eq!(body["error"]["resets_in_seconds"], 600);

    // A token bound to the Codex backend is unknown to the platform API.
    let resp = fake
        .direct_client()
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("at-1")
        .body(json!({"model": "gpt-4o"}).to_string())
        .send()
        .within("the fake's answer to a Codex token on the API host")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn codex_websocket_answers_each_response_create() {
    let (ca, fake) = start().await;
    fake.set("at-ws", Behaviour::Ok);
    let mut req = "wss://chatgpt.com/backend-api/codex/responses"
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer at-ws".parse().unwrap());
    req.headers_mut()
        .insert("chatgpt-account-id", "acct-ws".parse().unwrap());
    let tls = ca.connect_tls(fake.addr(), "chatgpt.com").await;
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tls)
        .within("the WebSocket handshake with the fake Codex")
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);

    for turn in 0..2 {
        let create = json!({"type": "response.create", "model": "gpt-5-codex", "input": []});
        ws.send(Message::text(create.to_string()))
            .within(&format!("the fake taking response.create in turn {turn}"))
            .await
            .unwrap();
        let mut types = Vec::new();
        while types.last().map(String::as_str) != Some("response.completed") {
            let frame = ws
                .next()
                .within(&format!("the next Codex WebSocket event in turn {turn}"))
                .await
                .expect("open")
                .unwrap();
            let event: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
            types.push(event["type"].as_str().unwrap().to_string());
        }
        assert_eq!(types[0], "response.created", "turn {turn}");
    }
    ws.send(Message::text(json!({"type": "bogus"}).to_string()))
        .within("the fake taking a bogus frame")
        .await
        .unwrap();
    let frame = ws
        .next()
        .within("the error frame for the bogus frame")
        .await
        .unwrap()
        .unwrap();
    let error: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(error["type"], "error");
    ws.close(None)
        .within("the WebSocket close handshake")
        .await
        .unwrap();
    assert_eq!(fake.seen()[0].headers["chatgpt-account-id"], "acct-ws");
}

#[tokio::test]
async fn codex_metadata_routes_report_the_owner() {
    let (_ca, fake) = start().await;
    fake.set("at-own", Behaviour::Ok);
    fake.set_owner("at-own", codex_owner("acct-own"));
    let get = |path: &str| {
        fake.direct_client()
            .get(format!("https://chatgpt.com{path}"))
            .bearer_auth("at-own")
            .send()
    };

    let resp = get("/backend-api/wham/accounts/check")
        .within("the fake's accounts/check answer")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["account_ordering"], json!(["acct-own"]));
    assert_eq!(body["accounts"]["acct-own"]["account"]["plan_type"], "pro");

    let body = json_of(
        get("/backend-api/wham/usage")
            .within("the fake's usage answer")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        body["rate_limit"]["primary_window"]["limit_window_seconds"],
        18000
    );
    assert_eq!(fake.credentials_seen(), ["at-own", "at-own"]);
}

#[tokio::test]
async fn anthropic_accepts_oauth_bearer_only_with_the_beta_flag() {
    let (_ca, fake) = start().await;
    let token = "sk-ant-oat01-fake";
    fake.set(token, Behaviour::Ok);
    let messages = |beta: Option<&str>| {
        let mut req = fake
            .direct_client()
            .post("https://api.anthropic.com/v1/messages?beta=true")
            .bearer_auth(token)
            .header("anthropic-version", "2023-06-01")
            .body(
                json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}).to_string(),
            );
        if let Some(beta) = beta {
            req = req.header("anthropic-beta", beta);
        }
        req.send()
    };

    let resp = messages(Some("claude-code-20250219,oauth-2025-04-20"))
        .within("the fake's answer with the OAuth beta flag")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["content"][0]["text"], REPLY);
    assert_eq!(fake.seen()[0].query.as_deref(), Some("beta=true"));

    let resp = messages(None)
        .within("the fake's answer without the beta flag")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = json_of(resp).await;
    assert_eq!(
        body["error"]["message"],
        "OAuth authentication is currently not supported."
    );

    // The same token as an API key is refused.
    let resp = fake
        .direct_client()
        .post("https://api.anthropic.com/v1/messages")
        .header("x-api-key", token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .body("{}")
        .send()
        .within("the fake's answer to the token as an API key")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(json_of(resp).await["error"]["message"], "invalid x-api-key");

    fake.set(token, Behaviour::Unauthorized);
    let resp = messages(Some("oauth-2025-04-20"))
        .within("the fake's answer to a revoked OAuth token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = json_of(resp).await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("OAuth token has expired"));
}

#[tokio::test]
async fn anthropic_oauth_profile_and_usage_report_the_owner() {
    let (_ca, fake) = start().await;
    let token = "sk-ant-oat01-meta";
    fake.set(token, Behaviour::Ok);
    fake.set_owner(
        token,
        Owner {
            service: Some(Service::Anthropic),
            account_id: Some("uuid-meta".into()),
            email: Some("meta@example.com".into()),
            plan: Some("max".into()),
            project: None,
            device_headers: false,
        },
    );
    let get = |path: &str| {
        fake.direct_client()
            .get(format!("https://api.anthropic.com{path}"))
            .bearer_auth(token)
            .header("anthropic-beta", "oauth-2025-04-20")
            .send()
    };
    let profile = json_of(
        get("/api/oauth/profile")
            .within("the fake's profile answer")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(profile["account"]["uuid"], "uuid-meta");
    assert_eq!(profile["account"]["email"], "meta@example.com");
    assert_eq!(profile["account"]["has_claude_max"], true);
    let usage = json_of(
        get("/api/oauth/usage")
            .within("the fake's usage answer")
            .await
            .unwrap(),
    )
    .await;
    assert!(usage["five_hour"]["utilization"].is_number());
    assert!(usage["seven_day"]["resets_at"].is_string());
}

#[tokio::test]
async fn copilot_serves_chat_and_models_and_refuses_unknown_tokens() {
    let (_ca, fake) = start().await;
    fake.set("tid=cop;exp=1", Behaviour::Ok);
    let client = fake.direct_client();
    for host in [
        "api.individual.githubcopilot.com",
        "api.business.githubcopilot.com",
    ] {
        let resp = client
            .post(format!("https://{host}/chat/completions"))
            .bearer_auth("tid=cop;exp=1")
            .header("copilot-integration-id", "vscode-chat")
            .body(json!({"model": "gpt-4o", "messages": []}).to_string())
            .send()
            .within(&format!("the fake Copilot chat answer on {host}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp
            .headers()
            .get("x-ratelimit-remaining-requests")
            .is_none());
        assert_eq!(
            json_of(resp).await["choices"][0]["message"]["content"],
            REPLY
        );
    }
    let models = client
        .get("https://api.githubcopilot.com/models")
        .bearer_auth("tid=cop;exp=1")
        .send()
        .within("the fake Copilot models list")
        .await
        .unwrap();
    let models = json_of(models).await;
    assert_eq!(models["object"], "list");
    assert!(models["data"].as_array().unwrap().len() >= 2);

    let resp = client
        .get("https://api.individual.githubcopilot.com/models")
        .bearer_auth("tid=unknown")
        .send()
        .within("the fake Copilot answer to an unknown token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp
        .text()
        .within("the fake Copilot 401 body")
        .await
        .unwrap()
        .starts_with("unauthorized:"));
}

#[tokio::test]
async fn cloud_code_wraps_responses_and_checks_the_project() {
    let (_ca, fake) = start().await;
    fake.set("ya29.cc", Behaviour::Ok);
    fake.set_project("ya29.cc", "proj-1");
    let post = |method: &str, body: Value| {
        fake.direct_client()
            .post(format!(
                "https://cloudcode-pa.googleapis.com/v1internal:{method}"
            ))
            .bearer_auth("ya29.cc")
            .body(body.to_string())
            .send()
    };

    let load = json_of(
        post("loadCodeAssist", json!({"metadata": {}}))
            .within("the fake's loadCodeAssist answer")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(load["cloudaicompanionProject"], "proj-1");
    assert_eq!(load["currentTier"]["id"], "standard-tier");

    let inner = json!({"contents": []});
    let request =
        |project: &str| json!({"model": "gemini-2.5-pro", "project": project, "request": inner});
    let resp = post("generateContent", request("proj-1"))
        .within("the fake's generateContent answer for the right project")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(
        body["response"]["candidates"][0]["content"]["parts"][0]["text"],
        REPLY
    );
    assert!(body["traceId"].is_string());

    let resp = post("generateContent", request("proj-other"))
        .within("the fake's generateContent answer for another project")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(json_of(resp).await["error"]["status"], "PERMISSION_DENIED");

    let resp = post("streamGenerateContent?alt=sse", request("proj-1"))
        .within("the fake's Cloud Code SSE head")
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp
        .text()
        .within("the fake's whole Cloud Code SSE body")
        .await
        .unwrap();
    let chunks: Vec<Value> = (text.split("\r\n\r\n"))
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let joined: String = (chunks.iter())
        .map(|c| {
            c["response"]["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(joined, REPLY);

    fake.set(
        "ya29.cc",
        Behaviour::RateLimited {
            retry_after_secs: Some(7),
        },
    );
    let resp = post("generateContent", request("proj-1"))
        .within("the fake's generateContent answer while limited")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body = json_of(resp).await;
    let details = body["error"]["details"].as_array().unwrap();
    assert!(details.iter().any(|d| d["reason"] == "RATE_LIMIT_EXCEEDED"));
    assert!(details.iter().any(|d| d["retryDelay"] == "7s"));
}
