//! The gateway and plan providers that are table rows only (Vercel AI Gateway, OpenCode
//! Zen and Go, MiniMax, Xiaomi MiMo): through keypool, over real TLS to the fake on each
//! real host name, the account's key reaches the provider in the form the row names and
//! the client's never does; a 429 in the shape of the path (OpenAI-compatible or
//! Anthropic-compatible) moves the request to the provider's next account; OpenCode Go's
//! `x-opencode-session` arrives as the client sent it.

use crate::support;

use http::HeaderMap;
use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::status_json;
use support::scenario::{key_accounts, Scenario};

const HOSTS: &[&str] = &[
    "ai-gateway.vercel.sh",
    "opencode.ai",
    "api.minimax.io",
    "api.minimaxi.com",
    "api.xiaomimimo.com",
    "token-plan-cn.xiaomimimo.com",
    "token-plan-ams.xiaomimimo.com",
    "token-plan-sgp.xiaomimimo.com",
];

const CLIENT_KEY: &str = "sk-client-own-key-7e6d5c";
const SESSION: &str = "ses_client-conversation-42";

/// How the client sends its own key, and where the account's must arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Bearer,
    XApiKey,
}

/// The wire family of a path: which body the client sends, which answer it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Chat,
    Messages,
}

struct Case {
    provider: &'static str,
    host: &'static str,
    path: &'static str,
    sent: Form,
    arrives: Form,
}

impl Case {
    fn api(&self) -> Api {
        if self.path.ends_with("/messages") {
            Api::Messages
        } else {
            Api::Chat
        }
    }
}

const fn case(
    provider: &'static str,
    host: &'static str,
    path: &'static str,
    sent: Form,
    arrives: Form,
) -> Case {
    Case {
        provider,
        host,
        path,
        sent,
        arrives,
    }
}

/// Every new provider on each of its API families. The gateways that take either header
/// (Vercel, MiniMax) keep the form the client used; the Bearer-only ones turn a client's
/// `x-api-key` into `Authorization: Bearer`.
const CASES: &[Case] = {
    use Form::{Bearer, XApiKey};
    &[
        case(
            "vercel-ai-gateway",
            "ai-gateway.vercel.sh",
            "/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "vercel-ai-gateway",
            "ai-gateway.vercel.sh",
            "/v1/messages",
            XApiKey,
            XApiKey,
        ),
        case(
            "opencode",
            "opencode.ai",
            "/zen/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "opencode",
            "opencode.ai",
            "/zen/v1/messages",
            XApiKey,
            Bearer,
        ),
        case(
            "opencode",
            "opencode.ai",
            "/zen/go/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "opencode",
            "opencode.ai",
            "/zen/go/v1/messages",
            Bearer,
            Bearer,
        ),
        case(
            "minimax",
            "api.minimax.io",
            "/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "minimax",
            "api.minimax.io",
            "/anthropic/v1/messages",
            XApiKey,
            XApiKey,
        ),
        case(
            "minimax-cn",
            "api.minimaxi.com",
            "/anthropic/v1/messages",
            Bearer,
            Bearer,
        ),
        case(
            "minimax-cn",
            "api.minimaxi.com",
            "/v1/chat/completions",
            XApiKey,
            XApiKey,
        ),
        case(
            "xiaomi",
            "api.xiaomimimo.com",
            "/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "xiaomi",
            "api.xiaomimimo.com",
            "/anthropic/v1/messages",
            XApiKey,
            Bearer,
        ),
        case(
            "xiaomi-token-plan-cn",
            "token-plan-cn.xiaomimimo.com",
            "/v1/chat/completions",
            Bearer,
            Bearer,
        ),
        case(
            "xiaomi-token-plan-ams",
            "token-plan-ams.xiaomimimo.com",
            "/anthropic/v1/messages",
            XApiKey,
            Bearer,
        ),
        case(
            "xiaomi-token-plan-sgp",
            "token-plan-sgp.xiaomimimo.com",
            "/anthropic/v1/messages",
            Bearer,
            Bearer,
        ),
    ]
};

/// The distinct providers of [`CASES`], in order.
fn providers() -> Vec<&'static str> {
    let mut ids: Vec<&str> = CASES.iter().map(|c| c.provider).collect();
    ids.dedup();
    ids
}

fn key(provider: &str, which: &str) -> String {
    format!("sk-{provider}-{which}")
}

/// Sends `c`'s request through keypool with the client's own key (and Go's session).
async fn send(client: &reqwest::Client, c: &Case) -> reqwest::Response {
    let body = match c.api() {
        Api::Chat => json!({"model": "glm-5", "messages": [{"role": "user", "content": "hi"}]}),
        Api::Messages => json!({"model": "MiniMax-M2", "max_tokens": 8,
                                "messages": [{"role": "user", "content": "hi"}]}),
    };
    let mut req = client
        .post(format!("https://{}{}", c.host, c.path))
        .header("x-opencode-session", SESSION)
        .json(&body);
    req = match c.sent {
        Form::Bearer => req.bearer_auth(CLIENT_KEY),
        Form::XApiKey => req.header("x-api-key", CLIENT_KEY),
    };
    if c.api() == Api::Messages {
        req = req.header("anthropic-version", "2023-06-01");
    }
    req.send()
        .within(&format!("{} {}{}", c.provider, c.host, c.path))
        .await
        .unwrap()
}

/// The account's `key` is in the header `c` names and nowhere else; no header carries the
/// client's key.
fn assert_account_key(c: &Case, headers: &HeaderMap, key: &str) {
    let what = format!("{} {}", c.provider, c.path);
    match c.arrives {
        Form::Bearer => {
            assert_eq!(headers["authorization"], format!("Bearer {key}"), "{what}");
            assert!(!headers.contains_key("x-api-key"), "{what}: x-api-key left");
        }
        Form::XApiKey => {
            assert_eq!(headers["x-api-key"], key, "{what}");
            assert!(
                !headers.contains_key("authorization"),
                "{what}: authorization left"
            );
        }
    }
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !value.contains(CLIENT_KEY),
            "{what}: the client's key in {name}"
        );
    }
}

async fn assert_answer(c: &Case, r: reqwest::Response, account: &str, attempts: &str) {
    let what = format!("{} {}", c.provider, c.path);
    assert_eq!(r.status(), 200, "{what}");
    assert_eq!(r.headers()["x-keypool-account"], account, "{what}");
    assert_eq!(r.headers()["x-keypool-attempts"], attempts, "{what}");
    let body: Value = r.json().within("the answer's body").await.unwrap();
    let want = match c.api() {
        Api::Chat => ("object", "chat.completion"),
        Api::Messages => ("type", "message"),
    };
    assert_eq!(body[want.0], want.1, "{what}: {body}");
}

#[tokio::test]
async fn each_provider_gets_the_accounts_key_in_its_form_and_never_the_clients() {
    let mut accounts = String::new();
    let mut s = Scenario::new().provider(HOSTS).await;
    for id in providers() {
        accounts.push_str(&key_accounts(id, &[(id, &key(id, "a"))]));
        s = s.ok(&[&key(id, "a")]);
    }
    let mut s = s.config(&accounts);
    let kp = s.start().await;
    let client = kp.client();
    for (i, c) in CASES.iter().enumerate() {
        let r = send(&client, c).await;
        assert_answer(c, r, c.provider, "1").await;
        let seen = s.fake().seen();
        assert_eq!(seen.len(), i + 1, "one request upstream per request");
        let req = seen.last().unwrap();
        assert_eq!(req.host.as_deref(), Some(c.host));
        assert_eq!(req.path, c.path, "the path goes upstream unchanged");
        assert_account_key(c, &req.headers, &key(c.provider, "a"));
    }
}

#[tokio::test]
async fn a_429_in_the_paths_shape_moves_the_request_to_the_next_account() {
    for c in CASES {
        let (limited, fine) = (key(c.provider, "limited"), key(c.provider, "fine"));
        let accounts = key_accounts(c.provider, &[("first", &limited), ("second", &fine)]);
        let mut s = Scenario::new()
            .provider(&[c.host])
            .await
            .limited(&limited, 30)
            .ok(&[&fine])
            .config(&accounts);
        let kp = s.start().await;
        let r = send(&kp.client(), c).await;
        assert_answer(c, r, "second", "2").await;
        let seen = s.fake().seen();
        let [first, second] = &seen[..] else {
            panic!("{}: two attempts upstream, got {}", c.provider, seen.len())
        };
        assert_account_key(c, &first.headers, &limited);
        assert_account_key(c, &second.headers, &fine);
        assert_cooling_on_its_shape(c, &status_json(kp.addr()).await);
        // The cooling account sits the next request out.
        let r = send(&kp.client(), c).await;
        assert_answer(c, r, "second", "1").await;
    }
}

/// The limited account cools for the 429 read in the path's dialect, and its limit
/// headers (`x-ratelimit-*` or `anthropic-ratelimit-*`) were learned as its window.
fn assert_cooling_on_its_shape(c: &Case, status: &Value) {
    let what = format!("{} {}", c.provider, c.path);
    let pool = &status["pools"][0];
    assert_eq!(pool["name"], c.provider, "{what}");
    let first = pool["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "first"))
        .unwrap_or_else(|| panic!("{what}: no account 'first' in {status}"));
    assert_eq!(first["state"], "cooling", "{what}");
    let (detail, limit) = match c.api() {
        Api::Chat => ("429 rate_limit_exceeded", 500),
        Api::Messages => ("429 rate_limit_error", 50),
    };
    assert_eq!(first["last_error"]["detail"], detail, "{what}");
    let window = &first["tightest"];
    assert_eq!(
        (window["limit"].as_u64(), window["remaining"].as_u64()),
        (Some(limit), Some(0)),
        "{what}: {window}"
    );
}

#[tokio::test]
async fn opencode_go_gets_the_clients_session_unchanged_on_every_attempt() {
    let go = CASES
        .iter()
        .find(|c| c.path == "/zen/go/v1/chat/completions")
        .unwrap();
    let accounts = key_accounts("opencode", &[("zen-1", "sk-oc-1"), ("zen-2", "sk-oc-2")]);
    let mut s = Scenario::new()
        .provider(&["opencode.ai"])
        .await
        .limited("sk-oc-1", 30)
        .ok(&["sk-oc-2"])
        .config(&accounts);
    let kp = s.start().await;
    let r = send(&kp.client(), go).await;
    assert_answer(go, r, "zen-2", "2").await;
    let seen = s.fake().seen();
    assert_eq!(seen.len(), 2);
    for req in &seen {
        assert_eq!(req.headers["x-opencode-session"], SESSION);
        assert_eq!(
            req.headers.get_all("x-opencode-session").iter().count(),
            1,
            "one session header, as sent"
        );
    }
}
