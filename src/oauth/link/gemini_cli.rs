//! gemini-cli's `oauth_creds.json`, a dump of google-auth-library's `Credentials`:
//! `{"access_token","refresh_token","scope","token_type","id_token","expiry_date"(ms)}`.
//! keypool owns access_token, expiry_date, id_token, and refresh_token (Google seldom
//! rotates it, so it is written only when a refresh brought a different one).

use super::{epoch_ms, expose, secret, string};
use crate::oauth::tokens::to_epoch_ms;
use crate::oauth::{jwt, Identity, Tokens};
use serde_json::Value;

pub(super) fn detect(v: &Value) -> bool {
    ["access_token", "refresh_token", "expiry_date"]
        .iter()
        .any(|k| v.get(k).is_some())
}

pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    let access = string(v, "access_token");
    let refresh = string(v, "refresh_token");
    if access.is_none() && refresh.is_none() {
        return Err("no access_token or refresh_token".into());
    }
    let id_token = string(v, "id_token");
    Ok(Tokens {
        access: secret(access),
        refresh: secret(refresh),
        expires_at: epoch_ms(v, "expiry_date"),
        identity: Identity {
            email: id_token
                .as_deref()
                .and_then(jwt::claims)
                .as_ref()
                .and_then(jwt::email),
            ..Identity::default()
        },
        id_token: secret(id_token),
    })
}

pub(super) fn write(v: &mut Value, tokens: &Tokens) -> Result<(), String> {
    let m = v.as_object_mut().ok_or("not a JSON object")?;
    if let Some(a) = expose(&tokens.access) {
        m.insert("access_token".into(), a.into());
    }
    if let Some(at) = tokens.expires_at {
        m.insert("expiry_date".into(), to_epoch_ms(at).into());
    }
    if let Some(r) = expose(&tokens.refresh) {
        if m.get("refresh_token").and_then(Value::as_str) != Some(r) {
            m.insert("refresh_token".into(), r.into());
        }
    }
    if let Some(i) = expose(&tokens.id_token) {
        m.insert("id_token".into(), i.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::codex::tests::jwt;
    use super::super::testing::*;
    use super::super::Linked;
    use crate::oauth::Identity;
    use crate::providers::Flavor;

    fn file_text() -> String {
        format!(
            r#"{{"access_token":"ya29.old","refresh_token":"1//g-refresh","scope":"https://www.googleapis.com/auth/cloud-platform openid","token_type":"Bearer","id_token":"{}","expiry_date":1760000000000}}"#,
            jwt(r#"{"email":"g@example.com"}"#)
        )
    }

    #[test]
    fn reads_tokens_and_email() {
        let (_d, p) = file("oauth_creds.json", &file_text());
        let t = Linked::open(&p, Flavor::GeminiCli).unwrap().read().unwrap();
        assert_eq!(reveal(&t.access), Some("ya29.old"));
        assert_eq!(reveal(&t.refresh), Some("1//g-refresh"));
        assert_eq!(t.identity.email.as_deref(), Some("g@example.com"));
        assert_eq!(
            t.expires_at.map(crate::oauth::tokens::to_epoch_ms),
            Some(1_760_000_000_000)
        );
    }

    #[test]
    fn write_back_keeps_unknown_fields_and_mode() {
        let (_d, p) = file("oauth_creds.json", &file_text());
        let l = Linked::open(&p, Flavor::GeminiCli).unwrap();
        let mut t = fresh(Identity::default());
        t.refresh = None; // Google did not rotate it
        l.write_back(&t).unwrap();
        let v = json(&p);
        assert_eq!(v["access_token"], "new-access");
        assert_eq!(v["expiry_date"], 1_800_000_000_000_i64);
        assert_eq!(v["refresh_token"], "1//g-refresh");
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["scope"].as_str().unwrap().contains("cloud-platform"));
        assert!(v["id_token"].as_str().unwrap().contains('.'));
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn missing_tokens_is_a_clear_error() {
        let (_d, p) = file(
            "oauth_creds.json",
            r#"{"expiry_date":1,"scope":"s","id_token":"secret.id.token"}"#,
        );
        let e = Linked::open(&p, Flavor::GeminiCli)
            .unwrap()
            .read()
            .unwrap_err();
        assert_clear_error(&e, &p, &["secret.id.token"]);
        assert!(e.0.contains("no access_token or refresh_token"), "{e}");
    }
}
