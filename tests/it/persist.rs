//! `state.json`: cooldowns survive a restart (without the keys), and a corrupt file is
//! moved aside instead of stopping keypool.

use crate::support;
use support::scenario::Scenario;

use support::keypool::Keypool;
use support::Behaviour;

const ACCOUNTS: &str = "[[accounts]]\nname = \"limited\"\nprovider = \"openai\"\napi_key = \"sk-limited\"\n\
                        [[accounts]]\nname = \"good\"\nprovider = \"openai\"\napi_key = \"sk-good\"\n";

async fn chat(kp: &Keypool) -> reqwest::Response {
    support::keypool::openai_chat(&kp.client()).await
}

#[tokio::test]
async fn a_cooldown_survives_a_restart() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let fake = s.fake();
    fake.set(
        "sk-limited",
        Behaviour::RateLimited {
            retry_after_secs: Some(3600),
        },
    );
    fake.set("sk-good", Behaviour::Ok);
    let mut s = s.config(ACCOUNTS);
    let kp = s.start().await;
    let fake = s.fake();
    // Round-robin reaches 'limited' within two requests.
    for _ in 0..2 {
        assert_eq!(chat(&kp).await.status(), 200);
    }
    let tried = |cred: &str| {
        fake.credentials_seen()
            .iter()
            .filter(|c| *c == cred)
            .count()
    };
    assert_eq!(tried("sk-limited"), 1);

    let kp = kp.restart().await;
    let saved = std::fs::read_to_string(kp.home_path("state.json")).unwrap();
    assert!(
        saved.contains("\"limited\"") && saved.contains("cooling"),
        "{saved}"
    );
    assert!(
        !saved.contains("sk-limited") && !saved.contains("sk-good"),
        "{saved}"
    );
    for _ in 0..4 {
        let r = chat(&kp).await;
        assert_eq!(r.headers()["x-keypool-account"], "good");
        assert_eq!(r.headers()["x-keypool-attempts"], "1");
    }
    assert_eq!(
        tried("sk-limited"),
        1,
        "not sent back into a known limit after the restart"
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_moved_aside() {
    let s = Scenario::new().provider(&["api.openai.com"]).await;
    let fake = s.fake();
    fake.set("sk-limited", Behaviour::Ok);
    fake.set("sk-good", Behaviour::Ok);
    let mut b = s.config(ACCOUNTS);
    b.home_file("state.json", "{\"accounts\": {\"good\": [truncated");
    let kp = b.start().await;
    assert_eq!(chat(&kp).await.status(), 200);
    let names: Vec<String> = std::fs::read_dir(kp.home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("state.json.corrupt-")),
        "{names:?}"
    );
}
