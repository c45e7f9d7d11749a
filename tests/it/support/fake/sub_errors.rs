//! Error shapes of the subscription backends (ChatGPT Codex, Copilot, Cloud
//! Code). Where no capture was at hand the shape is a plausible choice, marked
//! as such, so tests should key on status and the fields named here.

use http::Response;
use serde_json::{json, Value};

use super::reply::Ctx;
use super::{Behaviour, Service};
use crate::support::https::{full, unix_now, Body};

/// Cloud Code's quota errors name this domain in their `ErrorInfo`.
const CLOUD_CODE_DOMAIN: &str = "cloudcode-pa.googleapis.com";

impl Ctx {
    /// Missing (`None`) or unknown credential.
    pub(super) fn subscription_auth_error(&self, credential: Option<&str>) -> Response<Body> {
        match (self.provider, credential) {
            // chatgpt.com answers a missing header in FastAPI's shape and a
            // token it does not know in the OpenAI shape plus `status`.
            (Service::Codex, None) => self.json_with(401, json!({"detail": "Unauthorized"}), &[]),
            (Service::Codex, Some(_)) => self.codex_auth(
                "Your authentication token has been invalidated. Please try signing in again.",
                "token_invalidated",
            ),
            (Service::Copilot, None) => {
                self.copilot_text(401, "unauthorized: missing authorization header")
            }
            (Service::Copilot, Some(_)) => self.copilot_text(
                401,
                "unauthorized: unauthorized: AuthenticateToken authentication failed",
            ),
            (Service::CloudCode, None) => self.google_unauthenticated("CREDENTIALS_MISSING"),
            (Service::CloudCode, Some(_)) => self.google_unauthenticated("ACCESS_TOKEN_EXPIRED"),
            (other, _) => unreachable!("{other:?} is not a subscription backend"),
        }
    }

    pub(super) fn subscription_rejection(&self, behaviour: &Behaviour) -> Response<Body> {
        use Behaviour::*;
        match (self.provider, behaviour) {
            (_, Ok | Stream(_) | Verbatim { .. }) => {
                unreachable!("{behaviour:?} is not a rejection")
            }

            // A known token that stopped working: what an expired one gets.
            (Service::Codex, Unauthorized) => self.codex_auth(
                "Provided authentication token is expired. Please try signing in again.",
                "token_expired",
            ),
            (Service::Codex, RateLimited { retry_after_secs }) => {
                self.codex_usage_limit(retry_after_secs.unwrap_or(3600))
            }
            (Service::Codex, GoogleExhausted { .. }) => self.codex_usage_limit(3600),
            (Service::Codex, InsufficientQuota) => {
                let error = json!({
                    "type": "usage_not_included",
                    "message": "Codex is not included in your plan. Upgrade to use Codex.",
                    "plan_type": "free",
                });
                self.json_with(429, json!({ "error": error }), &[])
            }
            (Service::Codex, Overloaded) => {
                let error = json!({
                    "type": "server_error",
                    "code": "server_is_overloaded",
                    "message": "Our servers are currently overloaded. Please try again later.",
                });
                self.json_with(503, json!({ "error": error }), &[])
            }

            (Service::Copilot, Unauthorized) => {
                self.copilot_text(401, "unauthorized: token expired")
            }
            // Copilot sends no rate-limit headers; the body schema of its 429
            // is not documented, so this one is a plausible choice.
            (Service::Copilot, RateLimited { retry_after_secs }) => {
                let mut headers = Vec::new();
                if let Some(secs) = retry_after_secs {
                    headers.push(("retry-after", secs.to_string()));
                }
                self.copilot_json_error(
                    429,
                    "Sorry, you've hit a rate limit that restricts the number of Copilot model requests you can make within a specific time period. Please try again later.",
                    "rate_limited",
                    &headers,
                )
            }
            (Service::Copilot, GoogleExhausted { .. }) => self.copilot_json_error(
                429,
                "Sorry, you've hit a rate limit. Please try again later.",
                "rate_limited",
                &[],
            ),
            (Service::Copilot, InsufficientQuota) => self.copilot_json_error(
                429,
                "You're out of premium requests for this month. Switch to a model included in your plan or wait for your allowance to reset.",
                "quota_exceeded",
                &[],
            ),
            (Service::Copilot, Overloaded) => {
                self.copilot_json_error(503, "Service Unavailable", "service_unavailable", &[])
            }

            (Service::CloudCode, Unauthorized) => {
                self.google_unauthenticated("ACCESS_TOKEN_EXPIRED")
            }
            (Service::CloudCode, RateLimited { retry_after_secs }) => self.cloud_code_exhausted(
                "RATE_LIMIT_EXCEEDED",
                retry_after_secs.map(|s| format!("{s}s")),
            ),
            (Service::CloudCode, GoogleExhausted { retry_delay }) => {
                self.cloud_code_exhausted("RATE_LIMIT_EXCEEDED", Some(retry_delay.clone()))
            }
            (Service::CloudCode, InsufficientQuota) => {
                self.cloud_code_exhausted("QUOTA_EXHAUSTED", None)
            }
            (Service::CloudCode, Overloaded) => self.google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                Value::Null,
            ),

            (other, _) => unreachable!("{other:?} is not a subscription backend"),
        }
    }

    /// The token is valid but the `ChatGPT-Account-ID` header names another
    /// account: what a proxy gets that swaps the token and forgets the
    /// header. The real status and text are unverified; 403 keeps it apart
    /// from the 401 that means "refresh your token".
    pub(super) fn codex_account_mismatch(&self, sent: &str) -> Response<Body> {
        let detail = format!("The account {sent} in the ChatGPT-Account-ID header does not match the authentication token.");
        self.json_with(403, json!({ "detail": detail }), &[])
    }

    /// The token is valid but the body's `project` is not this account's.
    pub(super) fn cloud_code_wrong_project(&self, project: &str) -> Response<Body> {
        let message = format!("Permission 'cloudaicompanion.companions.generateChat' denied on resource '//cloudaicompanion.googleapis.com/projects/{project}/locations/global' (or it may not exist).");
        let details = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "cloudaicompanion.googleapis.com",
            "metadata": {
                "permission": "cloudaicompanion.companions.generateChat",
                "resource": format!("projects/{project}/locations/global"),
            },
        }]);
        self.google_error(403, "PERMISSION_DENIED", &message, details)
    }

    fn codex_auth(&self, message: &str, code: &str) -> Response<Body> {
        let body = json!({
            "error": {"message": message, "type": "invalid_request_error", "code": code, "param": null},
            "status": 401,
        });
        self.json_with(401, body, &[])
    }

    fn codex_usage_limit(&self, resets_in: u64) -> Response<Body> {
        let resets_at = unix_now() + resets_in;
        let error = json!({
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": resets_at,
            "resets_in_seconds": resets_in,
        });
        let headers = [
            ("x-codex-primary-used-percent", "100".to_string()),
            ("x-codex-primary-window-minutes", "300".to_string()),
            ("x-codex-primary-reset-at", resets_at.to_string()),
            ("x-codex-primary-reset-after-seconds", resets_in.to_string()),
        ];
        self.json_with(429, json!({ "error": error }), &headers)
    }

    fn copilot_text(&self, status: u16, text: &str) -> Response<Body> {
        self.respond(
            status,
            "text/plain; charset=utf-8",
            &[],
            full(format!("{text}\n")),
        )
    }

    fn copilot_json_error(
        &self,
        status: u16,
        message: &str,
        code: &str,
        headers: &[(&str, String)],
    ) -> Response<Body> {
        let body = json!({"error": {"message": message, "code": code}});
        self.json_with(status, body, headers)
    }

    fn google_unauthenticated(&self, reason: &str) -> Response<Body> {
        let details = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": CLOUD_CODE_DOMAIN, "method": "google.internal.cloud.code.v1internal.CloudCode.GenerateContent"},
        }]);
        self.google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            details,
        )
    }

    fn cloud_code_exhausted(&self, reason: &str, retry_delay: Option<String>) -> Response<Body> {
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": CLOUD_CODE_DOMAIN,
            "metadata": {"model": self.model},
        })];
        if let Some(delay) = retry_delay {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": delay,
            }));
        }
        let message = match reason {
            "QUOTA_EXHAUSTED" => "You have exhausted your capacity on this model. Your quota will reset after 18h31m10s.",
            _ => "You have exhausted your capacity on this model. Please retry shortly.",
        };
        self.google_error(429, "RESOURCE_EXHAUSTED", message, Value::Array(details))
    }
}
