//! One arrangement for every integration test: a throwaway CA, the upstream keypool talks
//! to (a [`FakeProvider`], a raw [`FaultServer`], or both with a [`FakeOAuth`] beside
//! them), the accounts, pools and other config, then keypool itself, in-process
//! ([`Scenario::start`]) or as the real binary ([`Scenario::spawn`]).
//!
//! The fakes start when asked for (`provider`, `fault`, `oauth` are async), so a test
//! can set behaviours, mint grants and write fixtures from them before keypool starts.
//! keypool starts from `&mut self`: the scenario keeps owning the fakes and the CA, the
//! test owns the keypool (to restart or shut it down).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keypool::clock::Clock;
use serde_json::json;

use keypool::clock::ManualClock;

use super::binary::{keypool_with, Served};
use super::ca::TestCa;
use super::fake::{Behaviour, FakeProvider};
use super::fault::proxy::Settings;
use super::fault::FaultServer;
use super::guard::{Within, CLIENT_TIMEOUT};
use super::keypool::{key_account, status_json, write, Harness, Keypool, KeypoolBuilder};
use super::login::Machine;
use super::oauth::{FakeOAuth, Grant, Identity};

pub struct Scenario {
    pub ca: TestCa,
    fake: Option<FakeProvider>,
    fault: Option<FaultServer>,
    oauth: Option<FakeOAuth>,
    /// Taken by the start: a scenario starts keypool once (a [`Harness`] restarts it).
    builder: Option<KeypoolBuilder>,
    /// Everything before `[upstream]`: accounts, pools, clients, `[limits]`.
    config: String,
    /// The lines of `[limits]`, written after `config`.
    limits: String,
    /// keypool's manual clock, when the test moves time.
    clock: Option<Arc<ManualClock>>,
    /// The `credentials.json` accounts written so far by [`Scenario::stored_entry`].
    logins: serde_json::Map<String, serde_json::Value>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

impl Scenario {
    /// A fresh CA and empty home and fixture directories (the home trusts the CA).
    pub fn new() -> Scenario {
        let ca = TestCa::new();
        let builder = Keypool::builder(&ca);
        Scenario {
            ca,
            fake: None,
            fault: None,
            oauth: None,
            builder: Some(builder),
            config: String::new(),
            limits: String::new(),
            clock: None,
            logins: serde_json::Map::new(),
        }
    }

    /// keypool's home is `home` instead of a fresh one (a directory the test mounted a
    /// file system on, …); before anything is written to the home.
    pub fn on_home(mut self, home: tempfile::TempDir) -> Scenario {
        self.builder = Some(self.take_builder().on_home(home, &self.ca));
        self
    }

    /// Starts a fake provider answering for `hosts`; every :443 connection goes to it.
    pub async fn provider(self, hosts: &[&str]) -> Scenario {
        let fake = FakeProvider::start(&self.ca, hosts).await;
        self.with_fake(fake)
    }

    /// As [`Scenario::provider`], with a fake that offers HTTP/2 by ALPN.
    pub async fn provider_h2(self, hosts: &[&str]) -> Scenario {
        let fake = FakeProvider::start_offering_h2(&self.ca, hosts).await;
        self.with_fake(fake)
    }

    fn with_fake(self, fake: FakeProvider) -> Scenario {
        let s = self.upstream(fake.addr());
        Scenario {
            fake: Some(fake),
            ..s
        }
    }

    /// Starts a fault server for `hosts` (a raw upstream a script breaks below HTTP);
    /// every :443 connection goes to it.
    pub async fn fault(self, hosts: &[&str]) -> Scenario {
        let fault = FaultServer::start(&self.ca, hosts).await;
        let s = self.upstream(fault.addr());
        Scenario {
            fault: Some(fault),
            ..s
        }
    }

    /// Starts the fake OAuth server, beside the fake provider when there is one (it then
    /// tells the provider which tokens it issued); keypool reaches its hosts first.
    pub async fn oauth(mut self) -> Scenario {
        let oauth = FakeOAuth::start(&self.ca, self.fake.as_ref()).await;
        let entries = oauth.connect_to();
        self.oauth = Some(oauth);
        self.builder = Some(self.take_builder().connect_to(entries));
        self
    }

    /// The fake provider answers each of these credentials normally.
    pub fn ok(self, keys: &[&str]) -> Scenario {
        for k in keys {
            self.fake().set(k, Behaviour::Ok);
        }
        self
    }

    /// The fake provider answers `key` with `b`.
    pub fn behaviour(self, key: &str, b: Behaviour) -> Scenario {
        self.fake().set(key, b);
        self
    }

    /// The fake provider answers `key` with a 429 that says to retry after `secs`.
    pub fn limited(self, key: &str, secs: u64) -> Scenario {
        let b = Behaviour::RateLimited {
            retry_after_secs: Some(secs),
        };
        self.behaviour(key, b)
    }

    /// Config text before `[upstream]`: `[[accounts]]`, `[[pools]]`, `[clients.*]`,
    /// `[limits]`, … in the order given.
    pub fn config(mut self, toml: &str) -> Scenario {
        self.push_config(toml);
        self
    }

    /// A line of the `[limits]` section, e.g. `handshake_timeout = "1s"`.
    pub fn limits(mut self, line: &str) -> Scenario {
        self.limits.push_str(line);
        self.limits.push('\n');
        self.sync_config();
        self
    }

    /// The same as [`Scenario::config`]; reads better for `[[accounts]]` blocks.
    pub fn accounts(self, toml: &str) -> Scenario {
        self.config(toml)
    }

    /// One API-key account per `(name, key)` for `provider`.
    pub fn keys(self, provider: &str, keys: &[(&str, &str)]) -> Scenario {
        self.config(&key_accounts(provider, keys))
    }

    /// A `[[pools]]` block: `name` over `accounts` of `provider`, plus `extra` lines
    /// (`fallback = [...]`, `hold_max = "..."`, `strategy = "..."`).
    pub fn pool(self, name: &str, provider: &str, accounts: &[&str], extra: &str) -> Scenario {
        self.config(&pool(name, provider, accounts, extra))
    }

    /// Sends :443 connections to `addr` instead of the fake (a server of the test's own).
    pub fn upstream(mut self, addr: SocketAddr) -> Scenario {
        self.builder = Some(self.take_builder().upstream(addr));
        self
    }

    /// `HOST:PORT:CONNECT_HOST:CONNECT_PORT` entries before the catch-all.
    pub fn connect_to(mut self, entries: impl IntoIterator<Item = String>) -> Scenario {
        self.builder = Some(self.take_builder().connect_to(entries));
        self
    }

    /// Lines added to the `[upstream]` section (written last).
    pub fn upstream_toml(mut self, lines: &str) -> Scenario {
        self.builder = Some(self.take_builder().upstream_toml(lines));
        self
    }

    /// Listen on `ip` (e.g. `0.0.0.0`) instead of loopback.
    pub fn listen_ip(mut self, ip: &str) -> Scenario {
        self.builder = Some(self.take_builder().listen_ip(ip));
        self
    }

    /// The `[limits]` and `[upstream]` lines of a fault test's settings.
    pub fn settings(mut self, settings: &Settings) -> Scenario {
        for line in settings.limits.lines() {
            self = self.limits(line);
        }
        self.upstream_toml(&settings.upstream)
    }

    /// keypool's clock; the test keeps a clone to move time (or reads it back with
    /// [`Scenario::manual_clock`]).
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Scenario {
        self.clock = Some(clock.clone());
        self.builder = Some(self.take_builder().clock(clock));
        self
    }

    /// keypool reads its config from `home/config.toml`, so the test can rewrite it
    /// ([`Harness::rewrite_accounts`]) and reload.
    pub fn reloadable(mut self) -> Scenario {
        self.builder = Some(self.take_builder().reloadable());
        self
    }

    /// The clock given to [`Scenario::clock`]; fails the test when there is none.
    pub fn manual_clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("the scenario has a manual clock")
    }

    /// Milliseconds since the epoch at `d` from now on keypool's clock (the manual one if
    /// any), as `credentials.json` writes an expiry.
    pub fn ms_from_now(&self, d: Duration) -> u64 {
        let now = match &self.clock {
            Some(c) => c.now(),
            None => SystemTime::now(),
        };
        (now + d).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    /// A login of `who` at the fake OAuth server, stored as account `name` of `provider`
    /// (`oauth = "stored"` in the config, its tokens in `credentials.json`), its access
    /// token expiring `expires_in` from now. Returns the grant the fake issued.
    pub fn stored_login(
        &mut self,
        name: &str,
        provider: &str,
        who: &Identity,
        expires_in: Duration,
    ) -> Grant {
        let at = self.ms_from_now(expires_in);
        self.stored_login_at(name, provider, who, at)
    }

    /// [`Scenario::stored_login`] with the access token expiring at `expires_at` (ms since
    /// the epoch), e.g. already past.
    pub fn stored_login_at(
        &mut self,
        name: &str,
        provider: &str,
        who: &Identity,
        expires_at: u64,
    ) -> Grant {
        let g = self.oauth_server().grant(who);
        let entry = json!({
            "provider": provider,
            "access_token": g.access,
            "refresh_token": g.refresh,
            "expires_at": expires_at,
            "account_id": who.account_id,
            "email": who.email,
        });
        self.stored_entry(name, provider, entry);
        g
    }

    /// Account `name` of `provider` with `oauth = "stored"`, and `entry` as its
    /// `credentials.json` entry (beside the entries stored before).
    pub fn stored_entry(&mut self, name: &str, provider: &str, entry: serde_json::Value) {
        self.logins.insert(name.to_string(), entry);
        let file = json!({"version": 1, "accounts": self.logins});
        self.home_file("credentials.json", &file.to_string());
        let block = format!(
            "[[accounts]]\nname = \"{name}\"\nprovider = \"{provider}\"\noauth = \"stored\"\n"
        );
        self.push_config(&block);
    }

    /// The fake provider; fails the test when the scenario has none.
    pub fn fake(&self) -> &FakeProvider {
        self.fake
            .as_ref()
            .expect("the scenario has a fake provider")
    }

    /// The fault server, moved out to the caller (once keypool no longer needs the
    /// scenario to hold it).
    pub fn take_fault(&mut self) -> FaultServer {
        self.fault.take().expect("the scenario has a fault server")
    }

    /// The fault server; fails the test when the scenario has none.
    pub fn fault_server(&self) -> &FaultServer {
        self.fault
            .as_ref()
            .expect("the scenario has a fault server")
    }

    /// The fake OAuth server; fails the test when the scenario has none.
    pub fn oauth_server(&self) -> &FakeOAuth {
        self.oauth
            .as_ref()
            .expect("the scenario has a fake OAuth server")
    }

    /// A throwaway machine trusting the scenario's CA, for `keypool login` (see
    /// [`Machine`]); its keypool directory is its own, not the scenario's home.
    pub fn login_machine(&self) -> Machine {
        Machine::new(&self.ca)
    }

    pub fn home(&self) -> &Path {
        self.builder().home()
    }

    /// Writes `home/rel` before keypool starts.
    pub fn home_file(&self, rel: &str, text: &str) -> PathBuf {
        self.builder().home_file(rel, text)
    }

    /// Writes `fixtures/rel` (a client credential file, …) and returns its path.
    pub fn fixture(&self, rel: &str, text: &str) -> PathBuf {
        self.builder().fixture(rel, text)
    }

    /// The whole config text keypool is given, listening on `listen_port`.
    pub fn config_text(&self, listen_port: u16) -> String {
        self.builder().text(listen_port)
    }

    /// Writes the config to `home/config.toml` for a keypool command of the test's own
    /// (`keypool run`, a command that is to fail); returns its path.
    pub fn write_config(&self) -> PathBuf {
        write(self.home(), "config.toml", &self.config_text(0))
    }

    /// keypool in-process with the config so far.
    pub async fn start(&mut self) -> Harness {
        self.take_builder().start().await
    }

    /// keypool in-process, the CA and the fake provider handed to the caller: for a
    /// file's own setup function that returns them.
    pub async fn start_parts(mut self) -> (TestCa, FakeProvider, Harness) {
        let kp = self.start().await;
        let fake = self.fake.take().expect("the scenario has a fake provider");
        (self.ca, fake, kp)
    }

    /// keypool in-process, the fault server handed to the caller (a file's rig owns it).
    pub async fn start_fault_parts(mut self) -> (FaultServer, Keypool) {
        let kp = self.start().await;
        let fault = self.fault.take().expect("the scenario has a fault server");
        (fault, kp.kp)
    }

    /// The CA and the fake provider, keypool never started: for a test of the fake itself.
    pub fn into_fake(self) -> (TestCa, FakeProvider) {
        let fake = self.fake.expect("the scenario has a fake provider");
        (self.ca, fake)
    }

    /// The CA, the fake provider and the fake OAuth server, keypool never started: for a
    /// test of the fakes themselves.
    pub fn into_fakes(self) -> (TestCa, FakeProvider, FakeOAuth) {
        let fake = self.fake.expect("the scenario has a fake provider");
        let oauth = self.oauth.expect("the scenario has a fake OAuth server");
        (self.ca, fake, oauth)
    }

    /// The CA and the fake OAuth server, keypool never started (the OAuth server alone).
    pub fn into_oauth(self) -> (TestCa, FakeOAuth) {
        let oauth = self.oauth.expect("the scenario has a fake OAuth server");
        (self.ca, oauth)
    }

    /// The real binary: the config is written to `home/config.toml` and `keypool serve`
    /// runs on it (see [`Spawned`]); returns once its banner names the address.
    /// `adjust` adds to the command (a log filter, …) and is given the home.
    pub async fn spawn_with(&mut self, adjust: impl FnOnce(&mut Command, &Path)) -> Spawned {
        let cfg = self.write_config();
        let (home, fixtures) = self.take_builder().into_dirs();
        let mut cmd = keypool_with(home.path(), &cfg);
        adjust(&mut cmd, home.path());
        // Served waits for the banner with its own patience; this bound only backs it up.
        let served = tokio::task::spawn_blocking(move || Served::start(cmd))
            .within_for(Duration::from_secs(40), "keypool serve's banner")
            .await
            .unwrap();
        Spawned {
            served,
            home,
            fixtures,
        }
    }

    /// [`Scenario::spawn_with`] with the command as it is.
    pub async fn spawn(&mut self) -> Spawned {
        self.spawn_with(|_, _| {}).await
    }

    /// [`Scenario::config`] on a scenario the test holds by reference.
    pub fn push_config(&mut self, toml: &str) {
        self.config.push_str(toml);
        if !toml.ends_with('\n') {
            self.config.push('\n');
        }
        self.sync_config();
    }

    /// Gives the builder the text before `[upstream]` as it stands now.
    fn sync_config(&mut self) {
        let mut text = self.config.clone();
        if !self.limits.is_empty() {
            text.push_str("[limits]\n");
            text.push_str(&self.limits);
        }
        self.builder = Some(self.take_builder().accounts(&text));
    }

    fn builder(&self) -> &KeypoolBuilder {
        self.builder
            .as_ref()
            .expect("the scenario starts keypool once")
    }

    /// The builder, for a setter that puts it back (or for the start, which does not).
    fn take_builder(&mut self) -> KeypoolBuilder {
        self.builder
            .take()
            .expect("the scenario starts keypool once")
    }
}

/// `keypool serve` as a child process, with the home and fixtures it runs on (removed
/// when this is dropped, after the process is killed).
pub struct Spawned {
    pub served: Served,
    pub home: tempfile::TempDir,
    pub fixtures: tempfile::TempDir,
}

impl Spawned {
    pub fn addr(&self) -> SocketAddr {
        self.served.addr.parse().expect("the banner's address")
    }

    /// The CA keypool made in its home (what a client trusts).
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.home.path().join("certs/ca.pem")).unwrap()
    }

    /// `GET /_keypool/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        status_json(self.addr()).await
    }

    /// SIGTERM; then the exit code and the whole log. The home outlives the exit (keypool
    /// saves its state on the way out).
    pub async fn stop(self) -> (Option<i32>, String) {
        let (code, log, _home) = self.stop_keeping_home().await;
        (code, log)
    }

    /// [`Spawned::stop`], the home handed back to read what keypool left in it.
    pub async fn stop_keeping_home(self) -> (Option<i32>, String, tempfile::TempDir) {
        let Spawned { served, home, .. } = self;
        let (code, log) = tokio::task::spawn_blocking(move || served.stop())
            .within("keypool serve to exit on SIGTERM")
            .await
            .unwrap();
        (code, log, home)
    }

    /// reqwest through the binary, trusting only its CA.
    pub fn client(&self) -> reqwest::Client {
        let ca = self.ca_pem().into_bytes();
        crate::support::client_http::through_keypool(reqwest::Client::builder())
            .proxy(reqwest::Proxy::all(format!("http://{}", self.addr())).unwrap())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(CLIENT_TIMEOUT)
            .build()
            .unwrap()
    }
}

/// `[[accounts]]` blocks for `provider`, one per `(name, key)`.
pub fn key_accounts(provider: &str, keys: &[(&str, &str)]) -> String {
    keys.iter()
        .map(|(name, key)| key_account(name, provider, key))
        .collect()
}

/// A `[[pools]]` block (see [`Scenario::pool`]).
pub fn pool(name: &str, provider: &str, accounts: &[&str], extra: &str) -> String {
    let mut s = format!(
        "[[pools]]\nname = \"{name}\"\nprovider = \"{provider}\"\naccounts = {accounts:?}\n"
    );
    s.push_str(extra);
    if !extra.is_empty() && !extra.ends_with('\n') {
        s.push('\n');
    }
    s
}
