//! Kimi For Coding: `GET https://api.kimi.com/coding/v1/usages` with a Bearer token
//! (PROVIDERS.md §13, from the open-source kimi-cli, not public docs), asked for each
//! `kimi-coding` subscription login with its device headers (whether the endpoint needs
//! them is [UNVERIFIED]; every other call of the login does).
//!
//! Answer: `{"usage": {"limit": "100", "used": "26", "remaining": "74", "resetTime": …},
//! "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"}, "detail":
//! {"limit", "used", "remaining", "resetTime"}}]}`; every number is a string. `usage` is
//! the weekly envelope (`7d`); each rolling window is named by its length (`5h`).

use super::numbers::{count, rfc3339};
use super::wire::{BadBody, Call, MAX_WINDOWS};
use crate::quota::{minutes_name, Window};
use serde_json::Value;
use std::time::SystemTime;

pub const URL: &str = "https://api.kimi.com/coding/v1/usages";

pub(super) fn call(token: &secrecy::SecretString, identity: &crate::oauth::Identity) -> Call {
    let mut device = http::HeaderMap::new();
    crate::oauth::msh::edit(&mut device, identity);
    Call::get(URL).bearer(token).headers(device)
}

pub fn parse(body: &[u8], now: SystemTime) -> Result<Vec<Window>, BadBody> {
    let v: Value = serde_json::from_slice(body).map_err(|_| BadBody::NotJson)?;
    if !v.is_object() {
        return Err(BadBody::Shape("not a JSON object"));
    }
    let mut out: Vec<Window> = detail(&v["usage"], 7 * 24 * 60, now).into_iter().collect();
    let limits = v["limits"].as_array().map_or(&[][..], Vec::as_slice);
    for l in limits.iter().take(MAX_WINDOWS) {
        if let Some(w) = window_minutes(&l["window"]).and_then(|m| detail(&l["detail"], m, now)) {
            out.push(w);
        }
    }
    Ok(out)
}

/// `{"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"}` → 300.
fn window_minutes(w: &Value) -> Option<u64> {
    let n = count(&w["duration"]).filter(|n| *n > 0)?;
    let unit = w["timeUnit"].as_str()?.to_ascii_uppercase();
    let per = if unit.contains("SECOND") {
        return Some(n / 60).filter(|m| *m > 0);
    } else if unit.contains("MINUTE") {
        1
    } else if unit.contains("HOUR") {
        60
    } else if unit.contains("DAY") {
        24 * 60
    } else {
        return None;
    };
    n.checked_mul(per)
}

fn detail(d: &Value, minutes: u64, now: SystemTime) -> Option<Window> {
    if !d.is_object() {
        return None;
    }
    let limit = count(&d["limit"]);
    let used = count(&d["used"]);
    let remaining = count(&d["remaining"]).or_else(|| Some(limit?.saturating_sub(used?)));
    let utilization = match (limit, used, remaining) {
        (Some(0), _, _) => Some(1.0),
        (Some(l), Some(u), _) => Some(u as f64 / l as f64),
        (Some(l), None, Some(r)) => Some(1.0 - r.min(l) as f64 / l as f64),
        _ => None,
    };
    let resets_at = rfc3339(&d["resetTime"], now);
    if utilization.is_none() && resets_at.is_none() {
        return None;
    }
    Some(Window {
        limit,
        remaining,
        utilization,
        resets_at,
        minutes: Some(minutes),
        ..Window::named(minutes_name(minutes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn numbers_come_as_strings() {
        let body = br#"{
            "user": {"membershipLevel": "LEVEL_INTERMEDIATE"},
            "usage": {"limit": "100", "used": "26", "remaining": "74",
                      "resetTime": "2027-01-18T08:00:00.000Z"},
            "limits": [
                {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                 "detail": {"limit": "20", "used": "20", "remaining": "0",
                            "resetTime": "2027-01-15T09:00:00Z"}},
                {"window": {"duration": 5, "timeUnit": "TIME_UNIT_FORTNIGHT"},
                 "detail": {"limit": "1", "used": "0"}},
                {"window": {"duration": "-300", "timeUnit": "TIME_UNIT_MINUTE"},
                 "detail": {"limit": "1", "used": "0"}},
                {"window": {"duration": 1, "timeUnit": "TIME_UNIT_HOUR"},
                 "detail": {"limit": "NaN", "used": "x", "remaining": null}}
            ]
        }"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 2, "{ws:#?}");
        let week = &ws[0];
        assert_eq!(week.name, "7d");
        assert_eq!((week.limit, week.remaining), (Some(100), Some(74)));
        assert_eq!(week.utilization, Some(0.26));
        let five = &ws[1];
        assert_eq!(five.name, "5h");
        assert_eq!(five.utilization, Some(1.0));
        assert_eq!(
            five.resets_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_003_600))
        );
        assert_eq!(parse(b"{}", now()).unwrap(), vec![]);
        assert_eq!(parse(b"nope", now()), Err(BadBody::NotJson));
    }
}
