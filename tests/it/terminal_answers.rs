//! Terminal answers (`providers/terminal.rs`) over real TLS: a Kimi 402 about the
//! membership takes that account out with its rule, reason and fix, the request is served
//! by the next account, the account is never tried again, and a reload brings it back;
//! a 402 without "membership" is passed to the client as it is. A probe that works brings
//! an ended account back (probe.rs); Cloud Code's Terms of Service ban (tos_ban.rs).

mod probe;
mod tos_ban;

use crate::support;
use serde_json::{json, Value};
use support::fake::Behaviour;
use support::guard::Within;
use support::keypool::status_json;
use support::scenario::{key_accounts, Scenario};

pub(crate) const MEMBERSHIP: &str = concat!(
    r#"{"type":"error","error":{"type":"permission_error","#,
    r#""message":"We're unable to verify your membership benefits"}}"#
);

pub(crate) fn refusal(body: &str) -> Behaviour {
    Behaviour::Verbatim {
        status: 402,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
    }
}

async fn messages(client: &reqwest::Client) -> reqwest::Response {
    client
        .post("https://api.kimi.com/coding/v1/messages")
        .header("x-api-key", "sk-kimi-client-placeholder")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "kimi-for-coding", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("a Kimi request through keypool")
        .await
        .unwrap()
}

pub(crate) fn account<'v>(status: &'v Value, name: &str) -> &'v Value {
    (status["pools"][0]["accounts"].as_array().unwrap().iter())
        .find(|a| a["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn a_membership_402_ends_the_accounts_turn_until_a_reload() {
    let (lapsed, fine) = ("sk-kimi-lapsed", "sk-kimi-fine");
    let accounts = key_accounts("kimi-coding", &[("lapsed", lapsed), ("fine", fine)]);
    let mut s = Scenario::new()
        .provider(&["api.kimi.com"])
        .await
        .behaviour(lapsed, refusal(MEMBERSHIP))
        .ok(&[fine])
        .accounts(&accounts)
        .reloadable();
    let mut kp = s.start().await;
    let client = kp.client();
    let r = messages(&client).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "fine");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");

    let status = status_json(kp.addr()).await;
    let a = account(&status, "lapsed");
    assert_eq!(a["state"], "disabled");
    assert_eq!(a["terminal"], "kimi-membership");
    let detail = a["detail"].as_str().unwrap();
    assert!(detail.contains("402 Kimi could not verify"), "{detail}");
    assert!(
        detail.contains("fix: renew the Kimi membership"),
        "{detail}"
    );
    assert!(!detail.contains(lapsed));

    // Never tried again on that account.
    for _ in 0..3 {
        let r = messages(&client).await;
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    let tried = |k: &str| {
        s.fake()
            .credentials_seen()
            .iter()
            .filter(|c| *c == k)
            .count()
    };
    assert_eq!(tried(lapsed), 1);

    // The membership renewed, a reload tries the account again.
    s.fake().set(lapsed, Behaviour::Ok);
    kp.rewrite_accounts(&accounts);
    let r = reqwest::Client::new()
        .post(format!("http://{}/_keypool/reload", kp.addr()))
        .header("content-type", "application/json")
        .send()
        .within("keypool's answer to POST /_keypool/reload")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = status_json(kp.addr()).await;
    assert_eq!(account(&after, "lapsed")["state"], "ok");
    assert!(account(&after, "lapsed").get("terminal").is_none());
}

#[tokio::test]
async fn a_402_without_membership_is_the_clients_answer() {
    let key = "sk-kimi-credits";
    let body =
        r#"{"type":"error","error":{"type":"billing_error","message":"credit balance too low"}}"#;
    let mut s = Scenario::new()
        .provider(&["api.kimi.com"])
        .await
        .behaviour(key, refusal(body))
        .config(&key_accounts("kimi-coding", &[("only", key)]));
    let kp = s.start().await;
    let r = messages(&kp.client()).await;
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["x-keypool-attempts"], "1");
    let status = status_json(kp.addr()).await;
    assert_eq!(account(&status, "only")["state"], "ok");
}
