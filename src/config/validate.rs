//! Turning the parsed file into a `Config`: cross-references, defaults, and errors that
//! name the line and the fix.

use super::durations;
use super::{
    AccountConfig, Config, ConfigError, CredentialConfig, OAuthSource, PoolConfig, RawAccount,
    RawConfig, RawPool, Strategy, UpstreamConfig, DEFAULT_LISTEN, DEFAULT_SOFT_THRESHOLD,
};
use crate::oauth::Flavor;
use crate::pool::{Role, Schedule};
use crate::providers::{builtin, AuthScheme, Provider, Registry, Scope};
use crate::secret::SecretRef;
use crate::upstream::ConnectTo;
use secrecy::SecretString;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use toml::Spanned;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Validator<'_> {
    pub(super) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        problem: String,
        fix: String,
    ) -> Result<T, ConfigError> {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        Err(ConfigError(format!(
            "{}:{line}: {problem}\nfix: {fix}",
            self.path.display()
        )))
    }

    pub(super) fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = match &raw.listen {
            None => DEFAULT_LISTEN.parse().expect("valid default"),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    return self.err(
                        l.span(),
                        "listen is not an IP address and port".to_string(),
                        format!("write it like \"{DEFAULT_LISTEN}\""),
                    )
                }
            },
        };

        let mut registry = Registry::new(builtin());
        let mut custom_ids = HashSet::new();
        for p in raw.providers {
            let id = p.id.get_ref();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return self.err(
                    p.id.span(),
                    format!("provider id '{id}' is not a simple name"),
                    "use letters, digits, '-' and '_'".into(),
                );
            }
            if !custom_ids.insert(id.clone()) {
                return self.err(
                    p.id.span(),
                    format!("provider '{id}' is declared twice"),
                    "keep one [[providers]] block per id".into(),
                );
            }
            let auth: AuthScheme = match p.auth.get_ref().parse() {
                Ok(a) => a,
                Err(e) => {
                    return self.err(
                        p.auth.span(),
                        e,
                        "set auth to one of the schemes listed".into(),
                    )
                }
            };
            if p.hosts.get_ref().is_empty() {
                return self.err(
                    p.hosts.span(),
                    format!("provider '{id}' has no hosts"),
                    "list the API host names, e.g. hosts = [\"llm.example.com\"]".into(),
                );
            }
            for h in p.hosts.get_ref() {
                if h.is_empty() || h.contains(['/', ':', ' ']) {
                    return self.err(
                        p.hosts.span(),
                        format!("'{h}' is not a host name"),
                        "write bare host names, without scheme, port or path".into(),
                    );
                }
            }
            let scope = self.provider_paths(id, p.paths.as_ref())?;
            registry.insert(Provider {
                id: id.clone(),
                hosts: p
                    .hosts
                    .get_ref()
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                auth,
                dialect: p.dialect,
                scope,
                oauth: None,
                allow_http: p.allow_http,
            });
        }

        let mut names = HashSet::new();
        let mut accounts = Vec::new();
        let mut scheduled_only = Vec::new();
        for a in raw.accounts {
            let name = a.name.get_ref();
            if name.trim().is_empty() {
                return self.err(
                    a.name.span(),
                    "an account has an empty name".into(),
                    "give every account a unique name".into(),
                );
            }
            if !names.insert(name.clone()) {
                return self.err(
                    a.name.span(),
                    format!("duplicate account name '{name}'"),
                    "account names must be unique; rename one of them".into(),
                );
            }
            let provider = self.provider(&registry, &a.provider)?;
            let account_id = a.account_id.as_ref().map(|s| s.get_ref().clone());
            match (provider.needs_account_id(), &a.account_id) {
                (true, None) => {
                    return self.err(
                        a.name.span(),
                        format!(
                            "account '{name}' of provider '{}' needs account_id",
                            provider.id
                        ),
                        "add account_id = \"<your Cloudflare account id>\"".into(),
                    )
                }
                (false, Some(s)) => {
                    return self.err(
                        s.span(),
                        format!("provider '{}' does not use account_id", provider.id),
                        "remove the account_id line".into(),
                    )
                }
                _ => {}
            }
            let credential = self.credential(&a, provider)?;
            let schedule = match &a.schedule {
                None => None,
                Some(s) => match s.get_ref().parse::<Schedule>() {
                    Ok(sched) => Some(sched),
                    Err(e) => {
                        return self.err(
                            s.span(),
                            format!("schedule = \"{}\": {}", s.get_ref(), e.problem),
                            e.fix,
                        )
                    }
                },
            };
            // Where this account's schedule and role are written, for the check that a
            // `scheduled` pool reads them.
            let first_span = a
                .schedule
                .as_ref()
                .map(|s| (s.span(), "schedule"))
                .or_else(|| a.role.as_ref().map(|r| (r.span(), "role")));
            if let Some(at) = first_span {
                scheduled_only.push((name.clone(), at));
            }
            accounts.push(AccountConfig {
                name: name.clone(),
                provider: provider.id.clone(),
                credential,
                account_id,
                schedule,
                role: a.role.as_ref().map_or(Role::Default, |r| *r.get_ref()),
            });
        }

        let mut pools = Vec::new();
        let mut fallbacks = Vec::new();
        let mut pool_names = HashSet::new();
        for p in raw.pools {
            let name = p.name.get_ref();
            if !pool_names.insert(name.clone()) {
                return self.err(
                    p.name.span(),
                    format!("duplicate pool name '{name}'"),
                    "pool names must be unique".into(),
                );
            }
            let provider = self.provider(&registry, &p.provider)?;
            if p.accounts.is_empty() {
                return self.err(
                    p.name.span(),
                    format!("pool '{name}' lists no accounts"),
                    "add accounts = [\"name\", …] or remove the pool".into(),
                );
            }
            let mut members = Vec::new();
            for m in &p.accounts {
                let Some(acct) = accounts.iter().find(|a| &a.name == m.get_ref()) else {
                    return self.err(
                        m.span(),
                        format!(
                            "pool '{name}' lists '{}', which is not an account",
                            m.get_ref()
                        ),
                        format!(
                            "add an [[accounts]] block named '{}' or fix the name",
                            m.get_ref()
                        ),
                    );
                };
                if acct.provider != provider.id {
                    return self.err(
                        m.span(),
                        format!(
                            "account '{}' is a '{}' account, but pool '{name}' is for '{}'",
                            acct.name, acct.provider, provider.id
                        ),
                        "a pool holds accounts of its own provider only".into(),
                    );
                }
                if members.contains(&acct.name) {
                    return self.err(
                        m.span(),
                        format!("pool '{name}' lists '{}' twice", acct.name),
                        "list each account once".into(),
                    );
                }
                members.push(acct.name.clone());
            }
            if let Some(hold) = p.hold_max {
                let block = self.text[..p.name.span().start].rfind("[[pools]]");
                self.duration(&durations::HOLD_MAX, hold, block)?;
            }
            pools.push(PoolConfig {
                name: name.clone(),
                provider: provider.id.clone(),
                accounts: members,
                strategy: p.strategy,
                soft_threshold: self.soft_threshold(&p)?,
                mix_kinds: p.mix_kinds,
                fallback: p.fallback.iter().map(|f| f.get_ref().clone()).collect(),
                hold_max: p.hold_max,
            });
            fallbacks.push(p.fallback);
        }
        // Default pools: one per provider that has accounts and no explicit pool.
        let mut seen_providers: Vec<String> = Vec::new();
        for a in &accounts {
            if pools.iter().any(|p| p.provider == a.provider)
                || seen_providers.contains(&a.provider)
            {
                continue;
            }
            seen_providers.push(a.provider.clone());
            if pool_names.contains(&a.provider) {
                return Err(ConfigError(format!(
                    "{}: a pool is named '{}' but holds another provider's accounts, so the default pool for '{}' accounts cannot take that name\nfix: add a [[pools]] block for provider '{}'",
                    self.path.display(), a.provider, a.provider, a.provider
                )));
            }
            pools.push(PoolConfig {
                name: a.provider.clone(),
                provider: a.provider.clone(),
                accounts: accounts
                    .iter()
                    .filter(|b| b.provider == a.provider)
                    .map(|b| b.name.clone())
                    .collect(),
                strategy: Strategy::default(),
                soft_threshold: DEFAULT_SOFT_THRESHOLD,
                mix_kinds: false,
                fallback: Vec::new(),
                hold_max: None,
            });
        }

        // A fallback names a pool of the same provider (the request's host and wire format
        // stay), and never its own pool.
        for (p, names) in pools.iter().zip(&fallbacks) {
            for f in names {
                let Some(target) = pools.iter().find(|q| &q.name == f.get_ref()) else {
                    return self.err(
                        f.span(),
                        format!("pool '{}' falls back to '{}', which is not a pool", p.name, f.get_ref()),
                        "name a [[pools]] block (or a provider's default pool) of the same provider".into(),
                    );
                };
                if target.name == p.name || target.provider != p.provider {
                    return self.err(
                        f.span(),
                        format!(
                            "pool '{}' ({}) cannot fall back to '{}' ({})",
                            p.name, p.provider, target.name, target.provider
                        ),
                        "fall back to another pool of the same provider".into(),
                    );
                }
            }
        }

        // A schedule or role only means something to a `scheduled` pool: say so rather
        // than ignore it.
        for (name, (span, what)) in scheduled_only {
            let holding: Vec<&PoolConfig> = pools
                .iter()
                .filter(|p| p.accounts.contains(&name))
                .collect();
            let Some(first) = holding.first() else {
                continue;
            };
            if holding.iter().any(|p| p.strategy == Strategy::Scheduled) {
                continue;
            }
            let explicit = pool_names.contains(&first.name);
            return self.err(
                span,
                format!(
                    "account '{name}' has a {what}, but its pool '{}' uses strategy '{}', which ignores schedules and roles",
                    first.name,
                    first.strategy.as_str()
                ),
                if explicit {
                    format!(
                        "set strategy = \"scheduled\" in the [[pools]] block '{}', or remove the {what} line",
                        first.name
                    )
                } else {
                    format!(
                        "add a [[pools]] block for provider '{}' with strategy = \"scheduled\", or remove the {what} line",
                        first.provider
                    )
                },
            );
        }

        let upstream = match raw.upstream {
            None => UpstreamConfig::default(),
            Some(u) => {
                for c in &u.get_ref().connect_to {
                    if let Err(e) = ConnectTo::parse(c) {
                        return self.err(
                            u.span(),
                            e,
                            "write it as HOST:PORT:CONNECT_HOST:CONNECT_PORT".into(),
                        );
                    }
                }
                self.allow_private(&u)?;
                u.into_inner()
            }
        };

        self.durations(&upstream, &raw.limits, &raw.oauth)?;
        let clients = self.clients(raw.clients, &pools)?;
        Ok(Config {
            listen,
            accounts,
            pools,
            registry,
            upstream,
            limits: raw.limits,
            oauth: raw.oauth,
            clients,
        })
    }

    /// Every top-level duration within its sane range (see `durations`).
    fn durations(
        &self,
        u: &UpstreamConfig,
        l: &super::Limits,
        o: &super::OAuthConfig,
    ) -> Result<(), ConfigError> {
        use durations::*;
        for (range, value) in [
            (&CONNECT_TIMEOUT, u.connect_timeout),
            (&READ_TIMEOUT, u.read_timeout),
            (&SHUTDOWN_GRACE, l.shutdown_grace),
            (&TUNNEL_IDLE, l.tunnel_idle_timeout),
            (&FIRST_EVENT, l.first_event_timeout),
            (&HANDSHAKE, l.handshake_timeout),
            (&STICKY_IDLE, l.sticky_idle),
            (&REFRESH_MARGIN, o.refresh_margin),
        ] {
            self.duration(range, value, None)?;
        }
        Ok(())
    }

    /// `[clients.NAME]`: each names existing pools, at most one per provider.
    fn clients(
        &self,
        raw: std::collections::BTreeMap<String, Spanned<super::RawClient>>,
        pools: &[PoolConfig],
    ) -> Result<Vec<super::ClientConfig>, ConfigError> {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        for (name, c) in raw {
            let span = c.span();
            let c = c.into_inner();
            if name.is_empty() || name.contains([':', '@', '/']) {
                return self.err(
                    span,
                    format!("client name '{name}' cannot be a proxy URL user name"),
                    "use letters, digits, '-' and '_'".into(),
                );
            }
            let mut providers: Vec<&str> = Vec::new();
            for p in &c.pools {
                let Some(pool) = pools.iter().find(|q| &q.name == p.get_ref()) else {
                    return self.err(
                        p.span(),
                        format!("client '{name}' uses pool '{}', which is not a pool", p.get_ref()),
                        "name a [[pools]] block, or a provider's default pool (named after the provider)".into(),
                    );
                };
                if providers.contains(&pool.provider.as_str()) {
                    return self.err(
                        p.span(),
                        format!(
                            "client '{name}' names two pools of provider '{}'",
                            pool.provider
                        ),
                        "give a client one pool per provider (chain others with fallback = [...])"
                            .into(),
                    );
                }
                providers.push(&pool.provider);
            }
            out.push(super::ClientConfig {
                name,
                pools: c.pools.into_iter().map(Spanned::into_inner).collect(),
                password: c.password.map(|p| SecretString::from(p.into_inner())),
            });
            spans.push(span);
        }
        // A password guards the pools of its client. Another client naming one of them
        // without a password would open it to anyone who types that client's name.
        for (open, span) in out.iter().zip(&spans).filter(|(c, _)| c.password.is_none()) {
            let guarded = out.iter().filter(|c| c.password.is_some()).find_map(|g| {
                let pool = open.pools.iter().find(|p| g.pools.contains(p))?;
                Some((g, pool))
            });
            if let Some((guard, pool)) = guarded {
                return self.err(
                    span.clone(),
                    format!(
                        "client '{}' uses pool '{pool}' without a password, but client '{}' guards that pool with one",
                        open.name, guard.name
                    ),
                    format!(
                        "give [clients.{}] a password too, or give it a pool of its own",
                        open.name
                    ),
                );
            }
        }
        Ok(out)
    }

    /// The account's `api_key` or `oauth`, exactly one of them, checked against what its
    /// provider takes.
    fn credential(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<CredentialConfig, ConfigError> {
        let name = a.name.get_ref();
        let oauth_only = provider.oauth.as_ref().is_some_and(|o| o.only);
        match (&a.api_key, &a.oauth) {
            (Some(_), Some(o)) => self.err(
                o.span(),
                format!("account '{name}' has both api_key and oauth"),
                "keep one: an account is either an API key or a subscription login".into(),
            ),
            (None, None) => self.err(
                a.name.span(),
                format!("account '{name}' has neither api_key nor oauth"),
                if oauth_only {
                    format!(
                        "add oauth = \"stored\" and run `keypool login {} --name {name}`, or import a login with `keypool accounts import`",
                        provider.id
                    )
                } else {
                    "add api_key = \"<key>\" (or \"env:VAR\", \"!command\")".into()
                },
            ),
            (Some(k), None) => {
                if oauth_only {
                    return self.err(
                        k.span(),
                        format!(
                            "provider '{}' takes subscription logins, not API keys",
                            provider.id
                        ),
                        format!(
                            "replace api_key with oauth = \"stored\" and run `keypool login {} --name {name}`",
                            provider.id
                        ),
                    );
                }
                let key = k.get_ref();
                if key.trim().is_empty() || key.trim() == "env:" || key.trim() == "!" {
                    return self.err(
                        k.span(),
                        format!("account '{name}' has an empty api_key"),
                        "set api_key to the key, \"env:VAR\" or \"!command\"".into(),
                    );
                }
                Ok(CredentialConfig::ApiKey {
                    source: SecretRef::parse(key),
                    raw: SecretString::from(key.clone()),
                })
            }
            (None, Some(o)) => {
                if Flavor::for_provider(&provider.id).is_none() {
                    let with: Vec<&str> = Flavor::ALL.iter().map(|f| f.provider_id()).collect();
                    return self.err(
                        o.span(),
                        format!("provider '{}' has no subscription login", provider.id),
                        format!(
                            "use api_key for it; oauth works with {}",
                            with.join(", ")
                        ),
                    );
                }
                let v = o.get_ref().trim();
                if v == "stored" {
                    return Ok(CredentialConfig::OAuth(OAuthSource::Stored));
                }
                match v.strip_prefix("link:").map(str::trim) {
                    Some(p) if !p.is_empty() => {
                        Ok(CredentialConfig::OAuth(OAuthSource::Linked(expand_home(p))))
                    }
                    _ => self.err(
                        o.span(),
                        // Not the value: a token pasted here by mistake stays out of the log.
                        "oauth is neither \"stored\" nor \"link:PATH\"".to_string(),
                        "write oauth = \"stored\" (tokens kept by keypool) or oauth = \"link:~/.codex/auth.json\" (shared with the CLI)".into(),
                    ),
                }
            }
        }
    }

    /// `[upstream] allow_private`: host names, IP addresses or CIDR blocks.
    fn allow_private(&self, u: &Spanned<UpstreamConfig>) -> Result<(), ConfigError> {
        for a in &u.get_ref().allow_private {
            if let Err(e) = crate::egress::parse_allow(a) {
                return self.err(
                    u.span(),
                    e,
                    "write allow_private = [\"gpu-box.lan\", \"192.168.1.20\", \"10.0.0.0/8\"]"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// A `[[providers]]` entry's `paths`: absolute path prefixes; absent means every path.
    fn provider_paths(
        &self,
        id: &str,
        paths: Option<&Spanned<Vec<String>>>,
    ) -> Result<Scope, ConfigError> {
        let Some(paths) = paths else {
            return Ok(Scope::All);
        };
        if paths.get_ref().is_empty() {
            return self.err(
                paths.span(),
                format!("provider '{id}' has paths = [], so no request would get a pooled key"),
                "list the API's path prefixes, e.g. paths = [\"/v1/\"], or remove the line to cover every path".into(),
            );
        }
        for p in paths.get_ref() {
            if !p.starts_with('/') || p.contains(['?', '#', ' ']) || p.split('/').any(|s| s == "..")
            {
                return self.err(
                    paths.span(),
                    format!("'{p}' in paths of provider '{id}' is not a path prefix"),
                    "write absolute path prefixes such as \"/v1/\"".into(),
                );
            }
        }
        Ok(Scope::Prefixes(paths.get_ref().clone()))
    }

    /// `soft_threshold`: a fraction of the window, 0 < x ≤ 1; the default when absent.
    fn soft_threshold(&self, p: &RawPool) -> Result<f64, ConfigError> {
        let Some(t) = &p.soft_threshold else {
            return Ok(DEFAULT_SOFT_THRESHOLD);
        };
        let x = *t.get_ref();
        if x > 0.0 && x <= 1.0 {
            return Ok(x);
        }
        let fix = if (2.0..=100.0).contains(&x) {
            format!(
                "it is a fraction of the window, not a percentage: soft_threshold = {}",
                x / 100.0
            )
        } else {
            format!("use a fraction of the window above 0 and at most 1, like {DEFAULT_SOFT_THRESHOLD} (the default)")
        };
        self.err(
            t.span(),
            format!(
                "soft_threshold = {x} in pool '{}' is not between 0 and 1",
                p.name.get_ref()
            ),
            fix,
        )
    }

    fn provider<'r>(
        &self,
        registry: &'r Registry,
        id: &Spanned<String>,
    ) -> Result<&'r Provider, ConfigError> {
        if let Some(p) = registry.by_id(id.get_ref()) {
            return Ok(p);
        }
        let known: Vec<&str> = registry.ids().collect();
        let guess = known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, id.get_ref()), *k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!("did you mean '{k}'? "))
            .unwrap_or_default();
        self.err(
            id.span(),
            format!("unknown provider '{}'", id.get_ref()),
            format!(
                "{guess}known providers: {}; or declare your own in a [[providers]] block",
                known.join(", ")
            ),
        )
    }
}

/// `~/x` → `$HOME/x`; other paths as written.
fn expand_home(p: &str) -> std::path::PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(p),
    }
}
