//! The listener: accepts connections, routes each request (CONNECT, absolute-form proxy
//! request, or a request to keypool itself), and shuts down gracefully.

use crate::body::{text, ProxyBody};
use crate::ca::{CertAuthority, Minting};
use crate::config::Config;
use crate::forward::{self, Target};
use crate::home::Home;
use crate::persist::StateFile;
use crate::pool::{Clock, Pools, SystemClock};
use crate::state::{Live, State};
use crate::upstream::{ConnectTo, Upstream};
use crate::{admin, tunnel};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Request heads larger than this are refused with 431.
const MAX_HEAD_BYTES: usize = 256 * 1024;
/// hyper runs this timer while a keep-alive connection waits for its next request too, so
/// it doubles as the idle timeout. It is longer than client pools keep idle connections
/// (reqwest 90 s, httpx 5 s, undici 4 s): closing first would race a client reusing the
/// connection for a POST it cannot safely retry.
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(300);

pub struct ProxyOptions {
    pub home: Home,
    pub config: Config,
    /// From `--connect-to`; tried before the config's `[upstream] connect_to`.
    pub connect_to: Vec<ConnectTo>,
    pub clock: Arc<dyn Clock>,
    /// The file `config` came from, read again on reload (SIGHUP, `keypool reload`).
    pub config_path: Option<PathBuf>,
}

impl ProxyOptions {
    pub fn new(home: Home, config: Config) -> ProxyOptions {
        ProxyOptions {
            home,
            config,
            connect_to: Vec::new(),
            clock: Arc::new(SystemClock),
            config_path: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error("{0}")]
    Upstream(String),
    /// A listener beyond loopback with no client password to ask for.
    #[error("keypool: listen = \"{addr}\" is reachable from other machines, and no [clients] entry has a password, so anyone who can reach it could spend your accounts\nfix: listen on 127.0.0.1:{port}, or add a client with a password ([clients.NAME] pools = [...], password = \"env:VAR\") and use http://NAME:PASSWORD@HOST:{port} as the proxy URL", port = addr.port())]
    Exposed { addr: SocketAddr },
}

/// The clients of `config`, when its listen address is loopback or a client has a
/// password to ask every request for.
fn exposure_checked(config: &Config) -> Result<crate::clients::Clients, StartError> {
    let clients = crate::clients::Clients::build(config);
    if !is_loopback(config.listen) && !clients.any_password() {
        return Err(StartError::Exposed {
            addr: config.listen,
        });
    }
    Ok(clients)
}

/// Whether `addr` is reachable only from this machine.
pub fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// A proxy running on the current tokio runtime.
pub struct RunningProxy {
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
    /// Work of the proxy itself rather than of a connection (retrying unsaved logins);
    /// it ends when shutdown begins.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningProxy {
    pub fn addr(&self) -> SocketAddr {
        self.state.listen
    }

    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// A token that starts graceful shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Stops accepting, lets in-flight requests and streams finish within the grace
    /// period, then returns. Returns whether everything finished in time.
    pub async fn shutdown(self) -> bool {
        self.state.shutdown.cancel();
        self.wait().await
    }

    /// Waits until shutdown has been requested and in-flight work has drained.
    pub async fn wait(self) -> bool {
        let _ = self.accept.await;
        self.state.tasks.close();
        let grace = self.state.limits.shutdown_grace;
        let drained = tokio::time::timeout(grace, self.state.tasks.wait())
            .await
            .is_ok();
        for task in self.background {
            let _ = task.await;
        }
        // A refreshed login still unsaved gets one more try now that requests are done.
        let store = self.state.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.flush_unsaved()).await;
        save_state(&self.state);
        if !drained {
            tracing::warn!(
                "shutdown grace period ({}s) ended with connections still open; closing them",
                grace.as_secs()
            );
        }
        drained
    }
}

pub async fn start(opts: ProxyOptions) -> Result<RunningProxy, StartError> {
    let config = opts.config;
    let clients = exposure_checked(&config)?;
    let listener = TcpListener::bind(config.listen).await.map_err(|source| StartError::Bind {
        addr: config.listen,
        hint: match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                "\nfix: another program (perhaps keypool) already listens there; stop it, or pass --listen 127.0.0.1:<other port>"
            }
            _ => "",
        },
        source,
    })?;
    let listen = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
        hint: "",
    })?;
    if !is_loopback(listen) {
        tracing::warn!(
            "listening on {listen}, beyond this machine: every request must name a client and its password"
        );
    }
    let hosts = crate::ca::hosts_of(&config.registry);
    let (ca, created) = CertAuthority::load_or_create(&opts.home, &hosts)?;
    if created {
        tracing::info!(
            "created a new local CA at {}; trust it with `keypool ca install` or use `keypool run`",
            opts.home.ca_cert().display()
        );
    }
    let upstream =
        Upstream::new(&config.upstream, &opts.connect_to).map_err(StartError::Upstream)?;
    upstream.egress().set(listen, config.registry.hosts());
    let store = crate::oauth::store::Store::at(opts.home.credentials_file());
    let state_file = StateFile::at(opts.home.state_file());
    let pools = Pools::build(&config, &store);
    let saved = state_file.load();
    pools.restore(&saved, opts.clock.now());
    for w in ca_warnings(&ca, &pools, &opts.home) {
        tracing::warn!("{w}");
    }
    let affinity = crate::sticky::Affinity::default();
    affinity
        .sticky
        .set_limits(config.limits.sticky_idle, crate::sticky::DEFAULT_CAPACITY);
    affinity.set_policy(crate::sticky::PinPolicy {
        thinking_signatures: config.limits.pin_thinking_signatures,
        ..crate::sticky::PinPolicy::default()
    });
    if let Some(a) = saved.affinity {
        affinity.restore(a, opts.clock.now());
    }
    let state = Arc::new(State {
        home: opts.home,
        listen,
        live: parking_lot::RwLock::new(Arc::new(Live {
            clients,
            registry: config.registry,
            pools,
        })),
        config_path: opts.config_path,
        affinity,
        state_file,
        store,
        minting: parking_lot::RwLock::new(Minting::new(ca)),
        upstream,
        clock: opts.clock,
        limits: config.limits,
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    let accept = tokio::spawn(accept_loop(listener, state.clone()));
    let background = spawn_background(&state);
    Ok(RunningProxy {
        state,
        accept,
        background,
    })
}

/// What the proxy does besides serving connections: saving state after changes, and
/// retrying refreshed logins that could not be saved.
fn spawn_background(state: &Arc<State>) -> Vec<tokio::task::JoinHandle<()>> {
    tokio::spawn(save_state_on_change(state.clone()));
    let st = state.clone();
    let find = Arc::new(move |name: &str| st.oauth_account(name));
    let retry = (state.store.clone()).retry_unsaved(state.shutdown.clone(), find);
    vec![tokio::spawn(retry)]
}

/// Reads the config file again and puts it in force for new requests: pools, accounts
/// and providers. A config with an error is refused and the running one kept. Requests
/// in flight finish with the accounts they started with; connections stay open.
pub fn reload(state: &State) -> Result<String, String> {
    let path = state
        .config_path
        .as_ref()
        .ok_or("keypool was started without a config file to read again")?;
    let config = Config::load(path).map_err(|e| {
        format!(
            "{}
the running config is kept",
            e.0
        )
    })?;
    let old = state.live();
    let pools = Pools::rebuild(&config, &state.store, &old.pools);
    let mut message = format!(
        "reloaded {}: {} account{} in {} pool{} ([upstream], [limits] and listen change on restart)",
        path.display(),
        config.accounts.len(),
        if config.accounts.len() == 1 { "" } else { "s" },
        pools.all.len(),
        if pools.all.len() == 1 { "" } else { "s" },
    );
    let kept: std::collections::HashSet<(String, String)> = pools
        .all
        .iter()
        .flat_map(|p| p.members.iter().map(|a| (p.name.clone(), a.name.clone())))
        .collect();
    state
        .affinity
        .retain(|pool, account| kept.contains(&(pool.to_string(), account.to_string())));
    let notes = reload_ca(state, &pools);
    state
        .upstream
        .egress()
        .set_named_hosts(config.registry.hosts());
    state.replace(Live {
        clients: crate::clients::Clients::build(&config),
        registry: config.registry,
        pools,
    });
    for n in notes {
        message.push_str(&format!("\n{n}"));
    }
    Ok(message)
}

/// Puts a CA rotated since the start (`keypool ca rotate`) in force: new connections get
/// leaves from it (the leaf cache goes with the old CA), open ones keep theirs. Returns
/// what to tell the user, warnings included (also logged).
fn reload_ca(state: &State, pools: &Pools) -> Vec<String> {
    let path = state.home.ca_cert();
    let mut notes = Vec::new();
    match state.minting().ca.reloaded(&state.home) {
        Ok(None) => {}
        Ok(Some(ca)) => {
            notes.push(format!(
                "now signing with the new CA at {}; restart tools that were started trusting the old one",
                path.display()
            ));
            state.set_minting(Minting::new(ca));
        }
        Err(e) => {
            let w = format!("the CA on disk changed but cannot be used, so keypool keeps signing with the previous one: {e}");
            tracing::warn!("{w}");
            notes.push(format!("warning: {w}"));
        }
    }
    for w in ca_warnings(&state.minting().ca, pools, &state.home) {
        tracing::warn!("{w}");
        notes.push(format!("warning: {w}"));
    }
    notes
}

/// The CA's warnings for the hosts keypool would intercept: those of providers with a pool.
fn ca_warnings(ca: &CertAuthority, pools: &Pools, home: &Home) -> Vec<String> {
    let hosts = pools
        .all
        .iter()
        .flat_map(|p| p.provider.hosts.iter().map(String::as_str));
    ca.warnings(hosts, &home.ca_cert())
}

/// How often a changed cooldown or disabled flag is written to `state.json`.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// Writes `state.json` a moment after accounts change health, so a crash loses at most
/// that moment; shutdown writes it once more.
async fn save_state_on_change(state: Arc<State>) {
    let mut saved = state.live().pools.generation();
    loop {
        tokio::select! {
            () = tokio::time::sleep(SAVE_EVERY) => {}
            () = state.shutdown.cancelled() => return,
        }
        let now = state.live().pools.generation();
        if now != saved {
            save_state(&state);
            saved = now;
        }
    }
}

fn save_state(state: &State) {
    let now = state.clock.now();
    let mut snapshot = state.live().pools.snapshot(now);
    snapshot.affinity = Some(state.affinity.snapshot(now));
    if let Err(e) = state.state_file.save(&snapshot) {
        tracing::warn!("cannot write {}: {e}", state.state_file.path().display());
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = state.shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let st = state.clone();
        state.tasks.spawn(async move {
            let shutdown = st.shutdown.clone();
            let conn = ClientConn {
                first_head: st.limits.handshake_timeout,
                socket: ClientSocket::of(&stream),
            };
            let svc = service_fn(move |req| route(req, st.clone(), peer));
            serve_http1(stream, svc, &shutdown, conn).await;
        });
    }
}

/// How one client connection is served, besides its requests.
pub struct ClientConn {
    /// The first request head must be complete by then (from the start of the connection
    /// or of the tunnel): a client that connects and says nothing, or trickles its head, is
    /// closed. Later heads get hyper's header-read timeout, which is also the keep-alive
    /// idle time.
    pub first_head: Duration,
    /// The client's TCP socket, reset when an answer breaks off.
    pub socket: ClientSocket,
}

/// Serves HTTP/1.1 on `io` until the peer closes or shutdown asks the connection to
/// finish its current request and close. An idle keep-alive connection closes at once on
/// shutdown; a request in flight finishes first.
pub async fn serve_http1<I, S, F>(io: I, svc: S, shutdown: &CancellationToken, c: ClientConn)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
            Future = F,
        > + Send
        + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let seen = Arc::new(tokio::sync::Notify::new());
    let svc = FirstHead {
        inner: svc,
        seen: seen.clone(),
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_READ_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES.max(400 * 1024))
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let first_head_late = async {
        tokio::select! {
            () = seen.notified() => std::future::pending::<()>().await,
            () = tokio::time::sleep(c.first_head) => {}
        }
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        () = first_head_late => {
            tracing::debug!("no request within {}s of connecting; closed", c.first_head.as_secs());
            return;
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended with an error: {e}");
        if e.is_user() {
            // The answer's body failed (the upstream broke off). Chunked framing already
            // tells the client, but an HTTP/1.0 or close-delimited answer would end in a
            // clean-looking FIN: a reset says "broken" to every client.
            c.socket.reset_on_close();
        }
    }
}

/// Tells [`serve_http1`] when the first request head has arrived.
struct FirstHead<S> {
    inner: S,
    seen: Arc<tokio::sync::Notify>,
}

impl<S, R> hyper::service::Service<R> for FirstHead<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> S::Future {
        self.seen.notify_one();
        self.inner.call(req)
    }
}

/// A client's TCP socket, by descriptor, so a broken answer can end in a reset. Used only
/// while the stream that owns the descriptor is alive (inside [`serve_http1`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSocket {
    #[cfg(unix)]
    fd: Option<std::os::fd::RawFd>,
}

impl ClientSocket {
    /// No socket to reset (a connection inside a tunnel: TLS already tells truncation).
    pub fn none() -> ClientSocket {
        ClientSocket::default()
    }

    pub fn of(stream: &tokio::net::TcpStream) -> ClientSocket {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            ClientSocket {
                fd: Some(stream.as_raw_fd()),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = stream;
            ClientSocket {}
        }
    }

    /// With a zero linger time, the coming close sends RST instead of FIN.
    fn reset_on_close(self) {
        #[cfg(unix)]
        if let Some(fd) = self.fd {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: `fd` belongs to the stream serve_http1 still owns (its connection
            // future is alive), and setsockopt reads only the struct we pass.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
    }
}

async fn route(
    req: Request<Incoming>,
    state: Arc<State>,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Infallible> {
    let proxied = req.method() == http::Method::CONNECT || req.uri().scheme().is_some();
    if !proxied {
        tracing::debug!(%peer, "request to keypool itself: {} {}", req.method(), req.uri().path());
        return Ok(admin::handle(&req, &state));
    }
    let client = match authorize(&req, &state) {
        Ok(c) => c,
        Err(why) => return Ok(proxy_auth_required(why)),
    };
    if req.method() == http::Method::CONNECT {
        return Ok(tunnel::connect(req, state, client).await);
    }
    // Absolute form: a plain-HTTP proxy request (`http_proxy`).
    let Some(mut target) = Target::from_absolute_uri(req.uri()) else {
        return Ok(text(StatusCode::BAD_REQUEST, "keypool: the request URI has no usable host; proxy requests look like `GET http://host/path`\n"));
    };
    target.client = client;
    forward::handle(req, Arc::new(target), state).await
}

/// The client a proxied request names, checked. On a listener other machines can reach,
/// only a client with a password counts: a bare name anyone can type proves nothing.
fn authorize(req: &Request<Incoming>, state: &State) -> Result<Option<Arc<str>>, String> {
    let live = state.live();
    let client = live.clients.authenticate(req.headers())?;
    if is_loopback(state.listen)
        || client
            .as_deref()
            .is_some_and(|c| live.clients.has_password(c))
    {
        return Ok(client);
    }
    Err(format!(
        "keypool: keypool listens on {}, beyond this machine, so every request must name a client and its password; fix: use http://NAME:PASSWORD@HOST:{} as the proxy URL, with a [clients.NAME] that has a password",
        state.listen,
        state.listen.port()
    ))
}

fn proxy_auth_required(why: String) -> Response<ProxyBody> {
    let mut r = text(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        format!("{why}\n"),
    );
    r.headers_mut().insert(
        http::header::PROXY_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"keypool\""),
    );
    r
}
