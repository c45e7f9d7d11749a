//! Clients that try to get around keypool's rules with bytes a well-behaved client never
//! sends: proxy-auth bypass shapes, CRLF and bare CR in the request line, Host, header
//! values and CONNECT targets, and requests inside an intercepted tunnel that name another
//! destination (a nested CONNECT, `OPTIONS *`, an absolute URI or Host for another host).
//! None of them reaches a pooled key that is not theirs, and none makes keypool look up or
//! connect anywhere else.

use crate::support;
use support::scenario::Scenario;

use support::guarded::{inside, CHAT, GUARDED_POOLS};
use support::keypool::Harness;
use support::raw_client::{basic, exchange};
use support::{FakeProvider, TestCa};

async fn start() -> (TestCa, FakeProvider, Harness) {
    Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-work", "sk-shared"])
        .config(GUARDED_POOLS)
        .start_parts()
        .await
}

#[tokio::test]
async fn proxy_auth_bypass_attempts_never_reach_the_guarded_pool() {
    let (_ca, fake, kp) = start().await;
    let line = |v: &str| format!("Proxy-Authorization: {v}\r\n");
    let long_user = "a".repeat(100 * 1024);
    let attempts: Vec<(&str, String, u16)> = vec![
        ("no header", String::new(), 200),
        ("empty user", line(&basic(":")), 200),
        ("':x'", line(&basic(":x")), 200),
        (
            "empty user, guarded password",
            line(&basic(":ci-secret")),
            200,
        ),
        ("wrong scheme", line("Bearer ci-secret"), 407),
        ("digest", line("Digest username=\"ci\""), 407),
        ("malformed base64", line("Basic !!!not-base64"), 407),
        ("no credentials after the scheme", line("Basic"), 407),
        (
            "not utf-8",
            line(&format!("Basic {}", base64_of(&[0xff, 0xfe, b':', b'x']))),
            407,
        ),
        ("user with a colon", line(&basic("ci:ci-secret:extra")), 407),
        ("name with a space", line(&basic(" ci:ci-secret")), 407),
        ("unicode name", line(&basic("çî:ci-secret")), 407),
        ("name differing in case", line(&basic("CI:ci-secret")), 407),
        ("empty password", line(&basic("ci:")), 407),
        ("no password at all", line(&basic("ci")), 407),
        ("password prefix", line(&basic("ci:ci-secre")), 407),
        ("password with more", line(&basic("ci:ci-secretX")), 407),
        (
            "very long name",
            line(&basic(&format!("{long_user}:x"))),
            407,
        ),
        (
            "two headers, right one first",
            format!("{}{}", line(&basic("ci:ci-secret")), line(&basic("ci:x"))),
            407,
        ),
        (
            "two headers, right one last",
            format!("{}{}", line(&basic(":")), line(&basic("ci:ci-secret"))),
            407,
        ),
    ];
    for (what, auth, want) in &attempts {
        let (connect, answer) = inside(&kp, auth, CHAT).await;
        assert_eq!(connect.status, *want, "{what}: {}", connect.head);
        if *want == 407 {
            assert!(connect.body.contains("fix:"), "{what}: {}", connect.body);
            assert!(
                connect.body.len() < 1024,
                "{what}: the answer repeats what it was sent"
            );
            assert!(!connect.body.contains("ci-secret"), "{what}");
        } else {
            let answer = answer.unwrap();
            assert_eq!(
                answer.header("x-keypool-account"),
                Some("shared-key"),
                "{what}"
            );
        }
    }
    // Scheme names are case-insensitive (RFC 9110): these are the real thing.
    for scheme in ["basic", "BASIC"] {
        let auth = line(&basic("ci:ci-secret").replacen("Basic", scheme, 1));
        let (_, answer) = inside(&kp, &auth, CHAT).await;
        assert_eq!(
            answer.unwrap().header("x-keypool-account"),
            Some("work-key"),
            "{scheme}"
        );
    }
    let work = fake
        .credentials_seen()
        .iter()
        .filter(|c| *c == "sk-work")
        .count();
    assert_eq!(work, 2, "only the two real logins used the guarded pool");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn crlf_and_bare_cr_injection_is_refused() {
    let (_ca, fake, kp) = start().await;
    let bad: [&[u8]; 8] = [
        b"CONNECT api.openai.com:443\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT api.openai.com%0d%0aX-Injected:%201:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT api.openai.com\r:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT evil\".example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://evil%0d%0a.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\rX-Injected: 1\r\n\r\n",
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-A: a\rProxy-Authorization: x\r\n\r\n",
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-A: a\r\n folded: b\r\n\r\n",
    ];
    for req in bad {
        let a = exchange(kp.addr(), req).await;
        assert_eq!(
            a.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(req),
            a.head
        );
    }
    // The same inside an intercepted tunnel: refused before anything goes upstream.
    let inner: [&[u8]; 3] = [
        b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nX-A: a\rInjected: b\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\rX: y\r\n\r\n",
        b"GET /v1/models\r\nX: y HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
    ];
    for req in inner {
        let (_, a) = inside(&kp, "", req).await;
        assert_eq!(a.unwrap().status, 400, "{:?}", String::from_utf8_lossy(req));
    }
    assert!(
        fake.seen().is_empty(),
        "{:?}",
        fake.seen().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_request_inside_a_tunnel_goes_to_the_tunnels_host_or_nowhere() {
    let (_ca, fake, kp) = start().await;
    let cases: [(&str, &[u8], u16); 8] = [
        (
            "nested CONNECT",
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
            400,
        ),
        (
            "nested CONNECT to a provider",
            b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n",
            400,
        ),
        (
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
            400,
        ),
        (
            "absolute URI, other host",
            b"GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
            421,
        ),
        (
            "absolute URI, other port",
            b"GET https://api.openai.com:8443/v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
            421,
        ),
        (
            "Host for another host",
            b"GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            421,
        ),
        (
            "Host with another port",
            b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com:8443\r\n\r\n",
            421,
        ),
        (
            "two Host headers",
            b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nHost: evil.example\r\n\r\n",
            421,
        ),
    ];
    for (what, req, want) in cases {
        let (_, a) = inside(&kp, "", req).await;
        let a = a.unwrap();
        assert_eq!(a.status, want, "{what}: {} {}", a.head, a.body);
        assert!(a.body.contains("fix:"), "{what}: {}", a.body);
    }
    assert!(fake.seen().is_empty(), "nothing went upstream");
    // What the tunnel is for still works, in origin and absolute form.
    let (_, a) = inside(&kp, "", CHAT).await;
    assert_eq!(a.unwrap().status, 200);
    let abs = b"POST https://API.openai.com/v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let (_, a) = inside(&kp, "", abs).await;
    assert_eq!(a.unwrap().status, 200);
    assert_eq!(fake.seen().len(), 2);
}
