//! A provider upstream that misbehaves below HTTP. It terminates TLS for the provider
//! host names with a leaf from the test CA and then speaks raw bytes, so a [`Script`]
//! can break an answer anywhere: reset the TCP connection (RST, via `SO_LINGER 0`),
//! hang before or after the head, stall mid-body, trickle one byte at a time, send a
//! malformed, oversized or garbage answer, bad chunking or a wrong `content-length`,
//! or answer with a status, headers and body verbatim.
//!
//! Which script a request gets is chosen by its credential, else its path, else the
//! fallback ([`FaultServer::set`]). What happens before any request (close right after
//! accept, an untrusted certificate, no TLS at all) is chosen per server with
//! [`FaultServer::on_accept`]. Nothing is timed: a [`Step::Hold`] waits for
//! [`FaultServer::release`] or for the peer to go away; [`Step::Mark`] lets a test wait
//! until a script got that far.

pub mod process;
pub mod proxy;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::ca::TestCa;

/// Guards waits on the fault server; a test that needs longer has hung.
const WAIT_GUARD: Duration = Duration::from_secs(20);

/// One thing the server does on a connection, in order.
#[derive(Clone, Debug)]
pub enum Step {
    /// These bytes, in one write.
    Send(Bytes),
    /// These bytes one at a time, each flushed on its own (one TLS record each).
    Trickle(Bytes),
    /// Nothing until [`FaultServer::release`]; ends the connection if the peer goes first.
    Hold,
    /// Records that the script got here ([`FaultServer::reached`]).
    Mark(&'static str),
    /// A TCP reset: `SO_LINGER 0`, then close.
    Reset,
    /// TLS close_notify, then FIN.
    Close,
}

/// What the server sends for one request. A script that ends without `Reset` or
/// `Close` leaves the connection open for the next request.
#[derive(Clone, Debug, Default)]
pub struct Script(pub Vec<Step>);

impl Script {
    pub fn new() -> Script {
        Script(Vec::new())
    }

    pub fn send(mut self, bytes: impl Into<Bytes>) -> Script {
        self.0.push(Step::Send(bytes.into()));
        self
    }

    pub fn trickle(mut self, bytes: impl Into<Bytes>) -> Script {
        self.0.push(Step::Trickle(bytes.into()));
        self
    }

    pub fn hold(mut self) -> Script {
        self.0.push(Step::Hold);
        self
    }

    pub fn mark(mut self, name: &'static str) -> Script {
        self.0.push(Step::Mark(name));
        self
    }

    pub fn reset(mut self) -> Script {
        self.0.push(Step::Reset);
        self
    }

    pub fn close(mut self) -> Script {
        self.0.push(Step::Close);
        self
    }

    /// `status`, `headers` and `body` verbatim, with a correct `content-length`.
    pub fn respond(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Script {
        Script::new().send(wire::respond(status, headers, body))
    }

    /// A normal OpenAI chat completion.
    pub fn ok_json() -> Script {
        let body = wire::openai_completion();
        Script::respond(
            200,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }

    /// A normal OpenAI stream: `contents` as one event each, then `[DONE]`.
    pub fn ok_sse(contents: &[&str]) -> Script {
        let mut s = Script::new().send(wire::sse_head());
        for c in contents {
            s = s.send(wire::chunk(wire::openai_event(c).as_bytes()));
        }
        s.send(wire::chunk(b"data: [DONE]\n\n"))
            .send(Bytes::from_static(wire::LAST_CHUNK))
    }
}

/// What happens to a connection before any request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accept {
    /// TLS with a leaf keypool trusts, then the scripts.
    #[default]
    Serve,
    /// Closed at once (FIN), before TLS.
    Close,
    /// Reset at once (RST), before TLS.
    Reset,
    /// Accepted, then nothing (no ServerHello) until released or the peer goes.
    Hold,
    /// TLS with a leaf from a CA keypool does not trust.
    Untrusted,
}

pub struct FaultServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

struct State {
    tls: TlsAcceptor,
    untrusted: TlsAcceptor,
    accept: Mutex<Accept>,
    scripts: Mutex<HashMap<String, Script>>,
    fallback: Mutex<Script>,
    seen: Mutex<Vec<wire::Request>>,
    marks: Mutex<Vec<&'static str>>,
    /// Woken whenever a request, a mark or a connection's end is recorded.
    changed: Notify,
    released: watch::Sender<bool>,
    open: AtomicUsize,
    accepted: AtomicUsize,
    connections: Mutex<JoinSet<()>>,
}

impl FaultServer {
    /// Listens on `127.0.0.1:0` with one leaf from `ca` valid for every name in `hosts`.
    /// Requests no script names get a 401 in OpenAI's shape, as an unknown key would.
    pub async fn start(ca: &TestCa, hosts: &[&str]) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault server");
        let addr = listener.local_addr().expect("fault server addr");
        let unknown = wire::openai_error(
            "Incorrect API key provided.",
            "invalid_request_error",
            "invalid_api_key",
        );
        let state = Arc::new(State {
            tls: TlsAcceptor::from(ca.server_config(hosts)),
            untrusted: TlsAcceptor::from(TestCa::new().server_config(hosts)),
            accept: Mutex::default(),
            scripts: Mutex::default(),
            fallback: Mutex::new(Script::respond(
                401,
                &[("content-type", "application/json")],
                unknown.as_bytes(),
            )),
            seen: Mutex::default(),
            marks: Mutex::default(),
            changed: Notify::new(),
            released: watch::channel(false).0,
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            connections: Mutex::default(),
        });
        let accept_loop = tokio::spawn(accept_loop(listener, state.clone()));
        FaultServer {
            addr,
            state,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The script for requests carrying credential (or path) `key`.
    pub fn set(&self, key: &str, script: Script) {
        self.state.scripts.lock().insert(key.to_string(), script);
    }

    /// The script for requests no `set` names.
    pub fn set_fallback(&self, script: Script) {
        *self.state.fallback.lock() = script;
    }

    /// What every connection accepted from now on gets before any request.
    pub fn on_accept(&self, accept: Accept) {
        *self.state.accept.lock() = accept;
    }

    /// Lets every `Hold` (current and future) go on.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    /// Makes `Hold` hold again, for the next script of a test that released one.
    pub fn rearm(&self) {
        self.state.released.send_replace(false);
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<wire::Request> {
        self.state.seen.lock().clone()
    }

    /// Credentials of the requests received, in order.
    pub fn credentials_seen(&self) -> Vec<String> {
        let seen = self.state.seen.lock();
        seen.iter()
            .filter_map(|r| r.credential().map(str::to_string))
            .collect()
    }

    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// Waits until a script passed `Step::Mark(name)`.
    pub async fn reached(&self, name: &str) {
        self.wait(&format!("mark '{name}'"), |s| {
            s.marks.lock().contains(&name)
        })
        .await;
    }

    /// Waits until `n` requests have arrived.
    pub async fn wait_requests(&self, n: usize) {
        self.wait(&format!("{n} requests"), |s| s.seen.lock().len() >= n)
            .await;
    }

    /// Waits until at most `n` connections are open (keypool closed the others).
    pub async fn wait_open_at_most(&self, n: usize) {
        self.wait(&format!("at most {n} open connections"), |s| {
            s.open.load(Ordering::SeqCst) <= n
        })
        .await;
    }

    async fn wait(&self, what: &str, done: impl Fn(&State) -> bool) {
        let state = &self.state;
        let waited = tokio::time::timeout(WAIT_GUARD, async {
            loop {
                let changed = state.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if done(state) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "fault server: waited {WAIT_GUARD:?} for {what}"
        );
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.state.connections.lock().abort_all();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        state.accepted.fetch_add(1, Ordering::SeqCst);
        state.open.fetch_add(1, Ordering::SeqCst);
        let st = state.clone();
        let mut connections = state.connections.lock();
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let _open = Open(st.clone());
            connection(tcp, &st).await;
        });
    }
}

/// Counts a connection as open until dropped (also when its task is aborted).
struct Open(Arc<State>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

async fn connection(mut tcp: TcpStream, state: &State) {
    let accept = *state.accept.lock();
    let acceptor = match accept {
        Accept::Serve => &state.tls,
        Accept::Untrusted => &state.untrusted,
        Accept::Close => return,
        Accept::Reset => return rst(&tcp),
        Accept::Hold => {
            let mut released = state.released.subscribe();
            let mut scratch = [0u8; 4096];
            loop {
                tokio::select! {
                    _ = released.wait_for(|r| *r) => return,
                    n = tcp.read(&mut scratch) => if !matches!(n, Ok(n) if n > 0) { return },
                }
            }
        }
    };
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let mut buf = BytesMut::new();
    while let Some(req) = wire::read_request(&mut tls, &mut buf).await {
        let script = state.script_for(&req);
        state.seen.lock().push(req);
        state.changed.notify_waiters();
        if !run(&mut tls, &mut buf, script, state).await {
            return;
        }
    }
}

impl State {
    fn script_for(&self, req: &wire::Request) -> Script {
        let scripts = self.scripts.lock();
        let by_credential = req.credential().and_then(|c| scripts.get(c));
        match by_credential.or_else(|| scripts.get(&req.path)) {
            Some(s) => s.clone(),
            None => self.fallback.lock().clone(),
        }
    }
}

/// Runs `script`; whether the connection stays open for another request.
async fn run(
    tls: &mut TlsStream<TcpStream>,
    buf: &mut BytesMut,
    script: Script,
    state: &State,
) -> bool {
    for step in script.0 {
        let ok = match step {
            Step::Send(bytes) => tls.write_all(&bytes).await.is_ok() && tls.flush().await.is_ok(),
            Step::Trickle(bytes) => trickle(tls, &bytes).await,
            Step::Hold => hold(tls, buf, state).await,
            Step::Mark(name) => {
                state.marks.lock().push(name);
                state.changed.notify_waiters();
                true
            }
            Step::Reset => {
                rst(tls.get_ref().0);
                return false;
            }
            Step::Close => {
                let _ = tls.shutdown().await;
                return false;
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

async fn trickle(tls: &mut TlsStream<TcpStream>, bytes: &[u8]) -> bool {
    for b in bytes {
        if tls.write_all(std::slice::from_ref(b)).await.is_err() || tls.flush().await.is_err() {
            return false;
        }
    }
    true
}

/// Waits for the release; `false` when the peer went away first.
async fn hold(tls: &mut TlsStream<TcpStream>, buf: &mut BytesMut, state: &State) -> bool {
    let mut released = state.released.subscribe();
    loop {
        tokio::select! {
            _ = released.wait_for(|r| *r) => return true,
            n = tls.read_buf(buf) => if !matches!(n, Ok(n) if n > 0) { return false },
        }
    }
}

/// Makes the coming close a reset: with a zero linger time the kernel sends RST.
fn rst(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
}
