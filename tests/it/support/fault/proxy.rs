//! What a fault test sets besides its accounts: `[limits]` and `[upstream]` lines of its
//! choosing (short timeouts, so a hang is seen in seconds), given to
//! [`Scenario::settings`](crate::support::scenario::Scenario::settings); and the wait
//! for keypool to have left no connection task behind.

use crate::support::keypool::Keypool;

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
