//! An error answer whose body breaks off before its end: nothing reached the client, and
//! the connection, not the account, failed, so keypool tries the next account and, when
//! every one broke, says the connection broke (never that the body was too large).

use crate::support;
use support::scenario::Scenario;

use bytes::Bytes;
use serde_json::Value;
use support::fault::{wire, Script};
use support::guard::Within;

#[tokio::test]
async fn a_limit_whose_body_breaks_off_is_a_broken_connection_on_every_account() {
    let mut s = Scenario::new()
        .fault(&["api.openai.com"])
        .await
        .keys("openai", &[("a", "sk-a"), ("b", "sk-b")]);
    let kp = s.start().await;
    let fault = s.fault_server();
    let cut = Script::new()
        .send(wire::head(
            429,
            &[
                ("content-type", "application/json"),
                ("content-length", "400"),
            ],
        ))
        .send(Bytes::from_static(b"{\"error\":{\"message\":\"Rate limit"))
        .close();
    fault.set("sk-a", cut.clone());
    fault.set("sk-b", cut);
    let r = kp
        .client()
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-client")
        .json(&serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("keypool's answer after both error bodies broke off")
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        r.headers()["x-keypool-attempts"],
        "2",
        "both accounts tried"
    );
    let v: Value = r.json().within("the body of keypool's 502").await.unwrap();
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("broke the connection before its answer began"),
        "{m}"
    );
    assert!(
        m.contains("tried accounts a, b") || m.contains("tried accounts b, a"),
        "{m}"
    );
}
