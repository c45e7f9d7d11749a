//! A reload keeps a subscription login's token state: a login whose provider, flavor and
//! source stay is the same account after the reload, so a refresh in flight is not done a
//! second time (a single-use refresh token redeemed twice kills the login). A login whose
//! source or flavor changed is built afresh.

use crate::oauth::{login_account, short_claude_message as claude_message};
use crate::support;

use keypool::RunningProxy;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::guard::Within;
use support::keypool::Harness;
use support::oauth::codex_auth_json;
use support::scenario::Scenario;
use support::Flavor;

/// The subscription world (`crate::oauth::world`) with its config on disk, and a Claude
/// login `max` whose access token is due for a refresh (60 s left, inside the margin).
async fn world() -> (Scenario, Harness) {
    let mut w = crate::oauth::world().await.reloadable();
    let id = w.oauth_server().identity(Flavor::Anthropic, "max");
    w.stored_login("max", "anthropic", &id, Duration::from_secs(60));
    let kp = w.start().await;
    (w, kp)
}

fn same_account(proxy: &RunningProxy, name: &str, before: &Arc<impl Sized>) -> bool {
    let now = proxy.state().oauth_account(name).unwrap();
    std::ptr::eq(
        Arc::as_ptr(&now).cast::<u8>(),
        Arc::as_ptr(before).cast::<u8>(),
    )
}

#[tokio::test]
async fn a_reload_while_a_refresh_is_held_makes_no_second_token_call() {
    let (w, kp) = world().await;
    let proxy = &kp.proxy;
    let client = kp.client();
    let before = proxy.state().oauth_account("max").unwrap();

    w.oauth_server().hold_token_endpoint();
    let first = tokio::spawn(claude_message(client.clone()));
    w.oauth_server().wait_token_call().await;
    let message = keypool::reload::reload(proxy.state()).unwrap();
    assert!(message.starts_with("reloaded"), "{message}");
    // Sent to the reloaded pools while the first refresh is still held.
    let second = tokio::spawn(claude_message(client.clone()));
    w.oauth_server().release_token_endpoint();

    for (which, task) in [("first", first), ("second", second)] {
        let status = task.within("a request behind the held refresh").await;
        assert_eq!(status.unwrap(), 200, "{which}");
    }
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        1,
        "one refresh"
    );
    assert_eq!(claude_message(client).await, 200, "the login still serves");
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
    assert_eq!(w.fake().seen().len(), 3);
    assert!(same_account(proxy, "max", &before), "the login is kept");
}

#[tokio::test]
async fn a_reload_takes_a_new_login_of_an_unchanged_account() {
    let (w, kp) = world().await;
    let proxy = &kp.proxy;
    let before = proxy.state().oauth_account("max").unwrap();
    // `keypool login` wrote a new login for the account, then the user reloaded.
    let id = w.oauth_server().identity(Flavor::Anthropic, "max");
    let new = w.oauth_server().grant(&id);
    let creds = json!({"version": 1, "accounts": {"max": {
        "provider": "anthropic",
        "access_token": new.access,
        "refresh_token": new.refresh,
        "expires_at": w.ms_from_now(Duration::from_secs(3600)),
    }}});
    kp.home_file("credentials.json", &creds.to_string());
    keypool::reload::reload(proxy.state()).unwrap();

    assert!(same_account(proxy, "max", &before));
    let now = proxy.state().oauth_account("max").unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&now.tokens().refresh.unwrap()),
        new.refresh
    );
    assert_eq!(claude_message(kp.client()).await, 200);
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        0,
        "the new login is fresh"
    );
}

#[tokio::test]
async fn a_reload_that_changes_the_source_or_flavor_builds_the_login_afresh() {
    let (w, mut kp) = world().await;
    let stored_login = kp.proxy.state().oauth_account("max").unwrap();
    let oauth = w.oauth_server();

    // Another source: Claude Code's own file.
    let id = oauth.identity(Flavor::Anthropic, "max");
    let g = oauth.grant(&id);
    let login = json!({"claudeAiOauth": {"accessToken": g.access, "refreshToken": g.refresh,
        "expiresAt": w.ms_from_now(Duration::from_secs(3600))}});
    let file = kp.fixture(".claude/.credentials.json", &login.to_string());
    let link = format!("link:{}", file.display());
    kp.rewrite_accounts(&login_account("max", "anthropic", &link));
    keypool::reload::reload(kp.proxy.state()).unwrap();
    assert!(
        !same_account(&kp.proxy, "max", &stored_login),
        "another file"
    );
    let linked_login = kp.proxy.state().oauth_account("max").unwrap();
    assert_eq!(linked_login.flavor.provider_id(), "anthropic");

    // Another flavor: the name now stands for a Codex login.
    let codex = oauth.identity(Flavor::Codex, "max");
    let g = oauth.grant(&codex);
    let file = kp.fixture(".codex/auth.json", &codex_auth_json(&g, &codex));
    let link = format!("link:{}", file.display());
    kp.rewrite_accounts(&login_account("max", "openai-codex", &link));
    keypool::reload::reload(kp.proxy.state()).unwrap();
    assert!(
        !same_account(&kp.proxy, "max", &linked_login),
        "another flavor"
    );
    let now = kp.proxy.state().oauth_account("max").unwrap();
    assert_eq!(now.flavor.provider_id(), "openai-codex");

    // The same again: kept.
    keypool::reload::reload(kp.proxy.state()).unwrap();
    assert!(same_account(&kp.proxy, "max", &now), "nothing changed");
}
