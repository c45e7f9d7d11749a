//! Reading the claims of a JWT without verifying it: keypool only needs facts the
//! provider put there for its own clients (expiry, ChatGPT account id, plan, email).
//! The provider verifies the signature when the token is used.

use base64::Engine;
use serde_json::Value;

/// The payload of `token` as JSON, or `None` when it is not a JWT.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `exp` in epoch seconds.
pub fn expiry(claims: &Value) -> Option<i64> {
    claims.get("exp")?.as_i64()
}

const OPENAI_AUTH: &str = "https://api.openai.com/auth";

/// ChatGPT account id, from `["https://api.openai.com/auth"].chatgpt_account_id`.
pub fn chatgpt_account_id(claims: &Value) -> Option<String> {
    claims[OPENAI_AUTH]["chatgpt_account_id"]
        .as_str()
        .map(str::to_string)
}

pub fn chatgpt_plan(claims: &Value) -> Option<String> {
    claims[OPENAI_AUTH]["chatgpt_plan_type"]
        .as_str()
        .map(str::to_string)
}

/// `email`, or the OpenAI profile claim's email.
pub fn email(claims: &Value) -> Option<String> {
    claims["email"]
        .as_str()
        .or_else(|| claims["https://api.openai.com/profile"]["email"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_claims() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"none"}"#),
            enc(
                r#"{"exp":1760000000,"https://api.openai.com/auth":{"chatgpt_account_id":"acc-1","chatgpt_plan_type":"pro"},"https://api.openai.com/profile":{"email":"a@b.c"}}"#
            )
        );
        let c = claims(&token).unwrap();
        assert_eq!(expiry(&c), Some(1_760_000_000));
        assert_eq!(chatgpt_account_id(&c).as_deref(), Some("acc-1"));
        assert_eq!(chatgpt_plan(&c).as_deref(), Some("pro"));
        assert_eq!(email(&c).as_deref(), Some("a@b.c"));
        assert!(claims("sk-ant-oat01-abc").is_none());
    }
}

/// Seeded fuzzing: any token text and any `exp` claim reads without a panic, and the
/// expiry converts to an instant only through the checked helpers.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::bounds::fuzz::{config, hostile_value};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(384))]

        #[test]
        fn any_token_and_any_exp(text in "\\PC{0,80}", exp in hostile_value(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = claims(&text);
            let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            for payload in [format!(r#"{{"exp":{exp},"email":"a@b.c"}}"#), format!(r#"{{"exp":"{exp}"}}"#)] {
                let token = format!("{}.{}.sig", enc(b"{}"), enc(payload.as_bytes()));
                if let Some(c) = claims(&token) {
                    let _ = expiry(&c).and_then(crate::oauth::tokens::from_epoch_secs);
                    let _ = (chatgpt_account_id(&c), chatgpt_plan(&c), email(&c));
                }
            }
            let token = format!("a.{}.c", enc(&raw));
            let _ = claims(&token).as_ref().and_then(expiry);
        }
    }
}
