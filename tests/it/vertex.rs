//! Google Vertex AI accounts through keypool, over real TLS to a fake aiplatform host and
//! a fake Google token endpoint that checks each RS256 assertion with the service
//! account's public key: the client's (gcloud's) token replaced by the minted one, the
//! token cached and minted again near its expiry, an application-default login
//! refreshed with its own client, rotation on Vertex's quota and Claude's overload, and
//! key files that are wrong said so without the key.

use crate::support;

use keypool::clock::ManualClock;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::fake::VERTEX_HOSTS;
use support::guard::Within;
use support::keypool::{status_json, Harness};
use support::oauth::google_keys::{ServiceAccount, GCLOUD_CLIENT_ID, JWT_BEARER};
use support::scenario::Scenario;
use support::Behaviour;

/// What gcloud hands the client; keypool must never send it on.
const CLIENT_TOKEN: &str = "ya29.client-own-gcloud-token";
const CLAUDE: &str = "/v1/projects/proj-a/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict";
const GEMINI: &str =
    "/v1/projects/proj-a/locations/global/publishers/google/models/gemini-2.5-pro:generateContent";

/// The fake Vertex hosts and token endpoint, keypool on a manual clock the token
/// endpoint checks assertions against.
pub(crate) async fn world() -> Scenario {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = Scenario::new().provider(VERTEX_HOSTS).await.oauth().await;
    s.oauth_server().google_keys_clock((*clock).clone());
    s.clock(clock)
}

/// A service account the token endpoint knows, its key file written as a fixture.
pub(crate) fn service_account(w: &Scenario, name: &str) -> (ServiceAccount, PathBuf) {
    let sa = ServiceAccount::generate(name, &format!("proj-{name}"));
    w.oauth_server().add_service_account(&sa);
    let path = w.fixture(&format!("keys/{name}.json"), &sa.key_file().to_string());
    (sa, path)
}

pub(crate) fn account(name: &str, file: &std::path::Path) -> String {
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"google-vertex\"\noauth = \"link:{}\"\n",
        file.display()
    )
}

async fn claude(kp: &Harness, host: &str) -> reqwest::Response {
    let body = json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]});
    send(kp, &format!("https://{host}{CLAUDE}"), body).await
}

pub(crate) async fn gemini(kp: &Harness) -> reqwest::Response {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    send(
        kp,
        &format!("https://aiplatform.googleapis.com{GEMINI}"),
        body,
    )
    .await
}

async fn send(kp: &Harness, url: &str, body: Value) -> reqwest::Response {
    kp.client()
        .post(url)
        .bearer_auth(CLIENT_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .within("a Vertex AI call through keypool")
        .await
        .unwrap()
}

/// The bearer token the fake Vertex host saw last.
fn last_token(w: &Scenario) -> String {
    w.fake().seen().pop().unwrap().credential.unwrap()
}

#[tokio::test]
async fn a_minted_token_replaces_the_clients_and_is_minted_again_near_expiry() {
    let w = world().await;
    let (sa, file) = service_account(&w, "alpha");
    let key_file_before = std::fs::read(&file).unwrap();
    let mut w = w.accounts(&account("vertex-alpha", &file));
    let kp = w.start().await;

    let r = claude(&kp, "us-east5-aiplatform.googleapis.com").await;
    assert_eq!(r.status(), 200);
    assert_eq!(support::account_of(&r), "vertex-alpha");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message", "Claude's answer: {body}");
    let first = last_token(&w);
    assert!(
        first.starts_with("ya29.c."),
        "a token the fake minted: {first}"
    );
    assert_ne!(first, CLIENT_TOKEN);
    assert_eq!(w.oauth_server().assertion_grants(), 1);
    let grant = (w.oauth_server().requests().into_iter())
        .find(|r| r.path == "/token")
        .unwrap();
    let p = grant.params();
    assert_eq!(p["grant_type"], JWT_BEARER);
    assert_eq!(grant.host, "oauth2.googleapis.com");
    assert!(!p.contains_key("client_secret"));
    assert!(
        !format!("{p:?}").contains("PRIVATE KEY"),
        "the key never leaves"
    );

    // Cached: a Gemini call on the global host takes the same token, no new grant.
    let r = gemini(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(last_token(&w), first);
    assert_eq!(w.oauth_server().assertion_grants(), 1);

    // 55 minutes on: inside the 5-minute margin of the 3599 s token, minted again first.
    w.manual_clock().advance(Duration::from_secs(55 * 60));
    let r = claude(&kp, "us-east5-aiplatform.googleapis.com").await;
    assert_eq!(r.status(), 200);
    assert_eq!(w.oauth_server().assertion_grants(), 2);
    let second = last_token(&w);
    assert_ne!(second, first);
    assert!(w.oauth_server().google_key_refusals().is_empty());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        key_file_before,
        "the key file is only read"
    );
    let credentials = std::fs::read_to_string(kp.home_path("credentials.json")).unwrap_or_default();
    let key_line = sa.private_pem.lines().nth(1).unwrap();
    assert!(!credentials.contains(key_line) && !credentials.contains(&first));
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused_and_the_account_disabled() {
    let w = world().await;
    let (sa, _) = service_account(&w, "alpha");
    // The file names the account and its key id, but holds some other key.
    let mut forged = sa.clone();
    forged.private_pem = support::oauth::google_keys::rsa_pem();
    let file = w.fixture("keys/forged.json", &forged.key_file().to_string());
    let mut w = w.accounts(&account("vertex-forged", &file));
    let kp = w.start().await;

    let r = claude(&kp, "us-east5-aiplatform.googleapis.com").await;
    assert_ne!(r.status(), 200);
    assert_eq!(w.oauth_server().assertion_grants(), 1);
    assert_eq!(
        w.oauth_server().google_key_refusals(),
        ["Invalid JWT Signature."]
    );
    assert!(w.fake().seen().is_empty(), "nothing reached Vertex");
    let status = status_json(kp.addr()).await;
    let a = &status["pools"][0]["accounts"][0];
    assert_eq!(
        (a["name"].as_str(), a["state"].as_str()),
        (Some("vertex-forged"), Some("disabled"))
    );
    let why = a["detail"].as_str().unwrap();
    assert!(why.contains("invalid_grant"), "{why}");
    assert!(!why.contains("PRIVATE KEY"), "{why}");
}

#[tokio::test]
async fn an_application_default_login_is_refreshed_with_its_own_client() {
    let w = world().await;
    let login = w.oauth_server().add_adc_login("proj-adc");
    let file = w.fixture(
        "gcloud/application_default_credentials.json",
        &login.file().to_string(),
    );
    let before = std::fs::read(&file).unwrap();
    let mut w = w.accounts(&account("vertex-me", &file));
    let kp = w.start().await;

    assert_eq!(gemini(&kp).await.status(), 200);
    assert_eq!(
        claude(&kp, "us-east5-aiplatform.googleapis.com")
            .await
            .status(),
        200
    );
    assert_eq!(
        w.oauth_server().adc_refreshes(),
        1,
        "one refresh serves both"
    );
    let grant = (w.oauth_server().requests().into_iter())
        .find(|r| r.path == "/token")
        .unwrap();
    let p = grant.params();
    assert_eq!(p["grant_type"], "refresh_token");
    assert_eq!(p["client_id"], GCLOUD_CLIENT_ID);
    assert_eq!(p["client_secret"], login.client_secret);
    assert_eq!(p["refresh_token"], login.refresh_token);
    let sent = last_token(&w);
    assert!(
        sent.starts_with("ya29.c.") && sent != CLIENT_TOKEN,
        "{sent}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before, "never written back");
}

/// Two service accounts in one pool; the first one's tokens get `limit`. Every call is
/// served by the second, and the first sits out with the answer's label.
async fn rotates_on(limit: Behaviour, call: fn(&Harness) -> CallFuture<'_>, label: &str) {
    let w = world().await;
    let (a, file_a) = service_account(&w, "a");
    let (_, file_b) = service_account(&w, "b");
    w.oauth_server().set_vertex_behaviour(&a.email, limit);
    let mut w = w.accounts(&(account("vertex-a", &file_a) + &account("vertex-b", &file_b)));
    let kp = w.start().await;

    for _ in 0..2 {
        let r = call(&kp).await;
        assert_eq!(r.status(), 200);
        assert_eq!(support::account_of(&r), "vertex-b");
    }
    let tried_a = w.fake().seen().len() - 2;
    assert_eq!(tried_a, 1, "a was tried once, then left alone");
    let status = status_json(kp.addr()).await;
    let members = &status["pools"][0]["accounts"];
    let a = (members.as_array().unwrap().iter())
        .find(|m| m["name"] == "vertex-a")
        .unwrap();
    assert_eq!(a["state"], "cooling", "{a}");
    assert!(a["detail"].as_str().unwrap().contains(label), "{a}");
}

fn claude_call(kp: &Harness) -> CallFuture<'_> {
    Box::pin(claude(kp, "us-east5-aiplatform.googleapis.com"))
}

type CallFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = reqwest::Response> + 'a>>;

#[tokio::test]
async fn gemini_resource_exhausted_rotates_to_the_second_service_account() {
    let limited = Behaviour::RateLimited {
        retry_after_secs: None,
    };
    rotates_on(limited, |kp| Box::pin(gemini(kp)), "429 RESOURCE_EXHAUSTED").await;
}

#[tokio::test]
async fn claude_quota_in_googles_shape_rotates_to_the_second_service_account() {
    let limited = Behaviour::RateLimited {
        retry_after_secs: None,
    };
    rotates_on(limited, claude_call, "429 RESOURCE_EXHAUSTED").await;
}

#[tokio::test]
async fn claude_overload_in_anthropics_shape_rotates_to_the_second_service_account() {
    rotates_on(Behaviour::Overloaded, claude_call, "529 overloaded_error").await;
}

/// Broken key files: each account is disabled with the file and the field named, the
/// good one serves, and the key is in no answer and no log line.
#[tokio::test(flavor = "multi_thread")]
async fn bad_key_files_disable_their_account_naming_the_file_and_field() {
    let w = world().await;
    let (good, good_file) = service_account(&w, "good");
    let key_line = good.private_pem.lines().nth(1).unwrap().to_string();
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut v = good.key_file();
    v.as_object_mut().unwrap().remove("private_key");
    cases.push(("no-key", v, "field private_key is missing"));
    let mut v = good.key_file();
    v["private_key"] = json!(key_line.clone());
    cases.push(("not-pem", v, "field private_key is not a PEM private key"));
    let mut v = good.key_file();
    v["type"] = json!("external_account");
    cases.push(("wrong-type", v, "field type is \"external_account\""));
    let mut v = good.key_file();
    v["token_uri"] = json!("https://collector.example/token");
    cases.push((
        "elsewhere",
        v,
        "field token_uri is not an https address on a Google",
    ));
    let mut accounts = account("vertex-good", &good_file);
    let mut files = Vec::new();
    for (name, v, _) in &cases {
        let f = w.fixture(&format!("keys/{name}.json"), &v.to_string());
        accounts += &account(&format!("vertex-{name}"), &f);
        files.push(f);
    }
    let mut w = w.accounts(&accounts);
    let spawned = w.spawn().await;

    let status = spawned.status().await;
    let members = status["pools"][0]["accounts"].as_array().unwrap().clone();
    for ((name, _, field), file) in cases.iter().zip(&files) {
        let m = members
            .iter()
            .find(|m| m["name"] == format!("vertex-{name}"))
            .unwrap();
        assert_eq!(m["state"], "disabled", "{m}");
        let why = m["detail"].as_str().unwrap();
        assert!(
            why.contains(&file.display().to_string()),
            "names the file: {why}"
        );
        assert!(why.contains(field), "names the field: {why}");
        assert!(!why.contains(&key_line), "quotes the key: {name}");
    }
    let client = spawned.client();
    let r = client
        .post(format!(
            "https://us-east5-aiplatform.googleapis.com{CLAUDE}"
        ))
        .bearer_auth(CLIENT_TOKEN)
        .body(
            json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 1, "messages": []})
                .to_string(),
        )
        .send()
        .within("a Claude call through the keypool binary")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(support::account_of(&r), "vertex-good");
    let (code, log) = spawned.stop().await;
    assert_eq!(code, Some(0));
    for (name, _, field) in &cases {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("vertex-{name}")) && l.contains("account disabled"))
            .unwrap_or_else(|| panic!("no log line disables vertex-{name}"));
        assert!(line.contains(field), "the log line names the field: {name}");
    }
    let mut secrets = support::logs::Secrets::default();
    for l in good.private_pem.lines().filter(|l| !l.starts_with("-----")) {
        secrets.add("a line of the private key", l);
    }
    secrets.add("the client's own token", CLIENT_TOKEN);
    for t in w.fake().credentials_seen() {
        secrets.add("a minted token", &t);
    }
    secrets.assert_absent_from("keypool serve's log", &log);
}
