//! The JSON of keypool's own pages, as one set of types both sides use: `admin` writes
//! them (`GET /_keypool/status`, `GET /` with `Accept: application/json`, `POST
//! /_keypool/reload`) and the CLI views read them back, so a field renamed on one side
//! cannot go unnoticed on the other. The field names and values are a contract (the
//! README documents them; users' scripts read them). A leaf module: it imports nothing
//! from the crate. Never a credential.

use serde::{Deserialize, Serialize};

/// `GET /_keypool/status`: every pool and account as the pipeline sees them now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// keypool's version.
    pub keypool: String,
    pub listen: String,
    /// Epoch seconds on keypool's clock, which every other time here is relative to.
    pub now: u64,
    pub pools: Vec<PoolStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub name: String,
    pub provider: String,
    pub strategy: String,
    pub mix_kinds: bool,
    pub accounts: Vec<AccountStatus>,
}

/// One account's live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub name: String,
    /// `api_key` or `oauth`.
    pub kind: String,
    pub state: HealthState,
    /// Why it is cooling or disabled; empty when it is `ok`.
    pub detail: String,
    /// When a cooldown ends, epoch seconds.
    pub until: Option<u64>,
    /// What a cooldown is for; only while cooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<CoolingCause>,
    /// The rule of the terminal answer that disabled the account (`kimi-membership`);
    /// `detail` says what happened and the fix. A reload or a quota probe that works
    /// clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    pub requests: u64,
    pub last_error: Option<LastError>,
    /// Set while a refreshed login has not reached the disk: what went wrong.
    pub unsaved: Option<String>,
    /// The account-wide window that binds now.
    pub tightest: Option<WindowStatus>,
    pub windows: Vec<WindowStatus>,
    /// Conversations held to the account; in the status report only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_conversations: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
    Cooling,
    Disabled,
}

/// Why an account is cooling: a provider's verdict, or its token endpoint's outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoolingCause {
    RateLimited,
    Overloaded,
    Exhausted,
    TokenEndpoint,
}

impl CoolingCause {
    /// As the client's "every account is limited" answer words it.
    pub fn label(self) -> &'static str {
        match self {
            CoolingCause::RateLimited => "rate-limited",
            CoolingCause::Overloaded => "overloaded",
            CoolingCause::Exhausted => "quota exhausted",
            CoolingCause::TokenEndpoint => "token endpoint unavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// Epoch seconds.
    pub at: u64,
    pub detail: String,
}

/// A quota window the provider's answers described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStatus {
    pub name: String,
    pub scope: Option<String>,
    /// How full, 0.0 to 1.0 (or beyond, when over).
    pub utilization: Option<f64>,
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    /// Epoch seconds.
    pub resets_at: Option<u64>,
    /// How keypool learned it: from an answer's headers, or from a quota probe. Absent
    /// from a keypool that did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<WindowSource>,
    /// Seconds since it was learned, on keypool's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

/// Where a window's numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// Read off an answer to a request (its headers, or its error body).
    Headers,
    /// Asked of the provider's free quota endpoint.
    Probe,
}

impl WindowSource {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowSource::Headers => "headers",
            WindowSource::Probe => "probe",
        }
    }
}

/// `GET /` as JSON: what is running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexReport {
    pub keypool: String,
    /// Always `running`.
    pub status: String,
    pub listen: String,
    /// Where the CA certificate is.
    pub ca: String,
    pub pools: Vec<IndexPool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexPool {
    pub name: String,
    pub provider: String,
    /// How many accounts it has.
    pub accounts: usize,
    pub members: Vec<AccountStatus>,
}

/// `POST /_keypool/reload`: `message` when the config was taken, else `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub reloaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /_keypool/dashboard`: what the dashboard page shows, polled every 2 s. Times are
/// epoch seconds (`now`, `until`, `resets_at`) or, for the ledger's rows, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardReport {
    pub keypool: String,
    pub listen: String,
    /// Where the CA certificate is.
    pub ca: String,
    /// keypool's clock, which the page counts cooldowns down from.
    pub now: u64,
    pub pools: Vec<PoolStatus>,
    pub usage: DashboardUsage,
}

/// What the usage ledger holds for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardUsage {
    /// Since midnight UTC.
    pub today: UsageSums,
    /// The last 7 days.
    pub week: UsageSums,
    /// Per account (`key` is its name), since midnight UTC.
    pub accounts_today: Vec<UsageSums>,
    /// Per account, the last 7 days.
    pub accounts_week: Vec<UsageSums>,
    /// The latest rows, newest first.
    pub recent: Vec<RecentRequest>,
    /// The last 24 hours in 1-hour slices, oldest first; the last is the current hour.
    pub hourly: Vec<UsageSlice>,
    /// Why the ledger could not be read (the accounts are still shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sums over a group of the ledger's rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSums {
    /// The account's name; `""` for every row.
    pub key: String,
    pub requests: u64,
    /// Answers with a status of 400 or more.
    pub errors: u64,
    /// Every token of every kind.
    pub tokens: u64,
    /// USD over the rows with a price.
    pub cost_usd: f64,
    /// Rows whose model had no price.
    pub unpriced: u64,
}

/// One row of the ledger as the dashboard lists it: never a body or a credential.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentRequest {
    /// When the request arrived, epoch milliseconds.
    pub at_ms: i64,
    pub pool: Option<String>,
    pub account: Option<String>,
    pub model: Option<String>,
    pub status: u16,
    pub attempts: u32,
    /// Prompt tokens, cached or not.
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Arrival to the end of the answer.
    pub total_ms: u64,
    pub cost_usd: Option<f64>,
    pub stream: bool,
}

/// Usage in one slice of time, for the dashboard's chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSlice {
    pub start_ms: i64,
    pub requests: u64,
    pub tokens: u64,
    pub cost_usd: f64,
}

/// The JSON text of `report`, keys in the order `serde_json::Value` keeps them (sorted),
/// as keypool's pages have always been written.
pub fn to_json<T: Serialize>(report: &T) -> String {
    serde_json::to_value(report)
        .expect("a report is plain data")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window() -> WindowStatus {
        WindowStatus {
            name: "requests".into(),
            scope: None,
            utilization: Some(1.0),
            remaining: Some(0),
            limit: Some(500),
            resets_at: Some(1_795_000_090),
            source: Some(WindowSource::Probe),
            age_secs: Some(42),
        }
    }

    fn cooling() -> AccountStatus {
        AccountStatus {
            name: "work".into(),
            kind: "api_key".into(),
            state: HealthState::Cooling,
            detail: "429 rate_limit_exceeded".into(),
            until: Some(1_795_000_090),
            cause: Some(CoolingCause::RateLimited),
            terminal: None,
            requests: 42,
            last_error: Some(LastError {
                at: 1_795_000_030,
                detail: "429 rate_limit_exceeded".into(),
            }),
            unsaved: None,
            tightest: Some(window()),
            windows: vec![window()],
            sticky_conversations: Some(2),
        }
    }

    /// The status JSON as the README shows it, with the fields its example leaves out.
    #[test]
    fn the_status_report_has_the_documented_fields() {
        let w = json!({"name": "requests", "scope": null, "utilization": 1.0,
            "remaining": 0, "limit": 500, "resets_at": 1_795_000_090, "source": "probe",
            "age_secs": 42});
        let report = StatusReport {
            keypool: "0.1.0".into(),
            listen: "127.0.0.1:8787".into(),
            now: 1_795_000_000,
            pools: vec![PoolStatus {
                name: "openai".into(),
                provider: "openai".into(),
                strategy: "round-robin".into(),
                mix_kinds: false,
                accounts: vec![cooling()],
            }],
        };
        let expected = json!({"keypool": "0.1.0", "listen": "127.0.0.1:8787", "now": 1795000000,
            "pools": [{"name": "openai", "provider": "openai", "strategy": "round-robin",
                "mix_kinds": false,
                "accounts": [{"name": "work", "kind": "api_key", "state": "cooling",
                    "until": 1795000090, "cause": "rate_limited",
                    "detail": "429 rate_limit_exceeded", "requests": 42,
                    "last_error": {"at": 1795000030, "detail": "429 rate_limit_exceeded"},
                    "unsaved": null, "sticky_conversations": 2,
                    "tightest": w, "windows": [w]}]}]});
        assert_eq!(serde_json::to_value(&report).unwrap(), expected);
        let back: StatusReport = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(back, report);
        let text = to_json(&report);
        assert!(
            text.starts_with(r#"{"keypool":"0.1.0","listen":"#),
            "{text}"
        );
    }

    /// An account that is not cooling has no `cause`; outside the status report none has
    /// `sticky_conversations`, and the index counts each pool's accounts.
    #[test]
    fn fields_only_some_answers_have_are_left_out_of_the_others() {
        let ok = AccountStatus {
            state: HealthState::Ok,
            detail: String::new(),
            until: None,
            cause: None,
            last_error: None,
            tightest: None,
            windows: Vec::new(),
            sticky_conversations: None,
            ..cooling()
        };
        let index = IndexReport {
            keypool: "0.1.0".into(),
            status: "running".into(),
            listen: "127.0.0.1:8787".into(),
            ca: "/home/u/.keypool/certs/ca.pem".into(),
            pools: vec![IndexPool {
                name: "openai".into(),
                provider: "openai".into(),
                accounts: 1,
                members: vec![ok],
            }],
        };
        let expected = json!({"keypool": "0.1.0", "status": "running",
            "listen": "127.0.0.1:8787", "ca": "/home/u/.keypool/certs/ca.pem",
            "pools": [{"name": "openai", "provider": "openai", "accounts": 1,
                "members": [{"name": "work", "kind": "api_key", "state": "ok", "detail": "",
                    "until": null, "requests": 42, "last_error": null, "unsaved": null,
                    "tightest": null, "windows": []}]}]});
        assert_eq!(serde_json::to_value(&index).unwrap(), expected);
        assert_eq!(
            serde_json::from_value::<IndexReport>(expected).unwrap(),
            index
        );
        let reload = |ok: bool| ReloadReport {
            reloaded: ok,
            message: ok.then(|| "reloaded".into()),
            error: (!ok).then(|| "bad".into()),
        };
        let v = |r: &ReloadReport| serde_json::to_value(r).unwrap();
        assert_eq!(
            v(&reload(true)),
            json!({"reloaded": true, "message": "reloaded"})
        );
        assert_eq!(
            v(&reload(false)),
            json!({"reloaded": false, "error": "bad"})
        );
    }

    /// The dashboard's JSON names its parts as the page's script reads them; a ledger that
    /// could be read has no `error`.
    #[test]
    fn the_dashboard_report_has_the_fields_the_page_reads() {
        let usage = DashboardUsage {
            recent: vec![RecentRequest {
                at_ms: 1_795_000_000_000,
                account: Some("work".into()),
                model: Some("gpt-4o".into()),
                status: 200,
                attempts: 1,
                ..RecentRequest::default()
            }],
            hourly: vec![UsageSlice::default()],
            ..DashboardUsage::default()
        };
        let report = DashboardReport {
            keypool: "0.1.0".into(),
            listen: "127.0.0.1:8787".into(),
            ca: "/home/u/.keypool/certs/ca.pem".into(),
            now: 1_795_000_000,
            pools: Vec::new(),
            usage,
        };
        let v = serde_json::to_value(&report).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(
            keys(&v),
            ["ca", "keypool", "listen", "now", "pools", "usage"]
        );
        let u = &v["usage"];
        assert_eq!(
            keys(u),
            [
                "accounts_today",
                "accounts_week",
                "hourly",
                "recent",
                "today",
                "week"
            ]
        );
        assert_eq!(
            keys(&u["today"]),
            ["cost_usd", "errors", "key", "requests", "tokens", "unpriced"]
        );
        assert_eq!(u["recent"][0]["model"], "gpt-4o");
        assert_eq!(
            keys(&u["hourly"][0]),
            ["cost_usd", "requests", "start_ms", "tokens"]
        );
        assert_eq!(
            serde_json::from_value::<DashboardReport>(v).unwrap(),
            report
        );
    }

    /// A window from a keypool that did not say where it came from reads, and is written
    /// back, without `source` and `age_secs`.
    #[test]
    fn a_window_without_source_or_age_reads_and_writes_without_them() {
        let old = json!({"name": "5h", "scope": null, "utilization": 0.5, "remaining": null,
            "limit": null, "resets_at": null});
        let w: WindowStatus = serde_json::from_value(old.clone()).unwrap();
        assert_eq!((w.source, w.age_secs), (None, None));
        assert_eq!(serde_json::to_value(&w).unwrap(), old);
        for (source, name) in [
            (WindowSource::Headers, "headers"),
            (WindowSource::Probe, "probe"),
        ] {
            assert_eq!(serde_json::to_value(source).unwrap(), name);
            assert_eq!(source.as_str(), name);
        }
    }

    #[test]
    fn every_cause_has_its_wire_name_and_its_words() {
        for (cause, name, words) in [
            (CoolingCause::RateLimited, "rate_limited", "rate-limited"),
            (CoolingCause::Overloaded, "overloaded", "overloaded"),
            (CoolingCause::Exhausted, "exhausted", "quota exhausted"),
            (
                CoolingCause::TokenEndpoint,
                "token_endpoint",
                "token endpoint unavailable",
            ),
        ] {
            assert_eq!(serde_json::to_value(cause).unwrap(), name);
            assert_eq!(cause.label(), words);
        }
    }
}
