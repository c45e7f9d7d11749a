//! Quota details that only an error body carries: Google's `QuotaFailure` and `RetryInfo`.

use super::{Window, WindowStatus};
use crate::providers::{parse_proto_duration, Dialect};
use serde_json::Value;
use std::time::SystemTime;

/// The windows an error body names. Only the Google dialect has any: each `QuotaFailure`
/// violation becomes a rejected window named by its `quotaId`, scoped to the
/// `quotaDimensions.model`, with `quotaValue` as its limit, resetting after
/// `RetryInfo.retryDelay`; a `RetryInfo` without violations gives one window `quota`.
/// Other dialects, and bodies that are not such errors, give none.
pub fn learn_error_body(dialect: Dialect, body: &[u8], now: SystemTime) -> Vec<Window> {
    if dialect != Dialect::Google {
        return Vec::new();
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    // Streaming endpoints wrap the error in an array.
    let json = json.as_array().and_then(|a| a.first()).unwrap_or(&json);
    let Some(details) = json.pointer("/error/details").and_then(Value::as_array) else {
        return Vec::new();
    };
    let resets_at = details
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(parse_proto_duration)
        .map(|d| crate::bounds::after(now, d));
    let rejected = |name: &str| Window {
        resets_at,
        status: Some(WindowStatus::Rejected),
        learned_at: Some(now),
        ..Window::named(name)
    };
    let mut out: Vec<Window> = details
        .iter()
        .filter_map(|d| d.get("violations")?.as_array())
        .flatten()
        .filter_map(|v| {
            let id = v
                .get("quotaId")
                .or_else(|| v.get("quotaMetric"))?
                .as_str()?;
            let limit = match v.get("quotaValue") {
                // int64 travels as a string in protobuf JSON.
                Some(Value::String(s)) => s.trim().parse().ok(),
                Some(n) => n.as_u64(),
                None => None,
            };
            Some(Window {
                scope: v
                    .pointer("/quotaDimensions/model")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                limit,
                remaining: limit.map(|_| 0),
                utilization: Some(1.0),
                minutes: quota_minutes(id),
                ..rejected(id)
            })
        })
        .collect();
    if out.is_empty() && resets_at.is_some() {
        out.push(Window {
            utilization: Some(1.0),
            ..rejected("quota")
        });
    }
    out
}

/// `GenerateRequestsPerDayPerProjectPerModel-FreeTier` → 1440.
fn quota_minutes(id: &str) -> Option<u64> {
    [
        ("PerMinute", 1),
        ("PerHour", 60),
        ("PerDay", 24 * 60),
        ("Daily", 24 * 60),
    ]
    .into_iter()
    .find(|(k, _)| id.contains(k))
    .map(|(_, m)| m)
}
