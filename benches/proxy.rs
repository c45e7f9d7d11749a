//! Throughput and latency of `POST /v1/chat/completions` sent straight to a local fake
//! upstream versus through keypool. See bench/README.md.
//!
//! - On plain loopback, at concurrency 1 and 64, with keep-alive clients: what keypool
//!   costs.
//! - The same loopback load through other MITM proxies (mitmproxy, a Node proxy), each a
//!   process of its own, when they are present on the machine (`--peers-only` runs just
//!   these and keypool).
//! - Through a relay that adds a round-trip time, with a client that opens a new
//!   connection per request (`-cold`) or keeps it alive (`-warm`): where keypool's warm
//!   upstream pool saves the handshakes a cold client would pay over the long path.
//!
//! The load client, keypool, the fake and the relay each run on their own tokio runtime,
//! as they would as separate processes (or, for the relay, as the network): sharing one
//! scheduler made the numbers depend on which worker a connection landed on (see
//! bench/README.md). They still share the cores.

// The integration tests' throwaway CA; the bench needs only part of it.
#[allow(dead_code)]
#[path = "../tests/it/support/ca.rs"]
mod ca;
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/keypool.rs"]
mod keypool_bench;
#[path = "support/peers.rs"]
mod peers;
#[path = "support/relay.rs"]
mod relay;
#[path = "support/runtimes.rs"]
mod runtimes;

use bytes::Bytes;
use ca::TestCa;
use cpu::{process_cpu, threads_cpu, LEDGER_THREAD};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use keypool_bench::{Keypool, Observe};
use peers::Peer;
use relay::{start_relay, Lag};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const HOST: &str = "api.openai.com";
const URL: &str = "https://api.openai.com/v1/chat/completions";
const REQUEST_BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the plot of Hamlet in two sentences."}],"temperature":0.2,"max_tokens":256}"#;
/// The fake accepts only the pool's keys, so a request that reached it through keypool
/// with this key still in place would show up as an error.
const CLIENT_KEY: &str = "Bearer sk-client-must-be-replaced";
const DIRECT_KEY: &str = "Bearer sk-bench-a";
const ACCEPTED_KEYS: [&[u8]; 2] = [b"Bearer sk-bench-a", b"Bearer sk-bench-b"];
/// A hung request must not keep the bench from ending.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    duration: Duration,
    warmup: Duration,
    max_requests: u64,
    /// Round-trip time the relay adds; each direction gets half.
    rtt: Duration,
    /// Only the observed / blind rounds (`--observe-only`), to measure what seeing costs.
    observe_only: bool,
    /// What the blind keypool keeps (`--blind none|ledger|metrics|both`, default none):
    /// `ledger` or `metrics` tells which of the two costs what, `both` is an A/A
    /// comparison, the bench's own noise floor.
    blind: Observe,
    /// What the observed keypool keeps (`--observed`, the same values, default both).
    observed: Observe,
    /// Only keypool and its peers on loopback (`--peers-only`).
    peers_only: bool,
}

fn parse_args() -> Args {
    let mut out = Args {
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        max_requests: 2_000_000,
        rtt: Duration::from_millis(20),
        observe_only: false,
        blind: Observe::OFF,
        observed: Observe::ON,
        peers_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match name.as_str() {
            "--observe-only" => out.observe_only = true,
            "--peers-only" => out.peers_only = true,
            "--blind" | "--observed" => {
                let v = value();
                let o = Observe::parse(&v).unwrap_or_else(|| {
                    usage(&format!(
                        "{name} {v}: not one of none, ledger, metrics, both"
                    ))
                });
                match name.as_str() {
                    "--blind" => out.blind = o,
                    _ => out.observed = o,
                }
            }
            "--duration" => out.duration = secs(&name, &value()),
            "--warmup" => out.warmup = secs(&name, &value()),
            "--max-requests" => {
                let v = value();
                out.max_requests =
                    v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                        usage(&format!("--max-requests {v}: not a positive count"))
                    });
            }
            "--rtt-ms" => {
                let v = value();
                out.rtt = v
                    .parse::<f64>()
                    .ok()
                    .filter(|ms| *ms >= 0.0)
                    .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                    .unwrap_or_else(|| usage(&format!("--rtt-ms {v}: not a number of ms")));
            }
            // `cargo bench` adds `--bench` and passes any filter through; a misspelt
            // option must not pass for a run of the default.
            "--bench" => {}
            other if other.starts_with("--") => usage(&format!("unknown option {other}")),
            _ => {}
        }
    }
    if out.observe_only && out.peers_only {
        usage("--observe-only and --peers-only exclude each other");
    }
    out
}

fn secs(name: &str, v: &str) -> Duration {
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or_else(|| usage(&format!("{name} {v}: not a number of seconds")))
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: proxy [--duration SECS] [--warmup SECS] [--max-requests N] [--rtt-ms MS] \
         [--observe-only] [--observed WHAT] [--blind WHAT] [--peers-only] \
         (WHAT: none, ledger, metrics, both)"
    );
    std::process::exit(2)
}

/// A `chat.completion` of about 2 KB, shaped like a real one so header and body sizes
/// are realistic, its keys in the order OpenAI sends them: `model` before the content,
/// `usage` after it (`serde_json::json!` would sort them).
fn completion_body() -> Bytes {
    let sentence = "Prince Hamlet, urged by his father's ghost to avenge a murder, feigns madness and hesitates while the Danish court watches him. ";
    let mut content = String::new();
    while content.len() < 1500 {
        content.push_str(sentence);
    }
    let content = serde_json::to_string(content.trim_end()).expect("serialize content");
    let body = format!(
        concat!(
            r#"{{"id":"chatcmpl-BENCH0000000000000000000000000","object":"chat.completion","#,
            r#""created":1735689600,"model":"gpt-4o-mini-2024-07-18","choices":[{{"index":0,"#,
            r#""message":{{"role":"assistant","content":{content},"refusal":null,"#,
            r#""annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"#,
            r#""prompt_tokens":31,"completion_tokens":312,"total_tokens":343,"#,
            r#""prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"#,
            r#""completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"#,
            r#""accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"#,
            r#""service_tier":"default","system_fingerprint":"fp_0123456789"}}"#
        ),
        content = content
    );
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "the body is JSON"
    );
    Bytes::from(body)
}

async fn answer(
    req: Request<Incoming>,
    completion: Bytes,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = req
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| ACCEPTED_KEYS.contains(&v.as_bytes()));
    let routed = req.method() == Method::POST && req.uri().path() == "/v1/chat/completions";
    // Read the body whole, as a real server would; an unread body also costs keep-alive.
    let _ = req.into_body().collect().await;
    let (status, body) = match (routed, authorized) {
        (true, true) => (StatusCode::OK, completion),
        (false, _) => (StatusCode::NOT_FOUND, Bytes::from_static(b"{}")),
        (true, false) => (StatusCode::UNAUTHORIZED, Bytes::from_static(b"{}")),
    };
    let resp = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header("openai-organization", "bench-org")
        .header("openai-processing-ms", "412")
        .header("openai-version", "2020-10-01")
        .header("x-ratelimit-limit-requests", "10000")
        .header("x-ratelimit-remaining-requests", "9999")
        .header("x-ratelimit-reset-requests", "6ms")
        .header("x-request-id", "req_0123456789abcdef0123456789abcdef")
        .body(Full::new(body))
        .expect("static response parts");
    Ok(resp)
}

/// The fake provider: HTTP/1.1 over TLS with a leaf for `api.openai.com`, keep-alive on.
/// `accepted` counts the TCP connections it accepts.
async fn start_fake(ca: &TestCa, completion: Bytes, accepted: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    let acceptor = TlsAcceptor::from(ca.server_config(&[HOST]));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            accepted.fetch_add(1, Ordering::Relaxed);
            // Without it, small responses wait on Nagle and delayed ACKs.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let completion = completion.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| answer(req, completion.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// Counts the connections a reqwest client opens: reqwest calls its connector once per
/// new connection, to the upstream or, through a proxy, to the proxy.
#[derive(Clone)]
struct CountConnects(Arc<AtomicU64>);

impl<S> tower_layer::Layer<S> for CountConnects {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            opened: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    opened: Arc<AtomicU64>,
}

impl<S: tower_service::Service<R>, R> tower_service::Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> S::Future {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// How a scenario's client uses connections.
#[derive(Clone, Copy, PartialEq)]
enum Conns {
    /// One pool shared by the workers, connections kept alive (`warm`).
    KeepAlive,
    /// A new connection for every request, like a CLI run per call (`cold`).
    PerRequest,
    /// HTTP/2 (prior knowledge over TLS): one connection, each worker's request a stream.
    H2,
}

fn client_builder(conns: Conns, opened: &Arc<AtomicU64>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connector_layer(CountConnects(opened.clone()));
    match conns {
        Conns::H2 => builder.http2_prior_knowledge(),
        Conns::KeepAlive => builder.http1_only(),
        // No idle connection is kept, so each request opens (and then closes) its own.
        Conns::PerRequest => builder.http1_only().pool_max_idle_per_host(0),
    }
}

fn direct_client(
    upstream: SocketAddr,
    ca: &TestCa,
    conns: Conns,
    opened: &Arc<AtomicU64>,
) -> reqwest::Client {
    client_builder(conns, opened)
        // An `https_proxy` in the environment would otherwise turn "direct" into a detour.
        .no_proxy()
        .resolve(HOST, upstream)
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).expect("test CA pem"),
        )
        .build()
        .expect("direct client")
}

/// A client whose proxy is `proxy` (keypool or a peer), trusting only the proxy's CA.
fn proxy_client(
    proxy: SocketAddr,
    proxy_ca_pem: &str,
    conns: Conns,
    opened: &Arc<AtomicU64>,
) -> reqwest::Client {
    client_builder(conns, opened)
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy url"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(proxy_ca_pem.as_bytes()).expect("proxy CA pem"),
        )
        .build()
        .expect("proxy client")
}

#[derive(Default)]
struct Run {
    /// Nanoseconds per successful request.
    latencies: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

/// One scenario's load: `workers` loops sharing one client.
struct Load {
    client: reqwest::Client,
    /// The connections `client` opened.
    opened: Arc<AtomicU64>,
    key: &'static str,
    expect_len: usize,
    workers: usize,
    /// A peer's process, whose CPU time counts with the bench's own.
    peer_pid: Option<u32>,
}

/// Runs the load until `duration` has passed or `max` requests have been started,
/// whichever comes first.
async fn drive(load: &Load, duration: Duration, max: u64) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let issued = Arc::new(AtomicU64::new(0));
    let (key, expect_len) = (load.key, load.expect_len);
    let handles: Vec<_> = (0..load.workers)
        .map(|_| {
            let client = load.client.clone();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut run = Run::default();
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                    let t0 = Instant::now();
                    match one_request(&client, key, expect_len).await {
                        Ok(()) => run.latencies.push(t0.elapsed().as_nanos() as u64),
                        Err(e) => {
                            run.errors += 1;
                            run.first_error.get_or_insert(e);
                        }
                    }
                }
                run
            })
        })
        .collect();
    let mut total = Run::default();
    for h in handles {
        let run = h.await.expect("worker panicked");
        total.latencies.extend(run.latencies);
        total.errors += run.errors;
        if total.first_error.is_none() {
            total.first_error = run.first_error;
        }
    }
    // Until the last in-flight request finished, so req/s is not flattered.
    total.elapsed = started.elapsed();
    total
}

async fn one_request(client: &reqwest::Client, key: &str, expect_len: usize) -> Result<(), String> {
    let resp = client
        .post(URL)
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, key)
        .body(REQUEST_BODY)
        .send()
        .await
        .map_err(|e| format!("send: {e:?}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("body: {e:?}"))?;
    if status != StatusCode::OK || body.len() != expect_len {
        return Err(format!("status {status}, {} body bytes", body.len()));
    }
    Ok(())
}

struct Row {
    name: String,
    workers: usize,
    requests: usize,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Connections the client opened during the measured run.
    client_conns: u64,
    /// Connections the fake accepted during the measured run: the client's when direct,
    /// keypool's (or the peer's) when through it.
    upstream_conns: u64,
    /// CPU time the whole process (client, keypool, fake, relay), and a peer's process if
    /// the load went through one, spent per request during the measured run. Time the
    /// hypervisor stole is not in it, so on a shared machine it moves far less than req/s
    /// does.
    cpu_us: f64,
    /// CPU time the ledger's writer threads spent per request during the measured run:
    /// the part of `cpu_us` the ledger costs, kernel time included, measured directly.
    writer_us: f64,
    /// Requests the warm-up sent, for a count of every request the process served.
    warm_requests: usize,
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

async fn scenario(name: String, load: Load, fake_accepted: &AtomicU64, args: &Args) -> Row {
    // Warm-up opens the connections (and for keypool mints the leaf and fills its
    // upstream pool) off the clock.
    let warm_requests = drive(&load, args.warmup, args.max_requests)
        .await
        .latencies
        .len();
    let client_before = load.opened.load(Ordering::Relaxed);
    let upstream_before = fake_accepted.load(Ordering::Relaxed);
    let all_cpu = || process_cpu() + load.peer_pid.map_or(Duration::ZERO, peers::cpu_of);
    let (cpu_before, writer_before) = (all_cpu(), threads_cpu(LEDGER_THREAD));
    let mut run = drive(&load, args.duration, args.max_requests).await;
    let cpu = all_cpu().saturating_sub(cpu_before);
    let writer = threads_cpu(LEDGER_THREAD).saturating_sub(writer_before);
    let client_conns = load.opened.load(Ordering::Relaxed) - client_before;
    let upstream_conns = fake_accepted.load(Ordering::Relaxed) - upstream_before;
    if let Some(e) = &run.first_error {
        eprintln!(
            "{name} x{}: {} errors, first: {e}",
            load.workers, run.errors
        );
    }
    run.latencies.sort_unstable();
    Row {
        name,
        workers: load.workers,
        requests: run.latencies.len(),
        errors: run.errors,
        rps: run.latencies.len() as f64 / run.elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&run.latencies, 50.0),
        p99_ms: percentile_ms(&run.latencies, 99.0),
        client_conns,
        upstream_conns,
        cpu_us: cpu.as_secs_f64() * 1e6 / run.latencies.len().max(1) as f64,
        writer_us: writer.as_secs_f64() * 1e6 / run.latencies.len().max(1) as f64,
        warm_requests,
    }
}

fn machine() -> Vec<(&'static str, String)> {
    use std::env::consts;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    // The rustc on PATH, which under `cargo bench` is the one that built this.
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    vec![
        ("nproc", cpus.to_string()),
        ("cpu", model),
        ("rustc", rustc),
        ("os", format!("{} {}", consts::OS, consts::ARCH)),
    ]
}

/// What every scenario shares: the runtimes, the test CA, the fake and the relay.
struct Bench {
    args: Args,
    rts: runtimes::Runtimes,
    ca: TestCa,
    /// The fake's answer length, which every successful request must read whole.
    expect_len: usize,
    fake: SocketAddr,
    /// Connections the fake accepted.
    fake_accepted: Arc<AtomicU64>,
    relay: SocketAddr,
    lag: Arc<Lag>,
}

impl Bench {
    fn new(args: Args) -> Bench {
        let rts = runtimes::Runtimes::new();
        let ca = TestCa::new();
        let completion = completion_body();
        let expect_len = completion.len();
        let fake_accepted = Arc::new(AtomicU64::new(0));
        let fake = rts
            .fake
            .block_on(start_fake(&ca, completion, fake_accepted.clone()));
        let lag = Arc::new(Lag::default());
        let relay = rts.relay.block_on(start_relay(fake, args.rtt, lag.clone()));
        Bench {
            args,
            rts,
            ca,
            expect_len,
            fake,
            fake_accepted,
            relay,
            lag,
        }
    }

    fn run(&self, name: impl Into<String>, load: Load) -> Row {
        let name = name.into();
        self.rts
            .load
            .block_on(scenario(name, load, &self.fake_accepted, &self.args))
    }

    fn load(&self, client: reqwest::Client, opened: Arc<AtomicU64>, key: &'static str) -> Load {
        Load {
            client,
            opened,
            key,
            expect_len: self.expect_len,
            workers: 1,
            peer_pid: None,
        }
    }

    fn direct(&self, upstream: SocketAddr, conns: Conns, workers: usize) -> Load {
        let opened = Arc::new(AtomicU64::new(0));
        let client = direct_client(upstream, &self.ca, conns, &opened);
        Load {
            workers,
            ..self.load(client, opened, DIRECT_KEY)
        }
    }

    fn via(&self, kp: &Keypool, conns: Conns, workers: usize) -> Load {
        let opened = Arc::new(AtomicU64::new(0));
        let client = proxy_client(kp.proxy.addr(), &kp.ca_pem, conns, &opened);
        Load {
            workers,
            ..self.load(client, opened, CLIENT_KEY)
        }
    }

    /// Through a peer, which swaps no credential: the client sends the fake's key itself.
    fn via_peer(&self, peer: &Peer, workers: usize) -> Load {
        let opened = Arc::new(AtomicU64::new(0));
        let client = proxy_client(peer.addr, &peer.ca_pem, Conns::KeepAlive, &opened);
        Load {
            workers,
            peer_pid: Some(peer.pid()),
            ..self.load(client, opened, DIRECT_KEY)
        }
    }
}

fn main() {
    let args = parse_args();
    // keypool, the fake and reqwest all build rustls configs; the process default
    // must be ring, the only provider compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bench = Bench::new(args);
    let (args, rt, ca, fake) = (&bench.args, &bench.rts.keypool, &bench.ca, bench.fake);

    // One keypool per path, as `connect_to` applies to every `:443` connection.
    let near = Keypool::start(rt, ca, fake, args.observed, "");
    let far = Keypool::start(rt, ca, bench.relay, Observe::ON, "");
    // The same as `near` with the ledger and the metrics off: what seeing costs.
    let blind = Keypool::start(rt, ca, fake, args.blind, "");
    // Separate processes, started only for the scenarios that use them.
    let peers = (!args.observe_only).then(|| peers::start_all(fake, &ca.cert_pem()));

    print_header(&bench, peers.as_ref().map_or(&[][..], |p| &p.notes));
    let running = peers.as_ref().map_or(&[][..], |p| &p.running[..]);
    if args.peers_only {
        peers_only(&bench, &near, running);
    } else {
        if !args.observe_only {
            all_scenarios(&bench, &near, &far, running);
        }
        observe_rounds(&bench, &near, &blind);
    }
    // The peers' processes are killed here.
    drop(peers);

    rt.block_on(near.proxy.shutdown());
    rt.block_on(blind.proxy.shutdown());
    rt.block_on(far.proxy.shutdown());
}

fn print_header(bench: &Bench, peer_notes: &[String]) {
    let args = &bench.args;
    println!("machine");
    for (k, v) in machine() {
        println!("  {k:<6} {v}");
    }
    println!(
        "run: {:.1}s measured per scenario after {:.1}s warm-up, at most {} requests; \
         response body {} bytes; load, keypool, fake and relay on separate runtimes",
        args.duration.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.max_requests,
        bench.expect_len,
    );
    if !args.peers_only {
        println!(
            "relay: RTT {} ms ({} ms each way, and one RTT before a new connection's first bytes)",
            ms(args.rtt),
            ms(args.rtt / 2),
        );
    }
    for note in peer_notes {
        println!("{note}");
    }
    println!();
}

/// Each running peer at concurrency 1 and 64, on loopback.
fn peer_rows(bench: &Bench, peers: &[Peer]) -> Vec<Row> {
    peers
        .iter()
        .flat_map(|p| [1, 64].map(|workers| bench.run(p.kind.name(), bench.via_peer(p, workers))))
        .collect()
}

/// `--peers-only`: keypool and the peers present, on loopback, at concurrency 1 and 64.
fn peers_only(bench: &Bench, near: &Keypool, peers: &[Peer]) {
    let keypool: Vec<Row> = [1, 64]
        .into_iter()
        .map(|workers| bench.run("keypool", bench.via(near, Conns::KeepAlive, workers)))
        .collect();
    let peers = peer_rows(bench, peers);
    println!("loopback, keypool and its peers");
    print_table(keypool.iter().chain(&peers));
    print_peer_ratios(&keypool, &peers);
}

/// Every scenario but the observed / blind rounds, and their ratios.
fn all_scenarios(bench: &Bench, near: &Keypool, far: &Keypool, peers: &[Peer]) {
    let (fake, relay) = (bench.fake, bench.relay);
    let mut loopback = Vec::new();
    for workers in [1, 64] {
        loopback.push(bench.run("direct", bench.direct(fake, Conns::KeepAlive, workers)));
        loopback.push(bench.run("keypool", bench.via(near, Conns::KeepAlive, workers)));
    }
    let peers = peer_rows(bench, peers);
    // The client speaking HTTP/2 to keypool: every worker a stream of one connection.
    let h2: Vec<Row> = [1, 64]
        .into_iter()
        .map(|workers| bench.run("keypool-h2", bench.via(near, Conns::H2, workers)))
        .collect();
    let mut relayed = Vec::new();
    for (conns, workers) in [
        (Conns::KeepAlive, 1),
        (Conns::PerRequest, 1),
        (Conns::PerRequest, 8),
    ] {
        let kind = match conns {
            Conns::PerRequest => "cold",
            Conns::KeepAlive | Conns::H2 => "warm",
        };
        relayed.push(bench.run(
            format!("direct-{kind}"),
            bench.direct(relay, conns, workers),
        ));
        relayed.push(bench.run(format!("keypool-{kind}"), bench.via(far, conns, workers)));
    }

    println!("loopback");
    print_table(loopback.iter().chain(&peers));
    println!();
    println!("loopback, the client on HTTP/2 to keypool (one connection; HTTP/1.1 upstream)");
    print_table(&h2);
    println!();
    println!(
        "over the relay, RTT {} ms (measured one-way delay: mean {} ms over {} chunks)",
        ms(bench.args.rtt),
        ms(bench.lag.mean()),
        bench.lag.chunks.load(Ordering::Relaxed),
    );
    print_table(&relayed);
    println!();
    println!("keypool / direct, loopback");
    print_ratios(&loopback);
    print_peer_ratios(&loopback, &peers);
    println!();
    println!("keypool / direct, over the relay");
    print_ratios(&relayed);
    println!();
}

/// The observed / blind rounds and what seeing costs.
fn observe_rounds(bench: &Bench, near: &Keypool, blind: &Keypool) {
    // Alternating rounds, so a slow moment of the machine falls on both sides, and each
    // side goes first in half of them, so that going first or second is no advantage.
    let mut observed = Vec::new();
    for round in 0..6 {
        let on = || bench.run("observed", bench.via(near, Conns::KeepAlive, 64));
        let off = || bench.run("blind", bench.via(blind, Conns::KeepAlive, 64));
        if round % 2 == 0 {
            observed.push(on());
            observed.push(off());
        } else {
            observed.push(off());
            observed.push(on());
        }
    }

    println!("the ledger and metrics on (observed) and off (blind), loopback, concurrency 64");
    print_table(&observed);
    print_observe_cost(&observed);
}

/// Milliseconds, without trailing zeros.
fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    format!("{}", (v * 1000.0).round() / 1000.0)
}

/// The medians of the alternating observed / blind rounds, and their ratio.
fn print_observe_cost(rows: &[Row]) {
    let median = |name: &str, of: fn(&Row) -> f64| {
        let mut v: Vec<f64> = rows.iter().filter(|r| r.name == name).map(of).collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
            n => v[n / 2],
        }
    };
    let (on, off) = (median("observed", |r| r.rps), median("blind", |r| r.rps));
    let ratio = if off > 0.0 { on / off } else { 0.0 };
    println!("median req/s: observed {on:.0}, blind {off:.0}; observed / blind = {ratio:.3}");
    // CPU-bound on loopback, req/s goes as 1 / CPU per request: this ratio is what the
    // req/s one would be without the machine's noise.
    let (on, off) = (
        median("observed", |r| r.cpu_us),
        median("blind", |r| r.cpu_us),
    );
    let ratio = if on > 0.0 { off / on } else { 0.0 };
    println!(
        "median CPU us/request: observed {on:.1}, blind {off:.1}; blind / observed = {ratio:.3}"
    );
    // The writer's share of all CPU, summed over the observed rounds (ticks are coarse).
    let observed = rows.iter().filter(|r| r.name == "observed");
    let (writer, all) = observed.fold((0.0, 0.0), |(w, a), r| {
        let n = r.requests as f64;
        (w + r.writer_us * n, a + r.cpu_us * n)
    });
    if all > 0.0 {
        println!(
            "ledger writer thread: {:.2}% of the process's CPU in the observed rounds",
            100.0 * writer / all
        );
    }
    // Under callgrind, the process's instruction count over this is its cost per request.
    let served: usize = rows.iter().map(|r| r.requests + r.warm_requests).sum();
    println!("requests served in these rounds, warm-ups included: {served}");
}

fn print_table<'a>(rows: impl IntoIterator<Item = &'a Row>) {
    println!(
        "{:<12} {:>5} {:>9} {:>7} {:>10} {:>8} {:>8} {:>9} {:>8} {:>10}",
        "scenario",
        "conc",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "cli conns",
        "up conns",
        "cpu us/req"
    );
    for r in rows {
        println!(
            "{:<12} {:>5} {:>9} {:>7} {:>10.0} {:>8.3} {:>8.3} {:>9} {:>8} {:>10.1}",
            r.name,
            r.workers,
            r.requests,
            r.errors,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.client_conns,
            r.upstream_conns,
            r.cpu_us
        );
    }
}

/// Rows come in pairs: direct, then through keypool.
fn print_ratios(rows: &[Row]) {
    for pair in rows.chunks(2) {
        let [direct, via] = pair else { continue };
        // "direct" → "", "direct-cold" → "cold ".
        let kind = direct.name.strip_prefix("direct").unwrap_or(&direct.name);
        let kind = kind
            .strip_prefix('-')
            .map(|k| format!("{k} "))
            .unwrap_or_default();
        println!(
            "  {kind}conc {:>2}: req/s x{:.2}, p50 x{:.2}, p99 x{:.2}",
            direct.workers,
            via.rps / direct.rps,
            via.p50_ms / direct.p50_ms,
            via.p99_ms / direct.p99_ms,
        );
    }
}

/// keypool over each peer, at each concurrency both ran: `keypool / mitmproxy` and so on.
/// A req/s ratio of x40 means keypool served 40 times as many requests; a p50 ratio of
/// x0.05 means its median latency was a twentieth of the peer's.
fn print_peer_ratios(rows: &[Row], peers: &[Row]) {
    let mut names: Vec<&str> = peers.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    for name in names {
        println!();
        println!("keypool / {name}, loopback");
        for peer in peers.iter().filter(|r| r.name == name) {
            let same = |r: &&Row| r.name == "keypool" && r.workers == peer.workers;
            let Some(keypool) = rows.iter().find(same) else {
                continue;
            };
            println!(
                "  conc {:>2}: req/s x{}, p50 x{}, p99 x{}",
                peer.workers,
                times(keypool.rps / peer.rps),
                times(keypool.p50_ms / peer.p50_ms),
                times(keypool.p99_ms / peer.p99_ms),
            );
        }
    }
}

/// A ratio with two decimals, or three below 0.1, where two would leave one digit.
fn times(x: f64) -> String {
    if x.abs() < 0.1 {
        format!("{x:.3}")
    } else {
        format!("{x:.2}")
    }
}
