//! Pools: picking, marking, learned quota, saved state.

use super::*;
use crate::config::Config;
use crate::oauth::store::Store;
use crate::persist::{self, AccountState, Persisted, SavedHealth};
use std::path::Path;

fn pool(keys: &[&str]) -> Arc<Pool> {
    let mut text = String::new();
    for (i, k) in keys.iter().enumerate() {
        text +=
            &format!("[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n");
    }
    let c = Config::parse(&text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    Pools::build(&c, &store)
        .for_provider("openai")
        .unwrap()
        .clone()
}

fn limited(secs: u64) -> Outcome {
    Outcome {
        verdict: Verdict::RateLimited,
        reset_in: Some(Duration::from_secs(secs)),
        detail: "429".into(),
    }
}

#[test]
fn round_robin_skips_tried_and_cooling_until_reset() {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
    let p = pool(&["k0", "k1"]);
    let (first, _) = p
        .pick(&[], clock.now(), None, "/v1/chat/completions", None)
        .unwrap();
    let (second, _) = p
        .pick(&[first], clock.now(), None, "/v1/chat/completions", None)
        .unwrap();
    assert_ne!(first, second);
    assert!(p
        .pick(&[0, 1], clock.now(), None, "/v1/chat/completions", None)
        .is_err());

    p.mark(0, &limited(30), clock.now());
    for _ in 0..4 {
        assert_eq!(
            p.pick(&[], clock.now(), None, "/v1/chat/completions", None)
                .unwrap()
                .0,
            1,
            "a cooling account is skipped"
        );
    }
    p.mark(1, &limited(90), clock.now());
    let u = p
        .pick(&[], clock.now(), None, "/v1/chat/completions", None)
        .unwrap_err();
    assert_eq!(u.first_free_in, Some(Duration::from_secs(30)));
    assert!(
        u.summary.contains("a0 (rate-limited, frees in 30s)"),
        "{}",
        u.summary
    );

    clock.advance(Duration::from_secs(30));
    assert_eq!(
        p.pick(&[], clock.now(), None, "/v1/chat/completions", None)
            .unwrap()
            .0,
        0,
        "usable again once its reset passed"
    );
}

#[test]
fn headroom_picks_the_account_with_the_most_quota_left() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let p = pool(&["k0", "k1", "k2"]);
    assert_eq!(p.strategy, Strategy::Headroom);
    let remaining = |n: &str| {
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
        h.insert("x-ratelimit-remaining-requests", n.parse().unwrap());
        h.insert("x-ratelimit-reset-requests", "1m0s".parse().unwrap());
        crate::quota::learn(crate::providers::Dialect::Openai, &h, now)
    };
    p.members[0].learn(remaining("10"));
    p.members[1].learn(remaining("80"));
    p.members[2].learn(remaining("50"));
    for _ in 0..3 {
        assert_eq!(
            p.pick(&[], now, None, "/v1/chat/completions", None)
                .unwrap()
                .0,
            1
        );
    }
    assert_eq!(
        p.pick(&[1], now, None, "/v1/chat/completions", None)
            .unwrap()
            .0,
        2
    );
    // A conversation's account wins while it is usable.
    assert_eq!(
        p.pick(&[], now, None, "/v1/chat/completions", Some("a0"))
            .unwrap()
            .0,
        0
    );
    assert_eq!(
        p.pick(&[0], now, None, "/v1/chat/completions", Some("a0"))
            .unwrap()
            .0,
        1
    );
}

#[test]
fn a_cooldown_ends_at_a_learned_reset_never_later() {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
    let p = pool(&["k0", "k1"]);
    let mut h = http::HeaderMap::new();
    h.insert("x-ratelimit-limit-requests", "500".parse().unwrap());
    h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
    h.insert("x-ratelimit-reset-requests", "20s".parse().unwrap());
    p.members[0].learn(crate::quota::learn(
        crate::providers::Dialect::Openai,
        &h,
        clock.now(),
    ));
    // A 429 that names no wait would cool for the default 60 s.
    let no_wait = Outcome {
        verdict: Verdict::RateLimited,
        reset_in: None,
        detail: "429".into(),
    };
    p.mark(0, &no_wait, clock.now());
    clock.advance(Duration::from_secs(20));
    assert_eq!(p.members[0].health(clock.now()), Health::Ok);
    assert!(
        p.members[0].quota(clock.now()).is_empty(),
        "the window reset"
    );
}

#[test]
fn saved_state_applies_only_to_the_same_credential() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let before = pool(&["k0", "k1"]);
    before.mark(0, &limited(600), now);
    before.mark(
        1,
        &Outcome {
            verdict: Verdict::AuthFailed,
            reset_in: None,
            detail: "401 invalid_api_key".into(),
        },
        now,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let build = |keys: &[&str]| {
        let mut text = String::new();
        for (i, k) in keys.iter().enumerate() {
            text += &format!(
                "[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n"
            );
        }
        Pools::build(&Config::parse(&text, Path::new("t.toml")).unwrap(), &store)
    };
    let mut snapshot = Persisted::default();
    for (i, a) in before.members.iter().enumerate() {
        let credential = a.fingerprint().unwrap();
        let health = match a.health(now) {
            Health::Cooling { until, .. } => SavedHealth::Cooling {
                until: persist::epoch_secs(until),
                verdict: "rate_limited".into(),
                detail: "429".into(),
            },
            Health::Disabled { reason } => SavedHealth::Disabled { reason },
            Health::Ok => unreachable!(),
        };
        snapshot.accounts.insert(
            format!("a{i}"),
            AccountState {
                credential,
                health: Some(health),
                quota: Vec::new(),
            },
        );
    }

    let same = build(&["k0", "k1"]);
    same.restore(&snapshot, now);
    let p = same.for_provider("openai").unwrap();
    assert!(matches!(p.members[0].health(now), Health::Cooling { .. }));
    assert!(matches!(p.members[1].health(now), Health::Disabled { .. }));
    assert_eq!(same.snapshot(now).accounts.len(), 2);

    // A fixed key (a1) starts clean; an ended cooldown is not restored.
    let fixed = build(&["k0", "k1-new"]);
    fixed.restore(&snapshot, now + Duration::from_secs(601));
    let p = fixed.for_provider("openai").unwrap();
    assert_eq!(p.members[0].health(now), Health::Ok);
    assert_eq!(p.members[1].health(now), Health::Ok);
}

#[test]
fn auth_failure_disables_and_a_bad_key_source_is_reported() {
    let p = pool(&["k0", "env:KEYPOOL_TEST_UNSET_FOR_POOL"]);
    let now = SystemTime::now();
    assert!(
        matches!(p.members[1].health(now), Health::Disabled { ref reason } if reason.contains("KEYPOOL_TEST_UNSET_FOR_POOL"))
    );
    p.mark(
        0,
        &Outcome {
            verdict: Verdict::AuthFailed,
            reset_in: None,
            detail: "401 invalid_api_key".into(),
        },
        now,
    );
    let u = p
        .pick(
            &[],
            now + Duration::from_secs(86400),
            None,
            "/v1/chat/completions",
            None,
        )
        .unwrap_err();
    assert_eq!(u.first_free_in, None);
}
