//! One account: its credential, its health (cooling down, disabled), what it learned
//! about its quota, and what it did (for the status page).

use super::strategy::Candidate;
use crate::config::Role;
use crate::config::Schedule;
use crate::oauth::account::OAuthAccount;
use crate::persist;
use crate::providers::{Cause, Kind, Outcome, Provider};
use crate::quota::Window;
use parking_lot::Mutex;
use secrecy::SecretString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Distinct windows kept per account. Real providers describe at most a dozen; the
/// names come from header names, so without a cap an upstream inventing a new
/// `x-ratelimit-limit-<dim>` on every answer would grow the list without end.
const MAX_WINDOWS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    Cooling {
        until: SystemTime,
        cause: Cause,
    },
    Disabled {
        reason: String,
    },
    /// A terminal answer (`providers/terminal.rs`, rule `rule`) ended the account's turn:
    /// out until a config reload or a quota probe of it that works. `reason` says what
    /// happened and the fix.
    Ended {
        rule: String,
        reason: String,
    },
}

impl Health {
    /// Disabled or ended: out until something outside keypool changes.
    pub fn is_out(&self) -> bool {
        matches!(self, Health::Disabled { .. } | Health::Ended { .. })
    }
}

/// What an account authenticates with.
#[derive(Debug)]
pub enum Credential {
    /// A resolved API key; `None` when it could not be resolved (the account is disabled).
    Key(Option<SecretString>),
    OAuth(Arc<OAuthAccount>),
    /// AWS IAM credentials, resolved; `None` when they could not be (the account is
    /// disabled). Every request is signed with them (SigV4).
    Aws(Option<crate::sigv4::AwsCredentials>),
}

#[derive(Debug)]
pub struct Account {
    pub name: String,
    pub provider: Arc<Provider>,
    /// Where the account lives: the host and path keys its requests are rewritten to.
    pub place: crate::providers::Place,
    /// The key of the provider behind a gateway, resolved; `None` for BYOK.
    pub provider_key: Option<SecretString>,
    pub credential: Credential,
    /// For `scheduled` pools: when the account is meant to be used (`None` = always).
    pub schedule: Option<Schedule>,
    /// For `scheduled` pools.
    pub role: Role,
    pub(super) health: Mutex<Health>,
    /// What this account did since keypool started, for `keypool status`.
    pub stats: Stats,
    /// Bumped on every health change of any account of these pools, so the state file is
    /// written only when something changed.
    pub(super) changes: Arc<std::sync::atomic::AtomicU64>,
    /// The quota windows the provider's answers described, newest per (name, scope).
    pub(super) quota: Mutex<Vec<Window>>,
    /// When the account was last picked, as a sequence number of its pool's picks (a
    /// clock could give two picks the same instant).
    pub(super) last_used: std::sync::atomic::AtomicU64,
}

/// Counters kept per account. Never a credential.
#[derive(Debug, Default)]
pub struct Stats {
    requests: std::sync::atomic::AtomicU64,
    last_error: Mutex<Option<(SystemTime, String)>>,
    /// When the provider last answered a request on the account with success.
    last_served: Mutex<Option<SystemTime>>,
}

impl Stats {
    /// One request sent upstream on this account.
    pub fn sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// What went wrong last (a limit, a refused token), with when.
    pub fn failed(&self, at: SystemTime, detail: &str) {
        *self.last_error.lock() = Some((at, detail.to_string()));
    }

    /// The provider answered a request on this account with success.
    pub fn served(&self, at: SystemTime) {
        *self.last_served.lock() = Some(at);
    }

    /// How long ago the account last served, as of `now`; `None` when it never did.
    pub fn served_ago(&self, now: SystemTime) -> Option<Duration> {
        let at = (*self.last_served.lock())?;
        Some(now.duration_since(at).unwrap_or_default())
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error.lock().clone()
    }

    pub(super) fn copy_from(&self, other: &Stats) {
        self.requests.store(other.requests(), Ordering::Relaxed);
        *self.last_error.lock() = other.last_error();
        *self.last_served.lock() = *other.last_served.lock();
    }
}

impl Account {
    pub fn kind(&self) -> Kind {
        match self.credential {
            Credential::Key(_) | Credential::Aws(_) => Kind::ApiKey,
            Credential::OAuth(_) => Kind::OAuth,
        }
    }

    /// Takes the account out of rotation until keypool restarts.
    pub fn disable(&self, reason: String) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.stats.failed(SystemTime::now(), &reason);
        let mut h = self.health.lock();
        if !h.is_out() {
            let (account, provider) = (&self.name, &self.provider.id);
            tracing::warn!(%account, %provider, "account disabled: {reason}");
        }
        *h = Health::Disabled { reason };
    }

    /// Sits the account out for `wait` (at most [`crate::bounds::MAX_COOLDOWN`]) because
    /// its token endpoint failed for `reason`: the provider said nothing about it.
    pub fn cool(&self, wait: Duration, now: SystemTime, reason: String) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.stats.failed(now, &reason);
        let mut h = self.health.lock();
        if h.is_out() {
            return;
        }
        *h = Health::Cooling {
            until: crate::bounds::cool_until(now, wait),
            cause: Cause::TokenEndpoint { reason },
        };
    }

    /// A terminal answer ([`crate::providers::terminal`]) ended the account's turn, here
    /// from a call of its login's own (Code Assist's project discovery).
    pub fn end(&self, outcome: &Outcome, now: SystemTime) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.stats.failed(now, &outcome.detail);
        end_turn(self, &mut self.health.lock(), outcome);
    }

    /// A quota probe of the account worked: a terminal answer's ending no longer holds
    /// (the membership was renewed, the ban lifted). Whether it was ended.
    pub fn revive(&self) -> bool {
        let mut h = self.health.lock();
        if !matches!(&*h, Health::Ended { .. }) {
            return false;
        }
        *h = Health::Ok;
        self.changes.fetch_add(1, Ordering::Relaxed);
        let (account, provider) = (&self.name, &self.provider.id);
        tracing::info!(%account, %provider, "account back in rotation: its quota probe works");
        true
    }

    /// Health as of `now`: a cooldown that has ended reads as `Ok`.
    pub fn health(&self, now: SystemTime) -> Health {
        let mut h = self.health.lock();
        if matches!(&*h, Health::Cooling { until, .. } if *until <= now) {
            *h = Health::Ok;
        }
        h.clone()
    }
}

impl Account {
    /// What the strategy weighs: the tightest account-wide window (model-scoped windows,
    /// like a weekly Opus limit, would wrongly count against other models), when it resets,
    /// and how recently the account was used.
    pub(super) fn candidate(&self, idx: usize, now: SystemTime) -> Candidate {
        // On every pick: read the windows in place rather than cloning them.
        let (pressure, resets_at) = {
            let q = self.quota.lock();
            let tightest = crate::quota::tightest_of(
                q.iter()
                    .filter(|w| w.scope.is_none() && w.resets_at.is_none_or(|r| r > now)),
            );
            (
                tightest.and_then(Window::pressure),
                tightest.and_then(|w| w.resets_at),
            )
        };
        let seq = self.last_used.load(Ordering::Relaxed);
        Candidate {
            idx,
            pressure,
            resets_at,
            last_used: (seq > 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(seq)),
            order: idx,
            schedule: self.schedule.clone(),
            role: self.role,
        }
    }

    /// Keeps what one answer said about the account's windows; a window it did not
    /// mention keeps its last known state.
    pub fn learn(&self, windows: Vec<Window>) {
        if windows.is_empty() {
            return;
        }
        let mut q = self.quota.lock();
        for w in windows {
            match q
                .iter()
                .position(|o| o.name == w.name && o.scope == w.scope)
            {
                Some(i) => q[i] = w,
                None if q.len() < MAX_WINDOWS => q.push(w),
                None => {}
            }
        }
    }

    /// The known windows, those whose reset has passed dropped (a new window starts empty).
    pub fn quota(&self, now: SystemTime) -> Vec<Window> {
        let mut q = self.quota.lock();
        q.retain(|w| w.resets_at.is_none_or(|r| r > now));
        q.clone()
    }

    /// A fingerprint of the credential the account holds now: the key, or the login's
    /// refresh token (the GitHub token for Copilot), else its access token.
    pub(super) fn fingerprint(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        match &self.credential {
            Credential::Key(k) => k.as_ref().map(|k| persist::fingerprint(k.expose_secret())),
            // The key id and the secret: a rotated secret is another credential.
            Credential::Aws(c) => c
                .as_ref()
                .map(|c| persist::fingerprint(&c.fingerprint_input())),
            Credential::OAuth(o) => {
                let t = o.tokens();
                t.refresh
                    .or(t.access)
                    .map(|s| persist::fingerprint(s.expose_secret()))
            }
        }
    }
}

/// Sets `h` (the health of `acct`, locked) to the ending of a terminal answer: out until
/// a reload or a quota probe that works, with the rule, what happened and the fix.
pub(super) fn end_turn(acct: &Account, h: &mut Health, outcome: &Outcome) {
    let (rule, fix) = match &outcome.ending {
        Some(e) => (e.rule, e.fix.as_str()),
        None => ("terminal", "fix the account, then `keypool reload`"),
    };
    let reason = format!("{} (rule {rule}); fix: {fix}", outcome.detail);
    if !h.is_out() {
        tracing::warn!(
            account = %acct.name,
            provider = %acct.provider.id,
            "account out of rotation until a reload or a quota probe that works: {reason}"
        );
    }
    *h = Health::Ended {
        rule: rule.to_string(),
        reason,
    };
}
