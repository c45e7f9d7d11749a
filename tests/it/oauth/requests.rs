//! The account-bound parts of subscription requests: Codex's account header (HTTP and
//! WebSocket), metadata paths left alone, Claude Code's `account_uuid`, Copilot's token
//! exchange and API host, Code Assist's project, and requests keeping their kind.

use super::linked::codex_request;
use super::{claude_message, read_json, world};
use crate::support::guard::Within;
use crate::support::{Behaviour, Flavor};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn codex_token_and_account_id_swapped_on_http_and_websocket() {
    let mut w = world().await;
    let id = w.oauth_server().identity(Flavor::Codex, "pro");
    let g = w.stored_login("codex-pro", "openai-codex", &id, HOUR);
    let kp = w.start().await;

    let r = codex_request(&kp).await;
    assert_eq!(r.status(), 200);
    let seen = w.fake().seen().pop().unwrap();
    assert_eq!(seen.credential.as_deref(), Some(g.access.as_str()));
    assert_eq!(seen.headers["chatgpt-account-id"], id.account_id.as_str());
    assert_eq!(seen.headers.get_all("chatgpt-account-id").iter().count(), 1);

    let tls = kp.tls_through("chatgpt.com", &kp.ca_pem()).await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = "wss://chatgpt.com/backend-api/codex/responses"
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert(
        "authorization",
        "Bearer client-own-chatgpt-token".parse().unwrap(),
    );
    h.insert("ChatGPT-Account-ID", "client-own-account".parse().unwrap());
    h.insert(
        "openai-beta",
        "responses_websockets=2026-02-06".parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tls)
        .within("the WebSocket handshake through keypool")
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-keypool-account"], "codex-pro");
    let handshake = w.fake().seen().pop().unwrap();
    assert_eq!(handshake.credential.as_deref(), Some(g.access.as_str()));
    assert_eq!(
        handshake.headers["chatgpt-account-id"],
        id.account_id.as_str()
    );
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"type": "response.create", "model": "gpt-5-codex", "input": []}).to_string(),
    ))
    .within("keypool taking response.create on the WebSocket")
    .await
    .unwrap();
    let first: Value = serde_json::from_str(
        ws.next()
            .within("the first Codex event on the WebSocket")
            .await
            .unwrap()
            .unwrap()
            .to_text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["type"], "response.created");
}

#[tokio::test]
async fn metadata_paths_keep_the_clients_own_login() {
    let mut w = world().await;
    let cid = w.oauth_server().identity(Flavor::Codex, "pool");
    w.stored_login("codex", "openai-codex", &cid, HOUR);
    let aid = w.oauth_server().identity(Flavor::Anthropic, "pool");
    w.stored_login("max", "anthropic", &aid, HOUR);
    let kp = w.start().await;
    w.fake().set("client-own-chatgpt-token", Behaviour::Ok);
    w.fake().set("sk-ant-oat01-client-own", Behaviour::Ok);

    kp.client()
        .get("https://chatgpt.com/backend-api/wham/accounts/check")
        .bearer_auth("client-own-chatgpt-token")
        .header("chatgpt-account-id", "client-own-account")
        .send()
        .within("the answer to accounts/check with the client's own login")
        .await
        .unwrap();
    let seen = w.fake().seen().pop().unwrap();
    assert_eq!(seen.path, "/backend-api/wham/accounts/check");
    assert_eq!(seen.credential.as_deref(), Some("client-own-chatgpt-token"));
    assert_eq!(seen.headers["chatgpt-account-id"], "client-own-account");

    for path in ["/api/oauth/profile", "/api/oauth/usage"] {
        kp.client()
            .get(format!("https://api.anthropic.com{path}"))
            .bearer_auth("sk-ant-oat01-client-own")
            .header("anthropic-beta", "oauth-2025-04-20")
            .send()
            .within(&format!("the answer to {path} with the client's own login"))
            .await
            .unwrap();
        let seen = w.fake().seen().pop().unwrap();
        assert_eq!(seen.path, path);
        assert_eq!(seen.credential.as_deref(), Some("sk-ant-oat01-client-own"));
    }
}

#[tokio::test]
async fn account_uuid_is_rewritten_only_inside_metadata_user_id() {
    let mut w = world().await;
    let id = w.oauth_server().identity(Flavor::Anthropic, "max");
    w.stored_login("max", "anthropic", &id, HOUR);
    let kp = w.start().await;
    let client_uuid = "00000000-0000-4000-8000-000000000000";
    assert_eq!(client_uuid.len(), id.account_id.len());
    let user_id =
        json!({"device_id": "dev-1", "account_uuid": client_uuid, "session_id": "sess-1"})
            .to_string();
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "system": [{"type": "text", "text": format!("account_uuid {client_uuid}")}],
        "messages": [{"role": "user", "content": format!("{{\"account_uuid\":\"{client_uuid}\"}}")}],
        "metadata": {"user_id": user_id},
    })
    .to_string();
    let r = kp
        .client()
        .post("https://api.anthropic.com/v1/messages?beta=true")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .within("the answer to the message with a metadata user id")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = w.fake().seen().pop().unwrap();
    assert_eq!(seen.body.len(), body.len(), "same length");
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    let inner: Value = serde_json::from_str(sent["metadata"]["user_id"].as_str().unwrap()).unwrap();
    assert_eq!(inner["account_uuid"], id.account_id.as_str());
    assert_eq!(inner["session_id"], "sess-1");
    let mut expected: Value = serde_json::from_str(&body).unwrap();
    expected["metadata"] = sent["metadata"].clone();
    assert_eq!(
        sent, expected,
        "nothing else changed: system and user content keep the client's uuid"
    );
    let text = String::from_utf8(seen.body.to_vec()).unwrap();
    assert_eq!(text.matches(client_uuid).count(), 2);
}

#[tokio::test]
async fn copilot_token_is_exchanged_once_cached_renewed_and_sent_to_the_accounts_host() {
    let mut w = world().await;
    let id = w.oauth_server().github_identity("seat", "github.com");
    let g = w.oauth_server().grant(&id);
    w.oauth_server().set_copilot_refresh_in(1500);
    w.oauth_server()
        .set_copilot_api(&g.refresh, "https://api.business.githubcopilot.com");
    // A GitHub login is its refresh token alone: the Copilot token comes from the exchange.
    let entry = json!({"provider": "github-copilot", "refresh_token": g.refresh});
    w.stored_entry("copilot", "github-copilot", entry);
    let kp = w.start().await;
    let chat = || async {
        kp.client()
            .post("https://api.individual.githubcopilot.com/chat/completions")
            .bearer_auth("client-own-copilot-token")
            .header("content-type", "application/json")
            .body(
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
                    .to_string(),
            )
            .send()
            .within("the answer to a Copilot chat through keypool")
            .await
            .unwrap()
    };
    assert_eq!(chat().await.status(), 200);
    assert_eq!(chat().await.status(), 200);
    assert_eq!(w.oauth_server().copilot_exchanges(), 1, "cached");
    let seen = w.fake().seen();
    let first = &seen[seen.len() - 2];
    assert_eq!(
        first.host.as_deref(),
        Some("api.business.githubcopilot.com")
    );
    let t1 = first.credential.clone().unwrap();
    assert!(t1.starts_with("tid="), "{t1}");
    assert_ne!(
        t1, g.refresh,
        "the GitHub token itself never goes to the Copilot API"
    );

    w.manual_clock().advance(Duration::from_secs(1501));
    assert_eq!(chat().await.status(), 200);
    assert_eq!(
        w.oauth_server().copilot_exchanges(),
        2,
        "renewed after refresh_in"
    );
    assert_ne!(w.fake().seen().pop().unwrap().credential.unwrap(), t1);
}

#[tokio::test]
async fn code_assist_project_is_discovered_once_and_rewritten() {
    let mut w = world().await;
    let id = w.oauth_server().identity(Flavor::Google, "paid");
    let project = id
        .project
        .clone()
        .expect("the fake gives Google identities a project");
    w.stored_login("gemini", "google-gemini-cli", &id, HOUR);
    let kp = w.start().await;
    for _ in 0..2 {
        let r = kp
            .client()
            .post("https://cloudcode-pa.googleapis.com/v1internal:generateContent")
            .bearer_auth("ya29.client-own")
            .header("content-type", "application/json")
            .body(json!({"model": "gemini-2.5-pro", "project": "client-own-project", "request": {"contents": []}}).to_string())
            .send()
            .within("the answer to a Cloud Code request through keypool").await
            .unwrap();
        assert_eq!(r.status(), 200);
        let seen = w.fake().seen().pop().unwrap();
        let sent: Value = serde_json::from_slice(&seen.body).unwrap();
        assert_eq!(sent["project"], project.as_str());
        assert_eq!(sent["request"], json!({"contents": []}));
    }
    let discoveries = w
        .fake()
        .seen()
        .iter()
        .filter(|r| r.path == "/v1internal:loadCodeAssist")
        .count();
    assert_eq!(discoveries, 1);
    let saved = read_json(&kp.home_path("credentials.json"));
    assert_eq!(saved["accounts"]["gemini"]["project"], project.as_str());
}

#[tokio::test]
async fn a_request_keeps_its_kind_unless_the_pool_mixes_them() {
    let mut w = world().await.ok(&["sk-ant-api-pooled"]);
    let id = w.oauth_server().identity(Flavor::Anthropic, "max");
    w.stored_login("max", "anthropic", &id, HOUR);
    let mut w = w.keys("anthropic", &[("key", "sk-ant-api-pooled")]);
    let kp = w.start().await;
    for _ in 0..3 {
        let r = claude_message(&kp).await;
        assert_eq!(
            r.headers()["x-keypool-account"],
            "max",
            "a subscription request"
        );
        let r = kp
            .client()
            .post("https://api.anthropic.com/v1/messages")
            .header("x-api-key", "sk-ant-placeholder")
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json")
            .body(json!({"model": "m", "max_tokens": 1, "messages": []}).to_string())
            .send()
            .within("the answer to an API-key request in the mixed pool")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-keypool-account"],
            "key",
            "an API-key request"
        );
        let seen = w.fake().seen().pop().unwrap();
        assert_eq!(seen.headers["x-api-key"], "sk-ant-api-pooled");
        assert!(seen.headers.get("authorization").is_none());
    }
}
