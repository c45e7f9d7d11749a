//! Placed providers through keypool over real TLS: each account lives somewhere of its
//! own (an Azure resource, an AWS region, a Cloudflare account and gateway), and a
//! request sent on it goes there: host, SNI, path and credentials rewritten to the
//! account's, the client's own credentials never upstream. A 429 on one place is replayed
//! on the next; an Azure account without the deployment the path names is passed over;
//! a host that only looks like a provider's is tunnelled blind.

use crate::support;

use http::HeaderMap;
use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::{read_head, status_json, tls_connect};
use support::scenario::Scenario;
use tokio::io::AsyncWriteExt;

use support::fake::Behaviour;

const CLIENT_KEY: &str = "client-own-key-3f2e1d";
const CLIENT_CF: &str = "client-own-cf-token-9a8b";

const HOSTS: &[&str] = &[
    "res-a.openai.azure.com",
    "res-b.openai.azure.com",
    "res-b.cognitiveservices.azure.com",
    "bedrock-runtime.us-east-1.amazonaws.com",
    "bedrock-runtime.eu-west-1.amazonaws.com",
    "gateway.ai.cloudflare.com",
];

fn chat() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

/// Azure's 429: `retry-after-ms` (and no `retry-after`), its error body.
fn azure_429() -> Behaviour {
    Behaviour::Verbatim {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after-ms".into(), "2500".into()),
            ("x-ratelimit-remaining-tokens".into(), "0".into()),
        ],
        body: json!({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create \
            Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit \
            of your current AIServices S0 pricing tier. Please retry after 3 seconds."}})
        .to_string(),
    }
}

/// No header carries a credential of the client's.
fn assert_no_client_secret(headers: &HeaderMap, what: &str) {
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !v.contains(CLIENT_KEY) && !v.contains(CLIENT_CF),
            "{what}: the client's credential in {name}"
        );
    }
}

fn account_state<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["pools"][0]["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("no account {name} in {status}"))
}

fn azure(name: &str, resource: &str, key: &str, extra: &str) -> String {
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"azure-openai-responses\"\n\
         api_key = \"{key}\"\nresource = \"{resource}\"\n{extra}\n"
    )
}

#[tokio::test]
async fn a_429_on_one_azure_resource_is_replayed_on_the_other_with_its_host_and_key() {
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .behaviour("az-key-a", azure_429())
        .ok(&["az-key-b"])
        .config(&azure("res-a", "res-a", "az-key-a", ""))
        .config(&azure("res-b", "res-b", "az-key-b", ""));
    let kp = s.start().await;
    let path = "/openai/deployments/gpt-4o/chat/completions";
    let r = kp
        .client()
        .post(format!(
            "https://res-a.openai.azure.com{path}?api-version=2024-10-21"
        ))
        .header("api-key", CLIENT_KEY)
        .json(&chat())
        .send()
        .within("a chat completion on Azure through keypool")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "res-b");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    let body: Value = r.json().within("the answer").await.unwrap();
    assert_eq!(body["object"], "chat.completion");

    let seen = s.fake().seen();
    let [a, b] = &seen[..] else {
        panic!("two attempts upstream, got {}", seen.len())
    };
    for (req, host, key) in [
        (a, "res-a.openai.azure.com", "az-key-a"),
        (b, "res-b.openai.azure.com", "az-key-b"),
    ] {
        assert_eq!(req.host.as_deref(), Some(host));
        assert_eq!(req.path, path);
        assert_eq!(req.query.as_deref(), Some("api-version=2024-10-21"));
        assert_eq!(req.headers["api-key"], key, "{host}");
        assert!(!req.headers.contains_key("authorization"), "{host}");
        assert_no_client_secret(&req.headers, host);
    }
    let sni = s.fake().sni_seen();
    assert!(sni.iter().any(|h| h == "res-b.openai.azure.com"), "{sni:?}");
    let status = status_json(kp.addr()).await;
    let limited = account_state(&status, "res-a");
    assert_eq!(limited["state"], "cooling", "{status}");
    // retry-after-ms 2500 is read (3 s rounded up), not the 60 s default.
    let left = limited["until"].as_u64().unwrap() - status["now"].as_u64().unwrap();
    assert!((2..=4).contains(&left), "cools {left}s: {status}");
}

#[tokio::test]
async fn the_deployment_map_names_each_resources_own_and_skips_an_account_without_it() {
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .ok(&["az-key-a", "az-key-b"])
        .config(&azure(
            "res-a",
            "res-a",
            "az-key-a",
            "deployments = { \"gpt-4o\" = \"a-4o\" }",
        ))
        .config(&azure(
            "res-b",
            "res-b",
            "az-key-b",
            "deployments = { \"gpt-4o\" = \"b-4o\", \"mini\" = \"b-mini\" }",
        ));
    let kp = s.start().await;
    let send = |dep: &'static str| {
        kp.client()
            .post(format!(
                "https://res-a.openai.azure.com/openai/deployments/{dep}/chat/completions?api-version=2024-10-21"
            ))
            .header("api-key", CLIENT_KEY)
            .json(&chat())
            .send()
    };
    let r = send("gpt-4o").within("gpt-4o").await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.headers()["x-keypool-account"]
        .to_str()
        .unwrap()
        .to_string();
    // Only res-b has a "mini": res-a is passed over, never sent a path it lacks.
    for _ in 0..2 {
        let r = send("mini").within("mini").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "res-b");
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    let seen = s.fake().seen();
    assert_eq!(seen.len(), 3);
    let (want_host, want_path) = if first == "res-a" {
        (
            "res-a.openai.azure.com",
            "/openai/deployments/a-4o/chat/completions",
        )
    } else {
        (
            "res-b.openai.azure.com",
            "/openai/deployments/b-4o/chat/completions",
        )
    };
    assert_eq!(seen[0].host.as_deref(), Some(want_host));
    assert_eq!(seen[0].path, want_path);
    for req in &seen[1..] {
        assert_eq!(req.host.as_deref(), Some("res-b.openai.azure.com"));
        assert_eq!(req.path, "/openai/deployments/b-mini/chat/completions");
        assert_eq!(req.headers["api-key"], "az-key-b");
    }
}

#[tokio::test]
async fn the_v1_api_gets_the_key_as_bearer_on_the_accounts_resource() {
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .ok(&["az-key-b"])
        .config(&azure("res-b", "res-b", "az-key-b", ""));
    let kp = s.start().await;
    // The client's own resource is res-a, on the cognitiveservices host form.
    let r = kp
        .client()
        .post("https://res-a.cognitiveservices.azure.com/openai/v1/responses")
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"model": "gpt-4o", "input": "hi"}))
        .send()
        .within("a v1 Responses call")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.fake().seen();
    let req = seen.last().unwrap();
    assert_eq!(
        req.host.as_deref(),
        Some("res-b.cognitiveservices.azure.com")
    );
    assert_eq!(req.path, "/openai/v1/responses");
    assert_eq!(req.headers["authorization"], "Bearer az-key-b");
    assert!(!req.headers.contains_key("api-key"));
    assert_no_client_secret(&req.headers, "v1");
    assert!(s
        .fake()
        .sni_seen()
        .iter()
        .any(|h| h == "res-b.cognitiveservices.azure.com"));
}

/// Azure's Responses API sends `x-ratelimit-*-tokens: -1` and no `retry-after` on a
/// success: the answer passes, the account stays in service, nothing says it is empty.
#[tokio::test]
async fn minus_one_rate_limit_headers_are_unknown_not_an_empty_window() {
    let ok_minus_one = Behaviour::Verbatim {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-limit-tokens".into(), "-1".into()),
            ("x-ratelimit-remaining-tokens".into(), "-1".into()),
            ("x-ratelimit-remaining-requests".into(), "-1".into()),
        ],
        body: json!({"id": "resp_1", "object": "response", "status": "completed",
                     "model": "gpt-4o", "output": []})
        .to_string(),
    };
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .behaviour("az-key-a", ok_minus_one)
        .config(&azure("res-a", "res-a", "az-key-a", ""));
    let kp = s.start().await;
    for _ in 0..2 {
        let r = kp
            .client()
            .post("https://res-a.openai.azure.com/openai/v1/responses")
            .header("api-key", CLIENT_KEY)
            .json(&json!({"model": "gpt-4o", "input": "hi"}))
            .send()
            .within("a Responses call answered with -1 headers")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    let status = status_json(kp.addr()).await;
    let a = account_state(&status, "res-a");
    assert_eq!(a["state"], "ok", "{status}");
    assert!(a["tightest"].is_null(), "no window learned from -1: {a}");
    assert_eq!(s.fake().seen().len(), 2);
}

fn gateway(name: &str, acct: &str, gw: &str, token: &str, provider_key: Option<&str>) -> String {
    let pk = provider_key.map_or(String::new(), |k| format!("provider_key = \"{k}\"\n"));
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"cloudflare-ai-gateway\"\n\
         api_key = \"{token}\"\naccount_id = \"{acct}\"\ngateway_id = \"{gw}\"\n{pk}\n"
    )
}

#[tokio::test]
async fn two_cloudflare_gateways_get_both_ids_and_both_credentials_rewritten() {
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .limited("sk-up-a", 30)
        .ok(&["sk-up-b", "sk-ant-up-b"])
        .config(&gateway(
            "gw-a",
            "acct0a",
            "gw-a",
            "cf-tok-a",
            Some("sk-up-a"),
        ))
        .config(&gateway(
            "gw-b",
            "acct0b",
            "gw-b",
            "cf-tok-b",
            Some("sk-up-b"),
        ));
    let kp = s.start().await;
    let r = kp
        .client()
        .post("https://gateway.ai.cloudflare.com/v1/client0acct/client-gw/openai/chat/completions")
        .bearer_auth(CLIENT_KEY)
        .header("cf-aig-authorization", format!("Bearer {CLIENT_CF}"))
        .json(&chat())
        .send()
        .within("a chat completion through the gateway")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "gw-b");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    let seen = s.fake().seen();
    let [a, b] = &seen[..] else {
        panic!("two attempts, got {}", seen.len())
    };
    for (req, acct, gw, token, key) in [
        (a, "acct0a", "gw-a", "cf-tok-a", "sk-up-a"),
        (b, "acct0b", "gw-b", "cf-tok-b", "sk-up-b"),
    ] {
        assert_eq!(req.host.as_deref(), Some("gateway.ai.cloudflare.com"));
        assert_eq!(req.path, format!("/v1/{acct}/{gw}/openai/chat/completions"));
        assert_eq!(
            req.headers["cf-aig-authorization"],
            format!("Bearer {token}")
        );
        assert_eq!(req.headers["authorization"], format!("Bearer {key}"));
        assert_eq!(
            req.headers.get_all("cf-aig-authorization").iter().count(),
            1
        );
        assert_no_client_secret(&req.headers, acct);
    }
    let status = status_json(kp.addr()).await;
    assert_eq!(account_state(&status, "gw-a")["state"], "cooling");

    // Anthropic behind the gateway: its key in x-api-key, beside the gateway token.
    s.fake().set("sk-up-b", Behaviour::Ok);
    let r = kp
        .client()
        .post("https://gateway.ai.cloudflare.com/v1/client0acct/client-gw/anthropic/v1/messages")
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("messages through the gateway")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.fake().seen();
    let req = seen.last().unwrap();
    assert_eq!(req.path, "/v1/acct0b/gw-b/anthropic/v1/messages");
    assert_eq!(req.headers["x-api-key"], "sk-up-b");
    assert!(!req.headers.contains_key("authorization"));
    assert_eq!(req.headers["cf-aig-authorization"], "Bearer cf-tok-b");
}

/// BYOK or unified billing: no provider key. The client's provider key is stripped all
/// the same (the gateway holds the keys; a client's key would override them, and it
/// belongs to the client's setup, not to this account), the gateway token is the
/// account's.
#[tokio::test]
async fn a_gateway_account_without_a_provider_key_sends_only_its_token() {
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .ok(&["cf-tok-byok"])
        .config(&gateway("byok", "acct0c", "gw-c", "cf-tok-byok", None));
    let kp = s.start().await;
    let r = kp
        .client()
        .post("https://gateway.ai.cloudflare.com/v1/client0acct/client-gw/compat/chat/completions")
        .bearer_auth(CLIENT_KEY)
        .header("cf-aig-authorization", format!("Bearer {CLIENT_CF}"))
        .json(&json!({"model": "openai/gpt-4o", "messages": []}))
        .send()
        .within("a compat call through a BYOK gateway")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.fake().seen();
    let req = seen.last().unwrap();
    assert_eq!(req.path, "/v1/acct0c/gw-c/compat/chat/completions");
    assert!(!req.headers.contains_key("authorization"));
    assert_eq!(req.headers["cf-aig-authorization"], "Bearer cf-tok-byok");
    assert_no_client_secret(&req.headers, "byok");
}

#[tokio::test]
async fn bedrock_keys_in_two_regions_each_go_to_their_own_regions_host() {
    let bedrock = |name: &str, region: &str, key: &str| {
        format!(
            "[[accounts]]\nname = \"{name}\"\nprovider = \"amazon-bedrock\"\n\
             api_key = \"{key}\"\nregion = \"{region}\"\n"
        )
    };
    let mut s = Scenario::new()
        .provider(HOSTS)
        .await
        .limited("br-key-east", 30)
        .ok(&["br-key-west"])
        .config(&bedrock("east", "us-east-1", "br-key-east"))
        .config(&bedrock("west", "eu-west-1", "br-key-west"));
    let kp = s.start().await;
    let r = kp
        .client()
        .post("https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1/chat/completions")
        .bearer_auth(CLIENT_KEY)
        .json(&chat())
        .send()
        .within("a chat completion on Bedrock")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "west");
    let seen = s.fake().seen();
    let [a, b] = &seen[..] else {
        panic!("two attempts, got {}", seen.len())
    };
    assert_eq!(
        a.host.as_deref(),
        Some("bedrock-runtime.us-east-1.amazonaws.com")
    );
    assert_eq!(a.headers["authorization"], "Bearer br-key-east");
    assert_eq!(
        b.host.as_deref(),
        Some("bedrock-runtime.eu-west-1.amazonaws.com")
    );
    assert_eq!(b.headers["authorization"], "Bearer br-key-west");
    assert_eq!(b.path, "/openai/v1/chat/completions");
    assert_no_client_secret(&b.headers, "bedrock");
    let sni = s.fake().sni_seen();
    assert!(
        sni.iter()
            .any(|h| h == "bedrock-runtime.eu-west-1.amazonaws.com"),
        "{sni:?}"
    );
}

/// `res-a.openai.azure.com.evil.example` contains an Azure host but is not one: keypool
/// does not decrypt it, so the client meets the upstream's own certificate (the test
/// CA's), and its own key passes untouched.
#[tokio::test]
async fn a_crafted_host_that_only_contains_an_azure_host_is_tunnelled_blind() {
    let crafted = "res-a.openai.azure.com.evil.example";
    let mut hosts = HOSTS.to_vec();
    hosts.push(crafted);
    let mut s = Scenario::new()
        .provider(&hosts)
        .await
        .ok(&["az-key-a", CLIENT_KEY])
        .config(&azure("res-a", "res-a", "az-key-a", ""));
    let kp = s.start().await;
    let tcp = kp.connect(&format!("{crafted}:443")).await;
    let mut tls = tls_connect(tcp, crafted, &s.ca.cert_pem()).await;
    let body = chat().to_string();
    let req = format!(
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: {crafted}\r\napi-key: {CLIENT_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes())
        .within("the request into the tunnel")
        .await
        .unwrap();
    let head = read_head(&mut tls)
        .within("the answer through the tunnel")
        .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("x-keypool-account"));
    assert_eq!(s.fake().credentials_seen(), [CLIENT_KEY]);
    assert_eq!(s.fake().sni_seen(), [crafted]);
}
