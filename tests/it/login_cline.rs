//! Cline: `keypool login cline` end to end against a fake api.cline.bot over real TLS
//! (the browser sent to its authorize endpoint with keypool's loopback callback, the code
//! it redirects back with exchanged as Cline's extension does), and its tokens through
//! keypool: refreshed near expiry with the rotated refresh token saved, sent as
//! `Bearer workos:<token>` with Cline's headers, a 429 moving the request to the next
//! Cline account, and a refused refresh that says why.

use crate::login::{blocks, browser_get, free_port, stored_block, stored_secrets};
use crate::support;

use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::status_json;
use support::kilo_cline::FakeKiloCline;
use support::login::Machine;
use support::scenario::Scenario;

const CLIENT_TOKEN: &str = "workos:client-own-cline-token";

#[tokio::test(flavor = "multi_thread")]
async fn cline_login_goes_through_the_loopback_callback_and_stores_the_tokens() {
    let ca = support::TestCa::new();
    let fake = FakeKiloCline::start(&ca).await;
    let m = Machine::new(&ca);
    let port = free_port();
    let mut login = m.login_via(
        &fake.connect_to(),
        &["cline", "--callback-port", &port.to_string()],
        "true",
        "debug",
        &[],
    );
    let url = login.authorize_url().await;
    let callback = format!("http://127.0.0.1:{port}/auth");
    assert_eq!(url.base, "https://api.cline.bot/api/v1/auth/authorize");
    assert_eq!(url.get("client_type"), "extension");
    assert_eq!(url.get("callback_url"), callback);
    assert_eq!(url.get("redirect_uri"), callback);

    // Cline's page sends the browser back with a code and the identity provider used.
    let code = fake.cline_code("carol");
    let target = format!("/auth?code={code}&provider=github");
    let (status, page) = browser_get(port, &target).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended
            .stdout
            .contains("Logged in as carol@cline.example; added account 'cline-carol'"),
        "{}",
        ended.output()
    );

    let seen = fake.seen();
    let [exchange] = &seen[..] else {
        panic!("one call to Cline, got {seen:?}")
    };
    assert_eq!(exchange.path, "/api/v1/auth/token");
    assert_eq!(
        exchange.json(),
        json!({"grant_type": "authorization_code", "code": code, "client_type": "extension",
               "redirect_uri": callback, "provider": "github"})
    );
    let accounts = m.credentials();
    let entry = &accounts["cline-carol"];
    assert_eq!(entry["provider"], "cline");
    assert!(entry["access_token"]
        .as_str()
        .is_some_and(|t| t.contains("carol")));
    assert!(entry["refresh_token"]
        .as_str()
        .is_some_and(|t| t.contains("carol")));
    assert!(entry["expires_at"].as_u64().is_some(), "{entry}");
    assert_eq!(blocks(&m.config()), [stored_block("cline-carol", "cline")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

/// A Cline login stored as keypool leaves it, its access token expiring in `expires_in_ms`.
fn cline_entry(s: &Scenario, access: &str, refresh: &str, expires_in_ms: u64) -> Value {
    let at = s.ms_from_now(std::time::Duration::from_millis(expires_in_ms));
    json!({"provider": "cline", "access_token": access, "refresh_token": refresh,
           "expires_at": at})
}

async fn chat(kp: &support::keypool::Harness) -> reqwest::Response {
    kp.client()
        .post("https://api.cline.bot/api/v1/chat/completions")
        .header("authorization", format!("Bearer {CLIENT_TOKEN}"))
        .json(&json!({"model": "anthropic/claude-sonnet-4.5",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("a Cline chat completion")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cline_refreshes_near_expiry_saves_the_rotated_token_and_sends_workos() {
    let s = Scenario::new();
    let fake = FakeKiloCline::start(&s.ca).await;
    let (old_access, old_refresh) = fake.cline_login("dora");
    let mut s = s.upstream(fake.addr());
    // Within the five-minute margin: refreshed before the first request.
    let entry = cline_entry(&s, &old_access, &old_refresh, 60_000);
    s.stored_entry("cline-dora", "cline", entry);
    let kp = s.start().await;
    let r = chat(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "cline-dora");

    let seen = fake.seen();
    let [refresh, sent] = &seen[..] else {
        panic!("a refresh, then the request: {seen:?}")
    };
    assert_eq!(refresh.path, "/api/v1/auth/refresh");
    assert_eq!(
        refresh.json(),
        json!({"refreshToken": old_refresh, "grantType": "refresh_token"})
    );
    let (new_access, new_refresh) = fake.cline_newest();
    assert_ne!(new_access, old_access);
    let h = &sent.headers;
    assert_eq!(h["authorization"], format!("Bearer workos:{new_access}"));
    assert_eq!(h["http-referer"], "https://cline.bot");
    assert_eq!(h["x-title"], "Cline");

    // The rotated refresh token is saved before it is needed again.
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(kp.home_path("credentials.json")).unwrap())
            .unwrap();
    let saved = &creds["accounts"]["cline-dora"];
    assert_eq!(saved["refresh_token"], new_refresh);
    assert_eq!(saved["access_token"], new_access);
    let expires = saved["expires_at"].as_u64().unwrap();
    assert!(
        expires > s.ms_from_now(std::time::Duration::from_secs(500)),
        "{saved}"
    );

    // Fresh now: the next request goes straight out.
    let r = chat(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(fake.seen().len(), 3, "no second refresh");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_on_one_cline_account_moves_the_request_to_the_next() {
    let s = Scenario::new();
    let fake = FakeKiloCline::start(&s.ca).await;
    let (a1, r1) = fake.cline_login("erin");
    let (a2, r2) = fake.cline_login("finn");
    fake.cline_limit(&a1);
    let mut s = s.upstream(fake.addr());
    let hour = 3_600_000;
    let e1 = cline_entry(&s, &a1, &r1, hour);
    s.stored_entry("first", "cline", e1);
    let e2 = cline_entry(&s, &a2, &r2, hour);
    s.stored_entry("second", "cline", e2);
    let kp = s.start().await;
    let r = chat(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "second");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    let seen = fake.seen();
    let auth: Vec<&str> = seen
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap())
        .collect();
    assert_eq!(
        auth,
        [format!("Bearer workos:{a1}"), format!("Bearer workos:{a2}")]
    );
    let status = status_json(kp.addr()).await;
    let first = status["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "first")
        .unwrap()
        .clone();
    assert_eq!(first["state"], "cooling", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_cline_refresh_says_why_and_names_the_login() {
    let s = Scenario::new();
    let fake = FakeKiloCline::start(&s.ca).await;
    let (access, _) = fake.cline_login("gus");
    let mut s = s.upstream(fake.addr());
    let entry = cline_entry(&s, &access, "cline-refresh-spent", 1_000);
    s.stored_entry("cline-gus", "cline", entry);
    let kp = s.start().await;
    let r = chat(&kp).await;
    assert_ne!(r.status(), 200);
    let status = status_json(kp.addr()).await;
    let text = status.to_string();
    assert!(
        text.contains("Invalid or expired refresh token")
            && text.contains("keypool login cline --name cline-gus"),
        "{status}"
    );
    assert!(
        !text.contains("cline-refresh-spent"),
        "no token in the status"
    );
}
