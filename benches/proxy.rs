//! Throughput and latency of `POST /v1/chat/completions` sent straight to a local fake
//! upstream versus through keypool, at concurrency 1 and 64. See bench/README.md.
//!
//! The load client, keypool and the fake each run on their own tokio runtime, as they
//! would as separate processes: sharing one scheduler made the numbers depend on which
//! worker a connection landed on (see bench/README.md). They still share the cores.

// The integration tests' throwaway CA; the bench needs only part of it.
#[allow(dead_code)]
#[path = "../tests/support/ca.rs"]
mod ca;

use bytes::Bytes;
use ca::TestCa;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
}

fn parse_args() -> Args {
    let mut out = Args {
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        max_requests: 2_000_000,
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
            "--duration" => out.duration = secs(&name, &value()),
            "--warmup" => out.warmup = secs(&name, &value()),
            "--max-requests" => {
                let v = value();
                out.max_requests =
                    v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                        usage(&format!("--max-requests {v}: not a positive count"))
                    });
            }
            // `cargo bench` adds `--bench` and passes any filter through.
            _ => {}
        }
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
    eprintln!("{msg}\nusage: proxy [--duration SECS] [--warmup SECS] [--max-requests N]");
    std::process::exit(2)
}

/// A `chat.completion` of about 2 KB, shaped like a real one so header and body sizes
/// are realistic.
fn completion_body() -> Bytes {
    let sentence = "Prince Hamlet, urged by his father's ghost to avenge a murder, feigns madness and hesitates while the Danish court watches him. ";
    let mut content = String::new();
    while content.len() < 1500 {
        content.push_str(sentence);
    }
    let body = serde_json::json!({
        "id": "chatcmpl-BENCH0000000000000000000000000",
        "object": "chat.completion",
        "created": 1_735_689_600,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content.trim_end(),
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 31,
            "completion_tokens": 312,
            "total_tokens": 343,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        },
        "service_tier": "default",
        "system_fingerprint": "fp_0123456789"
    });
    Bytes::from(serde_json::to_vec(&body).expect("serialize completion"))
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
async fn start_fake(ca: &TestCa, completion: Bytes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    let acceptor = TlsAcceptor::from(ca.server_config(&[HOST]));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
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

fn direct_client(fake: SocketAddr, ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(REQUEST_TIMEOUT)
        // An `https_proxy` in the environment would otherwise turn "direct" into a detour.
        .no_proxy()
        .resolve(HOST, fake)
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).expect("test CA pem"),
        )
        .build()
        .expect("direct client")
}

fn keypool_client(proxy: SocketAddr, keypool_ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(REQUEST_TIMEOUT)
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy url"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(keypool_ca_pem.as_bytes()).expect("keypool CA pem"),
        )
        .build()
        .expect("keypool client")
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
    key: &'static str,
    expect_len: usize,
    workers: usize,
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
    name: &'static str,
    workers: usize,
    requests: usize,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

async fn scenario(name: &'static str, load: Load, args: &Args) -> Row {
    // Warm-up opens the connections (and for keypool mints the leaf) off the clock.
    drive(&load, args.warmup, args.max_requests).await;
    let mut run = drive(&load, args.duration, args.max_requests).await;
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

fn main() {
    let args = parse_args();
    // keypool, the fake and reqwest all build rustls configs; the process default
    // must be ring, the only provider compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Named threads let `perf report --sort comm` split the CPU between the three.
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let (load_rt, keypool_rt, fake_rt) = (runtime("load"), runtime("keypool"), runtime("fake"));

    let ca = TestCa::new();
    let completion = completion_body();
    let expect_len = completion.len();
    let fake = fake_rt.block_on(start_fake(&ca, completion));

    let home = tempfile::tempdir().expect("keypool home");
    let ca_file = ca.write_pem(home.path());
    let text = format!(
        r#"listen = "127.0.0.1:0"
[[accounts]]
name = "a"
provider = "openai"
api_key = "sk-bench-a"
[[accounts]]
name = "b"
provider = "openai"
api_key = "sk-bench-b"
[upstream]
connect_to = [":443:127.0.0.1:{port}"]
extra_ca = [{ca_file:?}]
"#,
        port = fake.port(),
        ca_file = ca_file.display().to_string(),
    );
    let config = keypool::Config::parse(&text, Path::new("bench.toml")).expect("bench config");
    let options = keypool::ProxyOptions::new(keypool::Home::at(home.path()), config);
    let proxy = keypool_rt
        .block_on(keypool::start(options))
        .expect("start keypool");
    let keypool_ca =
        std::fs::read_to_string(home.path().join("certs/ca.pem")).expect("keypool CA pem");

    println!("machine");
    for (k, v) in machine() {
        println!("  {k:<6} {v}");
    }
    println!(
        "run: {:.1}s measured per scenario after {:.1}s warm-up, at most {} requests; \
         response body {expect_len} bytes; load, keypool and fake on separate runtimes",
        args.duration.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.max_requests,
    );
    println!();

    let mut rows = Vec::new();
    for workers in [1, 64] {
        let direct = Load {
            client: direct_client(fake, &ca),
            key: DIRECT_KEY,
            expect_len,
            workers,
        };
        rows.push(load_rt.block_on(scenario("direct", direct, &args)));
        let via = Load {
            client: keypool_client(proxy.addr(), &keypool_ca),
            key: CLIENT_KEY,
            expect_len,
            workers,
        };
        rows.push(load_rt.block_on(scenario("keypool", via, &args)));
    }
    print_table(&rows);
    keypool_rt.block_on(proxy.shutdown());
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8} {:>5} {:>9} {:>7} {:>10} {:>8} {:>8}",
        "scenario", "conc", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for r in rows {
        println!(
            "{:<8} {:>5} {:>9} {:>7} {:>10.0} {:>8.3} {:>8.3}",
            r.name, r.workers, r.requests, r.errors, r.rps, r.p50_ms, r.p99_ms
        );
    }
    println!();
    println!("keypool / direct");
    for pair in rows.chunks(2) {
        let [direct, via] = pair else { continue };
        println!(
            "  conc {:>2}: req/s x{:.2}, p50 x{:.2}, p99 x{:.2}",
            direct.workers,
            via.rps / direct.rps,
            via.p50_ms / direct.p50_ms,
            via.p99_ms / direct.p99_ms,
        );
    }
}
