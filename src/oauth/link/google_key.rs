//! A Google credential file (a service-account key or an application-default login),
//! linked to a `google-vertex` account. keypool only reads it: its tokens come from the
//! key and live in memory, so nothing is ever written back.

use crate::oauth::google_key::GoogleKey;
use crate::oauth::{Identity, Tokens};
use secrecy::SecretString;
use serde_json::Value;

pub(super) fn detect(v: &Value) -> bool {
    GoogleKey::detect(v)
}

/// The file's credential, checked whole now (so a bad key disables its account at start
/// with the field named), carried as the file's text for the exchange step.
pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    let key = GoogleKey::parse(v)?;
    Ok(Tokens {
        access: None,
        refresh: Some(SecretString::from(v.to_string())),
        expires_at: None,
        id_token: None,
        identity: Identity {
            email: key.email().map(str::to_string),
            project: key.project().map(str::to_string),
            ..Identity::default()
        },
    })
}
