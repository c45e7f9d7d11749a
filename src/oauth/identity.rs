//! Who a token answer says logged in, read the way each vendor says it; a flavor's spec
//! names which reader applies. Only identifiers are read: nothing here keeps a token.

use super::jwt;
use super::Identity;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Anthropic: the answer's `account` object.
pub(super) fn from_account_field(v: &Value, _: &SecretString) -> Identity {
    Identity {
        account_id: v["account"]["uuid"].as_str().map(str::to_string),
        email: v["account"]["email_address"].as_str().map(str::to_string),
        ..Identity::default()
    }
}

/// ChatGPT: the account and plan in the access token's claims, the email in the ID token
/// (else in the access token).
pub(super) fn from_chatgpt_claims(v: &Value, access: &SecretString) -> Identity {
    let claims = jwt::claims(access.expose_secret()).unwrap_or(Value::Null);
    Identity {
        account_id: jwt::chatgpt_account_id(&claims),
        plan: jwt::chatgpt_plan(&claims),
        email: v["id_token"]
            .as_str()
            .and_then(jwt::claims)
            .and_then(|c| jwt::email(&c))
            .or_else(|| jwt::email(&claims)),
        ..Identity::default()
    }
}

/// Google: the email in the ID token.
pub(super) fn from_id_token(v: &Value, _: &SecretString) -> Identity {
    Identity {
        email: v["id_token"]
            .as_str()
            .and_then(jwt::claims)
            .and_then(|c| jwt::email(&c)),
        ..Identity::default()
    }
}

/// GitHub's token answer names nobody (the login asks `GET /user`).
pub(super) fn none(_: &Value, _: &SecretString) -> Identity {
    Identity::default()
}

/// Kilo's device answer (`userEmail`, which keypool's device loop hands over as `email`).
pub(super) fn from_email_field(v: &Value, _: &SecretString) -> Identity {
    Identity {
        email: v["email"].as_str().map(str::to_string),
        ..Identity::default()
    }
}

/// Cline's answer `data`: `userInfo.email` and `userInfo.clineUserId`.
pub(super) fn from_cline_user(v: &Value, _: &SecretString) -> Identity {
    let user = &v["userInfo"];
    Identity {
        email: user["email"].as_str().map(str::to_string),
        account_id: user["clineUserId"].as_str().map(str::to_string),
        ..Identity::default()
    }
}
