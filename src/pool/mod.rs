//! Accounts, the pools they form, and each account's health (cooling down, disabled).

mod clock;

pub use clock::{Clock, ManualClock, SystemClock};

use crate::config::{Config, Strategy};
use crate::providers::{Outcome, Provider, Verdict};
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

#[derive(Debug)]
pub struct Account {
    pub name: String,
    pub provider: Arc<Provider>,
    pub account_id: Option<String>,
    credential: Option<SecretString>,
    health: Mutex<Health>,
}

impl Account {
    pub fn credential(&self) -> Option<&SecretString> {
        self.credential.as_ref()
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
    /// The next usable account not in `tried`, in round-robin order.
    pub fn pick(
        &self,
        tried: &[usize],
        now: SystemTime,
    ) -> Result<(usize, Arc<Account>), Unavailable> {
        let n = self.members.len();
        if n > 0 {
            let start = self.cursor.fetch_add(1, Ordering::Relaxed);
            for i in 0..n {
                let idx = (start + i) % n;
                if tried.contains(&idx) {
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
        let mut h = acct.health.lock().expect("health lock");
        match outcome.verdict {
            Verdict::Ok => {}
            Verdict::AuthFailed => {
                if !matches!(&*h, Health::Disabled { .. }) {
                    tracing::warn!(
                        account = %acct.name,
                        provider = %acct.provider.id,
                        "the provider rejected this account's key ({}); it is disabled until keypool restarts with a fixed api_key",
                        outcome.detail
                    );
                }
                *h = Health::Disabled {
                    reason: format!("key rejected by the provider ({})", outcome.detail),
                };
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
    /// Builds pools from the config, resolving each account's key. An account whose key
    /// cannot be resolved is disabled with the reason; the others serve.
    pub fn build(config: &Config) -> Pools {
        let mut accounts: HashMap<&str, Arc<Account>> = HashMap::new();
        for a in &config.accounts {
            let provider = config
                .registry
                .by_id(&a.provider)
                .expect("validated provider")
                .clone();
            let (credential, health) = match crate::secret::resolve(
                secrecy::ExposeSecret::expose_secret(&a.api_key),
            ) {
                Ok(s) => (Some(s), Health::Ok),
                Err(e) => {
                    tracing::warn!(account = %a.name, "account disabled: api_key {}: {e}", a.source.describe());
                    (
                        None,
                        Health::Disabled {
                            reason: format!("api_key {}: {e}", a.source.describe()),
                        },
                    )
                }
            };
            accounts.insert(
                a.name.as_str(),
                Arc::new(Account {
                    name: a.name.clone(),
                    provider,
                    account_id: a.account_id.clone(),
                    credential,
                    health: Mutex::new(health),
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
        Pools::build(&c).for_provider("openai").unwrap().clone()
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
        let (first, _) = p.pick(&[], clock.now()).unwrap();
        let (second, _) = p.pick(&[first], clock.now()).unwrap();
        assert_ne!(first, second);
        assert!(p.pick(&[0, 1], clock.now()).is_err());

        p.mark(0, &limited(30), clock.now());
        for _ in 0..4 {
            assert_eq!(
                p.pick(&[], clock.now()).unwrap().0,
                1,
                "a cooling account is skipped"
            );
        }
        p.mark(1, &limited(90), clock.now());
        let u = p.pick(&[], clock.now()).unwrap_err();
        assert_eq!(u.first_free_in, Some(Duration::from_secs(30)));
        assert!(
            u.summary.contains("a0 (rate-limited, frees in 30s)"),
            "{}",
            u.summary
        );

        clock.advance(Duration::from_secs(30));
        assert_eq!(
            p.pick(&[], clock.now()).unwrap().0,
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
        let u = p.pick(&[], now + Duration::from_secs(86400)).unwrap_err();
        assert_eq!(u.first_free_in, None);
    }
}
