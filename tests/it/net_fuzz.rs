//! A seeded, bounded fuzz of the listening port of the real binary: batches of mutated
//! CONNECT, absolute-form and origin-form requests, TLS ClientHellos (on the plain
//! listener and inside tunnels), requests inside a real TLS tunnel, and random bytes,
//! each on a fresh connection. After every batch keypool must be alive, serve a real
//! request through an intercepted tunnel, and have logged no panic.
//!
//! `KEYPOOL_FUZZ_SEED` and `KEYPOOL_FUZZ_BATCHES` change the run (the seed of a failing
//! run is in the failure message); every upstream connection keypool makes, for any host
//! and port, goes to a local fault server.

use crate::support;
use support::scenario::Scenario;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::fault::process::{client_via, Process};
use support::fault::Script;
use support::guard::Within;
use support::keypool::{openai_chat, tls_connect};
use support::TestCa;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const DEFAULT_SEED: u64 = 0x6b65_7970_6f6f_6c08;
const BATCHES: usize = 20;
const PER_BATCH: usize = 50;
/// Inputs per batch sent inside a real TLS tunnel (slower: a handshake each).
const IN_TUNNEL: usize = 8;
const MAX_INPUT: usize = 8 * 1024;
/// keypool must be done with an input this long after the client half-closed.
const PER_CONNECTION: Duration = Duration::from_secs(10);

const SEEDS: &[&str] = &[
    "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic d29yazo=\r\n\r\n",
    "POST https://api.openai.com/v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-x\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n{\"model\":\"gpt-4o\",\"messages\":[],\"n\":1}\r\n",
    "POST http://api.anthropic.com/v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n",
    "GET /_keypool/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET http://example.com/?key=x HTTP/1.0\r\n\r\n",
];

/// Fragments a mutation splices in: framing, numbers and tokens parsers trip on.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b":",
    b" ",
    b"\x00",
    b"\xff\xfe",
    b"Content-Length: 18446744073709551616\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"ffffffffffffffffff\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: Upgrade\r\nUpgrade: websocket\r\n",
    b"Host: [::1]:0\r\n",
    b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n",
    b"%00%0d%0a",
    b"\x16\x03\x01\xff\xff",
];

fn mutate(rng: &mut StdRng, mut input: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = rng.random();
            }
            2 => {
                let at = rng.random_range(0..=len);
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len);
                input.drain(a..b);
            }
            4 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len.min(a + 512));
                let piece = input[a..b].to_vec();
                let at = rng.random_range(0..=input.len());
                input.splice(at..at, piece);
            }
            5 => input.truncate(rng.random_range(0..=len)),
            _ => {
                let at = rng.random_range(0..=len);
                let junk: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
                input.splice(at..at, junk);
            }
        }
    }
    input.truncate(MAX_INPUT);
    input
}

/// One input for the listening port.
fn plain_input(rng: &mut StdRng, hello: &[u8]) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(0..2048))
            .map(|_| rng.random())
            .collect(),
        1 => mutate(rng, hello.to_vec()),
        2 => {
            // A tunnel to a provider host, then a mutated ClientHello inside it.
            let mut v = SEEDS[0].as_bytes().to_vec();
            v.extend(mutate(rng, hello.to_vec()));
            v
        }
        _ => {
            let seed = SEEDS[rng.random_range(0..SEEDS.len())].as_bytes().to_vec();
            mutate(rng, seed)
        }
    }
}

/// A request for inside an intercepted tunnel.
fn tunnel_input(rng: &mut StdRng) -> Vec<u8> {
    let seed = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-x\r\nContent-Length: 2\r\n\r\n{}";
    mutate(rng, seed.to_vec())
}

/// Writes `input`, half-closes, and reads whatever comes until keypool closes.
async fn send_plain(addr: SocketAddr, input: Vec<u8>) -> Result<(), String> {
    let Ok(s) = TcpStream::connect(addr)
        .within("keypool accepting a TCP connection")
        .await
    else {
        return Err("keypool refused a connection".into());
    };
    drained(s, &input, "a half-closed connection").await
}

/// Writes `input`, half-closes, and reads until keypool closes (bounded).
async fn drained<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    input: &[u8],
    what: &str,
) -> Result<(), String> {
    let _ = s
        .write_all(input)
        .within(&format!("keypool taking the input on {what}"))
        .await;
    let _ = s
        .shutdown()
        .within(&format!("the half-close of {what}"))
        .await;
    let mut sink = Vec::new();
    match tokio::time::timeout(PER_CONNECTION, s.read_to_end(&mut sink)).await {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "keypool kept {what} open past {PER_CONNECTION:?}; input: {:?}",
            String::from_utf8_lossy(input)
        )),
    }
}

async fn send_in_tunnel(
    addr: SocketAddr,
    ca_pem: Arc<String>,
    input: Vec<u8>,
) -> Result<(), String> {
    let mut tcp = TcpStream::connect(addr)
        .within("keypool accepting a TCP connection")
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(SEEDS[0].as_bytes())
        .within("keypool taking the CONNECT request")
        .await
        .map_err(|e| e.to_string())?;
    let head = support::keypool::read_head(&mut tcp)
        .within("keypool's answer to the CONNECT request")
        .await;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("CONNECT answered {head}"));
    }
    let tls = tls_connect(tcp, "api.openai.com", &ca_pem).await;
    drained(tls, &input, "a tunnel").await
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listening_port_survives_seeded_garbage_and_still_serves_after_every_batch() {
    let seed = env_or("KEYPOOL_FUZZ_SEED", DEFAULT_SEED);
    let batches = env_or("KEYPOOL_FUZZ_BATCHES", BATCHES);
    let mut rng = StdRng::seed_from_u64(seed);

    let s = Scenario::new()
        .fault(&["api.openai.com", "api.anthropic.com", "example.com"])
        .await;
    let fault = s.fault_server();
    fault.set("sk-fuzz", Script::ok_json());
    // Every upstream connection, for any host and port, goes to the fault server.
    let every_port = format!("::127.0.0.1:{}", fault.addr().port());
    let mut s = s
        .keys("openai", &[("fuzz", "sk-fuzz")])
        .limits("handshake_timeout = \"1s\"")
        .connect_to([every_port])
        .upstream_toml("read_timeout = \"2s\"");
    let (mut p, home) = Process::spawn(&mut s, "info", None).await;
    let addr = p.addr;
    let ca_pem = Arc::new(std::fs::read_to_string(home.path().join("certs/ca.pem")).unwrap());
    let hello = client_hello();
    let client = client_via(addr, home.path());

    for batch in 0..batches {
        let mut inputs = tokio::task::JoinSet::new();
        for i in 0..PER_BATCH {
            if i < IN_TUNNEL {
                let input = tunnel_input(&mut rng);
                inputs.spawn(send_in_tunnel(addr, ca_pem.clone(), input));
            } else {
                inputs.spawn(send_plain(addr, plain_input(&mut rng, &hello)));
            }
        }
        while let Some(done) = inputs
            .join_next()
            .within(&format!("the connections of batch {batch} to be done"))
            .await
        {
            if let Err(e) = done.unwrap() {
                panic!("seed {seed:#x}, batch {batch}: {e}");
            }
        }
        assert!(p.alive(), "seed {seed:#x}: keypool died in batch {batch}");
        let r = tokio::time::timeout(PER_CONNECTION, openai_chat(&client))
            .await
            .unwrap_or_else(|_| panic!("seed {seed:#x}: no answer after batch {batch}"));
        assert_eq!(r.status(), 200, "seed {seed:#x}: after batch {batch}");
    }
    let (code, log) = tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    assert!(
        !log.contains("panicked"),
        "seed {seed:#x}: a task panicked:\n{log}"
    );
    assert_eq!(code, Some(0), "seed {seed:#x}:\n{log}");
}

/// A real ClientHello for api.openai.com, to mutate.
fn client_hello() -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("api.openai.com").unwrap();
    let mut conn = rustls::ClientConnection::new(TestCa::new().client_config(), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}
