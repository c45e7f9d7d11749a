//! Sums over `usage.db` for `keypool usage` and the dashboard. Each call opens its own
//! read-only connection (WAL lets it read while the writer writes). A missing database,
//! or one nothing was written to yet, reads as empty. Days are UTC.
//!
//! Every number read back is clamped: a count is never negative, and sums are taken as
//! SQLite's `TOTAL` (a float that cannot overflow) before they become integers again.

use super::ledger::schema;
use super::{Record, Tokens};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `keypool usage --by` groups rows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Account,
    Model,
    Day,
    Pool,
}

impl By {
    /// The name `--by` and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            By::Account => "account",
            By::Model => "model",
            By::Day => "day",
            By::Pool => "pool",
        }
    }

    /// The SQL for a row's group key. Rows without an account (keypool's own answers) or
    /// pool group under `(none)`, rows without a model under `(unknown)`.
    fn key_sql(self) -> &'static str {
        match self {
            By::Account => "COALESCE(CAST(account AS TEXT), '(none)')",
            By::Model => "COALESCE(CAST(model AS TEXT), '(unknown)')",
            By::Pool => "COALESCE(CAST(pool AS TEXT), '(none)')",
            By::Day => "COALESCE(strftime('%Y-%m-%d', at_ms / 1000, 'unixepoch'), '(bad time)')",
        }
    }
}

/// The sums over one group of rows (or all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    /// The account, model, pool or day (`YYYY-MM-DD`, UTC); `""` for the totals.
    pub key: String,
    pub requests: u64,
    /// Answers with a status of 400 or more.
    pub errors: u64,
    pub rotations: u64,
    pub tokens: Tokens,
    /// USD over the rows with a price.
    pub cost_usd: f64,
    /// Rows whose model had no price (their tokens are counted, their cost is not). A row
    /// without tokens (a refusal, keypool's own answer) costs nothing and is not counted.
    pub unpriced: u64,
    /// Cache reads over all prompt tokens; `None` without prompt tokens.
    pub cache_hit_ratio: Option<f64>,
}

/// Usage in one slice of time, for the dashboard's chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub requests: u64,
    /// Every token of every kind (reasoning is part of output, so not added again).
    pub tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// The most groups [`Query::summary`] returns (the totals still count every row).
const MAX_GROUPS: usize = 10_000;
/// The most rows [`Query::recent`] returns.
const MAX_RECENT: usize = 1_000;
/// The most slices [`Query::series`] returns (the latest ones).
const MAX_BUCKETS: usize = 10_000;
/// The widest slice: a year.
const MAX_BUCKET_SECS: i64 = 366 * 86_400;

/// The sums of a [`Group`], after its key, in the order [`group_of`] reads them.
const SUMS: &str = "COUNT(*), TOTAL(status >= 400), TOTAL(MAX(rotations, 0)), \
    TOTAL(MAX(input, 0)), TOTAL(MAX(output, 0)), TOTAL(MAX(cache_read, 0)), \
    TOTAL(MAX(cache_write, 0)), TOTAL(MAX(reasoning, 0)), TOTAL(MAX(cost_usd, 0)), \
    TOTAL(cost_usd IS NULL AND (input > 0 OR output > 0 OR cache_read > 0 \
    OR cache_write > 0 OR reasoning > 0))";

pub struct Query {
    path: PathBuf,
}

impl Query {
    pub fn new(path: &Path) -> Query {
        Query {
            path: path.to_path_buf(),
        }
    }

    /// The database file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rows since `since_ms`, grouped, largest cost first (days in order).
    pub fn summary(&self, since_ms: i64, by: By) -> Result<Vec<Group>, QueryError> {
        let Some((conn, version)) = self.open()? else {
            return Ok(Vec::new());
        };
        let order = match by {
            By::Day => "1",
            _ => "10 DESC, 2 DESC, 1",
        };
        let sql = format!(
            "SELECT {key}, {SUMS} FROM answers WHERE {since} GROUP BY 1 ORDER BY {order} \
             LIMIT {MAX_GROUPS}",
            key = by.key_sql(),
            since = schema::since_clause(version),
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map(since(since_ms), |r| group_of(r, r.get(0)?))
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Every row since `since_ms`, summed.
    pub fn totals(&self, since_ms: i64) -> Result<Group, QueryError> {
        let Some((conn, version)) = self.open()? else {
            return Ok(Group::default());
        };
        let sql = format!(
            "SELECT '', {SUMS} FROM answers WHERE {}",
            schema::since_clause(version)
        );
        conn.query_row(&sql, since(since_ms), |r| group_of(r, String::new()))
            .map_err(|e| self.error(e))
    }

    /// Whether any row was ever written (and not yet deleted by `[usage] keep`).
    pub fn has_rows(&self) -> Result<bool, QueryError> {
        let Some((conn, _)) = self.open()? else {
            return Ok(false);
        };
        conn.query_row("SELECT EXISTS (SELECT 1 FROM answers)", [], |r| r.get(0))
            .map_err(|e| self.error(e))
    }

    /// The latest `limit` rows written (at most a thousand), newest request first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Record>, QueryError> {
        let Some((conn, _)) = self.open()? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {} FROM answers ORDER BY id DESC LIMIT ?1",
            schema::COLUMNS
        );
        let limit = limit.min(MAX_RECENT) as i64;
        let mut stmt = conn.prepare(&sql).map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([limit], record_of)
            .map_err(|e| self.error(e))?;
        let mut rows: Vec<Record> = rows.collect::<Result<_, _>>().map_err(|e| self.error(e))?;
        // Written in the order answers ended; shown in the order requests came.
        rows.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
        Ok(rows)
    }

    /// Rows since `since_ms` in slices of `bucket_secs` (clamped to 1 s .. a year), oldest
    /// first. Slices start at multiples of `bucket_secs` since the epoch, so a chart polled
    /// again lines up; they run from the first slice with a row to the last one, the empty
    /// ones between included.
    pub fn series(&self, since_ms: i64, bucket_secs: i64) -> Result<Vec<Bucket>, QueryError> {
        let Some((conn, version)) = self.open()? else {
            return Ok(Vec::new());
        };
        let b = bucket_secs.clamp(1, MAX_BUCKET_SECS) * 1000;
        let sql = format!(
            "SELECT at_ms - ((at_ms % {b}) + {b}) % {b}, COUNT(*), \
             TOTAL(MAX(input, 0)) + TOTAL(MAX(output, 0)) + TOTAL(MAX(cache_read, 0)) \
             + TOTAL(MAX(cache_write, 0)), TOTAL(MAX(cost_usd, 0)) \
             FROM answers WHERE {since} GROUP BY 1 ORDER BY 1 DESC LIMIT {MAX_BUCKETS}",
            since = schema::since_clause(version),
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map(since(since_ms), |r| {
                Ok(Bucket {
                    start_ms: r.get(0)?,
                    requests: count(r.get(1)?),
                    tokens: whole(r.get(2)?),
                    cost_usd: usd(r.get(3)?),
                })
            })
            .map_err(|e| self.error(e))?;
        let mut sparse: Vec<Bucket> = rows.collect::<Result<_, _>>().map_err(|e| self.error(e))?;
        sparse.reverse();
        Ok(fill_gaps(sparse, b))
    }

    /// A read-only connection and the file's schema version; `None` when there is nothing
    /// to read yet.
    fn open(&self) -> Result<Option<(Connection, i64)>, QueryError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| self.error(e))?;
        conn.busy_timeout(schema::BUSY_TIMEOUT)
            .map_err(|e| self.error(e))?;
        let table: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'answers'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        if table.is_none() {
            return Ok(None);
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.error(e))?;
        Ok(Some((conn, version)))
    }

    fn error(&self, e: rusqlite::Error) -> QueryError {
        QueryError(format!(
            "cannot read the usage ledger {} ({e})\nfix: if the file is damaged, move it aside; \
             keypool starts a new one",
            self.path.display()
        ))
    }
}

/// The parameters of [`schema::since_clause`].
fn since(since_ms: i64) -> [i64; 2] {
    [since_ms, schema::hour_of(since_ms)]
}

/// A [`Group`] from a row of `key, SUMS`.
fn group_of(r: &Row<'_>, key: String) -> rusqlite::Result<Group> {
    let tokens = Tokens {
        input: whole(r.get(4)?),
        output: whole(r.get(5)?),
        cache_read: whole(r.get(6)?),
        cache_write: whole(r.get(7)?),
        reasoning: whole(r.get(8)?),
    };
    let prompt = tokens.prompt();
    Ok(Group {
        key,
        requests: count(r.get(1)?),
        errors: whole(r.get(2)?),
        rotations: whole(r.get(3)?),
        tokens,
        cost_usd: usd(r.get(9)?),
        unpriced: whole(r.get(10)?),
        cache_hit_ratio: (prompt > 0).then(|| tokens.cache_read as f64 / prompt as f64),
    })
}

/// A [`Record`] from a row of [`schema::COLUMNS`].
fn record_of(r: &Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        at_ms: r.get(0)?,
        provider: r.get(1)?,
        pool: r.get(2)?,
        account: r.get(3)?,
        kind: r.get(4)?,
        model: r.get(5)?,
        status: u16::try_from(count(r.get(6)?)).unwrap_or(u16::MAX),
        attempts: u32::try_from(count(r.get(7)?)).unwrap_or(u32::MAX),
        rotations: u32::try_from(count(r.get(8)?)).unwrap_or(u32::MAX),
        rotation: r.get(9)?,
        ttfb_ms: r.get::<_, Option<i64>>(10)?.map(count),
        total_ms: count(r.get(11)?),
        tokens: Tokens {
            input: count(r.get(12)?),
            output: count(r.get(13)?),
            cache_read: count(r.get(14)?),
            cache_write: count(r.get(15)?),
            reasoning: count(r.get(16)?),
        },
        cost_usd: r.get::<_, Option<f64>>(17)?.map(usd),
        stream: r.get(18)?,
    })
}

/// The slices from the first to the last, the empty ones between made explicit; at most
/// [`MAX_BUCKETS`], the latest.
fn fill_gaps(sparse: Vec<Bucket>, width_ms: i64) -> Vec<Bucket> {
    let (Some(first), Some(last)) = (sparse.first(), sparse.last()) else {
        return sparse;
    };
    let span = (last.start_ms.saturating_sub(first.start_ms) / width_ms).saturating_add(1);
    let n = usize::try_from(span)
        .unwrap_or(MAX_BUCKETS)
        .min(MAX_BUCKETS);
    let start = last
        .start_ms
        .saturating_sub((n as i64 - 1).saturating_mul(width_ms));
    let mut rows = sparse.into_iter().peekable();
    let mut out = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let at = start.saturating_add(i.saturating_mul(width_ms));
        while rows.peek().is_some_and(|b| b.start_ms < at) {
            rows.next();
        }
        match rows.next_if(|b| b.start_ms == at) {
            Some(b) => out.push(b),
            None => out.push(Bucket {
                start_ms: at,
                ..Bucket::default()
            }),
        }
    }
    out
}

/// A count read back: never negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A `TOTAL` read back as a count: negative and NaN give 0, too large the largest.
fn whole(x: f64) -> u64 {
    // `as` saturates and maps NaN to 0.
    x.max(0.0) as u64
}

/// A sum of USD: finite and not negative, else 0; to a millionth of a dollar, so sums
/// read `42.6`, not `42.599999999999994`.
fn usd(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start_ms: i64, requests: u64) -> Bucket {
        Bucket {
            start_ms,
            requests,
            ..Bucket::default()
        }
    }

    #[test]
    fn gaps_between_slices_are_filled_with_empty_ones() {
        let got = fill_gaps(vec![b(1000, 2), b(4000, 1)], 1000);
        let starts: Vec<i64> = got.iter().map(|b| b.start_ms).collect();
        assert_eq!(starts, [1000, 2000, 3000, 4000]);
        let requests: Vec<u64> = got.iter().map(|b| b.requests).collect();
        assert_eq!(requests, [2, 0, 0, 1]);
    }

    #[test]
    fn a_wide_span_keeps_the_latest_slices() {
        let got = fill_gaps(vec![b(0, 1), b(i64::MAX / 2, 3)], 1);
        assert_eq!(got.len(), MAX_BUCKETS);
        assert_eq!(got.last().map(|b| b.requests), Some(3));
        assert!(fill_gaps(Vec::new(), 1000).is_empty());
    }

    #[test]
    fn numbers_read_back_are_clamped() {
        assert_eq!(count(-5), 0);
        assert_eq!(whole(-1.0), 0);
        assert_eq!(whole(f64::NAN), 0);
        assert_eq!(whole(1e300), u64::MAX);
        assert_eq!(usd(f64::INFINITY), 0.0);
        assert_eq!(usd(-2.0), 0.0);
        assert_eq!(usd(14.2 * 3.0), 42.6);
    }
}
