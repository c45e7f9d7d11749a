//! Seeded fuzzing of [`learn`] and [`learn_error_body`] over arbitrary header maps and
//! bodies: never a panic, every reset within the horizon, no NaN utilization.

use super::*;
use crate::bounds::fuzz::{config, hostile_value};
use crate::bounds::MAX_HORIZON;
use proptest::prelude::*;

/// Header names of every family read, and some that only look like them.
fn name() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "x-ratelimit-limit-",
        "x-ratelimit-remaining-",
        "x-ratelimit-reset-",
        "x-ratelimit-",
        "anthropic-ratelimit-",
        "anthropic-ratelimit-unified-",
        "x-codex-primary-",
        "x-codex-secondary-",
        "x-codex-bengalfox-primary-",
        "x-",
    ]);
    let suffix = prop::sample::select(vec![
        "requests",
        "tokens",
        "reset",
        "after",
        "limit",
        "remaining",
        "status",
        "utilization",
        "representative-claim",
        "5h-reset",
        "7d-utilization",
        "7d-opus-status",
        "used-percent",
        "window-minutes",
        "reset-at",
        "reset-after-seconds",
        "limit-name",
        "tokens-reset",
        "input-tokens-remaining",
    ]);
    (prefix, suffix, "[a-z0-9-]{0,6}").prop_map(|(p, s, x)| format!("{p}{s}{x}"))
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((name(), hostile_value()), 0..24).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::from_str(&v)) {
                h.append(n, v);
            }
        }
        h
    })
}

fn check(windows: &[Window], now: SystemTime) -> Result<(), TestCaseError> {
    for w in windows {
        if let Some(at) = w.resets_at {
            let ahead = at.duration_since(now).unwrap_or_default();
            prop_assert!(ahead <= MAX_HORIZON, "{}: {ahead:?}", w.name);
        }
        prop_assert!(w.utilization.is_none_or(|u| !u.is_nan()), "{}", w.name);
        prop_assert!(w.pressure().is_none_or(|p| !p.is_nan()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn learn_over_arbitrary_headers(h in headers(), secs in 0u64..8_000_000_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        for dialect in [Dialect::Openai, Dialect::Anthropic, Dialect::Google, Dialect::Openrouter] {
            let windows = learn(dialect, &h, now);
            check(&windows, now)?;
            let _ = tightest(&windows);
        }
    }

    #[test]
    fn google_error_bodies(delay in hostile_value(), quota in hostile_value(), wrap in any::<bool>()) {
        let now = super::now();
        let err = serde_json::json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "details": [{"violations": [{"quotaId": "GenerateRequestsPerDay", "quotaValue": quota}]},
                        {"retryDelay": format!("{delay}s")}]}});
        let body = if wrap { serde_json::json!([err]) } else { err };
        check(&learn_error_body(Dialect::Google, body.to_string().as_bytes(), now), now)?;
    }
}
