//! Accounts, the pools they form, and each account's health (cooling down, disabled).

mod clock;
pub mod schedule;
pub mod strategy;

pub use clock::{Clock, ManualClock, SystemClock};
pub use schedule::{local_offset, Schedule, ScheduleError};
pub use strategy::{choose, Candidate, Role};

use crate::config::{Config, CredentialConfig, OAuthSource, Strategy};
use crate::oauth::account::{OAuthAccount, Source};
use crate::oauth::link::Linked;
use crate::oauth::store::Store;
use crate::oauth::Flavor;
use crate::persist::{self, AccountState, Persisted, SavedHealth};
use crate::providers::{Kind, Outcome, Provider, Verdict};
use crate::quota::Window;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    Cooling {
        until: SystemTime,
        verdict: Verdict,
        detail: String,
    },
    Disabled {
        reason: String,
    },
}

/// What an account authenticates with.
#[derive(Debug)]
pub enum Credential {
    /// A resolved API key; `None` when it could not be resolved (the account is disabled).
    Key(Option<SecretString>),
    OAuth(Arc<OAuthAccount>),
}

#[derive(Debug)]
pub struct Account {
    pub name: String,
    pub provider: Arc<Provider>,
    pub account_id: Option<String>,
    pub credential: Credential,
    /// For `scheduled` pools: when the account is meant to be used (`None` = always).
    pub schedule: Option<Schedule>,
    /// For `scheduled` pools.
    pub role: Role,
    health: Mutex<Health>,
    /// What this account did since keypool started, for `keypool status`.
    pub stats: Stats,
    /// Bumped on every health change of any account of these pools, so the state file is
    /// written only when something changed.
    changes: Arc<std::sync::atomic::AtomicU64>,
    /// The quota windows the provider's answers described, newest per (name, scope).
    quota: Mutex<Vec<Window>>,
    /// When the account was last picked, as a sequence number of its pool's picks (a
    /// clock could give two picks the same instant).
    last_used: std::sync::atomic::AtomicU64,
}

/// Counters kept per account. Never a credential.
#[derive(Debug, Default)]
pub struct Stats {
    requests: std::sync::atomic::AtomicU64,
    last_error: Mutex<Option<(SystemTime, String)>>,
}

impl Stats {
    /// One request sent upstream on this account.
    pub fn sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// What went wrong last (a limit, a refused token), with when.
    pub fn failed(&self, at: SystemTime, detail: &str) {
        *self.last_error.lock().expect("stats lock") = Some((at, detail.to_string()));
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error.lock().expect("stats lock").clone()
    }

    fn copy_from(&self, other: &Stats) {
        self.requests.store(other.requests(), Ordering::Relaxed);
        *self.last_error.lock().expect("stats lock") = other.last_error();
    }
}

impl Account {
    pub fn kind(&self) -> Kind {
        match self.credential {
            Credential::Key(_) => Kind::ApiKey,
            Credential::OAuth(_) => Kind::OAuth,
        }
    }

    /// Takes the account out of rotation until keypool restarts.
    pub fn disable(&self, reason: String) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.stats.failed(SystemTime::now(), &reason);
        let mut h = self.health.lock().expect("health lock");
        if !matches!(&*h, Health::Disabled { .. }) {
            tracing::warn!(account = %self.name, provider = %self.provider.id, "account disabled: {reason}");
        }
        *h = Health::Disabled { reason };
    }

    /// Sits the account out for `wait` (its token endpoint failed, say).
    pub fn cool(&self, wait: Duration, now: SystemTime, detail: String) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.stats.failed(now, &detail);
        let mut h = self.health.lock().expect("health lock");
        if matches!(&*h, Health::Disabled { .. }) {
            return;
        }
        *h = Health::Cooling {
            until: now + wait,
            verdict: Verdict::Overloaded,
            detail,
        };
    }

    /// Health as of `now`: a cooldown that has ended reads as `Ok`.
    pub fn health(&self, now: SystemTime) -> Health {
        let mut h = self.health.lock().expect("health lock");
        if matches!(&*h, Health::Cooling { until, .. } if *until <= now) {
            *h = Health::Ok;
        }
        h.clone()
    }
}

#[derive(Debug)]
pub struct Pool {
    pub name: String,
    pub provider: Arc<Provider>,
    pub strategy: Strategy,
    /// Utilization at which the strategy passes an account over while another is below it.
    pub soft_threshold: f64,
    pub mix_kinds: bool,
    /// Pools to continue in when every account here is limited.
    pub fallback: Vec<String>,
    /// Hold a request up to this long for an account to free, instead of a 429.
    pub hold_max: Option<Duration>,
    pub members: Vec<Arc<Account>>,
    cursor: AtomicUsize,
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
    /// (unless the pool mixes kinds) and its provider swaps that path for its kind.
    pub fn eligible(&self, idx: usize, kind: Option<Kind>, path: &str) -> bool {
        let a = &self.members[idx];
        let k = a.kind();
        (self.mix_kinds || kind.is_none_or(|want| want == k)) && a.provider.covers(path, k)
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
            schedule::local_offset(),
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
        let mut h = acct.health.lock().expect("health lock");
        match outcome.verdict {
            Verdict::Ok => {}
            Verdict::AuthFailed => {
                let reason = match &acct.credential {
                    Credential::Key(_) => format!(
                        "key rejected by the provider ({}); fix api_key, then `keypool reload`",
                        outcome.detail
                    ),
                    Credential::OAuth(o) => format!(
                        "needs login: the provider rejected a freshly refreshed token ({}); {}",
                        outcome.detail,
                        o.fix()
                    ),
                };
                if !matches!(&*h, Health::Disabled { .. }) {
                    tracing::warn!(
                        account = %acct.name,
                        provider = %acct.provider.id,
                        "account disabled until keypool restarts: {reason}"
                    );
                }
                *h = Health::Disabled { reason };
            }
            verdict => {
                let mut until = now + outcome.cooldown();
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
                    verdict,
                    detail: outcome.detail.clone(),
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
                Health::Cooling { until, verdict, .. } => {
                    let left = until.duration_since(now).unwrap_or_default();
                    first = Some(first.map_or(left, |f| f.min(left)));
                    let what = match verdict {
                        Verdict::Exhausted => "quota exhausted",
                        Verdict::Overloaded => "overloaded",
                        _ => "rate-limited",
                    };
                    parts.push(format!(
                        "{} ({what}, frees in {}s)",
                        a.name,
                        ceil_secs(left)
                    ));
                }
                Health::Disabled { reason } => {
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
    /// Builds pools from the config, resolving each account's key and loading each OAuth
    /// account's tokens (from `store` or its linked file). An account whose credential
    /// cannot be had is disabled with the reason; the others serve.
    pub fn build(config: &Config, store: &Store) -> Pools {
        Pools::build_from(config, store, None)
    }

    /// Builds pools for a reloaded config, keeping what `old` knew about accounts that
    /// stay: cooldowns, disabled flags and learned quota when the credential is the same,
    /// request counts always, and the token state of a subscription login whose source
    /// did not change (so a refresh in flight is not done twice).
    pub fn rebuild(config: &Config, store: &Store, old: &Pools) -> Pools {
        let new = Pools::build_from(config, store, Some(old));
        let now = SystemTime::now();
        for a in &new.accounts {
            let Some(o) = old.account(&a.name) else {
                continue;
            };
            a.stats.copy_from(&o.stats);
            if o.provider.id != a.provider.id || o.fingerprint() != a.fingerprint() {
                continue;
            }
            *a.quota.lock().expect("quota lock") = o.quota(now);
            let mut h = a.health.lock().expect("health lock");
            if *h == Health::Ok {
                *h = o.health(now);
            }
        }
        new
    }

    fn account(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.name == name)
    }

    fn build_from(config: &Config, store: &Store, old: Option<&Pools>) -> Pools {
        let changes = old.map_or_else(
            || Arc::new(std::sync::atomic::AtomicU64::new(0)),
            |o| o.changes.clone(),
        );
        let mut accounts: HashMap<&str, Arc<Account>> = HashMap::new();
        for a in &config.accounts {
            let provider = config
                .registry
                .by_id(&a.provider)
                .expect("validated provider")
                .clone();
            let (credential, trouble) = match &a.credential {
                CredentialConfig::ApiKey { raw, source } => {
                    match crate::secret::resolve(secrecy::ExposeSecret::expose_secret(raw)) {
                        Ok(s) => (Credential::Key(Some(s)), None),
                        Err(e) => (
                            Credential::Key(None),
                            Some(format!("api_key {}: {e}", source.describe())),
                        ),
                    }
                }
                CredentialConfig::OAuth(src) => {
                    let flavor =
                        Flavor::for_provider(&a.provider).expect("validated oauth provider");
                    let (acct, trouble) = oauth_account(&a.name, flavor, src, store, config);
                    (Credential::OAuth(Arc::new(acct)), trouble)
                }
            };
            let health = match trouble {
                None => Health::Ok,
                Some(reason) => {
                    tracing::warn!(account = %a.name, "account disabled: {reason}");
                    Health::Disabled { reason }
                }
            };
            accounts.insert(
                a.name.as_str(),
                Arc::new(Account {
                    name: a.name.clone(),
                    provider,
                    account_id: a.account_id.clone(),
                    credential,
                    schedule: a.schedule.clone(),
                    role: a.role,
                    health: Mutex::new(health),
                    stats: Stats::default(),
                    changes: changes.clone(),
                    quota: Mutex::default(),
                    last_used: Default::default(),
                }),
            );
        }
        let mut pools = Pools {
            accounts: config
                .accounts
                .iter()
                .map(|a| accounts[a.name.as_str()].clone())
                .collect(),
            changes,
            ..Pools::default()
        };
        for p in &config.pools {
            let pool = Arc::new(Pool {
                name: p.name.clone(),
                provider: config
                    .registry
                    .by_id(&p.provider)
                    .expect("validated provider")
                    .clone(),
                strategy: p.strategy,
                soft_threshold: p.soft_threshold,
                mix_kinds: p.mix_kinds,
                fallback: p.fallback.clone(),
                hold_max: p.hold_max,
                members: p
                    .accounts
                    .iter()
                    .map(|n| accounts[n.as_str()].clone())
                    .collect(),
                cursor: AtomicUsize::new(0),
            });
            pools
                .by_provider
                .entry(p.provider.clone())
                .or_insert_with(|| pool.clone());
            pools.all.push(pool);
        }
        pools
    }

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

    /// What should survive a restart: running cooldowns and disabled flags, each tied to a
    /// fingerprint of the credential it was learned with.
    pub fn snapshot(&self, now: SystemTime) -> Persisted {
        let mut p = Persisted::default();
        for a in &self.accounts {
            let Some(credential) = a.fingerprint() else {
                continue;
            };
            let health = match a.health(now) {
                Health::Ok => None,
                Health::Cooling {
                    until,
                    verdict,
                    detail,
                } => Some(SavedHealth::Cooling {
                    until: persist::epoch_secs(until),
                    verdict: verdict_name(verdict).into(),
                    detail,
                }),
                Health::Disabled { reason } => Some(SavedHealth::Disabled { reason }),
            };
            let quota: Vec<persist::SavedWindow> = a
                .quota(now)
                .iter()
                .map(persist::SavedWindow::from_window)
                .collect();
            if health.is_none() && quota.is_empty() {
                continue;
            }
            p.accounts.insert(
                a.name.clone(),
                AccountState {
                    credential,
                    health,
                    quota,
                },
            );
        }
        p
    }

    /// Applies saved state: a cooldown still running, a disabled flag, each only when the
    /// account still has the credential it was learned with (a fixed key or a new login
    /// starts clean). An account disabled now (its key cannot be resolved) stays so.
    pub fn restore(&self, saved: &Persisted, now: SystemTime) {
        for a in &self.accounts {
            let Some(s) = saved.accounts.get(&a.name) else {
                continue;
            };
            if a.fingerprint().as_deref() != Some(s.credential.as_str()) {
                continue;
            }
            a.learn(
                s.quota
                    .iter()
                    .map(persist::SavedWindow::to_window)
                    .collect(),
            );
            let mut h = a.health.lock().expect("health lock");
            if !matches!(*h, Health::Ok) {
                continue;
            }
            match &s.health {
                None => {}
                Some(SavedHealth::Cooling {
                    until,
                    verdict,
                    detail,
                }) => {
                    let until = persist::from_epoch_secs(*until);
                    if until > now {
                        *h = Health::Cooling {
                            until,
                            verdict: verdict_from_name(verdict),
                            detail: detail.clone(),
                        };
                    }
                }
                Some(SavedHealth::Disabled { reason }) => {
                    *h = Health::Disabled {
                        reason: reason.clone(),
                    };
                }
            }
        }
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Exhausted => "exhausted",
        Verdict::Overloaded => "overloaded",
        _ => "rate_limited",
    }
}

fn verdict_from_name(s: &str) -> Verdict {
    match s {
        "exhausted" => Verdict::Exhausted,
        "overloaded" => Verdict::Overloaded,
        _ => Verdict::RateLimited,
    }
}

impl Account {
    /// What the strategy weighs: the tightest account-wide window (model-scoped windows,
    /// like a weekly Opus limit, would wrongly count against other models), when it resets,
    /// and how recently the account was used.
    fn candidate(&self, idx: usize, now: SystemTime) -> Candidate {
        let windows: Vec<Window> = self
            .quota(now)
            .into_iter()
            .filter(|w| w.scope.is_none())
            .collect();
        let tightest = crate::quota::tightest(&windows);
        let seq = self.last_used.load(Ordering::Relaxed);
        Candidate {
            idx,
            pressure: tightest.and_then(Window::pressure),
            resets_at: tightest.and_then(|w| w.resets_at),
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
        let mut q = self.quota.lock().expect("quota lock");
        for w in windows {
            match q
                .iter_mut()
                .find(|o| o.name == w.name && o.scope == w.scope)
            {
                Some(old) => *old = w,
                None => q.push(w),
            }
        }
    }

    /// The known windows, those whose reset has passed dropped (a new window starts empty).
    pub fn quota(&self, now: SystemTime) -> Vec<Window> {
        let mut q = self.quota.lock().expect("quota lock");
        q.retain(|w| w.resets_at.is_none_or(|r| r > now));
        q.clone()
    }

    /// A fingerprint of the credential the account holds now: the key, or the login's
    /// refresh token (the GitHub token for Copilot), else its access token.
    fn fingerprint(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        match &self.credential {
            Credential::Key(k) => k.as_ref().map(|k| persist::fingerprint(k.expose_secret())),
            Credential::OAuth(o) => {
                let t = o.tokens();
                t.refresh
                    .or(t.access)
                    .map(|s| persist::fingerprint(s.expose_secret()))
            }
        }
    }
}

/// An OAuth account with the tokens it has now, and why it cannot serve if it cannot.
fn oauth_account(
    name: &str,
    flavor: Flavor,
    src: &OAuthSource,
    store: &Store,
    config: &Config,
) -> (OAuthAccount, Option<String>) {
    let margin = config.oauth.refresh_margin;
    let empty = crate::oauth::Tokens {
        access: None,
        refresh: None,
        expires_at: None,
        id_token: None,
        identity: Default::default(),
    };
    let login = flavor.login_command(name);
    let entry = match store.get(name) {
        Ok(e) => e,
        Err(e) => {
            let a = OAuthAccount::new(name.into(), flavor, Source::Stored, empty, margin);
            return (a, Some(e.to_string()));
        }
    };
    match src {
        OAuthSource::Stored => match entry.filter(|e| e.has_tokens()) {
            Some(e) => (
                OAuthAccount::new(name.into(), flavor, Source::Stored, e.tokens(), margin),
                None,
            ),
            None => (
                OAuthAccount::new(name.into(), flavor, Source::Stored, empty, margin),
                Some(format!(
                    "needs login: {} holds no tokens for it; run `{login}`",
                    store.path().display()
                )),
            ),
        },
        OAuthSource::Linked(path) => {
            let linked = match Linked::open(path, flavor) {
                Ok(l) => l,
                Err(e) => {
                    let a = OAuthAccount::new(name.into(), flavor, Source::Stored, empty, margin);
                    return (
                        a,
                        Some(format!(
                            "linked file {}: {e}; log in with {} or fix the oauth = \"link:…\" path",
                            path.display(),
                            flavor.native_login()
                        )),
                    );
                }
            };
            let (mut tokens, trouble) = match linked.read() {
                Ok(t) => (t, None),
                Err(e) => (empty, Some(format!("linked file {}: {e}", path.display()))),
            };
            if let Some(e) = entry {
                tokens.identity.merge(&e.identity);
            }
            (
                OAuthAccount::new(name.into(), flavor, Source::Linked(linked), tokens, margin),
                trouble,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn pool(keys: &[&str]) -> Arc<Pool> {
        let mut text = String::new();
        for (i, k) in keys.iter().enumerate() {
            text += &format!(
                "[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n"
            );
        }
        let c = Config::parse(&text, Path::new("t.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("credentials.json"));
        Pools::build(&c, &store)
            .for_provider("openai")
            .unwrap()
            .clone()
    }

    fn limited(secs: u64) -> Outcome {
        Outcome {
            verdict: Verdict::RateLimited,
            reset_in: Some(Duration::from_secs(secs)),
            detail: "429".into(),
        }
    }

    #[test]
    fn round_robin_skips_tried_and_cooling_until_reset() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let p = pool(&["k0", "k1"]);
        let (first, _) = p.pick(&[], clock.now(), None, "/", None).unwrap();
        let (second, _) = p.pick(&[first], clock.now(), None, "/", None).unwrap();
        assert_ne!(first, second);
        assert!(p.pick(&[0, 1], clock.now(), None, "/", None).is_err());

        p.mark(0, &limited(30), clock.now());
        for _ in 0..4 {
            assert_eq!(
                p.pick(&[], clock.now(), None, "/", None).unwrap().0,
                1,
                "a cooling account is skipped"
            );
        }
        p.mark(1, &limited(90), clock.now());
        let u = p.pick(&[], clock.now(), None, "/", None).unwrap_err();
        assert_eq!(u.first_free_in, Some(Duration::from_secs(30)));
        assert!(
            u.summary.contains("a0 (rate-limited, frees in 30s)"),
            "{}",
            u.summary
        );

        clock.advance(Duration::from_secs(30));
        assert_eq!(
            p.pick(&[], clock.now(), None, "/", None).unwrap().0,
            0,
            "usable again once its reset passed"
        );
    }

    #[test]
    fn headroom_picks_the_account_with_the_most_quota_left() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = pool(&["k0", "k1", "k2"]);
        assert_eq!(p.strategy, Strategy::Headroom);
        let remaining = |n: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
            h.insert("x-ratelimit-remaining-requests", n.parse().unwrap());
            h.insert("x-ratelimit-reset-requests", "1m0s".parse().unwrap());
            crate::quota::learn(crate::providers::Dialect::Openai, &h, now)
        };
        p.members[0].learn(remaining("10"));
        p.members[1].learn(remaining("80"));
        p.members[2].learn(remaining("50"));
        for _ in 0..3 {
            assert_eq!(p.pick(&[], now, None, "/", None).unwrap().0, 1);
        }
        assert_eq!(p.pick(&[1], now, None, "/", None).unwrap().0, 2);
        // A conversation's account wins while it is usable.
        assert_eq!(p.pick(&[], now, None, "/", Some("a0")).unwrap().0, 0);
        assert_eq!(p.pick(&[0], now, None, "/", Some("a0")).unwrap().0, 1);
    }

    #[test]
    fn a_cooldown_ends_at_a_learned_reset_never_later() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let p = pool(&["k0", "k1"]);
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-limit-requests", "500".parse().unwrap());
        h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        h.insert("x-ratelimit-reset-requests", "20s".parse().unwrap());
        p.members[0].learn(crate::quota::learn(
            crate::providers::Dialect::Openai,
            &h,
            clock.now(),
        ));
        // A 429 that names no wait would cool for the default 60 s.
        let no_wait = Outcome {
            verdict: Verdict::RateLimited,
            reset_in: None,
            detail: "429".into(),
        };
        p.mark(0, &no_wait, clock.now());
        clock.advance(Duration::from_secs(20));
        assert_eq!(p.members[0].health(clock.now()), Health::Ok);
        assert!(
            p.members[0].quota(clock.now()).is_empty(),
            "the window reset"
        );
    }

    #[test]
    fn saved_state_applies_only_to_the_same_credential() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let before = pool(&["k0", "k1"]);
        before.mark(0, &limited(600), now);
        before.mark(
            1,
            &Outcome {
                verdict: Verdict::AuthFailed,
                reset_in: None,
                detail: "401 invalid_api_key".into(),
            },
            now,
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("credentials.json"));
        let build = |keys: &[&str]| {
            let mut text = String::new();
            for (i, k) in keys.iter().enumerate() {
                text += &format!(
                    "[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n"
                );
            }
            Pools::build(&Config::parse(&text, Path::new("t.toml")).unwrap(), &store)
        };
        let mut snapshot = Persisted::default();
        for (i, a) in before.members.iter().enumerate() {
            let credential = a.fingerprint().unwrap();
            let health = match a.health(now) {
                Health::Cooling { until, .. } => SavedHealth::Cooling {
                    until: persist::epoch_secs(until),
                    verdict: "rate_limited".into(),
                    detail: "429".into(),
                },
                Health::Disabled { reason } => SavedHealth::Disabled { reason },
                Health::Ok => unreachable!(),
            };
            snapshot.accounts.insert(
                format!("a{i}"),
                AccountState {
                    credential,
                    health: Some(health),
                    quota: Vec::new(),
                },
            );
        }

        let same = build(&["k0", "k1"]);
        same.restore(&snapshot, now);
        let p = same.for_provider("openai").unwrap();
        assert!(matches!(p.members[0].health(now), Health::Cooling { .. }));
        assert!(matches!(p.members[1].health(now), Health::Disabled { .. }));
        assert_eq!(same.snapshot(now).accounts.len(), 2);

        // A fixed key (a1) starts clean; an ended cooldown is not restored.
        let fixed = build(&["k0", "k1-new"]);
        fixed.restore(&snapshot, now + Duration::from_secs(601));
        let p = fixed.for_provider("openai").unwrap();
        assert_eq!(p.members[0].health(now), Health::Ok);
        assert_eq!(p.members[1].health(now), Health::Ok);
    }

    #[test]
    fn auth_failure_disables_and_a_bad_key_source_is_reported() {
        let p = pool(&["k0", "env:KEYPOOL_TEST_UNSET_FOR_POOL"]);
        let now = SystemTime::now();
        assert!(
            matches!(p.members[1].health(now), Health::Disabled { ref reason } if reason.contains("KEYPOOL_TEST_UNSET_FOR_POOL"))
        );
        p.mark(
            0,
            &Outcome {
                verdict: Verdict::AuthFailed,
                reset_in: None,
                detail: "401 invalid_api_key".into(),
            },
            now,
        );
        let u = p
            .pick(&[], now + Duration::from_secs(86400), None, "/", None)
            .unwrap_err();
        assert_eq!(u.first_free_in, None);
    }
}
