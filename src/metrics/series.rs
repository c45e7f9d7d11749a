//! Handles to the series one account's answers count into, looked up once and kept: an
//! answer then costs a few atomic adds instead of hashing and allocating a label set per
//! family (which was most of what metrics cost per request).

use super::families::{
    AttemptLabels, CostLabels, Families, PoolLabels, RequestLabels, TokenLabels,
};
use super::labels::{sanitize, Models, MAX_MODELS, OTHER};
// foldhash, not SipHash: these maps are looked up a few times per answer, and their keys
// are config names and model names under a cap, so flooding them buys nothing.
use foldhash::HashMap;
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

/// Most accounts kept; past it (only a config with thousands of accounts, or names that
/// never repeat) answers count through the families directly, as before the cache.
pub const MAX_ACCOUNTS: usize = 4096;

const STATUS_CLASSES: [&str; 7] = ["101", "1xx", "2xx", "3xx", "4xx", "5xx", OTHER];
/// The results [`super::Metrics::attempt`] is called with.
const RESULTS: [&str; 8] = [
    "ok",
    "rate_limited",
    "overloaded",
    "exhausted",
    "auth_failed",
    "broken",
    "unreachable",
    "error",
];
pub const KINDS: [&str; 5] = ["input", "output", "cache_read", "cache_write", "reasoning"];

/// One (provider, pool, account)'s series. A counter is made on first use, so a status
/// class or result that never happened has no series, as with the families alone.
pub struct Account {
    provider: String,
    pool: String,
    account: String,
    pub duration: Histogram,
    pub ttfb: Histogram,
    requests: [OnceLock<Counter>; STATUS_CLASSES.len()],
    attempts: [OnceLock<Counter>; RESULTS.len()],
    /// By the model name as the answer gave it (at most [`MAX_MODELS`]), so that a name
    /// seen before costs one lookup, not a sanitised copy and two.
    models: RwLock<HashMap<String, Arc<Model>>>,
}

pub struct Model {
    /// The label [`Models`] gave the name.
    label: String,
    tokens: [OnceLock<Counter>; KINDS.len()],
    cost: OnceLock<Counter<f64, AtomicU64>>,
}

impl Account {
    fn new(f: &Families, provider: &str, pool: &str, account: &str) -> Account {
        let pl = PoolLabels {
            provider: sanitize(provider),
            pool: sanitize(pool),
        };
        Account {
            duration: f.duration.get_or_create(&pl).clone(),
            ttfb: f.ttfb.get_or_create(&pl).clone(),
            provider: pl.provider,
            pool: pl.pool,
            account: sanitize(account),
            requests: Default::default(),
            attempts: Default::default(),
            models: RwLock::new(HashMap::default()),
        }
    }

    /// The requests counter for `class` (one of [`super::status_class`]'s).
    pub fn requests(&self, f: &Families, class: &'static str) -> Option<&Counter> {
        let i = STATUS_CLASSES.iter().position(|c| *c == class)?;
        Some(self.requests[i].get_or_init(|| {
            let l = RequestLabels {
                provider: self.provider.clone(),
                pool: self.pool.clone(),
                account: self.account.clone(),
                status_class: class,
            };
            f.requests.get_or_create(&l).clone()
        }))
    }

    /// The attempts counter for `result`; `None` for a result not in [`RESULTS`].
    pub fn attempts(&self, f: &Families, result: &str) -> Option<&Counter> {
        let i = RESULTS.iter().position(|r| *r == result)?;
        Some(self.attempts[i].get_or_init(|| {
            let l = AttemptLabels {
                provider: self.provider.clone(),
                pool: self.pool.clone(),
                account: self.account.clone(),
                result: RESULTS[i].into(),
            };
            f.attempts.get_or_create(&l).clone()
        }))
    }

    /// The series for the answer's `model`, labelled as `models` says. Names that
    /// sanitise alike get handles to the same counters.
    pub fn model(&self, model: Option<&str>, models: &Models) -> Arc<Model> {
        let raw = model.unwrap_or("");
        if let Some(m) = self.models.read().get(raw) {
            return m.clone();
        }
        let m = Arc::new(Model {
            label: models.label(model),
            tokens: Default::default(),
            cost: OnceLock::new(),
        });
        let mut kept = self.models.write();
        if kept.len() < MAX_MODELS {
            return kept.entry(raw.into()).or_insert(m).clone();
        }
        m
    }

    /// Adds `n` tokens of `KINDS[kind]` for `m`.
    pub fn tokens(&self, f: &Families, m: &Model, kind: usize, n: u64) {
        let c = m.tokens[kind].get_or_init(|| {
            let l = TokenLabels {
                provider: self.provider.clone(),
                account: self.account.clone(),
                model: m.label.clone(),
                kind: KINDS[kind],
            };
            f.tokens.get_or_create(&l).clone()
        });
        c.inc_by(n);
    }

    pub fn cost(&self, f: &Families, m: &Model, usd: f64) {
        let c = m.cost.get_or_init(|| {
            let l = CostLabels {
                provider: self.provider.clone(),
                account: self.account.clone(),
                model: m.label.clone(),
            };
            f.cost.get_or_create(&l).clone()
        });
        c.inc_by(usd);
    }
}

type ByAccount = HashMap<String, Arc<Account>>;

/// Every account's series, by the names the pipeline passes (from the config, so
/// bounded; [`MAX_ACCOUNTS`] holds even so).
#[derive(Default)]
pub struct Index {
    pub(super) by: RwLock<HashMap<String, HashMap<String, ByAccount>>>,
}

impl Index {
    /// The series of `account` in `pool` of `provider`. Past [`MAX_ACCOUNTS`] they are
    /// looked up afresh each time and not kept.
    pub fn get(&self, f: &Families, provider: &str, pool: &str, account: &str) -> Arc<Account> {
        let found = (self.by.read().get(provider))
            .and_then(|pools| pools.get(pool))
            .and_then(|accounts| accounts.get(account))
            .cloned();
        found.unwrap_or_else(|| self.insert(f, provider, pool, account))
    }

    fn insert(&self, f: &Families, provider: &str, pool: &str, account: &str) -> Arc<Account> {
        let mut by = self.by.write();
        let found = (by.get(provider))
            .and_then(|pools| pools.get(pool))
            .and_then(|accounts| accounts.get(account));
        if let Some(a) = found {
            return a.clone();
        }
        let a = Arc::new(Account::new(f, provider, pool, account));
        let kept: usize = by.values().flat_map(|p| p.values()).map(|a| a.len()).sum();
        if kept < MAX_ACCOUNTS {
            (by.entry(provider.into()).or_default())
                .entry(pool.into())
                .or_default()
                .insert(account.into(), a.clone());
        }
        a
    }
}
