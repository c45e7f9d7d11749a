//! Cloud Code's Terms of Service ban over real TLS: a 403 PERMISSION_DENIED saying the
//! service was disabled "for violation of Terms of Service" (an ErrorInfo of
//! cloudcode-pa.googleapis.com with an appeal link) takes that gemini-cli login out with
//! its rule, reason and the appeal link as the fix; the next account serves the request
//! and the banned one is not asked again, also when the ban answers the login's project
//! discovery first. A 403 PERMISSION_DENIED of another kind (the API not enabled in a
//! project) is not a ban.

use super::account;
use crate::support::guard::Within;
use crate::support::keypool::{status_command, status_json, Harness};
use crate::support::scenario::Scenario;
use crate::support::{every_host, Behaviour, Flavor};
use serde_json::json;
use std::time::Duration;

const APPEAL: &str = "https://support.google.com/gemini/contact/code_assist_appeal";

/// The ban as Cloud Code words it. The ErrorInfo `reason` is not known from a capture
/// ([UNVERIFIED]); the rule reads the status and the message, not the reason.
fn ban() -> String {
    json!({"error": {
        "code": 403,
        "message": "This service has been disabled in this account for violation of Terms \
            of Service. Please submit an appeal to continue using this product.",
        "status": "PERMISSION_DENIED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCOUNT_DISABLED",
            "domain": "cloudcode-pa.googleapis.com",
            "metadata": {"appeal_url": APPEAL},
        }],
    }})
    .to_string()
}

fn forbidden(body: String) -> Behaviour {
    Behaviour::Verbatim {
        status: 403,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=UTF-8".into(),
        )],
        body,
    }
}

/// Stored gemini-cli logins, their projects known (no discovery call); their tokens.
fn gemini_logins(s: &mut Scenario, names: &[&str]) -> Vec<String> {
    let mut tokens = Vec::new();
    for name in names {
        let id = s.oauth_server().identity(Flavor::Google, name);
        let g = s.oauth_server().grant(&id);
        let entry = json!({"provider": "google-gemini-cli", "access_token": g.access,
            "refresh_token": g.refresh, "expires_at": s.ms_from_now(Duration::from_secs(3600)),
            "email": id.email, "project": id.project});
        s.stored_entry(name, "google-gemini-cli", entry);
        tokens.push(g.access);
    }
    tokens
}

async fn generate(kp: &Harness) -> reqwest::Response {
    kp.client()
        .post("https://cloudcode-pa.googleapis.com/v1internal:generateContent")
        .bearer_auth("ya29.client-own")
        .json(
            &json!({"model": "gemini-2.5-pro", "project": "client-own-project",
                      "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}),
        )
        .send()
        .within("a Cloud Code request through keypool")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_terms_of_service_ban_disables_the_login_with_the_appeal_and_the_next_serves() {
    let s = Scenario::new().provider(&every_host()).await;
    let mut s = s.oauth().await;
    let tokens = gemini_logins(&mut s, &["banned", "fine"]);
    s.fake().set(&tokens[0], forbidden(ban()));
    let kp = s.start().await;

    let r = generate(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "fine");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");

    let status = status_json(kp.addr()).await;
    let a = account(&status, "banned");
    assert_eq!(a["state"], "disabled", "{a}");
    assert_eq!(a["terminal"], "cloudcode-tos-ban");
    let detail = a["detail"].as_str().unwrap();
    assert!(
        detail.contains("403 Google disabled Code Assist"),
        "{detail}"
    );
    assert!(
        detail.contains("violation of its Terms of Service"),
        "{detail}"
    );
    assert!(detail.contains("fix: appeal the suspension"), "{detail}");
    assert!(
        detail.contains(APPEAL),
        "the appeal link from the answer: {detail}"
    );
    assert!(!detail.contains(&tokens[0]));
    assert_eq!(account(&status, "fine")["state"], "ok");

    for _ in 0..2 {
        let r = generate(&kp).await;
        assert_eq!(r.headers()["x-keypool-account"], "fine");
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    let banned_asked = (s.fake().credentials_seen().iter())
        .filter(|c| **c == tokens[0])
        .count();
    assert_eq!(banned_asked, 1, "never tried again");

    // `keypool status` says it too.
    let dir = tempfile::tempdir().unwrap();
    let out = status_command(dir.path(), kp.addr(), "keypool status").await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cloudcode-tos-ban"), "{text}");
    assert!(text.contains(APPEAL), "{text}");
}

#[tokio::test]
async fn a_permission_denied_that_is_no_ban_leaves_the_login_in() {
    let s = Scenario::new().provider(&every_host()).await;
    let mut s = s.oauth().await;
    let tokens = gemini_logins(&mut s, &["only"]);
    let not_enabled = json!({"error": {
        "code": 403,
        "message": "Gemini for Google Cloud API has not been used in project 1234 before or \
            it is disabled.",
        "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "SERVICE_DISABLED", "domain": "googleapis.com"}],
    }});
    s.fake().set(&tokens[0], forbidden(not_enabled.to_string()));
    let kp = s.start().await;
    // Whatever keypool makes of it otherwise (a refused token, refreshed), not a ban.
    generate(&kp).await;
    let status = status_json(kp.addr()).await;
    let a = account(&status, "only");
    assert!(a.get("terminal").is_none(), "{a}");
    assert_eq!(a["state"], "ok", "{a}");
}

/// A login whose project keypool has yet to learn meets the ban at `loadCodeAssist`
/// first: the account's turn ends there, as if a request had been answered so.
#[tokio::test]
async fn a_ban_met_at_project_discovery_ends_the_turn_the_same_way() {
    let s = Scenario::new().provider(&every_host()).await;
    let mut s = s.oauth().await;
    let id = s.oauth_server().identity(Flavor::Google, "banned");
    let g = s.stored_login(
        "banned",
        "google-gemini-cli",
        &id,
        Duration::from_secs(3600),
    );
    gemini_logins(&mut s, &["fine"]);
    s.fake().set(&g.access, forbidden(ban()));
    let kp = s.start().await;

    for _ in 0..2 {
        let r = generate(&kp).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "fine");
    }
    let status = status_json(kp.addr()).await;
    let a = account(&status, "banned");
    assert_eq!(a["state"], "disabled", "{a}");
    assert_eq!(a["terminal"], "cloudcode-tos-ban", "{a}");
    let detail = a["detail"].as_str().unwrap();
    assert!(detail.contains("fix: appeal the suspension"), "{detail}");
    assert!(detail.contains(APPEAL), "{detail}");
    let asked: Vec<_> = (s.fake().seen().into_iter())
        .filter(|r| r.credential.as_deref() == Some(g.access.as_str()))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        asked,
        ["/v1internal:loadCodeAssist"],
        "asked once, never again"
    );
}
