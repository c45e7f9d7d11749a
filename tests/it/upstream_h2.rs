//! HTTP/2 towards providers: with `[upstream] http2 = "auto"` (the default) a provider
//! that offers `h2` gets small requests as streams of one HTTP/2 connection, while large
//! bodies (`large_body`, 256 KiB by default) and WebSocket handshakes go on HTTP/1.1
//! connections, so nothing small waits behind an upload in a shared window.

use crate::support;

use serde_json::json;
use support::fake::{Behaviour, FakeProvider};
use support::guard::Within;
use support::keypool::Keypool;
use support::scenario::{key_accounts, Scenario};

async fn setup(upstream: &str) -> (FakeProvider, Keypool) {
    let s = Scenario::new()
        .provider_h2(&["api.openai.com"])
        .await
        .config(&key_accounts("openai", &[("work", "sk-work")]))
        .upstream_toml(upstream);
    let (_ca, fake, kp) = s.start_parts().await;
    fake.set("sk-work", Behaviour::Ok);
    (fake, kp.kp)
}

/// A chat request whose body is about `size` bytes.
async fn chat(kp: &Keypool, path: &str, size: usize) -> reqwest::Response {
    let content = "x".repeat(size);
    kp.client()
        .post(format!("https://api.openai.com{path}"))
        .bearer_auth("sk-client")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}))
        .send()
        .within("keypool's answer")
        .await
        .unwrap()
}

fn last_version(fake: &FakeProvider) -> http::Version {
    fake.seen()
        .pop()
        .expect("a request reached the provider")
        .version
}

#[tokio::test]
async fn small_requests_go_over_http2_and_large_bodies_over_http1() {
    let (fake, kp) = setup("").await;
    let r = chat(&kp, "/v1/chat/completions", 100).await;
    assert_eq!(r.status(), 200);
    assert_eq!(last_version(&fake), http::Version::HTTP_2);
    assert_eq!(
        fake.seen().pop().unwrap().credential.as_deref(),
        Some("sk-work")
    );
    let r = chat(&kp, "/v1/chat/completions", 300 << 10).await;
    assert_eq!(r.status(), 200);
    assert_eq!(last_version(&fake), http::Version::HTTP_11);
    assert_eq!(
        fake.seen().pop().unwrap().credential.as_deref(),
        Some("sk-work")
    );
}

#[tokio::test]
async fn a_small_request_is_answered_while_an_upload_is_still_open() {
    let (fake, kp) = setup("large_body = \"64KiB\"\n").await;
    // The fake holds this answer open after its first event: the upload's connection
    // stays busy until the test releases it.
    let mut upload = chat(&kp, "/v1/held", 200 << 10).await;
    assert_eq!(upload.status(), 200);
    assert_eq!(last_version(&fake), http::Version::HTTP_11);
    upload
        .chunk()
        .within("the upload's first event")
        .await
        .unwrap();
    for _ in 0..3 {
        let r = chat(&kp, "/v1/chat/completions", 100).await;
        assert_eq!(r.status(), 200);
        assert_eq!(last_version(&fake), http::Version::HTTP_2);
        r.bytes()
            .within("a small answer while the upload is open")
            .await
            .unwrap();
    }
    fake.release_held();
    let rest = upload
        .text()
        .within("the end of the upload's answer")
        .await
        .unwrap();
    assert!(rest.contains("[DONE]"), "{rest}");
}

#[tokio::test]
async fn with_http2_off_every_request_is_http1() {
    let (fake, kp) = setup("http2 = \"off\"\n").await;
    let r = chat(&kp, "/v1/chat/completions", 100).await;
    assert_eq!(r.status(), 200);
    assert_eq!(last_version(&fake), http::Version::HTTP_11);
}

#[tokio::test]
async fn a_websocket_handshake_goes_over_http1_to_a_provider_offering_h2() {
    let (fake, kp) = setup("").await;
    let tls = kp.tls_through("api.openai.com", &kp.ca_pem()).await;
    let (mut ws, resp) = support::websocket::responses_over(tls, "sk-client").await;
    assert_eq!(resp.headers()["x-keypool-account"], "work");
    assert_eq!(last_version(&fake), http::Version::HTTP_11);
    let v = support::websocket::echo_of_response_create(&mut ws).await;
    assert_eq!(v["credential"], "sk-work");
}
