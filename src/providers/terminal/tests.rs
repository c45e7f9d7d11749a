use super::*;
use http::HeaderMap;
use std::time::Duration;

const MEMBERSHIP: &str = concat!(
    r#"{"type":"error","error":{"type":"permission_error","#,
    r#""message":"We're unable to verify your membership benefits"}}"#
);

fn ban(appeal: &str) -> String {
    serde_json::json!({"error": {
        "code": 403,
        "message": "This service has been disabled in this account for violation of Terms of Service. Please submit an appeal to continue using this product.",
        "status": "PERMISSION_DENIED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "cloudcode-pa.googleapis.com",
            "metadata": {"appeal_url": appeal},
        }],
    }})
    .to_string()
}

#[test]
fn a_kimi_membership_402_ends_the_turn_with_its_fix() {
    let o = judge(
        "kimi-coding",
        402,
        &HeaderMap::new(),
        MEMBERSHIP.as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(o.verdict, Verdict::Terminal);
    assert_eq!(
        o.detail,
        "402 Kimi could not verify the account's membership"
    );
    let ending = o.ending.unwrap();
    assert_eq!(ending.rule, "kimi-membership");
    assert!(
        ending.fix.contains("renew the Kimi membership"),
        "{}",
        ending.fix
    );
}

#[test]
fn a_row_applies_only_to_its_providers_status_and_text() {
    // The same words from another provider, or without "membership", or on another
    // status, are no terminal answer.
    assert!(judge(
        "anthropic",
        402,
        &HeaderMap::new(),
        MEMBERSHIP.as_bytes(),
        None
    )
    .is_none());
    assert!(judge(
        "openrouter",
        402,
        &HeaderMap::new(),
        MEMBERSHIP.as_bytes(),
        None
    )
    .is_none());
    let credits = r#"{"type":"error","error":{"type":"billing_error","message":"out of credits"}}"#;
    assert!(judge(
        "kimi-coding",
        402,
        &HeaderMap::new(),
        credits.as_bytes(),
        None
    )
    .is_none());
    assert!(judge(
        "kimi-coding",
        403,
        &HeaderMap::new(),
        MEMBERSHIP.as_bytes(),
        None
    )
    .is_none());
    assert!(judge(
        "kimi-coding",
        402,
        &HeaderMap::new(),
        b"\xff\xfe membership",
        None
    )
    .is_some());
}

#[test]
fn a_cloud_code_tos_ban_points_at_the_appeal() {
    let url = "https://support.google.com/code-assist/appeal?id=1";
    let o = judge(
        "google-gemini-cli",
        403,
        &HeaderMap::new(),
        ban(url).as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(o.verdict, Verdict::Terminal);
    let ending = o.ending.unwrap();
    assert_eq!(ending.rule, "cloudcode-tos-ban");
    assert!(
        ending.fix.ends_with(&format!("(appeal at {url})")),
        "{}",
        ending.fix
    );
    // A link that is no plain https link stays out of the fix.
    for hostile in [
        "javascript:alert(1)",
        "https://x.example/a b",
        &"https://x/".repeat(100),
    ] {
        let o = judge(
            "google-gemini-cli",
            403,
            &HeaderMap::new(),
            ban(hostile).as_bytes(),
            None,
        )
        .unwrap();
        assert!(!o.ending.unwrap().fix.contains("appeal at"), "{hostile}");
    }
    // Another 403 of Cloud Code (a missing scope, say) is not a ban.
    let scope =
        r#"{"error":{"code":403,"message":"insufficient scopes","status":"PERMISSION_DENIED"}}"#;
    assert!(judge(
        "google-gemini-cli",
        403,
        &HeaderMap::new(),
        scope.as_bytes(),
        None
    )
    .is_none());
    assert!(judge("google", 403, &HeaderMap::new(), ban(url).as_bytes(), None).is_none());
}

#[test]
fn a_xiaomi_401_cools_only_a_key_that_just_served() {
    let body = r#"{"error":{"message":"Invalid API Key","type":"invalid_request_error"}}"#;
    let minutes = |m: u64| Some(Duration::from_secs(m * 60));
    for provider in ["xiaomi", "xiaomi-token-plan-sgp"] {
        let o = judge(
            provider,
            401,
            &HeaderMap::new(),
            body.as_bytes(),
            minutes(5),
        )
        .unwrap();
        assert_eq!(o.verdict, Verdict::Exhausted);
        assert_eq!(o.reset_in, Some(Duration::from_secs(3600)));
        assert!(o.ending.is_none());
        assert!(judge(
            provider,
            401,
            &HeaderMap::new(),
            body.as_bytes(),
            minutes(61)
        )
        .is_none());
        assert!(judge(provider, 401, &HeaderMap::new(), body.as_bytes(), None).is_none());
    }
    assert!(judge(
        "openai",
        401,
        &HeaderMap::new(),
        body.as_bytes(),
        minutes(5)
    )
    .is_none());
}

/// Another helper's rows (a 400 with a JSON field, say) fit the same shape.
#[test]
fn a_row_can_match_a_json_field_of_any_provider_it_names() {
    let rows = [Row {
        rule: "test-quota",
        providers: &["bedrock"],
        status: 400,
        body: &[Needle::Field {
            path: "/__type",
            contains: "ServiceQuotaExceededException",
        }],
        served_within: None,
        then: Then::Cools {
            verdict: Verdict::Exhausted,
            wait: Duration::from_secs(60),
            reason: "quota",
        },
    }];
    let body = br#"{"__type":"com.amazon#ServiceQuotaExceededException","message":"x"}"#;
    let o = judge_with(&rows, "bedrock", 400, &HeaderMap::new(), body, None).unwrap();
    assert_eq!(o.verdict, Verdict::Exhausted);
    assert!(judge_with(
        &rows,
        "bedrock",
        400,
        &HeaderMap::new(),
        br#"{"message":"ServiceQuotaExceededException"}"#,
        None
    )
    .is_none());
    assert!(judge_with(&rows, "other", 400, &HeaderMap::new(), body, None).is_none());
}

#[test]
fn every_row_names_built_in_providers() {
    let ids: Vec<String> = crate::providers::builtin()
        .into_iter()
        .map(|p| p.id)
        .collect();
    for row in TABLE {
        for p in row.providers {
            assert!(ids.iter().any(|i| i == p), "{}: {p}", row.rule);
        }
    }
}

#[test]
fn an_api_management_quota_403_ends_an_azure_accounts_turn_and_nothing_else() {
    let quota = r#"{ "statusCode": 403, "message": "Out of call volume quota. Quota will be replenished in 00:59:12." }"#;
    let o = judge(
        "azure-openai-responses",
        403,
        &HeaderMap::new(),
        quota.as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(o.verdict, Verdict::Terminal);
    let ending = o.ending.unwrap();
    assert_eq!(ending.rule, "azure-apim-quota");
    assert!(ending.fix.contains("keypool reload"), "{}", ending.fix);
    // A 403 that is not about quota (no access to the deployment) is the client's, and
    // another provider's quota 403 is no Azure rule's.
    let denied = r#"{"error":{"code":"PermissionDenied","message":"The principal lacks the required data action"}}"#;
    assert!(judge(
        "azure-openai-responses",
        403,
        &HeaderMap::new(),
        denied.as_bytes(),
        None
    )
    .is_none());
    assert!(judge("openai", 403, &HeaderMap::new(), quota.as_bytes(), None).is_none());
    assert!(judge(
        "azure-openai-responses",
        429,
        &HeaderMap::new(),
        quota.as_bytes(),
        None
    )
    .is_none());
}

#[test]
fn a_bedrock_service_quota_400_ends_the_turn_by_its_header_or_its_type() {
    let body = br#"{"message":"The request exceeds the service quota for your account."}"#;
    let mut h = HeaderMap::new();
    h.insert(
        "x-amzn-errortype",
        "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            .parse()
            .unwrap(),
    );
    let o = judge("amazon-bedrock", 400, &h, body, None).unwrap();
    assert_eq!(o.verdict, Verdict::Terminal);
    assert_eq!(o.ending.unwrap().rule, "bedrock-service-quota");
    let typed = br#"{"__type":"com.amazon.bedrock#ServiceQuotaExceededException","message":"x"}"#;
    let o = judge("amazon-bedrock", 400, &HeaderMap::new(), typed, None).unwrap();
    assert_eq!(o.verdict, Verdict::Terminal);
    // A validation error, or the quota header on another provider, is not this.
    let mut v = HeaderMap::new();
    v.insert("x-amzn-errortype", "ValidationException".parse().unwrap());
    assert!(judge("amazon-bedrock", 400, &v, body, None).is_none());
    assert!(judge("openai", 400, &h, body, None).is_none());
}
