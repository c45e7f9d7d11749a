//! A quota probe of a Kimi subscription that a 402 about the membership took out: while
//! the membership is still lapsed the probe fails (the usage endpoint answers the same
//! 402) and the account stays out with its rule; once renewed, the next probe works and
//! brings the account back, its windows learned from that probe.

use super::{account, refusal, MEMBERSHIP};
use crate::support::fake::usage::KIMI_WEEK_USED;
use crate::support::fake::KIMI_HOST;
use crate::support::guard::Within;
use crate::support::keypool::status_json;
use crate::support::scenario::Scenario;
use crate::support::{Behaviour, Flavor};
use keypool::clock::ManualClock;
use keypool::probes::Prober;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

/// kimi-cli logged in, through keypool: a subscription request (its own opaque token).
async fn kimi_login_message(client: &reqwest::Client) -> reqwest::Response {
    client
        .post("https://api.kimi.com/coding/v1/messages")
        .bearer_auth("kimi-client-own-token")
        .header("x-msh-device-id", "c11e47c11e47c11e47c11e47c11e47c1")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "kimi-for-coding", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("a Kimi subscription request through keypool")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_probe_that_works_brings_back_an_ended_kimi_login_and_a_failing_one_does_not() {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = Scenario::new().provider(&[KIMI_HOST]).await;
    let mut s = s.oauth().await.clock(clock);
    let oauth = s.oauth_server();
    let (lapsed_id, fine_id) = (
        oauth.identity(Flavor::Kimi, "lapsed"),
        oauth.identity(Flavor::Kimi, "fine"),
    );
    let lapsed = s.stored_login("lapsed", "kimi-coding", &lapsed_id, HOUR);
    s.stored_login("fine", "kimi-coding", &fine_id, HOUR);
    s.fake().set(&lapsed.access, refusal(MEMBERSHIP));
    let kp = s.start().await;

    let r = kimi_login_message(&kp.client()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "fine");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    let status = status_json(kp.addr()).await;
    assert_eq!(account(&status, "lapsed")["terminal"], "kimi-membership");

    // Still lapsed: the usage endpoint refuses the token as the API did.
    let prober = Prober::default();
    let round = prober.round(kp.state()).within("a probe round").await;
    assert_eq!((round.sent, round.failed), (2, 1), "{round:?}");
    let usages = |token: &str| {
        (s.fake().seen().iter())
            .filter(|r| r.path == "/coding/v1/usages")
            .filter(|r| r.credential.as_deref() == Some(token))
            .count()
    };
    assert_eq!(usages(&lapsed.access), 1, "the ended account was probed");
    let status = status_json(kp.addr()).await;
    let a = account(&status, "lapsed");
    assert_eq!(
        a["state"], "disabled",
        "a failing probe changes nothing: {a}"
    );
    assert_eq!(a["terminal"], "kimi-membership");
    assert!(a["detail"].as_str().unwrap().contains("fix: renew"), "{a}");

    // Renewed: the next probe (a minute on) works and the account is back.
    s.fake().set(&lapsed.access, Behaviour::Ok);
    s.manual_clock().advance(Duration::from_secs(61));
    let round = prober.round(kp.state()).within("a probe round").await;
    assert_eq!((round.sent, round.failed), (2, 0), "{round:?}");
    assert_eq!(usages(&lapsed.access), 2);
    let status = status_json(kp.addr()).await;
    let a = account(&status, "lapsed");
    assert_eq!(a["state"], "ok", "{a}");
    assert!(a.get("terminal").is_none(), "{a}");
    let (used, limit) = KIMI_WEEK_USED;
    let week = (a["windows"].as_array().unwrap().iter())
        .find(|w| w["name"] == "7d")
        .unwrap_or_else(|| panic!("no 7d window in {a}"));
    assert_eq!(week["source"], "probe");
    assert_eq!(week["limit"], limit);
    assert_eq!(week["remaining"], limit - used);
    // Its probe named the account's device, as every Kimi call does.
    let probe = (s.fake().seen().into_iter())
        .filter(|r| r.path == "/coding/v1/usages")
        .find(|r| r.credential.as_deref() == Some(lapsed.access.as_str()))
        .unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kp.home_path("credentials.json")).unwrap()).unwrap();
    let device = saved["accounts"]["lapsed"]["device_id"].as_str().unwrap();
    assert_eq!(probe.headers["x-msh-device-id"], device);
}
