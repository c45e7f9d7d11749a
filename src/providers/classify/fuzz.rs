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
            let error = r#""code":429,"status":"RESOURCE_EXHAUSTED""#;
            format!(r#"{{"error":{{{error},"details":{details}}}}}"#)
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
