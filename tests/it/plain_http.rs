//! Absolute-form proxy requests (`http_proxy`): rotated when the host is a provider
//! served over plain HTTP, forwarded untouched otherwise.

use crate::support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::guard::{Within, CLIENT_TIMEOUT};
use support::keypool::Harness;
use support::scenario::Scenario;

/// A plain-HTTP OpenAI-compatible server: `Bearer plain-a` is rate-limited.
async fn plain_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let auth = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    log.lock().unwrap().push(auth.clone());
                    let resp = if auth == "Bearer plain-a" {
                        http::Response::builder()
                            .status(429)
                            .header("retry-after", "20")
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(
                                br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                            )))
                    } else {
                        http::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(format!(
                                r#"{{"path":"{}"}}"#,
                                req.uri().path()
                            ))))
                    };
                    async move { Ok::<_, Infallible>(resp.unwrap()) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn plain_http_provider_rotates_and_other_hosts_pass_through() {
    let (upstream, seen) = plain_upstream().await;
    let proxy = start_plain(
        upstream,
        "allow_http = true",
        "allow_private = [\"127.0.0.1\"]",
    )
    .await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{}", proxy.addr())).unwrap())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();

    let r = client
        .post("http://plain.internal.example/v1/chat/completions")
        .bearer_auth("client-key")
        .body("{}")
        .send()
        .within("the answer to the plain-HTTP chat request")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "b");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["Bearer plain-a", "Bearer plain-b"]
    );

    // Not a provider: forwarded once, the client's own credential untouched.
    let r = client
        .get(format!("http://127.0.0.1:{}/other", upstream.port()))
        .bearer_auth("client-key")
        .send()
        .within("the answer to the plain-HTTP request for a non-provider")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("x-keypool-account"));
    assert_eq!(
        r.text()
            .within("the body of the non-provider's answer")
            .await
            .unwrap(),
        r#"{"path":"/other"}"#
    );
    assert_eq!(seen.lock().unwrap().last().unwrap(), "Bearer client-key");
}

/// keypool with provider `plainllm` (with `extra` in its block; accounts `a`, which the
/// upstream rate-limits, and `b`) and an `openai` account, both hosts routed to
/// `upstream` on port 80; `upstream_extra` goes in `[upstream]`.
async fn start_plain(upstream: SocketAddr, extra: &str, upstream_extra: &str) -> Harness {
    let provider = format!(
        "[[providers]]\nid = \"plainllm\"\nhosts = [\"plain.internal.example\"]\n\
         auth = \"bearer\"\n{extra}\n"
    );
    let port = upstream.port();
    Scenario::new()
        .config(&provider)
        .keys("plainllm", &[("a", "plain-a"), ("b", "plain-b")])
        .keys("openai", &[("o", "sk-pooled-openai")])
        .connect_to([
            format!("plain.internal.example:80:127.0.0.1:{port}"),
            format!("api.openai.com:80:127.0.0.1:{port}"),
        ])
        .upstream_toml(upstream_extra)
        .start()
        .await
}

#[tokio::test]
async fn a_pooled_key_never_travels_over_plain_http_unless_the_provider_opts_in() {
    let (upstream, seen) = plain_upstream().await;
    let proxy = start_plain(upstream, "", "").await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{}", proxy.addr())).unwrap())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    for url in [
        // A [[providers]] entry without allow_http, and a built-in provider.
        "http://plain.internal.example/v1/chat/completions",
        "http://api.openai.com/v1/chat/completions",
        "http://API.OpenAI.com:80/v1/chat/completions",
    ] {
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client.post(url).bearer_auth("client-key").body("{}").send(),
        )
        .await
        .expect("keypool answers")
        .unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(!r.headers().contains_key("x-keypool-account"));
        let body = r
            .text()
            .within(&format!("the body of the 400 for {url}"))
            .await
            .unwrap();
        assert!(
            body.contains("plain HTTP") && body.contains("fix: use https://"),
            "{body}"
        );
        assert!(!body.contains("sk-pooled-openai") && !body.contains("plain-a"));
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the upstream saw nothing: {:?}",
        seen.lock().unwrap()
    );

    // With allow_http = true the same request goes out with the pooled keys: see
    // plain_http_provider_rotates_and_other_hosts_pass_through.
}
