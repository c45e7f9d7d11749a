//! ChatGPT (Codex): `GET https://chatgpt.com/backend-api/wham/usage` with the login's
//! access token and `ChatGPT-Account-Id` (PROVIDERS.md §13; `/backend-api/codex/usage`
//! answers 403 where this one answers).
//!
//! Answer: `{"plan_type": …, "rate_limit": {"primary_window": {"used_percent",
//! "limit_window_seconds", "reset_after_seconds", "reset_at"}, "secondary_window": {…}},
//! "code_review_rate_limit": {…}, "additional_rate_limits": [{"limit_name",
//! "metered_feature", "rate_limit": {…}}], "credits": {…}}`. A window is named by its
//! length, not its slot (the primary slot has carried the weekly window): 18000 s → `5h`,
//! 604800 s → `7d`, as the `x-codex-*` headers name them. Code review and additional
//! limits are scoped (`code_review`, the limit's name). Credits are not a window.

use super::numbers::{after, count, epoch, percent};
use super::wire::{BadBody, Call, MAX_WINDOWS};
use crate::quota::{minutes_name, Window};
use serde_json::Value;
use std::time::SystemTime;

pub(super) const URL: &str = "https://chatgpt.com/backend-api/wham/usage";

pub(super) fn call(token: &secrecy::SecretString, account_id: &str) -> Call {
    Call::get(URL)
        .bearer(token)
        .header("chatgpt-account-id", account_id)
}

pub fn parse(body: &[u8], now: SystemTime) -> Result<Vec<Window>, BadBody> {
    let v: Value = serde_json::from_slice(body).map_err(|_| BadBody::NotJson)?;
    if !v.is_object() {
        return Err(BadBody::Shape("not a JSON object"));
    }
    let mut out = limit_windows(&v["rate_limit"], None, now);
    let review = limit_windows(&v["code_review_rate_limit"], Some("code_review"), now);
    out.extend(review);
    let extra = v["additional_rate_limits"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for l in extra.iter().take(MAX_WINDOWS) {
        let name = l["limit_name"]
            .as_str()
            .or_else(|| l["metered_feature"].as_str());
        let Some(name) = name
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.len() <= 64)
        else {
            continue;
        };
        out.extend(limit_windows(&l["rate_limit"], Some(name), now));
    }
    out.truncate(MAX_WINDOWS);
    Ok(out)
}

/// The primary and secondary windows of one `rate_limit` object.
fn limit_windows(rl: &Value, scope: Option<&str>, now: SystemTime) -> Vec<Window> {
    ["primary_window", "secondary_window"]
        .into_iter()
        .filter_map(|slot| window(&rl[slot], slot, scope, now))
        .collect()
}

fn window(w: &Value, slot: &str, scope: Option<&str>, now: SystemTime) -> Option<Window> {
    // As Codex reads it: a window is there when its used percent is.
    let utilization = percent(&w["used_percent"])?;
    let minutes = count(&w["limit_window_seconds"])
        .map(|s| s / 60)
        .filter(|m| *m > 0);
    let name = match minutes {
        Some(m) => minutes_name(m),
        None => slot.trim_end_matches("_window").to_string(),
    };
    let resets_at = epoch(&w["reset_at"], now).or_else(|| after(&w["reset_after_seconds"], now));
    Some(Window {
        scope: scope.map(str::to_string),
        utilization: Some(utilization),
        resets_at,
        minutes,
        ..Window::named(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// A real-shaped answer with the weekly window in the primary slot, a code review
    /// limit, an additional limit, a null secondary and credits.
    #[test]
    fn windows_are_named_by_their_length_not_their_slot() {
        let body = br#"{
            "plan_type": "pro",
            "rate_limit": {"allowed": true, "limit_reached": false,
                "primary_window": {"used_percent": 64, "limit_window_seconds": 604800,
                                   "reset_after_seconds": 86400, "reset_at": 1800086400},
                "secondary_window": {"used_percent": 12.5, "limit_window_seconds": 18000,
                                     "reset_after_seconds": 3600, "reset_at": null}},
            "code_review_rate_limit": {"allowed": true, "limit_reached": false,
                "primary_window": {"used_percent": 0, "limit_window_seconds": 604800,
                                   "reset_after_seconds": 604800, "reset_at": 1800604800},
                "secondary_window": null},
            "additional_rate_limits": [{"limit_name": "GPT-5.3-Codex-Spark",
                "metered_feature": "codex_bengalfox",
                "rate_limit": {"primary_window": {"used_percent": 101,
                    "limit_window_seconds": 18000, "reset_at": 1800001000}}}],
            "credits": {"has_credits": false, "unlimited": false, "balance": "0",
                        "approx_local_messages": [0, 0], "approx_cloud_messages": [0, 0]}
        }"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 4, "{ws:#?}");
        let find = |name: &str, scope: Option<&str>| {
            ws.iter()
                .find(|w| w.name == name && w.scope.as_deref() == scope)
                .unwrap_or_else(|| panic!("{name} {scope:?} in {ws:#?}"))
        };
        let week = find("7d", None);
        assert_eq!(week.utilization, Some(0.64));
        assert_eq!(week.minutes, Some(10080));
        assert_eq!(week.resets_at, at(1_800_086_400));
        let five = find("5h", None);
        assert_eq!(five.utilization, Some(0.125));
        assert_eq!(
            five.resets_at,
            at(1_800_003_600),
            "reset_after_seconds when no reset_at"
        );
        assert_eq!(find("7d", Some("code_review")).utilization, Some(0.0));
        let spark = find("5h", Some("GPT-5.3-Codex-Spark"));
        assert_eq!(spark.utilization, Some(1.01));
    }

    #[test]
    fn hostile_numbers_are_skipped() {
        let body = br#"{"rate_limit": {
            "primary_window": {"used_percent": -1, "limit_window_seconds": 18000},
            "secondary_window": {"used_percent": "30", "limit_window_seconds": -604800,
                                 "reset_at": 1e300}}}"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 1, "{ws:#?}");
        assert_eq!(
            ws[0].name, "secondary",
            "no usable length: named by its slot"
        );
        assert_eq!(ws[0].utilization, Some(0.3));
        let far = crate::bounds::after(now(), crate::bounds::MAX_HORIZON);
        assert_eq!(ws[0].resets_at, Some(far));
        assert_eq!(
            parse(b"null", now()),
            Err(BadBody::Shape("not a JSON object"))
        );
        assert_eq!(parse(b"{", now()), Err(BadBody::NotJson));
    }
}
