//! The credential one attempt sends: a key, or a subscription token fetched (and
//! refreshed) for it.

use super::*;

/// How long an OAuth account sits out when its token endpoint fails for a while.
const TOKEN_ENDPOINT_COOLDOWN: Duration = Duration::from_secs(30);

/// The credential one attempt sends.
pub(super) enum Cred {
    Key(SecretString),
    OAuth(Access),
    /// IAM credentials: the request is signed with them right before it is sent.
    Aws(crate::sigv4::AwsCredentials),
}

impl Cred {
    pub(super) fn edit_body(&self, body: &bytes::Bytes) -> Option<bytes::Bytes> {
        match self {
            Cred::Key(_) | Cred::Aws(_) => None,
            Cred::OAuth(a) => a.edit_body(body),
        }
    }
}

pub(super) fn ctx(state: &State) -> Ctx<'_> {
    Ctx {
        upstream: &state.upstream,
        clock: &*state.clock,
        store: &state.store,
    }
}

/// The account's credential for this attempt; `None` (and the account set aside) when it
/// has none now.
pub(super) async fn credential(account: &Account, state: &State) -> Option<Cred> {
    match &account.credential {
        Credential::Key(k) => k.clone().map(Cred::Key),
        Credential::Aws(c) => c.clone().map(Cred::Aws),
        Credential::OAuth(o) => match o.access(&ctx(state)).await {
            Ok(a) => Some(Cred::OAuth(a)),
            Err(e) => {
                give_up(account, e, state);
                None
            }
        },
    }
}

pub(super) fn give_up(account: &Account, e: AccessError, state: &State) {
    match e {
        AccessError::NeedsLogin(reason) => account.disable(reason),
        AccessError::Ended(outcome) => account.end(&outcome, state.clock.now()),
        AccessError::Unavailable(reason) => {
            tracing::warn!(account = %account.name, "cannot get a token now: {reason}");
            account.cool(TOKEN_ENDPOINT_COOLDOWN, state.clock.now(), reason);
        }
    }
}
