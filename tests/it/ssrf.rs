//! Whoever reaches keypool must not reach what listens only on this machine or its
//! private network, nor make keypool connect to itself: targets that resolve to loopback,
//! link-local, private, shared, unspecified, multicast or broadcast addresses (in every
//! spelling: IPv4-mapped IPv6, decimal, octal, hex, short forms, `localhost`) are refused
//! for CONNECT and absolute-form requests alike, unless the operator named them
//! (`allow_private`, a `connect_to` route, a provider host). keypool's own address is
//! refused always.

use crate::support;
use support::scenario::Scenario;

use support::guard::Within;
use support::keypool::Keypool;
use support::raw_client::{exchange, read_answer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ONE_ACCOUNT: &str = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n";

/// A local service only this machine should reach; `poked()` tells whether anything
/// connected to it (checked without waiting: keypool answers only after it decided).
struct LocalService {
    listener: std::net::TcpListener,
}

impl LocalService {
    fn start() -> LocalService {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        LocalService { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn poked(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

fn connect(target: &str) -> Vec<u8> {
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn local_and_private_targets_are_refused_in_every_spelling() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(ONE_ACCOUNT);
    let kp = s.start().await;
    let fake = s.fake();
    let service = LocalService::start();
    let p = service.port();
    let targets = [
        format!("127.0.0.1:{p}"),
        format!("127.0.0.2:{p}"),
        format!("localhost:{p}"),
        format!("LocalHost:{p}"),
        format!("[::1]:{p}"),
        format!("[::ffff:127.0.0.1]:{p}"),
        format!("[::ffff:7f00:1]:{p}"),
        format!("2130706433:{p}"),
        format!("0177.0.0.1:{p}"),
        format!("0x7f000001:{p}"),
        format!("127.1:{p}"),
        format!("0.0.0.0:{p}"),
        format!("0:{p}"),
        format!("[::]:{p}"),
        "169.254.169.254:80".to_string(),
        "10.1.2.3:80".to_string(),
        "172.16.0.1:80".to_string(),
        "192.168.1.1:80".to_string(),
        "100.64.0.1:80".to_string(),
        "[fd00::1]:80".to_string(),
        "[fe80::1]:80".to_string(),
        "[::ffff:169.254.169.254]:80".to_string(),
        "224.0.0.1:80".to_string(),
        "255.255.255.255:80".to_string(),
    ];
    for t in &targets {
        let a = exchange(kp.addr(), &connect(t)).await;
        assert_eq!(a.status, 403, "CONNECT {t}: {} {}", a.head, a.body);
        assert!(
            a.body.contains("allow_private") && a.body.contains("fix:"),
            "CONNECT {t}: {}",
            a.body
        );
    }
    // The same targets in absolute form (http_proxy).
    for t in &targets {
        let req = format!("GET http://{t}/ HTTP/1.1\r\nHost: {t}\r\n\r\n");
        let a = exchange(kp.addr(), req.as_bytes()).await;
        assert_eq!(a.status, 403, "GET http://{t}/: {} {}", a.head, a.body);
    }
    assert!(!service.poked(), "the local service was reached");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn keypool_never_connects_to_itself() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    // Even when the operator allows loopback, keypool's own port stays refused.
    let mut s = s
        .config(ONE_ACCOUNT)
        .upstream_toml("allow_private = [\"127.0.0.0/8\", \"localhost\", \"0.0.0.0\"]");
    let kp = s.start().await;
    let port = kp.addr().port();
    for t in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("0.0.0.0:{port}"),
    ] {
        let a = exchange(kp.addr(), &connect(&t)).await;
        assert_eq!(a.status, 508, "CONNECT {t}: {} {}", a.head, a.body);
        assert!(
            a.body.contains("keypool's own address") && a.body.contains("fix:"),
            "{}",
            a.body
        );
        let req = format!("GET http://{t}/_keypool/status HTTP/1.1\r\nHost: {t}\r\n\r\n");
        let a = exchange(kp.addr(), req.as_bytes()).await;
        assert_eq!(a.status, 508, "GET http://{t}/: {}", a.body);
    }
    // Thirty nested CONNECTs on one connection: the first is refused and nothing nests.
    let mut s = tokio::net::TcpStream::connect(kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    let nested: Vec<u8> = (0..30)
        .flat_map(|_| connect(&format!("127.0.0.1:{port}")))
        .collect();
    s.write_all(&nested)
        .within("keypool taking thirty nested CONNECTs")
        .await
        .unwrap();
    let first = read_answer(&mut s).await;
    assert_eq!(first.status, 508);
}

#[tokio::test]
async fn the_operator_names_what_clients_may_reach() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut s, _)) = echo.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf).await {
                    let _ = s.write_all(&buf[..n]).await;
                }
            });
        }
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = s
        .config(ONE_ACCOUNT)
        .connect_to([format!("gpu.lan.test:8000:127.0.0.1:{echo_port}")])
        .upstream_toml("allow_private = [\"127.0.0.0/8\", \"localhost\"]");
    let kp = s.start().await;
    let fake = s.fake();
    let ca = &s.ca;
    let tunnel_echoes = |target: String| {
        let addr = kp.addr();
        async move {
            let mut s = tokio::net::TcpStream::connect(addr)
                .within("keypool accepting a TCP connection")
                .await
                .unwrap();
            s.write_all(&connect(&target))
                .within(&format!("keypool taking CONNECT {target}"))
                .await
                .unwrap();
            let a = read_answer(&mut s).await;
            assert_eq!(a.status, 200, "CONNECT {target}: {}", a.body);
            s.write_all(b"ping")
                .within(&format!("the ping into the tunnel to {target}"))
                .await
                .unwrap();
            let mut got = [0u8; 4];
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_exact(&mut got))
                .await
                .expect("the echo answers")
                .unwrap();
            assert_eq!(&got, b"ping", "{target}");
        }
    };
    tunnel_echoes(format!("127.0.0.1:{echo_port}")).await;
    tunnel_echoes(format!("localhost:{echo_port}")).await;
    // A connect_to route is the operator's own: its address is reached.
    tunnel_echoes("gpu.lan.test:8000".to_string()).await;
    // Allowed but nothing listens: a 502 with the reason, not a refusal.
    let a = exchange(kp.addr(), &connect(&format!("127.0.0.1:{closed}"))).await;
    assert_eq!(a.status, 502, "{}", a.body);
    assert!(a.body.contains("cannot connect"), "{}", a.body);
    // Outside the allowed ranges: still refused.
    let a = exchange(kp.addr(), &connect("10.0.0.1:80")).await;
    assert_eq!(a.status, 403, "{}", a.body);

    // A provider host is the operator's too, whatever it resolves to; other names that
    // resolve to this machine are not. (A second keypool on the scenario's CA and fake:
    // a scenario starts one, so this start is the harness's own.)
    let kp = Keypool::builder(ca)
        .accounts("[[providers]]\nid = \"local-llm\"\nhosts = [\"localhost\"]\nauth = \"bearer\"\n")
        .upstream(fake.addr())
        .start()
        .await;
    let a = exchange(kp.addr(), &connect(&format!("127.0.0.1:{echo_port}"))).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let mut s = tokio::net::TcpStream::connect(kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    s.write_all(&connect(&format!("localhost:{echo_port}")))
        .within("keypool taking CONNECT localhost")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut s).await.status, 200);
}

#[test]
fn allow_private_entries_are_checked() {
    let parse = |entry: &str| {
        keypool::Config::parse(
            &format!("[upstream]\nallow_private = [{entry:?}]\n"),
            std::path::Path::new("config.toml"),
        )
        .map(|_| ())
        .map_err(|e| e.0)
    };
    for ok in ["10.0.0.0/8", "192.168.1.20", "fd00::/8", "gpu-box.lan"] {
        assert!(parse(ok).is_ok(), "{ok}");
    }
    for bad in ["http://gpu-box", "10.0.0.0/40", "a b", ""] {
        let e = parse(bad).unwrap_err();
        assert!(
            e.starts_with("config.toml:1:") && e.contains("fix:"),
            "{bad}: {e}"
        );
    }
}
