//! The flavor-specific steps of a subscription login, as named capabilities of its spec
//! (`flavor/specs.rs` names each flavor's).
//! `OAuthAccount` runs them in one fixed order, without asking which vendor it serves:
//! 1. `exchange`: trade the login's long-lived token for a short-lived API token, whose
//!    answer also names the account's API base (Copilot); a login without one refreshes
//!    its access token instead;
//! 2. `discover_project`: once, ask what the account's requests must name (Code Assist's
//!    Cloud project);
//! 3. per request, `edit_headers` and `edit_body` put the account-bound values in.

use super::endpoint::{self, CopilotToken, TokenError};
use super::Identity;
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
    /// Account-bound headers on calls to the token endpoint (refresh, device login).
    pub edit_auth_headers: fn(&mut HeaderMap, &Identity),
    /// The body with its account-bound value replaced; `None` when nothing changes.
    pub edit_body: fn(&Bytes, &Identity) -> Option<Bytes>,
}

pub(super) fn copilot_exchange<'a>(
    upstream: &'a Upstream,
    github_token: &'a SecretString,
    domain: Option<&'a str>,
) -> BoxFuture<'a, Result<CopilotToken, TokenError>> {
    Box::pin(endpoint::copilot_token(upstream, github_token, domain))
}

pub(super) fn code_assist_project<'a>(
    upstream: &'a Upstream,
    access: &'a SecretString,
) -> BoxFuture<'a, Result<String, TokenError>> {
    Box::pin(endpoint::code_assist_project(upstream, access))
}
