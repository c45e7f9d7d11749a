//! Accounts linked to a native CLI's credential file: refreshed tokens are written back
//! keeping the file's other fields, and the CLI's lock and its own refresh are respected.

use super::world;
use crate::support::guard::Within;
use crate::support::oauth::codex_auth_json;
use crate::support::scenario::Scenario;
use crate::support::{Flavor, Grant, Identity};
use serde_json::{json, Value};
use std::path::Path;

fn linked(name: &str, path: &Path) -> String {
    let link = format!("link:{}", path.display());
    super::login_account(name, "openai-codex", &link)
}

pub async fn codex_request(kp: &super::Harness) -> reqwest::Response {
    kp.client()
        .post("https://chatgpt.com/backend-api/codex/responses")
        .bearer_auth("client-own-chatgpt-token")
        .header("chatgpt-account-id", "client-own-account")
        .header("openai-beta", "responses=experimental")
        .header("content-type", "application/json")
        .body(json!({"model": "gpt-5-codex", "instructions": "", "input": [], "stream": true, "store": false}).to_string())
        .send()
        .within("the answer to a Codex request through keypool").await
        .unwrap()
}

/// A Codex login whose access token is already within the refresh margin.
fn expiring_codex(w: &Scenario, label: &str) -> (Identity, Grant) {
    let id = w.oauth_server().identity(Flavor::Codex, label);
    w.oauth_server().set_expires_in(Flavor::Codex, 60);
    let g = w.oauth_server().grant(&id);
    w.oauth_server().set_expires_in(Flavor::Codex, 3600);
    (id, g)
}

#[tokio::test]
async fn refreshed_tokens_are_written_back_keeping_every_other_field() {
    let w = world().await;
    let (id, g) = expiring_codex(&w, "work");
    let file = w.fixture(".codex/auth.json", &codex_auth_json(&g, &id));
    let mut w = w.accounts(&linked("codex-work", &file));
    let kp = w.start().await;

    let r = codex_request(&kp).await;
    assert_eq!(r.status(), 200);
    assert_eq!(w.oauth_server().token_calls(Flavor::Codex), 1);
    let seen = w.fake().seen().pop().unwrap();
    let sent = seen.credential.unwrap();
    assert_ne!(sent, g.access);
    assert_eq!(seen.headers["chatgpt-account-id"], id.account_id.as_str());

    let v: Value = super::read_json(&file);
    assert_eq!(v["tokens"]["access_token"], sent.as_str(), "written back");
    assert_ne!(v["tokens"]["refresh_token"], g.refresh.as_str());
    assert_ne!(v["last_refresh"], "2026-11-01T00:00:00.000Z");
    assert_eq!(v["future_field"], json!({"keep": [1, 2, 3]}));
    assert_eq!(v["auth_mode"], "chatgpt");
    assert_eq!(v["tokens"]["account_id"], id.account_id.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The CLI can go on using its file: the refresh token in it is the live one.
    let rt = v["tokens"]["refresh_token"].as_str().unwrap();
    assert!(w.oauth_server().use_refresh(Flavor::Codex, rt).is_ok());
}

#[tokio::test]
async fn waits_for_the_clis_lock_and_takes_the_tokens_the_cli_refreshed() {
    let w = world().await;
    let (id, g) = expiring_codex(&w, "shared");
    let file = w.fixture(".codex/auth.json", &codex_auth_json(&g, &id));
    let mut w = w.accounts(&linked("codex-shared", &file));
    let kp = w.start().await;

    // The CLI holds the lock (proper-lockfile: `<file>.lock`) while it refreshes.
    let lock = file.with_file_name("auth.json.lock");
    std::fs::create_dir(&lock).unwrap();
    let client = kp.client();
    let pending = tokio::spawn(async move {
        client
            .post("https://chatgpt.com/backend-api/codex/responses")
            .bearer_auth("client-own-chatgpt-token")
            .header("content-type", "application/json")
            .body(
                json!({"model": "gpt-5-codex", "input": [], "stream": true, "store": false})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .status()
    });
    let cli = w
        .oauth_server()
        .use_refresh(Flavor::Codex, &g.refresh)
        .unwrap();
    std::fs::write(&file, codex_auth_json(&cli, &id)).unwrap();
    std::fs::remove_dir(&lock).unwrap();

    assert_eq!(
        pending
            .within("the Codex request that waited for the CLI's lock")
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Codex),
        0,
        "keypool used the CLI's fresh tokens instead of refreshing (and burning) them again"
    );
    assert_eq!(
        w.fake().seen().pop().unwrap().credential.unwrap(),
        cli.access
    );
}
