//! The config file: model, defaults, and validation with errors that name the line
//! and the fix.

pub mod edit;
mod validate;

use crate::providers::{Dialect, Registry};
use crate::secret::SecretRef;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const EXAMPLE: &str = include_str!("example.toml");
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub accounts: Vec<AccountConfig>,
    pub pools: Vec<PoolConfig>,
    pub registry: Registry,
    pub upstream: UpstreamConfig,
    pub limits: Limits,
    pub oauth: OAuthConfig,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub provider: String,
    pub credential: CredentialConfig,
    pub account_id: Option<String>,
}

/// Where an account's credential comes from.
#[derive(Debug, Clone)]
pub enum CredentialConfig {
    /// `api_key = "…"`: a literal secret, `env:VAR` or `!command`, as written.
    ApiKey {
        raw: SecretString,
        source: SecretRef,
    },
    /// `oauth = "stored"` or `oauth = "link:PATH"`.
    OAuth(OAuthSource),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthSource {
    /// Tokens in `credentials.json`, owned by keypool.
    Stored,
    /// Tokens in a native CLI's file, shared with it.
    Linked(PathBuf),
}

impl AccountConfig {
    pub fn kind(&self) -> crate::providers::Kind {
        match self.credential {
            CredentialConfig::ApiKey { .. } => crate::providers::Kind::ApiKey,
            CredentialConfig::OAuth(_) => crate::providers::Kind::OAuth,
        }
    }

    /// Where the credential comes from, safe to print.
    pub fn describe_source(&self) -> String {
        match &self.credential {
            CredentialConfig::ApiKey { source, .. } => source.describe(),
            CredentialConfig::OAuth(OAuthSource::Stored) => "stored".into(),
            CredentialConfig::OAuth(OAuthSource::Linked(p)) => format!("link:{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    pub provider: String,
    pub accounts: Vec<String>,
    pub strategy: Strategy,
    /// Let a request of one credential kind use accounts of the other.
    pub mix_kinds: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Refresh an access token this long before it expires.
    #[serde(default = "default_refresh_margin", with = "humantime_serde")]
    pub refresh_margin: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            refresh_margin: default_refresh_margin(),
        }
    }
}

fn default_refresh_margin() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    #[default]
    RoundRobin,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
        }
    }
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
    /// How long a successful event stream is held for its first event, which may be an
    /// error that rotates (see `stream_peek`). Comments do not end the wait; `0s` turns
    /// the hold off.
    #[serde(default = "default_first_event", with = "humantime_serde")]
    pub first_event_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            replay_body_mib: default_replay_mib(),
            shutdown_grace: default_grace(),
            tunnel_idle_timeout: default_tunnel_idle(),
            first_event_timeout: default_first_event(),
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
fn default_first_event() -> Duration {
    Duration::from_secs(10)
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
    #[serde(default)]
    oauth: OAuthConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<String>,
    provider: Spanned<String>,
    api_key: Option<Spanned<String>>,
    oauth: Option<Spanned<String>>,
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
    #[serde(default)]
    mix_kinds: bool,
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
            // Line and column only, never the line itself: it may be an api_key line.
            let at = e.span().map_or(String::new(), |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("{line}:{col}:")
            });
            ConfigError(format!(
                "{}:{at} {}\nfix: correct that line; every field is described in the README's Configuration section",
                path.display(),
                e.message().trim_end()
            ))
        })?;
        validate::Validator { text, path }.build(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::AuthScheme;

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
        assert!(matches!(
            &c.accounts[1].credential,
            CredentialConfig::ApiKey { source: SecretRef::Env(v), .. } if v == "X"
        ));
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
            e.starts_with("config.toml:5:1: unknown field `colour`"),
            "{e}"
        );

        let e = parse("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-live-123\" trailing\n").unwrap_err().0;
        assert!(e.starts_with("config.toml:4:"), "{e}");
        assert!(
            !e.contains("sk-live-123"),
            "a syntax error never echoes the key: {e}"
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
