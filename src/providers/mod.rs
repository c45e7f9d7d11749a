//! Providers are data: hosts, how the credential travels, which dialect their errors
//! speak, and which paths carry a credential keypool may swap. The pipeline never
//! branches on a provider's name.

mod auth;
mod builtin;
mod classify;
mod flavor;
pub mod refused;
mod reset;
mod shape;
mod stream_error;
pub mod terminal;

pub use auth::{AuthScheme, CredentialEdit};
pub use builtin::{builtin, canonical_id};
pub use classify::{classify, needs_body, Cause, Outcome, Verdict};
pub use flavor::Flavor;
pub(crate) use reset::parse_proto_duration;
pub use reset::{parse_go_duration, parse_retry_after};
pub use shape::{error_response_body, ErrorKind};
pub use stream_error::{classify_event, is_preamble};

use std::collections::HashMap;
use std::sync::Arc;

/// The error and rate-limit vocabulary a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// `{"error":{"message","type","code"}}`, `x-ratelimit-*` headers.
    Openai,
    /// `{"type":"error","error":{"type","message"}}`, `anthropic-ratelimit-*`, 529.
    Anthropic,
    /// `{"error":{"code","message","status","details":[RetryInfo…]}}`.
    Google,
    /// `{"error":{"code":<int>,"message"}}`, 402 for exhausted credits.
    Openrouter,
}

/// Which requests to a provider host carry a credential keypool swaps; the rest pass
/// through with the client's own credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every path: a `[[providers]]` entry without `paths`, the operator's own endpoint.
    All,
    /// Paths under one of these prefixes (each ends in `/`, or is a whole path): the
    /// provider's API. Telemetry, feature flags and other services on the same host keep
    /// the client's own headers.
    Prefixes(Vec<String>),
    /// Paths of the form `{prefix}{id}/{rest}` where `rest` starts with `after`.
    /// The `{id}` segment is the account id and is replaced by the account's own.
    AccountPath {
        prefix: &'static str,
        after: &'static str,
    },
}

/// Which kind of credential a request carries or an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ApiKey,
    OAuth,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::OAuth => "oauth",
        }
    }
}

/// How a provider takes subscription (OAuth) accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSpec {
    /// The login family its accounts sign in with: the one place that says which
    /// providers take subscription logins.
    pub flavor: Flavor,
    /// The inference paths where an OAuth account's token replaces the client's. Every
    /// other path (profile, usage, account checks, file uploads) keeps the client's own
    /// login, because clients check those answers against it.
    pub paths: &'static [&'static str],
    /// The provider has no API keys: every request is an OAuth request.
    pub only: bool,
    /// How a client's credential tells a subscription token from a key, where both
    /// reach one provider: the header alone does not tell (Anthropic's SDKs send keys as
    /// `Authorization: Bearer` too).
    pub marker: Marker,
}

/// What marks one kind of credential where a provider takes keys and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Tokens contain this (`sk-ant-oat`); anything else is a key or a placeholder.
    Token(&'static str),
    /// Keys contain this (`sk-kimi-`) and tokens are opaque: a bearer credential without
    /// it is a token. A key's own header (`x-api-key`) is a key whatever it holds, so a
    /// placeholder an Anthropic SDK sends there still finds the pool's keys.
    Key(&'static str),
    /// Subscription-only providers: no key to tell apart.
    None,
    /// A login's token is a key of the provider's own kind (Kilo's device login hands out
    /// a long-lived API key), so a request tells nothing: both kinds serve it.
    Either,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub hosts: Vec<String>,
    pub auth: AuthScheme,
    pub dialect: Dialect,
    /// Where API-key accounts swap credentials.
    pub scope: Scope,
    pub oauth: Option<OAuthSpec>,
    /// Pooled credentials may travel over plain HTTP (a `[[providers]]` entry for a local
    /// server that opted in). Never for a built-in provider.
    pub allow_http: bool,
}

impl Provider {
    /// Whether an account of `kind` swaps the credential of a request to `path`.
    pub fn covers(&self, path: &str, kind: Kind) -> bool {
        match kind {
            Kind::OAuth => self
                .oauth
                .as_ref()
                .is_some_and(|o| oauth_covers(o.paths, path)),
            Kind::ApiKey if self.oauth.as_ref().is_some_and(|o| o.only) => false,
            Kind::ApiKey => match &self.scope {
                Scope::All => true,
                Scope::Prefixes(prefixes) => {
                    plain_path(path) && prefixes.iter().any(|p| under(path, p))
                }
                Scope::AccountPath { prefix, after } => {
                    plain_path(path) && account_path_split(path, prefix, after).is_some()
                }
            },
        }
    }

    /// The kind of credential the client sent, when it tells: a subscription token has
    /// the provider's marker (`sk-ant-oat…`), anything else is a key (or a placeholder
    /// standing for one). `None` when the client sent no credential.
    pub fn client_kind(&self, headers: &http::HeaderMap) -> Option<Kind> {
        match &self.oauth {
            None => Some(Kind::ApiKey),
            Some(o) if o.only => Some(Kind::OAuth),
            Some(o) if o.marker == Marker::Either => None,
            Some(o) => {
                let sent = ["x-api-key", "authorization"]
                    .iter()
                    .filter_map(|h| headers.get(*h)?.to_str().ok())
                    .collect::<Vec<_>>();
                if sent.is_empty() {
                    return None;
                }
                let token = match o.marker {
                    Marker::Token(m) => sent.iter().any(|v| v.contains(m)),
                    Marker::Key(m) => {
                        !headers.contains_key("x-api-key") && !sent.iter().any(|v| v.contains(m))
                    }
                    Marker::None | Marker::Either => false,
                };
                Some(if token { Kind::OAuth } else { Kind::ApiKey })
            }
        }
    }

    /// Whether an account of this provider needs an `account_id`.
    pub fn needs_account_id(&self) -> bool {
        matches!(self.scope, Scope::AccountPath { .. })
    }

    /// `path` with the account id segment replaced, when the provider keeps one there.
    pub fn rewrite_path(&self, path: &str, account_id: Option<&str>) -> Option<String> {
        match (&self.scope, account_id) {
            (Scope::AccountPath { prefix, after }, Some(id)) => {
                let (_, rest) = account_path_split(path, prefix, after)?;
                Some(format!("{prefix}{id}/{rest}"))
            }
            _ => None,
        }
    }
}

/// A subscription's paths are whole paths, or prefixes where they end in `/` (a gateway
/// whose every path below its base is inference).
fn oauth_covers(paths: &[&str], path: &str) -> bool {
    paths.iter().any(|p| match p.ends_with('/') {
        true => plain_path(path) && path.starts_with(p),
        false => *p == path,
    })
}

/// `path` is `prefix` or below it: `/v1/` covers `/v1/messages`; `/v1/messages` covers
/// itself and `/v1/messages/count_tokens`, never `/v1/messagesX`.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', ':', '?']),
        None => false,
    }
}

/// A path without dot segments or encoded dots and slashes, so a prefix check on it is
/// the path the provider serves (`/v1/../api/x` would be `/api/x` upstream).
fn plain_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.starts_with('/')
        && !path.contains('\\')
        && !lower.contains("%2e")
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && !path.split('/').any(|seg| seg == "." || seg == "..")
}

fn account_path_split<'a>(path: &'a str, prefix: &str, after: &str) -> Option<(&'a str, &'a str)> {
    let tail = path.strip_prefix(prefix)?;
    let (id, rest) = tail.split_once('/')?;
    (!id.is_empty() && rest.starts_with(after)).then_some((id, rest))
}

/// Host name → provider, for the built-in table plus the config's `[[providers]]`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_id: HashMap<String, Arc<Provider>>,
    by_host: HashMap<String, Arc<Provider>>,
    ids: Vec<String>,
}

impl Registry {
    pub fn new(providers: impl IntoIterator<Item = Provider>) -> Registry {
        let mut r = Registry::default();
        for p in providers {
            r.insert(p);
        }
        r
    }

    /// Adds or replaces a provider (a config entry may override a built-in id). The
    /// replaced provider's hosts are keyed in lower case like every host, and one that a
    /// later provider took over stays with that provider.
    pub fn insert(&mut self, p: Provider) {
        let p = Arc::new(p);
        if let Some(old) = self.by_id.insert(p.id.clone(), p.clone()) {
            for h in &old.hosts {
                let h = h.to_ascii_lowercase();
                if self
                    .by_host
                    .get(&h)
                    .is_some_and(|now| Arc::ptr_eq(now, &old))
                {
                    self.by_host.remove(&h);
                }
            }
        } else {
            self.ids.push(p.id.clone());
        }
        for h in &p.hosts {
            self.by_host.insert(h.to_ascii_lowercase(), p.clone());
        }
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    pub fn for_host(&self, host: &str) -> Option<&Arc<Provider>> {
        let host = host.trim_end_matches('.');
        self.by_host.get(host).or_else(|| {
            // Host names are case-insensitive; only allocate when the fast path misses.
            host.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| self.by_host.get(&host.to_ascii_lowercase()))
                .flatten()
        })
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// Every provider host name, lower case.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.by_host.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_hosts_resolve() {
        let r = Registry::new(builtin());
        assert_eq!(r.for_host("api.openai.com").unwrap().id, "openai");
        assert_eq!(r.for_host("API.Anthropic.com.").unwrap().id, "anthropic");
        assert_eq!(
            r.for_host("generativelanguage.googleapis.com").unwrap().id,
            "google"
        );
        assert!(r.for_host("example.com").is_none());
    }

    fn custom(id: &str, hosts: &[&str]) -> Provider {
        Provider {
            id: id.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            auth: AuthScheme::Bearer,
            dialect: Dialect::Openai,
            scope: Scope::All,
            oauth: None,
            allow_http: false,
        }
    }

    #[test]
    fn replacing_a_provider_drops_its_hosts_in_any_case() {
        let mut r = Registry::new([custom("x", &["API.Example.com"])]);
        assert_eq!(r.for_host("api.example.com").unwrap().id, "x");
        r.insert(custom("x", &["other.example.com"]));
        assert!(r.for_host("api.example.com").is_none());
        assert!(r.for_host("API.Example.com").is_none());
        assert_eq!(r.hosts().collect::<Vec<_>>(), ["other.example.com"]);
    }

    #[test]
    fn replacing_a_provider_keeps_a_host_another_one_took() {
        let mut r = Registry::new([custom("x", &["shared.example.com"])]);
        r.insert(custom("y", &["Shared.Example.com"]));
        r.insert(custom("x", &["x.example.com"]));
        assert_eq!(r.for_host("shared.example.com").unwrap().id, "y");
    }

    #[test]
    fn oauth_swaps_only_inference_paths() {
        let r = Registry::new(builtin());
        let a = r.by_id("anthropic").unwrap();
        assert!(a.covers("/v1/messages", Kind::OAuth));
        assert!(a.covers("/v1/messages/count_tokens", Kind::OAuth));
        assert!(!a.covers("/api/oauth/profile", Kind::OAuth));
        assert!(!a.covers("/v1/oauth/token", Kind::OAuth));
        assert!(a.covers("/v1/models", Kind::ApiKey));
        let c = r.for_host("chatgpt.com").unwrap();
        assert!(c.covers("/backend-api/codex/responses", Kind::OAuth));
        assert!(!c.covers("/backend-api/wham/accounts/check", Kind::OAuth));
        assert!(!c.covers("/backend-api/codex/responses", Kind::ApiKey));
        let mut h = http::HeaderMap::new();
        assert_eq!(a.client_kind(&h), None);
        h.insert("authorization", "Bearer sk-ant-oat01-x".parse().unwrap());
        assert_eq!(a.client_kind(&h), Some(Kind::OAuth));
        // anthropic-python 2.x sends keys (and placeholders) as bearer tokens too.
        h.insert(
            "authorization",
            "Bearer sk-ant-placeholder".parse().unwrap(),
        );
        assert_eq!(a.client_kind(&h), Some(Kind::ApiKey));
        h.remove("authorization");
        h.insert("x-api-key", "sk-ant-api03-x".parse().unwrap());
        assert_eq!(a.client_kind(&h), Some(Kind::ApiKey));
    }

    #[test]
    fn api_keys_go_only_on_each_providers_api_surface() {
        let r = Registry::new(builtin());
        let key = |id: &str, path: &str| r.by_id(id).unwrap().covers(path, Kind::ApiKey);
        for (id, inside, outside) in [
            ("openai", "/v1/chat/completions", "/backend-api/me"),
            ("anthropic", "/v1/messages", "/api/event_logging/batch"),
            ("anthropic", "/v1/models", "/api/claude_code/settings"),
            (
                "anthropic",
                "/v1/messages/count_tokens",
                "/mcp-registry/v0/servers",
            ),
            (
                "google",
                "/v1beta/models/g:generateContent",
                "/$discovery/rest",
            ),
            ("google", "/upload/v1beta/files", "/v1betax/models"),
            (
                "openrouter",
                "/api/v1/chat/completions",
                "/api/frontend/stats",
            ),
            (
                "groq",
                "/openai/v1/chat/completions",
                "/v1/chat/completions",
            ),
            ("xai", "/v1/chat/completions", "/api/x"),
            ("mistral", "/v1/chat/completions", "/x"),
            ("deepseek", "/chat/completions", "/chat/completionsX"),
            ("deepseek", "/beta/completions", "/admin"),
            ("cerebras", "/v1/chat/completions", "/"),
            ("together", "/v1/chat/completions", "/api/x"),
            ("fireworks", "/inference/v1/chat/completions", "/account"),
            ("zai", "/api/paas/v4/chat/completions", "/api/monitor/usage"),
            ("zai", "/api/anthropic/v1/messages", "/"),
            ("moonshot", "/v1/chat/completions", "/api/x"),
            ("kimi-coding", "/coding/v1/messages", "/v1/messages"),
            ("vercel-ai-gateway", "/v1/chat/completions", "/"),
            ("vercel-ai-gateway", "/v1/messages", "/api/x"),
            ("opencode", "/zen/v1/chat/completions", "/zen/"),
            ("opencode", "/zen/go/v1/messages", "/auth"),
            ("opencode", "/zen/v1/models", "/zen/go/"),
            ("minimax", "/anthropic/v1/messages", "/anthropicX"),
            ("minimax", "/v1/chat/completions", "/"),
            ("minimax-cn", "/anthropic/v1/messages", "/x"),
            ("xiaomi", "/v1/chat/completions", "/console"),
            ("xiaomi-token-plan-cn", "/anthropic/v1/messages", "/"),
            ("xiaomi-token-plan-ams", "/v1/models", "/"),
            ("xiaomi-token-plan-sgp", "/v1/chat/completions", "/"),
            ("kilo", "/api/gateway/chat/completions", "/api/profile"),
            (
                "kilo",
                "/api/openrouter/chat/completions",
                "/api/device-auth/codes",
            ),
        ] {
            assert!(key(id, inside), "{id}: {inside} is its API");
            assert!(!key(id, outside), "{id}: {outside} is not");
        }
        // Dot segments and encoded separators could leave the prefix once the provider
        // normalises the path: never in scope.
        for p in [
            "/v1/../api/x",
            "/v1/./x",
            "/v1/%2e%2e/api",
            "/v1%2Fmessages",
            "/v1/\\x",
        ] {
            assert!(!key("anthropic", p), "{p}");
        }
        // Subscription-only providers take no keys anywhere.
        assert!(!key("openai-codex", "/backend-api/codex/responses"));
        assert!(!key("github-copilot", "/chat/completions"));
        assert!(key("huggingface", "/together/v1/chat/completions"));
        assert!(r.by_id("openai").is_some_and(|p| !p.allow_http));
    }

    #[test]
    fn cloudflare_swaps_only_ai_paths_and_rewrites_the_account() {
        let r = Registry::new(builtin());
        let cf = r.by_id("cloudflare-workers-ai").unwrap();
        let p = "/client/v4/accounts/abc123/ai/v1/chat/completions";
        assert!(cf.covers(p, Kind::ApiKey));
        assert!(!cf.covers("/client/v4/accounts/abc123/workers/scripts", Kind::ApiKey));
        assert!(!cf.covers("/client/v4/zones", Kind::ApiKey));
        assert_eq!(
            cf.rewrite_path(p, Some("mine")).unwrap(),
            "/client/v4/accounts/mine/ai/v1/chat/completions"
        );
    }

    #[test]
    fn kinds_name_themselves_as_the_config_does() {
        assert_eq!(Kind::ApiKey.as_str(), "api_key");
        assert_eq!(Kind::OAuth.as_str(), "oauth");
    }

    #[test]
    fn a_subscription_only_provider_reads_every_request_as_oauth() {
        let r = Registry::new(builtin());
        let none = http::HeaderMap::new();
        let codex = r.by_id("openai-codex").unwrap();
        assert_eq!(codex.client_kind(&none), Some(Kind::OAuth));
        let openai = r.by_id("openai").unwrap();
        assert_eq!(openai.client_kind(&none), Some(Kind::ApiKey));
    }

    #[test]
    fn only_an_account_path_provider_needs_an_account_id() {
        let r = Registry::new(builtin());
        assert!(r.by_id("cloudflare-workers-ai").unwrap().needs_account_id());
        assert!(!r.by_id("openai").unwrap().needs_account_id());
        assert_eq!(
            r.by_id("openai")
                .unwrap()
                .rewrite_path("/v1/models", Some("x")),
            None
        );
    }

    #[test]
    fn an_encoded_backslash_is_no_plain_path() {
        let r = Registry::new(builtin());
        assert!(!r
            .by_id("anthropic")
            .unwrap()
            .covers("/v1%5c..%5capi/x", Kind::ApiKey));
    }

    #[test]
    fn a_config_entry_replaces_a_builtin_id_and_its_hosts() {
        let mut r = Registry::new(builtin());
        let ids: Vec<&str> = r.ids().collect();
        assert_eq!(ids.first(), Some(&"openai"));
        assert_eq!(ids.len(), builtin().len());
        assert!(r.hosts().any(|h| h == "api.openai.com"));
        let mut mine = r.by_id("openai").unwrap().as_ref().clone();
        mine.hosts = vec!["OpenAI.Internal.Example".into()];
        r.insert(mine);
        assert_eq!(
            r.ids().filter(|i| *i == "openai").count(),
            1,
            "replaced, not added"
        );
        assert!(
            r.for_host("api.openai.com").is_none(),
            "the old host is gone"
        );
        assert_eq!(r.for_host("openai.internal.example").unwrap().id, "openai");
        assert!(r.hosts().any(|h| h == "openai.internal.example"));
        assert!(!r.hosts().any(|h| h == "api.openai.com"));
    }

    /// A Kilo login's token is a key of the gateway's own kind: either kind of account
    /// serves a request, on the gateway's paths only. Cline takes its logins alone, with
    /// the `workos:` prefix its spec names.
    #[test]
    fn kilo_serves_both_kinds_below_its_bases_and_cline_only_logins() {
        let r = Registry::new(builtin());
        let kilo = r.for_host("api.kilo.ai").unwrap();
        assert_eq!(kilo.id, "kilo");
        assert_eq!(r.for_host("kilocode.ai").unwrap().id, "kilo");
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer client-kilo-key".parse().unwrap());
        assert_eq!(kilo.client_kind(&h), None, "either kind serves it");
        for k in [Kind::OAuth, Kind::ApiKey] {
            assert!(kilo.covers("/api/gateway/chat/completions", k), "{k:?}");
            assert!(kilo.covers("/api/openrouter/models", k), "{k:?}");
            assert!(!kilo.covers("/api/profile", k), "{k:?}");
            assert!(!kilo.covers("/api/gateway/../profile", k), "{k:?}");
        }
        let cline = r.for_host("api.cline.bot").unwrap();
        assert_eq!(cline.client_kind(&h), Some(Kind::OAuth));
        assert!(cline.covers("/api/v1/chat/completions", Kind::OAuth));
        assert!(!cline.covers("/api/v1/users/me", Kind::OAuth));
        assert!(!cline.covers("/api/v1/chat/completions", Kind::ApiKey));
    }

    /// Each table provider of issue 12 answers on its own host(s), and its key travels in
    /// the form the table names.
    #[test]
    fn the_gateway_and_plan_providers_sit_on_their_hosts() {
        let r = Registry::new(builtin());
        for (host, id, auth) in [
            (
                "ai-gateway.vercel.sh",
                "vercel-ai-gateway",
                AuthScheme::BearerOrXApiKey,
            ),
            ("opencode.ai", "opencode", AuthScheme::Bearer),
            ("api.minimax.io", "minimax", AuthScheme::BearerOrXApiKey),
            (
                "api.minimaxi.com",
                "minimax-cn",
                AuthScheme::BearerOrXApiKey,
            ),
            ("api.xiaomimimo.com", "xiaomi", AuthScheme::Bearer),
            (
                "token-plan-cn.xiaomimimo.com",
                "xiaomi-token-plan-cn",
                AuthScheme::Bearer,
            ),
            (
                "token-plan-ams.xiaomimimo.com",
                "xiaomi-token-plan-ams",
                AuthScheme::Bearer,
            ),
            (
                "token-plan-sgp.xiaomimimo.com",
                "xiaomi-token-plan-sgp",
                AuthScheme::Bearer,
            ),
        ] {
            let p = r.for_host(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!((p.id.as_str(), &p.auth), (id, &auth), "{host}");
            assert!(p.oauth.is_none() && !p.allow_http, "{id}");
        }
        assert_eq!(canonical_id("opencode-go"), "opencode");
        assert_eq!(canonical_id("opencode"), "opencode");
        assert_eq!(canonical_id("groq"), "groq");
        assert!(r.by_id(canonical_id("opencode-go")).is_some());
    }
}
