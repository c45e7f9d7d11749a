//! Claude Pro/Max: `GET https://api.anthropic.com/api/oauth/usage` with the login's access
//! token and `anthropic-beta: oauth-2025-04-20` (PROVIDERS.md §13). Its budget is per
//! access token and small: the scheduler asks at most once a minute per account and backs
//! off for at least five minutes after a 429, which Anthropic sends with `retry-after: 0`.
//!
//! Answer: `{"five_hour": {"utilization": 7.4, "resets_at": "…"}, "seven_day": {…},
//! "seven_day_opus": {…} | null, …, "limits": [{"kind": "weekly_scoped", "scope":
//! {"model": {"display_name": "Fable"}}, "percent": 12, "resets_at": "…"}]}`; utilization
//! is a percentage (0–100, more when over). Windows are named as the unified headers name
//! them, so a probe and an answer's headers update the same window: `five_hour` → `5h`,
//! `seven_day` → `7d`, `seven_day_opus` → `7d-opus` (scope `opus`),
//! `seven_day_overage_included` → `7d_oi`. `extra_usage` (the pay-as-you-go budget) and
//! opaque entries are not windows and are skipped, as the headers' overage family is.

use super::numbers::{percent, rfc3339};
use super::wire::{BadBody, Call, MAX_WINDOWS};
use crate::quota::Window;
use serde_json::Value;
use std::time::SystemTime;

pub(super) const URL: &str = "https://api.anthropic.com/api/oauth/usage";

pub(super) fn call(token: &secrecy::SecretString) -> Call {
    Call::get(URL)
        .bearer(token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .header("anthropic-version", "2023-06-01")
}

/// The windows of a usage answer.
pub fn parse(body: &[u8], now: SystemTime) -> Result<Vec<Window>, BadBody> {
    let v: Value = serde_json::from_slice(body).map_err(|_| BadBody::NotJson)?;
    let obj = v.as_object().ok_or(BadBody::Shape("not a JSON object"))?;
    let mut out = Vec::new();
    for (key, entry) in obj.iter().take(MAX_WINDOWS) {
        let Some((name, scope)) = window_key(key) else {
            continue;
        };
        if let Some(w) = window(name, scope, entry, "utilization", now) {
            out.push(w);
        }
    }
    let limits = v["limits"].as_array().map_or(&[][..], Vec::as_slice);
    for l in limits.iter().take(MAX_WINDOWS) {
        if l["kind"] != "weekly_scoped" {
            continue;
        }
        let Some(model) = l
            .pointer("/scope/model/display_name")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let model = model.trim().to_ascii_lowercase();
        if model.is_empty() || model.len() > 64 {
            continue;
        }
        if let Some(w) = window(format!("7d-{model}"), Some(model), l, "percent", now) {
            out.push(w);
        }
    }
    out.truncate(MAX_WINDOWS);
    Ok(out)
}

/// The header-style name and scope of a top-level key; `None` for what is not a window.
fn window_key(key: &str) -> Option<(String, Option<String>)> {
    match key {
        "five_hour" => Some(("5h".into(), None)),
        "seven_day" => Some(("7d".into(), None)),
        "seven_day_overage_included" => Some(("7d_oi".into(), None)),
        _ => {
            let scope = key.strip_prefix("seven_day_")?;
            let ok = !scope.is_empty()
                && scope.len() <= 64
                && scope
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            ok.then(|| (format!("7d-{scope}"), Some(scope.to_string())))
        }
    }
}

/// One window; `None` when the entry is null or says nothing usable.
fn window(
    name: String,
    scope: Option<String>,
    entry: &Value,
    field: &str,
    now: SystemTime,
) -> Option<Window> {
    if !entry.is_object() {
        return None;
    }
    let utilization = percent(&entry[field]);
    let resets_at = rfc3339(&entry["resets_at"], now);
    if utilization.is_none() && resets_at.is_none() {
        return None;
    }
    let minutes = Some(if name == "5h" { 300 } else { 7 * 24 * 60 });
    Some(Window {
        scope,
        utilization,
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

    fn get<'a>(ws: &'a [Window], name: &str) -> &'a Window {
        ws.iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("no window {name} in {ws:#?}"))
    }

    /// A real-shaped answer: fractional-second resets, a null model window, an opaque
    /// entry, extra usage, and a five-hour window past 100 %.
    #[test]
    fn reads_the_windows_of_a_real_answer() {
        let body = br#"{
            "five_hour": {"utilization": 104.0, "resets_at": "2027-01-15T09:59:59.943648+00:00"},
            "seven_day": {"utilization": 31.5, "resets_at": "2027-01-18T08:00:00.000000+00:00"},
            "seven_day_oauth_apps": null,
            "seven_day_opus": {"utilization": 0.0, "resets_at": null},
            "seven_day_sonnet": {"utilization": 12, "resets_at": "2027-01-18T08:00:00Z"},
            "iguana_necktie": null,
            "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null,
                            "utilization": null},
            "limits": [{"kind": "weekly_scoped", "scope": {"model": {"display_name": "Fable"}},
                        "percent": 40, "resets_at": "2027-01-18T08:00:00Z"}]
        }"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 5, "{ws:#?}");
        let five = get(&ws, "5h");
        assert_eq!(five.utilization, Some(1.04));
        assert_eq!(five.scope, None);
        assert_eq!(five.minutes, Some(300));
        assert_eq!(
            five.resets_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_007_199))
        );
        assert_eq!(get(&ws, "7d").utilization, Some(0.315));
        let opus = get(&ws, "7d-opus");
        assert_eq!(
            (opus.scope.as_deref(), opus.utilization),
            (Some("opus"), Some(0.0))
        );
        assert_eq!(opus.resets_at, None);
        assert_eq!(get(&ws, "7d-sonnet").utilization, Some(0.12));
        let fable = get(&ws, "7d-fable");
        assert_eq!(
            (fable.scope.as_deref(), fable.utilization),
            (Some("fable"), Some(0.4))
        );
        assert!(!ws
            .iter()
            .any(|w| w.name.contains("extra") || w.name.contains("iguana")));
    }

    #[test]
    fn bad_values_are_skipped_and_bad_bodies_refused() {
        let body = br#"{"five_hour": {"utilization": -5, "resets_at": "soon"},
                        "seven_day": {"utilization": "NaN"},
                        "seven_day_opus": {"utilization": 1e308, "resets_at": 7},
                        "seven_day_\u00e9": {"utilization": 5}}"#;
        assert_eq!(parse(body, now()).unwrap(), vec![]);
        assert_eq!(parse(b"<html>", now()), Err(BadBody::NotJson));
        assert!(matches!(parse(b"[1]", now()), Err(BadBody::Shape(_))));
        assert_eq!(parse(b"{}", now()).unwrap(), vec![]);
    }
}
