//! Memory held by idle intercepted connections: the resident set size of the real
//! `keypool` binary with N client connections that each did CONNECT, the TLS handshake
//! with keypool's leaf and one request, and now sit idle in keep-alive (read once all
//! are parked, `[limits] park_after` after their answers); then after they
//! all close; repeated for a few cycles to see where it settles. See bench/README.md.
//! With `--streams`, each connection then also opens an event stream that the fake
//! provider keeps open after its first event (a slow answer): N streams in flight.
//! With `--upstream-h2` the fake offers HTTP/2, so keypool's upstream side is one
//! connection carrying every stream.
//!
//! `cargo bench --bench idle_rss -- [--connections 2000] [--cycles 5] [--streams]
//! [--upstream-h2]`

// The integration tests' throwaway CA; the bench needs only part of it.
#[allow(dead_code)]
#[path = "../tests/it/support/ca.rs"]
mod ca;
#[path = "support/fake_server.rs"]
mod fake_server;

use bytes::Bytes;
use ca::TestCa;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOST: &str = "api.openai.com";
/// Handshakes in flight at once while opening connections.
const OPENING: usize = 64;

/// One intercepted connection: the request sender, its connection task, and the body of
/// the stream it holds open (with `--streams`).
type Idle = (
    hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    tokio::task::JoinHandle<()>,
    Option<hyper::body::Incoming>,
);

/// What the bench asks of each connection and of the fake.
#[derive(Clone, Copy)]
struct Mode {
    streams: bool,
    upstream_h2: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        (args.iter().position(|a| a == name))
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = flag("--connections", 2000);
    let cycles = flag("--cycles", 5);
    let mode = Mode {
        streams: args.iter().any(|a| a == "--streams"),
        upstream_h2: args.iter().any(|a| a == "--upstream-h2"),
    };
    // The bench holds both ends' worth of descriptors for its clients.
    keypool::fd_limit::raise();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(n, cycles, mode));
}

async fn run(n: usize, cycles: usize, mode: Mode) {
    let ca = TestCa::new();
    let upstream = start_fake(&ca, mode.upstream_h2).await;
    let home = tempfile::tempdir().expect("home");
    let ca_file = ca.write_pem(home.path());
    let cfg = home.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\n[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-bench-a\"\n[upstream]\nconnect_to = [\":443:127.0.0.1:{}\"]\nextra_ca = [{:?}]\n",
            upstream.port(),
            ca_file.display().to_string()
        ),
    )
    .expect("write config");
    let (mut child, addr) = spawn_keypool(home.path(), &cfg);
    let pid = child.id();
    let roots = Arc::new(client_config(home.path()));
    let start_fds = fd_count(pid);
    // One connection first: the leaf is minted, the upstream pool is warm.
    let warm = open(addr, roots.clone(), false).await;
    close(vec![warm]);
    settle(pid, start_fds + 2).await;
    let base = rss_kib(pid);
    println!(
        "keypool {} memory ({n} connections, {cycles} cycles, upstream HTTP/{})",
        if mode.streams {
            "open-stream"
        } else {
            "idle-connection"
        },
        if mode.upstream_h2 { "2" } else { "1.1" },
    );
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "baseline (started, one request served): RSS {} MiB",
        mib(base)
    );
    println!(
        "{:>5} {:>7} {:>13} {:>13} {:>15} {:>9} {:>11}",
        "cycle",
        "open s",
        "RSS open MiB",
        "per conn KiB",
        "RSS closed MiB",
        "fds open",
        "fds closed"
    );
    for cycle in 1..=cycles {
        let started = Instant::now();
        let held = open_many(addr, roots.clone(), n, mode.streams).await;
        let opened = started.elapsed();
        if !mode.streams {
            // An idle connection is parked after `[limits] park_after` (1 s), and keypool
            // gives the freed heap back at most a second after the last park.
            until_parked(addr, n).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let fds = fd_count(pid);
        let with = rss_kib(pid);
        close(held);
        // Its idle upstream connections (one per concurrent opening, at most) stay pooled.
        settle(pid, start_fds + OPENING + 2).await;
        let after = rss_kib(pid);
        let per = (with.saturating_sub(base)) as f64 / n as f64;
        println!(
            "{cycle:>5} {:>7.2} {:>13} {per:>13.1} {:>15} {fds:>9} {:>11}",
            opened.as_secs_f64(),
            mib(with),
            mib(after),
            fd_count(pid),
        );
    }
    println!("peak RSS (VmHWM): {} MiB", mib(status_kib(pid, "VmHWM:")));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// Waits until keypool's `keypool_open_parked` gauge counts at least `n` connections,
/// polling for at most 30 s.
async fn until_parked(addr: SocketAddr, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while parked(addr).await < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `keypool_open_parked` from `GET /metrics`, on a connection closed after the answer.
async fn parked(addr: SocketAddr) -> usize {
    let mut tcp = TcpStream::connect(addr).await.expect("connect keypool");
    let req = format!("GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes())
        .await
        .expect("metrics request");
    let mut page = String::new();
    let _ = tcp.read_to_string(&mut page).await;
    page.lines()
        .find_map(|l| l.strip_prefix("keypool_open_parked "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as usize)
}

/// Closes the client side of every connection (a dropped JoinHandle would not).
fn close(held: Vec<Idle>) {
    for (send, task, stream) in held {
        drop(stream);
        drop(send);
        task.abort();
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("status field")
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits until keypool holds at most `fds` descriptors (its client connections closed),
/// polling for at most 30 s.
async fn settle(pid: u32, fds: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while fd_count(pid) > fds && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The keypool binary, or with `KEYPOOL_BENCH_WRAP` set that command running it
/// (`valgrind --tool=massif ...`: where the memory goes, bench/README.md).
fn keypool_command() -> Command {
    let wrap = std::env::var("KEYPOOL_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_keypool"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_keypool")),
    }
}

fn spawn_keypool(home: &std::path::Path, cfg: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = keypool_command()
        .env("KEYPOOL_HOME", home)
        .env("KEYPOOL_LOG", "warn")
        .arg("--config")
        .arg(cfg)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keypool");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("keypool printed its banner")
            .expect("line");
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse().expect("banner address");
        }
    };
    // Keep draining stderr so keypool never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, addr)
}

fn client_config(home: &std::path::Path) -> rustls::ClientConfig {
    let pem = std::fs::read(home.join("certs/ca.pem")).expect("keypool CA");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("pem")).expect("root");
    }
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}

async fn open_many(
    addr: SocketAddr,
    roots: Arc<rustls::ClientConfig>,
    n: usize,
    streams: bool,
) -> Vec<Idle> {
    let mut held = Vec::with_capacity(n);
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..n {
        if opening.len() >= OPENING {
            held.push(opening.join_next().await.expect("a task").expect("opened"));
        }
        opening.spawn(open(addr, roots.clone(), streams));
    }
    while let Some(c) = opening.join_next().await {
        held.push(c.expect("opened"));
    }
    held
}

/// CONNECT, TLS with keypool's leaf, one request read whole; the connection stays open,
/// with `stream` an event stream open on it too (its first event read).
async fn open(addr: SocketAddr, roots: Arc<rustls::ClientConfig>, stream: bool) -> Idle {
    let mut tcp = TcpStream::connect(addr).await.expect("connect keypool");
    tcp.write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes())
        .await
        .expect("CONNECT");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tcp.read(&mut b).await.expect("CONNECT answer"),
            1,
            "CONNECT refused"
        );
        head.push(b[0]);
    }
    let name = rustls::pki_types::ServerName::try_from(HOST).expect("name");
    let tls = tokio_rustls::TlsConnector::from(roots)
        .connect(name, tcp)
        .await
        .expect("TLS with keypool");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = post(
        "/v1/chat/completions",
        b"{\"model\":\"gpt-4o-mini\",\"messages\":[]}",
    );
    let resp = send.send_request(req).await.expect("an answer");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let _ = resp.into_body().collect().await;
    if !stream {
        return (send, task, None);
    }
    let req = post(
        "/v1/stream",
        b"{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[]}",
    );
    let resp = send.send_request(req).await.expect("a stream");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let mut body = resp.into_body();
    let first = body
        .frame()
        .await
        .expect("a first event")
        .expect("its bytes");
    assert!(first.data_ref().is_some_and(|d| d.starts_with(b"data: ")));
    (send, task, Some(body))
}

/// A JSON `POST` to keypool's intercepted provider host, with a placeholder key.
fn post(path: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::post(format!("https://{HOST}{path}"))
        .header("host", HOST)
        .header("authorization", "Bearer sk-client")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body)))
        .expect("request")
}

/// The fake provider: `/v1/stream` gets an event stream that stays open after its first
/// event (until keypool goes), any other request a small chat completion; keep-alive on,
/// and HTTP/2 too with `h2`.
async fn start_fake(ca: &TestCa, h2: bool) -> SocketAddr {
    let h2 = h2.then_some(fake_server::H2 {
        window: None,
        max_streams: Some(10_000),
    });
    let svc = hyper::service::service_fn(fake_answer);
    fake_server::start(ca, HOST, h2, svc).await
}

type FakeBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn fake_answer(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let stream = req.uri().path() == "/v1/stream";
    let _ = req.into_body().collect().await;
    if !stream {
        let body = r#"{"id":"chatcmpl-rss","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;
        return Ok(Response::new(
            Full::new(Bytes::from_static(body.as_bytes())).boxed(),
        ));
    }
    let first = Bytes::from_static(
        b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
    );
    // The first event, then nothing: the stream stays open as a slow answer would.
    let frames = futures_util::stream::once(async move { Ok(hyper::body::Frame::data(first)) })
        .chain(futures_util::stream::pending());
    let mut resp = Response::new(BodyExt::boxed(http_body_util::StreamBody::new(frames)));
    resp.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("header"));
    Ok(resp)
}
