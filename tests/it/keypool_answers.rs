//! keypool's own answers count what the request did: the 429 for a pool whose accounts
//! are all limited says how many sends it took to find out.

use crate::support;

use serde_json::json;
use support::guard::Within;
use support::scenario::Scenario;

#[tokio::test]
async fn every_account_limited_answers_with_the_real_attempt_count() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-a", 30)
        .limited("sk-b", 30)
        .keys("openai", &[("a", "sk-a"), ("b", "sk-b")]);
    let kp = s.start().await;
    let fake = s.fake();
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
