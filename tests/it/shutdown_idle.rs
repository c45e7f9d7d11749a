//! Idle connections do not hold shutdown: a tunnel that never starts TLS, a handshake
//! stopped after its first bytes, an idle keep-alive connection inside a tunnel and one
//! on the plain listener all end at once, so shutdown drains well inside a long grace.
//! The same with the real binary on SIGTERM.

use crate::support;
use support::scenario::Scenario;

use std::time::Duration;

use support::fault::process::Process;
use support::fault::proxy::Settings;
use support::fault::Script;
use support::guard::Within;
use support::keypool::{openai_chat, Keypool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fails the test when shutdown waits; the grace is far longer.
const GUARD: Duration = Duration::from_secs(10);

fn long_grace() -> Settings {
    // A long handshake bound too: only shutdown may end these connections.
    Settings::default()
        .limits("shutdown_grace = \"60s\"")
        .limits("handshake_timeout = \"60s\"")
}

/// The idle connections of every kind; kept open by the caller until shutdown.
async fn idle_connections(kp: &Keypool) -> Vec<Box<dyn std::any::Any + Send>> {
    let mut held: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    // CONNECT to a provider host, then nothing: no TLS.
    held.push(Box::new(kp.connect("api.openai.com:443").await));
    // CONNECT, then the first 5 bytes of a TLS record and nothing more.
    let mut stalled = kp.connect("api.openai.com:443").await;
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .within("keypool taking a TLS record header in the tunnel")
        .await
        .unwrap();
    held.push(Box::new(stalled));
    // A plain keep-alive connection that was served once.
    let mut plain = TcpStream::connect(kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    plain
        .write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", kp.addr()).as_bytes())
        .within("keypool taking GET / on the plain connection")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(
        plain
            .read(&mut buf)
            .within("keypool's answer to GET / on the plain connection")
            .await
            .unwrap()
            > 0
    );
    held.push(Box::new(plain));
    // An intercepted keep-alive connection that was served once (reqwest keeps it).
    let client = kp.client();
    assert_eq!(openai_chat(&client).await.status(), 200);
    held.push(Box::new(client));
    held
}

#[tokio::test]
async fn idle_connections_of_every_kind_do_not_hold_shutdown() {
    let s = Scenario::new().fault(&["api.openai.com"]).await;
    s.fault_server().set("sk-a", Script::ok_json());
    let mut s = s.keys("openai", &[("a", "sk-a")]).settings(&long_grace());
    let kp = s.start().await.kp;
    let held = idle_connections(&kp).await;
    assert!(
        kp.proxy.state().tasks.len() >= 4,
        "a task per idle connection"
    );
    let Keypool { proxy, home: _home } = kp;
    let drained = tokio::time::timeout(GUARD, proxy.shutdown())
        .await
        .expect("shutdown waited for idle connections");
    assert!(drained, "shutdown must drain, not give up at the grace");
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_an_idle_pre_tls_tunnel_exits_at_once_with_0() {
    let mut s = Scenario::new()
        .fault(&["api.openai.com"])
        .await
        .keys("openai", &[("a", "sk-a")])
        .settings(&long_grace());
    let (p, _home) = Process::spawn(&mut s, "info", None).await;
    let tunnel = support::keypool::connect_at(p.addr, "api.openai.com:443").await;
    let stopped = tokio::time::timeout(GUARD, tokio::task::spawn_blocking(move || p.stop()))
        .await
        .expect("SIGTERM waited for an idle pre-TLS tunnel")
        .unwrap();
    assert_eq!(stopped.0, Some(0), "{}", stopped.1);
    assert!(
        !stopped.1.contains("grace period"),
        "shutdown gave up instead of draining: {}",
        stopped.1
    );
    drop(tunnel);
}
