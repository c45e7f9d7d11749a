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
    let o =
        r#"{"error":{"message":"overloaded","type":"server_error","code":"server_is_overloaded"}}"#;
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
    let a =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
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
    let bad = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens"}}"#;
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
