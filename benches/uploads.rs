//! Small requests beside large uploads, through keypool to a provider that speaks HTTP/2
//! one round trip away: `cargo bench --bench uploads -- [--duration S] [--rtt-ms N]`.
//! See bench/README.md ("Uploads beside small requests").
//!
//! The fake provider offers `h2` with the initial flow-control windows of RFC 9113
//! (65,535 bytes for each stream and for the connection), as a conservative front end
//! would, and reads each body at 2 MB/s: an upload's unread bytes then hold the shared
//! connection window until the provider takes them. Small
//! requests run alone, then beside 20 workers uploading 1 MB bodies, through a keypool
//! with the default `[upstream] large_body` (uploads on HTTP/1.1 connections of their
//! own) and through one whose `large_body` is beyond every body (everything shares the
//! HTTP/2 connection).

#[allow(dead_code)]
#[path = "../tests/it/support/ca.rs"]
mod ca;
#[allow(dead_code)]
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/fake_server.rs"]
mod fake_server;
#[allow(dead_code)]
#[path = "support/keypool.rs"]
mod keypool_bench;
#[allow(dead_code)]
#[path = "support/relay.rs"]
mod relay;
#[path = "support/runtimes.rs"]
mod runtimes;

use bytes::Bytes;
use ca::TestCa;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use keypool_bench::{Keypool, Observe};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const URL: &str = "https://api.openai.com/v1/chat/completions";
const SMALL: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
const UPLOADERS: usize = 20;
const UPLOAD_BYTES: usize = 1 << 20;
const SMALL_WORKERS: usize = 4;
/// How fast the fake reads one request's body: 2 MB/s, so 20 uploads at once move
/// 40 MB/s, which the two cores carry with room to spare (unpaced, the uploads took
/// both cores, and the small requests waited for CPU rather than for a window).
const INGEST: f64 = 2e6;
/// RFC 9113 §6.9.2: the initial window, of each stream and of the connection.
const RFC_WINDOW: u32 = 65_535;

struct Args {
    duration: Duration,
    rtt: Duration,
}

fn parse_args() -> Args {
    let mut a = Args {
        duration: Duration::from_secs(8),
        rtt: Duration::from_millis(20),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> u64 {
            let v = it.next().unwrap_or_default();
            v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                eprintln!(
                    "{name} {v}: not a positive number\nusage: uploads [--duration S] [--rtt-ms N]"
                );
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--duration" => a.duration = Duration::from_secs(number("--duration")),
            "--rtt-ms" => a.rtt = Duration::from_millis(number("--rtt-ms")),
            "--bench" => {}
            other => {
                eprintln!("unknown option {other}\nusage: uploads [--duration S] [--rtt-ms N]");
                std::process::exit(2)
            }
        }
    }
    a
}

/// Reads the request body whole, at most [`INGEST`] bytes a second as a provider's
/// upload handling would, and answers a small completion.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let ok = req.headers().get("authorization").is_some_and(|v| {
        v.as_bytes() == b"Bearer sk-bench-a" || v.as_bytes() == b"Bearer sk-bench-b"
    });
    let mut body = req.into_body();
    // Bounded: the body ends or fails.
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            tokio::time::sleep(Duration::from_secs_f64(data.len() as f64 / INGEST)).await;
        }
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
    if !ok {
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
    }
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(resp)
}

/// The fake provider: `h2` (RFC windows) or `http/1.1`, as the client's ALPN chose.
async fn start_fake(ca: &TestCa) -> SocketAddr {
    let h2 = fake_server::H2 {
        window: Some(RFC_WINDOW),
        max_streams: None,
    };
    let svc = hyper::service::service_fn(answer);
    fake_server::start(ca, "api.openai.com", Some(h2), svc).await
}

fn client(kp: &Keypool) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", kp.proxy.addr())).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(kp.ca_pem.as_bytes()).unwrap())
        .http1_only()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn post(c: &reqwest::Client, body: Bytes) -> Result<(), String> {
    let r = c
        .post(URL)
        .header("authorization", "Bearer sk-client")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    r.bytes().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(())
}

/// A 1 MB JSON request body.
fn upload_body() -> Bytes {
    let pad = "x".repeat(UPLOAD_BYTES - 80);
    Bytes::from(format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{pad}"}}]}}"#
    ))
}

struct Phase {
    small_ms: Vec<f64>,
    uploads: usize,
    errors: usize,
    /// The whole process's CPU over the phase, in cores (2.0: both cores busy).
    cores: f64,
}

/// Small requests from [`SMALL_WORKERS`] workers for `duration`, beside `uploaders`
/// workers posting 1 MB bodies for as long.
async fn phase(
    c: &reqwest::Client,
    up: &reqwest::Client,
    duration: Duration,
    uploaders: usize,
) -> Phase {
    let (start, cpu0) = (Instant::now(), cpu::process_cpu());
    let end = start + duration;
    let big = upload_body();
    let mut uploads = tokio::task::JoinSet::new();
    for _ in 0..uploaders {
        let (c, big) = (up.clone(), big.clone());
        uploads.spawn(async move {
            let (mut done, mut errors) = (0, 0);
            while Instant::now() < end {
                match post(&c, big.clone()).await {
                    Ok(()) => done += 1,
                    Err(_) => errors += 1,
                }
            }
            (done, errors)
        });
    }
    let mut smalls = tokio::task::JoinSet::new();
    for _ in 0..SMALL_WORKERS {
        let c = c.clone();
        smalls.spawn(async move {
            let (mut ms, mut errors) = (Vec::new(), 0);
            while Instant::now() < end {
                let t = Instant::now();
                match post(&c, Bytes::from_static(SMALL.as_bytes())).await {
                    Ok(()) => ms.push(t.elapsed().as_secs_f64() * 1e3),
                    Err(_) => errors += 1,
                }
            }
            (ms, errors)
        });
    }
    let mut p = Phase {
        small_ms: Vec::new(),
        uploads: 0,
        errors: 0,
        cores: 0.0,
    };
    while let Some(r) = smalls.join_next().await {
        let (ms, errors) = r.expect("small worker");
        p.small_ms.extend(ms);
        p.errors += errors;
    }
    while let Some(r) = uploads.join_next().await {
        let (done, errors) = r.expect("upload worker");
        p.uploads += done;
        p.errors += errors;
    }
    p.small_ms.sort_by(f64::total_cmp);
    p.cores = (cpu::process_cpu() - cpu0).as_secs_f64() / start.elapsed().as_secs_f64();
    p
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

fn main() {
    let args = parse_args();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rts = runtimes::Runtimes::new();
    let (load_rt, keypool_rt, fake_rt, relay_rt) = (&rts.load, &rts.keypool, &rts.fake, &rts.relay);
    let ca = TestCa::new();
    let fake = fake_rt.block_on(start_fake(&ca));
    let lag = Arc::new(relay::Lag::default());
    let far = relay_rt.block_on(relay::start_relay(fake, args.rtt, lag.clone()));
    println!(
        "{SMALL_WORKERS} workers of small requests for {} s, alone and beside {UPLOADERS} workers \
         uploading {} MiB bodies; the provider speaks h2 (windows of {RFC_WINDOW} bytes) {} ms away",
        args.duration.as_secs(),
        UPLOAD_BYTES >> 20,
        args.rtt.as_millis(),
    );
    println!(
        "{:<46} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6}",
        "keypool / phase", "small req", "p50 ms", "p99 ms", "uploads", "errors", "p99 x", "cores"
    );
    for (name, lines) in [
        ("large_body = 256KiB (default)", ""),
        ("large_body = 1GiB (all on h2)", "large_body = \"1GiB\""),
    ] {
        let kp = Keypool::start(keypool_rt, &ca, far, Observe::OFF, lines);
        let (c, up) = (client(&kp), client(&kp));
        // Warm: the connections are open and the leaf minted before anything is timed.
        load_rt.block_on(phase(&c, &up, Duration::from_secs(1), 2));
        let alone = load_rt.block_on(phase(&c, &up, args.duration, 0));
        let beside = load_rt.block_on(phase(&c, &up, args.duration, UPLOADERS));
        let base = percentile(&alone.small_ms, 0.99);
        for (label, p) in [("alone", &alone), ("beside uploads", &beside)] {
            let p99 = percentile(&p.small_ms, 0.99);
            println!(
                "{:<46} {:>9} {:>8.2} {:>8.2} {:>8} {:>7} {:>7.2} {:>6.2}",
                format!("{name}, {label}"),
                p.small_ms.len(),
                percentile(&p.small_ms, 0.5),
                p99,
                p.uploads,
                p.errors,
                p99 / base,
                p.cores,
            );
        }
        keypool_rt.block_on(kp.proxy.shutdown());
    }
    println!(
        "relay: measured one-way delay {:.2} ms (mean over {} chunks)",
        lag.mean().as_secs_f64() * 1e3,
        lag.chunks.load(std::sync::atomic::Ordering::Relaxed)
    );
}
