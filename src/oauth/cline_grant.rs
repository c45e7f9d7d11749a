//! Cline's token answers (cline/cline `ClineAuthProvider`): `{success, data: {accessToken,
//! refreshToken, expiresAt, userInfo}}` from both the code exchange and a refresh, and
//! `{error}` (or `success: false`) when it refuses. `expiresAt` is an RFC 3339 time
//! ("2025-09-17T04:32:24.842636548Z"); a number is read as JavaScript would (epoch
//! milliseconds), checked like every number from outside. The refusal's own words are
//! shown, cut short and stripped of anything that could be a token.

use super::endpoint::{Granted, TokenError};
use crate::providers::Flavor;
use http::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// The longest refusal text quoted to the user.
const REASON_CAP: usize = 160;

pub(super) fn granted(
    flavor: Flavor,
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<Granted, TokenError> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let refused = !status.is_success() || v["success"] == Value::Bool(false);
    if refused {
        let what = match reason(&v) {
            Some(r) => format!("the token endpoint answered {status}: {r}"),
            None => format!("the token endpoint answered {status}"),
        };
        // 400 and 401 are Cline's answers to a spent, revoked or expired refresh token.
        let dead = matches!(status.as_u16(), 400 | 401 | 403) || status.is_success();
        return Err(if dead {
            TokenError::Permanent(what)
        } else {
            TokenError::Transient(what)
        });
    }
    if v.is_null() {
        return Err(TokenError::Transient(
            "the token endpoint answered with something other than JSON".into(),
        ));
    }
    let data = &v["data"];
    let secret = |k: &str| {
        data[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
    };
    let access = secret("accessToken").ok_or_else(|| {
        TokenError::Transient("the token endpoint answered without an access token".into())
    })?;
    let identity = (flavor.spec().identity)(data, &access);
    Ok(Granted {
        access,
        refresh: secret("refreshToken"),
        expires_in: expires_in(&data["expiresAt"], now),
        id_token: None,
        identity,
    })
}

/// How long until `expiresAt`; `None` when it is missing, unreadable, past or absurdly far
/// (then the provider's 401 says when to refresh).
fn expires_in(at: &Value, now: SystemTime) -> Option<Duration> {
    let at = match at {
        Value::String(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()?;
            let nanos = t.unix_timestamp_nanos();
            let ms = i64::try_from(nanos / 1_000_000).ok()?;
            crate::bounds::epoch_millis(ms)?
        }
        Value::Number(n) => crate::bounds::epoch_millis(n.as_i64()?)?,
        _ => return None,
    };
    if !crate::bounds::sane_token_expiry(at, now) {
        return None;
    }
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// The refusal's own words (`error`, `error_description`, `message`), short and printable,
/// and never a token-looking word.
fn reason(v: &Value) -> Option<String> {
    let text = [
        &v["error_description"],
        &v["error"],
        &v["message"],
        &v["error"]["message"],
    ]
    .into_iter()
    .find_map(|f| f.as_str().filter(|s| !s.trim().is_empty()))?;
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| if looks_like_token(w) { "[…]" } else { w })
        .collect();
    let mut out: String = words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_CAP)
        .collect();
    if text.chars().count() > REASON_CAP {
        out.push('…');
    }
    Some(out)
}

/// A long unbroken run of token characters: never quoted, whatever the server put there.
fn looks_like_token(w: &str) -> bool {
    w.len() >= 24
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:=+/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_758_000_000)
    }

    #[test]
    fn reads_the_envelope_and_an_rfc3339_expiry_with_nanoseconds() {
        let body = br#"{"success":true,"data":{"accessToken":"acc","refreshToken":"ref",
            "tokenType":"Bearer","expiresAt":"2025-09-16T05:30:00.842636548Z",
            "userInfo":{"email":"a@b.c","clineUserId":"u1","name":"A"}}}"#;
        let g = granted(Flavor::Cline, StatusCode::OK, body, now()).unwrap();
        assert_eq!(g.access.expose_secret(), "acc");
        assert_eq!(g.refresh.unwrap().expose_secret(), "ref");
        // 1_758_000_000 is 2025-09-16T05:20:00Z.
        assert_eq!(g.expires_in.unwrap().as_secs(), 600);
        assert_eq!(g.identity.email.as_deref(), Some("a@b.c"));
        assert_eq!(g.identity.account_id.as_deref(), Some("u1"));
    }

    #[test]
    fn hostile_expiries_are_unknown_never_a_panic() {
        for at in [
            r#""yesterday""#,
            r#""1900-01-01T00:00:00Z""#,
            r#""9999-12-31T23:59:59Z""#,
            "-9223372036854775808",
            "18446744073709551615",
            "1e308",
            "null",
            "{}",
        ] {
            let v: Value = serde_json::from_str(at).unwrap();
            assert_eq!(expires_in(&v, now()), None, "{at}");
        }
        let ms = Value::from(1_758_000_060_000i64);
        assert_eq!(expires_in(&ms, now()), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_refusal_says_why_and_is_permanent_when_the_token_is_dead() {
        let body = br#"{"error":"Invalid or expired refresh token"}"#;
        let e = granted(Flavor::Cline, StatusCode::BAD_REQUEST, body, now()).unwrap_err();
        assert_eq!(
            e,
            TokenError::Permanent(
                "the token endpoint answered 400 Bad Request: Invalid or expired refresh token"
                    .into()
            )
        );
        let e = granted(Flavor::Cline, StatusCode::BAD_GATEWAY, b"<html>", now()).unwrap_err();
        assert!(matches!(e, TokenError::Transient(_)));
        let leaky: &[u8] =
            br#"{"success":false,"error":"token eyJhbGciOiJIUzI1NiJ9.abcdefghijklmnop revoked"}"#;
        let e = granted(Flavor::Cline, StatusCode::OK, leaky, now()).unwrap_err();
        let TokenError::Permanent(m) = e else {
            panic!()
        };
        assert!(!m.contains("eyJ") && m.contains("revoked"), "{m}");
    }
}
