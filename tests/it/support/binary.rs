//! The real `keypool` binary for tests where the process matters: its stderr, its
//! exit code, files it creates under a umask. `keypool serve` runs with its stderr
//! read line by line on a thread, so a test waits for a line instead of sleeping.

use super::guard::{wait_child, OutputWithin, WAIT};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for keypool to say something before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// `keypool` with `KEYPOOL_HOME=home`, no log filter and no proxy variables from the
/// environment the tests run in.
pub fn keypool(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keypool"));
    c.env("KEYPOOL_HOME", home)
        .env_remove("KEYPOOL_LOG")
        .env_remove("RUST_LOG");
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

/// `keypool --config cfg` with [`keypool`]'s environment.
pub fn keypool_with(home: &Path, cfg: &Path) -> Command {
    let mut c = keypool(home);
    c.arg("--config").arg(cfg);
    c
}

/// Runs `cmd` to its end, failing the test when it exits non-zero.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output_within();
    assert!(
        out.status.success(),
        "keypool failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `keypool serve`.
pub struct Served {
    child: Child,
    /// `host:port` from the banner.
    pub addr: String,
    lines: mpsc::Receiver<String>,
    /// Every stderr line so far, the banner's included.
    pub log: Vec<String>,
}

impl Served {
    /// Starts `cmd serve` on a free loopback port and returns once the banner names
    /// the address.
    pub fn start(mut cmd: Command) -> Served {
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keypool serve");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            addr: String::new(),
            lines,
            log: Vec::new(),
        };
        let banner = served.wait_for(|l| l.contains("listening on http://"));
        served.addr = banner
            .split("listening on http://")
            .nth(1)
            .expect("address after the banner")
            .trim()
            .to_string();
        served
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The first line logged so far, or from now on, that contains `needle`.
    pub fn line_with(&mut self, needle: &str) -> String {
        match self.log.iter().find(|l| l.contains(needle)) {
            Some(l) => l.clone(),
            None => self.wait_for(|l| l.contains(needle)),
        }
    }

    /// Waits for the first line (from now on) that `wanted` accepts; fails the test
    /// if none comes within the patience or keypool exits first.
    pub fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "keypool never logged the line; stderr so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Starts `cmd serve`, stops it once it is up, and returns what it logged; fails
    /// the test unless it exited 0.
    pub fn log_of_a_start(cmd: Command) -> String {
        let (code, log) = Served::start(cmd).stop();
        assert_eq!(code, Some(0), "keypool serve did not exit 0:\n{log}");
        log
    }

    /// SIGTERM; then the exit code and the whole log.
    pub fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = wait_child(&mut self.child, WAIT, "keypool serve to exit after SIGTERM");
        self.log.extend(self.lines.iter());
        (status.code(), self.log.join("\n"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failed test must not leave a proxy behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
