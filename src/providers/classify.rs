//! What an upstream answer means for the account that got it.

use super::aws_error;
use super::reset::{parse_proto_duration, parse_reset_headers, parse_retry_after};
use super::terminal::Ending;
use super::Dialect;
use crate::bounds;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Saved in `state.json` by these snake_case names (`rate_limited`, `overloaded`,
/// `exhausted`, `terminal`), so the file keeps reading across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Anything that is not about the account: passed to the client as it is.
    Ok,
    RateLimited,
    Overloaded,
    /// Quota or credit used up: a long cooldown.
    Exhausted,
    /// The provider rejected the account's credential: disabled until a config reload.
    AuthFailed,
    /// An answer that ends the account's turn for good (`providers/terminal.rs`): never
    /// retried on it, out until a reload or a quota probe of it that works.
    Terminal,
}

impl Verdict {
    /// How long an account sits out when the provider named no time.
    pub fn default_cooldown(self) -> Duration {
        match self {
            Verdict::Ok | Verdict::AuthFailed | Verdict::Terminal => Duration::ZERO,
            Verdict::RateLimited => Duration::from_secs(60),
            // Overload is the provider's state, not the account's; a long cooldown would
            // keep every account out long after the provider recovered.
            Verdict::Overloaded => Duration::from_secs(10),
            Verdict::Exhausted => Duration::from_secs(3600),
        }
    }

    pub fn rotates(self) -> bool {
        self != Verdict::Ok
    }

    /// Whether the verdict sits the account out for a while (rather than passing the
    /// answer on, or disabling the account).
    pub fn cools(self) -> bool {
        matches!(
            self,
            Verdict::RateLimited | Verdict::Overloaded | Verdict::Exhausted
        )
    }
}

/// Why an account sits out for a while: the client is told which, since "overloaded"
/// would send them looking at the provider when a login's token endpoint is what failed.
/// In `state.json` it reads `"verdict", "detail"` (as files have always held) or
/// `"token_endpoint"`, beside the cooldown's `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cause {
    /// The provider refused a request on the account.
    Provider {
        verdict: Verdict,
        /// The answer's secret-free label: `429 rate_limit_exceeded`.
        detail: String,
    },
    /// The account's token endpoint could not give it a token (it failed for a while).
    TokenEndpoint {
        #[serde(rename = "token_endpoint")]
        reason: String,
    },
}

impl Cause {
    /// The provider's label or the token endpoint's failure, as it was recorded.
    pub fn detail(&self) -> &str {
        match self {
            Cause::Provider { detail, .. } => detail,
            Cause::TokenEndpoint { reason } => reason,
        }
    }
}

/// The short wording of the "every account is limited" summary: `rate-limited`,
/// `quota exhausted`, `overloaded`, or `token endpoint unavailable (<reason>)`.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Provider { verdict, .. } => f.write_str(match verdict {
                Verdict::Exhausted => "quota exhausted",
                Verdict::Overloaded => "overloaded",
                _ => "rate-limited",
            }),
            Cause::TokenEndpoint { reason } => write!(f, "token endpoint unavailable ({reason})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The provider's own word on when the account frees, if it said; at most
    /// [`bounds::MAX_COOLDOWN`].
    pub reset_in: Option<Duration>,
    /// A short, secret-free label for logs: `429 rate_limit_exceeded`.
    pub detail: String,
    /// With [`Verdict::Terminal`]: the rule that matched and what fixes it.
    pub ending: Option<Ending>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome {
            verdict: Verdict::Ok,
            reset_in: None,
            detail: String::new(),
            ending: None,
        }
    }

    /// How long the account sits out: what the provider said, else the verdict's default;
    /// never more than [`bounds::MAX_COOLDOWN`].
    pub fn cooldown(&self) -> Duration {
        bounds::cooldown(
            self.reset_in
                .unwrap_or_else(|| self.verdict.default_cooldown()),
        )
    }
}

/// Whether the body of an answer with this status must be read to classify it.
/// Only error statuses qualify, so successful (streaming) answers are never held.
pub fn needs_body(dialect: Dialect, status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 402 | 403 | 429 | 503 | 529)
        || (matches!(dialect, Dialect::Google | Dialect::Bedrock)
            && status == StatusCode::BAD_REQUEST)
}

pub fn classify(
    dialect: Dialect,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Outcome {
    if !needs_body(dialect, status) {
        return Outcome::ok();
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    judge(dialect, status, headers, &json, now)
}

/// [`classify`] of an error body already parsed: `{"error":{…}}` in one of the dialects.
pub(super) fn judge(
    dialect: Dialect,
    status: StatusCode,
    headers: &HeaderMap,
    json: &Value,
    now: SystemTime,
) -> Outcome {
    let err = match dialect {
        Dialect::Bedrock => ErrorFields::read_aws(headers, json),
        _ => ErrorFields::read(json),
    };
    let verdict = verdict(dialect, status.as_u16(), &err);
    if verdict == Verdict::Ok {
        return Outcome::ok();
    }
    let reset_in = parse_retry_after(headers, now)
        .or_else(|| parse_reset_headers(headers, now))
        .or(err.retry_delay)
        .or_else(|| err.resets_in(now))
        .map(bounds::cooldown);
    let label = err.label().unwrap_or_default();
    Outcome {
        verdict,
        reset_in,
        detail: format!("{} {}", status.as_u16(), label)
            .trim_end()
            .to_string(),
        ending: None,
    }
}

fn verdict(dialect: Dialect, status: u16, e: &ErrorFields) -> Verdict {
    use Dialect::*;
    match (status, dialect) {
        (429, _)
            if e.is_any(&[
                "insufficient_quota",
                "enforced_spend_limit_reached",
                // Codex (ChatGPT plans): the plan's window is used up, or excludes Codex.
                "usage_limit_reached",
                "usage_not_included",
            ]) =>
        {
            Verdict::Exhausted
        }
        // Bedrock: the model is still loading, a state of the provider and not the account.
        (429, Bedrock) if e.is_any(&["ModelNotReadyException"]) => Verdict::Overloaded,
        (429, Google)
            if e.daily_quota || e.retry_delay.is_some_and(|d| d > Duration::from_secs(300)) =>
        {
            Verdict::Exhausted
        }
        (429, _) => Verdict::RateLimited,
        (529, _) => Verdict::Overloaded,
        (503, Openrouter) => Verdict::Ok, // "no provider meets your routing": not the account
        (503, _) if e.present => Verdict::Overloaded,
        (402, Openai | Openrouter) => Verdict::Exhausted,
        (401, _) if e.present => Verdict::AuthFailed,
        (403, Openrouter) => Verdict::Ok, // moderation, not the account
        (403, _) if e.present => Verdict::AuthFailed,
        (400, Google) if e.is_any(&["API_KEY_INVALID"]) => Verdict::AuthFailed,
        // Bedrock's quota answer is a 400 ("resubmit later"): the account's quota, not a
        // bad request. Through keypool the terminal table (`bedrock-service-quota`) sees
        // it first and ends the account's turn; this reading is for streams' exceptions.
        (400, Bedrock) if e.is_any(&["ServiceQuotaExceededException"]) => Verdict::Exhausted,
        _ => Verdict::Ok,
    }
}

/// The fields of the four error dialects that decide a verdict.
#[derive(Default)]
struct ErrorFields {
    /// The body is an error object in some provider's shape (not an HTML page from a CDN).
    present: bool,
    labels: Vec<String>,
    retry_delay: Option<Duration>,
    daily_quota: bool,
    /// Codex: `resets_at` (epoch seconds), or the older `resets_in_seconds`.
    resets_at: Option<u64>,
    resets_in_seconds: Option<u64>,
}

impl ErrorFields {
    /// AWS's shape: the exception's name in a header or the body, beside `{"message"}`.
    fn read_aws(headers: &HeaderMap, json: &Value) -> ErrorFields {
        let name = aws_error::error_type(headers, json);
        ErrorFields {
            present: name.is_some() || aws_error::has_message(json),
            labels: name.into_iter().collect(),
            ..ErrorFields::default()
        }
    }

    fn read(json: &Value) -> ErrorFields {
        let mut f = ErrorFields::default();
        // Google's streaming calls without `alt=sse` answer with a JSON array, and so do
        // their errors: `[{"error":{…}}]` (Vertex AI sends Claude's quota errors so too).
        let json = match json.as_array().map(Vec::as_slice) {
            Some([only]) => only,
            _ => json,
        };
        let Some(err) = json.get("error").filter(|e| e.is_object()) else {
            return f;
        };
        f.present = true;
        let mut label = |v: Option<&Value>| {
            if let Some(s) = v.and_then(Value::as_str) {
                f.labels.push(s.to_string());
            }
        };
        // OpenAI: error.code / error.type; Anthropic: error.type, error.details.error_code;
        // Google: error.status, details[].reason.
        label(err.get("code"));
        label(err.get("type"));
        label(err.get("status"));
        label(err.pointer("/details/error_code"));
        f.resets_at = err.get("resets_at").and_then(Value::as_u64);
        f.resets_in_seconds = err.get("resets_in_seconds").and_then(Value::as_u64);
        if let Some(details) = err.get("details").and_then(Value::as_array) {
            for d in details {
                label(d.get("reason"));
                if let Some(delay) = d.get("retryDelay").and_then(Value::as_str) {
                    f.retry_delay = parse_proto_duration(delay);
                }
                for v in d
                    .get("violations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = v.get("quotaId").and_then(Value::as_str).unwrap_or("");
                    f.daily_quota |= id.contains("PerDay") || id.contains("Daily");
                }
            }
        }
        f
    }

    /// Codex's reset. An epoch beyond what the platform represents is as far as can be:
    /// the caller clamps it to the longest cooldown.
    fn resets_in(&self, now: SystemTime) -> Option<Duration> {
        if let Some(at) = self.resets_at {
            return Some(bounds::epoch_secs(at).map_or(bounds::MAX_HORIZON, |at| {
                bounds::horizon(bounds::until(at, now))
            }));
        }
        self.resets_in_seconds.map(bounds::wait_from_secs)
    }

    fn is_any(&self, wanted: &[&str]) -> bool {
        self.labels.iter().any(|l| wanted.contains(&l.as_str()))
    }

    fn label(&self) -> Option<String> {
        self.labels.first().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(d: Dialect, status: u16, body: &str) -> Outcome {
        classify(
            d,
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn codex_usage_limit_resets_when_the_plan_says() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let body = r#"{"error":{"type":"usage_limit_reached","message":"You've hit your usage limit.","plan_type":"plus","resets_at":1800007200}}"#;
        let o = classify(
            Dialect::Openai,
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            body.as_bytes(),
            now,
        );
        assert_eq!(o.verdict, Verdict::Exhausted);
        assert_eq!(o.cooldown(), Duration::from_secs(7200));
        assert_eq!(o.detail, "429 usage_limit_reached");
    }

    #[test]
    fn openai_family() {
        let rl = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(c(Dialect::Openai, 429, rl).verdict, Verdict::RateLimited);
        assert_eq!(
            c(Dialect::Openai, 429, rl).detail,
            "429 rate_limit_exceeded"
        );
        let q = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(c(Dialect::Openai, 429, q).verdict, Verdict::Exhausted);
        assert_eq!(
            c(Dialect::Openai, 429, q).cooldown(),
            Duration::from_secs(3600)
        );
        let o = r#"{"error":{"message":"overloaded","type":"server_error","code":"server_is_overloaded"}}"#;
        assert_eq!(c(Dialect::Openai, 503, o).verdict, Verdict::Overloaded);
        assert_eq!(
            c(Dialect::Openai, 503, "<html>bad gateway</html>").verdict,
            Verdict::Ok
        );
        assert_eq!(
            c(
                Dialect::Openai,
                402,
                r#"{"error":{"message":"Insufficient Balance"}}"#
            )
            .verdict,
            Verdict::Exhausted
        );
        let bad_key = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            c(Dialect::Openai, 401, bad_key).verdict,
            Verdict::AuthFailed
        );
        assert_eq!(c(Dialect::Openai, 400, bad_key).verdict, Verdict::Ok);
        assert_eq!(c(Dialect::Openai, 200, "").verdict, Verdict::Ok);
    }

    #[test]
    fn anthropic_family() {
        let rl = r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
        assert_eq!(c(Dialect::Anthropic, 429, rl).verdict, Verdict::RateLimited);
        let o = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(c(Dialect::Anthropic, 529, o).verdict, Verdict::Overloaded);
        let a = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(c(Dialect::Anthropic, 401, a).verdict, Verdict::AuthFailed);
        let spend = r#"{"type":"error","error":{"type":"rate_limit_error","message":"x","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
        assert_eq!(
            c(Dialect::Anthropic, 429, spend).verdict,
            Verdict::Exhausted
        );
    }

    #[test]
    fn google_family() {
        let body = |id: &str, delay: &str| {
            format!(
                r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[
                {{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaId":"{id}"}}]}},
                {{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{delay}"}}]}}}}"#
            )
        };
        let o = c(
            Dialect::Google,
            429,
            &body("GenerateRequestsPerMinutePerProjectPerModel", "34.5s"),
        );
        assert_eq!(o.verdict, Verdict::RateLimited);
        assert_eq!(o.reset_in, Some(Duration::from_millis(34500)));
        assert_eq!(
            c(
                Dialect::Google,
                429,
                &body("GenerateRequestsPerDayPerProjectPerModel", "34s")
            )
            .verdict,
            Verdict::Exhausted
        );
        assert_eq!(
            c(Dialect::Google, 429, &body("PerMinute", "900s")).verdict,
            Verdict::Exhausted
        );
        let bad = concat!(
            r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","#,
            r#""details":[{"reason":"API_KEY_INVALID"}]}}"#
        );
        assert_eq!(c(Dialect::Google, 400, bad).verdict, Verdict::AuthFailed);
    }

    #[test]
    fn openrouter_family() {
        assert_eq!(
            c(
                Dialect::Openrouter,
                402,
                r#"{"error":{"code":402,"message":"credits"}}"#
            )
            .verdict,
            Verdict::Exhausted
        );
        assert_eq!(
            c(
                Dialect::Openrouter,
                403,
                r#"{"error":{"code":403,"message":"flagged"}}"#
            )
            .verdict,
            Verdict::Ok
        );
        assert_eq!(
            c(
                Dialect::Openrouter,
                429,
                r#"{"error":{"code":429,"message":"x"}}"#
            )
            .verdict,
            Verdict::RateLimited
        );
    }

    /// Bedrock names the exception in `x-amzn-errortype` (the body is `{"message"}`), or
    /// in the body's `__type` when the header is missing.
    fn bedrock(status: u16, exception: &str, message: &str) -> (Outcome, Outcome) {
        let mut h = HeaderMap::new();
        let header = format!("{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/");
        h.insert(aws_error::ERROR_TYPE_HEADER, header.parse().unwrap());
        let body = serde_json::json!({ "message": message }).to_string();
        let status = StatusCode::from_u16(status).unwrap();
        let now = SystemTime::now();
        let by_header = classify(Dialect::Bedrock, status, &h, body.as_bytes(), now);
        let typed = serde_json::json!({ "__type": exception, "message": message }).to_string();
        let by_body = classify(
            Dialect::Bedrock,
            status,
            &HeaderMap::new(),
            typed.as_bytes(),
            now,
        );
        (by_header, by_body)
    }

    /// Bedrock's answers as its API reference lists them, and what each means here.
    const BEDROCK_ANSWERS: &[(u16, &str, &str, Verdict)] = &[
        (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            Verdict::RateLimited,
        ),
        (
            429,
            "ThrottlingException",
            "Too many tokens, please wait before trying again.",
            Verdict::RateLimited,
        ),
        (
            429,
            "ModelNotReadyException",
            "Model is not ready",
            Verdict::Overloaded,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota for your account.",
            Verdict::Exhausted,
        ),
        (
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            Verdict::Overloaded,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            Verdict::AuthFailed,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            Verdict::AuthFailed,
        ),
        (
            400,
            "ValidationException",
            "Malformed input request",
            Verdict::Ok,
        ),
        (
            500,
            "InternalServerException",
            "Internal server error",
            Verdict::Ok,
        ),
        (424, "ModelErrorException", "The model errored", Verdict::Ok),
    ];

    #[test]
    fn bedrock_family() {
        for &(status, exception, message, want) in BEDROCK_ANSWERS {
            let (by_header, by_body) = bedrock(status, exception, message);
            assert_eq!(by_header.verdict, want, "{status} {exception}");
            assert_eq!(by_body.verdict, want, "{status} {exception} in __type");
            if want != Verdict::Ok {
                assert_eq!(by_header.detail, format!("{status} {exception}"));
            }
        }
        // The model-not-ready wait is the short overload one, the quota the long one.
        assert_eq!(
            bedrock(429, "ModelNotReadyException", "m").0.cooldown(),
            Duration::from_secs(10)
        );
        assert_eq!(
            bedrock(400, "ServiceQuotaExceededException", "m")
                .0
                .cooldown(),
            Duration::from_secs(3600)
        );
        // A 503 or 403 page from something in between is not Bedrock's word on the account.
        assert_eq!(
            c(Dialect::Bedrock, 503, "<html>busy</html>").verdict,
            Verdict::Ok
        );
        assert_eq!(
            c(Dialect::Bedrock, 403, "<html>no</html>").verdict,
            Verdict::Ok
        );
        // Other dialects do not read AWS's fields.
        let quota_elsewhere = r#"{"__type":"ServiceQuotaExceededException","message":"m"}"#;
        assert_eq!(
            c(Dialect::Openai, 400, quota_elsewhere).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn headers_beat_the_default() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        let o = classify(
            Dialect::Openai,
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            b"{}",
            SystemTime::now(),
        );
        assert_eq!(o.cooldown(), Duration::from_secs(7));
    }

    #[test]
    fn only_a_verdict_about_the_account_rotates() {
        assert!(!Verdict::Ok.rotates());
        for v in [
            Verdict::RateLimited,
            Verdict::Overloaded,
            Verdict::Exhausted,
            Verdict::AuthFailed,
            Verdict::Terminal,
        ] {
            assert!(v.rotates(), "{v:?}");
        }
    }

    #[test]
    fn only_error_statuses_have_their_body_read() {
        for (d, status, read) in [
            (Dialect::Openai, 200, false),
            (Dialect::Openai, 500, false),
            (Dialect::Openai, 400, false),
            (Dialect::Google, 200, false),
            (Dialect::Google, 400, true),
            (Dialect::Anthropic, 529, true),
            (Dialect::Openai, 429, true),
            (Dialect::Openrouter, 402, true),
            (Dialect::Openai, 401, true),
            (Dialect::Openai, 403, true),
            (Dialect::Openai, 503, true),
            (Dialect::Bedrock, 400, true),
            (Dialect::Bedrock, 200, false),
            (Dialect::Bedrock, 500, false),
        ] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(needs_body(d, s), read, "{d:?} {status}");
        }
    }

    #[test]
    fn a_refusal_without_a_provider_error_body_is_not_the_accounts() {
        // A CDN or a corporate proxy answering 401/403 with a page of its own says
        // nothing about the key.
        for status in [401, 403] {
            assert_eq!(
                c(Dialect::Openai, status, "<html>denied</html>").verdict,
                Verdict::Ok
            );
        }
        let forbidden = concat!(
            r#"{"error":{"message":"Project does not have access","#,
            r#""type":"invalid_request_error","code":"unsupported_country"}}"#
        );
        assert_eq!(
            c(Dialect::Openai, 403, forbidden).verdict,
            Verdict::AuthFailed
        );
        let bad_request = concat!(
            r#"{"error":{"code":400,"message":"Invalid JSON payload","#,
            r#""status":"INVALID_ARGUMENT"}}"#
        );
        assert_eq!(c(Dialect::Google, 400, bad_request).verdict, Verdict::Ok);
    }

    /// Vertex AI answers for Claude in Google's shape (quota, sometimes wrapped in an
    /// array) or in Anthropic's (overload from the model itself); both are read.
    #[test]
    fn claude_on_vertex_errors_in_either_dialect() {
        let quota = concat!(
            r#"{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/"#,
            r#"online_prediction_requests_per_base_model with base model: "#,
            r#"anthropic-claude-3-5-sonnet-v2.","status":"RESOURCE_EXHAUSTED"}}"#
        );
        let o = c(Dialect::Google, 429, quota);
        assert_eq!(
            (o.verdict, o.detail.as_str()),
            (Verdict::RateLimited, "429 RESOURCE_EXHAUSTED")
        );
        let wrapped = format!("[{quota}]");
        assert_eq!(
            c(Dialect::Google, 429, &wrapped).detail,
            "429 RESOURCE_EXHAUSTED"
        );
        let denied = concat!(
            r#"[{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' "#,
            r#"denied","status":"PERMISSION_DENIED"}}]"#
        );
        assert_eq!(c(Dialect::Google, 403, denied).verdict, Verdict::AuthFailed);
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let o = c(Dialect::Google, 529, overloaded);
        assert_eq!(
            (o.verdict, o.detail.as_str()),
            (Verdict::Overloaded, "529 overloaded_error")
        );
        let limited =
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#;
        assert_eq!(
            c(Dialect::Google, 429, limited).verdict,
            Verdict::RateLimited
        );
        let bad =
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens"}}"#;
        assert_eq!(c(Dialect::Google, 400, bad).verdict, Verdict::Ok);
        assert_eq!(c(Dialect::Google, 403, "[1, 2]").verdict, Verdict::Ok);
    }

    #[test]
    fn a_google_retry_delay_of_five_minutes_is_still_a_rate_limit() {
        let body = |delay: &str| {
            format!(
                concat!(
                    r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","#,
                    r#""details":[{{"retryDelay":"{delay}"}}]}}}}"#
                ),
                delay = delay
            )
        };
        assert_eq!(
            c(Dialect::Google, 429, &body("300s")).verdict,
            Verdict::RateLimited
        );
        assert_eq!(
            c(Dialect::Google, 429, &body("301s")).verdict,
            Verdict::Exhausted
        );
    }
}

/// Seeded fuzzing: a refusal with any reset in its headers or body cools an account for
/// at most the longest cooldown, and never panics.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::bounds::fuzz::{config, hostile_value};
    use crate::bounds::MAX_COOLDOWN;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn any_reset_in_a_refusal_is_bounded(
            v in hostile_value(),
            field in prop::sample::select(vec!["resets_at", "resets_in_seconds", "retryDelay"]),
            status in prop::sample::select(vec![402u16, 429, 503, 529]),
            dialect in prop::sample::select(
                vec![
                    Dialect::Openai,
                    Dialect::Anthropic,
                    Dialect::Google,
                    Dialect::Openrouter,
                    Dialect::Bedrock,
                ]
            ),
            header in any::<bool>(),
        ) {
            let now = SystemTime::now();
            let body = if field == "retryDelay" {
                let details = format!(r#"[{{"retryDelay":"{v}s"}}]"#);
                format!(r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","details":{details}}}}}"#)
            } else {
                format!(r#"{{"error":{{"type":"usage_limit_reached","{field}":{v}}}}}"#)
            };
            let mut h = HeaderMap::new();
            if let (true, Ok(value)) = (header, http::HeaderValue::from_str(&v)) {
                h.insert("retry-after", value);
            }
            let status = StatusCode::from_u16(status).unwrap();
            let o = classify(dialect, status, &h, body.as_bytes(), now);
            prop_assert!(o.cooldown() <= MAX_COOLDOWN);
            prop_assert!(o.reset_in.is_none_or(|d| d <= MAX_COOLDOWN));
            let error = format!(r#"{{"type":"usage_limit_reached","{field}":{v}}}"#);
            let event = format!(r#"{{"type":"error","status":429,"error":{error}}}"#);
            let o = crate::providers::classify_event(dialect, "error", &event, now);
            prop_assert!(o.cooldown() <= MAX_COOLDOWN);
        }
    }
}
