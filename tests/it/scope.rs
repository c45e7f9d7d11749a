//! Pooled keys go only on a provider's API surface. Claude Code's telemetry, feature
//! flags and MCP-registry calls to api.anthropic.com keep the client's own headers
//! (nothing added, nothing stripped), are sent once, and never cool an account.

use crate::support;
use support::scenario::Scenario;

use serde_json::json;
use support::guard::Within;
use support::keypool::status_json;
use support::Behaviour;

const ACCOUNTS: &str = "[[accounts]]\nname = \"ant\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-pooled\"\n\
                        [[accounts]]\nname = \"gem\"\nprovider = \"google\"\napi_key = \"AIza-pooled\"\n\
                        [[accounts]]\nname = \"or\"\nprovider = \"openrouter\"\napi_key = \"sk-or-pooled\"\n";

#[tokio::test]
async fn only_the_api_paths_get_a_pooled_key() {
    let hosts = [
        "api.anthropic.com",
        "generativelanguage.googleapis.com",
        "openrouter.ai",
    ];
    let mut s = Scenario::new()
        .provider(&hosts)
        .await
        .ok(&["sk-ant-pooled", "AIza-pooled", "sk-or-pooled"])
        .config(ACCOUNTS);
    let fake = s.fake();
    // The client's own key is rate-limited wherever it is used.
    fake.set(
        "sk-ant-client",
        Behaviour::RateLimited {
            retry_after_secs: Some(3600),
        },
    );
    let kp = s.start().await;
    let fake = s.fake();
    let client = kp.client();

    let outside = [
        ("POST", "https://api.anthropic.com/api/event_logging/batch"),
        ("GET", "https://api.anthropic.com/api/claude_code/settings"),
        (
            "GET",
            "https://api.anthropic.com/api/claude_code/organizations/metrics_enabled",
        ),
        (
            "POST",
            "https://api.anthropic.com/v1alpha/growthbook/features",
        ),
        (
            "GET",
            "https://api.anthropic.com/v1/%2e%2e/api/event_logging/batch",
        ),
        ("GET", "https://api.anthropic.com/v1%2fmessages"),
    ];
    for (method, url) in outside {
        let r = client
            .request(method.parse().unwrap(), url)
            .header("x-api-key", "sk-ant-client")
            .header("anthropic-version", "2023-06-01")
            .body("{}")
            .send()
            .within(&format!("the client's own answer for {method} {url}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{url}: the client's own answer");
        assert!(!r.headers().contains_key("x-keypool-account"), "{url}");
        let seen = fake.seen().pop().unwrap();
        assert_eq!(seen.credential.as_deref(), Some("sk-ant-client"), "{url}");
        assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    }
    // The MCP registry call carries no credential, and gets none.
    let r = client
        .get("https://api.anthropic.com/mcp-registry/v0/servers?version=latest")
        .send()
        .within("the answer to the MCP registry call")
        .await
        .unwrap();
    assert!(!r.headers().contains_key("x-keypool-account"));
    let seen = fake.seen().pop().unwrap();
    assert_eq!(seen.credential, None);
    assert!(!seen.headers.contains_key("x-api-key") && !seen.headers.contains_key("authorization"));

    // Those 429s cooled nothing: the API call is served by the account.
    let r = client
        .post("https://api.anthropic.com/v1/messages")
        .header("x-api-key", "sk-ant-client")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []}))
        .send()
        .within("the answer to a message sent with the client's own key")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "ant");
    assert_eq!(
        fake.seen().pop().unwrap().credential.as_deref(),
        Some("sk-ant-pooled")
    );
    // A request inside the scope with no credential at all still gets the pooled key:
    // SDKs always send one (a placeholder through keypool), so this is a client that
    // relies on keypool's.
    let r = client
        .post("https://api.anthropic.com/v1/messages")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []}))
        .send()
        .within("the answer to a message sent without a key")
        .await
        .unwrap();
    assert_eq!(r.headers()["x-keypool-account"], "ant");

    let v = status_json(kp.addr()).await;
    let ant = v["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "anthropic")
        .unwrap();
    assert_eq!(ant["accounts"][0]["state"], "ok");
    assert_eq!(ant["accounts"][0]["requests"], 2);
    assert_eq!(ant["accounts"][0]["last_error"], serde_json::Value::Null);

    // Other providers' surfaces.
    for (url, inside, pooled) in [
        ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", true, "AIza-pooled"),
        ("https://generativelanguage.googleapis.com/$discovery/rest?version=v1beta", false, "AIza-client"),
        ("https://openrouter.ai/api/v1/chat/completions", true, "sk-or-pooled"),
        ("https://openrouter.ai/api/frontend/stats", false, "sk-or-client"),
    ] {
        let own = if url.contains("google") { "AIza-client" } else { "sk-or-client" };
        let r = client
            .post(url)
            .header("x-goog-api-key", own)
            .bearer_auth(own)
            .json(&json!({"model": "m", "messages": [], "contents": []}))
            .send()
            .within(&format!("the answer for {url} with the client's own key")).await
            .unwrap();
        assert_eq!(r.headers().contains_key("x-keypool-account"), inside, "{url}");
        assert_eq!(fake.seen().pop().unwrap().credential.as_deref(), Some(pooled), "{url}");
    }
}

#[test]
fn a_custom_provider_can_name_its_api_paths() {
    let parse = |extra: &str| {
        keypool::Config::parse(
            &format!("[[providers]]\nid = \"llm\"\nhosts = [\"llm.example\"]\nauth = \"bearer\"\n{extra}\n"),
            std::path::Path::new("config.toml"),
        )
    };
    let c = parse("paths = [\"/v1/\", \"/health/check\"]").unwrap();
    let p = c.registry.by_id("llm").unwrap();
    use keypool::providers::Kind::ApiKey;
    assert!(p.covers("/v1/chat/completions", ApiKey));
    assert!(p.covers("/health/check", ApiKey));
    assert!(!p.covers("/health/checkup", ApiKey));
    assert!(!p.covers("/metrics", ApiKey));
    assert!(!p.covers("/v1/../metrics", ApiKey));
    // Without `paths`: every path is the operator's endpoint.
    assert!(parse("")
        .unwrap()
        .registry
        .by_id("llm")
        .unwrap()
        .covers("/anything", ApiKey));
    for bad in ["paths = []", "paths = [\"v1/\"]", "paths = [\"/v1/../x\"]"] {
        let e = parse(bad).unwrap_err().0;
        assert!(
            e.starts_with("config.toml:5:") && e.contains("fix:"),
            "{bad}: {e}"
        );
    }
}
