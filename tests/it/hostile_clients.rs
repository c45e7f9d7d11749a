//! Hostile local clients over raw TCP and TLS: slowloris heads, bodies and TLS hellos
//! are closed (or refused) within `[limits] handshake_timeout`; thousands of idle
//! connections do not stop keypool serving; request-smuggling shapes are refused with a
//! 400 or normalised so the upstream sees exactly one well-framed request, both on the
//! plain listener and inside an intercepted tunnel.

use crate::support;
use support::scenario::Scenario;

use std::sync::Arc;
use std::time::Duration;

use support::fault::process::{client_via, idle_connections, serve_limited};
use support::fault::proxy::{self};
use support::fault::{FaultServer, Script};
use support::guard::Within;
use support::keypool::{openai_chat, Keypool};
use support::TestCa;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fails a test whose server did not act; the bound under test is 1 s.
const GUARD: Duration = Duration::from_secs(10);
/// The attacker's pace: far slower than the bound allows for a whole head.
const TRICKLE: Duration = Duration::from_millis(50);

struct Rig {
    fault: FaultServer,
    kp: Keypool,
}

async fn rig() -> Rig {
    let s = Scenario::new().fault(&["api.openai.com"]).await;
    s.fault_server().set("sk-a", Script::ok_json());
    let s = s
        .keys("openai", &[("a", "sk-a")])
        .limits("handshake_timeout = \"1s\"");
    let (fault, kp) = s.start_fault_parts().await;
    Rig { fault, kp }
}

impl Rig {
    async fn tunnel(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        self.kp
            .tls_through("api.openai.com", &self.kp.ca_pem())
            .await
    }

    /// Requests the fault server got, except the sentinels that end a test connection.
    fn upstream_requests(&self) -> Vec<support::fault::wire::Request> {
        (self.fault.seen().into_iter())
            .filter(|r| r.path != "/sentinel")
            .collect()
    }

    /// keypool still answers a normal request.
    async fn assert_serves(&self) {
        let r = tokio::time::timeout(GUARD, openai_chat(&self.kp.client()))
            .await
            .expect("keypool answers");
        assert_eq!(r.status(), 200);
    }
}

/// Sends `bytes` one at a time at the attacker's pace until the server closes the
/// connection; returns how many it took. Panics if the server waited for all of them.
async fn trickle_until_closed<S: AsyncRead + AsyncWrite + Unpin>(s: S, bytes: &[u8]) -> usize {
    let (mut rd, mut wr) = tokio::io::split(s);
    let closed = async {
        let mut sink = Vec::new();
        let _ = rd.read_to_end(&mut sink).await;
    };
    let feed = async {
        for (i, b) in bytes.iter().enumerate() {
            if wr.write_all(std::slice::from_ref(b)).await.is_err() || wr.flush().await.is_err() {
                return i;
            }
            tokio::time::sleep(TRICKLE).await;
        }
        bytes.len()
    };
    tokio::select! {
        () = closed => 0,
        n = feed => panic!("the server read all {n} trickled bytes and kept the connection"),
    }
}

/// A head that would take 20 s at the attacker's pace.
fn endless_head(first_line: &str) -> Vec<u8> {
    let mut head = format!("{first_line}\r\nHost: api.openai.com\r\nx-pad: ").into_bytes();
    head.extend(std::iter::repeat_n(b'a', 400));
    head
}

#[tokio::test]
async fn a_slowloris_head_on_the_plain_listener_is_closed() {
    let rig = rig().await;
    let s = TcpStream::connect(rig.kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    let head = endless_head("POST https://api.openai.com/v1/chat/completions HTTP/1.1");
    tokio::time::timeout(GUARD, trickle_until_closed(s, &head))
        .await
        .expect("closed within the bound");
    assert!(rig.upstream_requests().is_empty());
    rig.assert_serves().await;
}

#[tokio::test]
async fn a_slowloris_head_inside_a_tunnel_is_closed() {
    let rig = rig().await;
    let tls = rig.tunnel().await;
    let head = endless_head("POST /v1/chat/completions HTTP/1.1");
    tokio::time::timeout(GUARD, trickle_until_closed(tls, &head))
        .await
        .expect("closed within the bound");
    assert!(rig.upstream_requests().is_empty());
    rig.assert_serves().await;
}

/// The first flight of a real TLS client for `host`: a ClientHello.
fn client_hello(host: &str) -> Vec<u8> {
    let config = TestCa::new().client_config();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[tokio::test]
async fn a_slowloris_client_hello_and_a_silent_tunnel_are_closed_at_the_handshake_bound() {
    let rig = rig().await;
    let tunnel = rig.kp.connect("api.openai.com:443").await;
    tokio::time::timeout(
        GUARD,
        trickle_until_closed(tunnel, &client_hello("api.openai.com")),
    )
    .await
    .expect("closed within the bound");

    // CONNECT, then nothing at all.
    let mut silent = rig.kp.connect("api.openai.com:443").await;
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, silent.read_to_end(&mut buf))
        .await
        .expect("a tunnel that never starts TLS is closed")
        .unwrap();
    // A handshake stopped after its record header.
    let mut stalled = rig.kp.connect("api.openai.com:443").await;
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .within("keypool taking a handshake's record header")
        .await
        .unwrap();
    let closed = tokio::time::timeout(GUARD, stalled.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a handshake stopped after 5 bytes is closed"
    );
    rig.assert_serves().await;
}

#[tokio::test]
async fn a_slowloris_body_gets_408_naming_the_fix_and_nothing_goes_upstream() {
    let rig = rig().await;
    let head = |target: &str| {
        format!("POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer x\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":")
    };
    let mut plain = TcpStream::connect(rig.kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    let plain_head = head("https://api.openai.com/v1/chat/completions");
    plain
        .write_all(plain_head.as_bytes())
        .within("keypool taking the head of the slow body")
        .await
        .unwrap();
    let mut tls = rig.tunnel().await;
    tls.write_all(head("/v1/chat/completions").as_bytes())
        .within("keypool taking the head of the slow body inside the tunnel")
        .await
        .unwrap();
    for answer in [read_answer(&mut plain).await, read_answer(&mut tls).await] {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("fix: "), "{answer}");
    }
    assert!(rig.upstream_requests().is_empty());
    rig.assert_serves().await;
}

/// Reads until the server closes (bounded).
async fn read_answer<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection: {}",
        String::from_utf8_lossy(&buf)
    );
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifteen_hundred_idle_connections_and_a_request_is_still_served() {
    // Started under the soft limit many systems give (1024): keypool raises it.
    let (p, fault, home) = serve_limited(1024, 4096).await;
    let held = idle_connections(p.addr, 1500).await;
    let r = tokio::time::timeout(GUARD, openai_chat(&client_via(p.addr, home.path())))
        .await
        .expect("a request with 1,500 idle connections open");
    assert_eq!(r.status(), 200);
    assert_eq!(fault.credentials_seen(), vec!["sk-fd"]);
    drop(held);
    let (code, _) = tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    assert_eq!(code, Some(0));
}

/// What keypool must do with a smuggling shape.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A 400, and nothing of it upstream.
    Refused,
    /// Exactly one request upstream, with this body, framed by keypool.
    One(&'static str),
}

/// A request shape; `{target}` becomes the absolute or origin form, `{smuggled}` a
/// request that must never reach the upstream on its own.
const SHAPES: &[(&str, &str, Expect)] = &[
    (
        "CL and TE: chunked wins, and the connection closes after",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 56\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        Expect::One(""),
    ),
    (
        "TE before CL",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n{smuggled}",
        Expect::One("{}"),
    ),
    (
        "two different Content-Lengths",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 2\r\nContent-Length: 58\r\n\r\n{}{smuggled}",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding: xchunked",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding: chunked, identity",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}",
        Expect::Refused,
    ),
    (
        "a space before the colon",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}{smuggled}",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding in HTTP/1.0",
        "POST {target} HTTP/1.0\r\nHost: api.openai.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        Expect::Refused,
    ),
    (
        "a folded header line",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nX-Note: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}{smuggled}",
        Expect::Refused,
    ),
    (
        "a Content-Length with a sign",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: +2\r\n\r\n{}{smuggled}",
        Expect::Refused,
    ),
    (
        "a Content-Length past u64",
        "POST {target} HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
        Expect::Refused,
    ),
    (
        "bare LF line ends: read, and sent on with CRLF",
        "POST {target} HTTP/1.1\nHost: api.openai.com\nContent-Length: 2\n\n{}",
        Expect::One("{}"),
    ),
];

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: api.openai.com\r\n\r\n";

/// Runs every shape on fresh connections made by `open`, each followed by a sentinel
/// that asks keypool to close, and checks what the upstream received.
async fn smuggling<S, F, Fut>(rig: &Rig, target: &str, sentinel: &str, open: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    for (what, shape, expect) in SHAPES {
        let before = rig.upstream_requests().len();
        let bytes = shape
            .replace("{target}", target)
            .replace("{smuggled}", SMUGGLED);
        let mut s = open()
            .within(&format!("a fresh connection for the {what} shape"))
            .await;
        s.write_all(bytes.as_bytes())
            .within(&format!("keypool taking the {what} shape"))
            .await
            .unwrap();
        s.write_all(sentinel.as_bytes())
            .within(&format!(
                "keypool taking the sentinel after the {what} shape"
            ))
            .await
            .unwrap();
        let answer = read_answer(&mut s).await;
        let got: Vec<_> = rig.upstream_requests().split_off(before);
        assert!(
            got.iter().all(|r| r.path != "/smuggled"),
            "{what}: a smuggled request reached the upstream"
        );
        match expect {
            Expect::Refused => {
                assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer}");
                assert!(got.is_empty(), "{what}: sent upstream: {got:?}");
            }
            Expect::One(body) => {
                assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer}");
                assert_eq!(got.len(), 1, "{what}: upstream got {got:?}");
                assert_eq!(got[0].path, "/v1/chat/completions", "{what}");
                assert_eq!(got[0].body, body.as_bytes(), "{what}");
                let head = &got[0].head;
                assert!(
                    !head.contains("transfer-encoding")
                        && head.matches("\n").count() == head.matches("\r\n").count(),
                    "{what}: upstream head is not one clean framing: {head:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn smuggling_shapes_on_the_plain_listener_are_refused_or_normalised() {
    let rig = Arc::new(rig().await);
    let addr = rig.kp.addr();
    let sentinel = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let target = "https://api.openai.com/v1/chat/completions";
    smuggling(&rig, target, &sentinel, || async move {
        TcpStream::connect(addr)
            .within("keypool accepting a TCP connection")
            .await
            .unwrap()
    })
    .await;
    rig.assert_serves().await;
}

#[tokio::test]
async fn smuggling_shapes_inside_a_tunnel_are_refused_or_normalised() {
    let rig = Arc::new(rig().await);
    let sentinel =
        "GET /sentinel HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n";
    let r = rig.clone();
    smuggling(&rig, "/v1/chat/completions", sentinel, move || {
        let r = r.clone();
        async move { r.tunnel().await }
    })
    .await;
    rig.assert_serves().await;
}

#[tokio::test]
async fn a_connect_answered_then_closed_leaves_nothing_behind() {
    // The tunnel's client goes away before TLS: keypool's task ends with it.
    let rig = rig().await;
    drop(rig.kp.connect("api.openai.com:443").await);
    proxy::settled(&rig.kp).await;
    rig.assert_serves().await;
}
