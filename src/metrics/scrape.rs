//! The families read at scrape time from a snapshot of the state: built afresh for each
//! scrape, so an account a reload removed has no series left behind.

use super::labels::sanitize;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;

/// What the state says at one scrape. Built by the admin page (which may read the pool);
/// holds no credential.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub accounts: Vec<AccountSnapshot>,
    pub leaf_cache_entries: u64,
    pub ledger_dropped: u64,
    /// Token refreshes since start: provider, result (`ok`, `failed`, `refused`), count.
    pub oauth_refreshes: Vec<(&'static str, &'static str, u64)>,
}

#[derive(Debug, Default, Clone)]
pub struct AccountSnapshot {
    pub pool: String,
    pub account: String,
    /// Seconds until a cooling account is back; 0 when it is not cooling.
    pub cooling_seconds: f64,
    pub disabled: bool,
    /// The rule of the terminal answer that disabled it, if one did (`kimi-membership`).
    pub terminal: Option<&'static str>,
    pub windows: Vec<WindowSnapshot>,
}

#[derive(Debug, Default, Clone)]
pub struct WindowSnapshot {
    pub name: String,
    /// The model family a scoped limit covers; empty for the whole account.
    pub scope: String,
    /// `headers` or `probe`.
    pub source: &'static str,
    pub utilization: Option<f64>,
    /// Epoch seconds.
    pub resets_at: Option<f64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    pool: String,
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    pool: String,
    account: String,
    window: String,
    scope: String,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TerminalLabels {
    pool: String,
    account: String,
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    provider: &'static str,
    result: &'static str,
}

type FloatGauges<L> = Family<L, Gauge<f64, AtomicU64>>;

/// The scrape-time families of `s`, in a registry of their own.
pub fn registry(s: &Snapshot) -> Registry {
    let mut r = Registry::with_prefix("keypool");
    accounts(&mut r, &s.accounts);
    terminal(&mut r, &s.accounts);
    let leaves: Gauge = Gauge::default();
    leaves.set(i64::try_from(s.leaf_cache_entries).unwrap_or(i64::MAX));
    r.register(
        "leaf_cache_entries",
        "Leaf certificates held in the cache",
        leaves,
    );
    let dropped: Counter = Counter::default();
    dropped.inc_by(s.ledger_dropped);
    r.register(
        "ledger_dropped",
        "Usage rows the ledger dropped (its queue was full or a write failed)",
        dropped,
    );
    let refreshes = Family::<RefreshLabels, Counter>::default();
    for &(provider, result, n) in &s.oauth_refreshes {
        refreshes
            .get_or_create(&RefreshLabels { provider, result })
            .inc_by(n);
    }
    r.register(
        "oauth_refreshes",
        "Subscription token refreshes and how they ended",
        refreshes,
    );
    r
}

fn accounts(r: &mut Registry, accounts: &[AccountSnapshot]) {
    let cooling = FloatGauges::<AccountLabels>::default();
    let disabled = Family::<AccountLabels, Gauge>::default();
    let utilization = FloatGauges::<WindowLabels>::default();
    let resets = FloatGauges::<WindowLabels>::default();
    for a in accounts {
        let al = AccountLabels {
            pool: sanitize(&a.pool),
            account: sanitize(&a.account),
        };
        cooling
            .get_or_create(&al)
            .set(finite(a.cooling_seconds).max(0.0));
        disabled.get_or_create(&al).set(i64::from(a.disabled));
        // Two windows of one name and scope would be one series twice: the first wins.
        let mut seen = HashSet::new();
        for w in &a.windows {
            let wl = WindowLabels {
                pool: al.pool.clone(),
                account: al.account.clone(),
                window: sanitize(&w.name),
                scope: sanitize(&w.scope),
                source: w.source,
            };
            if !seen.insert((wl.window.clone(), wl.scope.clone())) {
                continue;
            }
            if let Some(u) = w.utilization {
                utilization
                    .get_or_create(&wl)
                    .set(finite(u).clamp(0.0, 1.0));
            }
            if let Some(t) = w.resets_at {
                resets.get_or_create(&wl).set(finite(t).max(0.0));
            }
        }
    }
    r.register_with_unit(
        "account_cooling",
        "Seconds until a cooling account is back (0: not cooling)",
        Unit::Seconds,
        cooling,
    );
    r.register(
        "account_disabled",
        "1 when the account is disabled until fixed (a dead login, a revoked key)",
        disabled,
    );
    r.register(
        "window_utilization",
        "How full a learned quota window is, 0 to 1",
        utilization,
    );
    r.register_with_unit(
        "window_reset_timestamp",
        "When a learned quota window resets, Unix time",
        Unit::Seconds,
        resets,
    );
}

/// Why a disabled account is out when a terminal answer put it there: one series per
/// such account, labelled with the rule (a name from keypool's own table, never text
/// from an answer).
fn terminal(r: &mut Registry, accounts: &[AccountSnapshot]) {
    let ended = Family::<TerminalLabels, Gauge>::default();
    for a in accounts {
        if let Some(rule) = a.terminal {
            let labels = TerminalLabels {
                pool: sanitize(&a.pool),
                account: sanitize(&a.account),
                rule,
            };
            ended.get_or_create(&labels).set(1);
        }
    }
    r.register(
        "account_terminal",
        concat!(
            "1 while a terminal answer (a lost membership, a ban) keeps the account out, ",
            "by the rule that matched; a reload or a quota probe that works clears it"
        ),
        ended,
    );
}

/// A NaN or infinity (never expected) as 0, so the exposition stays parseable.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}
