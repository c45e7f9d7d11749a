//! Starting keypool in-process against a fake provider (and a fake OAuth
//! server), restarting it on the same home, and clients that go through it.

use super::ca::TestCa;
use super::fake::FakeProvider;
use super::guard::{Within, CLIENT_TIMEOUT};
use keypool::clock::ManualClock;
use keypool::{Config, Home, ProxyOptions, RunningProxy};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Keypool {
    pub proxy: RunningProxy,
    pub home: tempfile::TempDir,
}

/// A keypool started from a [`KeypoolBuilder`]: the proxy plus what it takes
/// to start it again. Derefs to [`Keypool`] for `client()`, `addr()` and the
/// rest.
pub struct Harness {
    pub kp: Keypool,
    /// Files outside the home: client credential files and other fixtures.
    pub fixtures: tempfile::TempDir,
    settings: Settings,
    /// The port the config names (0 at the first start, keypool's own after a restart).
    listen_port: u16,
}

impl std::ops::Deref for Harness {
    type Target = Keypool;

    fn deref(&self) -> &Keypool {
        &self.kp
    }
}

impl Harness {
    /// Stops this proxy (gracefully: in-flight work drains first) and starts
    /// a new one on the same home, fixtures, config, clock and port, as a
    /// user restarting keypool would. Open client connections are closed;
    /// clients built by `client()` keep working since the port is the same.
    /// A blind tunnel a client still holds delays the stop by keypool's
    /// idle-after-shutdown time, so drop such clients first.
    pub async fn restart(self) -> Harness {
        let Harness {
            kp,
            fixtures,
            settings,
            ..
        } = self;
        let port = kp.proxy.addr().port();
        kp.proxy
            .shutdown()
            .within("keypool draining before the restart")
            .await;
        launch(kp.home, fixtures, settings, port).await
    }

    /// Stops this proxy gracefully and hands back its home, to read what keypool left
    /// in it (the home is removed when that is dropped).
    pub async fn shutdown_keeping_home(self) -> tempfile::TempDir {
        self.kp.proxy.shutdown().await;
        self.kp.home
    }

    pub fn home_path(&self, rel: &str) -> PathBuf {
        self.kp.home.path().join(rel)
    }

    pub fn fixture_path(&self, rel: &str) -> PathBuf {
        self.fixtures.path().join(rel)
    }

    /// The config file keypool reads again on a reload (see [`KeypoolBuilder::reloadable`]).
    pub fn config_path(&self) -> PathBuf {
        assert!(self.settings.reloadable, "keypool was started reloadable");
        config_file(self.kp.home.path())
    }

    /// Rewrites the config file with `accounts_toml` in place of the accounts so far
    /// (the rest as it was), for the reload that follows; a restart starts from it too.
    pub fn rewrite_accounts(&mut self, accounts_toml: &str) {
        self.settings.accounts = accounts_toml.to_string();
        let text = self.settings.text(self.listen_port, &self.ca_file());
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Writes `home/rel` (mode 0600) while keypool runs, e.g. a new `credentials.json`.
    pub fn home_file(&self, rel: &str, text: &str) -> PathBuf {
        write_private(self.kp.home.path(), rel, text)
    }

    /// Writes `fixtures/rel` (mode 0600) while keypool runs, e.g. a file to link.
    pub fn fixture(&self, rel: &str, text: &str) -> PathBuf {
        write_private(self.fixtures.path(), rel, text)
    }

    fn ca_file(&self) -> PathBuf {
        self.kp.home.path().join("test-ca.pem")
    }
}

/// Where a reloadable keypool's config is written, in its home.
fn config_file(home: &Path) -> PathBuf {
    home.join("config.toml")
}

/// What a restart needs to start the same keypool again.
struct Settings {
    accounts: String,
    upstream: Option<SocketAddr>,
    connect_to: Vec<String>,
    clock: Option<Arc<ManualClock>>,
    /// More `[upstream]` lines, e.g. `allow_private = [...]`.
    upstream_extra: String,
    /// The listen address instead of loopback (its port is the one keypool is given).
    listen_ip: Option<String>,
    /// The config is written to the home and keypool is told its path, so a reload
    /// (SIGHUP, `POST /_keypool/reload`) reads it again.
    reloadable: bool,
}

impl Settings {
    fn text(&self, listen_port: u16, ca_file: &Path) -> String {
        let text = config_text_with(
            &self.accounts,
            listen_port,
            self.upstream,
            &self.connect_to,
            ca_file,
        ) + &self.upstream_extra;
        match &self.listen_ip {
            Some(ip) => text.replacen(
                &format!("listen = \"127.0.0.1:{listen_port}\""),
                &format!("listen = \"{ip}:{listen_port}\""),
                1,
            ),
            None => text,
        }
    }
}

/// Builds a keypool start: accounts, where :443 goes, files written before
/// it starts, and an optional manual clock.
pub struct KeypoolBuilder {
    home: tempfile::TempDir,
    fixtures: tempfile::TempDir,
    settings: Settings,
}

impl KeypoolBuilder {
    pub fn accounts(mut self, accounts_toml: &str) -> Self {
        self.settings.accounts = accounts_toml.to_string();
        self
    }

    /// The catch-all: every :443 connection not matched by `connect_to`.
    pub fn upstream(mut self, addr: SocketAddr) -> Self {
        self.settings.upstream = Some(addr);
        self
    }

    /// `HOST:PORT:CONNECT_HOST:CONNECT_PORT` entries, kept in order and
    /// placed before the catch-all (keypool takes the first match).
    pub fn connect_to(mut self, entries: impl IntoIterator<Item = String>) -> Self {
        self.settings.connect_to.extend(entries);
        self
    }

    /// Lines added to the `[upstream]` section (which the harness writes last).
    pub fn upstream_toml(mut self, lines: &str) -> Self {
        self.settings.upstream_extra = format!("{lines}\n");
        self
    }

    /// Listen on `ip` (e.g. `0.0.0.0`, reachable from other machines) instead of loopback.
    pub fn listen_ip(mut self, ip: &str) -> Self {
        self.settings.listen_ip = Some(ip.to_string());
        self
    }

    /// Passed as `ProxyOptions.clock`; the test keeps a clone to move time.
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.settings.clock = Some(clock);
        self
    }

    /// See [`Harness::rewrite_accounts`]: keypool reads its config from a file it can
    /// read again.
    pub fn reloadable(mut self) -> Self {
        self.settings.reloadable = true;
        self
    }

    /// Starts on `home` instead of the fresh one (a directory the test mounted a file
    /// system on, …); `ca` is written into it as into every home.
    pub fn on_home(mut self, home: tempfile::TempDir, ca: &TestCa) -> Self {
        ca.write_pem(home.path());
        self.home = home;
        self
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn fixtures(&self) -> &Path {
        self.fixtures.path()
    }

    /// Writes `home/rel` (e.g. `credentials.json`) before keypool starts.
    pub fn home_file(&self, rel: &str, text: &str) -> PathBuf {
        write_private(self.home.path(), rel, text)
    }

    /// Writes `fixtures/rel` (e.g. `.codex/auth.json`) and returns its path,
    /// to name in the accounts config.
    pub fn fixture(&self, rel: &str, text: &str) -> PathBuf {
        write_private(self.fixtures.path(), rel, text)
    }

    /// The whole config text keypool would be given, listening on `listen_port`.
    pub fn text(&self, listen_port: u16) -> String {
        self.settings
            .text(listen_port, &self.home.path().join("test-ca.pem"))
    }

    /// The home and fixture directories, for a start that is not in-process.
    pub fn into_dirs(self) -> (tempfile::TempDir, tempfile::TempDir) {
        (self.home, self.fixtures)
    }

    pub async fn start(self) -> Harness {
        let KeypoolBuilder {
            home,
            fixtures,
            settings,
        } = self;
        launch(home, fixtures, settings, 0).await
    }
}

impl Keypool {
    /// Starts keypool with `accounts_toml` plus an `[upstream]` section that sends every
    /// :443 connection to `fake` and trusts the test CA.
    pub async fn start(accounts_toml: &str, fake: &FakeProvider, ca: &TestCa) -> Keypool {
        Self::start_with_upstream(accounts_toml, fake.addr(), ca).await
    }

    pub async fn start_with_upstream(
        accounts_toml: &str,
        upstream: SocketAddr,
        ca: &TestCa,
    ) -> Keypool {
        Self::builder(ca)
            .accounts(accounts_toml)
            .upstream(upstream)
            .start()
            .await
            .kp
    }

    /// A start to configure; the home and fixture directories exist (and
    /// trust `ca`) already, so files can be written before `start()`.
    pub fn builder(ca: &TestCa) -> KeypoolBuilder {
        let home = tempfile::tempdir().unwrap();
        ca.write_pem(home.path());
        KeypoolBuilder {
            home,
            fixtures: tempfile::tempdir().unwrap(),
            settings: Settings {
                accounts: String::new(),
                upstream: None,
                connect_to: Vec::new(),
                clock: None,
                upstream_extra: String::new(),
                listen_ip: None,
                reloadable: false,
            },
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr()
    }

    /// The proxy's state, for a test that reaches into its store or reloads it.
    pub fn state(&self) -> &Arc<keypool::state::State> {
        self.proxy.state()
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.home.path().join("certs/ca.pem")).unwrap()
    }

    /// reqwest through keypool, trusting only keypool's CA.
    pub fn client(&self) -> reqwest::Client {
        crate::support::client_http::through_keypool(reqwest::Client::builder())
            .proxy(reqwest::Proxy::all(format!("http://{}", self.addr())).unwrap())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem().as_bytes()).unwrap())
            .timeout(CLIENT_TIMEOUT)
            .build()
            .unwrap()
    }

    /// A raw CONNECT tunnel through keypool; returns the stream after the `200`.
    pub async fn connect(&self, authority: &str) -> TcpStream {
        connect_at(self.addr(), authority).await
    }

    /// CONNECT plus a TLS handshake that trusts `roots` only.
    pub async fn tls_through(
        &self,
        host: &str,
        roots_pem: &str,
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = self.connect(&format!("{host}:443")).await;
        tls_connect(tcp, host, roots_pem).await
    }
}

/// A raw CONNECT tunnel through the keypool at `addr` (in-process or the real binary);
/// returns the stream after the `200`.
pub async fn connect_at(addr: impl tokio::net::ToSocketAddrs, authority: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr)
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    s.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .within("keypool taking the CONNECT request")
        .await
        .unwrap();
    let head = read_head(&mut s)
        .within(&format!("keypool's answer to CONNECT {authority}"))
        .await;
    assert!(head.starts_with("HTTP/1.1 200"), "CONNECT answered: {head}");
    s
}

/// `GET /_keypool/status` on `addr` as JSON, with a client that goes to it directly
/// (never through a proxy from the environment).
pub async fn status_json(addr: SocketAddr) -> serde_json::Value {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
        .get(format!("http://{addr}/_keypool/status"))
        .send()
        .within("keypool's answer to GET /_keypool/status")
        .await
        .unwrap()
        .json()
        .within("the body of keypool's status page")
        .await
        .unwrap()
}

/// `keypool status` (the command) asking the keypool at `addr`, from a home `dir` of its
/// own whose config names only that address; `what` names the wait.
pub async fn status_command(dir: &Path, addr: SocketAddr, what: &str) -> std::process::Output {
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, format!("listen = \"{addr}\"\n")).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("KEYPOOL_HOME", dir)
        .arg("--config")
        .arg(&cfg)
        .arg("status")
        .output()
        .within(what)
        .await
        .unwrap()
}

pub fn config_text(accounts_toml: &str, upstream: SocketAddr, ca_file: &Path) -> String {
    config_text_with(accounts_toml, 0, Some(upstream), &[], ca_file)
}

/// The config keypool runs with: `connect_to` entries first, then the
/// catch-all to `upstream` if any.
pub fn config_text_with(
    accounts_toml: &str,
    listen_port: u16,
    upstream: Option<SocketAddr>,
    connect_to: &[String],
    ca_file: &Path,
) -> String {
    let mut entries: Vec<String> = connect_to.to_vec();
    entries.extend(upstream.map(|u| format!(":443:127.0.0.1:{}", u.port())));
    let ca = ca_file.display().to_string();
    // Quota probes are background requests a test of something else would count: off
    // unless the test's config has a `[probes]` section of its own.
    let probes = if accounts_toml.contains("[probes]") {
        ""
    } else {
        "[probes]\nenabled = false\n"
    };
    format!(
        concat!(
            "listen = \"127.0.0.1:{listen_port}\"\n{accounts_toml}\n{probes}",
            "[upstream]\nconnect_to = {entries:?}\nextra_ca = [{ca:?}]\n",
        ),
        listen_port = listen_port,
        accounts_toml = accounts_toml,
        probes = probes,
        entries = entries,
        ca = ca,
    )
}

async fn launch(
    home: tempfile::TempDir,
    fixtures: tempfile::TempDir,
    settings: Settings,
    listen_port: u16,
) -> Harness {
    let text = settings.text(listen_port, &home.path().join("test-ca.pem"));
    let mut options = if settings.reloadable {
        let path = config_file(home.path());
        std::fs::write(&path, &text).unwrap();
        let mut o = ProxyOptions::new(Home::at(home.path()), Config::load(&path).unwrap());
        o.config_path = Some(path);
        o
    } else {
        let config = Config::parse(&text, Path::new("test.toml")).unwrap();
        ProxyOptions::new(Home::at(home.path()), config)
    };
    if let Some(clock) = &settings.clock {
        options.clock = clock.clone();
    }
    let proxy = keypool::start(options).await.unwrap();
    Harness {
        kp: Keypool { proxy, home },
        fixtures,
        settings,
        listen_port,
    }
}

/// Writes `dir/rel` with its parent directories, mode 0600 like the real
/// credential files it usually stands for.
fn write_private(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// A TLS client config trusting only the certificates in `roots_pem`.
pub fn client_config(roots_pem: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(roots_pem) {
        roots.add(c).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

pub async fn tls_connect(
    tcp: TcpStream,
    host: &str,
    roots_pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let cfg = client_config(roots_pem);
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .within(&format!("the TLS handshake with {host}"))
        .await
        .unwrap()
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Reads an HTTP head (up to the blank line) byte by byte, leaving the body unread.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An `[[accounts]]` block with an API key.
pub fn key_account(name: &str, provider: &str, key: &str) -> String {
    format!("[[accounts]]\nname = \"{name}\"\nprovider = \"{provider}\"\napi_key = \"{key}\"\n")
}

/// A minimal OpenAI chat completion through `client` with a placeholder key.
pub async fn openai_chat(client: &reqwest::Client) -> reqwest::Response {
    client
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-placeholder")
        .json(&serde_json::json!({"model": "gpt-4o", "messages": []}))
        .send()
        .within("the answer to a chat completion through keypool")
        .await
        .unwrap()
}
