//! `GET /_keypool/status` and `keypool status` report what the pipeline did: each
//! account's state, request count and last error.

use crate::support;
use support::scenario::Scenario;

use serde_json::{json, Value};
use support::guard::Within;
use support::keypool::{status_command, status_json};

#[tokio::test]
async fn status_matches_what_the_pipeline_did() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-limited", 120)
        .ok(&["sk-good"])
        .keys("openai", &[("limited", "sk-limited"), ("good", "sk-good")]);
    // Owned, for the shutdown at the end.
    let kp = s.start().await.kp;
    let fake = s.fake();
    for _ in 0..3 {
        let r = kp
            .client()
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-placeholder")
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
            .within("the answer to a chat request")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // 3 requests: 'limited' got at most one (then cooled), 'good' served all three.
    let sent_to = |cred: &str| {
        fake.credentials_seen()
            .iter()
            .filter(|c| *c == cred)
            .count() as u64
    };

    let v = status_json(kp.addr()).await;
    let pool = &v["pools"][0];
    assert_eq!(pool["name"], "openai");
    assert_eq!(pool["strategy"], "headroom");
    let acct = |n: &str| {
        pool["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap()
            .clone()
    };
    let (limited, good) = (acct("limited"), acct("good"));
    assert_eq!(limited["requests"], sent_to("sk-limited"));
    assert_eq!(good["requests"], sent_to("sk-good"));
    assert_eq!(good["requests"], 3);
    assert_eq!(limited["state"], "cooling");
    assert_eq!(limited["last_error"]["detail"], "429 rate_limit_exceeded");
    assert_eq!(good["state"], "ok");
    assert_eq!(good["last_error"], Value::Null);
    // Learned passively from the answers' x-ratelimit-* headers (499 of 500 requests left).
    let tightest = &good["tightest"];
    assert_eq!(tightest["name"], "requests");
    assert_eq!(tightest["limit"], 500);
    assert_eq!(tightest["remaining"], 499);
    let u = tightest["utilization"].as_f64().unwrap();
    assert!((u - 0.002).abs() < 1e-9, "{u}");
    assert!(tightest["resets_at"].as_u64().unwrap() > v["now"].as_u64().unwrap());

    // The command prints the same data as a table.
    let dir = tempfile::tempdir().unwrap();
    let what = "`keypool status` against the running proxy";
    let out = status_command(dir.path(), kp.addr(), what).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |n: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {n} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("limited").contains("cooling") && row("limited").contains("429 rate_limit_exceeded"),
        "{text}"
    );
    assert!(
        row("good").contains(" ok ") && row("good").contains(" 3 "),
        "{text}"
    );
    assert!(
        !text.contains("sk-limited") && !text.contains("sk-good"),
        "{text}"
    );

    // Nothing listening: a clear error and exit 1.
    let addr = kp.addr();
    kp.proxy.shutdown().within("keypool's shutdown drain").await;
    let what = "`keypool status` with nothing listening";
    let out = status_command(dir.path(), addr, what).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keypool is not running at"));
}
