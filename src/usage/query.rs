//! Sums over `usage.db` for `keypool usage` and the dashboard. Each call opens its own
//! read-only connection (WAL lets it read while the writer writes).
//! STUB: the SQLite queries replace this; the signatures are the contract.

use super::{Record, Tokens};
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
    /// Rows whose model had no price (their tokens are counted, their cost is not).
    pub unpriced: u64,
    /// Cache reads over all prompt tokens; `None` without prompt tokens.
    pub cache_hit_ratio: Option<f64>,
}

/// Usage in one slice of time, for the dashboard's chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub requests: u64,
    /// Every token of every kind.
    pub tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

pub struct Query {
    path: PathBuf,
}

impl Query {
    pub fn new(path: &Path) -> Query {
        Query {
            path: path.to_path_buf(),
        }
    }

    /// The rows since `since_ms`, grouped, largest cost first (days in order).
    pub fn summary(&self, _since_ms: i64, _by: By) -> Result<Vec<Group>, QueryError> {
        let _ = &self.path;
        Ok(Vec::new())
    }

    /// Every row since `since_ms`, summed.
    pub fn totals(&self, _since_ms: i64) -> Result<Group, QueryError> {
        Ok(Group::default())
    }

    /// The latest `limit` rows, newest first.
    pub fn recent(&self, _limit: usize) -> Result<Vec<Record>, QueryError> {
        Ok(Vec::new())
    }

    /// Rows since `since_ms` in slices of `bucket_secs`, oldest first.
    pub fn series(&self, _since_ms: i64, _bucket_secs: i64) -> Result<Vec<Bucket>, QueryError> {
        Ok(Vec::new())
    }
}
