//! How the fake answers: per-provider envelopes (content type, request-id
//! headers), error shapes, and the rejections a [`Behaviour`] asks for.

use http::{header, Method, Response, StatusCode};
use serde_json::{json, Value};

use super::{Behaviour, Provider};
use crate::support::https::{fresh_id, full, Body};

/// Per-request reply context: which provider shape to speak, the request id
/// (shared by header and, for Anthropic, body) and the model being "served".
pub(super) struct Ctx {
    pub(super) provider: Provider,
    pub(super) request_id: String,
    pub(super) model: String,
}

impl Ctx {
    pub(super) fn new(provider: Provider, path: &str, body: &Value) -> Ctx {
        let model = match provider {
            Provider::OpenAi => body["model"].as_str().unwrap_or("gpt-4o"),
            Provider::Anthropic => body["model"].as_str().unwrap_or("claude-sonnet-4-20250514"),
            // /v1beta/models/{model}:{method}
            Provider::Google => path
                .strip_prefix("/v1beta/models/")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or("gemini-2.0-flash"),
        };
        let request_id = match provider {
            Provider::Anthropic => format!("req_011{}", fresh_id()),
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
            Provider::OpenAi => builder
                .header("x-request-id", &self.request_id)
                .header("openai-version", "2020-10-01")
                .header("openai-processing-ms", "42"),
            Provider::Anthropic => builder.header("request-id", &self.request_id),
            // Gemini sends no request id header.
            Provider::Google => builder,
        };
        for (name, value) in extra {
            builder = builder.header(*name, value);
        }
        builder.body(body).expect("response")
    }

    fn json_with(&self, status: u16, value: Value, extra: &[(&str, String)]) -> Response<Body> {
        let content_type = match self.provider {
            Provider::Google => "application/json; charset=UTF-8",
            _ => "application/json",
        };
        let body = full(value.to_string());
        self.respond(status, content_type, extra, body)
    }

    pub(super) fn json(&self, status: u16, value: Value) -> Response<Body> {
        let extra = match (self.provider, status) {
            // Real OpenAI successes carry rate-limit headers too; a proxy may
            // use them to rotate before hitting a 429.
            (Provider::OpenAi, 200) => openai_ratelimit_headers(499),
            _ => Vec::new(),
        };
        self.json_with(status, value, &extra)
    }

    pub(super) fn sse(&self, body: Body) -> Response<Body> {
        let content_type = match self.provider {
            Provider::Google => "text/event-stream",
            _ => "text/event-stream; charset=utf-8",
        };
        self.respond(
            200,
            content_type,
            &[("cache-control", "no-cache".into())],
            body,
        )
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
            (Provider::OpenAi, None) => self.openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Value::Null,
            ),
            (Provider::OpenAi, Some(key)) => self.openai_error(
                401,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    redact(key)
                ),
                "invalid_request_error",
                json!("invalid_api_key"),
            ),
            (Provider::Anthropic, None) => {
                self.anthropic_error(401, "authentication_error", "x-api-key header is required")
            }
            (Provider::Anthropic, Some(_)) => {
                self.anthropic_error(401, "authentication_error", "invalid x-api-key")
            }
            (Provider::Google, None) => self.google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Value::Null,
            ),
            (Provider::Google, Some(_)) => self.google_error(
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
            (_, Ok) => unreachable!("Ok is not a rejection"),
            (_, Unauthorized) => self.auth_error(Some(credential)),

            (Provider::OpenAi, RateLimited { retry_after_secs }) => {
                self.openai_rate_limited(*retry_after_secs)
            }
            (Provider::OpenAi, GoogleExhausted { .. }) => self.openai_rate_limited(None),
            (Provider::OpenAi, InsufficientQuota) => self.openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                json!("insufficient_quota"),
            ),
            (Provider::OpenAi, Overloaded) => self.openai_error(
                503,
                "The server is overloaded",
                "server_error",
                json!("server_is_overloaded"),
            ),

            (Provider::Anthropic, RateLimited { retry_after_secs }) => {
                self.anthropic_rate_limited(*retry_after_secs)
            }
            (Provider::Anthropic, GoogleExhausted { .. }) => self.anthropic_rate_limited(None),
            (Provider::Anthropic, InsufficientQuota) => self.anthropic_error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ),
            (Provider::Anthropic, Overloaded) => {
                self.anthropic_error(529, "overloaded_error", "Overloaded")
            }

            (Provider::Google, RateLimited { retry_after_secs }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                retry_after_secs.map(|s| format!("{s}s")),
            ),
            (Provider::Google, GoogleExhausted { retry_delay }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some(retry_delay.clone()),
            ),
            (Provider::Google, InsufficientQuota) => {
                self.google_exhausted("GenerateRequestsPerDayPerProjectPerModel-FreeTier", None)
            }
            (Provider::Google, Overloaded) => self.google_error(
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

    fn google_exhausted(&self, quota_id: &str, retry_delay: Option<String>) -> Response<Body> {
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
            Provider::OpenAi => self.openai_error(
                404,
                &format!("Invalid URL ({method} {path})"),
                "invalid_request_error",
                Value::Null,
            ),
            Provider::Anthropic => self.anthropic_error(404, "not_found_error", "Not Found"),
            Provider::Google => self.google_error(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
                Value::Null,
            ),
        }
    }
}

fn openai_ratelimit_headers(remaining_requests: u32) -> Vec<(&'static str, String)> {
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
