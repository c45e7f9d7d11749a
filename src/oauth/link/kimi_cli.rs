//! kimi-cli's `~/.kimi/credentials/kimi-code.json`: `{"access_token","refresh_token",
//! "expires_at"(epoch seconds, a float),"scope","token_type"}`. keypool owns the two
//! tokens and `expires_at`; scope and token_type are left alone. kimi-cli keeps its device
//! id beside the credentials (`~/.kimi/device_id`): a login linked here is that device.

use super::{expose, secret, string};
use crate::oauth::{Identity, Tokens};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// kimi-cli's file has `expires_at` where gemini-cli's has `expiry_date`.
pub(super) fn detect(v: &Value) -> bool {
    v.get("expires_at").is_some()
        && v.get("expiry_date").is_none()
        && ["access_token", "refresh_token", "token_type", "scope"]
            .iter()
            .any(|k| v.get(k).is_some())
}

pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    let access = string(v, "access_token");
    let refresh = string(v, "refresh_token");
    if access.is_none() && refresh.is_none() {
        return Err("no access_token or refresh_token".into());
    }
    Ok(Tokens {
        access: secret(access),
        refresh: secret(refresh),
        // 0 (kimi-cli's "unknown") and what is not a number read as unknown: the token
        // is then refreshed when Kimi refuses it.
        expires_at: v["expires_at"]
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e11)
            .map(|s| UNIX_EPOCH + Duration::from_secs_f64(s)),
        id_token: None,
        identity: Identity::default(),
    })
}

pub(super) fn write(v: &mut Value, tokens: &Tokens) -> Result<(), String> {
    let m = v.as_object_mut().ok_or("not a JSON object")?;
    if let Some(a) = expose(&tokens.access) {
        m.insert("access_token".into(), a.into());
    }
    if let Some(r) = expose(&tokens.refresh) {
        m.insert("refresh_token".into(), r.into());
    }
    if let Some(at) = tokens.expires_at {
        let secs = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // The same instant as the file has it (keypool keeps expiries to the
        // microsecond, kimi-cli writes more digits) is left as kimi-cli wrote it.
        let same = (m.get("expires_at").and_then(Value::as_f64))
            .is_some_and(|was| (was - secs).abs() < 0.001);
        if !same {
            m.insert("expires_at".into(), secs.into());
        }
    }
    Ok(())
}

/// The device id kimi-cli keeps two levels up from its credentials file, when it is one
/// (a short run of hex digits; anything else is not trusted).
pub(super) fn device_id(credentials: &Path) -> Option<String> {
    let dir = credentials.parent()?.parent()?;
    let text = std::fs::read_to_string(dir.join("device_id")).ok()?;
    let id = text.trim();
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| id.to_string())
}

/// Now as kimi-cli writes it, for tests.
#[cfg(test)]
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Linked;
    use super::now_secs;
    use crate::oauth::Identity;
    use crate::providers::Flavor;

    #[test]
    fn reads_and_writes_back_its_own_fields_with_the_device() {
        let at = now_secs() + 900.5;
        let text = format!(
            r#"{{"access_token":"k-a","refresh_token":"k-r","expires_at":{at},"scope":"kimi-code","token_type":"Bearer"}}"#
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("credentials")).unwrap();
        let p = d.path().join("credentials/kimi-code.json");
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o600);
        std::fs::write(
            d.path().join("device_id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        let l = Linked::open(&p, Flavor::Kimi).unwrap();
        let t = l.read().unwrap();
        assert_eq!(reveal(&t.access), Some("k-a"));
        assert_eq!(reveal(&t.refresh), Some("k-r"));
        assert!(t.expires_at.is_some());
        assert_eq!(
            t.identity.device_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        l.write_back(&fresh(Identity::default())).unwrap();
        let v = json(&p);
        assert_eq!(v["access_token"], "new-access");
        assert_eq!(v["refresh_token"], "new-refresh");
        assert_eq!(v["expires_at"], 1_800_000_000.0);
        assert_eq!(v["scope"], "kimi-code");
        assert_eq!(mode(&p), 0o600);
        // It holds no other vendor's login.
        assert!(Linked::open(&p, Flavor::GeminiCli).is_err());
    }

    #[test]
    fn missing_fields_are_clear() {
        let (_d, p) = file("kimi-code.json", r#"{"expires_at":0,"scope":"kimi-code"}"#);
        let e = Linked::open(&p, Flavor::Kimi).unwrap().read().unwrap_err();
        assert_clear_error(&e, &p, &[]);
        assert!(e.0.contains("no access_token or refresh_token"), "{e}");
        let (_d, p) = file("kimi-code.json", r#"{"access_token":"a","expires_at":0}"#);
        let t = Linked::open(&p, Flavor::Kimi).unwrap().read().unwrap();
        assert!(t.refresh.is_none() && t.expires_at.is_none());
    }
}
