//! Linked accounts: a write-back to the CLI's file that fails is pending the same way,
//! retried under the CLI's lock protocol, and yields to newer tokens the CLI wrote
//! meanwhile instead of overwriting them.

use super::{assert_intact, assert_nothing_left, first_account, guard, logs, read_json};
use super::{until_saved, world};
use super::{QUICK, UNSAVED};
use crate::support::oauth::codex_auth_json;
use crate::support::{Flavor, Grant, Identity};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn linked(name: &str, path: &Path) -> String {
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"openai-codex\"\noauth = \"link:{}\"\n",
        path.display()
    )
}

async fn codex_request(client: &reqwest::Client) -> reqwest::Response {
    let body = json!({
        "model": "gpt-5-codex", "instructions": "", "input": [], "stream": true, "store": false
    });
    let send = client
        .post("https://chatgpt.com/backend-api/codex/responses")
        .bearer_auth("client-own-chatgpt-token")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send();
    guard("a Codex request through keypool", send)
        .await
        .unwrap()
}

/// A Codex login whose access token is already inside the refresh margin, in its
/// CLI's `auth.json` under `dir`.
fn expiring_codex(
    w: &super::World,
    label: &str,
    dir: &Path,
) -> (Identity, Grant, std::path::PathBuf) {
    let id = w.oauth_server().identity(Flavor::Codex, label);
    w.oauth_server().set_expires_in(Flavor::Codex, 60);
    let g = w.oauth_server().grant(&id);
    w.oauth_server().set_expires_in(Flavor::Codex, 3600);
    let file = dir.join("auth.json");
    std::fs::write(&file, codex_auth_json(&g, &id)).unwrap();
    (id, g, file)
}

#[tokio::test]
async fn a_failed_write_back_is_pending_survives_a_reload_and_lands() {
    let logs = logs::capture();
    let mut w = world().await;
    let name = "linked-saver";
    let cli_dir = tempfile::tempdir().unwrap();
    let (_, g, file) = expiring_codex(&w, name, cli_dir.path());
    let proxy = w.start(&linked(name, &file)).await;
    let store = &proxy.state().store;
    store.pace_retries(QUICK.0, QUICK.1);
    store.fail_writes(true);
    let before = std::fs::read(&file).unwrap();
    let client = proxy.client();

    assert_eq!(codex_request(&client).await.status(), 200);
    assert_eq!(w.oauth_server().token_calls(Flavor::Codex), 1);
    let served = w.fake().seen().pop().unwrap().credential.unwrap();
    assert_ne!(served, g.access);
    assert_intact(&file, &before);
    assert_eq!(first_account(&proxy).await["unsaved"], UNSAVED);

    // A reload reads the file, which is behind: the account keeps its new tokens.
    keypool::reload::reload(proxy.state()).unwrap();
    assert_eq!(codex_request(&client).await.status(), 200);
    assert_eq!(w.fake().seen().pop().unwrap().credential.unwrap(), served);
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Codex),
        1,
        "the spent token is never presented"
    );
    assert_eq!(first_account(&proxy).await["unsaved"], UNSAVED);

    logs.wait_for(name, "attempt 2 failed", 1).await;
    store.fail_writes(false);
    until_saved(&proxy).await;
    let v: Value = read_json(&file);
    assert_eq!(v["tokens"]["access_token"], served.as_str(), "written back");
    assert_eq!(
        v["future_field"],
        json!({"keep": [1, 2, 3]}),
        "the CLI's fields kept"
    );
    assert_nothing_left(cli_dir.path());
    assert_eq!(first_account(&proxy).await["unsaved"], Value::Null);
    assert_eq!(logs.count(name, "WARN"), 1, "{:#?}", logs.of(name));
    assert_eq!(logs.count(name, "saved the refreshed login to"), 1);
    guard("shutdown", proxy.shutdown_keeping_home()).await;
    // The CLI goes on with its file: the refresh token there is the live one.
    let rt = v["tokens"]["refresh_token"].as_str().unwrap();
    assert!(w.oauth_server().use_refresh(Flavor::Codex, rt).is_ok());
}

#[tokio::test]
async fn newer_tokens_the_cli_wrote_meanwhile_are_adopted_not_overwritten() {
    let logs = logs::capture();
    let mut w = world().await;
    let name = "linked-cli";
    let cli_dir = tempfile::tempdir().unwrap();
    let (id, _, file) = expiring_codex(&w, name, cli_dir.path());
    let proxy = w.start(&linked(name, &file)).await;
    let store = &proxy.state().store;
    store.pace_retries(QUICK.0, QUICK.1);
    store.fail_writes(true);
    let client = proxy.client();
    assert_eq!(codex_request(&client).await.status(), 200);
    let served = w.fake().seen().pop().unwrap().credential.unwrap();
    assert_eq!(first_account(&proxy).await["unsaved"], UNSAVED);

    // The user logs in again with the CLI, which writes under its lock as keypool does.
    let fresh = w.oauth_server().grant(&id);
    let lock = keypool::file_lock::acquire(&file, Duration::from_secs(10)).unwrap();
    std::fs::write(&file, codex_auth_json(&fresh, &id)).unwrap();
    drop(lock);
    let cli_wrote = std::fs::read(&file).unwrap();

    store.fail_writes(false);
    until_saved(&proxy).await;
    assert_eq!(
        std::fs::read(&file).unwrap(),
        cli_wrote,
        "the CLI's newer tokens stay"
    );
    logs.wait_for(name, "its CLI wrote newer tokens", 1).await;
    let calls = w.oauth_server().token_calls(Flavor::Codex);
    assert_eq!(codex_request(&client).await.status(), 200);
    let now = w.fake().seen().pop().unwrap().credential.unwrap();
    assert!(now != served, "still keypool's own refreshed token");
    assert!(now == fresh.access, "the account took the CLI's tokens");
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Codex),
        calls,
        "without refreshing them"
    );
    assert_eq!(first_account(&proxy).await["unsaved"], Value::Null);
    guard("shutdown", proxy.shutdown_keeping_home()).await;
}
