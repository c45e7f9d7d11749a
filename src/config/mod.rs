//! The config file: model, defaults, and validation with errors that name the line
//! and the fix.

mod durations;
pub mod edit;
mod observe;
mod role;
pub mod schedule;
mod upstream;
mod validate;

use crate::providers::{Dialect, Registry};
use crate::secret::SecretRef;
pub use observe::{MetricsConfig, PriceConfig, ProbesConfig, UsageConfig};
pub use role::Role;
pub use schedule::{Schedule, ScheduleError};
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
pub use upstream::{ConnectTo, Http2, UpstreamConfig};

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
    /// `[clients.NAME]`: what a proxy-auth user name selects.
    pub clients: Vec<ClientConfig>,
    pub usage: UsageConfig,
    pub metrics: MetricsConfig,
    pub probes: ProbesConfig,
    /// `[[prices]]`, in file order.
    pub prices: Vec<PriceConfig>,
}

/// A client, named by the user part of its proxy URL (`http://work@127.0.0.1:8787`).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: String,
    /// The pools it uses, at most one per provider; providers without one here are passed
    /// through untouched for this client.
    pub pools: Vec<String>,
    /// `password = "…"` (literal, `env:VAR` or `!command`), as written.
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub provider: String,
    pub credential: CredentialConfig,
    /// Where the account lives (Azure resource, AWS region, Cloudflare account and
    /// gateway), for providers whose accounts each live somewhere of their own.
    pub place: crate::providers::Place,
    /// `provider_key`: the key of the provider behind a gateway (Cloudflare AI Gateway),
    /// as written; absent for BYOK or unified billing.
    pub provider_key: Option<SecretString>,
    /// `organization_id`: the organization a Kilo account's requests are billed to.
    pub organization_id: Option<String>,
    /// `scheduled` pools: when the account is meant to be used; `None` = always.
    pub schedule: Option<Schedule>,
    /// `scheduled` pools: preferred, default or overflow.
    pub role: Role,
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
    /// `access_key_id` + `secret_access_key` (+ `session_token`): AWS IAM credentials
    /// every request is signed with (SigV4), each a literal, `env:VAR` or `!command`.
    Aws(AwsKeys),
}

/// An IAM account's three references, as written.
#[derive(Debug, Clone)]
pub struct AwsKeys {
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl AwsKeys {
    /// Where each part comes from, safe to print: `iam env:AWS_ACCESS_KEY_ID, env:…`.
    pub fn describe(&self) -> String {
        let source =
            |s: &SecretString| SecretRef::parse(secrecy::ExposeSecret::expose_secret(s)).describe();
        let mut parts = vec![source(&self.access_key_id), source(&self.secret_access_key)];
        parts.extend(self.session_token.as_ref().map(source));
        format!("iam {}", parts.join(", "))
    }
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
            // A SigV4 client's signature is a key's kind of credential.
            CredentialConfig::ApiKey { .. } | CredentialConfig::Aws(_) => {
                crate::providers::Kind::ApiKey
            }
            CredentialConfig::OAuth(_) => crate::providers::Kind::OAuth,
        }
    }

    /// Where the credential comes from, safe to print.
    pub fn describe_source(&self) -> String {
        match &self.credential {
            CredentialConfig::ApiKey { source, .. } => source.describe(),
            CredentialConfig::OAuth(OAuthSource::Stored) => "stored".into(),
            CredentialConfig::OAuth(OAuthSource::Linked(p)) => format!("link:{}", p.display()),
            CredentialConfig::Aws(k) => k.describe(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    pub provider: String,
    pub accounts: Vec<String>,
    pub strategy: Strategy,
    /// Utilization (0 < x ≤ 1) at which an account is passed over while another is below it.
    pub soft_threshold: f64,
    /// Let a request of one credential kind use accounts of the other.
    pub mix_kinds: bool,
    /// Pools (of the same provider) to continue in when every account here is limited.
    pub fallback: Vec<String>,
    /// When every account is limited and the first frees within this, hold the request
    /// until then instead of answering 429.
    pub hold_max: Option<Duration>,
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

/// How a pool picks the account for the next request; see `pool::strategy::choose`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Each account in turn (the least recently used).
    RoundRobin,
    /// The account with the most quota left in its tightest window.
    #[default]
    Headroom,
    /// The first account in the pool's order that is below the soft threshold.
    Priority,
    /// Use one account up (to the soft threshold) before the next, in the pool's order.
    FillFirst,
    /// By the accounts' `schedule` and `role`.
    Scheduled,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::RoundRobin,
        Strategy::Headroom,
        Strategy::Priority,
        Strategy::FillFirst,
        Strategy::Scheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::Headroom => "headroom",
            Strategy::Priority => "priority",
            Strategy::FillFirst => "fill-first",
            Strategy::Scheduled => "scheduled",
        }
    }
}

/// Rotate away from an account once this much of its tightest window is used.
pub const DEFAULT_SOFT_THRESHOLD: f64 = 0.95;

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
    /// How long a new connection may take to finish its TLS handshake (after CONNECT) or
    /// to send its first request head; a client that says nothing is closed after it.
    #[serde(default = "default_handshake", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// An HTTP/1.1 client connection idle this long is parked: held as its bare stream,
    /// without hyper's buffers, until the client's next byte (`0s`: parked as soon as an
    /// answer is out, which costs a connection set-up per request).
    #[serde(default = "default_park_after", with = "humantime_serde")]
    pub park_after: Duration,
    /// How long a successful event stream is held for its first event, which may be an
    /// error that rotates (see `stream_peek`). Comments do not end the wait; `0s` turns
    /// the hold off.
    #[serde(default = "default_first_event", with = "humantime_serde")]
    pub first_event_timeout: Duration,
    /// A conversation's account is forgotten after this long without a request.
    #[serde(default = "default_sticky_idle", with = "humantime_serde")]
    pub sticky_idle: Duration,
    /// Pin Anthropic requests carrying thinking signatures to their conversation's account
    /// (off: it is not established that another account rejects them, and Claude Code
    /// sends them nearly every turn, so its conversations would never move).
    #[serde(default)]
    pub pin_thinking_signatures: bool,
}

fn default_sticky_idle() -> Duration {
    crate::sticky::DEFAULT_IDLE
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            replay_body_mib: default_replay_mib(),
            shutdown_grace: default_grace(),
            tunnel_idle_timeout: default_tunnel_idle(),
            handshake_timeout: default_handshake(),
            park_after: default_park_after(),
            first_event_timeout: default_first_event(),
            sticky_idle: default_sticky_idle(),
            pin_thinking_signatures: false,
        }
    }
}

impl Limits {
    pub fn replay_body_bytes(&self) -> usize {
        usize::try_from(self.replay_body_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
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
fn default_handshake() -> Duration {
    Duration::from_secs(10)
}
fn default_park_after() -> Duration {
    Duration::from_secs(1)
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
    #[serde(default)]
    clients: std::collections::BTreeMap<String, Spanned<RawClient>>,
    #[serde(default)]
    usage: UsageConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    probes: ProbesConfig,
    #[serde(default)]
    prices: Vec<Spanned<PriceConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    pools: Vec<Spanned<String>>,
    password: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<String>,
    provider: Spanned<String>,
    api_key: Option<Spanned<String>>,
    oauth: Option<Spanned<String>>,
    account_id: Option<Spanned<String>>,
    resource: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    gateway_id: Option<Spanned<String>>,
    project: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    deployments: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    provider_key: Option<Spanned<String>>,
    organization_id: Option<Spanned<String>>,
    access_key_id: Option<Spanned<String>>,
    secret_access_key: Option<Spanned<String>>,
    session_token: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    role: Option<Spanned<Role>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Spanned<String>,
    provider: Spanned<String>,
    accounts: Vec<Spanned<String>>,
    #[serde(default)]
    strategy: Strategy,
    soft_threshold: Option<Spanned<f64>>,
    #[serde(default)]
    mix_kinds: bool,
    #[serde(default)]
    fallback: Vec<Spanned<String>>,
    #[serde(default, with = "humantime_serde")]
    hold_max: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: Spanned<String>,
    hosts: Spanned<Vec<String>>,
    auth: Spanned<String>,
    #[serde(default = "default_dialect")]
    dialect: Dialect,
    /// Let pooled keys travel over plain HTTP (a local server without TLS).
    #[serde(default)]
    allow_http: bool,
    /// Path prefixes that carry the pooled key; absent: every path.
    paths: Option<Spanned<Vec<String>>>,
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        validate::Validator { text, path }.build(raw)
    }
}

/// A toml error as `FILE:LINE:COL: FIELD: what was wrong`. Never the line itself (it may
/// be an api_key line) nor the value serde quotes (it may be a password): the field, the
/// place and the kind of value expected are enough to fix it.
fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let (at, field) = e.span().map_or((String::new(), None), |span| {
        let start = floor_char_boundary(text, span.start);
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (format!("{line}:{col}:"), field_at(text, start))
    });
    let field = field.map_or(String::new(), |f| format!(" {f}:"));
    ConfigError(format!(
        concat!(
            "{}:{at}{field} {}\nfix: correct that line; ",
            "every field is described in the README's Configuration section"
        ),
        path.display(),
        crate::serde_message::redact(e.message()),
        at = at,
        field = field
    ))
}

/// The key whose value starts at byte `start`: the name before the `=` that precedes it
/// (`password = 12345`, or inside an inline table), when there is one.
/// Else (the value is an inline table or a list, and the error is inside it) the key
/// that starts the line.
fn field_at(text: &str, start: usize) -> Option<String> {
    let is_key = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let key_before = |s: &str| -> Option<String> {
        let s = s.trim_end().strip_suffix('=')?.trim_end();
        let from = s
            .char_indices()
            .rev()
            .find(|(_, c)| !is_key(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key = &s[from..];
        (!key.is_empty() && key.len() <= 64).then(|| key.to_string())
    };
    let before = &text[..start];
    key_before(before).or_else(|| {
        let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
        let eq = line.find('=')?;
        key_before(&line[..=eq]).filter(|k| line[..eq].trim() == k)
    })
}

/// The largest char boundary at or below `i` (toml spans are byte offsets; a hostile
/// file may put one inside a multi-byte character).
fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod aws_tests;
#[cfg(test)]
mod place_tests;
#[cfg(test)]
mod tests;
