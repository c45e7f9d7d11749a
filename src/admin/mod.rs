//! Requests addressed to keypool itself rather than proxied: `GET /` (the dashboard for a
//! browser, a short text or JSON otherwise), the status JSON, reload, `GET /metrics`.

mod dashboard;
mod metrics_page;

use crate::body::text;
use crate::body::{full, ProxyBody};
use crate::pool::{Account, Credential, Health};
use crate::providers::{Cause, Verdict};
use crate::reload::reload;
use crate::state::State;
use crate::status_report::{
    AccountStatus, CoolingCause, HealthState, IndexPool, IndexReport, LastError, PoolStatus,
    ReloadReport, StatusReport, WindowSource, WindowStatus,
};
use http::{Request, Response, StatusCode};
use std::time::SystemTime;

/// One account's live state: `ok`, `cooling` (with `until`, epoch seconds, and its
/// `cause`) or `disabled`, and why; `unsaved` while a refreshed login has not reached the
/// disk. Never a credential.
fn account_status(a: &Account, now: SystemTime) -> AccountStatus {
    let (mut terminal, mut until, mut cause) = (None, None, None);
    let (state, detail) = match a.health(now) {
        Health::Ok => (HealthState::Ok, String::new()),
        Health::Cooling {
            until: at,
            cause: why,
        } => {
            (until, cause) = (epoch_secs(at), Some(cooling_cause(&why)));
            (HealthState::Cooling, why.detail().to_string())
        }
        Health::Disabled { reason } => (HealthState::Disabled, reason),
        Health::Ended { rule, reason } => {
            terminal = Some(rule);
            (HealthState::Disabled, reason)
        }
    };
    let windows = a.quota(now);
    AccountStatus {
        name: a.name.clone(),
        kind: a.kind().as_str().into(),
        state,
        detail,
        until,
        cause,
        terminal,
        requests: a.stats.requests(),
        last_error: a.stats.last_error().map(|(at, detail)| LastError {
            at: epoch_secs(at).unwrap_or(0),
            detail,
        }),
        unsaved: match &a.credential {
            Credential::OAuth(o) => o.unsaved(),
            Credential::Key(_) | Credential::Aws(_) => None,
        },
        tightest: crate::quota::tightest(&windows).map(|w| window_status(w, now)),
        windows: windows.iter().map(|w| window_status(w, now)).collect(),
        sticky_conversations: None,
    }
}

fn cooling_cause(cause: &Cause) -> CoolingCause {
    match cause {
        Cause::TokenEndpoint { .. } => CoolingCause::TokenEndpoint,
        Cause::Provider { verdict, .. } => match verdict {
            Verdict::Exhausted => CoolingCause::Exhausted,
            Verdict::Overloaded => CoolingCause::Overloaded,
            _ => CoolingCause::RateLimited,
        },
    }
}

/// A window as the status shows it, with where it came from and how old it is at `now`.
fn window_status(w: &crate::quota::Window, now: SystemTime) -> WindowStatus {
    WindowStatus {
        name: w.name.clone(),
        scope: w.scope.clone(),
        utilization: w.pressure(),
        remaining: w.remaining,
        limit: w.limit,
        resets_at: w.resets_at.and_then(epoch_secs),
        source: Some(match w.source {
            crate::quota::Source::Headers => WindowSource::Headers,
            crate::quota::Source::Probe => WindowSource::Probe,
        }),
        // A window learned "after now" (a clock moved back) is as fresh as can be.
        age_secs: w
            .learned_at
            .map(|at| now.duration_since(at).map_or(0, |d| d.as_secs())),
    }
}

fn epoch_secs(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `GET /_keypool/status`: every pool and account as the pipeline sees them now.
fn status(state: &State) -> Response<ProxyBody> {
    let now = state.clock.now();
    let sticky = state.affinity.sticky.counts(now);
    let pools = pool_statuses(state, now, Some(&sticky));
    let report = StatusReport {
        keypool: env!("CARGO_PKG_VERSION").into(),
        listen: state.listen.to_string(),
        now: epoch_secs(now).unwrap_or(0),
        pools,
    };
    json_response(StatusCode::OK, &report)
}

/// `report` as an `application/json` answer with `code`.
fn json_response<T: serde::Serialize>(code: StatusCode, report: &T) -> Response<ProxyBody> {
    let mut r = Response::new(full(crate::status_report::to_json(report)));
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Every pool in force now, its accounts as `account_status` has them, with the number of
/// sticky conversations each holds when `sticky` is given.
fn pool_statuses(
    state: &State,
    now: SystemTime,
    sticky: Option<&std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>>,
) -> Vec<PoolStatus> {
    let live = state.live();
    let conversations = |pool: &str, account: &str| {
        let counts = sticky?;
        Some(
            counts
                .get(pool)
                .and_then(|m| m.get(account))
                .copied()
                .unwrap_or(0),
        )
    };
    live.pools
        .all
        .iter()
        .map(|p| PoolStatus {
            name: p.name.clone(),
            provider: p.provider.id.clone(),
            strategy: p.strategy.as_str().into(),
            mix_kinds: p.mix_kinds,
            accounts: p
                .members
                .iter()
                .map(|a| AccountStatus {
                    sticky_conversations: conversations(&p.name, &a.name),
                    ..account_status(a, now)
                })
                .collect(),
        })
        .collect()
}

/// The path of the status JSON on the proxy's own address.
pub const STATUS_PATH: &str = "/_keypool/status";
/// `POST` here reads the config file again (what SIGHUP does).
pub const RELOAD_PATH: &str = "/_keypool/reload";

/// The dashboard's live data (JSON), polled by the page.
pub const DASHBOARD_DATA_PATH: &str = "/_keypool/dashboard";
/// Prometheus' scrape path.
pub const METRICS_PATH: &str = "/metrics";

pub async fn handle<B>(req: &Request<B>, state: &State) -> Response<ProxyBody> {
    if let Some(refused) = crate::admin_access::refusal(req.method(), req.headers(), state) {
        let mut r = text(refused.status, format!("{}\n", refused.message));
        if refused.ask_login {
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"keypool\", charset=\"UTF-8\""),
            );
        }
        return r;
    }
    let path = req.uri().path();
    if path == STATUS_PATH && req.method() == http::Method::GET {
        return status(state);
    }
    if path == RELOAD_PATH && req.method() == http::Method::POST {
        return reload_answer(state);
    }
    if path == METRICS_PATH && req.method() == http::Method::GET {
        return metrics_page::answer(state, req.headers());
    }
    if path == DASHBOARD_DATA_PATH && req.method() == http::Method::GET {
        return dashboard::data(state).await;
    }
    if let Some(asset) = dashboard::asset(path).filter(|_| req.method() == http::Method::GET) {
        return asset;
    }
    if path != "/" {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                concat!(
                    "keypool: no page at {}. keypool is a proxy: ",
                    "point clients at it with HTTPS_PROXY=http://{}\n"
                ),
                req.uri().path(),
                state.listen
            ),
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "keypool: only GET / is served here\n",
        );
    }
    if dashboard::wanted(req.headers()) {
        return dashboard::page();
    }
    index(req, state)
}

/// `POST /_keypool/reload`: reads the config file again, as SIGHUP does.
fn reload_answer(state: &State) -> Response<ProxyBody> {
    let (code, report) = match reload(state) {
        Ok(m) => {
            tracing::info!("{m}");
            let report = ReloadReport {
                reloaded: true,
                message: Some(m),
                error: None,
            };
            (StatusCode::OK, report)
        }
        Err(e) => {
            tracing::warn!("reload refused: {e}");
            let report = ReloadReport {
                reloaded: false,
                message: None,
                error: Some(e),
            };
            (StatusCode::BAD_REQUEST, report)
        }
    };
    json_response(code, &report)
}

/// `GET /`: what is running, as a short page or (`Accept: application/json`) JSON.
fn index<B>(req: &Request<B>, state: &State) -> Response<ProxyBody> {
    let live = state.live();
    let wants_json = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let now = state.clock.now();
        let pools = live
            .pools
            .all
            .iter()
            .map(|p| IndexPool {
                name: p.name.clone(),
                provider: p.provider.id.clone(),
                accounts: p.members.len(),
                members: p.members.iter().map(|a| account_status(a, now)).collect(),
            })
            .collect();
        let report = IndexReport {
            keypool: env!("CARGO_PKG_VERSION").into(),
            status: "running".into(),
            listen: state.listen.to_string(),
            ca: state.home.ca_cert().display().to_string(),
            pools,
        };
        return json_response(StatusCode::OK, &report);
    }
    let mut page = format!(
        "keypool {} is running on {}\nCA certificate: {}\n",
        env!("CARGO_PKG_VERSION"),
        state.listen,
        state.home.ca_cert().display()
    );
    if live.pools.all.is_empty() {
        page.push_str(
            "No accounts configured: add [[accounts]] to config.toml and run `keypool reload`.\n",
        );
    }
    for p in &live.pools.all {
        page.push_str(&format!(
            "pool {} ({}): {} account(s)\n",
            p.name,
            p.provider.id,
            p.members.len()
        ));
    }
    text(StatusCode::OK, page)
}
