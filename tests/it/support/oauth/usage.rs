//! GitHub's Copilot usage endpoint, `GET api.github.com/copilot_internal/user`, in its
//! real shape (PROVIDERS.md §13). It takes the long-lived GitHub token, and only as
//! `Authorization: token gho_…`: a Copilot session token (`tid=…`) or a Bearer scheme
//! gets GitHub's 401, so a test sees that keypool sent the right credential the right way.

use serde_json::{json, Value};

use super::{OAuthRequest, State};

/// Premium requests a Pro seat gets a month, and how many the fake says are left.
pub const PREMIUM_ENTITLEMENT: u64 = 300;
pub const PREMIUM_REMAINING: u64 = 210;

/// The answer for `request` on `host`; `None` when the token is not a GitHub token the
/// fake issued for that host, sent with the `token` scheme.
pub(super) fn copilot_user(state: &State, host: &str, request: &OAuthRequest) -> Option<Value> {
    let auth = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    if scheme != "token" {
        return None;
    }
    let ledger = state.ledger.lock().unwrap();
    let domain = host.strip_prefix("api.").unwrap_or(host);
    ledger
        .github
        .get(token.trim())
        .filter(|t| t.domain == domain)?;
    Some(body())
}

fn body() -> Value {
    let snapshot = |id: &str, entitlement: i64, remaining: i64, unlimited: bool| {
        let percent = if entitlement > 0 {
            remaining as f64 * 100.0 / entitlement as f64
        } else {
            100.0
        };
        json!({
            "entitlement": entitlement, "remaining": remaining, "quota_remaining": remaining,
            "percent_remaining": percent, "overage_count": 0, "overage_permitted": false,
            "unlimited": unlimited, "quota_id": id, "timestamp_utc": "2026-12-02T07:00:00.000Z",
        })
    };
    json!({
        "login": "seat",
        "access_type_sku": "plus_monthly_subscriber_quota",
        "copilot_plan": "individual_pro",
        "chat_enabled": true,
        "codex_agent_enabled": true,
        "assigned_date": "2025-01-01T00:00:00+00:00",
        "quota_reset_date": "2099-01-01",
        "quota_reset_date_utc": "2099-01-01T00:00:00.000Z",
        "endpoints": {
            "api": "https://api.individual.githubcopilot.com",
            "proxy": "https://proxy.individual.githubcopilot.com",
            "telemetry": "https://telemetry.individual.githubcopilot.com",
            "origin-tracker": "https://origin-tracker.individual.githubcopilot.com",
        },
        "organization_list": [],
        "quota_snapshots": {
            "chat": snapshot("chat", 0, 0, true),
            "completions": snapshot("completions", -1, -1, true),
            "premium_interactions": snapshot(
                "premium_interactions",
                PREMIUM_ENTITLEMENT as i64,
                PREMIUM_REMAINING as i64,
                false,
            ),
        },
    })
}
