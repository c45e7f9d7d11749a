//! Active quota probes: the free endpoints that tell a subscription's headroom before its
//! first request (PROVIDERS.md §13). At start and then every `[probes] every`, each
//! subscription login whose provider has one is asked, a few at a time; the windows it
//! reports feed the same per-account windows as the headers of answers do
//! ([`crate::pool::Account::learn`]), marked as probed and stamped with keypool's clock,
//! so the pick weighs them from the first request and status shows their source and age.
//!
//! A probe is advice: whatever goes wrong (no token, network, 401, 403, 429, a body that is
//! not the endpoint's shape) is logged once and never cools or disables the account, and
//! no client ever sees it. A token is refreshed for a probe only when it is stale anyway.
//! Endpoints, one file each: [`anthropic`], [`chatgpt`], [`copilot`], [`code_assist`],
//! [`kimi`]. A probe that works also brings back an account a terminal answer ended. [`schedule`] holds the per-account
//! limits (one probe a minute, five minutes after a 429).

pub mod anthropic;
pub mod chatgpt;
pub mod code_assist;
pub mod copilot;
#[cfg(test)]
mod fuzz_tests;
pub mod kimi;
mod numbers;
pub mod schedule;
pub mod wire;

use crate::oauth::account::{Ctx, OAuthAccount};
use crate::pool::{Account, Credential, Health};
use crate::providers::Flavor;
use crate::quota::{Source, Window};
use crate::state::State;
use futures_util::StreamExt;
use parking_lot::Mutex;
use schedule::Schedule;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wire::{BadBody, Call, Failure};

/// Accounts probed at once.
const CONCURRENCY: usize = 4;

/// The range `[probes] every` is held to, whatever the config says.
const EVERY_MIN: Duration = schedule::MIN_GAP;
const EVERY_MAX: Duration = Duration::from_secs(24 * 3600);

type Parse = fn(&[u8], SystemTime) -> Result<Vec<Window>, BadBody>;

/// Starts the probes on the current runtime; `None` when `[probes] enabled = false`.
/// The task ends when shutdown begins.
pub fn spawn(
    state: Arc<State>,
    config: &crate::config::ProbesConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    if !config.enabled {
        return None;
    }
    let every = config.every.clamp(EVERY_MIN, EVERY_MAX);
    Some(tokio::spawn(run(state, every)))
}

async fn run(state: Arc<State>, every: Duration) {
    let prober = Prober::default();
    while !state.shutdown.is_cancelled() {
        prober.round(&state).await;
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}

/// What one round did, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Accounts asked.
    pub sent: usize,
    /// Windows learned.
    pub learned: usize,
    pub failed: usize,
}

/// The probes of a running proxy and their schedule.
#[derive(Debug, Default)]
pub struct Prober {
    schedule: Mutex<Schedule>,
}

impl Prober {
    /// Probes every account that has an endpoint and is due at keypool's `now`.
    pub async fn round(&self, state: &State) -> Round {
        let live = state.live();
        let now = state.clock.now();
        let targets = targets(&live.pools, now);
        let keys: HashSet<String> = targets.iter().map(|(a, _)| key(a)).collect();
        let due: Vec<_> = {
            let mut s = self.schedule.lock();
            s.retain(&keys);
            targets
                .into_iter()
                .filter(|(a, _)| s.book(&key(a), now))
                .collect()
        };
        let results: Vec<Result<usize, ()>> = futures_util::stream::iter(due)
            .map(|(a, o)| async move { self.probe_one(state, &a, &o).await })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut round = Round {
            sent: results.len(),
            ..Round::default()
        };
        for r in results {
            match r {
                Ok(n) => round.learned += n,
                Err(()) => round.failed += 1,
            }
        }
        round
    }

    /// When `account` (of `provider`) may be probed next; `None`: at the next round.
    pub fn next(&self, provider: &str, account: &str) -> Option<SystemTime> {
        self.schedule.lock().next(&format!("{provider}/{account}"))
    }

    /// Probes one account and keeps what it learned; the number of windows, or `Err`
    /// when it failed (logged here).
    async fn probe_one(&self, state: &State, a: &Account, o: &OAuthAccount) -> Result<usize, ()> {
        let probed = probe(state, a, o).await;
        if state.shutdown.is_cancelled() {
            return Err(()); // not worth a log line on the way out
        }
        let now = state.clock.now();
        let key = key(a);
        match probed {
            Ok(windows) => {
                a.revive();
                let n = windows.len();
                a.learn(
                    windows
                        .into_iter()
                        .map(|w| w.learned(Source::Probe, now))
                        .collect(),
                );
                let (account, provider) = (&a.name, &a.provider.id);
                if self.schedule.lock().succeeded(&key) {
                    tracing::info!(%account, %provider, "quota probe works again ({n} windows)");
                } else {
                    tracing::debug!(%account, %provider, "quota probe: {n} windows");
                }
                Ok(n)
            }
            Err(f) => {
                self.failed(a, &key, f, now);
                Err(())
            }
        }
    }

    fn failed(&self, a: &Account, key: &str, f: Failure, now: SystemTime) {
        let f = match f {
            Failure::Limited { wait } => Failure::Limited {
                wait: self.schedule.lock().limited(key, now, wait),
            },
            f => f,
        };
        let news = self.schedule.lock().failed(key, f.kind());
        let (account, provider) = (&a.name, &a.provider.id);
        if news {
            let note = "the account is not affected";
            tracing::info!(%account, %provider, "quota probe failed: {f}; {note}");
        } else {
            tracing::debug!(%account, %provider, "quota probe failed again: {f}");
        }
    }
}

/// The subscription accounts of `pools` that have a quota endpoint and are not disabled,
/// each once (an account may be in several pools).
fn targets(pools: &crate::pool::Pools, now: SystemTime) -> Vec<(Arc<Account>, Arc<OAuthAccount>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in pools.all.iter().flat_map(|p| p.members.iter()) {
        let Credential::OAuth(o) = &a.credential else {
            continue;
        };
        if !has_quota_endpoint(o.flavor) {
            continue;
        }
        // A dead login: a probe would only ask its token endpoint again. An account a
        // terminal answer ended is probed: a probe that works brings it back.
        if matches!(a.health(now), Health::Disabled { .. }) {
            continue;
        }
        if seen.insert(Arc::as_ptr(a)) {
            out.push((a.clone(), o.clone()));
        }
    }
    out
}

/// No free per-account usage endpoint: Vertex AI's quotas live in Cloud Quotas and
/// Monitoring, asked per project and metric; Kilo and Cline publish none.
fn has_quota_endpoint(flavor: Flavor) -> bool {
    !matches!(flavor, Flavor::Vertex | Flavor::Kilo | Flavor::Cline)
}

fn key(a: &Account) -> String {
    format!("{}/{}", a.provider.id, a.name)
}

/// Asks the account's endpoint; its windows, not yet stamped.
async fn probe(state: &State, a: &Account, o: &OAuthAccount) -> Result<Vec<Window>, Failure> {
    let (call, parse): (Call, Parse) = match o.flavor {
        Flavor::Copilot => {
            // The long-lived GitHub token: no exchange for a Copilot token is needed.
            let t = o.tokens();
            let gh = (t.refresh).ok_or_else(|| Failure::NoLogin("no GitHub token".into()))?;
            (
                copilot::call(&gh, t.identity.domain.as_deref()),
                copilot::parse,
            )
        }
        Flavor::Anthropic => {
            let access = access(state, o).await?;
            (anthropic::call(&access.token), anthropic::parse)
        }
        Flavor::Codex => {
            let access = access(state, o).await?;
            let id = (access.identity.account_id.clone())
                .or_else(|| {
                    a.place
                        .get(crate::providers::PlaceKey::AccountId)
                        .map(str::to_string)
                })
                .ok_or_else(|| Failure::NoLogin("no ChatGPT account id".into()))?;
            (chatgpt::call(&access.token, &id), chatgpt::parse)
        }
        Flavor::Kimi => {
            let access = access(state, o).await?;
            (kimi::call(&access.token, &access.identity), kimi::parse)
        }
        Flavor::Kilo | Flavor::Cline => {
            return Err(Failure::NoLogin("no usage endpoint".into()));
        }
        Flavor::GeminiCli => {
            let access = access(state, o).await?;
            let project = (access.identity.project.clone())
                .ok_or_else(|| Failure::NoLogin("no Cloud project".into()))?;
            (
                code_assist::call(&access.token, &project),
                code_assist::parse,
            )
        }
        Flavor::Vertex => return Ok(Vec::new()), // never a target: see has_quota_endpoint
    };
    // Only the probe itself stops at shutdown: a refresh in flight above must land (its
    // refresh token is spent the moment the provider answers).
    let body = tokio::select! {
        r = call.send(&state.upstream, state.clock.now()) => r?,
        () = state.shutdown.cancelled() => {
            return Err(Failure::Unreachable("keypool is shutting down".into()));
        }
    };
    parse(&body, state.clock.now()).map_err(Failure::BadBody)
}

/// The login's access token, refreshed first only when it is stale anyway.
async fn access(state: &State, o: &OAuthAccount) -> Result<crate::oauth::account::Access, Failure> {
    let ctx = Ctx {
        upstream: &state.upstream,
        clock: state.clock.as_ref(),
        store: &state.store,
    };
    o.access(&ctx).await.map_err(|e| match e {
        crate::oauth::account::AccessError::NeedsLogin(m)
        | crate::oauth::account::AccessError::Unavailable(m) => Failure::NoLogin(m),
        crate::oauth::account::AccessError::Ended(o) => Failure::NoLogin(o.detail),
    })
}
