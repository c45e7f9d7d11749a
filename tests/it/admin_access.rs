//! keypool's own pages and endpoints (`GET /`, `/_keypool/status`, `/_keypool/reload`)
//! against what a web page in the user's browser can send: a forged Host (DNS rebinding),
//! a cross-site Origin or Sec-Fetch-Site, a text/plain POST; and, once clients have
//! passwords, any caller without one. The CLI sends what they ask for.

use crate::support;
use support::scenario::Scenario;

use std::net::SocketAddr;
use support::raw_client::{basic, exchange, Answer};

const ONE_ACCOUNT: &str = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n";

async fn ask(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Answer {
    let req = format!(
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    exchange(addr, req.as_bytes()).await
}

#[tokio::test]
async fn forged_hosts_and_cross_site_requests_are_refused() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(ONE_ACCOUNT);
    let kp = s.start().await;
    let addr = kp.addr();
    let port = addr.port();
    let own = format!("Host: 127.0.0.1:{port}\r\n");

    // keypool's own addresses are served.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let a = ask(
            addr,
            "GET",
            "/_keypool/status",
            &format!("Host: {host}\r\n"),
        )
        .await;
        assert_eq!(a.status, 200, "{host}: {}", a.body);
    }
    let refused = |a: &Answer, what: &str| {
        assert!(
            a.status == 403 || a.status == 415,
            "{what}: {} {}",
            a.status,
            a.body
        );
        assert!(
            a.body.starts_with("keypool: ") && a.body.contains("fix:"),
            "{what}: {}",
            a.body
        );
        assert!(
            !a.body.contains("\"pools\"") && !a.body.contains("sk-a"),
            "{what}"
        );
    };
    for path in ["/", "/_keypool/status"] {
        for (what, headers) in [
            ("rebinding host", "Host: evil.example:8787\r\n".to_string()),
            (
                "rebinding host, right port",
                format!("Host: evil.example:{port}\r\n"),
            ),
            (
                "localhost subdomain",
                format!("Host: localhost.evil.example:{port}\r\n"),
            ),
            (
                "wrong port",
                format!("Host: 127.0.0.1:{}\r\n", port.wrapping_add(1)),
            ),
            ("no host", String::new()),
            ("two hosts", format!("{own}Host: evil.example\r\n")),
            (
                "cross-site origin",
                format!("{own}Origin: http://evil.example\r\n"),
            ),
            (
                "https origin",
                format!("{own}Origin: https://127.0.0.1:{port}\r\n"),
            ),
            ("null origin", format!("{own}Origin: null\r\n")),
            (
                "sec-fetch-site",
                format!("{own}Sec-Fetch-Site: cross-site\r\n"),
            ),
            (
                "same-site is not same-origin",
                format!("{own}Sec-Fetch-Site: same-site\r\n"),
            ),
        ] {
            refused(&ask(addr, "GET", path, &headers).await, what);
        }
    }
    // A page's same-origin request and a typed URL are fine.
    let a = ask(
        addr,
        "GET",
        "/",
        &format!("{own}Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = ask(addr, "GET", "/", &format!("{own}Sec-Fetch-Site: none\r\n")).await;
    assert_eq!(a.status, 200);

    // Reload: only application/json, which a page cannot send without a preflight.
    for ctype in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n",
    ] {
        let a = ask(addr, "POST", "/_keypool/reload", &format!("{own}{ctype}")).await;
        assert_eq!(a.status, 415, "{ctype:?}: {}", a.body);
        refused(&a, ctype);
    }
    // With the right type the request reaches reload (which has no file to read here).
    let a = ask(
        addr,
        "POST",
        "/_keypool/reload",
        &format!("{own}Content-Type: application/json; charset=utf-8\r\n"),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("\"reloaded\":false"), "{}", a.body);
    let a = ask(
        addr,
        "POST",
        "/_keypool/reload",
        &format!("{own}Content-Type: application/json\r\nOrigin: http://evil.example\r\n"),
    )
    .await;
    assert_eq!(a.status, 403);
}

const WITH_PASSWORD: &str = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n\
                             [clients.ci]\npools = [\"openai\"]\npassword = \"ci-secret\"\n\
                             [[accounts]]\nname = \"b\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-b\"\n\
                             [clients.laptop]\npools = [\"anthropic\"]\n";

#[tokio::test]
async fn once_clients_have_passwords_the_admin_endpoints_need_one() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(WITH_PASSWORD);
    let kp = s.start().await;
    let addr = kp.addr();
    let own = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    for (what, auth, want) in [
        ("nothing", String::new(), 401),
        (
            "no password",
            format!("Authorization: {}\r\n", basic("laptop:")),
            401,
        ),
        (
            "wrong password",
            format!("Authorization: {}\r\n", basic("ci:nope")),
            401,
        ),
        (
            "bearer",
            "Authorization: Bearer ci-secret\r\n".to_string(),
            401,
        ),
        (
            "two headers",
            format!(
                "Authorization: {}\r\nAuthorization: {}\r\n",
                basic("ci:ci-secret"),
                basic("ci:x")
            ),
            401,
        ),
        (
            "authorization",
            format!("Authorization: {}\r\n", basic("ci:ci-secret")),
            200,
        ),
        (
            "proxy-authorization",
            format!("Proxy-Authorization: {}\r\n", basic("ci:ci-secret")),
            200,
        ),
    ] {
        for path in ["/", "/_keypool/status"] {
            let a = ask(addr, "GET", path, &format!("{own}{auth}")).await;
            assert_eq!(a.status, want, "{what} {path}: {}", a.body);
            if want == 401 {
                assert!(a
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Basic")));
                assert!(
                    a.body.contains("fix:") && !a.body.contains("ci-secret"),
                    "{}",
                    a.body
                );
            }
        }
    }
    let a = ask(
        addr,
        "POST",
        "/_keypool/reload",
        &format!("{own}Content-Type: application/json\r\n"),
    )
    .await;
    assert_eq!(a.status, 401);

    // The CLI sends the first client's password from the config it reads.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let run = |text: String, args: &'static [&'static str]| {
        std::fs::write(&cfg, text).unwrap();
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"));
        c.env_clear()
            .env("KEYPOOL_HOME", dir.path())
            .arg("--config")
            .arg(&cfg)
            .args(args);
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(30), c.output())
                .await
                .expect("the command exits")
                .unwrap()
        }
    };
    let listen = format!("listen = \"{addr}\"\n");
    let status = |text: String| run(text, &["status", "--json"]);
    let out = status(format!("{listen}{WITH_PASSWORD}")).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pools"][0]["accounts"][0]["name"], "a");
    // `keypool reload` gets past the check too: the proxy answers (it was started without
    // a file to read again), not 401.
    let out = run(format!("{listen}{WITH_PASSWORD}"), &["reload"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("reload refused") && err.contains("without a config file"),
        "{err}"
    );
    // Without the password in its config the CLI says what refused it, not "not running".
    let out = status(listen).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keypool: keypool's pages and endpoints need") && err.contains("fix:"),
        "{err}"
    );
}
