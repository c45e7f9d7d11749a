//! Kimi For Coding subscriptions through keypool, against a fake auth.kimi.com and a fake
//! api.kimi.com over real TLS (both refuse a Kimi call without the `X-Msh-*` device
//! headers): the refresh grant names the account's device, a rotated refresh token is
//! saved and presented next time, and a swapped request carries the account's token and
//! device id, never the client's.

use super::read_json;
use crate::support::fake::KIMI_HOST;
use crate::support::guard::Within;
use crate::support::keypool::Harness;
use crate::support::oauth::{OAuthRequest, KIMI_CLIENT_ID, KIMI_DEVICE_HEADERS};
use crate::support::scenario::Scenario;
use crate::support::{Flavor, Grant, SeenRequest};
use keypool::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The device id a login of these tests was made from (32 hex digits, as kimi-cli's).
const DEVICE: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// What the client itself sends: its own login and its own device.
const CLIENT_TOKEN: &str = "kimi-client-own-token";
const CLIENT_DEVICE: &str = "c11e47c11e47c11e47c11e47c11e47c1";

/// api.kimi.com faked, the fake OAuth server beside it, keypool on a manual clock.
async fn kimi_world() -> Scenario {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = Scenario::new().provider(&[KIMI_HOST]).await;
    s.oauth().await.clock(clock)
}

/// A Kimi login of `label` stored as account `name`, its access token expiring
/// `expires_in` from now, with `device` as its device id when given.
fn kimi_login(s: &mut Scenario, name: &str, device: Option<&str>, expires_in: Duration) -> Grant {
    let id = s.oauth_server().identity(Flavor::Kimi, name);
    let g = s.oauth_server().grant(&id);
    let mut entry = json!({
        "provider": "kimi-coding",
        "access_token": g.access,
        "refresh_token": g.refresh,
        "expires_at": s.ms_from_now(expires_in),
    });
    if let Some(d) = device {
        entry["device_id"] = d.into();
    }
    s.stored_entry(name, "kimi-coding", entry);
    g
}

/// kimi-cli logged in with its own token, on its own device, through keypool.
async fn kimi_message(kp: &Harness) -> reqwest::Response {
    kp.client()
        .post("https://api.kimi.com/coding/v1/messages")
        .bearer_auth(CLIENT_TOKEN)
        .header("x-msh-platform", "kimi_cli")
        .header("x-msh-version", "1.12.0")
        .header("x-msh-device-id", CLIENT_DEVICE)
        .header("x-msh-device-name", "carols-laptop")
        .header("x-msh-device-model", "Linux 6.8.0 x86_64")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "kimi-for-coding", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("the answer to a Kimi message through keypool")
        .await
        .unwrap()
}

/// Refresh grants at auth.kimi.com, in arrival order.
fn refreshes(s: &Scenario) -> Vec<OAuthRequest> {
    (s.oauth_server().requests().into_iter())
        .filter(|r| r.host == "auth.kimi.com" && r.path == "/api/oauth/token")
        .filter(|r| r.params().get("grant_type").map(String::as_str) == Some("refresh_token"))
        .collect()
}

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

/// The Messages calls api.kimi.com received.
fn messages_seen(s: &Scenario) -> Vec<SeenRequest> {
    (s.fake().seen().into_iter())
        .filter(|r| r.path == "/coding/v1/messages")
        .collect()
}

#[tokio::test]
async fn a_kimi_refresh_names_the_accounts_device_and_the_rotated_token_is_kept() {
    let mut s = kimi_world().await;
    // A minute left: within the refresh margin, refreshed before the first request.
    let g1 = kimi_login(&mut s, "kimi", Some(DEVICE), Duration::from_secs(60));
    let kp = s.start().await;

    let r = kimi_message(&kp).await;
    assert_eq!(r.status(), 200);
    let first = refreshes(&s);
    assert_eq!(first.len(), 1, "one refresh before the request");
    let grant = first[0].params();
    assert_eq!(grant["client_id"], KIMI_CLIENT_ID);
    assert_eq!(grant["refresh_token"], g1.refresh);
    for h in KIMI_DEVICE_HEADERS {
        assert!(first[0].headers.contains_key(h), "{h} on the refresh");
    }
    assert_eq!(header(&first[0].headers, "x-msh-device-id"), DEVICE);
    let fresh = messages_seen(&s).pop().unwrap().credential.unwrap();
    assert_ne!(fresh, g1.access, "the refreshed token is used");

    let saved = read_json(&kp.home_path("credentials.json"));
    let entry = &saved["accounts"]["kimi"];
    let rotated = entry["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, g1.refresh, "the rotated refresh token is saved");
    assert_eq!(entry["access_token"], fresh.as_str());
    assert_eq!(
        entry["device_id"], DEVICE,
        "the device outlives the refresh"
    );

    // The fresh token is good for 900 s; within the margin again, the next refresh
    // presents the rotated token (the fake would take the old one for reuse).
    s.manual_clock().advance(Duration::from_secs(700));
    assert_eq!(kimi_message(&kp).await.status(), 200);
    let all = refreshes(&s);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].params()["refresh_token"], rotated);
    assert_eq!(header(&all[1].headers, "x-msh-device-id"), DEVICE);
    let third = messages_seen(&s).pop().unwrap().credential.unwrap();
    assert_ne!(third, fresh);

    // Saved across a restart: the token of the second refresh, no third refresh.
    let kp = kp.restart().await;
    assert_eq!(kimi_message(&kp).await.status(), 200);
    assert_eq!(
        refreshes(&s).len(),
        2,
        "the saved token is used after a restart"
    );
    let seen = messages_seen(&s).pop().unwrap();
    assert_eq!(seen.credential.as_deref(), Some(third.as_str()));
    assert_eq!(header(&seen.headers, "x-msh-device-id"), DEVICE);
}

#[tokio::test]
async fn a_swapped_kimi_request_carries_the_accounts_token_and_device_never_the_clients() {
    let mut s = kimi_world().await;
    // A login without a device id (made before keypool kept one): keypool gives it one.
    let g = kimi_login(&mut s, "kimi", None, Duration::from_secs(3600));
    let kp = s.start().await;

    let r = kimi_message(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "kimi");
    let saved = read_json(&kp.home_path("credentials.json"));
    let device = saved["accounts"]["kimi"]["device_id"]
        .as_str()
        .expect("keypool kept a device id for the account")
        .to_string();
    assert_eq!(device.len(), 32);
    assert_ne!(device, CLIENT_DEVICE);

    let seen = messages_seen(&s).pop().unwrap();
    assert_eq!(seen.credential.as_deref(), Some(g.access.as_str()));
    assert_eq!(
        header(&seen.headers, "authorization"),
        format!("Bearer {}", g.access)
    );
    assert!(seen.headers.get("x-api-key").is_none());
    assert_eq!(header(&seen.headers, "x-msh-device-id"), device);
    assert_eq!(seen.headers.get_all("x-msh-device-id").iter().count(), 1);
    assert_ne!(header(&seen.headers, "x-msh-device-name"), "carols-laptop");
    assert_eq!(header(&seen.headers, "x-msh-platform"), "kimi_cli");
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["model"], "kimi-for-coding", "the body is the client's");

    // The same device after a restart, and the client's own login never went upstream.
    let kp = kp.restart().await;
    assert_eq!(kimi_message(&kp).await.status(), 200);
    let seen = messages_seen(&s).pop().unwrap();
    assert_eq!(header(&seen.headers, "x-msh-device-id"), device);
    for r in s.fake().seen() {
        let text = format!("{:?}", r.headers);
        assert!(!text.contains(CLIENT_TOKEN), "{}", r.path);
        assert!(!text.contains(CLIENT_DEVICE), "{}", r.path);
    }
    assert!(refreshes(&s).is_empty(), "an hour left: no refresh");
}
