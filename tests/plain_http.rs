//! Absolute-form proxy requests (`http_proxy`): rotated when the host is a provider
//! served over plain HTTP, forwarded untouched otherwise.

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    let home = tempfile::tempdir().unwrap();
    let text = format!(
        r#"listen = "127.0.0.1:0"
[[providers]]
id = "plainllm"
hosts = ["plain.internal.example"]
auth = "bearer"
[[accounts]]
name = "a"
provider = "plainllm"
api_key = "plain-a"
[[accounts]]
name = "b"
provider = "plainllm"
api_key = "plain-b"
[upstream]
connect_to = ["plain.internal.example:80:127.0.0.1:{}"]
"#,
        upstream.port()
    );
    let config = keypool::Config::parse(&text, Path::new("t.toml")).unwrap();
    let proxy = keypool::start(keypool::ProxyOptions::new(
        keypool::Home::at(home.path()),
        config,
    ))
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{}", proxy.addr())).unwrap())
        .build()
        .unwrap();

    let r = client
        .post("http://plain.internal.example/v1/chat/completions")
        .bearer_auth("client-key")
        .body("{}")
        .send()
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
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("x-keypool-account"));
    assert_eq!(r.text().await.unwrap(), r#"{"path":"/other"}"#);
    assert_eq!(seen.lock().unwrap().last().unwrap(), "Bearer client-key");
}
