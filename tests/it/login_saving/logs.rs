//! What keypool logged, captured for the whole test binary (tracing's subscriber is
//! global), so a test can check what a user would have been told. Tests tell their lines
//! apart by account name (`account=NAME`), unique per test.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

pub struct Logs {
    text: Mutex<String>,
    /// Bumped on every write, for waiting on a line.
    grew: watch::Sender<u64>,
}

static LOGS: OnceLock<Arc<Logs>> = OnceLock::new();

/// Starts capturing (once per binary) and returns the capture.
pub fn capture() -> Arc<Logs> {
    LOGS.get_or_init(|| {
        let logs = Arc::new(Logs {
            text: Mutex::default(),
            grew: watch::channel(0).0,
        });
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("keypool=debug")
            .with_ansi(false)
            .with_target(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        logs
    })
    .clone()
}

struct Sink(Arc<Logs>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .text
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(buf));
        self.0.grew.send_modify(|n| *n += 1);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Every line logged about `account`.
    pub fn of(&self, account: &str) -> Vec<String> {
        let tag = format!("account={account}");
        let text = self.text.lock().unwrap();
        text.lines()
            .filter(|l| l.split_whitespace().any(|w| w.trim_end_matches(':') == tag))
            .map(str::to_string)
            .collect()
    }

    /// Lines about `account` that contain `needle`.
    pub fn count(&self, account: &str, needle: &str) -> usize {
        self.of(account)
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `account` has at least `n` lines containing `needle`; fails the test
    /// after a generous guard.
    pub async fn wait_for(&self, account: &str, needle: &str, n: usize) {
        let mut grew = self.grew.subscribe();
        let wait = async {
            while self.count(account, needle) < n {
                grew.changed()
                    .await
                    .expect("the capture lives as long as the binary");
            }
        };
        if tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .is_err()
        {
            panic!(
                "no {n} log line(s) with {needle:?} for {account} in 20s; its lines:\n{}",
                self.of(account).join("\n")
            );
        }
    }
}
