//! `keypool login`, end to end: the real binary against the fake OAuth server (reached
//! by the real host names through `--connect-to`, trusting the test CA), with the test
//! playing the browser: it reads the printed URL, consents at the fake, and follows the
//! redirect to keypool's loopback listener (or pastes what the page would show).
//! Every wait is bounded by `HANG_GUARD`; no result is decided by a timer.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use support::oauth::pkce_challenge;
use support::{DeviceAnswer, FakeOAuth, Flavor, Identity, OAuthRequest, TestCa};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

/// Only guards against hangs: a bug fails the test instead of stalling it.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// A machine with a fresh keypool directory, a home, and the test CA on disk.
struct Machine {
    dir: tempfile::TempDir,
    ca_pem: PathBuf,
}

impl Machine {
    fn new(ca: &TestCa) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let ca_pem = ca.write_pem(dir.path());
        Machine { dir, ca_pem }
    }

    fn keypool_home(&self) -> PathBuf {
        self.dir.path().join("keypool")
    }

    fn config_path(&self) -> PathBuf {
        self.keypool_home().join("config.toml")
    }

    fn credentials_path(&self) -> PathBuf {
        self.keypool_home().join("credentials.json")
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap_or_default()
    }

    /// `credentials.json`'s accounts, after checking that the file is private.
    fn credentials(&self) -> Value {
        let path = self.credentials_path();
        assert_eq!(mode(&path), 0o600, "credentials.json must be private");
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["accounts"].clone()
    }

    /// Starts `keypool login ARGS` against `fake`, with a cleared environment (only
    /// HOME, KEYPOOL_HOME, PATH, a debug log and `BROWSER`), stdin and stdout piped.
    fn login(&self, fake: &FakeOAuth, args: &[&str], browser: &str) -> Login {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"));
        cmd.env_clear()
            .env("HOME", self.dir.path().join("home"))
            .env("KEYPOOL_HOME", self.keypool_home())
            .env("PATH", "/usr/bin:/bin")
            // The most talkative log: no token may reach it either.
            .env("KEYPOOL_LOG", "debug")
            .env("BROWSER", browser)
            .arg("login")
            .args(args)
            .arg("--upstream-ca")
            .arg(&self.ca_pem);
        for c in fake.connect_to() {
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
struct Login {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Stdout read so far.
    seen: String,
    stderr: tokio::task::JoinHandle<String>,
}

/// How a login ended.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ended {
    fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// Asserts that none of `secrets` reached stdout or stderr.
    fn assert_no_secret(&self, secrets: &[String]) {
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
    async fn read_until<T>(&mut self, mut pick: impl FnMut(&str) -> Option<T>) -> T {
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
    async fn authorize_url(&mut self) -> AuthUrl {
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
    async fn paste(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Waits for the exit, collecting the rest of the output.
    async fn end(mut self) -> Ended {
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
struct AuthUrl {
    url: String,
    /// Scheme, host and path.
    base: String,
    params: BTreeMap<String, String>,
}

impl AuthUrl {
    fn parse(url: &str) -> AuthUrl {
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

    fn get(&self, k: &str) -> &str {
        (self.params.get(k)).unwrap_or_else(|| panic!("no {k} in {}", self.url))
    }

    fn challenge(&self) -> &str {
        self.get("code_challenge")
    }

    fn state(&self) -> &str {
        self.get("state")
    }

    fn redirect_uri(&self) -> &str {
        self.get("redirect_uri")
    }

    /// The browser's consent: the code the fake issues for this URL's challenge.
    fn consent(&self, fake: &FakeOAuth, who: &Identity) -> String {
        fake.authorize(who, self.challenge(), self.redirect_uri(), self.state())
    }
}

/// A port nobody listens on right now, for `--callback-port`.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The browser following the redirect: `GET target` on the loopback listener.
/// Returns the status code and the page.
async fn browser_get(port: u16, target: &str) -> (u16, String) {
    let go = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: test-browser\r\nAccept: text/html\r\nConnection: keep-alive\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = timeout(HANG_GUARD, go)
        .await
        .expect("the callback page did not come");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn callback_target(path: &str, code: &str, state: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("state", state)
        .finish();
    format!("{path}?{query}")
}

/// Authorization-code grants the fake received at `path`, as parameters.
fn code_grants(fake: &FakeOAuth, path: &str) -> Vec<(OAuthRequest, BTreeMap<String, String>)> {
    (fake.requests().into_iter())
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| {
            let p = r.params();
            (r, p)
        })
        .filter(|(_, p)| p.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .collect()
}

/// Every token stored in credentials.json (what must never be printed).
fn stored_secrets(accounts: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for entry in accounts.as_object().unwrap().values() {
        for k in ["access_token", "refresh_token", "id_token"] {
            if let Some(s) = entry[k].as_str() {
                out.push(s.to_string());
            }
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The `[[accounts]]` blocks of a config, comments and blank lines dropped.
fn blocks(config: &str) -> Vec<String> {
    format!("\n{config}")
        .split("\n[[accounts]]\n")
        .skip(1)
        .map(|b| {
            (b.lines())
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

fn stored_block(name: &str, provider: &str) -> String {
    format!("name = \"{name}\"\nprovider = \"{provider}\"\noauth = \"stored\"")
}

/// Waits (bounded) until `path` exists with content; for the `$BROWSER` recorder,
/// which keypool starts without waiting for it.
async fn wait_for_file(path: &Path) -> String {
    let wait = async {
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(HANG_GUARD, wait)
        .await
        .expect("$BROWSER was not run")
}

/// Runs a whole loopback login for `who` (anthropic or openai-codex), checking the
/// redirect URI names the callback port and the vendor's path, and returns how it ended.
async fn loopback_login(
    m: &Machine,
    fake: &FakeOAuth,
    provider: &str,
    who: &Identity,
    extra: &[&str],
) -> Ended {
    let port = free_port();
    let port_arg = port.to_string();
    let mut args = vec![provider, "--callback-port", &port_arg];
    args.extend_from_slice(extra);
    let mut login = m.login(fake, &args, "true");
    let url = login.authorize_url().await;
    let path = match provider {
        "anthropic" => "/callback",
        _ => "/auth/callback",
    };
    let redirect = format!("http://localhost:{port}{path}");
    assert_eq!(url.redirect_uri(), redirect);
    let code = url.consent(fake, who);
    let (status, page) = browser_get(port, &callback_target(path, &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    login.end().await
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_loopback_login_stores_the_tokens_and_adds_the_account() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    // A `$BROWSER` that records what it was asked to open.
    let opened = m.dir.path().join("opened");
    let browser = m.dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let mut login = m.login(
        &fake,
        &["anthropic", "--callback-port", &port.to_string()],
        browser.to_str().unwrap(),
    );
    let url = login.authorize_url().await;
    assert_eq!(url.base, "https://claude.ai/oauth/authorize");
    assert_eq!(url.get("client_id"), support::oauth::ANTHROPIC_CLIENT_ID);
    assert_eq!(url.get("response_type"), "code");
    assert_eq!(url.get("code_challenge_method"), "S256");
    assert_eq!(url.get("code"), "true");
    assert!(url.get("scope").contains("user:inference"));
    assert_eq!(
        url.redirect_uri(),
        format!("http://localhost:{port}/callback")
    );
    assert_eq!(wait_for_file(&opened).await.trim_end(), url.url);

    let code = url.consent(&fake, &alice);
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains(&format!(
            "Logged in as {}; added account 'claude-alice'",
            alice.email
        )),
        "{}",
        ended.output()
    );

    // One exchange, with the verifier behind the URL's challenge, the redirect and
    // the state, as JSON (as Claude Code sends it).
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let grants = code_grants(&fake, "/v1/oauth/token");
    let [(req, p)] = &grants[..] else {
        panic!("one exchange expected, got {}", grants.len())
    };
    assert_eq!(req.host, "platform.claude.com");
    assert!(req.content_type().unwrap().starts_with("application/json"));
    assert_eq!(pkce_challenge(&p["code_verifier"]), url.challenge());
    assert_eq!(p["redirect_uri"], url.redirect_uri());
    assert_eq!(p["state"], url.state());
    assert_eq!(p["code"], code);

    let accounts = m.credentials();
    let names: Vec<_> = accounts.as_object().unwrap().keys().cloned().collect();
    assert_eq!(names, ["claude-alice"]);
    let entry = &accounts["claude-alice"];
    assert_eq!(entry["provider"], "anthropic");
    assert_eq!(entry["account_id"], alice.account_id.as_str());
    assert_eq!(entry["email"], alice.email.as_str());
    assert!(entry["access_token"]
        .as_str()
        .unwrap()
        .starts_with("sk-ant-oat01-"));
    let expires_at = entry["expires_at"].as_u64().unwrap();
    let now_ms = support::https::unix_now() * 1000;
    assert!(
        (now_ms + 28_000_000..=now_ms + 28_900_000).contains(&expires_at),
        "expires_at {expires_at} is not about 8 h from now"
    );
    // The stored refresh token is the live one the fake issued: it redeems.
    let refresh = entry["refresh_token"].as_str().unwrap();
    fake.use_refresh(Flavor::Anthropic, refresh)
        .expect("the stored refresh token is the fake's live one");

    assert_eq!(mode(&m.config_path()), 0o600);
    assert_eq!(
        blocks(&m.config()),
        [stored_block("claude-alice", "anthropic")]
    );
    let mut secrets = stored_secrets(&accounts);
    secrets.extend([code, p["code_verifier"].clone()]);
    ended.assert_no_secret(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_bound_to_another_challenge_fails_the_login_and_writes_nothing() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        &fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    // Someone else's login: consent was given for a challenge this keypool did not send.
    let other = pkce_challenge("an-attacker's-verifier-that-keypool-never-saw-0123456789");
    assert_ne!(other, url.challenge());
    let code = fake.authorize(&alice, &other, url.redirect_uri(), url.state());
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(ended.stderr.contains("login failed"), "{}", ended.output());
    assert!(ended.stderr.contains("invalid_grant"), "{}", ended.output());
    // The browser waited for the outcome and shows it.
    assert_eq!(status, 500, "{page}");
    assert!(
        page.contains("login failed: the code exchange failed"),
        "{page}"
    );
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let grants = code_grants(&fake, "/v1/oauth/token");
    let verifier = grants[0].1["code_verifier"].clone();
    assert_eq!(pkce_challenge(&verifier), url.challenge());
    assert!(!m.credentials_path().exists());
    assert!(!m.config_path().exists());
    ended.assert_no_secret(&[code, verifier]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_with_the_wrong_state_is_refused_and_the_right_one_still_completes() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        &fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    let code = url.consent(&fake, &alice);

    // A forged redirect (a real code, another state), a stray request, and a
    // redirect without a code: each gets a 400 page and the login goes on waiting.
    let (status, page) = browser_get(port, &callback_target("/callback", &code, "forged")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("state does not match"), "{page}");
    let (status, _) = browser_get(port, "/favicon.ico").await;
    assert_eq!(status, 400);
    let (status, page) = browser_get(port, &format!("/callback?state={}", url.state())).await;
    assert_eq!(status, 400);
    assert!(page.contains("no code"), "{page}");
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 0);

    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let accounts = m.credentials();
    assert_eq!(
        accounts["claude-alice"]["account_id"],
        alice.account_id.as_str()
    );
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_providers_refusal_ends_the_login_only_with_this_logins_state() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let port = free_port();
    let port_arg = port.to_string();
    let mut login = m.login(
        &fake,
        &["openai-codex", "--callback-port", &port_arg],
        "true",
    );
    let url = login.authorize_url().await;
    // Any web page can send the browser here; without the state it ends nothing.
    let (status, page) = browser_get(port, "/auth/callback?error=access_denied&state=guess").await;
    assert_eq!(status, 400);
    assert!(page.contains("state does not match"), "{page}");
    // The provider's refusal, quoting markup: the page shows it as text.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "<script>alert(1)</script>")
        .append_pair("state", url.state())
        .finish();
    let (status, page) = browser_get(port, &format!("/auth/callback?{query}")).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended
            .stderr
            .contains("login failed: the provider refused the login"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.code_exchanges(Flavor::Codex), 0);
    assert!(!m.config_path().exists());
    assert!(!m.credentials_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_does_not_hold_up_the_callback() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        &fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    let code = url.consent(&fake, &alice);
    // Browsers open spare connections ahead of time and may never send on them.
    let _idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_without_a_browser_takes_the_pasted_code_and_state() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");

    // A code pasted from another login attempt is refused before any exchange.
    let mut login = m.login(&fake, &["anthropic", "--no-browser"], "true");
    let url = login.authorize_url().await;
    let code = url.consent(&fake, &alice);
    login
        .read_until(|l| l.starts_with("Paste the code").then_some(()))
        .await;
    login.paste(&format!("{code}#some-other-state")).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended.stderr.contains("another login attempt"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 0);
    assert!(!m.credentials_path().exists());

    let mut login = m.login(
        &fake,
        &["anthropic", "--no-browser", "--name", "work"],
        "true",
    );
    let url = login.authorize_url().await;
    assert_eq!(
        url.redirect_uri(),
        "https://platform.claude.com/oauth/code/callback"
    );
    let code = url.consent(&fake, &alice);
    login
        .read_until(|l| l.starts_with("Paste the code").then_some(()))
        .await;
    login.paste(&format!("  {code}#{}  ", url.state())).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains("added account 'work'"),
        "{}",
        ended.output()
    );
    let accounts = m.credentials();
    assert_eq!(accounts["work"]["email"], alice.email.as_str());
    assert_eq!(blocks(&m.config()), [stored_block("work", "anthropic")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_without_a_browser_takes_the_pasted_redirect_and_reads_the_jwt() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let bob = fake.identity(Flavor::Codex, "bob");
    let port = free_port();
    let mut login = m.login(
        &fake,
        &[
            "openai-codex",
            "--no-browser",
            "--callback-port",
            &port.to_string(),
        ],
        "true",
    );
    let url = login.authorize_url().await;
    assert_eq!(url.base, "https://auth.openai.com/oauth/authorize");
    assert_eq!(url.get("client_id"), support::oauth::CODEX_CLIENT_ID);
    assert_eq!(url.get("code_challenge_method"), "S256");
    assert!(url.get("scope").contains("offline_access"));
    let redirect = format!("http://localhost:{port}/auth/callback");
    assert_eq!(url.redirect_uri(), redirect);
    let code = url.consent(&fake, &bob);
    login
        .read_until(|l| l.contains("paste that page's full address").then_some(()))
        .await;
    // The address bar of the page that did not load.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("state", url.state())
        .finish();
    login.paste(&format!("{redirect}?{query}")).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains(&format!(
            "Logged in as {}; added account 'chatgpt-bob'",
            bob.email
        )),
        "{}",
        ended.output()
    );

    let grants = code_grants(&fake, "/oauth/token");
    let [(req, p)] = &grants[..] else {
        panic!("one exchange expected, got {}", grants.len())
    };
    assert_eq!(req.host, "auth.openai.com");
    assert!(req
        .content_type()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(pkce_challenge(&p["code_verifier"]), url.challenge());
    assert_eq!(p["redirect_uri"], redirect);

    let accounts = m.credentials();
    let entry = &accounts["chatgpt-bob"];
    assert_eq!(entry["provider"], "openai-codex");
    assert_eq!(entry["account_id"], bob.account_id.as_str());
    assert_eq!(entry["plan"], bob.plan.as_str());
    assert_eq!(entry["plan"], "pro");
    assert_eq!(entry["email"], bob.email.as_str());
    assert!(entry["id_token"].as_str().is_some());
    let refresh = entry["refresh_token"].as_str().unwrap();
    fake.use_refresh(Flavor::Codex, refresh)
        .expect("the stored refresh token is the fake's live one");
    assert_eq!(
        blocks(&m.config()),
        [stored_block("chatgpt-bob", "openai-codex")]
    );
    let mut secrets = stored_secrets(&accounts);
    secrets.extend([code, p["code_verifier"].clone()]);
    ended.assert_no_secret(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_loopback_login_uses_the_auth_callback_path() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let bob = fake.identity(Flavor::Codex, "bob");
    let ended = loopback_login(&m, &fake, "openai-codex", &bob, &[]).await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    let accounts = m.credentials();
    assert_eq!(
        accounts["chatgpt-bob"]["account_id"],
        bob.account_id.as_str()
    );
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn copilot_device_flow_keeps_the_pace_and_checks_the_seat() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    fake.set_device_interval(0);
    fake.set_device_identity("carol");
    fake.device_script(vec![
        DeviceAnswer::Pending,
        DeviceAnswer::SlowDown { interval: 1 },
        DeviceAnswer::Pending,
        DeviceAnswer::Grant,
    ]);
    let mut login = m.login(&fake, &["github-copilot"], "true");
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert_eq!(
        shown,
        "Open https://github.com/login/device in a browser and enter the code ABCD-1234"
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains("added account 'copilot'"),
        "{}",
        ended.output()
    );

    let polls = fake.device_polls();
    assert_eq!(polls.len(), 4, "one poll per scripted answer");
    // After slow_down the interval is the one the server named, for every later poll.
    for (i, gap) in polls.windows(2).map(|w| w[1] - w[0]).enumerate().skip(1) {
        assert!(
            gap >= Duration::from_secs(1),
            "poll {} came {gap:?} after the previous one",
            i + 2
        );
    }
    assert_eq!(fake.copilot_exchanges(), 1, "the seat is checked once");

    // The GitHub token the Copilot exchange carried is the one stored.
    let exchange: Vec<_> = (fake.requests().into_iter())
        .filter(|r| r.path == "/copilot_internal/v2/token")
        .collect();
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].host, "api.github.com");
    let auth = exchange[0].headers["authorization"].to_str().unwrap();
    let gh = auth.strip_prefix("token ").unwrap();
    assert!(gh.starts_with("gho_"));
    let accounts = m.credentials();
    let entry = &accounts["copilot"];
    assert_eq!(entry["provider"], "github-copilot");
    assert_eq!(entry["refresh_token"], gh);
    assert!(entry.get("domain").is_none(), "github.com is the default");
    assert_eq!(
        blocks(&m.config()),
        [stored_block("copilot", "github-copilot")]
    );
    let device_code = fake.requests()[0].clone();
    assert_eq!(device_code.path, "/login/device/code");
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn copilot_on_an_enterprise_server_asks_that_server_and_remembers_it() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    fake.set_device_identity("dave");
    let args = [
        "github-copilot",
        "--domain",
        "ghe.example.com",
        "--name",
        "ghe",
    ];
    let mut login = m.login(&fake, &args, "true");
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert!(
        shown.starts_with("Open https://ghe.example.com/login/device "),
        "{shown}"
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    let hosts: Vec<_> = (fake.requests().iter())
        .map(|r| format!("{} {}", r.host, r.path))
        .collect();
    assert_eq!(
        hosts,
        [
            "ghe.example.com /login/device/code",
            "ghe.example.com /login/oauth/access_token",
            "api.ghe.example.com /copilot_internal/v2/token",
        ]
    );
    assert_eq!(fake.copilot_exchanges(), 1);
    let accounts = m.credentials();
    assert_eq!(accounts["ghe"]["domain"], "ghe.example.com");
    assert!(accounts["ghe"]["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("gho_"));
    assert_eq!(blocks(&m.config()), [stored_block("ghe", "github-copilot")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_login_denied_in_the_browser_fails_and_writes_nothing() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    fake.device_script(vec![DeviceAnswer::Pending, DeviceAnswer::Denied]);
    let ended = m.login(&fake, &["github-copilot"], "true").end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended
            .stderr
            .contains("login failed: the login was cancelled in the browser"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.device_polls().len(), 2, "no poll after the denial");
    assert_eq!(fake.copilot_exchanges(), 0);
    assert!(!m.credentials_path().exists());
    assert!(!m.config_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_cannot_take_the_login_is_refused_before_the_browser() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    let config = "[[accounts]]\nname = \"work\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-api03-SECRET\"\n";
    std::fs::write(m.config_path(), config).unwrap();
    let port = free_port().to_string();
    for (name, why) in [
        ("work", "account 'work' uses an API key"),
        ("", "an account name must be non-empty"),
    ] {
        let args = ["anthropic", "--name", name, "--callback-port", &port];
        let ended = m.login(&fake, &args, "true").end().await;
        assert_eq!(ended.code, Some(1), "{}", ended.output());
        assert!(ended.stderr.contains(why), "{}", ended.output());
        assert!(!ended.stdout.contains("https://"), "{}", ended.output());
        ended.assert_no_secret(&["sk-ant-api03-SECRET".to_string()]);
    }
    let github = ["github-copilot", "--name", "work"];
    let ended = m.login(&fake, &github, "true").end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended.stderr.contains("is a 'anthropic' account"),
        "{}",
        ended.output()
    );
    assert!(fake.requests().is_empty(), "no device flow was started");
    assert_eq!(m.config(), config);
    assert!(!m.credentials_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_in_again_replaces_the_tokens_and_adds_no_block() {
    let ca = TestCa::new();
    let fake = FakeOAuth::start(&ca, None).await;
    let m = Machine::new(&ca);
    let alice = fake.identity(Flavor::Anthropic, "alice");

    let first = loopback_login(&m, &fake, "anthropic", &alice, &["--name", "work"]).await;
    assert_eq!(first.code, Some(0), "{}", first.output());
    assert!(
        first.stdout.contains("added account 'work'"),
        "{}",
        first.output()
    );
    let config = m.config();
    assert_eq!(blocks(&config), [stored_block("work", "anthropic")]);
    let old = m.credentials()["work"].clone();

    let second = loopback_login(&m, &fake, "anthropic", &alice, &["--name", "work"]).await;
    assert_eq!(second.code, Some(0), "{}", second.output());
    assert!(
        second.stdout.contains("new tokens for account 'work'"),
        "{}",
        second.output()
    );
    assert_eq!(m.config(), config, "the config is left as it was");
    let accounts = m.credentials();
    assert_eq!(accounts.as_object().unwrap().len(), 1);
    let new = &accounts["work"];
    assert_ne!(new["refresh_token"], old["refresh_token"]);
    assert_ne!(new["access_token"], old["access_token"]);
    assert_eq!(new["account_id"], alice.account_id.as_str());
    fake.use_refresh(Flavor::Anthropic, new["refresh_token"].as_str().unwrap())
        .expect("the new refresh token is stored");

    // Without --name, the same person is recognised by account id.
    let third = loopback_login(&m, &fake, "anthropic", &alice, &[]).await;
    assert_eq!(third.code, Some(0), "{}", third.output());
    assert!(
        third.stdout.contains("new tokens for account 'work'"),
        "{}",
        third.output()
    );
    assert_eq!(m.config(), config);
    assert_eq!(m.credentials().as_object().unwrap().len(), 1);

    // A name taken by another provider's account is refused before any browser step,
    // and nothing changes.
    let before = std::fs::read(m.credentials_path()).unwrap();
    let port = free_port().to_string();
    let args = ["openai-codex", "--name", "work", "--callback-port", &port];
    let clash = m.login(&fake, &args, "true").end().await;
    assert_eq!(clash.code, Some(1), "{}", clash.output());
    assert!(
        clash
            .stderr
            .contains("account 'work' is a 'anthropic' account"),
        "{}",
        clash.output()
    );
    assert!(!clash.stdout.contains("https://"), "{}", clash.output());
    assert_eq!(fake.code_exchanges(Flavor::Codex), 0);
    assert_eq!(m.config(), config);
    assert_eq!(std::fs::read(m.credentials_path()).unwrap(), before);
    for e in [&first, &second, &third, &clash] {
        e.assert_no_secret(&stored_secrets(&accounts));
    }
}
