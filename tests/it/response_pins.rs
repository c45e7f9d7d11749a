//! A request that continues a response (`previous_response_id`) keypool did not see
//! created: the account whose answer succeeded holds that state from then on, and a
//! continuation that failed binds it to no account.

use crate::support;

use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::Keypool;
use support::scenario::Scenario;
use support::{account_of, Behaviour};

/// Two OpenAI accounts, `a` and `b`, both answering well unless a test says otherwise.
async fn two_accounts() -> Scenario {
    Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a", "sk-b"])
        .keys("openai", &[("a", "sk-a"), ("b", "sk-b")])
}

fn key_of(account: &str) -> &'static str {
    if account == "a" {
        "sk-a"
    } else {
        "sk-b"
    }
}

async fn continue_from(kp: &Keypool, previous: &str) -> reqwest::Response {
    kp.client()
        .post("https://api.openai.com/v1/responses")
        .bearer_auth("sk-placeholder")
        .json(&json!({"model": "gpt-5", "input": "go on", "stream": true, "previous_response_id": previous}))
        .send()
        .within("the answer to a Responses continuation")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_continuation_answered_well_stays_with_the_account_that_answered() {
    let mut s = two_accounts().await;
    let kp = s.start().await;
    let fake = s.fake();

    let r = continue_from(&kp, "resp_made_before_keypool").await;
    assert_eq!(r.status(), 200);
    let holder = account_of(&r);
    fake.set(
        key_of(&holder),
        Behaviour::RateLimited {
            retry_after_secs: Some(120),
        },
    );
    let r = continue_from(&kp, "resp_made_before_keypool").await;
    assert_eq!(
        r.status(),
        429,
        "the state lives on '{holder}': another account would answer 400"
    );
    let body: Value = r
        .json()
        .within("the body of the 429 for the continuation")
        .await
        .unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("only account '{holder}' holds")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_continuation_that_failed_is_bound_to_no_account() {
    let mut s = two_accounts().await;
    let fake = s.fake();
    let not_found = Behaviour::Verbatim {
        status: 400,
        headers: vec![("content-type".into(), "application/json".into())],
        body: r#"{"error":{"message":"Previous response with id 'resp_gone' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}"#.into(),
    };
    fake.set("sk-a", not_found.clone());
    fake.set("sk-b", not_found);
    let kp = s.start().await;
    let fake = s.fake();

    let r = continue_from(&kp, "resp_gone").await;
    assert_eq!(r.status(), 400, "not about the account: passed on as it is");
    let tried = account_of(&r);
    let other = if tried == "a" { "b" } else { "a" };
    fake.set(
        key_of(&tried),
        Behaviour::RateLimited {
            retry_after_secs: Some(120),
        },
    );
    fake.set(key_of(other), Behaviour::Ok);
    let r = continue_from(&kp, "resp_gone").await;
    assert_eq!(
        r.status(),
        200,
        "'{tried}' never held the state, so its limit is not the client's"
    );
    assert_eq!(account_of(&r), other);
}
