//! Idle HTTP/1.1 connections are parked: held as their bare stream between requests, and
//! served again from the client's next byte. Nothing a client sends across a park is
//! lost or split: the next request, a request begun with the one before it, a body in
//! two parts.

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use support::guard::Within;
use support::keypool::Harness;
use support::keypool::{key_account, tls_connect};
use support::raw_client::{exchange, read_answer};
use support::scenario::Scenario;
use tokio::io::AsyncWriteExt;

/// `keypool_open_parked` now. The scrape closes its connection, so it counts only
/// itself, and it is being served (not parked) while the page is rendered.
async fn parked(addr: SocketAddr) -> f64 {
    let req = format!("GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let answer = exchange(addr, req.as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    answer
        .body
        .lines()
        .find_map(|l| l.strip_prefix("keypool_open_parked "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no keypool_open_parked in\n{}", answer.body))
}

/// Scrapes until `keypool_open_parked` is `n`; fails the test when it never is.
async fn until_parked(addr: SocketAddr, n: f64, what: &str) {
    async {
        while parked(addr).await != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    .within(what)
    .await
}

/// keypool with `[limits] park_after` as given (`None`: the default, 1 s).
async fn start(park_after: Option<&str>) -> (Scenario, Harness) {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a"])
        .accounts(&key_account("a", "openai", "sk-a"));
    if let Some(after) = park_after {
        s = s.limits(&format!("park_after = \"{after}\""));
    }
    let kp = s.start().await;
    (s, kp)
}

fn chat_body(text: &str) -> String {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).to_string()
}

fn chat_head(body_len: usize) -> String {
    format!(
        concat!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: api.openai.com\r\n",
            "authorization: Bearer sk-placeholder\r\ncontent-type: application/json\r\n",
            "content-length: {}\r\n\r\n"
        ),
        body_len
    )
}

#[tokio::test]
async fn an_idle_connection_is_parked_and_its_next_request_is_served() {
    let (_s, kp) = start(None).await;
    let tls = kp.tls_through("api.openai.com", &kp.ca_pem()).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .within("the HTTP/1.1 handshake")
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let request = || {
        http::Request::post("/v1/chat/completions")
            .header("host", "api.openai.com")
            .header("authorization", "Bearer sk-placeholder")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(chat_body("hi"))))
            .unwrap()
    };

    for turn in ["the first request", "the request after a park"] {
        let r = sender.send_request(request()).within(turn).await.unwrap();
        assert_eq!(r.status(), 200, "{turn}");
        r.into_body().collect().within(turn).await.unwrap();
        until_parked(kp.addr(), 1.0, "the answered connection parked").await;
    }
    drop(sender);
    conn.within("the client closing").await.unwrap().unwrap();
    until_parked(kp.addr(), 0.0, "the closed connection no longer counted").await;
}

/// The second request's first bytes come with the first request: hyper holds them
/// unparsed when the first answer is out, and they go back in front of the stream. With
/// `park_after = "0s"` the connection is parked right after the first answer, with them.
#[tokio::test]
async fn a_request_begun_with_the_one_before_it_is_answered_whole() {
    let (s, kp) = start(Some("0s")).await;
    let mut tls = kp.tls_through("api.openai.com", &kp.ca_pem()).await;
    until_parked(
        kp.addr(),
        1.0,
        "the new connection parked before its first byte",
    )
    .await;

    let (one, two) = (chat_body("one"), chat_body("two"));
    let two = chat_head(two.len()) + &two;
    let (two_begins, two_rest) = two.split_at(20);
    let first = chat_head(one.len()) + &one + two_begins;
    tls.write_all(first.as_bytes())
        .within("writing")
        .await
        .unwrap();
    let answer = read_answer(&mut tls).await;
    assert_eq!(answer.status, 200, "one: {}", answer.head);
    tls.write_all(two_rest.as_bytes())
        .within("writing")
        .await
        .unwrap();
    let answer = read_answer(&mut tls).await;
    assert_eq!(answer.status, 200, "two: {}", answer.head);

    let bodies: Vec<Bytes> = s.fake().seen().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [Bytes::from(one), Bytes::from(chat_body("two"))]);
}

#[tokio::test]
async fn a_body_sent_in_two_parts_reaches_the_provider_whole() {
    let (s, kp) = start(None).await;
    let tcp = kp.connect("api.openai.com:443").await;
    let mut tls = tls_connect(tcp, "api.openai.com", &kp.ca_pem()).await;
    until_parked(kp.addr(), 1.0, "the new connection parked").await;

    let body = chat_body("split in two");
    let (first, rest) = body.split_at(body.len() / 2);
    let head_and_half = chat_head(body.len()) + first;
    tls.write_all(head_and_half.as_bytes())
        .within("writing")
        .await
        .unwrap();
    until_parked(kp.addr(), 0.0, "keypool reading the request").await;
    tls.write_all(rest.as_bytes())
        .within("writing")
        .await
        .unwrap();

    let answer = read_answer(&mut tls).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    let seen = s.fake().seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body.as_bytes());
}

/// Requests that switch protocols work with connections parked as soon as each answer
/// is out: the listener's CONNECT, then the WebSocket inside the tunnel. (The guard that
/// keeps such a connection out of parking closes a timing window this cannot force.)
#[tokio::test]
async fn a_websocket_works_with_connections_parked_at_once() {
    let (_s, kp) = start(Some("0s")).await;
    let tls = kp.tls_through("api.openai.com", &kp.ca_pem()).await;
    let (mut ws, resp) = support::websocket::responses_over(tls, "sk-placeholder").await;
    assert_eq!(resp.status(), 101);
    let v = support::websocket::echo_of_response_create(&mut ws).await;
    assert_eq!(v["credential"], "sk-a");
}
