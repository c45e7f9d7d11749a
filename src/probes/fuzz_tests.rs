//! Seeded fuzzing of every probe parser: each endpoint's real shape with its values
//! replaced by what a hostile server writes (as numbers and as strings), and arbitrary
//! bytes. Never a panic, never more than [`MAX_WINDOWS`] windows, no reset beyond the
//! horizon, no NaN or negative utilization.

use super::wire::MAX_WINDOWS;
use super::{anthropic, chatgpt, code_assist, copilot, kimi, Parse};
use crate::bounds::fuzz::{config, hostile_value};
use crate::bounds::MAX_HORIZON;
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

const PARSERS: [Parse; 5] = [
    anthropic::parse,
    chatgpt::parse,
    copilot::parse,
    code_assist::parse,
    kimi::parse,
];

/// Each endpoint's answer with `@V` where a value goes.
const SHAPES: [&str; 5] = [
    r#"{"five_hour":{"utilization":@V,"resets_at":@V},"seven_day_x":{"utilization":@V},"limits":[{"kind":"weekly_scoped","scope":{"model":{"display_name":@V}},"percent":@V,"resets_at":@V}]}"#,
    r#"{"rate_limit":{"primary_window":{"used_percent":@V,"limit_window_seconds":@V,"reset_at":@V,"reset_after_seconds":@V}},"additional_rate_limits":[{"limit_name":@V,"rate_limit":{"secondary_window":{"used_percent":@V}}}]}"#,
    r#"{"quota_reset_date_utc":@V,"quota_reset_date":@V,"quota_snapshots":{"premium_interactions":{"entitlement":@V,"remaining":@V,"percent_remaining":@V,"unlimited":@V}}}"#,
    r#"{"buckets":[{"modelId":@V,"tokenType":@V,"remainingFraction":@V,"remainingAmount":@V,"resetTime":@V}]}"#,
    r#"{"usage":{"limit":@V,"used":@V,"remaining":@V,"resetTime":@V},"limits":[{"window":{"duration":@V,"timeUnit":@V},"detail":{"limit":@V,"used":@V}}]}"#,
];

/// A hostile value as JSON: the bare number when it is one, else a string.
fn json_value() -> impl Strategy<Value = String> {
    (hostile_value(), any::<bool>()).prop_map(|(v, bare)| {
        let quoted = serde_json::Value::String(v.clone()).to_string();
        let is_json = serde_json::from_str::<serde_json::Value>(&v).is_ok();
        if bare && is_json {
            v
        } else {
            quoted
        }
    })
}

fn check(parse: Parse, body: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let Ok(windows) = parse(body, now) else {
        return;
    };
    assert!(windows.len() <= MAX_WINDOWS);
    for w in windows {
        if let Some(u) = w.utilization {
            assert!(u.is_finite() && u >= 0.0, "{w:?}");
        }
        if let Some(at) = w.resets_at {
            assert!(at <= now + MAX_HORIZON, "{w:?}");
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn real_shapes_with_hostile_values(
        shape in 0..SHAPES.len(),
        values in prop::collection::vec(json_value(), 24),
    ) {
        let mut body = SHAPES[shape].to_string();
        for v in &values {
            body = body.replacen("@V", v, 1);
        }
        check(PARSERS[shape], body.as_bytes());
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for parse in PARSERS {
            check(parse, &bytes);
        }
    }
}
