//! How the fake answers: per-provider envelopes (content type, request-id
//! headers), error shapes, and the rejections a [`Behaviour`] asks for.

use http::{header, HeaderMap, Method, Response, StatusCode};
use serde_json::{json, Value};

use super::{Behaviour, Service};
use crate::support::https::{fresh_id, full, Body};

/// Per-request reply context: which provider shape to speak, the request id
/// (shared by header and, for Anthropic, body) and the model being "served".
pub(super) struct Ctx {
    pub(super) provider: Service,
    pub(super) request_id: String,
    pub(super) model: String,
}

impl Ctx {
    pub(super) fn new(provider: Service, path: &str, body: &Value) -> Ctx {
        let model = match provider {
            Service::OpenAi => body["model"].as_str().unwrap_or("gpt-4o"),
            Service::Anthropic => body["model"].as_str().unwrap_or("claude-sonnet-4-20250514"),
            // /v1beta/models/{model}:{method}
            Service::Google => path
                .strip_prefix("/v1beta/models/")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or("gemini-2.0-flash"),
            Service::Codex => body["model"].as_str().unwrap_or("gpt-5-codex"),
            Service::Copilot => body["model"].as_str().unwrap_or("gpt-4o"),
            Service::CloudCode => body["model"].as_str().unwrap_or("gemini-2.5-pro"),
            Service::Vertex => super::vertex::model_of(path).unwrap_or("gemini-2.5-pro"),
        };
        let request_id = match provider {
            Service::Anthropic => format!("req_011{}", fresh_id()),
            _ => format!("req_{}", fresh_id()),
        };
        Ctx {
            provider,
            request_id,
            model: model.to_string(),
        }
    }

    pub(super) fn respond(
        &self,
        status: u16,
        content_type: &str,
        extra: &[(&str, String)],
        body: Body,
    ) -> Response<Body> {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(status).expect("status code"))
            .header(header::CONTENT_TYPE, content_type);
        builder = match self.provider {
            Service::OpenAi => builder
                .header("x-request-id", &self.request_id)
                .header("openai-version", "2020-10-01")
                .header("openai-processing-ms", "42"),
            Service::Anthropic => builder.header("request-id", &self.request_id),
            Service::Codex => builder
                .header("x-request-id", &self.request_id)
                .header("x-oai-request-id", &self.request_id),
            Service::Copilot => builder.header("x-request-id", &self.request_id),
            // Gemini and Cloud Code send no request id header.
            Service::Google | Service::CloudCode | Service::Vertex => builder,
        };
        for (name, value) in extra {
            builder = builder.header(*name, value);
        }
        builder.body(body).expect("response")
    }

    pub(super) fn json_with(
        &self,
        status: u16,
        value: Value,
        extra: &[(&str, String)],
    ) -> Response<Body> {
        let content_type = match self.provider {
            Service::Google | Service::CloudCode | Service::Vertex => {
                "application/json; charset=UTF-8"
            }
            _ => "application/json",
        };
        let body = full(value.to_string());
        self.respond(status, content_type, extra, body)
    }

    /// [`Behaviour::Verbatim`]: exactly the status, headers and body given, whatever
    /// the route (no content type or request id added).
    pub(super) fn verbatim(
        status: u16,
        headers: &[(String, String)],
        body: &str,
    ) -> Response<Body> {
        let mut builder =
            Response::builder().status(StatusCode::from_u16(status).expect("status code"));
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(full(body.to_string())).expect("response")
    }

    pub(super) fn json(&self, status: u16, value: Value) -> Response<Body> {
        let extra = match (self.provider, status) {
            // Real OpenAI successes carry rate-limit headers too; a proxy may
            // use them to rotate before hitting a 429.
            (Service::OpenAi, 200) => openai_ratelimit_headers(499),
            _ => Vec::new(),
        };
        self.json_with(status, value, &extra)
    }

    pub(super) fn sse(&self, body: Body) -> Response<Body> {
        self.sse_with(&[], body)
    }

    pub(super) fn sse_with(&self, extra: &[(&str, String)], body: Body) -> Response<Body> {
        let content_type = match self.provider {
            Service::Google | Service::CloudCode | Service::Vertex => "text/event-stream",
            _ => "text/event-stream; charset=utf-8",
        };
        let mut headers = vec![("cache-control", "no-cache".to_string())];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.clone())));
        self.respond(200, content_type, &headers, body)
    }

    pub(super) fn openai_error(
        &self,
        status: u16,
        message: &str,
        kind: &str,
        code: Value,
    ) -> Response<Body> {
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        self.json_with(status, body, &[])
    }

    pub(super) fn anthropic_error(&self, status: u16, kind: &str, message: &str) -> Response<Body> {
        let body = json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": self.request_id,
        });
        self.json_with(status, body, &[])
    }

    pub(super) fn google_error(
        &self,
        code: u16,
        status: &str,
        message: &str,
        details: Value,
    ) -> Response<Body> {
        let mut error = json!({"code": code, "message": message, "status": status});
        if details != Value::Null {
            error["details"] = details;
        }
        self.json_with(code, json!({ "error": error }), &[])
    }

    /// Missing (`None`) or unknown/revoked credential.
    pub(super) fn auth_error(&self, credential: Option<&str>) -> Response<Body> {
        match (self.provider, credential) {
            (Service::Codex | Service::Copilot | Service::CloudCode, credential) => {
                self.subscription_auth_error(credential)
            }
            (Service::Vertex, _) => self.vertex_auth_error(),
            (Service::OpenAi, None) => self.openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Value::Null,
            ),
            (Service::OpenAi, Some(key)) => self.openai_error(
                401,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    redact(key)
                ),
                "invalid_request_error",
                json!("invalid_api_key"),
            ),
            (Service::Anthropic, None) => {
                self.anthropic_error(401, "authentication_error", "x-api-key header is required")
            }
            (Service::Anthropic, Some(token)) if token.starts_with(OAUTH_PREFIX) => {
                self.anthropic_error(401, "authentication_error", "Invalid bearer token")
            }
            (Service::Anthropic, Some(_)) => {
                self.anthropic_error(401, "authentication_error", "invalid x-api-key")
            }
            (Service::Google, None) => self.google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Value::Null,
            ),
            (Service::Google, Some(_)) => self.google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }]),
            ),
        }
    }

    pub(super) fn rejection(&self, behaviour: &Behaviour, credential: &str) -> Response<Body> {
        use Behaviour::*;
        match (self.provider, behaviour) {
            (_, Ok | Stream(_) | Verbatim { .. }) => {
                unreachable!("{behaviour:?} is not a rejection")
            }
            (Service::Codex | Service::Copilot | Service::CloudCode, b) => {
                self.subscription_rejection(b)
            }
            (Service::Vertex, b) => self.vertex_rejection(b),
            (Service::Anthropic, Unauthorized) if credential.starts_with(OAUTH_PREFIX) => self
                .anthropic_error(
                    401,
                    "authentication_error",
                    "OAuth token has expired. Please obtain a new token or refresh your existing token.",
                ),
            (_, Unauthorized) => self.auth_error(Some(credential)),

            (Service::OpenAi, RateLimited { retry_after_secs }) => {
                self.openai_rate_limited(*retry_after_secs)
            }
            (Service::OpenAi, GoogleExhausted { .. }) => self.openai_rate_limited(None),
            (Service::OpenAi, InsufficientQuota) => self.openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                json!("insufficient_quota"),
            ),
            (Service::OpenAi, Overloaded) => self.openai_error(
                503,
                "The server is overloaded",
                "server_error",
                json!("server_is_overloaded"),
            ),

            (Service::Anthropic, RateLimited { retry_after_secs }) => {
                self.anthropic_rate_limited(*retry_after_secs)
            }
            (Service::Anthropic, GoogleExhausted { .. }) => self.anthropic_rate_limited(None),
            (Service::Anthropic, InsufficientQuota) => self.anthropic_error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ),
            (Service::Anthropic, Overloaded) => {
                self.anthropic_error(529, "overloaded_error", "Overloaded")
            }

            (Service::Google, RateLimited { retry_after_secs }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                retry_after_secs.map(|s| format!("{s}s")),
            ),
            (Service::Google, GoogleExhausted { retry_delay }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some(retry_delay.clone()),
            ),
            (Service::Google, InsufficientQuota) => {
                self.google_exhausted("GenerateRequestsPerDayPerProjectPerModel-FreeTier", None)
            }
            (Service::Google, Overloaded) => self.google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                Value::Null,
            ),
        }
    }

    fn openai_rate_limited(&self, retry_after_secs: Option<u64>) -> Response<Body> {
        let mut headers = openai_ratelimit_headers(0);
        if let Some(secs) = retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        let message = format!(
            "Rate limit reached for {} in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
            self.model
        );
        let body = json!({"error": {
            "message": message, "type": "requests", "param": null, "code": "rate_limit_exceeded",
        }});
        self.json_with(429, body, &headers)
    }

    fn anthropic_rate_limited(&self, retry_after_secs: Option<u64>) -> Response<Body> {
        let reset = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let reset = reset
            .replace_nanosecond(0)
            .expect("zero nanos")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
        let mut headers = vec![
            ("anthropic-ratelimit-requests-limit", "50".to_string()),
            ("anthropic-ratelimit-requests-remaining", "0".to_string()),
            ("anthropic-ratelimit-requests-reset", reset),
        ];
        if let Some(secs) = retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        let body = json!({
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "This request would exceed your organization's rate limit of 50 requests per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
            },
            "request_id": self.request_id,
        });
        self.json_with(429, body, &headers)
    }

    pub(super) fn google_exhausted(
        &self,
        quota_id: &str,
        retry_delay: Option<String>,
    ) -> Response<Body> {
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": self.model},
                "quotaValue": "15",
            }],
        })];
        if let Some(delay) = retry_delay {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": delay,
            }));
        }
        self.google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
            Value::Array(details),
        )
    }

    pub(super) fn not_found(&self, method: &Method, path: &str) -> Response<Body> {
        match self.provider {
            Service::OpenAi => self.openai_error(
                404,
                &format!("Invalid URL ({method} {path})"),
                "invalid_request_error",
                Value::Null,
            ),
            Service::Anthropic => self.anthropic_error(404, "not_found_error", "Not Found"),
            Service::Google | Service::CloudCode | Service::Vertex => self.google_error(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
                Value::Null,
            ),
            Service::Codex => self.json_with(404, json!({"detail": "Not Found"}), &[]),
            Service::Copilot => self.respond(
                404,
                "text/plain; charset=utf-8",
                &[],
                full("404 page not found\n"),
            ),
        }
    }

    /// Anthropic refuses a subscription token in `x-api-key`, and as a bearer
    /// token unless `anthropic-beta` opts into OAuth, so a proxy that swaps an
    /// API key for an OAuth token must move it and add the beta flag.
    pub(super) fn misplaced_oauth_token(
        &self,
        headers: &HeaderMap,
        credential: &str,
    ) -> Option<Response<Body>> {
        if self.provider != Service::Anthropic || !credential.starts_with(OAUTH_PREFIX) {
            return None;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("x-api-key") == Some(credential) {
            return Some(self.anthropic_error(401, "authentication_error", "invalid x-api-key"));
        }
        let beta = header("anthropic-beta").unwrap_or_default();
        if !beta.split(',').any(|b| b.trim() == OAUTH_BETA) {
            return Some(self.anthropic_error(
                401,
                "authentication_error",
                "OAuth authentication is currently not supported.",
            ));
        }
        None
    }
}

/// Claude subscription access tokens (`sk-ant-oat01-…`).
pub(super) const OAUTH_PREFIX: &str = "sk-ant-oat";
/// The `anthropic-beta` flag Anthropic requires with an OAuth bearer token.
pub const OAUTH_BETA: &str = "oauth-2025-04-20";

pub(super) fn openai_ratelimit_headers(remaining_requests: u32) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit-requests", "500".into()),
        (
            "x-ratelimit-remaining-requests",
            remaining_requests.to_string(),
        ),
        ("x-ratelimit-reset-requests", "6m0s".into()),
        ("x-ratelimit-limit-tokens", "30000".into()),
        ("x-ratelimit-remaining-tokens", "29980".into()),
        ("x-ratelimit-reset-tokens", "1s".into()),
    ]
}

/// `sk-abc...wxyz` → `sk-ab*****wxyz`, like OpenAI's error message.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 9))
}
