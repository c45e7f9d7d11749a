//! RFC 8628 device logins: show a code, let the user enter it in any browser, poll until
//! the server hands out the token. One loop serves GitHub (Copilot) and Kimi; what differs
//! is where the code is asked for, which headers go along, and how the server says
//! "pending" (GitHub with HTTP 200, Kimi with HTTP 400 like its `invalid_grant`), so every
//! answer's body is read before its status.

use crate::oauth::endpoint::{self, error_code};
use crate::oauth::flavor::Encoding;
use crate::providers::Flavor;
use crate::upstream::Upstream;
use http::HeaderMap;
use secrecy::SecretString;
use serde_json::Value;
use std::time::{Duration, Instant};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Shrinks every second the flow waits to this many milliseconds, for tests; the
/// protocol's numbers (interval, `slow_down`'s five seconds, the code's lifetime) keep
/// their proportions.
pub const TEST_SECOND_MS: &str = "KEYPOOL_TEST_DEVICE_SECOND_MS";

/// One device login's endpoints and manners.
pub struct Flow<'a> {
    /// Where the device code is asked for.
    pub code_url: String,
    /// Where it is redeemed.
    pub token_url: String,
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    /// Sent on both calls (Kimi's device headers).
    pub headers: HeaderMap,
    /// Who is asked, for messages: `GitHub`, `auth.kimi.com`.
    pub vendor: String,
}

/// Runs `flow`; `show` tells the user where to go and which code to enter. The token
/// answer's JSON, once it holds an access token.
pub async fn run(
    upstream: &Upstream,
    flow: &Flow<'_>,
    show: impl FnOnce(&str, &str),
) -> Result<Value, String> {
    let mut fields = vec![("client_id", flow.client_id)];
    fields.extend(flow.scope.map(|s| ("scope", s)));
    let (status, body) = post(upstream, flow, &flow.code_url, &fields).await?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(device_code), Some(user_code)) = (v["device_code"].as_str(), v["user_code"].as_str())
    else {
        let url = &flow.code_url;
        return Err(match error_code(&body) {
            Some(code) => format!("{url} answered {status} {code} instead of a device code"),
            None => format!("{url} answered {status} without a device code"),
        });
    };
    let uri = v["verification_uri_complete"]
        .as_str()
        .or_else(|| v["verification_uri"].as_str())
        .ok_or_else(|| format!("{} named no page to enter the code", flow.code_url))?;
    show(uri, user_code);
    // Both numbers come from the server: an absurd one must neither panic nor make the
    // login wait for ever (codes live 15 to 30 minutes and ask for 5 s between polls).
    let second = second();
    let mut interval = poll_interval(v["interval"].as_u64().unwrap_or(5));
    let lifetime = v["expires_in"]
        .as_u64()
        .unwrap_or(900)
        .clamp(1, MAX_CODE_LIFETIME_SECS);
    let deadline = Instant::now() + second * u32::try_from(lifetime).unwrap_or(u32::MAX);
    let poll = [
        ("client_id", flow.client_id),
        ("device_code", device_code),
        ("grant_type", DEVICE_GRANT),
    ];
    loop {
        // The protocol's own pacing: polling faster earns a slow_down.
        tokio::time::sleep(second * interval).await;
        if Instant::now() > deadline {
            return Err(EXPIRED.into());
        }
        let (status, body) = post(upstream, flow, &flow.token_url, &poll).await?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if v["access_token"].as_str().is_some_and(|t| !t.is_empty()) {
            return Ok(v);
        }
        match error_code(&body).as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                // RFC 8628 §3.5: add 5 s, unless the server names a longer interval.
                interval = v["interval"]
                    .as_u64()
                    .map(poll_interval)
                    .filter(|i| *i > interval)
                    .unwrap_or(poll_interval(u64::from(interval).saturating_add(5)));
            }
            Some("expired_token") => return Err(EXPIRED.into()),
            Some("access_denied") => return Err("the login was cancelled in the browser".into()),
            Some("invalid_grant") => {
                return Err(format!(
                    "{} refused the device code (invalid_grant): it was used or revoked; run \
                    the login again",
                    flow.vendor
                ))
            }
            Some(other) => return Err(format!("{} refused the login: {other}", flow.vendor)),
            None => {
                return Err(format!(
                    "{} answered {status} without a token",
                    flow.token_url
                ))
            }
        }
    }
}

const EXPIRED: &str = "the code expired before it was entered; run the login again";

/// GitHub's flow on `domain` (github.com or a GHE host): the GitHub token.
pub async fn github(
    upstream: &Upstream,
    domain: &str,
    show: impl FnOnce(&str, &str),
) -> Result<SecretString, String> {
    let flow = Flow {
        code_url: format!("https://{domain}/login/device/code"),
        token_url: Flavor::Copilot.token_url(Some(domain)),
        client_id: Flavor::Copilot.client_id(),
        scope: Some("read:user"),
        headers: HeaderMap::new(),
        vendor: "GitHub".into(),
    };
    let v = run(upstream, &flow, show).await?;
    let token = v["access_token"].as_str().unwrap_or_default();
    Ok(SecretString::from(token.to_string()))
}

async fn post(
    upstream: &Upstream,
    flow: &Flow<'_>,
    url: &str,
    fields: &[(&str, &str)],
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    endpoint::post_with(upstream, url, Encoding::Form, fields, flow.headers.clone())
        .await
        .map_err(|e| e.to_string())
}

/// The longest a device code is waited for, whatever the server says.
const MAX_CODE_LIFETIME_SECS: u64 = 60 * 60;

/// The server's polling interval in seconds, between 1 and 60.
fn poll_interval(secs: u64) -> u32 {
    u32::try_from(secs.clamp(1, 60)).unwrap_or(60)
}

/// How long one of the protocol's seconds lasts: a second, or what the test hook says
/// (at least a millisecond).
fn second() -> Duration {
    std::env::var(TEST_SECOND_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(1), |ms| {
            Duration::from_millis(ms.clamp(1, 1000))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_held_to_a_minute() {
        assert_eq!(poll_interval(0), 1);
        assert_eq!(poll_interval(5), 5);
        assert_eq!(poll_interval(u64::MAX), 60);
    }
}
