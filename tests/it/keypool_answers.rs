//! keypool's own answers count what the request did: the 429 for a pool whose accounts
//! are all limited says how many sends it took to find out.

use crate::support;

use serde_json::json;
use support::fake::{Behaviour, FakeProvider};
use support::guard::Within;
use support::keypool::Keypool;
use support::TestCa;

#[tokio::test]
async fn every_account_limited_answers_with_the_real_attempt_count() {
    let ca = TestCa::new();
    let fake = FakeProvider::start(&ca, &["api.openai.com"]).await;
    let accounts = concat!(
        "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n",
        "[[accounts]]\nname = \"b\"\nprovider = \"openai\"\napi_key = \"sk-b\"\n",
    );
    let kp = Keypool::start(accounts, &fake, &ca).await;
    for key in ["sk-a", "sk-b"] {
        let limited = Behaviour::RateLimited {
            retry_after_secs: Some(30),
        };
        fake.set(key, limited);
    }
    let client = kp.client();
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    // The first request tries both accounts; the second knows both are cooling.
    for (round, sent) in [(0, "2"), (1, "0")] {
        let r = client
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-client")
            .json(&chat)
            .send()
            .within(&format!("keypool's 429 in round {round}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "round {round}");
        assert_eq!(r.headers()["x-keypool-attempts"], sent, "round {round}");
    }
    assert_eq!(fake.credentials_seen(), vec!["sk-a", "sk-b"]);
}
