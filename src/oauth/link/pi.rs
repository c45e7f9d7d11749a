//! pi's `auth.json`: a map from provider id to `{"type":"oauth","refresh","access",
//! "expires"(ms),…extras}` or `{"type":"api_key","key"}`. pi's ids are keypool's, so an
//! account of flavor F uses the entry `F.provider_id()`. keypool owns refresh, access and
//! expires of that one entry; the extras (accountId, projectId, enterpriseUrl, email)
//! are read as identity and left alone.

use super::{epoch_ms, expose, secret, string};
use crate::oauth::tokens::to_epoch_ms;
use crate::oauth::{Identity, Tokens};
use crate::providers::Flavor;
use serde_json::Value;

pub(super) fn detect(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.values().any(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("oauth" | "api_key")
            )
        })
    })
}

fn entry(v: &Value, flavor: Flavor) -> Result<&Value, String> {
    let id = flavor.provider_id();
    let e = v.get(id).ok_or_else(|| format!("no '{id}' entry"))?;
    if e.get("type").and_then(Value::as_str) != Some("oauth") {
        return Err(format!("the '{id}' entry is not an oauth login"));
    }
    Ok(e)
}

pub(super) fn read(v: &Value, flavor: Flavor) -> Result<Tokens, String> {
    let e = entry(v, flavor)?;
    let access = string(e, "access");
    let refresh = string(e, "refresh");
    if access.is_none() && refresh.is_none() {
        return Err(format!(
            "the '{}' entry has no refresh or access",
            flavor.provider_id()
        ));
    }
    Ok(Tokens {
        access: secret(access),
        refresh: secret(refresh),
        expires_at: epoch_ms(e, "expires"),
        id_token: None,
        identity: identity(e),
    })
}

/// What pi's extras say about the account.
fn identity(e: &Value) -> Identity {
    Identity {
        account_id: string(e, "accountId"),
        email: string(e, "email"),
        project: string(e, "projectId"),
        domain: string(e, "enterpriseUrl").map(|u| bare_host(&u)),
        plan: None,
        device_id: None,
        organization_id: None,
    }
}

/// pi stores the enterprise URL as the user typed it (`https://ghe.example.com/` or a
/// bare host); keypool's domain is the bare host.
fn bare_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

pub(super) fn write(v: &mut Value, tokens: &Tokens, flavor: Flavor) -> Result<(), String> {
    entry(v, flavor)?;
    let e = v
        .get_mut(flavor.provider_id())
        .and_then(Value::as_object_mut)
        .ok_or("the entry is not an object")?;
    if let Some(r) = expose(&tokens.refresh) {
        e.insert("refresh".into(), r.into());
    }
    if let Some(a) = expose(&tokens.access) {
        e.insert("access".into(), a.into());
    }
    if let Some(at) = tokens.expires_at {
        e.insert("expires".into(), to_epoch_ms(at).into());
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
  "anthropic": {"type": "oauth", "refresh": "ant-r", "access": "ant-a", "expires": 1760000000000},
  "openai-codex": {"type": "oauth", "refresh": "cdx-r", "access": "cdx-a", "expires": 1760000000001, "accountId": "acc-9"},
  "github-copilot": {"type": "oauth", "refresh": "gho_x", "access": "tid=1;exp=2", "expires": 1760000000002, "enterpriseUrl": "https://ghe.example.com/"},
  "google-gemini-cli": {"type": "oauth", "refresh": "g-r", "access": "g-a", "expires": 1760000000003, "projectId": "proj-7", "email": "g@example.com"},
  "openrouter": {"type": "api_key", "key": "sk-or-secret"}
}"#;

    #[test]
    fn reads_the_entry_of_the_flavor_with_its_extras() {
        let (_d, p) = file("auth.json", FILE);
        let t = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap();
        assert_eq!(reveal(&t.refresh), Some("cdx-r"));
        assert_eq!(t.identity.account_id.as_deref(), Some("acc-9"));
        let t = Linked::open(&p, Flavor::Copilot).unwrap().read().unwrap();
        assert_eq!(reveal(&t.refresh), Some("gho_x"));
        assert_eq!(t.identity.domain.as_deref(), Some("ghe.example.com"));
        let t = Linked::open(&p, Flavor::GeminiCli).unwrap().read().unwrap();
        assert_eq!(t.identity.project.as_deref(), Some("proj-7"));
        assert_eq!(t.identity.email.as_deref(), Some("g@example.com"));
    }

    #[test]
    fn write_back_touches_one_entry_and_keeps_mode() {
        let (_d, p) = file("auth.json", FILE);
        let l = Linked::open(&p, Flavor::Anthropic).unwrap();
        l.write_back(&fresh(Identity::default())).unwrap();
        let v = json(&p);
        assert_eq!(v["anthropic"]["refresh"], "new-refresh");
        assert_eq!(v["anthropic"]["access"], "new-access");
        assert_eq!(v["anthropic"]["expires"], 1_800_000_000_000_i64);
        assert_eq!(v["anthropic"]["type"], "oauth");
        assert_eq!(v["openai-codex"]["refresh"], "cdx-r");
        assert_eq!(v["openai-codex"]["accountId"], "acc-9");
        assert_eq!(v["openrouter"]["key"], "sk-or-secret");
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn a_missing_or_empty_entry_is_a_clear_error() {
        let (_d, p) = file(
            "auth.json",
            r#"{"openrouter":{"type":"api_key","key":"sk-or-secret"},"anthropic":{"type":"oauth","expires":1}}"#,
        );
        let e = Linked::open(&p, Flavor::Codex).unwrap().read().unwrap_err();
        assert_clear_error(&e, &p, &["sk-or-secret"]);
        assert!(e.0.contains("no 'openai-codex' entry"), "{e}");
        let e = Linked::open(&p, Flavor::Anthropic)
            .unwrap()
            .read()
            .unwrap_err();
        assert_clear_error(&e, &p, &["sk-or-secret"]);
        assert!(e.0.contains("no refresh or access"), "{e}");
    }
}
