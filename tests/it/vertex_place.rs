//! Vertex AI accounts each in a project and location of their own, through keypool over
//! real TLS to the fake aiplatform hosts (which serve a token only on its own project, and
//! a location only on its own host): the client's `projects/{p}/locations/{l}` and host
//! replaced by the account's (the project from the config, else the key file), a quota
//! 429 replayed in the next account's place with its minted token, the Claude body byte
//! for byte; a path with no location or with a dot segment keeps the client's token and
//! path; an account in a region keypool's table does not list gets its host, and the CA
//! signs for it.

use crate::support;

use keypool::clock::ManualClock;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use support::fake::vertex::host_of;
use support::fake::VERTEX_HOSTS;
use support::guard::Within;
use support::keypool::{read_head, status_json, Harness};
use support::oauth::google_keys::ServiceAccount;
use support::scenario::Scenario;
use support::Behaviour;
use tokio::io::AsyncWriteExt;

/// What gcloud hands the client, and the project the client's SDK is set up for: neither
/// may reach another account's place.
const CLIENT_TOKEN: &str = "ya29.client-own-gcloud-token";
const CLIENT_PROJECT: &str = "client-proj-0";
const CLAUDE_MODEL: &str = "publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict";
/// A region Vertex serves that keypool's table does not list.
const UNLISTED: &str = "africa-south1";

/// The Claude body as a client wrote it: spacing and key order of its own, which keypool
/// must not normalise.
const CLAUDE_BODY: &str = "{ \"anthropic_version\":\"vertex-2023-10-16\",  \"max_tokens\": 16,\n  \
     \"messages\":[{\"role\":\"user\",\"content\":\"hi\"}] }";

async fn world() -> Scenario {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let unlisted = host_of(UNLISTED);
    let mut hosts = VERTEX_HOSTS.to_vec();
    hosts.push(&unlisted);
    let s = Scenario::new().provider(&hosts).await.oauth().await;
    s.oauth_server().google_keys_clock((*clock).clone());
    s.clock(clock)
}

fn service_account(w: &Scenario, name: &str, project: &str) -> (ServiceAccount, PathBuf) {
    let sa = ServiceAccount::generate(name, project);
    w.oauth_server().add_service_account(&sa);
    let path = w.fixture(&format!("keys/{name}.json"), &sa.key_file().to_string());
    (sa, path)
}

fn account(name: &str, file: &Path, place: &str) -> String {
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"google-vertex\"\noauth = \"link:{}\"\n{place}\n",
        file.display()
    )
}

fn claude_path(project: &str, location: &str) -> String {
    format!("/v1/projects/{project}/locations/{location}/{CLAUDE_MODEL}")
}

async fn post(kp: &Harness, host: &str, path: &str, body: &str) -> reqwest::Response {
    kp.client()
        .post(format!("https://{host}{path}"))
        .bearer_auth(CLIENT_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .within("a Vertex AI call through keypool")
        .await
        .unwrap()
}

/// Nothing of the client's place or login in what reached the fake.
fn assert_nothing_of_the_clients(req: &support::fake::SeenRequest, what: &str) {
    assert!(!req.path.contains(CLIENT_PROJECT), "{what}: {}", req.path);
    for (name, value) in &req.headers {
        let v = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !v.contains(CLIENT_TOKEN) && !v.contains(CLIENT_PROJECT),
            "{what}: the client's own in {name}"
        );
    }
}

/// Service account A (its key file's project, us-east5) is out of quota; B (project
/// proj-b-2 from the config, global) takes the replay: each attempt in its own place, on
/// its own host with its own SNI, with its own minted token, the body untouched.
#[tokio::test]
async fn a_quota_429_in_one_project_is_replayed_in_the_next_accounts_project_and_location() {
    let w = world().await;
    let (a, file_a) = service_account(&w, "a", "proj-a-1");
    let (_, file_b) = service_account(&w, "b", "proj-b-2");
    let limited = Behaviour::RateLimited {
        retry_after_secs: None,
    };
    w.oauth_server().set_vertex_behaviour(&a.email, limited);
    let accounts = account("vertex-a", &file_a, "location = \"us-east5\"")
        + &account(
            "vertex-b",
            &file_b,
            "project = \"proj-b-2\"\nlocation = \"global\"",
        );
    let mut w = w.accounts(&accounts);
    let kp = w.start().await;

    // The client's SDK is set up for its own project on the global endpoint.
    let sent = claude_path(CLIENT_PROJECT, "global");
    let r = post(&kp, "aiplatform.googleapis.com", &sent, CLAUDE_BODY).await;
    assert_eq!(r.status(), 200);
    assert_eq!(support::account_of(&r), "vertex-b");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["type"], "message", "{answer}");

    let seen = w.fake().seen();
    let [first, second] = &seen[..] else {
        panic!("two attempts upstream, got {}", seen.len())
    };
    assert_eq!(
        first.host.as_deref(),
        Some("us-east5-aiplatform.googleapis.com")
    );
    assert_eq!(first.path, claude_path("proj-a-1", "us-east5"));
    assert_eq!(second.host.as_deref(), Some("aiplatform.googleapis.com"));
    assert_eq!(second.path, claude_path("proj-b-2", "global"));
    let (ta, tb) = (first.credential.clone(), second.credential.clone());
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert!(
        ta.starts_with("ya29.c.") && tb.starts_with("ya29.c."),
        "minted tokens"
    );
    assert_ne!(ta, tb, "each account's own token");
    for (req, what) in [(first, "vertex-a"), (second, "vertex-b")] {
        assert_eq!(req.body, CLAUDE_BODY.as_bytes(), "{what}: the body as sent");
        assert_eq!(
            req.headers["authorization"],
            format!("Bearer {}", req.credential.as_ref().unwrap())
        );
        assert_nothing_of_the_clients(req, what);
    }
    let sni = w.fake().sni_seen();
    for host in [
        "us-east5-aiplatform.googleapis.com",
        "aiplatform.googleapis.com",
    ] {
        assert!(sni.iter().any(|s| s == host), "SNI {host} in {sni:?}");
    }
    let status = status_json(kp.addr()).await;
    let members = status["pools"][0]["accounts"].as_array().unwrap().clone();
    let a_state = members.iter().find(|m| m["name"] == "vertex-a").unwrap();
    assert_eq!(a_state["state"], "cooling", "{a_state}");
    assert!(
        a_state["detail"]
            .as_str()
            .unwrap()
            .contains("429 RESOURCE_EXHAUSTED"),
        "{a_state}"
    );
}

/// An account without a project or location of its own: its key file's project, the
/// client's location and host.
#[tokio::test]
async fn an_account_without_a_place_takes_its_key_files_project_and_the_clients_location() {
    let w = world().await;
    let (_, file) = service_account(&w, "solo", "proj-solo-9");
    let mut w = w.accounts(&account("vertex-solo", &file, ""));
    let kp = w.start().await;

    let sent = claude_path(CLIENT_PROJECT, "europe-west4");
    let r = post(
        &kp,
        "europe-west4-aiplatform.googleapis.com",
        &sent,
        CLAUDE_BODY,
    )
    .await;
    assert_eq!(r.status(), 200);
    let seen = w.fake().seen();
    let req = seen.last().unwrap();
    assert_eq!(
        req.host.as_deref(),
        Some("europe-west4-aiplatform.googleapis.com")
    );
    assert_eq!(req.path, claude_path("proj-solo-9", "europe-west4"));
    assert_nothing_of_the_clients(req, "vertex-solo");
}

/// An account in a region the table does not list: its calls go to that region's host,
/// and a client sent there directly gets a leaf the CA may sign (the config added it).
#[tokio::test]
async fn an_account_in_an_unlisted_region_gets_its_host_and_the_ca_covers_it() {
    let w = world().await;
    let (_, file) = service_account(&w, "far", "proj-far-3");
    let mut w = w.accounts(&account(
        "vertex-far",
        &file,
        &format!("location = \"{UNLISTED}\""),
    ));
    let kp = w.start().await;
    let unlisted = host_of(UNLISTED);

    let gemini = format!(
        "/v1/projects/{CLIENT_PROJECT}/locations/global/publishers/google/models/\
         gemini-2.5-pro:generateContent"
    );
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    let r = post(&kp, "aiplatform.googleapis.com", &gemini, body).await;
    assert_eq!(r.status(), 200);
    let direct = claude_path(CLIENT_PROJECT, UNLISTED);
    let r = post(&kp, &unlisted, &direct, CLAUDE_BODY).await;
    assert_eq!(r.status(), 200, "keypool's leaf for {unlisted} verified");
    let seen = w.fake().seen();
    let [g, c] = &seen[..] else {
        panic!("two calls upstream, got {}", seen.len())
    };
    assert_eq!(g.host.as_deref(), Some(unlisted.as_str()));
    assert_eq!(
        g.path,
        format!(
            "/v1/projects/proj-far-3/locations/{UNLISTED}/publishers/google/models/\
             gemini-2.5-pro:generateContent"
        )
    );
    assert_eq!(c.host.as_deref(), Some(unlisted.as_str()));
    assert_eq!(c.path, claude_path("proj-far-3", UNLISTED));
}

/// A call that names no location has no place to rewrite, and a dot segment could move
/// the call once Google normalises it: neither is covered, so each goes once as sent,
/// with the client's own token, and no token is minted for it.
#[tokio::test]
async fn a_path_without_a_location_or_with_a_dot_segment_keeps_the_clients_token_and_path() {
    let w = world().await;
    let (_, file) = service_account(&w, "a", "proj-a-1");
    let mut w = w.accounts(&account("vertex-a", &file, "location = \"us-east5\""));
    let kp = w.start().await;

    let no_location = format!("/v1/projects/{CLIENT_PROJECT}/{CLAUDE_MODEL}");
    let r = post(&kp, "aiplatform.googleapis.com", &no_location, CLAUDE_BODY).await;
    assert!(r.headers().get("x-keypool-account").is_none());

    // reqwest would remove the dot segment itself: sent raw through the tunnel.
    let dotted = format!(
        "/v1/projects/{CLIENT_PROJECT}/locations/global/publishers/anthropic/models/x/../\
         claude-sonnet-4-5@20250929:rawPredict"
    );
    let host = "aiplatform.googleapis.com";
    let mut tls = kp.tls_through(host, &kp.ca_pem()).await;
    let req = format!(
        "POST {dotted} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {CLIENT_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\
         {CLAUDE_BODY}",
        CLAUDE_BODY.len()
    );
    tls.write_all(req.as_bytes())
        .within("the dotted call into keypool")
        .await
        .unwrap();
    let head = read_head(&mut tls).within("keypool's answer").await;
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("x-keypool-account"),
        "{head}"
    );

    let seen = w.fake().seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [no_location.as_str(), dotted.as_str()]);
    for req in &seen {
        assert_eq!(req.host.as_deref(), Some(host));
        assert_eq!(req.credential.as_deref(), Some(CLIENT_TOKEN));
    }
    assert_eq!(w.oauth_server().assertion_grants(), 0, "no token minted");
}
