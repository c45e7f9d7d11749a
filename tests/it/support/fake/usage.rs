//! The free quota endpoints of the subscription backends on the fake provider, in their
//! real shapes (PROVIDERS.md §13): Anthropic's `GET /api/oauth/usage` (utilization a
//! percentage, here past 100 on the five-hour window), ChatGPT's `GET
//! /backend-api/wham/usage` (five hours primary, a week secondary; the parser's own tests
//! cover the swapped slots captures show), Code Assist's `POST
//! /v1internal:retrieveUserQuota` (per-model daily buckets) and Kimi For Coding's `GET
//! /coding/v1/usages` (every number a string). The numbers are constants so a test can
//! check what keypool made of them.

use serde_json::{json, Value};

use crate::support::https::unix_now;

/// Anthropic's five-hour and seven-day utilization, in percent.
pub const ANTHROPIC_5H_PERCENT: f64 = 104.0;
pub const ANTHROPIC_7D_PERCENT: f64 = 30.0;
/// ChatGPT's used percent of the weekly (secondary slot) and five-hour (primary) windows.
pub const CHATGPT_7D_PERCENT: u64 = 64;
pub const CHATGPT_5H_PERCENT: u64 = 12;
/// The Code Assist bucket of `gemini-2.5-pro`: what is left of the day.
pub const CODE_ASSIST_PRO_LEFT: f64 = 0.25;
/// Kimi For Coding: requests used of the week's and of the five hours' limits.
pub const KIMI_WEEK_USED: (u64, u64) = (26, 100);
pub const KIMI_5H_USED: (u64, u64) = (5, 20);

fn rfc3339_in(secs: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

pub(super) fn anthropic() -> Value {
    json!({
        "five_hour": {"utilization": ANTHROPIC_5H_PERCENT, "resets_at": rfc3339_in(3600)},
        "seven_day": {"utilization": ANTHROPIC_7D_PERCENT, "resets_at": rfc3339_in(3 * 86400)},
        "seven_day_oauth_apps": null,
        "seven_day_opus": null,
        "seven_day_sonnet": {"utilization": 5.0, "resets_at": rfc3339_in(3 * 86400)},
        "iguana_necktie": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null,
                        "utilization": null},
    })
}

pub(super) fn wham(plan: &str) -> Value {
    let now = unix_now();
    let window = |used: u64, secs: u64, reset_after: u64| {
        json!({
            "used_percent": used, "limit_window_seconds": secs,
            "reset_after_seconds": reset_after, "reset_at": now + reset_after,
        })
    };
    json!({
        "plan_type": plan,
        "rate_limit": {
            "allowed": true,
            "limit_reached": false,
            "primary_window": window(CHATGPT_5H_PERCENT, 5 * 3600, 3600),
            "secondary_window": window(CHATGPT_7D_PERCENT, 7 * 86400, 3 * 86400),
        },
        "code_review_rate_limit": {
            "allowed": true,
            "limit_reached": false,
            "primary_window": window(0, 7 * 86400, 7 * 86400),
            "secondary_window": null,
        },
        "additional_rate_limits": [],
        "credits": {"has_credits": false, "unlimited": false, "balance": "0",
                    "approx_local_messages": [0, 0], "approx_cloud_messages": [0, 0]},
    })
}

pub(super) fn code_assist_quota() -> Value {
    let reset = rfc3339_in(12 * 3600);
    json!({"buckets": [
        {"modelId": "gemini-2.5-pro", "tokenType": "REQUESTS",
         "remainingFraction": CODE_ASSIST_PRO_LEFT, "remainingAmount": "250", "resetTime": reset},
        {"modelId": "gemini-2.5-flash", "tokenType": "REQUESTS",
         "remainingFraction": 1.0, "resetTime": reset},
    ]})
}

/// Kimi For Coding's `GET /coding/v1/usages`: the week as `usage`, the five hours in
/// `limits`, every number a string as the real endpoint sends them.
pub(super) fn kimi() -> Value {
    let detail = |(used, limit): (u64, u64), secs: i64| {
        json!({"limit": limit.to_string(), "used": used.to_string(),
               "remaining": (limit - used).to_string(), "resetTime": rfc3339_in(secs)})
    };
    json!({
        "user": {"membershipLevel": "LEVEL_INTERMEDIATE"},
        "usage": detail(KIMI_WEEK_USED, 3 * 86400),
        "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                    "detail": detail(KIMI_5H_USED, 3600)}],
    })
}
