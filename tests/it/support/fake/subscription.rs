//! Routes of the subscription backends: the ChatGPT Codex backend, GitHub
//! Copilot, Google Cloud Code, and Anthropic's OAuth metadata endpoints.
//! Metadata routes report the [`Owner`] of the credential that reached them,
//! so a test can tell whose token arrived.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::{json, Value};

use super::bodies::{
    anthropic_events, anthropic_message, cloud_code_wrap, copilot_models, gemini_chunks,
    gemini_response, openai_completion, responses_events, OpenAiStream, GEMINI_TEXT,
};
use super::faults::{event_stream, responses_sse, Wire};
use super::reply::Ctx;
use super::streams::websocket;
use super::{Owner, State, StreamFault};
use crate::support::https::{form_param, is_websocket_upgrade, spawn_events, unix_now, Body};

/// What a route needs of the request, after the credential was accepted.
pub(super) struct Req<'a> {
    pub(super) parts: &'a mut http::request::Parts,
    pub(super) query: Option<&'a str>,
    pub(super) body: &'a Value,
    pub(super) credential: String,
    /// Default (nothing bound) when the credential has no registered owner.
    pub(super) owner: Owner,
    /// How an event stream goes wrong, if the credential's behaviour says so.
    pub(super) fault: Option<StreamFault>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `chatgpt.com/backend-api/...`
pub(super) fn codex(state: &Arc<State>, ctx: &Ctx, req: Req) -> Response<Body> {
    // Header names are case-insensitive; Codex, pi and the backend client
    // each spell this one differently.
    let sent = header(&req.parts.headers, "chatgpt-account-id").map(str::to_string);
    if let (Some(bound), Some(sent)) = (&req.owner.account_id, &sent) {
        if bound != sent {
            return ctx.codex_account_mismatch(sent);
        }
    }
    let account_id = (req.owner.account_id.clone())
        .or(sent)
        .unwrap_or_else(|| "unknown".into());
    let plan = req.owner.plan.clone().unwrap_or_else(|| "plus".into());
    let method = req.parts.method.clone();
    let path = req.parts.uri.path().to_string();
    match (&method, path.as_str()) {
        (&Method::GET, "/backend-api/codex/responses")
            if is_websocket_upgrade(&req.parts.headers) =>
        {
            websocket(state, ctx, req.parts, codex_frame_reply)
        }
        (&Method::POST, "/backend-api/codex/responses") => {
            let events = responses_sse(&ctx.model);
            let body = event_stream(state, ctx, Wire::Responses, events, req.fault);
            ctx.sse_with(&codex_usage_headers(&plan), body)
        }
        (&Method::GET, "/backend-api/wham/accounts/check") => {
            ctx.json(200, accounts_check(&account_id, &plan, &req.owner))
        }
        (&Method::GET, "/backend-api/wham/usage") => ctx.json(200, super::usage::wham(&plan)),
        (method, path) => ctx.not_found(method, path),
    }
}

/// One Responses exchange per `response.create` frame; anything else gets an
/// `error` event, as the real socket does for unknown types.
fn codex_frame_reply(text: &str) -> Vec<String> {
    let frame: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if frame["type"] != "response.create" {
        let error = json!({
            "type": "error",
            "status": 400,
            "error": {"type": "invalid_request_error", "message": format!("Unsupported event type: {}", frame["type"])},
        });
        return vec![error.to_string()];
    }
    let model = frame["model"].as_str().unwrap_or("gpt-5-codex");
    responses_events(model)
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

/// The usage windows Codex reads from every response (5 h and 7 d).
fn codex_usage_headers(plan: &str) -> Vec<(&'static str, String)> {
    let now = unix_now();
    vec![
        ("x-codex-plan-type", plan.to_string()),
        ("x-codex-primary-used-percent", "12".into()),
        ("x-codex-primary-window-minutes", "300".into()),
        ("x-codex-primary-reset-at", (now + 3600).to_string()),
        ("x-codex-secondary-used-percent", "30".into()),
        ("x-codex-secondary-window-minutes", "10080".into()),
        ("x-codex-secondary-reset-at", (now + 3 * 86400).to_string()),
    ]
}

fn accounts_check(account_id: &str, plan: &str, owner: &Owner) -> Value {
    let account = json!({
        "account_id": account_id,
        "account_user_role": "account-owner",
        "account_user_id": format!("user-fake__{account_id}"),
        "plan_type": plan,
        "structure": "personal",
        "is_deactivated": false,
        "name": null,
        "email": owner.email,
    });
    json!({
        "accounts": {account_id: {"account": account, "features": [], "entitlement": {
            "subscription_plan": format!("chatgpt{plan}"), "has_active_subscription": true,
        }}},
        "account_ordering": [account_id],
    })
}

/// `api.*githubcopilot.com`: OpenAI chat completions without `/v1`, the
/// model list, and the Anthropic Messages route pi uses for Claude models.
pub(super) fn copilot(ctx: &Ctx, req: Req) -> Response<Body> {
    let stream = req.body["stream"] == json!(true);
    let method = req.parts.method.clone();
    match (&method, req.parts.uri.path()) {
        (&Method::POST, "/chat/completions") if stream => {
            let usage = req.body["stream_options"]["include_usage"] == json!(true);
            ctx.sse(spawn_events(OpenAiStream::new(&ctx.model).events(usage)))
        }
        (&Method::POST, "/chat/completions") => ctx.json(200, openai_completion(&ctx.model)),
        (&Method::POST, "/v1/messages") if stream => {
            ctx.sse(spawn_events(anthropic_events(&ctx.model)))
        }
        (&Method::POST, "/v1/messages") => ctx.json(200, anthropic_message(&ctx.model)),
        (&Method::GET, "/models") => ctx.json(200, copilot_models()),
        (method, path) => ctx.not_found(method, path),
    }
}

/// `cloudcode-pa.googleapis.com/v1internal:<method>`. The body names the
/// account's project; a token bound to another project is refused.
pub(super) fn cloud_code(ctx: &Ctx, req: Req) -> Response<Body> {
    if let (Some(bound), Some(named)) = (&req.owner.project, req.body["project"].as_str()) {
        if bound != named {
            return ctx.cloud_code_wrong_project(named);
        }
    }
    let method = req.parts.method.clone();
    match (&method, req.parts.uri.path()) {
        (&Method::POST, "/v1internal:loadCodeAssist") => {
            ctx.json(200, load_code_assist(req.owner.project.as_deref()))
        }
        (&Method::POST, "/v1internal:retrieveUserQuota") => {
            ctx.json(200, super::usage::code_assist_quota())
        }
        (&Method::POST, "/v1internal:generateContent") => ctx.json(
            200,
            cloud_code_wrap(gemini_response(&ctx.model, GEMINI_TEXT, true)),
        ),
        (&Method::POST, "/v1internal:streamGenerateContent") => {
            let chunks = gemini_chunks(&ctx.model).into_iter().map(cloud_code_wrap);
            if form_param(req.query, "alt").as_deref() == Some("sse") {
                // Same Google front end as the Gemini API: CRLF framing.
                let events = chunks.map(|c| Bytes::from(format!("data: {c}\r\n\r\n")));
                ctx.sse(spawn_events(events.collect()))
            } else {
                ctx.json(200, Value::Array(chunks.collect()))
            }
        }
        (method, path) => ctx.not_found(method, path),
    }
}

fn load_code_assist(project: Option<&str>) -> Value {
    let tier = json!({
        "id": "standard-tier",
        "name": "Gemini Code Assist",
        "description": "Unlimited coding assistant with the most powerful Gemini models",
        "userDefinedCloudaicompanionProject": true,
    });
    let mut allowed = tier.clone();
    allowed["isDefault"] = json!(true);
    let mut body = json!({"currentTier": tier, "allowedTiers": [allowed], "gcpManaged": false});
    if let Some(project) = project {
        body["cloudaicompanionProject"] = json!(project);
    }
    body
}

/// api.kimi.com: Kimi For Coding's usage route, and its Messages API below `/coding` as
/// Anthropic's. A subscription token must come with the `X-Msh-*` device headers.
pub(super) fn kimi(state: &Arc<State>, ctx: &Ctx, req: Req) -> Response<Body> {
    if req.owner.device_headers {
        if let Some(h) = crate::support::oauth::missing_device_header(&req.parts.headers) {
            let message = format!("missing header {h}");
            return ctx.anthropic_error(400, "invalid_request_error", &message);
        }
    }
    match (&req.parts.method, req.parts.uri.path()) {
        (&Method::GET, "/coding/v1/usages") => ctx.json(200, super::usage::kimi()),
        _ => super::api_route(state, ctx, req),
    }
}

/// Anthropic's OAuth metadata routes on api.anthropic.com.
pub(super) fn anthropic_oauth(ctx: &Ctx, req: Req) -> Response<Body> {
    let owner = &req.owner;
    let method = req.parts.method.clone();
    match (&method, req.parts.uri.path()) {
        (&Method::GET, "/api/oauth/profile") => {
            let plan = owner.plan.as_deref().unwrap_or("max");
            ctx.json(
                200,
                json!({
                    "account": {
                        "uuid": owner.account_id,
                        "email": owner.email,
                        "full_name": "Fake User",
                        "display_name": "Fake",
                        "has_claude_max": plan == "max",
                        "has_claude_pro": plan == "pro",
                        "created_at": "2025-01-01T00:00:00Z",
                    },
                    "organization": {
                        "uuid": format!("org-{}", owner.account_id.as_deref().unwrap_or("unknown")),
                        "organization_type": format!("claude_{plan}"),
                        "billing_type": "stripe_subscription",
                        "rate_limit_tier": format!("default_claude_{plan}_20x"),
                    },
                }),
            )
        }
        (&Method::GET, "/api/oauth/usage") => ctx.json(200, super::usage::anthropic()),
        (method, path) => ctx.not_found(method, path),
    }
}
