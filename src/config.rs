//! The config file: model, defaults, and validation with errors that name the line
//! and the fix.

use crate::providers::{builtin, AuthScheme, Dialect, Provider, Registry, Scope};
use crate::secret::SecretRef;
use crate::upstream::ConnectTo;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const EXAMPLE: &str = include_str!("config_example.toml");
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub accounts: Vec<AccountConfig>,
    pub pools: Vec<PoolConfig>,
    pub registry: Registry,
    pub upstream: UpstreamConfig,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub provider: String,
    /// The `api_key` value as written: a literal secret, `env:VAR` or `!command`.
    pub api_key: SecretString,
    pub source: SecretRef,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    pub provider: String,
    pub accounts: Vec<String>,
    pub strategy: Strategy,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    #[default]
    RoundRobin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `HOST:PORT:CONNECT_HOST:CONNECT_PORT`, as curl's `--connect-to`.
    #[serde(default)]
    pub connect_to: Vec<String>,
    /// PEM files of extra roots trusted for upstream TLS, on top of the system's.
    #[serde(default)]
    pub extra_ca: Vec<PathBuf>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest silence while waiting for upstream bytes. Not a deadline for the whole
    /// answer: a streamed answer may run for as long as it keeps sending.
    #[serde(default = "default_read_timeout", with = "humantime_serde")]
    pub read_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_to: Vec::new(),
            extra_ca: Vec::new(),
            connect_timeout: default_connect_timeout(),
            read_timeout: default_read_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Request bodies up to this size are buffered so they can be replayed on another
    /// account; larger ones are forwarded once, without retry.
    #[serde(default = "default_replay_mib")]
    pub replay_body_mib: u64,
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    #[serde(default = "default_tunnel_idle", with = "humantime_serde")]
    pub tunnel_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            replay_body_mib: default_replay_mib(),
            shutdown_grace: default_grace(),
            tunnel_idle_timeout: default_tunnel_idle(),
        }
    }
}

impl Limits {
    pub fn replay_body_bytes(&self) -> usize {
        usize::try_from(self.replay_body_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_replay_mib() -> u64 {
    32
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_tunnel_idle() -> Duration {
    Duration::from_secs(600)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    pools: Vec<RawPool>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    upstream: Option<Spanned<UpstreamConfig>>,
    #[serde(default)]
    limits: Limits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<String>,
    provider: Spanned<String>,
    api_key: Spanned<String>,
    account_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Spanned<String>,
    provider: Spanned<String>,
    accounts: Vec<Spanned<String>>,
    #[serde(default)]
    strategy: Strategy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: Spanned<String>,
    hosts: Spanned<Vec<String>>,
    auth: Spanned<String>,
    #[serde(default = "default_dialect")]
    dialect: Dialect,
}

fn default_dialect() -> Dialect {
    Dialect::Openai
}

/// A config problem, already worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The config used when there is none: no accounts, default listen address.
    pub fn empty() -> Config {
        Config::parse(EXAMPLE, Path::new("(built-in example)"))
            .expect("the example config is valid")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError(format!(
                "{}: {}\nfix: correct the line above; every field is described in the README's Configuration section",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        Validator { text, path }.build(raw)
    }
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn err<T>(
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

    fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = match &raw.listen {
            None => DEFAULT_LISTEN.parse().expect("valid default"),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    return self.err(
                        l.span(),
                        format!("listen = \"{}\" is not an IP address and port", l.get_ref()),
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
                scope: Scope::All,
                builtin: false,
            });
        }

        let mut names = HashSet::new();
        let mut accounts = Vec::new();
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
            let key = a.api_key.get_ref();
            if key.trim().is_empty() || key.trim() == "env:" || key.trim() == "!" {
                return self.err(
                    a.api_key.span(),
                    format!("account '{name}' has an empty api_key"),
                    "set api_key to the key, \"env:VAR\" or \"!command\"".into(),
                );
            }
            accounts.push(AccountConfig {
                name: name.clone(),
                provider: provider.id.clone(),
                source: SecretRef::parse(key),
                api_key: SecretString::from(key.clone()),
                account_id,
            });
        }

        let mut pools = Vec::new();
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
            pools.push(PoolConfig {
                name: name.clone(),
                provider: provider.id.clone(),
                accounts: members,
                strategy: p.strategy,
            });
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
                strategy: Strategy::RoundRobin,
            });
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
                u.into_inner()
            }
        };

        Ok(Config {
            listen,
            accounts,
            pools,
            registry,
            upstream,
            limits: raw.limits,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("config.toml"))
    }

    #[test]
    fn example_is_valid_and_empty() {
        let c = Config::empty();
        assert!(c.accounts.is_empty());
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn default_pools_follow_file_order() {
        let c = parse(
            r#"
[[accounts]]
name = "a"
provider = "openai"
api_key = "sk-a"
[[accounts]]
name = "x"
provider = "anthropic"
api_key = "env:X"
[[accounts]]
name = "b"
provider = "openai"
api_key = "!echo sk-b"
"#,
        )
        .unwrap();
        assert_eq!(c.pools.len(), 2);
        assert_eq!(c.pools[0].name, "openai");
        assert_eq!(c.pools[0].accounts, vec!["a", "b"]);
        assert_eq!(c.accounts[1].source, SecretRef::Env("X".into()));
    }

    #[test]
    fn errors_name_line_and_fix() {
        let e = parse("listen = \"127.0.0.1:1\"\n\n[[accounts]]\nname = \"a\"\nprovider = \"opnai\"\napi_key = \"k\"\n").unwrap_err().0;
        assert!(
            e.starts_with("config.toml:5: unknown provider 'opnai'"),
            "{e}"
        );
        assert!(e.contains("did you mean 'openai'"), "{e}");

        let e = parse("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k2\"\n").unwrap_err().0;
        assert!(
            e.starts_with("config.toml:6: duplicate account name 'a'"),
            "{e}"
        );

        let e = parse(
            "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\ncolour = 1\n",
        )
        .unwrap_err()
        .0;
        assert!(
            e.contains("line 5") && e.contains("unknown field `colour`"),
            "{e}"
        );

        let e = parse("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"nope\"]\n")
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("config.toml:4:") && e.contains("'nope'"),
            "{e}"
        );

        let e = parse("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = []\nstrategy = \"random\"\n").unwrap_err().0;
        assert!(e.contains("unknown variant `random`"), "{e}");

        let e = parse("listen = \"localhost\"\n").unwrap_err().0;
        assert!(e.starts_with("config.toml:1: listen"), "{e}");
    }

    #[test]
    fn custom_provider_and_cloudflare_account_id() {
        let c = parse(
            r#"
[[providers]]
id = "my-vllm"
hosts = ["LLM.internal.example"]
auth = "query:key"

[[accounts]]
name = "v"
provider = "my-vllm"
api_key = "k"
"#,
        )
        .unwrap();
        let p = c.registry.for_host("llm.internal.example").unwrap();
        assert_eq!(p.auth, AuthScheme::Query("key".into()));

        let e = parse(
            "[[accounts]]\nname = \"cf\"\nprovider = \"cloudflare-workers-ai\"\napi_key = \"k\"\n",
        )
        .unwrap_err()
        .0;
        assert!(e.contains("needs account_id"), "{e}");
        let e = parse("[[providers]]\nid = \"x\"\nhosts = [\"h\"]\nauth = \"basic\"\n")
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("config.toml:4: unknown auth scheme 'basic'"),
            "{e}"
        );
    }
}
