//! Errors a provider sends inside a successful event stream, read as the status they
//! stand for, so the answer table of [`classify`](super::classify) applies unchanged:
//!
//! - Anthropic: `event: error` / `{"type":"error","error":{"type":"overloaded_error"|"rate_limit_error",…}}`;
//! - OpenAI Responses and Codex: `response.failed` with `response.error.code`, or an
//!   `error` event (`{"type":"error","code":…}`, or an `error` object);
//! - OpenRouter and OpenAI-compatible servers: `data: {"error":{"code":429|402|…,"message":…}}`;
//! - Gemini: `data: {"error":{"code":429,"status":"RESOURCE_EXHAUSTED",…}}`.
//!
//! Only limits and overload rotate; any other in-stream error is the client's business.

use super::classify::{judge, Outcome};
use super::Dialect;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::time::SystemTime;

/// Error labels that mean "this account, not now": read as a 429 (the table then tells
/// a rate limit from a used-up quota).
const LIMIT_LABELS: &[&str] = &[
    "rate_limit_exceeded",
    "rate_limit_error",
    "slow_down",
    "RESOURCE_EXHAUSTED",
    "insufficient_quota",
    "usage_limit_reached",
    "usage_not_included",
    "enforced_spend_limit_reached",
];

/// Error labels that mean the provider is overloaded: read as a 529.
const OVERLOAD_LABELS: &[&str] = &["overloaded_error", "server_is_overloaded", "UNAVAILABLE"];

/// Statuses a numeric in-stream `code`/`status` may stand for.
const ACCOUNT_STATUSES: &[u64] = &[402, 429, 503, 529];

/// What the event named `name` (`message` when it had no `event:` line) with `data`
/// says about the account that sent it.
pub fn classify_event(dialect: Dialect, name: &str, data: &str, now: SystemTime) -> Outcome {
    let Ok(json) = serde_json::from_str::<Value>(data) else {
        return Outcome::ok(); // `[DONE]`, or text: not an error
    };
    let Some(err) = error_object(name, &json) else {
        return Outcome::ok();
    };
    let labels: Vec<&str> = ["code", "type", "status"]
        .iter()
        .filter_map(|k| err.get(*k)?.as_str())
        .collect();
    let numeric = [err.get("code"), json.get("status"), err.get("status")]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_u64().filter(|n| ACCOUNT_STATUSES.contains(n)));
    let status = match numeric {
        Some(n) => n as u16,
        None if labels.iter().any(|l| LIMIT_LABELS.contains(l)) => 429,
        None if labels.iter().any(|l| OVERLOAD_LABELS.contains(l)) => 529,
        None => return Outcome::ok(),
    };
    let status = StatusCode::from_u16(status).expect("a valid status");
    let envelope = json!({ "error": err });
    let mut outcome = judge(dialect, status, &HeaderMap::new(), &envelope, now);
    if outcome.verdict.rotates() {
        let label = labels
            .first()
            .map_or_else(|| status.as_str().to_string(), |l| l.to_string());
        outcome.detail = format!("in-stream {label}");
    }
    outcome
}

/// The error object of an error event, if this is one.
fn error_object<'a>(name: &str, json: &'a Value) -> Option<&'a Value> {
    let kind = json.get("type").and_then(Value::as_str).unwrap_or(name);
    if kind == "response.failed" || name == "response.failed" {
        return json.pointer("/response/error").filter(|e| e.is_object());
    }
    if let Some(e) = json.get("error").filter(|e| e.is_object()) {
        return Some(e);
    }
    // The Responses `error` event carries its fields at the top level.
    let is_error = kind == "error" || name == "error";
    (is_error && (json.get("code").is_some() || json.get("message").is_some())).then_some(json)
}

/// Events that carry nothing for the client yet, so holding on past them costs it
/// nothing: the Responses lifecycle before any output (`response.created`,
/// `response.queued`, `response.in_progress`; a limit shows up as `response.failed`
/// right after them) and Anthropic's `ping`.
pub fn is_preamble(name: &str, data: &str) -> bool {
    const PREAMBLE: &[&str] = &[
        "response.created",
        "response.queued",
        "response.in_progress",
        "ping",
    ];
    if PREAMBLE.contains(&name) {
        return true;
    }
    name == "message"
        && data.contains("\"type\"")
        && serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(|t| PREAMBLE.contains(&t)))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Verdict;
    use std::time::Duration;

    fn c(d: Dialect, name: &str, data: &str) -> Outcome {
        classify_event(d, name, data, SystemTime::now())
    }

    #[test]
    fn anthropic_error_events() {
        let o = c(
            Dialect::Anthropic,
            "error",
            r#"{"type":"error","error":{"details":null,"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
        );
        assert_eq!(o.verdict, Verdict::Overloaded);
        assert_eq!(o.detail, "in-stream overloaded_error");
        let o = c(
            Dialect::Anthropic,
            "error",
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        );
        assert_eq!(o.verdict, Verdict::RateLimited);
        let api =
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;
        assert_eq!(c(Dialect::Anthropic, "error", api).verdict, Verdict::Ok);
        let start =
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","content":[]}}"#;
        assert_eq!(
            c(Dialect::Anthropic, "message_start", start).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn responses_failed_and_error_events() {
        let failed = |code: &str| {
            format!(
                r#"{{"type":"response.failed","sequence_number":2,"response":{{"id":"resp_1","status":"failed","error":{{"code":"{code}","message":"Rate limit reached. Please try again in 1.2s."}}}}}}"#
            )
        };
        let o = c(
            Dialect::Openai,
            "response.failed",
            &failed("rate_limit_exceeded"),
        );
        assert_eq!(o.verdict, Verdict::RateLimited);
        assert_eq!(o.detail, "in-stream rate_limit_exceeded");
        assert_eq!(
            c(Dialect::Openai, "message", &failed("usage_limit_reached")).verdict,
            Verdict::Exhausted
        );
        assert_eq!(
            c(
                Dialect::Openai,
                "response.failed",
                &failed("insufficient_quota")
            )
            .verdict,
            Verdict::Exhausted
        );
        assert_eq!(
            c(Dialect::Openai, "response.failed", &failed("slow_down")).verdict,
            Verdict::RateLimited
        );
        assert_eq!(
            c(Dialect::Openai, "response.failed", &failed("server_error")).verdict,
            Verdict::Ok
        );
        let overloaded = r#"{"type":"error","code":"server_is_overloaded","message":"Our servers are currently overloaded.","param":null,"sequence_number":1}"#;
        assert_eq!(
            c(Dialect::Openai, "error", overloaded).verdict,
            Verdict::Overloaded
        );
        // Codex's usage limit, with the reset the plan names.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let usage = r#"{"type":"error","status":429,"error":{"type":"usage_limit_reached","message":"You've hit your usage limit.","resets_at":1800000600}}"#;
        let o = classify_event(Dialect::Openai, "error", usage, now);
        assert_eq!(o.verdict, Verdict::Exhausted);
        assert_eq!(o.cooldown(), Duration::from_secs(600));
        // A normal event has `"error": null`.
        let created = r#"{"type":"response.created","response":{"id":"resp_1","status":"in_progress","error":null}}"#;
        assert_eq!(
            c(Dialect::Openai, "response.created", created).verdict,
            Verdict::Ok
        );
        assert_eq!(c(Dialect::Openai, "message", "[DONE]").verdict, Verdict::Ok);
    }

    #[test]
    fn openrouter_in_stream_errors() {
        let e = |code: &str| format!(r#"{{"error":{{"code":{code},"message":"x"}}}}"#);
        assert_eq!(
            c(Dialect::Openrouter, "message", &e("429")).verdict,
            Verdict::RateLimited
        );
        assert_eq!(
            c(Dialect::Openrouter, "message", &e("402")).verdict,
            Verdict::Exhausted
        );
        // "No provider meets your routing" and moderation are not the account.
        assert_eq!(
            c(Dialect::Openrouter, "message", &e("503")).verdict,
            Verdict::Ok
        );
        assert_eq!(
            c(Dialect::Openrouter, "message", &e("403")).verdict,
            Verdict::Ok
        );
        // Mid-generation: a chunk with an error field and finish_reason "error".
        let chunk = r#"{"id":"gen-1","object":"chat.completion.chunk","error":{"code":"server_error","message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
        assert_eq!(
            c(Dialect::Openrouter, "message", chunk).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn gemini_resource_exhausted() {
        let data = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"21s"}]}}"#;
        let o = c(Dialect::Google, "message", data);
        assert_eq!(o.verdict, Verdict::RateLimited);
        assert_eq!(o.cooldown(), Duration::from_secs(21));
        assert_eq!(o.detail, "in-stream RESOURCE_EXHAUSTED");
        let busy = r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#;
        assert_eq!(
            c(Dialect::Google, "message", busy).verdict,
            Verdict::Overloaded
        );
    }

    #[test]
    fn preamble_events() {
        assert!(is_preamble("response.created", "{}"));
        assert!(is_preamble("ping", r#"{"type": "ping"}"#));
        assert!(is_preamble(
            "message",
            r#"{"type":"response.in_progress","response":{}}"#
        ));
        assert!(!is_preamble("message_start", r#"{"type":"message_start"}"#));
        assert!(!is_preamble("message", r#"{"choices":[]}"#));
        assert!(!is_preamble(
            "response.failed",
            r#"{"type":"response.failed"}"#
        ));
    }

    #[test]
    fn a_responses_error_event_is_read_by_its_type_or_its_name() {
        let overloaded = r#"{"type":"error","code":"server_is_overloaded","message":"busy"}"#;
        // Without an `event:` line the event is named `message`; its type still tells.
        assert_eq!(
            c(Dialect::Openai, "message", overloaded).verdict,
            Verdict::Overloaded
        );
        let code_only = r#"{"type":"error","code":"rate_limit_exceeded"}"#;
        assert_eq!(
            c(Dialect::Openai, "error", code_only).verdict,
            Verdict::RateLimited
        );
        // An event that is not an error keeps its fields to itself.
        let delta =
            r#"{"type":"response.output_text.delta","code":"rate_limit_exceeded","message":"x"}"#;
        assert_eq!(
            c(Dialect::Openai, "response.output_text.delta", delta).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn output_is_no_preamble_whatever_its_event_name() {
        let delta = r#"{"type":"response.output_text.delta","delta":"hi"}"#;
        assert!(!is_preamble("message", delta));
        assert!(!is_preamble("response.output_text.delta", delta));
    }
}
