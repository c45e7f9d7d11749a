//! One client connection carries many requests, across a reload too: a CONNECT tunnel,
//! one TLS session inside it and one HTTP/1.1 connection on that, with no reconnecting
//! client in between to hide a connection keypool closed after its first answer.

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use support::guard::Within;
use support::keypool::{connect_at, key_account, tls_connect};
use support::scenario::Scenario;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One chat completion on `sender`'s connection; its account.
async fn chat(sender: &mut Sender, turn: &str) -> String {
    sender
        .ready()
        .within(turn)
        .await
        .unwrap_or_else(|e| panic!("{turn}: the connection is gone: {e}"));
    let body = json!({"model": "gpt-4o", "messages": []}).to_string();
    let req = http::Request::post("/v1/chat/completions")
        .header("host", "api.openai.com")
        .header("authorization", "Bearer sk-placeholder")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let r = sender
        .send_request(req)
        .within(turn)
        .await
        .unwrap_or_else(|e| panic!("{turn}: not answered on the same connection: {e}"));
    assert_eq!(r.status(), 200, "{turn}");
    assert!(
        r.headers().get("connection").is_none_or(|v| v != "close"),
        "{turn}: keypool announced it closes the connection"
    );
    let account = r.headers()["x-keypool-account"]
        .to_str()
        .unwrap()
        .to_string();
    r.into_body().collect().within(turn).await.unwrap();
    account
}

#[tokio::test]
async fn one_connection_serves_request_after_request_across_a_reload() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a", "sk-b"])
        .accounts(&key_account("a", "openai", "sk-a"))
        .reloadable();
    let mut kp = s.start().await;
    let fake = s.fake();
    let addr = kp.addr();
    let pem = kp.ca_pem();

    let tcp = connect_at(addr, "api.openai.com:443")
        .within("the CONNECT answer")
        .await;
    let tls = tls_connect(tcp, "api.openai.com", &pem)
        .within("the TLS handshake")
        .await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .within("the HTTP/1.1 handshake")
        .await
        .unwrap();
    let conn = tokio::spawn(conn);

    assert_eq!(chat(&mut sender, "the first request").await, "a");
    assert_eq!(chat(&mut sender, "the second request").await, "a");

    // Only 'b' now: the reload is seen by requests on the connection opened before it.
    kp.rewrite_accounts(&key_account("b", "openai", "sk-b"));
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/_keypool/reload"))
        .header("content-type", "application/json")
        .send()
        .within("the reload")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(
        chat(&mut sender, "the first request after the reload").await,
        "b"
    );
    assert_eq!(
        chat(&mut sender, "the second request after the reload").await,
        "b"
    );
    assert!(!conn.is_finished(), "the client connection is still open");
    assert_eq!(fake.seen().len(), 4, "four requests, all answered");

    drop(sender);
    conn.within("the client connection to end")
        .await
        .unwrap()
        .expect("a clean end");
    kp.kp.proxy.shutdown().within("the shutdown").await;
}
