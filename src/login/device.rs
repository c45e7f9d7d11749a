//! Device logins: show a code, let the user enter it in any browser, poll until the
//! server hands out the token. One loop serves GitHub (Copilot), Kimi and Kilo; what
//! differs is where the code is asked for, which headers go along, and how the server
//! says "pending": GitHub with HTTP 200, Kimi with HTTP 400 like its `invalid_grant` (so
//! an RFC 8628 answer's body is read before its status), Kilo with HTTP 202 to a `GET`
//! and 429 to slow down (its wire, `DeviceWire::KiloCodes`, is read by status).

use crate::oauth::endpoint::{self, error_code};
use crate::oauth::flavor::{DeviceWire, Encoding};
use crate::providers::Flavor;
use crate::upstream::Upstream;
use http::{HeaderMap, StatusCode};
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
    /// Where it is redeemed (Kilo's: polled at `{token_url}/{code}`).
    pub token_url: String,
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    /// Sent on both calls (Kimi's device headers).
    pub headers: HeaderMap,
    /// Who is asked, for messages: `GitHub`, `auth.kimi.com`.
    pub vendor: String,
    pub wire: DeviceWire,
}

/// What the server said the login is waiting on.
struct Started {
    /// The code the server polls are made with (RFC 8628's `device_code`, Kilo's `code`).
    device_code: String,
    user_code: String,
    uri: String,
    interval: Option<u64>,
    expires_in: Option<u64>,
}

/// One poll's answer, read in the flow's wire.
enum Poll {
    Pending,
    /// Poll less often: the interval the server names, else five seconds more.
    SlowDown(Option<u64>),
    /// The token answer, in RFC 6749's shape.
    Granted(Value),
    Failed(String),
}

/// Runs `flow`; `show` tells the user where to go and which code to enter. The token
/// answer's JSON (RFC 6749's shape, whatever the wire), once it holds an access token.
pub async fn run(
    upstream: &Upstream,
    flow: &Flow<'_>,
    show: impl FnOnce(&str, &str),
) -> Result<Value, String> {
    let started = start(upstream, flow).await?;
    show(&started.uri, &started.user_code);
    // Both numbers come from the server: an absurd one must neither panic nor make the
    // login wait for ever (codes live 15 to 30 minutes and ask for 5 s between polls).
    let second = second();
    let mut interval = poll_interval(started.interval.unwrap_or(5));
    let lifetime = started
        .expires_in
        .unwrap_or(900)
        .clamp(1, MAX_CODE_LIFETIME_SECS);
    let deadline = Instant::now() + second * u32::try_from(lifetime).unwrap_or(u32::MAX);
    loop {
        // The protocol's own pacing: polling faster earns a slow_down.
        tokio::time::sleep(second * interval).await;
        if Instant::now() > deadline {
            return Err(EXPIRED.into());
        }
        match poll(upstream, flow, &started.device_code).await? {
            Poll::Pending => {}
            Poll::SlowDown(named) => {
                // RFC 8628 §3.5: add 5 s, unless the server names a longer interval.
                interval = named
                    .map(poll_interval)
                    .filter(|i| *i > interval)
                    .unwrap_or(poll_interval(u64::from(interval).saturating_add(5)));
            }
            Poll::Granted(v) => return Ok(v),
            Poll::Failed(why) => return Err(why),
        }
    }
}

/// The first call: a code for the user, and what to poll with.
async fn start(upstream: &Upstream, flow: &Flow<'_>) -> Result<Started, String> {
    let url = &flow.code_url;
    let (status, body) = match flow.wire {
        DeviceWire::Rfc8628 => {
            let mut fields = vec![("client_id", flow.client_id)];
            fields.extend(flow.scope.map(|s| ("scope", s)));
            post(upstream, flow, url, Encoding::Form, &fields).await?
        }
        DeviceWire::KiloCodes => post(upstream, flow, url, Encoding::Json, &[]).await?,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (code, user, uri, interval, expires) = match flow.wire {
        DeviceWire::Rfc8628 => (
            v["device_code"].as_str(),
            v["user_code"].as_str(),
            v["verification_uri_complete"]
                .as_str()
                .or_else(|| v["verification_uri"].as_str()),
            v["interval"].as_u64(),
            v["expires_in"].as_u64(),
        ),
        DeviceWire::KiloCodes => {
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(format!(
                    "{} has too many logins waiting for this machine (429); finish or let \
                    them expire (a few minutes), then run the login again",
                    flow.vendor
                ));
            }
            let code = v["code"].as_str();
            (
                code,
                code,
                v["verificationUrl"].as_str(),
                None,
                v["expiresIn"].as_u64(),
            )
        }
    };
    let (Some(device_code), Some(user_code)) = (code.filter(|c| !c.is_empty()), user) else {
        return Err(match error_code(&body) {
            Some(code) => format!("{url} answered {status} {code} instead of a device code"),
            None => format!("{url} answered {status} without a device code"),
        });
    };
    let uri = uri.ok_or_else(|| format!("{url} named no page to enter the code"))?;
    Ok(Started {
        device_code: device_code.to_string(),
        user_code: user_code.to_string(),
        uri: uri.to_string(),
        interval,
        expires_in: expires,
    })
}

/// One poll, read in the flow's wire.
async fn poll(upstream: &Upstream, flow: &Flow<'_>, device_code: &str) -> Result<Poll, String> {
    match flow.wire {
        DeviceWire::Rfc8628 => {
            let fields = [
                ("client_id", flow.client_id),
                ("device_code", device_code),
                ("grant_type", DEVICE_GRANT),
            ];
            let url = &flow.token_url;
            let (status, body) = post(upstream, flow, url, Encoding::Form, &fields).await?;
            Ok(rfc8628_poll(flow, status, &body))
        }
        DeviceWire::KiloCodes => {
            // The code is the server's; it goes into the path only as one escaped segment.
            let segment: String = form_urlencoded::byte_serialize(device_code.as_bytes()).collect();
            let url = format!("{}/{segment}", flow.token_url);
            let (status, headers, body) = endpoint::get_with(upstream, &url, flow.headers.clone())
                .await
                .map_err(|e| e.to_string())?;
            Ok(kilo_poll(flow, status, &headers, &body))
        }
    }
}

/// RFC 8628 §3.5's answers, read by their body first: Kimi says "pending" with HTTP 400.
fn rfc8628_poll(flow: &Flow<'_>, status: StatusCode, body: &[u8]) -> Poll {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v["access_token"].as_str().is_some_and(|t| !t.is_empty()) {
        return Poll::Granted(v);
    }
    match error_code(body).as_deref() {
        Some("authorization_pending") => Poll::Pending,
        Some("slow_down") => Poll::SlowDown(v["interval"].as_u64()),
        Some("expired_token") => Poll::Failed(EXPIRED.into()),
        Some("access_denied") => Poll::Failed(DENIED.into()),
        Some("invalid_grant") => Poll::Failed(format!(
            "{} refused the device code (invalid_grant): it was used or revoked; run the \
            login again",
            flow.vendor
        )),
        Some(other) => Poll::Failed(format!("{} refused the login: {other}", flow.vendor)),
        None => Poll::Failed(format!(
            "{} answered {status} without a token",
            flow.token_url
        )),
    }
}

/// Kilo's answers, by status; the approved one becomes an RFC 6749 token answer.
fn kilo_poll(flow: &Flow<'_>, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Poll {
    match status.as_u16() {
        202 => return Poll::Pending,
        403 => return Poll::Failed(DENIED.into()),
        410 => return Poll::Failed(EXPIRED.into()),
        429 => {
            let named = headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            return Poll::SlowDown(named);
        }
        _ => {}
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let token = v["token"].as_str().filter(|t| !t.is_empty());
    match (status.is_success(), v["status"].as_str(), token) {
        (true, Some("approved"), Some(token)) => {
            let mut grant = serde_json::json!({"access_token": token});
            if let Some(email) = v["userEmail"].as_str() {
                grant["email"] = Value::String(email.to_string());
            }
            Poll::Granted(grant)
        }
        (true, Some("pending") | None, None) => Poll::Pending,
        (true, Some("denied"), _) => Poll::Failed(DENIED.into()),
        (true, Some("expired"), _) => Poll::Failed(EXPIRED.into()),
        _ => Poll::Failed(format!("{} answered {status} without a token", flow.vendor)),
    }
}

const EXPIRED: &str = "the code expired before it was entered; run the login again";
const DENIED: &str = "the login was cancelled in the browser";

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
        wire: DeviceWire::Rfc8628,
    };
    let v = run(upstream, &flow, show).await?;
    let token = v["access_token"].as_str().unwrap_or_default();
    Ok(SecretString::from(token.to_string()))
}

async fn post(
    upstream: &Upstream,
    flow: &Flow<'_>,
    url: &str,
    encoding: Encoding,
    fields: &[(&str, &str)],
) -> Result<(StatusCode, bytes::Bytes), String> {
    endpoint::post_with(upstream, url, encoding, fields, flow.headers.clone())
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
