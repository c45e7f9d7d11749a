//! Claude Code's `.credentials.json`:
//! `{"claudeAiOauth":{"accessToken","refreshToken","expiresAt"(ms),"scopes",
//! "subscriptionType","rateLimitTier",…},"mcpOAuth":{…}}`.
//! keypool owns accessToken, refreshToken and expiresAt; the rest is Claude Code's.

use super::{epoch_ms, expose, secret, string};
use crate::oauth::tokens::to_epoch_ms;
use crate::oauth::{Identity, Tokens};
use serde_json::Value;

const LOGIN: &str = "claudeAiOauth";

pub(super) fn detect(v: &Value) -> bool {
    v.get(LOGIN).is_some()
}

pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    let login = v
        .get(LOGIN)
        .filter(|l| l.is_object())
        .ok_or("claudeAiOauth is not an object")?;
    let access = string(login, "accessToken");
    let refresh = string(login, "refreshToken");
    if access.is_none() && refresh.is_none() {
        return Err("claudeAiOauth has no accessToken or refreshToken".into());
    }
    Ok(Tokens {
        access: secret(access),
        refresh: secret(refresh),
        expires_at: epoch_ms(login, "expiresAt"),
        id_token: None,
        identity: Identity {
            plan: string(login, "subscriptionType"),
            ..Identity::default()
        },
    })
}

pub(super) fn write(v: &mut Value, tokens: &Tokens) -> Result<(), String> {
    let login = v
        .get_mut(LOGIN)
        .and_then(Value::as_object_mut)
        .ok_or("claudeAiOauth is missing")?;
    if let Some(a) = expose(&tokens.access) {
        login.insert("accessToken".into(), a.into());
    }
    if let Some(r) = expose(&tokens.refresh) {
        login.insert("refreshToken".into(), r.into());
    }
    if let Some(at) = tokens.expires_at {
        login.insert("expiresAt".into(), to_epoch_ms(at).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Linked;
    use crate::oauth::Identity;
    use crate::providers::Flavor;

    const FILE: &str = r#"{
  "claudeAiOauth": {
    "accessToken": "sk-ant-oat01-old",
    "refreshToken": "sk-ant-ort01-old",
    "expiresAt": 1760000000000,
    "scopes": ["user:inference", "user:profile"],
    "subscriptionType": "max",
    "rateLimitTier": "default_claude_max_20x",
    "refreshTokenExpiresAt": 1762000000000
  },
  "mcpOAuth": {"server|abc": {"accessToken": "mcp-token"}}
}
"#;

    #[test]
    fn reads_tokens_and_plan() {
        let (_d, p) = file(".credentials.json", FILE);
        let t = Linked::open(&p, Flavor::Anthropic).unwrap().read().unwrap();
        assert_eq!(reveal(&t.access), Some("sk-ant-oat01-old"));
        assert_eq!(reveal(&t.refresh), Some("sk-ant-ort01-old"));
        assert_eq!(
            t.expires_at.map(crate::oauth::tokens::to_epoch_ms),
            Some(1_760_000_000_000)
        );
        assert_eq!(t.identity.plan.as_deref(), Some("max"));
    }

    #[test]
    fn write_back_keeps_unknown_fields_and_mode() {
        let (_d, p) = file(".credentials.json", FILE);
        let l = Linked::open(&p, Flavor::Anthropic).unwrap();
        l.write_back(&fresh(Identity::default())).unwrap();
        let v = json(&p);
        let login = &v["claudeAiOauth"];
        assert_eq!(login["accessToken"], "new-access");
        assert_eq!(login["refreshToken"], "new-refresh");
        assert_eq!(login["expiresAt"], 1_800_000_000_000_i64);
        assert_eq!(login["subscriptionType"], "max");
        assert_eq!(login["rateLimitTier"], "default_claude_max_20x");
        assert_eq!(login["refreshTokenExpiresAt"], 1_762_000_000_000_i64);
        assert_eq!(login["scopes"][1], "user:profile");
        assert_eq!(v["mcpOAuth"]["server|abc"]["accessToken"], "mcp-token");
        assert_eq!(mode(&p), 0o600);
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("}\n"));
    }

    #[test]
    fn missing_tokens_is_a_clear_error() {
        let (_d, p) = file(
            ".credentials.json",
            r#"{"claudeAiOauth":{"subscriptionType":"max"},"mcpOAuth":{"x":{"accessToken":"mcp-secret"}}}"#,
        );
        let e = Linked::open(&p, Flavor::Anthropic)
            .unwrap()
            .read()
            .unwrap_err();
        assert_clear_error(&e, &p, &["mcp-secret", "max"]);
        assert!(e.0.contains("no accessToken or refreshToken"), "{e}");
        assert!(e.0.contains("claude /login"), "{e}");
    }
}
