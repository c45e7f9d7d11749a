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
mod tests;

/// Seeded fuzzing: a refusal with any reset in its headers or body cools an account for
/// at most the longest cooldown, and never panics.
#[cfg(test)]
mod fuzz;
