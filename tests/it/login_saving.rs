//! A refreshed login is never lost (issue 8 §2). With writes failing (the store's
//! injected "No space left on device", or a real full tmpfs), an OAuth refresh succeeds,
//! the request is served with the new tokens, everyone who looks is told "refreshed login
//! not saved: …; free disk space", the old file stays intact, the write is retried until
//! it lands (and once more at shutdown), a reload keeps it, and after a restart the
//! account refreshes with the new refresh token: the fake OAuth server, like Anthropic's
//! and OpenAI's, answers the spent one with invalid_grant.

use crate::support;

mod linked;
mod logs;
mod tmpfs;

use keypool::clock::ManualClock;
use serde_json::{json, Value};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::keypool::{status_json, Harness, Keypool};
use support::scenario::Scenario;
use support::{every_host, Flavor, Grant};

/// What the user is told while a refreshed login is not on disk.
pub const UNSAVED: &str =
    "refreshed login not saved: No space left on device (os error 28); free disk space";

/// Retries while writes fail come this fast in tests (production: 1 s doubling to 60 s).
pub const QUICK: (Duration, Duration) = (Duration::from_millis(20), Duration::from_millis(100));

/// A scenario with every host on the fake provider, the fake OAuth server and a manual
/// clock; keypool is reloadable (its config on disk) so a test can reload it.
pub struct World {
    s: Scenario,
    pub clock: Arc<ManualClock>,
}

impl Deref for World {
    type Target = Scenario;

    fn deref(&self) -> &Scenario {
        &self.s
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Scenario {
        &mut self.s
    }
}

pub async fn world() -> World {
    on(Scenario::new()).await
}

/// The world with keypool's home on `home` (a tmpfs the test mounted there).
pub async fn world_on(home: tempfile::TempDir) -> World {
    on(Scenario::new().on_home(home)).await
}

async fn on(s: Scenario) -> World {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = s.provider(&every_host()).await.oauth().await;
    World {
        s: s.clock(clock.clone()).reloadable(),
        clock,
    }
}

impl World {
    /// Starts keypool in-process with `accounts` (besides the logins stored so far).
    pub async fn start(&mut self, accounts: &str) -> Harness {
        self.s.push_config(accounts);
        self.s.start().await
    }

    /// keypool with one stored Claude login `name` whose access token is due for a
    /// refresh (60 s left, inside the margin), retries paced `pace`.
    pub async fn start_stored(&mut self, name: &str, pace: (Duration, Duration)) -> Started {
        let id = self.oauth_server().identity(Flavor::Anthropic, name);
        let first = self
            .s
            .stored_login(name, "anthropic", &id, Duration::from_secs(60));
        let proxy = self.s.start().await;
        proxy.state().store.pace_retries(pace.0, pace.1);
        let client = proxy.client();
        Started {
            creds: proxy.home_path("credentials.json"),
            proxy,
            first,
            client,
        }
    }

    /// The credential keypool sent with the last request the fake provider saw.
    pub fn last_sent(&self) -> String {
        self.fake().seen().pop().unwrap().credential.unwrap()
    }
}

pub struct Started {
    pub proxy: Harness,
    /// The login as it was before keypool refreshed it.
    pub first: Grant,
    pub creds: PathBuf,
    pub client: reqwest::Client,
}

impl Started {
    pub fn store(&self) -> &keypool::oauth::store::Store {
        &self.proxy.state().store
    }

    /// `credentials.json`'s entry for `name` now.
    pub fn saved(&self, name: &str) -> Value {
        read_json(&self.creds)["accounts"][name].clone()
    }
}

/// The retry task waits an hour: only a request's own write or the shutdown flush lands.
pub const NEVER: (Duration, Duration) = (Duration::from_secs(3600), Duration::from_secs(3600));

pub fn stored(name: &str) -> String {
    format!("[[accounts]]\nname = \"{name}\"\nprovider = \"anthropic\"\noauth = \"stored\"\n")
}

pub async fn claude_message(client: &reqwest::Client) -> reqwest::Response {
    let messages = json!([{"role": "user", "content": "hi"}]);
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": messages});
    let send = client
        .post("https://api.anthropic.com/v1/messages")
        .bearer_auth("sk-ant-oat01-client-own")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send();
    guard("a request through keypool", send).await.unwrap()
}

/// Awaits `f`, failing the test (never passing it) if it takes more than 20 s.
pub async fn guard<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(20), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish in 20 s"),
    }
}

/// Waits until no write of the proxy is failing (the unsaved login landed).
pub async fn until_saved(proxy: &Keypool) {
    let mut unsaved = proxy.state().store.watch_unsaved();
    guard("the pending write landing", unsaved.wait_for(|n| *n == 0))
        .await
        .unwrap();
}

/// The status JSON's entry for the first account of the first pool.
pub async fn first_account(proxy: &Keypool) -> Value {
    let status = guard("GET /_keypool/status", status_json(proxy.addr())).await;
    status["pools"][0]["accounts"][0].clone()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `path` is byte for byte what it was, and nothing is left next to it.
pub fn assert_intact(path: &Path, before: &[u8]) {
    let now = std::fs::read(path).unwrap();
    assert!(now == before, "{} changed", path.display());
    assert_nothing_left(path.parent().unwrap());
}

/// No temp file or lock directory of a write is left in `dir`.
pub fn assert_nothing_left(dir: &Path) {
    let names = std::fs::read_dir(dir).unwrap();
    let left: Vec<String> = names
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".keypool-") || n.ends_with(".tmp") || n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

/// The real `keypool` binary against the running proxy, on its home: `args` with a
/// config naming its address. Returns the exit code and stdout.
pub async fn cli(proxy: &Keypool, accounts: &str, args: &[&str]) -> (i32, String) {
    let home = proxy.home.path();
    let cfg = home.join("cli.toml");
    std::fs::write(&cfg, format!("listen = \"{}\"\n{accounts}", proxy.addr())).unwrap();
    // tokio's Command: the proxy under test runs on this same runtime and must answer.
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("KEYPOOL_HOME", home)
        .env("HOME", home)
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .output();
    let out = guard("the keypool binary", run).await.unwrap();
    let _ = std::fs::remove_file(&cfg);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The table row of `name` in a CLI listing.
pub fn row(table: &str, name: &str) -> String {
    let found = table
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == name));
    found
        .unwrap_or_else(|| panic!("no row for {name}:\n{table}"))
        .to_string()
}

#[tokio::test]
async fn an_unsaved_refresh_is_kept_shown_retried_written_and_survives_a_restart() {
    let logs = logs::capture();
    let mut w = world().await;
    let name = "spent-once";
    let kp = w.start_stored(name, QUICK).await;
    kp.store().fail_writes(true);
    let before = std::fs::read(&kp.creds).unwrap();

    // The refresh succeeds and serves, though its tokens cannot be saved.
    assert_eq!(claude_message(&kp.client).await.status(), 200);
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
    let served = w.last_sent();
    assert!(served != kp.first.access, "served with the refreshed token");
    assert_intact(&kp.creds, &before);

    // Everyone who looks is told.
    assert_eq!(first_account(&kp.proxy).await["unsaved"], UNSAVED);
    let (code, table) = cli(&kp.proxy, &stored(name), &["accounts", "list"]).await;
    assert!(row(&table, name).contains(UNSAVED), "{table}");
    assert_eq!(code, 1, "an unsaved login is trouble:\n{table}");
    let (code, table) = cli(&kp.proxy, &stored(name), &["status"]).await;
    assert_eq!(code, 0);
    assert!(
        row(&table, name).contains(&format!("ok; {UNSAVED}")),
        "{table}"
    );

    // Retried with backoff, warned about once, written once the disk has room.
    logs.wait_for(name, "attempt 3 failed", 1).await;
    assert_intact(&kp.creds, &before);
    kp.store().fail_writes(false);
    until_saved(&kp.proxy).await;
    let saved = kp.saved(name);
    assert!(saved["access_token"] == served.as_str());
    let rotated = saved["refresh_token"].as_str().unwrap().to_string();
    assert!(
        rotated != kp.first.refresh,
        "the rotated refresh token is on disk"
    );
    assert_eq!(first_account(&kp.proxy).await["unsaved"], Value::Null);
    assert_eq!(logs.count(name, "WARN"), 1, "{:#?}", logs.of(name));
    assert_eq!(logs.count(name, "saved the refreshed login to"), 1);
    let all = logs.of(name).join("\n");
    assert!(!all.contains(&rotated) && !all.contains(&served) && !all.contains(&kp.first.refresh));

    // A restart reads the new refresh token and refreshes with it.
    let proxy = kp.proxy.restart().await;
    w.clock.advance(Duration::from_secs(9 * 3600));
    assert_eq!(claude_message(&proxy.client()).await.status(), 200);
    assert_eq!(
        w.oauth_server().token_calls(Flavor::Anthropic),
        2,
        "refreshed after the restart"
    );
    assert_eq!(first_account(&proxy).await["state"], "ok");
    let err = w
        .oauth_server()
        .use_refresh(Flavor::Anthropic, &kp.first.refresh)
        .unwrap_err();
    assert!(
        err.contains("Reused"),
        "the spent token would have killed the login: {err}"
    );
    guard("shutdown", proxy.shutdown_keeping_home()).await;
}

#[tokio::test]
async fn shutdown_tries_an_unsaved_login_once_more() {
    let logs = logs::capture();
    let mut w = world().await;
    let name = "exit-flush";
    let kp = w.start_stored(name, NEVER).await;
    kp.store().fail_writes(true);
    assert_eq!(claude_message(&kp.client).await.status(), 200);
    assert_eq!(first_account(&kp.proxy).await["unsaved"], UNSAVED);
    let served = w.last_sent();

    kp.store().fail_writes(false);
    assert!(
        kp.saved(name)["refresh_token"] == kp.first.refresh.as_str(),
        "not yet written"
    );
    let _home = guard("shutdown", kp.proxy.shutdown_keeping_home()).await;
    let saved = read_json(&kp.creds)["accounts"][name].clone();
    assert!(
        saved["access_token"] == served.as_str(),
        "written by the shutdown flush"
    );
    assert!(saved["refresh_token"] != kp.first.refresh.as_str());
    assert_eq!(logs.count(name, "saved the refreshed login to"), 1);
    assert_eq!(logs.count(name, "is lost"), 0);
}

#[tokio::test]
async fn a_login_that_cannot_be_saved_even_at_shutdown_is_reported_with_the_fix() {
    let logs = logs::capture();
    let mut w = world().await;
    let name = "exit-lost";
    let kp = w.start_stored(name, NEVER).await;
    kp.store().fail_writes(true);
    let before = std::fs::read(&kp.creds).unwrap();
    assert_eq!(claude_message(&kp.client).await.status(), 200);
    let _home = guard("shutdown", kp.proxy.shutdown_keeping_home()).await;
    assert_intact(&kp.creds, &before);
    let lost: Vec<String> = logs
        .of(name)
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(lost.len(), 1, "{:#?}", logs.of(name));
    assert!(lost[0].contains(UNSAVED), "{}", lost[0]);
    let fix = "run `keypool login anthropic --name exit-lost`";
    assert!(
        lost[0].contains("is lost") && lost[0].contains(fix),
        "{}",
        lost[0]
    );
}

#[tokio::test]
async fn a_reload_keeps_the_unsaved_login_instead_of_the_spent_one_on_disk() {
    let mut w = world().await;
    let name = "reload-keeps";
    let kp = w.start_stored(name, NEVER).await;
    kp.store().fail_writes(true);
    assert_eq!(claude_message(&kp.client).await.status(), 200);
    let served = w.last_sent();

    let message = keypool::reload::reload(kp.proxy.state()).unwrap();
    assert!(message.starts_with("reloaded"), "{message}");
    // The rebuilt account serves with the refreshed tokens: no second refresh, which
    // would have presented the spent token on disk and killed the login.
    assert_eq!(claude_message(&kp.client).await.status(), 200);
    assert!(
        w.last_sent() == served,
        "the refreshed token, not the one on disk"
    );
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
    let account = first_account(&kp.proxy).await;
    assert_eq!(account["state"], "ok");
    assert_eq!(
        account["unsaved"], UNSAVED,
        "still pending after the reload"
    );

    kp.store().fail_writes(false);
    let _home = guard("shutdown", kp.proxy.shutdown_keeping_home()).await;
    let saved = read_json(&kp.creds)["accounts"][name].clone();
    assert!(saved["access_token"] == served.as_str());
    assert!(saved["refresh_token"] != kp.first.refresh.as_str());
}
