//! A reload keeps a subscription login's token state: a login whose provider, flavor and
//! source stay is the same account after the reload, so a refresh in flight is not done a
//! second time (a single-use refresh token redeemed twice kills the login). A login whose
//! source or flavor changed is built afresh.

use crate::support;

use keypool::pool::{Clock, ManualClock};
use keypool::{Config, Home, ProxyOptions, RunningProxy};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::guard::Within;
use support::keypool::config_text_with;
use support::oauth::codex_auth_json;
use support::{every_host, FakeOAuth, FakeProvider, Flavor, Grant, TestCa};

struct World {
    fake: FakeProvider,
    oauth: FakeOAuth,
    clock: Arc<ManualClock>,
    home: tempfile::TempDir,
    /// The config file, the test CA and linked credential files.
    fixtures: tempfile::TempDir,
}

async fn world() -> World {
    let ca = TestCa::new();
    let fake = FakeProvider::start(&ca, &every_host()).await;
    let oauth = FakeOAuth::start(&ca, Some(&fake)).await;
    let fixtures = tempfile::tempdir().unwrap();
    ca.write_pem(fixtures.path());
    World {
        fake,
        oauth,
        clock: Arc::new(ManualClock::new(SystemTime::now())),
        home: tempfile::tempdir().unwrap(),
        fixtures,
    }
}

impl World {
    fn config(&self) -> PathBuf {
        self.fixtures.path().join("keypool.toml")
    }

    /// Writes the config file keypool starts with and reads again on reload.
    fn write_config(&self, accounts: &str) {
        let text = config_text_with(
            accounts,
            0,
            Some(self.fake.addr()),
            &self.oauth.connect_to(),
            &self.fixtures.path().join("test-ca.pem"),
        );
        std::fs::write(self.config(), text).unwrap();
    }

    async fn start(&self, accounts: &str) -> RunningProxy {
        self.write_config(accounts);
        let config = Config::load(&self.config()).unwrap();
        let mut opts = ProxyOptions::new(Home::at(self.home.path()), config);
        opts.clock = self.clock.clone();
        opts.config_path = Some(self.config());
        keypool::start(opts).await.unwrap()
    }

    /// A Claude login `name` in `credentials.json` whose access token is due for a
    /// refresh (60 s left, inside the margin).
    fn expiring_claude(&self, name: &str) -> Grant {
        let id = self.oauth.identity(Flavor::Anthropic, name);
        let g = self.oauth.grant(&id);
        let expires = ms(self.clock.now() + Duration::from_secs(60));
        let entry = json!({
            "provider": "anthropic",
            "access_token": g.access,
            "refresh_token": g.refresh,
            "expires_at": expires,
            "account_id": id.account_id,
            "email": id.email,
        });
        let creds = json!({"version": 1, "accounts": {name: entry}}).to_string();
        write_private(&self.home.path().join("credentials.json"), &creds);
        g
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn account(name: &str, provider: &str, oauth: &str) -> String {
    format!("[[accounts]]\nname = \"{name}\"\nprovider = \"{provider}\"\noauth = \"{oauth}\"\n")
}

fn client(proxy: &RunningProxy, home: &Path) -> reqwest::Client {
    let pem = std::fs::read_to_string(home.join("certs/ca.pem")).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", proxy.addr())).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// A Claude Code message through keypool; its status.
async fn claude_message(client: reqwest::Client) -> reqwest::StatusCode {
    client
        .post("https://api.anthropic.com/v1/messages")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(json!({"model": "m", "max_tokens": 1, "messages": []}).to_string())
        .send()
        .within("the answer to a Claude message through keypool")
        .await
        .unwrap()
        .status()
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
    let w = world().await;
    w.expiring_claude("max");
    let proxy = w.start(&account("max", "anthropic", "stored")).await;
    let client = client(&proxy, w.home.path());
    let before = proxy.state().oauth_account("max").unwrap();

    w.oauth.hold_token_endpoint();
    let first = tokio::spawn(claude_message(client.clone()));
    w.oauth.wait_token_call().await;
    let message = keypool::server::reload(proxy.state()).unwrap();
    assert!(message.starts_with("reloaded"), "{message}");
    // Sent to the reloaded pools while the first refresh is still held.
    let second = tokio::spawn(claude_message(client.clone()));
    w.oauth.release_token_endpoint();

    for (which, task) in [("first", first), ("second", second)] {
        let status = task.within("a request behind the held refresh").await;
        assert_eq!(status.unwrap(), 200, "{which}");
    }
    assert_eq!(w.oauth.token_calls(Flavor::Anthropic), 1, "one refresh");
    assert_eq!(claude_message(client).await, 200, "the login still serves");
    assert_eq!(w.oauth.token_calls(Flavor::Anthropic), 1);
    assert_eq!(w.fake.seen().len(), 3);
    assert!(same_account(&proxy, "max", &before), "the login is kept");
}

#[tokio::test]
async fn a_reload_takes_a_new_login_of_an_unchanged_account() {
    let w = world().await;
    w.expiring_claude("max");
    let proxy = w.start(&account("max", "anthropic", "stored")).await;
    let before = proxy.state().oauth_account("max").unwrap();
    // `keypool login` wrote a new login for the account, then the user reloaded.
    let id = w.oauth.identity(Flavor::Anthropic, "max");
    let new = w.oauth.grant(&id);
    let creds = json!({"version": 1, "accounts": {"max": {
        "provider": "anthropic",
        "access_token": new.access,
        "refresh_token": new.refresh,
        "expires_at": ms(w.clock.now() + Duration::from_secs(3600)),
    }}});
    write_private(&w.home.path().join("credentials.json"), &creds.to_string());
    keypool::server::reload(proxy.state()).unwrap();

    assert!(same_account(&proxy, "max", &before));
    let now = proxy.state().oauth_account("max").unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&now.tokens().refresh.unwrap()),
        new.refresh
    );
    assert_eq!(claude_message(client(&proxy, w.home.path())).await, 200);
    assert_eq!(
        w.oauth.token_calls(Flavor::Anthropic),
        0,
        "the new login is fresh"
    );
}

#[tokio::test]
async fn a_reload_that_changes_the_source_or_flavor_builds_the_login_afresh() {
    let w = world().await;
    w.expiring_claude("max");
    let proxy = w.start(&account("max", "anthropic", "stored")).await;
    let stored = proxy.state().oauth_account("max").unwrap();

    // Another source: Claude Code's own file.
    let id = w.oauth.identity(Flavor::Anthropic, "max");
    let g = w.oauth.grant(&id);
    let file = w.fixtures.path().join(".claude/.credentials.json");
    let login = json!({"claudeAiOauth": {"accessToken": g.access, "refreshToken": g.refresh,
        "expiresAt": ms(w.clock.now() + Duration::from_secs(3600))}});
    write_private(&file, &login.to_string());
    let link = format!("link:{}", file.display());
    w.write_config(&account("max", "anthropic", &link));
    keypool::server::reload(proxy.state()).unwrap();
    assert!(!same_account(&proxy, "max", &stored), "another file");
    let linked = proxy.state().oauth_account("max").unwrap();
    assert_eq!(linked.flavor.provider_id(), "anthropic");

    // Another flavor: the name now stands for a Codex login.
    let codex = w.oauth.identity(Flavor::Codex, "max");
    let g = w.oauth.grant(&codex);
    let file = w.fixtures.path().join(".codex/auth.json");
    write_private(&file, &codex_auth_json(&g, &codex));
    let link = format!("link:{}", file.display());
    w.write_config(&account("max", "openai-codex", &link));
    keypool::server::reload(proxy.state()).unwrap();
    assert!(!same_account(&proxy, "max", &linked), "another flavor");
    let now = proxy.state().oauth_account("max").unwrap();
    assert_eq!(now.flavor.provider_id(), "openai-codex");

    // The same again: kept.
    keypool::server::reload(proxy.state()).unwrap();
    assert!(same_account(&proxy, "max", &now), "nothing changed");
}
