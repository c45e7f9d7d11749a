//! The flavor-specific steps of a subscription login, as named capabilities of its spec.
//! `OAuthAccount` runs them in one fixed order, without asking which vendor it serves:
//! 1. `exchange`: trade the login's long-lived token for a short-lived API token, whose
//!    answer also names the account's API base (Copilot); a login without one refreshes
//!    its access token instead;
//! 2. `discover_project`: once, ask what the account's requests must name (Code Assist's
//!    Cloud project);
//! 3. per request, `edit_headers` and `edit_body` put the account-bound values in.

use super::endpoint::{self, CopilotToken, TokenError};
use super::{edit, Flavor, Identity};
use crate::upstream::Upstream;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::HeaderMap;
use secrecy::SecretString;

/// Trades the login's token (on GitHub `domain`, if any) for an API token.
pub type Exchange = for<'a> fn(
    &'a Upstream,
    &'a SecretString,
    Option<&'a str>,
) -> BoxFuture<'a, Result<CopilotToken, TokenError>>;

/// Asks, with an access token, for the project the account's requests must name.
pub type Discover =
    for<'a> fn(&'a Upstream, &'a SecretString) -> BoxFuture<'a, Result<String, TokenError>>;

/// What one flavor does beyond redeeming a refresh token.
pub struct Steps {
    pub exchange: Option<Exchange>,
    pub discover_project: Option<Discover>,
    /// Account-bound headers (the token itself is set by the auth scheme).
    pub edit_headers: fn(&mut HeaderMap, &Identity),
    /// The body with its account-bound value replaced; `None` when nothing changes.
    pub edit_body: fn(&Bytes, &Identity) -> Option<Bytes>,
}

const ANTHROPIC: Steps = Steps {
    exchange: None,
    discover_project: None,
    edit_headers: edit::anthropic_headers,
    edit_body: edit::anthropic_body,
};
const CODEX: Steps = Steps {
    exchange: None,
    discover_project: None,
    edit_headers: edit::codex_headers,
    edit_body: edit::no_body_edit,
};
const COPILOT: Steps = Steps {
    exchange: Some(copilot_exchange),
    discover_project: None,
    edit_headers: edit::no_header_edit,
    edit_body: edit::no_body_edit,
};
const GEMINI_CLI: Steps = Steps {
    exchange: None,
    discover_project: Some(code_assist_project),
    edit_headers: edit::no_header_edit,
    edit_body: edit::gemini_body,
};

impl Flavor {
    /// The steps of this flavor's logins.
    pub fn steps(self) -> &'static Steps {
        match self {
            Flavor::Anthropic => &ANTHROPIC,
            Flavor::Codex => &CODEX,
            Flavor::Copilot => &COPILOT,
            Flavor::GeminiCli => &GEMINI_CLI,
        }
    }
}

fn copilot_exchange<'a>(
    upstream: &'a Upstream,
    github_token: &'a SecretString,
    domain: Option<&'a str>,
) -> BoxFuture<'a, Result<CopilotToken, TokenError>> {
    Box::pin(endpoint::copilot_token(upstream, github_token, domain))
}

fn code_assist_project<'a>(
    upstream: &'a Upstream,
    access: &'a SecretString,
) -> BoxFuture<'a, Result<String, TokenError>> {
    Box::pin(endpoint::code_assist_project(upstream, access))
}
