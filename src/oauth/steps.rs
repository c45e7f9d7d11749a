//! The flavor-specific steps of a subscription login, as named capabilities of its spec
//! (`flavor/specs.rs` names each flavor's).
//! `OAuthAccount` runs them in one fixed order, without asking which vendor it serves:
//! 1. `exchange`: trade the login's long-lived credential for a short-lived API token
//!    kept in memory, whose answer may also name the account's API base (Copilot's
//!    GitHub token, a Google service-account key); a login without one refreshes its
//!    access token instead;
//! 2. `discover_project`: once, ask what the account's requests must name (Code Assist's
//!    Cloud project);
//! 3. per request, `edit_headers` and `edit_body` put the account-bound values in.

use super::endpoint::{self, ApiToken, TokenError};
use super::Identity;
use crate::upstream::Upstream;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::HeaderMap;
use secrecy::SecretString;
use std::time::SystemTime;

/// Trades the login's long-lived credential (on GitHub `domain`, if any) for an API
/// token, at `now` on keypool's clock.
pub type Exchange = for<'a> fn(
    &'a Upstream,
    &'a SecretString,
    Option<&'a str>,
    SystemTime,
) -> BoxFuture<'a, Result<ApiToken, TokenError>>;

/// The `exchange` step and the words for it in messages.
pub struct ExchangeStep {
    pub run: Exchange,
    /// What the login holds to exchange: "GitHub token".
    pub holds: &'static str,
    /// The log line after a successful exchange.
    pub done: &'static str,
}

/// Asks, with an access token, for the project the account's requests must name.
pub type Discover =
    for<'a> fn(&'a Upstream, &'a SecretString) -> BoxFuture<'a, Result<String, TokenError>>;

/// What one flavor does beyond redeeming a refresh token.
pub struct Steps {
    pub exchange: Option<ExchangeStep>,
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
    _now: SystemTime,
) -> BoxFuture<'a, Result<ApiToken, TokenError>> {
    Box::pin(endpoint::copilot_token(upstream, github_token, domain))
}

pub(super) fn code_assist_project<'a>(
    upstream: &'a Upstream,
    access: &'a SecretString,
) -> BoxFuture<'a, Result<String, TokenError>> {
    Box::pin(endpoint::code_assist_project(upstream, access))
}

/// A Google credential file (its text, as the linked file held it) traded for an access
/// token.
pub(super) fn google_key_exchange<'a>(
    upstream: &'a Upstream,
    key_file: &'a SecretString,
    _domain: Option<&'a str>,
    now: SystemTime,
) -> BoxFuture<'a, Result<ApiToken, TokenError>> {
    Box::pin(async move {
        let key =
            super::google_key::GoogleKey::from_text(secrecy::ExposeSecret::expose_secret(key_file))
                .map_err(|e| TokenError::Permanent(format!("the credential file changed: {e}")))?;
        key.access_token(upstream, now).await
    })
}
