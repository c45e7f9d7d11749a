//! The dashboard's JSON: every pool and account as `GET /_keypool/status` shows them, and
//! what the usage ledger holds for today, the week, the last rows and the last 24 hours.
//! The ledger is read off the async runtime (SQLite reads block), and a ledger that cannot
//! be read leaves the accounts shown with the reason beside them.

use crate::state::State;
use crate::status_report::{DashboardReport, DashboardUsage, RecentRequest, UsageSlice, UsageSums};
use crate::usage::query::{Bucket, By, Group, Query, QueryError};
use crate::usage::Record;
use std::path::PathBuf;
use std::time::SystemTime;

/// How many of the latest rows the page lists.
const RECENT_ROWS: usize = 50;
/// The chart: this many slices of this many seconds, the last one the current hour.
const SLICES: usize = 24;
const SLICE_SECS: i64 = 3600;
const DAY_SECS: i64 = 86_400;
/// A model name is from the wire: the page shows at most this many characters of it.
const MODEL_CHARS: usize = 100;

pub(super) async fn report(state: &State) -> DashboardReport {
    let now = state.clock.now();
    let pools = super::super::pool_statuses(state, now, None);
    let now_secs = super::super::epoch_secs(now).unwrap_or(0);
    DashboardReport {
        keypool: env!("CARGO_PKG_VERSION").into(),
        listen: state.listen.to_string(),
        ca: state.home.ca_cert().display().to_string(),
        now: now_secs,
        pools,
        usage: usage(state.home.usage_db(), now).await,
    }
}

/// The ledger's sums, read on a blocking thread.
async fn usage(db: PathBuf, now: SystemTime) -> DashboardUsage {
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let read = tokio::task::spawn_blocking(move || {
        // No ledger yet (nothing recorded, or `[usage] ledger = false` from the start).
        if !db.exists() {
            return Ok(DashboardUsage::default());
        }
        read(&Query::new(&db), now_ms)
    })
    .await;
    let mut usage = match read {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => DashboardUsage {
            error: Some(format!("the usage ledger could not be read: {e}")),
            ..DashboardUsage::default()
        },
        Err(e) => DashboardUsage {
            error: Some(format!("reading the usage ledger failed: {e}")),
            ..DashboardUsage::default()
        },
    };
    let (since, rows) = (chart_start(now_ms), std::mem::take(&mut usage.hourly));
    usage.hourly = hourly(since, rows);
    usage
}

fn read(q: &Query, now_ms: i64) -> Result<DashboardUsage, QueryError> {
    let today = now_ms - now_ms.rem_euclid(DAY_SECS * 1000);
    let week = now_ms.saturating_sub(7 * DAY_SECS * 1000);
    let by_account = |since| -> Result<Vec<UsageSums>, QueryError> {
        Ok(q.summary(since, By::Account)?
            .into_iter()
            .map(sums)
            .collect())
    };
    let slices = q
        .series(chart_start(now_ms), SLICE_SECS)?
        .into_iter()
        .map(slice)
        .collect();
    Ok(DashboardUsage {
        today: sums(q.totals(today)?),
        week: sums(q.totals(week)?),
        accounts_today: by_account(today)?,
        accounts_week: by_account(week)?,
        recent: q.recent(RECENT_ROWS)?.into_iter().map(recent).collect(),
        hourly: slices,
        error: None,
    })
}

/// The start of the hour 23 hours before the current one: aligned to whole hours, so a
/// ledger that slices from `since` and one that slices from the epoch agree.
fn chart_start(now_ms: i64) -> i64 {
    let slice_ms = SLICE_SECS * 1000;
    let hour = now_ms - now_ms.rem_euclid(slice_ms);
    hour.saturating_sub((SLICES as i64 - 1) * slice_ms)
}

/// Exactly [`SLICES`] slices from `since`, the ledger's sums in theirs and the hours
/// without rows at zero (the ledger leaves them out); a slice outside the chart is dropped.
fn hourly(since: i64, rows: Vec<UsageSlice>) -> Vec<UsageSlice> {
    let slice_ms = SLICE_SECS * 1000;
    let mut out: Vec<UsageSlice> = (0..SLICES as i64)
        .map(|i| UsageSlice {
            start_ms: since + i * slice_ms,
            ..UsageSlice::default()
        })
        .collect();
    for r in rows {
        let i = r.start_ms.saturating_sub(since).div_euclid(slice_ms);
        if let Some(s) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            s.requests = s.requests.saturating_add(r.requests);
            s.tokens = s.tokens.saturating_add(r.tokens);
            s.cost_usd += r.cost_usd;
        }
    }
    out
}

fn sums(g: Group) -> UsageSums {
    UsageSums {
        key: g.key,
        requests: g.requests,
        errors: g.errors,
        tokens: g.tokens.prompt().saturating_add(g.tokens.output),
        cost_usd: g.cost_usd,
        unpriced: g.unpriced,
    }
}

fn slice(b: Bucket) -> UsageSlice {
    UsageSlice {
        start_ms: b.start_ms,
        requests: b.requests,
        tokens: b.tokens,
        cost_usd: b.cost_usd,
    }
}

fn recent(r: Record) -> RecentRequest {
    RecentRequest {
        at_ms: r.at_ms,
        pool: r.pool,
        account: r.account,
        model: r.model.map(|m| m.chars().take(MODEL_CHARS).collect()),
        status: r.status,
        attempts: r.attempts,
        tokens_in: r.tokens.prompt(),
        tokens_out: r.tokens.output,
        total_ms: r.total_ms,
        cost_usd: r.cost_usd,
        stream: r.stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn the_chart_has_24_whole_hours_ending_with_the_current_one() {
        let now = 1_795_000_123_456;
        let since = chart_start(now);
        assert_eq!(since % HOUR, 0);
        assert!(since + 23 * HOUR <= now && now < since + 24 * HOUR);
        let row = |start_ms, tokens| UsageSlice {
            start_ms,
            requests: 1,
            tokens,
            cost_usd: 0.5,
        };
        // One in the first hour, two in the last (one mid-hour), one before, one after.
        let rows = vec![
            row(since, 10),
            row(since + 23 * HOUR, 5),
            row(since + 23 * HOUR + 60_000, 7),
            row(since - HOUR, 1000),
            row(since + 24 * HOUR, 1000),
            row(i64::MIN, u64::MAX),
        ];
        let out = hourly(since, rows);
        assert_eq!(out.len(), 24);
        assert_eq!(out[0].tokens, 10);
        assert_eq!(out[23].tokens, 12);
        assert_eq!(out[23].requests, 2);
        assert!(out[1..23].iter().all(|s| s.tokens == 0 && s.requests == 0));
        assert!(out
            .windows(2)
            .all(|w| w[1].start_ms - w[0].start_ms == HOUR));
    }

    #[test]
    fn a_long_model_name_is_cut_on_a_character() {
        let r = Record {
            model: Some("é".repeat(500)),
            ..Record::default()
        };
        assert_eq!(recent(r).model.unwrap().chars().count(), MODEL_CHARS);
    }
}
