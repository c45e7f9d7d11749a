//! Accounts, the pools they form, and each account's health (cooling down, disabled).

mod account;
mod build;
mod saved;
pub mod strategy;

/// The schedule grammar is config vocabulary; re-exported where the pools read it.
pub use account::{Account, Credential, Health, Stats};
pub use build::aws_credentials;
pub use strategy::{choose, Candidate};

use crate::config::Strategy;
use crate::providers::{Cause, Kind, Outcome, Provider, Verdict};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct Pool {
    pub name: String,
    pub provider: Arc<Provider>,
    pub strategy: Strategy,
    /// Utilization at which the strategy passes an account over while another is below it.
    pub soft_threshold: f64,
    pub mix_kinds: bool,
    /// Pools to continue in when every account here is limited, in order: indices into
    /// the [`Pools::all`] these pools were built into.
    pub fallback: Vec<usize>,
    /// This pool's own place in [`Pools::all`], so a request names the pools it has
    /// visited by index.
    pub index: usize,
    /// Hold a request up to this long for an account to free, instead of a 429.
    pub hold_max: Option<Duration>,
    pub members: Vec<Arc<Account>>,
    pub(super) cursor: AtomicUsize,
}

/// Why no account of a pool can take a request now.
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// When the first cooling account frees; `None` when every account is disabled.
    pub first_free_in: Option<Duration>,
    /// `name (state)` for every member, for the error message.
    pub summary: String,
}

impl Pool {
    /// Whether account `idx` may serve a request of `kind` to `path`: its kind matches
    /// (unless the pool mixes kinds), its provider swaps that path for its kind, and its
    /// place can take the path (an Azure account without the deployment the path names
    /// is passed over, never sent a wrong path).
    pub fn eligible(&self, idx: usize, kind: Option<Kind>, path: &str) -> bool {
        let a = &self.members[idx];
        let k = a.kind();
        (self.mix_kinds || kind.is_none_or(|want| want == k))
            && a.provider.covers(path, k)
            && a.provider.placement.serves(path, &a.place)
    }

    /// Whether any account may serve a request of `kind` to `path` at all.
    pub fn serves(&self, kind: Option<Kind>, path: &str) -> bool {
        (0..self.members.len()).any(|i| self.eligible(i, kind, path))
    }

    /// The usable account not in `tried` that the pool's strategy prefers now. `prefer`
    /// (a conversation's account) wins when it is usable.
    pub fn pick(
        &self,
        tried: &[usize],
        now: SystemTime,
        kind: Option<Kind>,
        path: &str,
        prefer: Option<&str>,
    ) -> Result<(usize, Arc<Account>), Unavailable> {
        let usable = |idx: usize| {
            !tried.contains(&idx)
                && self.eligible(idx, kind, path)
                && self.members[idx].health(now) == Health::Ok
        };
        if let Some(idx) = prefer
            .and_then(|name| self.members.iter().position(|a| a.name == name))
            .filter(|idx| usable(*idx))
        {
            return Ok(self.take(idx));
        }
        let candidates: Vec<Candidate> = (0..self.members.len())
            .filter(|idx| usable(*idx))
            .map(|idx| self.members[idx].candidate(idx, now))
            .collect();
        match strategy::choose(
            &self.strategy,
            &candidates,
            now,
            self.soft_threshold,
            crate::config::schedule::local_offset(),
        ) {
            Some(idx) => Ok(self.take(idx)),
            None => Err(self.unavailable(now)),
        }
    }

    fn take(&self, idx: usize) -> (usize, Arc<Account>) {
        let a = &self.members[idx];
        a.last_used.store(
            self.cursor.fetch_add(1, Ordering::Relaxed) as u64 + 1,
            Ordering::Relaxed,
        );
        (idx, a.clone())
    }

    /// Records what the provider said about account `idx`.
    pub fn mark(&self, idx: usize, outcome: &Outcome, now: SystemTime) {
        let acct = &self.members[idx];
        if outcome.verdict != Verdict::Ok {
            acct.changes.fetch_add(1, Ordering::Relaxed);
            acct.stats.failed(now, &outcome.detail);
        }
        let mut h = acct.health.lock();
        match outcome.verdict {
            Verdict::Ok => {}
            Verdict::AuthFailed => {
                let reason = match &acct.credential {
                    Credential::Key(_) => format!(
                        "key rejected by the provider ({}); fix api_key, then `keypool reload`",
                        outcome.detail
                    ),
                    Credential::Aws(_) => format!(
                        concat!(
                            "IAM credentials rejected by the provider ({}); fix access_key_id ",
                            "and secret_access_key (or renew session_token, or the IAM policy), ",
                            "then `keypool reload`"
                        ),
                        outcome.detail
                    ),
                    Credential::OAuth(o) => format!(
                        "needs login: the provider rejected a freshly refreshed token ({}); {}",
                        outcome.detail,
                        o.fix()
                    ),
                };
                if !h.is_out() {
                    tracing::warn!(
                        account = %acct.name,
                        provider = %acct.provider.id,
                        "account disabled until keypool restarts: {reason}"
                    );
                }
                *h = Health::Disabled { reason };
            }
            Verdict::Terminal => account::end_turn(acct, &mut h, outcome),
            verdict => {
                let mut until = crate::bounds::cool_until(now, outcome.cooldown());
                if outcome.reset_in.is_none() {
                    // No wait was named with the refusal: a learned window that resets
                    // sooner ends the cooldown then, never later.
                    if let Some(reset) = acct
                        .quota(now)
                        .iter()
                        .filter(|w| w.pressure().is_some_and(|p| p >= 1.0))
                        .filter_map(|w| w.resets_at)
                        .min()
                    {
                        until = until.min(reset.max(now));
                    }
                }
                *h = Health::Cooling {
                    until,
                    cause: Cause::Provider {
                        verdict,
                        detail: outcome.detail.clone(),
                    },
                };
            }
        }
    }

    fn unavailable(&self, now: SystemTime) -> Unavailable {
        let mut first: Option<Duration> = None;
        let mut parts = Vec::new();
        for a in &self.members {
            match a.health(now) {
                Health::Ok => parts.push(format!("{} (tried)", a.name)),
                Health::Cooling { until, cause } => {
                    let left = until.duration_since(now).unwrap_or_default();
                    first = Some(first.map_or(left, |f| f.min(left)));
                    let secs = ceil_secs(left);
                    parts.push(format!("{} ({cause}, frees in {secs}s)", a.name));
                }
                Health::Disabled { reason } | Health::Ended { reason, .. } => {
                    parts.push(format!("{} (disabled: {reason})", a.name))
                }
            }
        }
        Unavailable {
            first_free_in: first,
            summary: parts.join(", "),
        }
    }
}

pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Every pool, and the one that serves each provider.
#[derive(Debug, Default)]
pub struct Pools {
    pub all: Vec<Arc<Pool>>,
    by_provider: HashMap<String, Arc<Pool>>,
    accounts: Vec<Arc<Account>>,
    changes: Arc<std::sync::atomic::AtomicU64>,
}
impl Pools {
    pub fn for_provider(&self, id: &str) -> Option<&Arc<Pool>> {
        self.by_provider.get(id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Pool>> {
        self.all.iter().find(|p| p.name == name)
    }

    /// A number that changes whenever any account's health changes.
    pub fn generation(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
