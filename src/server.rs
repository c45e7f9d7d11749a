//! The listener: accepts connections, routes each request (CONNECT, absolute-form proxy
//! request, or a request to keypool itself), and shuts down gracefully.

use crate::body::{text, ProxyBody};
use crate::ca::{CertAuthority, Minting};
use crate::client_conn::{serve_conn, ClientConn, ClientSocket, Http};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::config::ConnectTo;
use crate::forward;
use crate::home::Home;
use crate::persist::StateFile;
use crate::pool::Pools;
use crate::reload::ca_warnings;
use crate::state::{Live, State};
use crate::target::Target;
use crate::upstream::Upstream;
use crate::{admin, tunnel};

use crate::client_conn::ClientBody;
/// `keypool reload` and SIGHUP, for the callers that know the listener.
use http::{Request, Response, StatusCode};
use hyper::service::service_fn;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    #[error(
        "keypool: listen = \"{addr}\" is reachable from other machines, and no [clients] entry \
         has a password, so anyone who can reach it could spend your accounts\n\
         fix: listen on 127.0.0.1:{port}, or add a client with a password ([clients.NAME] \
         pools = [...], password = \"env:VAR\") and use http://NAME:PASSWORD@HOST:{port} as \
         the proxy URL",
        port = addr.port()
    )]
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
        // The rows of the requests just finished are still queued for the writer.
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.ledger.flush()).await;
        if !drained {
            tracing::warn!(
                "shutdown grace period ({}s) ended with connections still open; closing them",
                grace.as_secs()
            );
        }
        drained
    }
}

/// The listening socket and the address it got (port 0 picks one), warning when other
/// machines can reach it.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr,
            hint: match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    concat!(
                        "\nfix: another program (perhaps keypool) already listens there; ",
                        "stop it, or pass --listen 127.0.0.1:<other port>"
                    )
                }
                _ => "",
            },
            source,
        })?;
    let listen = listener.local_addr().map_err(|source| StartError::Bind {
        addr,
        source,
        hint: "",
    })?;
    if !is_loopback(listen) {
        tracing::warn!(
            "listening on {listen}, beyond this machine: {}",
            "every request must name a client and its password"
        );
    }
    Ok((listener, listen))
}

pub async fn start(opts: ProxyOptions) -> Result<RunningProxy, StartError> {
    let config = opts.config;
    let clients = exposure_checked(&config)?;
    let (listener, listen) = bind(config.listen).await?;
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
    let ledger = crate::usage::ledger::Ledger::open_or_off(&opts.home.usage_db(), &config.usage);
    let state = Arc::new(State {
        home: opts.home,
        listen,
        live: parking_lot::RwLock::new(Arc::new(Live {
            clients,
            registry: config.registry,
            pools,
            prices: crate::usage::prices::Prices::new(&config.prices),
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
        ledger,
        metrics: crate::metrics::Metrics::new(config.metrics.enabled),
    });
    let accept = tokio::spawn(accept_loop(listener, state.clone()));
    let background = spawn_background(&state, &config.probes);
    Ok(RunningProxy {
        state,
        accept,
        background,
    })
}

/// What the proxy does besides serving connections: saving state after changes,
/// retrying refreshed logins that could not be saved, and the quota probes (`[probes]`,
/// read at start: a reload does not change them).
fn spawn_background(
    state: &Arc<State>,
    probes: &crate::config::ProbesConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    tokio::spawn(save_state_on_change(state.clone()));
    let st = state.clone();
    let find = Arc::new(move |name: &str| st.oauth_account(name));
    let retry = (state.store.clone()).retry_unsaved(state.shutdown.clone(), find);
    let mut tasks = vec![tokio::spawn(retry)];
    tasks.extend(crate::probes::spawn(state.clone(), probes));
    tasks
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
        let open = state.metrics.opened(crate::metrics::Open::Connection);
        state.tasks.spawn(async move {
            let _open = open;
            let shutdown = st.shutdown.clone();
            let conn = ClientConn {
                first_head: st.limits.handshake_timeout,
                socket: ClientSocket::of(&stream),
                parked: st.metrics.gauge(crate::metrics::Open::Parked),
                park_after: st.limits.park_after,
            };
            let svc = service_fn(move |req| route(req, st.clone(), peer));
            serve_conn(stream, svc, &shutdown, conn, Http::One).await;
        });
    }
}

async fn route(
    req: Request<ClientBody>,
    state: Arc<State>,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Infallible> {
    let proxied = req.method() == http::Method::CONNECT || req.uri().scheme().is_some();
    if !proxied {
        tracing::debug!(%peer, "request to keypool itself: {} {}", req.method(), req.uri().path());
        return Ok(admin::handle(&req, &state).await);
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
        let why = concat!(
            "keypool: the request URI has no usable host; ",
            "proxy requests look like `GET http://host/path`\n"
        );
        return Ok(text(StatusCode::BAD_REQUEST, why));
    };
    target.client = client;
    forward::handle(req, Arc::new(target), state).await
}

/// The client a proxied request names, checked. On a listener other machines can reach,
/// only a client with a password counts: a bare name anyone can type proves nothing.
fn authorize(req: &Request<ClientBody>, state: &State) -> Result<Option<Arc<str>>, String> {
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
        concat!(
            "keypool: keypool listens on {}, beyond this machine, so every request must name a ",
            "client and its password; fix: use http://NAME:PASSWORD@HOST:{} as the proxy URL, ",
            "with a [clients.NAME] that has a password"
        ),
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
