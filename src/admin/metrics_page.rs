//! `GET /metrics`: the Prometheus exposition, the live families plus a snapshot of the
//! pools taken now.

use crate::body::{full, text, ProxyBody};
use crate::metrics::{AccountSnapshot, Format, Snapshot, WindowSnapshot};
use crate::pool::{Account, Health};
use crate::state::State;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use std::time::SystemTime;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn answer(state: &State, headers: &HeaderMap) -> Response<ProxyBody> {
    let (format, content_type) = if wants_only_classic_text(headers) {
        (Format::Prometheus, PROMETHEUS_TEXT)
    } else {
        (Format::OpenMetrics, OPENMETRICS)
    };
    let Some(body) = state.metrics.render(&snapshot(state), format) else {
        return text(
            StatusCode::NOT_FOUND,
            concat!(
                "keypool: metrics are off; fix: set `enabled = true` under [metrics] ",
                "in config.toml (or remove the line) and restart keypool\n"
            ),
        );
    };
    let mut r = Response::new(full(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r
}

/// A scraper that names `text/plain` and not OpenMetrics gets the older format; one
/// that says nothing (curl, a browser) gets OpenMetrics.
fn wants_only_classic_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    accept.contains("text/plain") && !accept.contains("application/openmetrics-text")
}

/// The pools as they stand at the state's clock, plus the counters kept elsewhere.
fn snapshot(state: &State) -> Snapshot {
    let now = state.clock.now();
    let live = state.live();
    let accounts = live
        .pools
        .all
        .iter()
        .flat_map(|p| p.members.iter().map(|a| account(&p.name, a, now)))
        .collect();
    Snapshot {
        accounts,
        leaf_cache_entries: state.minting().ca.cached_leaf_count() as u64,
        ledger_dropped: state.ledger.dropped(),
        oauth_refreshes: crate::oauth::refresh_tally::snapshot(),
    }
}

fn account(pool: &str, a: &Account, now: SystemTime) -> AccountSnapshot {
    let (cooling_seconds, disabled, terminal) = match a.health(now) {
        Health::Ok => (0.0, false, None),
        Health::Cooling { until, .. } => (
            until.duration_since(now).map_or(0.0, |d| d.as_secs_f64()),
            false,
            None,
        ),
        Health::Disabled { .. } => (0.0, true, None),
        Health::Ended { rule, .. } => (0.0, true, Some(rule)),
    };
    // The label is the table's own name for the rule, never text read back from a file.
    let terminal = terminal.map(|rule| {
        crate::providers::terminal::TABLE
            .iter()
            .map(|r| r.rule)
            .find(|r| *r == rule)
            .unwrap_or("other")
    });
    let windows = a
        .quota(now)
        .iter()
        .map(|w| WindowSnapshot {
            name: w.name.clone(),
            scope: w.scope.clone().unwrap_or_default(),
            source: match w.source {
                crate::quota::Source::Headers => "headers",
                crate::quota::Source::Probe => "probe",
            },
            utilization: w.pressure(),
            resets_at: w
                .resets_at
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
        })
        .collect();
    AccountSnapshot {
        pool: pool.into(),
        account: a.name.clone(),
        cooling_seconds,
        disabled,
        terminal,
        windows,
    }
}
