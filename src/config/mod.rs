//! The config file: model, defaults, and validation with errors that name the line
//! and the fix.

pub mod edit;
mod validate;

use crate::pool::{Role, Schedule};
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
    /// `[clients.NAME]`: what a proxy-auth user name selects.
    pub clients: Vec<ClientConfig>,
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
    pub account_id: Option<String>,
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
    #[serde(default)]
    clients: std::collections::BTreeMap<String, Spanned<RawClient>>,
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
    use crate::pool::Role;
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

    /// Two openai accounts `a` and `b` (with `a_extra` appended to `a`'s block), and a pool
    /// block when `pool` is not empty.
    fn with_pool(a_extra: &str, pool: &str) -> Result<Config, ConfigError> {
        parse(&format!(
            "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n{a_extra}\
             [[accounts]]\nname = \"b\"\nprovider = \"openai\"\napi_key = \"k2\"\n\
             {pool}"
        ))
    }

    const POOL: &str =
        "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"b\", \"a\"]\n";

    #[test]
    fn strategies_and_soft_threshold() {
        // No [[pools]]: the default pool uses headroom and the default threshold.
        let c = with_pool("", "").unwrap();
        assert_eq!(c.pools[0].strategy, Strategy::Headroom);
        assert_eq!(c.pools[0].soft_threshold, DEFAULT_SOFT_THRESHOLD);
        assert_eq!(c.pools[0].soft_threshold, 0.95);
        // A [[pools]] block without them: the same.
        let c = with_pool("", POOL).unwrap();
        assert_eq!(c.pools[0].strategy, Strategy::Headroom);
        assert_eq!(c.pools[0].soft_threshold, 0.95);
        for s in Strategy::ALL {
            let c = with_pool("", &format!("{POOL}strategy = \"{}\"\n", s.as_str())).unwrap();
            assert_eq!(c.pools[0].strategy, s);
        }
        // (soft_threshold as written, value)
        for (written, want) in [("0.8", 0.8), ("1", 1.0), ("1.0", 1.0), ("0.01", 0.01)] {
            let c = with_pool("", &format!("{POOL}soft_threshold = {written}\n")).unwrap();
            assert_eq!(c.pools[0].soft_threshold, want, "{written}");
        }
        // (soft_threshold as written, words the error must contain); the pool's 5th line.
        let table: &[(&str, &[&str])] = &[
            (
                "0",
                &[
                    "config.toml:13: soft_threshold = 0 in pool 'p' is not between 0 and 1",
                    "fix: use a fraction",
                    "0.95",
                ],
            ),
            ("0.0", &[":13: soft_threshold = 0 ", "fix: use a fraction"]),
            ("-0.5", &[":13: soft_threshold = -0.5 "]),
            (
                "1.01",
                &[":13: soft_threshold = 1.01 ", "fix: use a fraction"],
            ),
            (
                "95",
                &[
                    ":13: soft_threshold = 95 ",
                    "fix: it is a fraction of the window, not a percentage: soft_threshold = 0.95",
                ],
            ),
            (
                "500",
                &[":13: soft_threshold = 500 ", "fix: use a fraction"],
            ),
            ("nan", &[":13: soft_threshold = NaN "]),
            ("inf", &[":13: soft_threshold = inf "]),
            ("\"95%\"", &["config.toml:13:", "invalid type"]),
        ];
        for (written, wanted) in table {
            let e = with_pool("", &format!("{POOL}soft_threshold = {written}\n"))
                .unwrap_err()
                .0;
            for w in *wanted {
                assert!(e.contains(w), "{written}: {e} (wanted {w:?})");
            }
        }
        let e = with_pool("", &format!("{POOL}strategy = \"fill_first\"\n"))
            .unwrap_err()
            .0;
        assert!(e.starts_with("config.toml:13:"), "{e}");
        assert!(
            e.contains("unknown variant `fill_first`") && e.contains("fill-first"),
            "{e}"
        );
    }

    #[test]
    fn schedules_and_roles() {
        let scheduled = format!("{POOL}strategy = \"scheduled\"\n");
        let c = with_pool(
            "schedule = \"9-17 mon-fri, 22-6 sat,sun\"\nrole = \"preferred\"\n",
            &scheduled,
        )
        .unwrap();
        let a = &c.accounts[0];
        assert_eq!(
            a.schedule.as_ref().unwrap().as_str(),
            "9-17 mon-fri, 22-6 sat,sun"
        );
        assert_eq!(a.role, Role::Preferred);
        assert_eq!(
            (c.accounts[1].schedule.as_ref(), c.accounts[1].role),
            (None, Role::Default)
        );
        for (written, role) in [("default", Role::Default), ("overflow", Role::Overflow)] {
            let c = with_pool(&format!("role = \"{written}\"\n"), &scheduled).unwrap();
            assert_eq!(c.accounts[0].role, role);
        }

        // A bad schedule names its line, the bad part and the fix.
        // (schedule, words the error must contain)
        let table: &[(&str, &[&str])] = &[
            (
                "9-17 mon-fry",
                &[
                    "config.toml:5: schedule = \"9-17 mon-fry\": 'fry' in 'mon-fry' is not a day",
                    "\nfix: days are mon, tue",
                ],
            ),
            (
                "9-25 daily",
                &[
                    "config.toml:5: ",
                    "'25' in '9-25' is not a time of day",
                    "\nfix: hours go from 0 to 23",
                ],
            ),
            (
                "mon-fri 9-17",
                &[
                    "config.toml:5: ",
                    "'9-17' comes after the days",
                    "fix: write the hours first: \"9-17 mon-fri\"",
                ],
            ),
            (
                "",
                &[
                    "config.toml:5: ",
                    "the schedule is empty",
                    "fix: write hours then days",
                ],
            ),
        ];
        for (written, wanted) in table {
            let e = with_pool(&format!("schedule = \"{written}\"\n"), &scheduled)
                .unwrap_err()
                .0;
            for w in *wanted {
                assert!(e.contains(w), "{written}: {e} (wanted {w:?})");
            }
        }
        let e = with_pool("role = \"backup\"\n", &scheduled).unwrap_err().0;
        assert!(e.starts_with("config.toml:5:"), "{e}");
        assert!(
            e.contains("unknown variant `backup`") && e.contains("overflow"),
            "{e}"
        );

        // A schedule or role where no scheduled pool reads it.
        let e = with_pool("schedule = \"9-17\"\n", POOL).unwrap_err().0;
        assert!(
            e.starts_with("config.toml:5: account 'a' has a schedule, but its pool 'p' uses strategy 'headroom'"),
            "{e}"
        );
        assert!(
            e.contains("fix: set strategy = \"scheduled\" in the [[pools]] block 'p'"),
            "{e}"
        );
        let e = with_pool("role = \"overflow\"\n", "").unwrap_err().0;
        assert!(
            e.starts_with("config.toml:5: account 'a' has a role, but its pool 'openai' uses strategy 'headroom'"),
            "{e}"
        );
        assert!(
            e.contains(
                "fix: add a [[pools]] block for provider 'openai' with strategy = \"scheduled\""
            ),
            "{e}"
        );
        // Held by a scheduled pool and another one: fine.
        let two = format!(
            "{scheduled}[[pools]]\nname = \"q\"\nprovider = \"openai\"\naccounts = [\"a\"]\n"
        );
        assert!(with_pool("schedule = \"9-17\"\n", &two).is_ok());
        // In no pool at all (the explicit pool leaves it out): nothing to say.
        let without_a = "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"b\"]\n";
        assert!(with_pool("schedule = \"9-17\"\n", without_a).is_ok());
    }

    /// The README's `scheduled` example and its schedule table are valid as written.
    #[test]
    fn readme_strategy_examples_are_valid() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("### Strategies").unwrap()..];
        let section = &section[..section.find("### Built-in providers").unwrap()];
        let blocks: Vec<&str> = section
            .split("```toml\n")
            .skip(1)
            .map(|b| &b[..b.find("```").unwrap()])
            .collect();
        assert_eq!(blocks.len(), 5, "one example per strategy");
        for b in &blocks {
            let pool: String = b
                .lines()
                .skip_while(|l| !l.starts_with("[[pools]]"))
                .map(|l| format!("{l}\n"))
                .collect();
            let names: Vec<String> = pool
                .lines()
                .find_map(|l| l.strip_prefix("accounts = "))
                .map(|l| l[..l.find(']').unwrap() + 1].to_string())
                .and_then(|l| toml::from_str::<toml::Value>(&format!("a = {l}")).ok())
                .unwrap()["a"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let provider = pool
                .lines()
                .find_map(|l| l.strip_prefix("provider = "))
                .unwrap()
                .trim_matches('"');
            // Accounts the block does not declare, as API keys.
            let mut text = b.to_string();
            for n in names {
                if !b.contains(&format!("name = \"{n}\"")) {
                    text = format!(
                        "[[accounts]]\nname = \"{n}\"\nprovider = \"{provider}\"\napi_key = \"k\"\n{text}"
                    );
                }
            }
            let c = parse(&text).unwrap_or_else(|e| panic!("{b}\n{e}"));
            assert!(!c.pools.is_empty());
        }
        let table = &section[section.find("| written | means |").unwrap()..];
        for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
            let cell = row.split('|').nth(1).unwrap();
            for example in cell.split("`, `") {
                let example = example.trim().trim_matches('`');
                example
                    .parse::<Schedule>()
                    .unwrap_or_else(|e| panic!("{example}: {e}"));
            }
        }
        for ok in ["9-17 mon,sat", "9-17 mon, 0-24 sat", "sat, 9-17 mon"] {
            assert!(section.contains(ok), "{ok}");
            ok.parse::<Schedule>().unwrap();
        }
        for refused in ["9-17 mon, sat", "mon-fri 9-17"] {
            assert!(section.contains(refused), "{refused}");
            assert!(refused.parse::<Schedule>().is_err(), "{refused}");
        }
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
