//! GitHub's device flow (RFC 8628): show a code, let the user enter it in any browser,
//! poll until GitHub hands out the token.

use crate::oauth::endpoint::{self, error_code};
use crate::oauth::flavor::Encoding;
use crate::providers::Flavor;
use crate::upstream::Upstream;
use secrecy::SecretString;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs the flow against `domain` (github.com or a GHE host); `show` tells the user where
/// to go and which code to enter.
pub async fn github(
    upstream: &Upstream,
    domain: &str,
    show: impl FnOnce(&str, &str),
) -> Result<SecretString, String> {
    let client_id = Flavor::Copilot.client_id();
    let url = format!("https://{domain}/login/device/code");
    let (status, body) = endpoint::post(
        upstream,
        &url,
        Encoding::Form,
        &[("client_id", client_id), ("scope", "read:user")],
    )
    .await
    .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(device_code), Some(user_code), Some(uri)) = (
        v["device_code"].as_str(),
        v["user_code"].as_str(),
        v["verification_uri"].as_str(),
    ) else {
        return Err(format!("{url} answered {status} without a device code"));
    };
    show(uri, user_code);
    // Both numbers come from the server: an absurd one must neither panic nor make the
    // login wait for ever (GitHub's codes live 15 minutes and ask for 5 s between polls).
    let mut interval = poll_interval(v["interval"].as_u64().unwrap_or(5));
    let lifetime = v["expires_in"]
        .as_u64()
        .unwrap_or(900)
        .min(MAX_CODE_LIFETIME_SECS);
    let deadline = Instant::now() + Duration::from_secs(lifetime);
    let token_url = Flavor::Copilot.token_url(Some(domain));
    loop {
        // The protocol's own pacing: polling faster earns a slow_down.
        tokio::time::sleep(interval).await;
        if Instant::now() > deadline {
            return Err("the code expired before it was entered; run the login again".into());
        }
        let (_, body) = endpoint::post(
            upstream,
            &token_url,
            Encoding::Form,
            &[
                ("client_id", client_id),
                ("device_code", device_code),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ],
        )
        .await
        .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(t) = v["access_token"].as_str().filter(|t| !t.is_empty()) {
            return Ok(SecretString::from(t.to_string()));
        }
        match error_code(&body).as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                // RFC 8628 §3.5: add 5 s, unless the server names the new interval.
                interval = v["interval"]
                    .as_u64()
                    .map(poll_interval)
                    .filter(|i| *i > interval)
                    .unwrap_or(poll_interval(interval.as_secs().saturating_add(5)));
            }
            Some("expired_token") => {
                return Err("the code expired before it was entered; run the login again".into())
            }
            Some("access_denied") => return Err("the login was cancelled in the browser".into()),
            Some(other) => return Err(format!("GitHub refused the login: {other}")),
            None => return Err(format!("{token_url} answered without a token")),
        }
    }
}

/// The longest a device code is waited for, whatever the server says.
const MAX_CODE_LIFETIME_SECS: u64 = 60 * 60;

/// The server's polling interval, between 1 s and a minute.
fn poll_interval(secs: u64) -> Duration {
    Duration::from_secs(secs.clamp(1, 60))
}
