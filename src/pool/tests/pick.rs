//! Picking an account: strategies, kinds and paths, learned windows, the refusal.

use super::*;

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
fn a_request_keeps_its_kind_unless_the_pool_mixes_kinds() {
    let p = mixed(false);
    let msgs = "/v1/messages";
    assert!(p.eligible(0, Some(Kind::ApiKey), msgs));
    assert!(
        !p.eligible(1, Some(Kind::ApiKey), msgs),
        "a key request on a login"
    );
    assert!(
        !p.eligible(0, Some(Kind::OAuth), msgs),
        "a login request on a key"
    );
    assert!(p.eligible(1, Some(Kind::OAuth), msgs));
    assert!(p.eligible(0, None, msgs) && p.eligible(1, None, msgs));

    let p = mixed(true);
    assert!(p.eligible(1, Some(Kind::ApiKey), msgs));
    assert!(p.eligible(0, Some(Kind::OAuth), msgs));
}

#[test]
fn an_account_serves_only_paths_its_kind_swaps() {
    // Claude Code's telemetry is outside the Messages API: neither kind swaps it.
    let telemetry = "/api/event_logging/batch";
    // A key serves all of /v1/; a login only the inference calls.
    let models = "/v1/models";
    for mix in [false, true] {
        let p = mixed(mix);
        assert!(!p.eligible(0, Some(Kind::ApiKey), telemetry), "mix {mix}");
        assert!(!p.eligible(1, Some(Kind::OAuth), telemetry), "mix {mix}");
        assert!(!p.serves(Some(Kind::ApiKey), telemetry), "mix {mix}");
        assert!(!p.serves(None, telemetry), "mix {mix}");
        assert!(p.eligible(0, Some(Kind::ApiKey), models), "mix {mix}");
        assert!(!p.eligible(1, Some(Kind::OAuth), models), "mix {mix}");
    }
    let p = mixed(false);
    assert!(p.serves(Some(Kind::ApiKey), models));
    assert!(!p.serves(Some(Kind::OAuth), models));
    assert!(p.serves(Some(Kind::OAuth), "/v1/messages"));
}

#[test]
fn a_round_robin_pool_rotates_through_its_accounts() {
    let mut text = String::new();
    for i in 0..3 {
        text +=
            &format!("[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"k{i}\"\n");
    }
    text +=
        "[[pools]]\nname = \"rr\"\nprovider = \"openai\"\naccounts = [\"a0\", \"a1\", \"a2\"]\n\
             strategy = \"round-robin\"\n";
    let ps = pools(&text);
    let p = ps.by_name("rr").unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let picked: Vec<usize> = (0..6)
        .map(|_| {
            p.pick(&[], now, None, "/v1/chat/completions", None)
                .unwrap()
                .0
        })
        .collect();
    assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn the_refusal_names_each_accounts_state_and_the_first_to_free() {
    let p = pool(&["k0", "k1", "k2", "k3"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let said = |verdict, secs| Outcome {
        ending: None,
        verdict,
        reset_in: Some(Duration::from_secs(secs)),
        detail: "limited".into(),
    };
    p.mark(0, &said(Verdict::Exhausted, 300), now);
    p.mark(1, &said(Verdict::Overloaded, 20), now);
    p.mark(2, &said(Verdict::RateLimited, 45), now);
    let u = p
        .pick(&[3], now, None, "/v1/chat/completions", None)
        .unwrap_err();
    assert_eq!(u.first_free_in, Some(Duration::from_secs(20)));
    assert_eq!(
        u.summary,
        "a0 (quota exhausted, frees in 300s), a1 (overloaded, frees in 20s), \
         a2 (rate-limited, frees in 45s), a3 (tried)"
    );
}

#[test]
fn a_refusal_is_counted_and_remembered_a_success_is_not() {
    let ps = pools("[[accounts]]\nname = \"a0\"\nprovider = \"openai\"\napi_key = \"k0\"\n");
    let p = ps.for_provider("openai").unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let ok = Outcome {
        ending: None,
        verdict: Verdict::Ok,
        reset_in: None,
        detail: "200".into(),
    };
    let before = ps.generation();
    p.mark(0, &ok, now);
    assert_eq!(ps.generation(), before, "a success changes no health");
    assert_eq!(p.members[0].stats.last_error(), None);
    assert_eq!(p.members[0].health(now), Health::Ok);

    p.mark(0, &limited(30), now);
    assert!(ps.generation() > before, "a 429 is a health change to save");
    assert_eq!(
        p.members[0].stats.last_error(),
        Some((now, "429".to_string()))
    );
}

#[test]
fn a_model_scoped_window_does_not_count_against_the_account() {
    let p = pool(&["k0", "k1"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let later = now + Duration::from_secs(3600);
    // a0's weekly Opus limit is used up, its account-wide window almost empty.
    p.members[0].learn(vec![
        window("7d-opus", Some("opus"), 1.0, later),
        window("5h", None, 0.1, later),
    ]);
    p.members[1].learn(vec![window("5h", None, 0.5, later)]);
    let (idx, _) = p
        .pick(&[], now, None, "/v1/chat/completions", None)
        .unwrap();
    assert_eq!(idx, 0, "headroom weighs a0 at 0.1, not at its Opus 1.0");
}

#[test]
fn a_window_resetting_now_does_not_hide_a_full_one() {
    let p = pool(&["k0", "k1"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    // a0's token window resets this instant; its 5-hour window stays near full.
    p.members[0].learn(vec![
        window("5h", None, 0.97, now + Duration::from_secs(3600)),
        window("tokens", None, 1.0, now),
    ]);
    p.members[1].learn(vec![window(
        "5h",
        None,
        0.5,
        now + Duration::from_secs(3600),
    )]);
    let (idx, _) = p
        .pick(&[], now, None, "/v1/chat/completions", None)
        .unwrap();
    assert_eq!(idx, 1, "a0 is at 0.97, above the soft threshold");
}
