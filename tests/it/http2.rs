//! HTTP/2 towards clients: keypool's minted leaf offers `h2` and `http/1.1` by ALPN, and
//! a connection speaks what the client chose, while the request upstream stays
//! HTTP/1.1 with the account's credential. The rest of the suite runs over HTTP/2 as well
//! (`KEYPOOL_TEST_HTTP=2`, see `support/client_http.rs`).

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::sync::Arc;
use support::fake::{Behaviour, FakeProvider};
use support::guard::Within;
use support::keypool::{client_config, Keypool};
use support::scenario::{key_accounts, Scenario};

async fn setup() -> (FakeProvider, Keypool) {
    let s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(&key_accounts("openai", &[("work", "sk-work")]));
    let (_ca, fake, kp) = s.start_parts().await;
    fake.set("sk-work", Behaviour::Ok);
    (fake, kp.kp)
}

/// reqwest through keypool offering both versions (ALPN then picks h2), or HTTP/1.1 only.
fn client(kp: &Keypool, both: bool) -> reqwest::Client {
    let b = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", kp.addr())).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(kp.ca_pem().as_bytes()).unwrap());
    let b = if both { b } else { b.http1_only() };
    b.build().unwrap()
}

fn chat() -> serde_json::Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn a_client_offering_both_gets_http2_and_the_provider_gets_the_accounts_key() {
    let (fake, kp) = setup().await;
    for (both, version) in [
        (true, reqwest::Version::HTTP_2),
        (false, reqwest::Version::HTTP_11),
    ] {
        let r = client(&kp, both)
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-client")
            .json(&chat())
            .send()
            .within("keypool's answer")
            .await
            .unwrap();
        assert_eq!(r.version(), version);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "work");
        let body: serde_json::Value = r.json().within("the answer's body").await.unwrap();
        assert_eq!(body["object"], "chat.completion", "{body}");
        let seen = fake.seen().pop().expect("the request reached the provider");
        assert_eq!(seen.credential.as_deref(), Some("sk-work"));
        // HTTP/2 has no Host header: keypool gives the provider one from the tunnel.
        assert_eq!(seen.host.as_deref(), Some("api.openai.com"));
    }
}

/// An HTTP/2 connection to keypool inside one CONNECT tunnel, ALPN `h2` only.
async fn h2_connection(kp: &Keypool) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let tcp = kp.connect("api.openai.com:443").await;
    let mut cfg = client_config(&kp.ca_pem());
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("api.openai.com").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .within("the TLS handshake with keypool")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .within("the HTTP/2 handshake with keypool")
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

#[tokio::test]
async fn many_requests_share_one_http2_connection_at_once() {
    let (fake, kp) = setup().await;
    let send = h2_connection(&kp).await;
    let body = serde_json::to_vec(&chat()).unwrap();
    let requests: Vec<_> = (0..32)
        .map(|_| {
            let mut send = send.clone();
            // The fake holds each of these streams open after its first event.
            let req = http::Request::post("https://api.openai.com/v1/held")
                .header("authorization", "Bearer sk-client")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap();
            tokio::spawn(async move { send.send_request(req).await })
        })
        .collect();
    // Every answer's head and first event come while all 32 streams are still open.
    let mut answers = Vec::new();
    for r in requests {
        let r = r
            .within("an answer's head on the shared connection")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), http::Version::HTTP_2);
        answers.push(r);
    }
    assert_eq!(fake.seen().len(), 32);
    fake.release_held();
    for r in answers {
        let bytes = r
            .into_body()
            .collect()
            .within("the rest of a held stream")
            .await
            .unwrap()
            .to_bytes();
        assert!(
            String::from_utf8_lossy(&bytes).contains("[DONE]"),
            "{bytes:?}"
        );
    }
    assert!(fake.credentials_seen().iter().all(|c| c == "sk-work"));
}

#[tokio::test]
async fn the_suites_clients_speak_the_http_this_run_asks_for() {
    let (_fake, kp) = setup().await;
    let r = support::keypool::openai_chat(&kp.client()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), support::client_http::expected_version());
}

#[tokio::test]
async fn a_websocket_over_http2_reaches_an_http1_upstream_with_the_swapped_key() {
    let s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(&key_accounts("openai", &[("a", "sk-a"), ("b", "sk-b")]));
    let (_ca, fake, kp) = s.start_parts().await;
    fake.set(
        "sk-a",
        Behaviour::RateLimited {
            retry_after_secs: Some(60),
        },
    );
    fake.set("sk-b", Behaviour::Ok);
    let mut send = h2_connection(&kp.kp).await;
    // The server's SETTINGS (which allow extended CONNECT) have arrived once an
    // ordinary request was answered.
    let models = http::Request::get("https://api.openai.com/v1/models")
        .header("authorization", "Bearer sk-client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send.send_request(models)
        .within("a first request")
        .await
        .unwrap();
    let mut connect = http::Request::connect("https://api.openai.com/v1/responses")
        .header("authorization", "Bearer sk-client")
        .header("openai-beta", "responses_websockets=2026-02-06")
        .header("sec-websocket-version", "13")
        .body(Full::new(Bytes::new()))
        .unwrap();
    connect
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = send
        .send_request(connect)
        .within("the answer to the extended CONNECT")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "RFC 8441 opens the stream with a 2xx");
    // `a` was found limited by the first request and sits out.
    assert_eq!(resp.headers()["x-keypool-account"], "b");
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    let stream = hyper::upgrade::on(resp)
        .within("the stream becoming the WebSocket")
        .await
        .unwrap();
    use tokio_tungstenite::tungstenite::protocol::Role;
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(stream),
        Role::Client,
        None,
    )
    .await;
    let v = support::websocket::echo_of_response_create(&mut ws).await;
    assert_eq!(
        v["credential"], "sk-b",
        "the swapped key, seen on the handshake"
    );
    let handshake = fake.seen().pop().unwrap();
    assert_eq!(handshake.method, "GET");
    assert_eq!(handshake.path, "/v1/responses");
}

#[tokio::test]
async fn streams_reset_one_after_another_each_cancel_their_upstream() {
    let (fake, kp) = setup().await;
    let flood = h2_connection(&kp).await;
    let body = serde_json::to_vec(&chat()).unwrap();
    const STREAMS: u64 = 100;
    // Each stream's answer begins, then the client resets the stream (drops it).
    for _ in 0..STREAMS {
        let mut send = flood.clone();
        let req = http::Request::post("https://api.openai.com/v1/endless")
            .header("authorization", "Bearer sk-client")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let r = send
            .send_request(req)
            .within("an endless stream's head")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        drop(r);
    }
    // keypool ends every one of them upstream: none is left streaming to nobody.
    let all_ended = async {
        while fake.disconnects() < STREAMS {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    all_ended
        .within("the provider seeing every reset stream's consumer go")
        .await;
    assert_eq!(fake.seen().len() as u64, STREAMS);
    // The connection and other clients are served as before.
    let r = support::keypool::openai_chat(&client(&kp, true)).await;
    assert_eq!(r.status(), 200);
}
