//! Providers are data: hosts, how the credential travels, which dialect their errors
//! speak, and which paths carry a credential keypool may swap. The pipeline never
//! branches on a provider's name.

mod auth;
mod aws_error;
mod builtin;
mod classify;
mod eventstream_error;
mod flavor;
mod gateway_keys;
mod place;
pub mod refused;
mod registry;
mod reset;
mod shape;
mod stream_error;
pub mod terminal;

pub use auth::{strip_client_credentials, AuthScheme, CredentialEdit};
pub use aws_error::ERROR_TYPE_HEADER;
pub use builtin::{builtin, canonical_id};
pub use classify::{classify, needs_body, Cause, Outcome, Verdict};
pub use eventstream_error::classify_stream_exception;
pub use flavor::Flavor;
pub use gateway_keys::scheme_for as gateway_key_scheme;
pub use place::{HostFamily, HostPattern, PathTemplate, Place, PlaceKey, Placement, Seg};
pub use registry::Registry;
pub(crate) use reset::parse_proto_duration;
pub use reset::{parse_go_duration, parse_retry_after};
pub use shape::{error_response_body, error_type_header, ErrorKind};
pub use stream_error::{classify_event, is_preamble};

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
    /// Amazon Bedrock (AWS REST-JSON): `{"message"}` with the exception named in the
    /// `x-amzn-errortype` header (or `__type` in the body); exceptions in event streams.
    Bedrock,
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
    /// Paths below the provider's placement path template (Cloudflare's
    /// `/client/v4/accounts/{account_id}/ai/`): its segments become the account's own.
    Placed,
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
    pub paths: OAuthPaths,
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

/// Which request paths an OAuth account's token goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthPaths {
    /// These whole paths.
    Exact(&'static [&'static str]),
    /// A resource under one of `under` called with one of `methods`, Google's
    /// `{resource}:{method}` form: `/v1/projects/p/…/models/m:generateContent`. The
    /// resource names the project and model, so no list of whole paths could hold it.
    Methods {
        under: &'static [&'static str],
        methods: &'static [&'static str],
    },
}

impl OAuthPaths {
    fn contains(&self, path: &str) -> bool {
        match self {
            OAuthPaths::Exact(paths) => oauth_covers(paths, path),
            OAuthPaths::Methods { under, methods } => {
                plain_path(path)
                    && under.iter().any(|p| path.starts_with(p))
                    && path.rsplit_once(':').is_some_and(|(resource, m)| {
                        !resource.contains(':') && methods.contains(&m)
                    })
            }
        }
    }
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
    /// Where each account lives, when it lives somewhere of its own: the host and path
    /// keys a request is rewritten to.
    pub placement: Placement,
    /// Pooled credentials may travel over plain HTTP (a `[[providers]]` entry for a local
    /// server that opted in). Never for a built-in provider.
    pub allow_http: bool,
    /// Paths below which the provider answers in another dialect than its own (Bedrock's
    /// OpenAI- and Anthropic-compatible APIs), longest first.
    pub path_dialects: &'static [(&'static str, Dialect)],
    /// Accounts may be AWS IAM credentials: each request is signed with SigV4 for this
    /// signing name, in the account's region.
    pub sigv4: Option<&'static str>,
}

impl Provider {
    /// The dialect the provider's answers to `path` speak.
    pub fn dialect_for(&self, path: &str) -> Dialect {
        self.path_dialects
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(self.dialect, |(_, d)| *d)
    }

    /// Whether an account of `kind` swaps the credential of a request to `path`. A
    /// placed provider's tokens go only below its path template, as its keys do: a
    /// Vertex call without `locations/{loc}` has no place to rewrite.
    pub fn covers(&self, path: &str, kind: Kind) -> bool {
        match kind {
            Kind::OAuth => {
                self.oauth.as_ref().is_some_and(|o| o.paths.contains(path))
                    && self.placement.path.is_none_or(|t| t.matches(path))
            }
            Kind::ApiKey if self.oauth.as_ref().is_some_and(|o| o.only) => false,
            Kind::ApiKey => match &self.scope {
                Scope::All => true,
                Scope::Prefixes(prefixes) => {
                    plain_path(path) && prefixes.iter().any(|p| under(path, p))
                }
                Scope::Placed => {
                    plain_path(path) && self.placement.path.is_some_and(|t| t.matches(path))
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
}

/// A subscription's paths are whole paths, or prefixes where they end in `/` (a gateway
/// whose every path below its base is inference).
/// An exact path, or (ending in `/`) every plain path below it.
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

#[cfg(test)]
mod tests;
