//! Driving the real `keypool login` on a throwaway machine (a keypool directory, a home
//! and the test CA on disk): the test reads what it prints, pastes at its prompt, and
//! collects how it ended. Shared by the login flows and the secret-log checks.

use super::ca::TestCa;
use super::config_files::mode;
use super::guard::Within;
use super::oauth::{FakeOAuth, Identity};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

/// Only guards against hangs: a bug fails the test instead of stalling it.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(20);

/// A machine with a fresh keypool directory, a home, and the test CA on disk.
pub(crate) struct Machine {
    pub(crate) dir: tempfile::TempDir,
    ca_pem: PathBuf,
}

impl Machine {
    pub(crate) fn new(ca: &TestCa) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let ca_pem = ca.write_pem(dir.path());
        Machine { dir, ca_pem }
    }

    pub(crate) fn keypool_home(&self) -> PathBuf {
        self.dir.path().join("keypool")
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.keypool_home().join("config.toml")
    }

    pub(crate) fn credentials_path(&self) -> PathBuf {
        self.keypool_home().join("credentials.json")
    }

    pub(crate) fn config(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap_or_default()
    }

    /// `credentials.json`'s accounts, after checking that the file is private.
    pub(crate) fn credentials(&self) -> Value {
        let path = self.credentials_path();
        assert_eq!(mode(&path), 0o600, "credentials.json must be private");
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["accounts"].clone()
    }

    /// Starts `keypool login ARGS` against `fake`, with a cleared environment (only
    /// HOME, KEYPOOL_HOME, PATH, a debug log and `BROWSER`), stdin and stdout piped.
    pub(crate) fn login(&self, fake: &FakeOAuth, args: &[&str], browser: &str) -> Login {
        // The most talkative log but one: no token may reach it either.
        self.login_at(fake, args, browser, "debug")
    }

    /// [`Machine::login`] with `KEYPOOL_LOG=log` (`trace` takes every dependency's lines).
    pub(crate) fn login_at(
        &self,
        fake: &FakeOAuth,
        args: &[&str],
        browser: &str,
        log: &str,
    ) -> Login {
        self.login_env(fake, args, browser, log, &[])
    }

    /// [`Machine::login_at`] with these variables set too (test hooks).
    pub(crate) fn login_env(
        &self,
        fake: &FakeOAuth,
        args: &[&str],
        browser: &str,
        log: &str,
        vars: &[(&str, &str)],
    ) -> Login {
        self.login_via(&fake.connect_to(), args, browser, log, vars)
    }

    /// [`Machine::login_env`] reaching the hosts through `connect_to` (any fake's).
    pub(crate) fn login_via(
        &self,
        connect_to: &[String],
        args: &[&str],
        browser: &str,
        log: &str,
        vars: &[(&str, &str)],
    ) -> Login {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"));
        cmd.env_clear()
            .envs(vars.iter().copied())
            .env("HOME", self.dir.path().join("home"))
            .env("KEYPOOL_HOME", self.keypool_home())
            .env("PATH", "/usr/bin:/bin")
            .env("KEYPOOL_LOG", log)
            .env("BROWSER", browser)
            .arg("login")
            .args(args)
            .arg("--upstream-ca")
            .arg(&self.ca_pem);
        for c in connect_to {
            cmd.arg("--connect-to").arg(c);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        Login {
            stdin: child.stdin.take(),
            child,
            stdout,
            seen: String::new(),
            stderr,
        }
    }
}

/// A running `keypool login`.
pub(crate) struct Login {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Stdout read so far.
    seen: String,
    stderr: tokio::task::JoinHandle<String>,
}

/// How a login ended.
pub(crate) struct Ended {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ended {
    pub(crate) fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// Asserts that none of `secrets` reached stdout or stderr.
    pub(crate) fn assert_no_secret(&self, secrets: &[String]) {
        for s in secrets {
            assert!(!s.is_empty());
            for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
                assert!(
                    !text.contains(s.as_str()),
                    "a secret ({}…) reached {name}:\n{text}",
                    &s[..s.len().min(12)]
                );
            }
        }
    }
}

impl Login {
    /// Reads stdout up to the first line `pick` accepts and returns what it picked.
    pub(crate) async fn read_until<T>(&mut self, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let read = async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                self.seen.push_str(&line);
                self.seen.push('\n');
                if let Some(t) = pick(&line) {
                    return Some(t);
                }
            }
            None
        };
        match timeout(HANG_GUARD, read).await {
            Ok(Some(t)) => t,
            Ok(None) => panic!("stdout ended first:\n{}", self.seen),
            Err(_) => panic!("timed out; stdout so far:\n{}", self.seen),
        }
    }

    /// The authorization URL printed on its own, indented line.
    pub(crate) async fn authorize_url(&mut self) -> AuthUrl {
        let mut announced = false;
        let url = self
            .read_until(|line| {
                announced |= line.starts_with("Open this URL in a browser");
                let url = line
                    .strip_prefix("  ")
                    .filter(|u| u.starts_with("https://"));
                url.filter(|_| announced).map(str::to_string)
            })
            .await;
        AuthUrl::parse(&url)
    }

    /// Types `text` and Enter at the prompt.
    pub(crate) async fn paste(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{text}\n").as_bytes())
            .within("keypool login taking the pasted text")
            .await
            .unwrap();
        stdin
            .flush()
            .within("keypool login taking the pasted text")
            .await
            .unwrap();
    }

    /// Waits for the exit, collecting the rest of the output.
    pub(crate) async fn end(mut self) -> Ended {
        drop(self.stdin.take());
        let rest = async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                self.seen.push_str(&line);
                self.seen.push('\n');
            }
            let status = self.child.wait().await.unwrap();
            (status, self.stderr.await.unwrap())
        };
        let Ok((status, stderr)) = timeout(HANG_GUARD, rest).await else {
            panic!("keypool login did not exit; stdout:\n{}", self.seen);
        };
        Ended {
            code: status.code(),
            stdout: self.seen,
            stderr,
        }
    }
}

/// The authorization URL keypool asks the browser to open.
pub(crate) struct AuthUrl {
    pub(crate) url: String,
    /// Scheme, host and path.
    pub(crate) base: String,
    params: BTreeMap<String, String>,
}

impl AuthUrl {
    pub(crate) fn parse(url: &str) -> AuthUrl {
        let (base, query) = url.split_once('?').expect("a query");
        let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        AuthUrl {
            url: url.to_string(),
            base: base.to_string(),
            params,
        }
    }

    pub(crate) fn get(&self, k: &str) -> &str {
        (self.params.get(k)).unwrap_or_else(|| panic!("no {k} in {}", self.url))
    }

    pub(crate) fn challenge(&self) -> &str {
        self.get("code_challenge")
    }

    pub(crate) fn state(&self) -> &str {
        self.get("state")
    }

    pub(crate) fn redirect_uri(&self) -> &str {
        self.get("redirect_uri")
    }

    /// The browser's consent: the code the fake issues for this URL's challenge.
    pub(crate) fn consent(&self, fake: &FakeOAuth, who: &Identity) -> String {
        fake.authorize(who, self.challenge(), self.redirect_uri(), self.state())
    }
}
