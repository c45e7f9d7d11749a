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
use crate::providers::{Kind, Outcome, Provider, Verdict};
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
        self.stats.failed(SystemTime::now(), &reason);
        let mut h = self.health.lock().expect("health lock");
        if !matches!(&*h, Health::Disabled { .. }) {
            tracing::warn!(account = %self.name, provider = %self.provider.id, "account disabled: {reason}");
        }
        *h = Health::Disabled { reason };
    }

    /// Sits the account out for `wait` (its token endpoint failed, say).
    pub fn cool(&self, wait: Duration, now: SystemTime, detail: String) {
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

    /// The next usable account not in `tried`, in round-robin order.
    pub fn pick(
        &self,
        tried: &[usize],
        now: SystemTime,
        kind: Option<Kind>,
        path: &str,
    ) -> Result<(usize, Arc<Account>), Unavailable> {
        let n = self.members.len();
        if n > 0 {
            let start = self.cursor.fetch_add(1, Ordering::Relaxed);
            for i in 0..n {
                let idx = (start + i) % n;
                if tried.contains(&idx) || !self.eligible(idx, kind, path) {
                    continue;
                }
                let acct = &self.members[idx];
                if acct.health(now) == Health::Ok {
                    return Ok((idx, acct.clone()));
                }
            }
        }
        Err(self.unavailable(now))
    }

    /// Records what the provider said about account `idx`.
    pub fn mark(&self, idx: usize, outcome: &Outcome, now: SystemTime) {
        let acct = &self.members[idx];
        if outcome.verdict != Verdict::Ok {
            acct.stats.failed(now, &outcome.detail);
        }
        let mut h = acct.health.lock().expect("health lock");
        match outcome.verdict {
            Verdict::Ok => {}
            Verdict::AuthFailed => {
                let reason = match &acct.credential {
                    Credential::Key(_) => format!(
                        "key rejected by the provider ({}); fix api_key and restart keypool",
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
                let until = now + outcome.cooldown();
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
}

impl Pools {
    /// Builds pools from the config, resolving each account's key and loading each OAuth
    /// account's tokens (from `store` or its linked file). An account whose credential
    /// cannot be had is disabled with the reason; the others serve.
    pub fn build(config: &Config, store: &Store) -> Pools {
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
                }),
            );
        }
        let mut pools = Pools::default();
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
        let (first, _) = p.pick(&[], clock.now(), None, "/").unwrap();
        let (second, _) = p.pick(&[first], clock.now(), None, "/").unwrap();
        assert_ne!(first, second);
        assert!(p.pick(&[0, 1], clock.now(), None, "/").is_err());

        p.mark(0, &limited(30), clock.now());
        for _ in 0..4 {
            assert_eq!(
                p.pick(&[], clock.now(), None, "/").unwrap().0,
                1,
                "a cooling account is skipped"
            );
        }
        p.mark(1, &limited(90), clock.now());
        let u = p.pick(&[], clock.now(), None, "/").unwrap_err();
        assert_eq!(u.first_free_in, Some(Duration::from_secs(30)));
        assert!(
            u.summary.contains("a0 (rate-limited, frees in 30s)"),
            "{}",
            u.summary
        );

        clock.advance(Duration::from_secs(30));
        assert_eq!(
            p.pick(&[], clock.now(), None, "/").unwrap().0,
            0,
            "usable again once its reset passed"
        );
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
            .pick(&[], now + Duration::from_secs(86400), None, "/")
            .unwrap_err();
        assert_eq!(u.first_free_in, None);
    }
}
