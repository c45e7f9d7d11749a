//! The keypool harness: OAuth hosts reach the fake OAuth server through
//! `connect_to` entries ahead of the catch-all, files are in place before
//! start, and a restart keeps home, port and CA.

use crate::support::guard::Within;
use std::sync::Arc;
use std::time::SystemTime;

use keypool::clock::ManualClock;
use serde_json::json;

use crate::support::keypool::Harness;
use crate::support::oauth::CODEX_CLIENT_ID;
use crate::support::scenario::Scenario;
use crate::support::{every_host, Flavor};

/// Through keypool, trusting keypool's CA (intercepted provider hosts) and
/// the test CA (hosts keypool tunnels blind, like the OAuth ones).
fn client(kp: &Harness, test_ca_pem: &str) -> reqwest::Client {
    let pem = |p: &str| reqwest::Certificate::from_pem(p.as_bytes()).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", kp.addr())).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(pem(&kp.ca_pem()))
        .add_root_certificate(pem(test_ca_pem))
        .timeout(crate::support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

async fn refresh(client: &reqwest::Client, token: &str) -> reqwest::StatusCode {
    let body = json!({
        "client_id": CODEX_CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token
    });
    (client.post("https://auth.openai.com/oauth/token"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .within("the refresh through keypool's blind tunnel to the OAuth host")
        .await
        .unwrap()
        .status()
}

async fn chat(client: &reqwest::Client) -> reqwest::StatusCode {
    (client.post("https://api.openai.com/v1/chat/completions"))
        .bearer_auth("sk-client-own")
        .header("content-type", "application/json")
        .body(json!({"model": "gpt-4o", "messages": []}).to_string())
        .send()
        .within("the chat answer through keypool")
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn harness_routes_oauth_hosts_first_and_restarts_on_the_same_home() {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let mut s = Scenario::new()
        .provider(&every_host())
        .await
        .oauth()
        .await
        .ok(&["sk-pooled"])
        .keys("openai", &[("a", "sk-pooled")])
        .clock(clock.clone());
    let auth_json = s.fixture(".codex/auth.json", "{\"tokens\":{}}");
    let stored = s.home_file("credentials.json", "{}");
    let kp = s.start().await;
    let (ca, fake, oauth) = (&s.ca, s.fake(), s.oauth_server());
    assert!(auth_json.starts_with(kp.fixtures.path()));
    assert_eq!(auth_json, kp.fixture_path(".codex/auth.json"));
    assert_eq!(stored, kp.home_path("credentials.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&auth_json).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let codex = oauth.identity(Flavor::Codex, "harness");
    let grant = oauth.grant(&codex);
    let test_ca = ca.cert_pem();
    let c = client(&kp, &test_ca);
    {
        // Its own client, dropped before the restart: an open blind tunnel
        // would hold the shutdown for keypool's idle-after-shutdown time.
        let oauth_client = client(&kp, &test_ca);
        assert_eq!(refresh(&oauth_client, &grant.refresh).await, 200);
    }
    assert_eq!(oauth.token_calls(Flavor::Codex), 1);
    assert_eq!(oauth.requests()[0].host, "auth.openai.com");
    assert_eq!(chat(&c).await, 200);
    assert_eq!(fake.credentials_seen(), ["sk-pooled"]);

    let (port, ca_pem) = (kp.addr().port(), kp.ca_pem());
    let kp = kp.restart().await;
    assert_eq!(kp.addr().port(), port);
    assert_eq!(kp.ca_pem(), ca_pem, "the CA lives in the home");
    assert!(kp.home_path("credentials.json").exists());
    // A client from before the restart reconnects to the new proxy.
    assert_eq!(chat(&c).await, 200);
    assert_eq!(fake.credentials_seen(), ["sk-pooled", "sk-pooled"]);
}
