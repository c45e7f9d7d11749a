//! Google: `QuotaFailure` / `RetryInfo` in the error body.

use super::*;

const GEMINI_429: &str = r#"{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
            "quotaValue": "100"
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
            "quotaValue": 250000
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.074824224s"}
    ]
  }
}"#;

#[test]
fn gemini_quota_failures_become_rejected_windows() {
    let ws = learn_error_body(Dialect::Google, GEMINI_429.as_bytes(), now());
    assert_eq!(ws.len(), 2, "{ws:#?}");
    let reset = Some(now() + Duration::from_secs_f64(34.074824224));
    let day = get(&ws, "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
    assert_eq!(day.scope.as_deref(), Some("gemini-2.5-pro"));
    assert_eq!((day.limit, day.remaining), (Some(100), Some(0)));
    assert_eq!(day.minutes, Some(1440));
    assert_eq!(day.status, Some(WindowStatus::Rejected));
    assert_eq!(day.resets_at, reset);
    approx(day.utilization, 1.0);
    let minute = get(&ws, "GenerateContentInputTokensPerModelPerMinute-FreeTier");
    assert_eq!((minute.limit, minute.minutes), (Some(250000), Some(1)));

    // Streaming endpoints wrap the error in an array.
    let wrapped = format!("[{GEMINI_429}]");
    assert_eq!(
        learn_error_body(Dialect::Google, wrapped.as_bytes(), now()),
        ws
    );
}

#[test]
fn gemini_retry_info_alone_and_non_quota_errors() {
    let body = r#"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#;
    let ws = learn_error_body(Dialect::Google, body.as_bytes(), now());
    assert_eq!(ws.len(), 1);
    let w = get(&ws, "quota");
    assert_eq!(w.resets_at, at(NOW_SECS + 20));
    assert_eq!(w.status, Some(WindowStatus::Rejected));
    assert_eq!(w.scope, None);
    approx(w.utilization, 1.0);

    let bad_key = r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
    for (dialect, body) in [
        (Dialect::Google, bad_key),
        (Dialect::Google, "<html>502</html>"),
        (Dialect::Google, ""),
        (Dialect::Google, r#"{"error":{"details":"nope"}}"#),
        (
            Dialect::Google,
            r#"{"error":{"details":[{"retryDelay":"soon"}]}}"#,
        ),
        (
            Dialect::Google,
            r#"{"error":{"details":[{"violations":[{"quotaValue":"5"}]}]}}"#,
        ),
        (Dialect::Openai, GEMINI_429),
        (Dialect::Anthropic, GEMINI_429),
    ] {
        let ws = learn_error_body(dialect, body.as_bytes(), now());
        assert!(ws.is_empty(), "{dialect:?} {body}: {ws:#?}");
    }
    // A violation without a usable RetryInfo or quota value still names the window.
    let body = r#"{"error":{"details":[{"violations":[{"quotaId":"PerDay","quotaValue":"lots"}]},{"retryDelay":"-3s"}]}}"#;
    let ws = learn_error_body(Dialect::Google, body.as_bytes(), now());
    let w = get(&ws, "PerDay");
    assert_eq!((w.limit, w.remaining, w.resets_at), (None, None, None));
    assert_eq!(w.pressure(), Some(1.0));
}

#[test]
fn the_window_length_is_read_from_each_spelling_of_the_quota_id() {
    for (id, minutes) in [
        (
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            Some(1),
        ),
        ("RequestsPerHourPerProject", Some(60)),
        (
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            Some(1440),
        ),
        ("DailyRequestsPerProject", Some(1440)),
        ("ConcurrentRequests", None),
    ] {
        let body = format!(
            r#"{{"error":{{"details":[{{"violations":[{{"quotaId":"{id}"}}]}},{{"retryDelay":"5s"}}]}}}}"#
        );
        let ws = learn_error_body(Dialect::Google, body.as_bytes(), now());
        assert_eq!(get(&ws, id).minutes, minutes, "{id}");
    }
}
