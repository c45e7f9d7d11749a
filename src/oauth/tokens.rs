//! One account's tokens and what is known about whose they are.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The tokens of one OAuth account. For GitHub Copilot `refresh` is the long-lived GitHub
/// token and `access` the short-lived Copilot token (absent until first exchanged).
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: Option<SecretString>,
    pub refresh: Option<SecretString>,
    /// When `access` expires; `None` when unknown (then only a 401 triggers a refresh).
    pub expires_at: Option<SystemTime>,
    /// An OpenID id token, kept only so a linked Codex file stays complete.
    pub id_token: Option<SecretString>,
    pub identity: Identity,
}

/// Who the tokens belong to, as far as the credential file, the token response or the
/// JWT claims tell. None of it is secret; all of it is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// ChatGPT account id (Codex `ChatGPT-Account-ID`) or Anthropic account UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Subscription plan: `max`, `pro`, `plus`, `business`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Google Cloud project of a Code Assist account (the body's `project`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// GitHub Enterprise domain of a Copilot account; `None` means github.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The device a Kimi login was made from (`X-Msh-Device-Id`): made once per account
    /// at login, sent on every call of it, like a credential of the account's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The organization a Kilo account's requests are billed to: the account's
    /// `organization_id` in the config, which alone says it (never saved with the tokens).
    #[serde(skip)]
    pub organization_id: Option<String>,
}

impl Identity {
    /// Fills fields this one lacks from `other`; known values are kept.
    pub fn merge(&mut self, other: &Identity) {
        let fill = |a: &mut Option<String>, b: &Option<String>| {
            if a.is_none() {
                a.clone_from(b);
            }
        };
        fill(&mut self.account_id, &other.account_id);
        fill(&mut self.email, &other.email);
        fill(&mut self.plan, &other.plan);
        fill(&mut self.project, &other.project);
        fill(&mut self.domain, &other.domain);
        fill(&mut self.device_id, &other.device_id);
        fill(&mut self.organization_id, &other.organization_id);
    }
}

impl Tokens {
    /// Whether the access token is missing or expires within `margin` of `now`.
    pub fn stale(&self, now: SystemTime, margin: Duration) -> bool {
        match (&self.access, self.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(at)) => at <= now.checked_add(margin).unwrap_or(now),
        }
    }
}

/// Epoch milliseconds, as Claude Code, pi and google-auth-library store expiries; `None`
/// before 1970 or beyond what the platform represents (never a panic).
pub fn from_epoch_ms(ms: i64) -> Option<SystemTime> {
    crate::bounds::epoch_millis(ms)
}

pub fn to_epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Epoch seconds (a JWT `exp`); checked as [`from_epoch_ms`].
pub fn from_epoch_secs(s: i64) -> Option<SystemTime> {
    crate::bounds::epoch_secs_i64(s)
}

/// A saved expiry further out than [`crate::bounds::MAX_TOKEN_EXPIRY`] is unknown rather
/// than trusted: with an unknown expiry a token is refreshed when the provider refuses
/// it. Whether one was dropped, for the caller to warn.
pub fn drop_absurd_expiry(tokens: &mut Tokens, now: SystemTime) -> bool {
    let absurd = tokens
        .expires_at
        .is_some_and(|at| !crate::bounds::sane_token_expiry(at, now));
    if absurd {
        tokens.expires_at = None;
    }
    absurd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_with_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = |exp: Option<u64>| Tokens {
            access: Some("a".to_string().into()),
            refresh: None,
            expires_at: exp.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            id_token: None,
            identity: Identity::default(),
        };
        let m = Duration::from_secs(300);
        assert!(!t(Some(1_000_301)).stale(now, m));
        assert!(t(Some(1_000_300)).stale(now, m));
        assert!(
            !t(None).stale(now, m),
            "unknown expiry: only a 401 refreshes"
        );
        assert_eq!(
            to_epoch_ms(from_epoch_ms(1_760_000_000_123).unwrap()),
            1_760_000_000_123
        );
    }
}
