//! Codex's `auth.json`: `{"auth_mode"?, "OPENAI_API_KEY":null|"sk-…", "tokens":
//! {"id_token","access_token","refresh_token","account_id"}, "last_refresh":"RFC3339", …}`.
//! Expiry, plan, account id and email are claims of the JWTs, not fields of the file.
//! keypool owns the four token fields and `last_refresh`.

use super::{expose, secret, string};
use crate::oauth::tokens::from_epoch_secs;
use crate::oauth::{jwt, Identity, Tokens};
use serde_json::Value;

pub(super) fn detect(v: &Value) -> bool {
    v.get("tokens").is_some() || v.get("OPENAI_API_KEY").is_some() || v.get("auth_mode").is_some()
}

pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    let t = v
        .get("tokens")
        .filter(|t| t.is_object())
        .ok_or("no ChatGPT login (tokens is missing; the file may be in API-key mode)")?;
    let access = string(t, "access_token");
    let refresh = string(t, "refresh_token");
    if access.is_none() && refresh.is_none() {
        return Err("tokens has no access_token or refresh_token".into());
    }
    let id_token = string(t, "id_token");
    let access_claims = access.as_deref().and_then(jwt::claims);
    let id_claims = id_token.as_deref().and_then(jwt::claims);
    // Either token may carry a claim; the access token is the one requests use.
    let claim = |f: fn(&Value) -> Option<String>| {
        access_claims
            .as_ref()
            .and_then(f)
            .or_else(|| id_claims.as_ref().and_then(f))
    };
    let identity = Identity {
        account_id: string(t, "account_id").or_else(|| claim(jwt::chatgpt_account_id)),
        email: id_claims
            .as_ref()
            .and_then(jwt::email)
            .or_else(|| access_claims.as_ref().and_then(jwt::email)),
        plan: claim(jwt::chatgpt_plan),
        ..Identity::default()
    };
    Ok(Tokens {
        expires_at: access_claims
            .as_ref()
            .and_then(jwt::expiry)
            .and_then(from_epoch_secs),
        access: secret(access),
        refresh: secret(refresh),
        id_token: secret(id_token),
        identity,
    })
}

pub(super) fn write(v: &mut Value, tokens: &Tokens) -> Result<(), String> {
    let root = v.as_object_mut().ok_or("not a JSON object")?;
    let t = root
        .get_mut("tokens")
        .and_then(Value::as_object_mut)
        .ok_or("no ChatGPT login to update (tokens is missing)")?;
    if let Some(a) = expose(&tokens.access) {
        t.insert("access_token".into(), a.into());
    }
    if let Some(r) = expose(&tokens.refresh) {
        t.insert("refresh_token".into(), r.into());
    }
    if let Some(i) = expose(&tokens.id_token) {
        t.insert("id_token".into(), i.into());
    }
    let account = tokens.identity.account_id.clone().or_else(|| {
        expose(&tokens.access)
            .and_then(jwt::claims)
            .as_ref()
            .and_then(jwt::chatgpt_account_id)
    });
    if let Some(id) = account {
        t.insert("account_id".into(), id.into());
    }
    // Codex refreshes proactively when last_refresh is 8 days old; keypool just did.
    root.insert("last_refresh".into(), now_rfc3339().into());
    Ok(())
}

/// Now as Codex writes it: RFC 3339, UTC, milliseconds, `Z`.
fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testing::*;
    use super::super::Linked;
    use crate::oauth::Identity;
    use crate::providers::Flavor;
    use base64::Engine;

    /// An unsigned JWT with `payload` as its claims.
    pub fn jwt(payload: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"none"}"#), enc(payload))
    }

    fn file_text() -> String {
        let access = jwt(concat!(
            r#"{"exp":1760000000,"https://api.openai.com/auth":"#,
            r#"{"chatgpt_account_id":"acc-1","chatgpt_plan_type":"pro"}}"#
        ));
        let id = jwt(r#"{"email":"me@example.com"}"#);
        format!(
            concat!(
                r#"{{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{{"id_token":"{id}","#,
                r#""access_token":"{access}","refresh_token":"rt-old","account_id":"acc-1"}},"#,
                r#""last_refresh":"2026-05-01T12:34:56.789Z","agent_identity":null}}"#
            ),
            id = id,
            access = access
        )
    }

    #[test]
    fn reads_tokens_and_claims() {
        let (_d, p) = file("auth.json", &file_text());
        let t = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap();
        assert_eq!(reveal(&t.refresh), Some("rt-old"));
        assert!(reveal(&t.id_token).is_some());
        assert_eq!(
            t.expires_at,
            crate::oauth::tokens::from_epoch_secs(1_760_000_000)
        );
        assert_eq!(t.identity.account_id.as_deref(), Some("acc-1"));
        assert_eq!(t.identity.plan.as_deref(), Some("pro"));
        assert_eq!(t.identity.email.as_deref(), Some("me@example.com"));
    }

    #[test]
    fn write_back_keeps_unknown_fields_and_mode() {
        let (_d, p) = file("auth.json", &file_text());
        let l = Linked::open(&p, Flavor::Codex).unwrap();
        let mut t = fresh(Identity::default());
        // An hour ahead: further than keypool keeps an expiry would read back as unknown.
        let exp = crate::bounds::to_epoch_secs(std::time::SystemTime::now()) + 3600;
        t.access = Some(
            jwt(&format!(
                r#"{{"exp":{exp},"https://api.openai.com/auth":{{"chatgpt_account_id":"acc-1"}}}}"#
            ))
            .into(),
        );
        l.write_back(&t).unwrap();
        let v = json(&p);
        assert_eq!(v["tokens"]["refresh_token"], "new-refresh");
        assert_eq!(v["tokens"]["account_id"], "acc-1");
        assert!(
            v["tokens"]["id_token"].as_str().unwrap().contains('.'),
            "an id_token the refresh did not replace is kept"
        );
        assert_eq!(v["auth_mode"], "chatgpt");
        assert!(v["OPENAI_API_KEY"].is_null());
        assert!(v["agent_identity"].is_null());
        let last = v["last_refresh"].as_str().unwrap();
        assert!(
            last.len() == 24 && last.ends_with('Z') && last.as_bytes()[19] == b'.',
            "{last}"
        );
        assert_ne!(last, "2026-05-01T12:34:56.789Z");
        assert_eq!(mode(&p), 0o600);
        let again = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap();
        assert_eq!(
            again.expires_at,
            crate::oauth::tokens::from_epoch_secs(exp as i64)
        );
    }

    #[test]
    fn api_key_mode_is_a_clear_error() {
        let (_d, p) = file(
            "auth.json",
            r#"{"OPENAI_API_KEY":"sk-proj-secret","tokens":null}"#,
        );
        let e = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap_err();
        assert_clear_error(&e, &p, &["sk-proj-secret"]);
        assert!(
            e.0.contains("API-key mode") && e.0.contains("codex login"),
            "{e}"
        );
        let (_d, p) = file("auth.json", r#"{"tokens":{"id_token":"x.y.z"}}"#);
        let e = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap_err();
        assert_clear_error(&e, &p, &["x.y.z"]);
    }
}
