//! Kimi For Coding's device login against a fake auth.kimi.com: its HTTP 400 answers
//! (pending, slow_down, invalid_grant, expired_token) read by their bodies, the pace kept
//! (with `KEYPOOL_TEST_DEVICE_SECOND_MS` shrinking the protocol's seconds), the device
//! headers on every call, and the device id stored with the account.

use super::{blocks, stored_block, stored_secrets};
use crate::support::scenario::Scenario;
use crate::support::DeviceAnswer;
use std::time::Duration;

/// One protocol second lasts this many milliseconds in these tests.
const SECOND_MS: u64 = 20;
const FAST: [(&str, &str); 1] = [("KEYPOOL_TEST_DEVICE_SECOND_MS", "20")];

#[tokio::test(flavor = "multi_thread")]
async fn kimi_device_login_reads_400s_by_their_body_and_keeps_the_device() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    fake.set_device_interval(5);
    fake.device_script(vec![
        DeviceAnswer::Pending,
        DeviceAnswer::Pending,
        DeviceAnswer::SlowDown { interval: 0 },
        DeviceAnswer::Grant,
    ]);
    let mut login = m.login_env(fake, &["kimi-coding"], "true", "debug", &FAST);
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert_eq!(
        shown,
        "Open https://www.kimi.com/code/authorize_device?user_code=KIMI-2468 in a browser and \
        enter the code KIMI-2468"
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains("added account 'kimi'"),
        "{}",
        ended.output()
    );
    let polls = fake.device_polls();
    assert_eq!(polls.len(), 4, "one poll per scripted answer");
    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1] - w[0]).collect();
    let ms = Duration::from_millis;
    assert!(
        gaps[0] >= ms(5 * SECOND_MS) && gaps[1] >= ms(5 * SECOND_MS),
        "{gaps:?}"
    );
    assert!(
        gaps[2] >= ms(10 * SECOND_MS),
        "slow_down adds 5 s: {gaps:?}"
    );

    let accounts = m.credentials();
    let entry = &accounts["kimi"];
    assert_eq!(entry["provider"], "kimi-coding");
    let device = entry["device_id"].as_str().expect("a device id is stored");
    assert_eq!(device.len(), 32);
    // Every call to auth.kimi.com named that device.
    let calls = fake.requests();
    assert!(calls.iter().all(|r| r.host == "auth.kimi.com"));
    for r in &calls {
        assert_eq!(r.headers["x-msh-device-id"], device, "{}", r.path);
        assert!(r.headers.contains_key("x-msh-platform"));
    }
    assert_eq!(blocks(&m.config()), [stored_block("kimi", "kimi-coding")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn kimi_invalid_grant_and_expired_token_end_the_login_clearly() {
    for (answer, words) in [
        (
            DeviceAnswer::Invalid,
            "refused the device code (invalid_grant)",
        ),
        (
            DeviceAnswer::Expired,
            "the code expired before it was entered",
        ),
        (DeviceAnswer::Denied, "cancelled in the browser"),
    ] {
        let s = Scenario::new().oauth().await;
        let (fake, m) = (s.oauth_server(), s.login_machine());
        fake.set_device_interval(1);
        fake.device_script(vec![DeviceAnswer::Pending, answer.clone()]);
        let login = m.login_env(fake, &["kimi-coding"], "true", "debug", &FAST);
        let ended = login.end().await;
        assert_eq!(ended.code, Some(1), "{answer:?}: {}", ended.output());
        assert!(
            ended.stderr.contains(words),
            "{answer:?}: {}",
            ended.output()
        );
        assert_eq!(
            fake.device_polls().len(),
            2,
            "{answer:?}: no poll after the end"
        );
        assert!(
            !m.config().contains("kimi-coding"),
            "{answer:?}: no account added"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_subscriptions_exit_2_with_the_reason() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    for (name, words) in [
        ("qwen", "free tier ended on 2026-04-15"),
        ("qwen-code", "free tier ended"),
        ("google-antigravity", "terms forbid third-party clients"),
        ("antigravity", "suspended"),
    ] {
        let ended = m.login(fake, &[name], "true").end().await;
        assert_eq!(ended.code, Some(2), "{name}: {}", ended.output());
        assert!(ended.stderr.contains(words), "{name}: {}", ended.output());
    }
    assert!(fake.requests().is_empty(), "nothing was asked of anyone");
}
