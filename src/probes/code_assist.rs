//! Gemini Code Assist: `POST https://cloudcode-pa.googleapis.com/v1internal:retrieveUserQuota`
//! with the login's access token and `{"project": <id>}`, the Cloud project that
//! `loadCodeAssist` named (keypool learns it once per login and keeps it; PROVIDERS.md
//! §13).
//!
//! Answer: `{"buckets": [{"modelId", "tokenType": "REQUESTS", "remainingFraction": 0.93,
//! "remainingAmount": "930", "resetTime": "…"}]}`: per-model daily buckets. Each becomes
//! a window `1d` scoped to its model (`1d-<type>` for a token type other than requests),
//! so a used-up Pro bucket never counts against a Flash request.

use super::numbers::{count, rfc3339, unit_fraction};
use super::wire::{BadBody, Call, MAX_WINDOWS};
use crate::quota::Window;
use serde_json::Value;
use std::time::SystemTime;

pub(super) const URL: &str = "https://cloudcode-pa.googleapis.com/v1internal:retrieveUserQuota";

pub(super) fn call(token: &secrecy::SecretString, project: &str) -> Call {
    let body = serde_json::json!({ "project": project }).to_string();
    Call::post_json(URL, body).bearer(token)
}

pub fn parse(body: &[u8], now: SystemTime) -> Result<Vec<Window>, BadBody> {
    let v: Value = serde_json::from_slice(body).map_err(|_| BadBody::NotJson)?;
    if !v.is_object() {
        return Err(BadBody::Shape("not a JSON object"));
    }
    let buckets = v["buckets"].as_array().map_or(&[][..], Vec::as_slice);
    let out = buckets
        .iter()
        .take(MAX_WINDOWS)
        .filter_map(|b| bucket(b, now))
        .collect();
    Ok(out)
}

fn bucket(b: &Value, now: SystemTime) -> Option<Window> {
    let left = unit_fraction(&b["remainingFraction"]);
    let remaining = count(&b["remainingAmount"]);
    let resets_at = rfc3339(&b["resetTime"], now);
    if left.is_none() && remaining.is_none() {
        return None;
    }
    let name = match b["tokenType"].as_str().map(str::trim) {
        None | Some("") | Some("REQUESTS") => "1d".to_string(),
        Some(t) if t.len() <= 32 && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') => {
            format!("1d-{}", t.to_ascii_lowercase())
        }
        Some(_) => return None,
    };
    let scope = b["modelId"]
        .as_str()
        .map(str::trim)
        .filter(|m| !m.is_empty() && m.len() <= 128)
        .map(str::to_string);
    Some(Window {
        scope,
        remaining,
        utilization: left.map(|f| 1.0 - f),
        resets_at,
        minutes: Some(24 * 60),
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

    #[test]
    fn each_bucket_is_a_daily_window_of_its_model() {
        let body = br#"{"buckets": [
            {"modelId": "gemini-2.5-pro", "tokenType": "REQUESTS", "remainingFraction": 0.25,
             "remainingAmount": "250", "resetTime": "2027-01-16T00:00:00Z"},
            {"modelId": "gemini-2.5-flash", "tokenType": "REQUESTS", "remainingFraction": 1,
             "resetTime": "2027-01-16T00:00:00Z"},
            {"modelId": "gemini-2.5-flash-lite", "remainingFraction": null},
            {"modelId": "gemini-3-pro-preview", "tokenType": "INPUT_TOKENS",
             "remainingFraction": 1.5, "remainingAmount": "-4"},
            {"modelId": "gemini-3-flash", "tokenType": "INPUT_TOKENS", "remainingFraction": 0.5}
        ]}"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 3, "{ws:#?}");
        let pro = &ws[0];
        assert_eq!(
            (pro.name.as_str(), pro.scope.as_deref()),
            ("1d", Some("gemini-2.5-pro"))
        );
        assert_eq!(pro.utilization, Some(0.75));
        assert_eq!(pro.remaining, Some(250));
        assert_eq!(pro.minutes, Some(1440));
        let midnight = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + 16 * 3600);
        assert_eq!(pro.resets_at, Some(midnight));
        assert_eq!(ws[1].utilization, Some(0.0));
        assert_eq!(ws[2].name, "1d-input_tokens");
        assert_eq!(parse(br#"{}"#, now()).unwrap(), vec![]);
        assert_eq!(parse(b"", now()), Err(BadBody::NotJson));
    }
}
