//! Building the pools from the config (at start and on reload): each account's key
//! resolved, each subscription login's tokens loaded.

use super::{Account, Credential, Health, Pool, Pools, Stats};
use crate::config::{AccountConfig, Config, CredentialConfig, OAuthSource, PoolConfig};
use crate::oauth::account::{OAuthAccount, Source};
use crate::oauth::link::Linked;
use crate::oauth::store::Store;
use crate::providers::Flavor;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::SystemTime;

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
        // Taken first: a kept subscription login is the same object before and after, and
        // its fingerprint changes only if the reload read a new login for it.
        let before: HashMap<&str, Option<String>> = (old.accounts.iter())
            .map(|a| (a.name.as_str(), a.fingerprint()))
            .collect();
        let new = Pools::build_from(config, store, Some(old));
        let now = SystemTime::now();
        for a in &new.accounts {
            let Some(o) = old.account(&a.name) else {
                continue;
            };
            a.stats.copy_from(&o.stats);
            if o.provider.id != a.provider.id || before[o.name.as_str()] != a.fingerprint() {
                continue;
            }
            *a.quota.lock() = o.quota(now);
            let mut h = a.health.lock();
            match o.health(now) {
                // A reload is the fix a terminal answer names: the account is tried again.
                Health::Ended { .. } => {}
                old if *h == Health::Ok => *h = old,
                _ => {}
            }
        }
        new
    }

    pub(super) fn account(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.name == name)
    }

    fn build_from(config: &Config, store: &Store, old: Option<&Pools>) -> Pools {
        let changes = old.map_or_else(
            || Arc::new(std::sync::atomic::AtomicU64::new(0)),
            |o| o.changes.clone(),
        );
        let accounts: HashMap<&str, Arc<Account>> = config
            .accounts
            .iter()
            .map(|a| (a.name.as_str(), account(a, config, store, &changes, old)))
            .collect();
        let mut pools = Pools {
            accounts: config
                .accounts
                .iter()
                .map(|a| accounts[a.name.as_str()].clone())
                .collect(),
            changes,
            ..Pools::default()
        };
        for (index, p) in config.pools.iter().enumerate() {
            let pool = Arc::new(pool(p, index, config, &accounts));
            pools
                .by_provider
                .entry(p.provider.clone())
                .or_insert_with(|| pool.clone());
            pools.all.push(pool);
        }
        pools
    }
}

/// One configured account, its credential resolved now; disabled (with the reason
/// logged) when that credential cannot be had.
fn account(
    a: &AccountConfig,
    config: &Config,
    store: &Store,
    changes: &Arc<std::sync::atomic::AtomicU64>,
    old: Option<&Pools>,
) -> Arc<Account> {
    let provider = config
        .registry
        .by_id(&a.provider)
        .expect("validated provider")
        .clone();
    let (credential, mut trouble) = credential(a, config, store, old);
    let provider_key = match a.provider_key.as_ref().map(|k| {
        crate::secret::resolve(secrecy::ExposeSecret::expose_secret(k)).map_err(|e| {
            let source = crate::secret::SecretRef::parse(secrecy::ExposeSecret::expose_secret(k));
            format!("provider_key {}: {e}", source.describe())
        })
    }) {
        Some(Ok(k)) => Some(k),
        Some(Err(why)) => {
            trouble.get_or_insert(why);
            None
        }
        None => None,
    };
    let health = match trouble {
        None => Health::Ok,
        Some(reason) => {
            tracing::warn!(account = %a.name, "account disabled: {reason}");
            Health::Disabled { reason }
        }
    };
    Arc::new(Account {
        name: a.name.clone(),
        provider,
        place: a.place.clone(),
        provider_key,
        credential,
        schedule: a.schedule.clone(),
        role: a.role,
        health: Mutex::new(health),
        stats: Stats::default(),
        changes: changes.clone(),
        quota: Mutex::default(),
        last_used: Default::default(),
    })
}

/// The account's key or login, and why it cannot serve if it cannot.
fn credential(
    a: &AccountConfig,
    config: &Config,
    store: &Store,
    old: Option<&Pools>,
) -> (Credential, Option<String>) {
    match &a.credential {
        CredentialConfig::ApiKey { raw, source } => {
            match crate::secret::resolve(secrecy::ExposeSecret::expose_secret(raw)) {
                Ok(s) => (Credential::Key(Some(s)), None),
                Err(e) => (
                    Credential::Key(None),
                    Some(format!("api_key {}: {e}", source.describe())),
                ),
            }
        }
        CredentialConfig::OAuth(src) => oauth_credential(a, src, store, config, old),
        CredentialConfig::Aws(keys) => match aws_credentials(keys) {
            Ok(c) => (Credential::Aws(Some(c)), None),
            Err(why) => (Credential::Aws(None), Some(why)),
        },
    }
}

/// IAM credentials resolved from their references and checked for their form; the
/// error names the part and where it comes from, never its value.
pub fn aws_credentials(
    keys: &crate::config::AwsKeys,
) -> Result<crate::sigv4::AwsCredentials, String> {
    use secrecy::ExposeSecret;
    let resolve = |name: &str, raw: &secrecy::SecretString| {
        crate::secret::resolve(raw.expose_secret()).map_err(|e| {
            let source = crate::secret::SecretRef::parse(raw.expose_secret());
            format!("{name} {}: {e}", source.describe())
        })
    };
    let id = resolve("access_key_id", &keys.access_key_id)?;
    let secret = resolve("secret_access_key", &keys.secret_access_key)?;
    let token = match &keys.session_token {
        Some(t) => Some(resolve("session_token", t)?),
        None => None,
    };
    crate::sigv4::AwsCredentials::new(id.expose_secret(), secret, token).map_err(|e| e.to_string())
}

/// One configured pool over the accounts just built. Its fallbacks become indices into
/// [`Pools::all`] (which follows the config's order), so a request walks them without
/// looking names up; validation has refused a fallback that names no pool.
fn pool(
    p: &PoolConfig,
    index: usize,
    config: &Config,
    accounts: &HashMap<&str, Arc<Account>>,
) -> Pool {
    let fallback = p
        .fallback
        .iter()
        .map(|name| {
            config
                .pools
                .iter()
                .position(|q| q.name == *name)
                .expect("validated fallback")
        })
        .collect();
    Pool {
        name: p.name.clone(),
        provider: config
            .registry
            .by_id(&p.provider)
            .expect("validated provider")
            .clone(),
        strategy: p.strategy,
        soft_threshold: p.soft_threshold,
        mix_kinds: p.mix_kinds,
        fallback,
        index,
        hold_max: p.hold_max,
        members: p
            .accounts
            .iter()
            .map(|n| accounts[n.as_str()].clone())
            .collect(),
        cursor: AtomicUsize::new(0),
    }
}

/// The credential of subscription login `a`, and why it cannot serve if it cannot. On a
/// reload (`old`) a login whose provider, flavor, source and margin did not change keeps
/// its running account, so there is one refresh lock per login and a single-use refresh
/// token is never redeemed twice. It reads its tokens again only while no refresh is in
/// flight (that refresh's result is newer than any file), to pick up a new login.
fn oauth_credential(
    a: &AccountConfig,
    src: &OAuthSource,
    store: &Store,
    config: &Config,
    old: Option<&Pools>,
) -> (Credential, Option<String>) {
    let flavor = Flavor::for_provider(&a.provider).expect("validated oauth provider");
    let margin = config.oauth.refresh_margin;
    let running = old
        .and_then(|o| o.account(&a.name))
        .filter(|o| o.provider.id == a.provider)
        .and_then(|o| match &o.credential {
            Credential::OAuth(acct) => Some(acct.clone()),
            Credential::Key(_) | Credential::Aws(_) => None,
        })
        .filter(|acct| acct.same_login(flavor, src, margin));
    let Some(running) = running else {
        let (acct, trouble) = oauth_account(&a.name, flavor, src, store, config);
        let acct = acct.billed_to(a.organization_id.clone());
        return (
            Credential::OAuth(Arc::new(acct.keeping_unsaved(store))),
            trouble,
        );
    };
    let trouble = running.idle().and_then(|_idle| {
        let (read, trouble) = oauth_account(&a.name, flavor, src, store, config);
        let read = read.billed_to(a.organization_id.clone());
        if trouble.is_none() {
            running.take_tokens(read.keeping_unsaved(store));
        }
        trouble
    });
    (Credential::OAuth(running), trouble)
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
            Some(e) => {
                let mut tokens = e.tokens();
                own_device(name, flavor, &mut tokens, store);
                let a = OAuthAccount::new(name.into(), flavor, Source::Stored, tokens, margin);
                (a, None)
            }
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
                            concat!(
                                "linked file {}: {e}; log in with {} ",
                                "or fix the oauth = \"link:…\" path"
                            ),
                            path.display(),
                            flavor.native_login(),
                            e = e
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
            if trouble.is_none() {
                own_device(name, flavor, &mut tokens, store);
            }
            (
                OAuthAccount::new(name.into(), flavor, Source::Linked(linked), tokens, margin),
                trouble,
            )
        }
    }
}

/// Gives a login of a flavor whose calls name a device (Kimi) its own device id when it
/// has none yet (a login linked to another tool's file), and keeps it with the account's
/// identity so it stays the same across refreshes and restarts.
fn own_device(name: &str, flavor: Flavor, tokens: &mut crate::oauth::Tokens, store: &Store) {
    if !flavor.spec().device_id || tokens.identity.device_id.is_some() {
        return;
    }
    let identity = crate::oauth::Identity {
        device_id: Some(crate::oauth::msh::new_device_id()),
        ..Default::default()
    };
    if let Err(e) = store.put_identity(name, flavor.provider_id(), &identity) {
        tracing::warn!(account = %name, "cannot keep the login's device id: {e}");
    }
    tokens.identity.merge(&identity);
}
