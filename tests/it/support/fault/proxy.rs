//! keypool in-process in front of a fault server, with `[limits]` and `[upstream]`
//! settings of the test's choosing (short timeouts, so a hang is seen in seconds).

use std::net::SocketAddr;
use std::path::Path;

use keypool::{Config, Home, ProxyOptions};

use crate::support::ca::TestCa;
use crate::support::keypool::{config_text_with, Keypool};

/// What goes into the config besides the accounts.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Lines of the `[limits]` table, e.g. `handshake_timeout = "1s"`.
    pub limits: String,
    /// Extra lines of the `[upstream]` table, e.g. `read_timeout = "1s"`.
    pub upstream: String,
}

impl Settings {
    pub fn limits(mut self, line: &str) -> Settings {
        self.limits.push_str(line);
        self.limits.push('\n');
        self
    }

    pub fn upstream(mut self, line: &str) -> Settings {
        self.upstream.push_str(line);
        self.upstream.push('\n');
        self
    }
}

/// Starts keypool with `accounts` (TOML) sending every :443 connection to `upstream`,
/// which presents leaves from `ca`.
pub async fn start(accounts: &str, upstream: SocketAddr, ca: &TestCa, s: &Settings) -> Keypool {
    let home = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(home.path());
    let text = config_text(accounts, upstream, &ca_file, s, 0);
    let config = Config::parse(&text, Path::new("fault-test.toml")).unwrap();
    let proxy = keypool::start(ProxyOptions::new(Home::at(home.path()), config))
        .await
        .unwrap();
    Keypool { proxy, home }
}

/// The config text: `[limits]` before `[upstream]`, whose own lines come last.
pub fn config_text(
    accounts: &str,
    upstream: SocketAddr,
    ca_file: &Path,
    s: &Settings,
    listen_port: u16,
) -> String {
    let head = format!("{accounts}\n[limits]\n{}", s.limits);
    let mut text = config_text_with(&head, listen_port, Some(upstream), &[], ca_file);
    text.push_str(&s.upstream);
    text
}

/// `[[accounts]]` blocks for `provider`, one per `(name, key)`.
pub fn accounts(provider: &str, keys: &[(&str, &str)]) -> String {
    keys.iter()
        .map(|(name, key)| crate::support::keypool::key_account(name, provider, key))
        .collect()
}

/// Waits (bounded) until keypool tracks no connection task: nothing was left behind
/// once every client went away.
pub async fn settled(kp: &Keypool) {
    let tasks = &kp.proxy.state().tasks;
    let guard = std::time::Duration::from_secs(20);
    let waited = tokio::time::timeout(guard, async {
        while !tasks.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{} connection tasks still open {guard:?} after every client left",
        tasks.len()
    );
}
