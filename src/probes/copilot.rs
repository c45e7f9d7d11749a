//! GitHub Copilot: `GET https://api.github.com/copilot_internal/user` with
//! `Authorization: token <GitHub token>`: the login's long-lived GitHub token, never the
//! short-lived Copilot token (PROVIDERS.md §13). GitHub Enterprise logins ask
//! `api.<their domain>`.
//!
//! Answer: `{"copilot_plan", "quota_reset_date": "2027-02-01", "quota_reset_date_utc":
//! "2027-02-01T00:00:00.000Z", "quota_snapshots": {"chat" | "completions" |
//! "premium_interactions": {"entitlement", "remaining", "percent_remaining",
//! "unlimited", "overage_count", …}}}`. The reset is monthly, on the calendar. An
//! unlimited snapshot (`unlimited: true` or `entitlement: -1`) is no window; `remaining`
//! goes negative in overage, which reads as a window more than full. `completions` is the
//! editor's inline completions, which keypool does not serve: it is scoped so it never
//! weighs on picking an account for chat.

use super::numbers::{count, rfc3339, signed};
use super::wire::{BadBody, Call, MAX_WINDOWS};
use crate::quota::Window;
use serde_json::Value;
use std::time::SystemTime;

/// The endpoint for a login on `domain` (`None`: github.com).
pub(super) fn url(domain: Option<&str>) -> String {
    format!(
        "https://api.{}/copilot_internal/user",
        domain.unwrap_or("github.com")
    )
}

pub(super) fn call(github_token: &secrecy::SecretString, domain: Option<&str>) -> Call {
    Call::get(url(domain))
        .auth("token", github_token)
        .header("editor-version", "vscode/1.107.0")
        .header("x-github-api-version", "2025-04-01")
}

pub fn parse(body: &[u8], now: SystemTime) -> Result<Vec<Window>, BadBody> {
    let v: Value = serde_json::from_slice(body).map_err(|_| BadBody::NotJson)?;
    if !v.is_object() {
        return Err(BadBody::Shape("not a JSON object"));
    }
    let resets_at = rfc3339(&v["quota_reset_date_utc"], now)
        .or_else(|| calendar_day(&v["quota_reset_date"], now));
    let Some(snapshots) = v["quota_snapshots"].as_object() else {
        return Ok(Vec::new());
    };
    let out = snapshots
        .iter()
        .take(MAX_WINDOWS)
        .filter_map(|(name, s)| snapshot(name, s, resets_at))
        .collect();
    Ok(out)
}

fn snapshot(name: &str, s: &Value, resets_at: Option<SystemTime>) -> Option<Window> {
    let entitlement = signed(&s["entitlement"]);
    if s["unlimited"] == Value::Bool(true) || entitlement.is_some_and(|e| e < 0.0) {
        return None;
    }
    let ok_name = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok_name {
        return None;
    }
    let limit = count(&s["entitlement"]);
    let left = signed(&s["remaining"]).filter(|r| r.abs() <= 1e15);
    let from_percent = signed(&s["percent_remaining"])
        .filter(|p| (-10_000.0..=100.0).contains(p))
        .map(|p| (100.0 - p) / 100.0);
    let from_counts = match (limit, left) {
        (Some(l), Some(r)) if l > 0 => Some((l as f64 - r) / l as f64),
        _ => None,
    };
    let utilization = from_percent.or(from_counts);
    utilization?;
    Some(Window {
        scope: (name == "completions").then(|| name.to_string()),
        limit,
        // In overage nothing remains; how far over is the utilization's to say.
        remaining: left.map(|r| r.max(0.0) as u64),
        utilization,
        resets_at,
        ..Window::named(name)
    })
}

/// `2027-02-01`: midnight UTC of that day.
fn calendar_day(v: &Value, now: SystemTime) -> Option<SystemTime> {
    let day = v.as_str()?.trim();
    rfc3339(&Value::String(format!("{day}T00:00:00Z")), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// A Pro seat: chat and completions unlimited, premium requests metered.
    #[test]
    fn reads_premium_interactions_and_skips_unlimited() {
        let body = br#"{
            "access_type_sku": "plus_monthly_subscriber_quota", "copilot_plan": "individual_pro",
            "chat_enabled": true, "quota_reset_date": "2027-02-01",
            "quota_reset_date_utc": "2027-02-01T00:00:00.000Z",
            "endpoints": {"api": "https://api.individual.githubcopilot.com"},
            "quota_snapshots": {
                "chat": {"entitlement": 0, "remaining": 0, "percent_remaining": 100.0,
                         "unlimited": true, "quota_id": "chat"},
                "completions": {"entitlement": -1, "remaining": -1, "percent_remaining": 100.0,
                                "unlimited": false, "quota_id": "completions"},
                "premium_interactions": {"entitlement": 300, "remaining": 210,
                    "percent_remaining": 70.0, "unlimited": false, "overage_count": 0,
                    "overage_permitted": false, "quota_id": "premium_interactions",
                    "timestamp_utc": "2027-01-15T07:00:00.000Z"}
            }
        }"#;
        let ws = parse(body, now()).unwrap();
        assert_eq!(ws.len(), 1, "{ws:#?}");
        let w = &ws[0];
        assert_eq!(w.name, "premium_interactions");
        assert_eq!(w.scope, None);
        assert_eq!((w.limit, w.remaining), (Some(300), Some(210)));
        assert!((w.utilization.unwrap() - 0.3).abs() < 1e-9);
        let feb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_801_440_000);
        assert_eq!(w.resets_at, Some(feb));
    }

    /// A Free seat in overage: negative remaining, percent below zero; the date-only reset.
    #[test]
    fn overage_reads_as_more_than_full() {
        let body = br#"{"quota_reset_date": "2027-02-01", "quota_snapshots": {
            "completions": {"entitlement": 2000, "remaining": 1500, "percent_remaining": 75},
            "premium_interactions": {"entitlement": 50, "remaining": -5,
                                     "percent_remaining": "oops", "unlimited": false}}}"#;
        let ws = parse(body, now()).unwrap();
        let premium = ws
            .iter()
            .find(|w| w.name == "premium_interactions")
            .unwrap();
        assert_eq!(premium.remaining, Some(0));
        assert!((premium.utilization.unwrap() - 1.1).abs() < 1e-9);
        let completions = ws.iter().find(|w| w.name == "completions").unwrap();
        assert_eq!(completions.scope.as_deref(), Some("completions"));
        let feb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_801_440_000);
        assert_eq!(premium.resets_at, Some(feb));
        assert_eq!(
            parse(br#"{"copilot_plan": "free"}"#, now()).unwrap(),
            vec![]
        );
        assert_eq!(
            parse(b"\"x\"", now()),
            Err(BadBody::Shape("not a JSON object"))
        );
    }

    #[test]
    fn an_enterprise_login_asks_its_own_host() {
        assert_eq!(url(None), "https://api.github.com/copilot_internal/user");
        assert_eq!(
            url(Some("ghe.example.com")),
            "https://api.ghe.example.com/copilot_internal/user"
        );
    }
}
