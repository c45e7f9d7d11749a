//! Pools: picking, marking, learned quota, saved state.

use super::*;
use crate::config::Config;
use crate::oauth::store::Store;
use crate::persist::{self, AccountState, Persisted, SavedHealth};
use crate::quota::Window;
use crate::test_logs::logs_of;
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
                cause: Cause::Provider {
                    verdict: Verdict::RateLimited,
                    detail: "429".into(),
                },
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
    assert!(matches!(
        p.members[1].health(now),
        Health::Disabled { ref reason } if reason.contains("KEYPOOL_TEST_UNSET_FOR_POOL")
    ));
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

/// Anthropic pool: key account `k0` and subscription login `o1` (no tokens stored, so
/// disabled; eligibility does not look at health).
fn mixed(mix_kinds: bool) -> Arc<Pool> {
    let text = format!(
        "[[accounts]]\nname = \"k0\"\nprovider = \"anthropic\"\napi_key = \"k0\"\n\
         [[accounts]]\nname = \"o1\"\nprovider = \"anthropic\"\noauth = \"stored\"\n\
         [[pools]]\nname = \"p\"\nprovider = \"anthropic\"\naccounts = [\"k0\", \"o1\"]\n\
         mix_kinds = {mix_kinds}\n"
    );
    let c = Config::parse(&text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    Pools::build(&c, &store).by_name("p").unwrap().clone()
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

fn pools(text: &str) -> Pools {
    let c = Config::parse(text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Pools::build(&c, &Store::at(dir.path().join("credentials.json")))
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
fn a_refusal_is_counted_and_remembered_a_success_is_not() {
    let ps = pools("[[accounts]]\nname = \"a0\"\nprovider = \"openai\"\napi_key = \"k0\"\n");
    let p = ps.for_provider("openai").unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let ok = Outcome {
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
fn a_rejected_key_is_reported_once_when_it_is_disabled() {
    let p = pool(&["sk-test-rejected"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let rejected = Outcome {
        verdict: Verdict::AuthFailed,
        reset_in: None,
        detail: "401 invalid_api_key".into(),
    };
    let logs = logs_of(|| p.mark(0, &rejected, now));
    let again = logs_of(|| p.mark(0, &rejected, now));
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("account disabled"))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(
        lines[0].contains("a0") && lines[0].contains("fix api_key"),
        "{logs}"
    );
    assert!(!logs.contains("sk-test-rejected"), "{logs}");
    assert!(!again.contains("account disabled"), "{again}");
    assert!(matches!(p.members[0].health(now), Health::Disabled { .. }));
}

#[test]
fn the_refusal_names_each_accounts_state_and_the_first_to_free() {
    let p = pool(&["k0", "k1", "k2", "k3"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let said = |verdict, secs| Outcome {
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

fn keys_config(keys: &[&str]) -> Config {
    let mut text = String::new();
    for (i, k) in keys.iter().enumerate() {
        text +=
            &format!("[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n");
    }
    Config::parse(&text, Path::new("t.toml")).unwrap()
}

#[test]
fn a_reload_keeps_what_was_learned_with_the_same_credential_and_counts_always() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    // `rebuild` reads the wall clock: cooldowns here must outlast the test.
    let now = SystemTime::now();
    let old = Pools::build(&keys_config(&["k0", "k1"]), &store);
    let p = old.for_provider("openai").unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
    h.insert("x-ratelimit-remaining-requests", "40".parse().unwrap());
    h.insert("x-ratelimit-reset-requests", "1h".parse().unwrap());
    for a in &p.members {
        a.stats.sent();
        a.stats.sent();
        a.learn(crate::quota::learn(
            crate::providers::Dialect::Openai,
            &h,
            now,
        ));
    }
    p.mark(0, &limited(600), now);
    p.mark(1, &limited(600), now);
    let generation = old.generation();

    // a0 keeps its key, a1's key changed, a2 is new.
    let new = Pools::rebuild(&keys_config(&["k0", "k1-new", "k2"]), &store, &old);
    let q = new.for_provider("openai").unwrap();
    assert!(matches!(q.members[0].health(now), Health::Cooling { .. }));
    assert_eq!(q.members[0].quota(now).len(), 1, "learned quota kept");
    assert_eq!(
        q.members[1].health(now),
        Health::Ok,
        "a new key starts clean"
    );
    assert!(q.members[1].quota(now).is_empty());
    for (i, want) in [(0, 2), (1, 2), (2, 0)] {
        assert_eq!(q.members[i].stats.requests(), want, "a{i}'s request count");
    }
    assert_eq!(
        q.members[1].stats.last_error().map(|e| e.1),
        Some("429".into())
    );
    assert_eq!(q.members[2].stats.last_error(), None);
    q.mark(2, &limited(5), now);
    assert!(
        new.generation() > generation,
        "the change count goes on from the old pools'"
    );
}

#[test]
fn a_login_that_cannot_refresh_is_disabled_and_stays_so() {
    let ps = pools("[[accounts]]\nname = \"a0\"\nprovider = \"openai\"\napi_key = \"k0\"\n");
    let p = ps.for_provider("openai").unwrap();
    let a = &p.members[0];
    let now = SystemTime::now();
    let before = ps.generation();
    let logs = logs_of(|| a.disable("needs login: refresh token revoked".into()));
    let again = logs_of(|| a.disable("needs login: refresh token revoked".into()));
    assert_eq!(
        a.health(now),
        Health::Disabled {
            reason: "needs login: refresh token revoked".into()
        }
    );
    assert!(ps.generation() > before);
    assert_eq!(
        a.stats.last_error().map(|e| e.1).as_deref(),
        Some("needs login: refresh token revoked")
    );
    assert_eq!(logs.matches("account disabled").count(), 1, "{logs}");
    assert!(!again.contains("account disabled"), "{again}");
    // A token endpoint failing later does not bring it back as merely cooling.
    a.cool(Duration::from_secs(30), now, "token endpoint 503".into());
    assert!(matches!(a.health(now), Health::Disabled { .. }));
}

#[test]
fn a_failing_token_endpoint_sits_the_account_out_for_a_while() {
    let ps = pools("[[accounts]]\nname = \"a0\"\nprovider = \"openai\"\napi_key = \"k0\"\n");
    let p = ps.for_provider("openai").unwrap();
    let a = &p.members[0];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let before = ps.generation();
    a.cool(Duration::from_secs(30), now, "token endpoint 503".into());
    assert!(ps.generation() > before);
    assert_eq!(
        a.stats.last_error(),
        Some((now, "token endpoint 503".to_string()))
    );
    assert_eq!(
        a.health(now + Duration::from_secs(29)),
        Health::Cooling {
            until: now + Duration::from_secs(30),
            cause: Cause::TokenEndpoint {
                reason: "token endpoint 503".into()
            }
        }
    );
    assert_eq!(a.health(now + Duration::from_secs(30)), Health::Ok);
}

fn window(name: &str, scope: Option<&str>, utilization: f64, resets_at: SystemTime) -> Window {
    Window {
        name: name.into(),
        scope: scope.map(Into::into),
        limit: None,
        remaining: None,
        utilization: Some(utilization),
        resets_at: Some(resets_at),
        status: None,
        minutes: None,
    }
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

#[test]
fn an_answer_updates_the_windows_it_names_and_keeps_the_others() {
    let p = pool(&["k0"]);
    let a = &p.members[0];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let later = now + Duration::from_secs(3600);
    a.learn(vec![
        window("5h", None, 0.2, later),
        window("7d", None, 0.3, later),
        window("7d", Some("opus"), 0.9, later),
    ]);
    // The next answer names only the account-wide 7d window.
    a.learn(vec![window("7d", None, 0.4, later)]);
    a.learn(Vec::new());
    let mut got: Vec<(String, Option<String>, Option<f64>)> = a
        .quota(now)
        .into_iter()
        .map(|w| (w.name, w.scope, w.utilization))
        .collect();
    got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(
        got,
        [
            ("5h".to_string(), None, Some(0.2)),
            ("7d".to_string(), None, Some(0.4)),
            ("7d".to_string(), Some("opus".to_string()), Some(0.9)),
        ]
    );
}

#[test]
fn an_upstream_inventing_window_names_cannot_grow_an_account_without_end() {
    let p = pool(&["k0"]);
    let a = &p.members[0];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let later = now + Duration::from_secs(3600);
    for i in 0..100 {
        a.learn(vec![window(&format!("dim-{i}"), None, 0.1, later)]);
    }
    let q = a.quota(now);
    assert_eq!(q.len(), 64, "the cap on distinct windows");
    // A window already known is still updated at the cap.
    a.learn(vec![window("dim-0", None, 0.7, later)]);
    let q = a.quota(now);
    assert_eq!(q.len(), 64);
    assert_eq!(
        q.iter().find(|w| w.name == "dim-0").unwrap().utilization,
        Some(0.7)
    );
}

#[test]
fn a_restart_keeps_why_each_account_is_cooling() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let config = keys_config(&["k0", "k1", "k2", "k3"]);
    let before = Pools::build(&config, &store);
    let p = before.for_provider("openai").unwrap();
    let verdicts = [
        Verdict::Exhausted,
        Verdict::Overloaded,
        Verdict::RateLimited,
    ];
    for (i, verdict) in verdicts.into_iter().enumerate() {
        let outcome = Outcome {
            verdict,
            reset_in: Some(Duration::from_secs(600)),
            detail: format!("said {i}"),
        };
        p.mark(i, &outcome, now);
    }
    // a3 is not cooling but learned a window; a window that reset is not kept.
    let later = now + Duration::from_secs(3600);
    p.members[3].learn(vec![window("5h", None, 0.4, later)]);
    p.members[3].learn(vec![window("1m", None, 0.9, now)]);
    let saved = before.snapshot(now);
    assert_eq!(saved.accounts.len(), 4);

    let after = Pools::build(&config, &store);
    after.restore(&saved, now + Duration::from_secs(1));
    let q = after.for_provider("openai").unwrap();
    for (i, verdict) in verdicts.into_iter().enumerate() {
        assert_eq!(q.members[i].health(now), p.members[i].health(now), "a{i}");
        assert!(
            matches!(
                q.members[i].health(now),
                Health::Cooling { cause: Cause::Provider { verdict: v, .. }, .. } if v == verdict
            ),
            "a{i}"
        );
    }
    assert_eq!(q.members[3].health(now), Health::Ok);
    let kept: Vec<(String, Option<f64>)> = q.members[3]
        .quota(now)
        .into_iter()
        .map(|w| (w.name, w.utilization))
        .collect();
    assert_eq!(kept, [("5h".to_string(), Some(0.4))]);
    // Nothing cooling and nothing learned: nothing saved.
    let fresh = Pools::build(&config, &store);
    assert!(fresh.snapshot(now).accounts.is_empty());
}

/// A token endpoint's outage is told apart from a provider's verdict: the client's
/// summary says so, and a restart brings the same cause back.
#[test]
fn a_token_endpoint_outage_is_named_as_such_and_kept_across_a_restart() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let config = keys_config(&["k0", "k1"]);
    let before = Pools::build(&config, &store);
    let p = before.for_provider("openai").unwrap();
    p.members[0].cool(
        Duration::from_secs(30),
        now,
        "token URL answered 503".into(),
    );
    let overloaded = Outcome {
        verdict: Verdict::Overloaded,
        reset_in: Some(Duration::from_secs(20)),
        detail: "529".into(),
    };
    p.mark(1, &overloaded, now);
    let u = p
        .pick(&[], now, None, "/v1/chat/completions", None)
        .unwrap_err();
    assert_eq!(
        u.summary,
        "a0 (token endpoint unavailable (token URL answered 503), frees in 30s), \
         a1 (overloaded, frees in 20s)"
    );
    let token_endpoint = Health::Cooling {
        until: now + Duration::from_secs(30),
        cause: Cause::TokenEndpoint {
            reason: "token URL answered 503".into(),
        },
    };
    assert_eq!(p.members[0].health(now), token_endpoint);

    let saved = before.snapshot(now);
    let text = serde_json::to_string(&saved).unwrap();
    let after = Pools::build(&config, &store);
    after.restore(&serde_json::from_str(&text).unwrap(), now);
    let q = after.for_provider("openai").unwrap();
    assert_eq!(q.members[0].health(now), token_endpoint);
    assert_eq!(q.members[1].health(now), p.members[1].health(now));
}

/// Fallbacks are resolved to the pools' places in `Pools::all` once, when the pools are
/// built, in the order the config names them.
#[test]
fn fallbacks_are_indices_into_the_pools_in_config_order() {
    let mut text = String::new();
    for a in ["a", "b", "c"] {
        text +=
            &format!("[[accounts]]\nname = \"{a}\"\nprovider = \"openai\"\napi_key = \"k{a}\"\n");
    }
    for (name, acct, fallback) in [
        ("work", "a", "\"spare\", \"personal\""),
        ("personal", "b", "\"spare\""),
        ("spare", "c", ""),
    ] {
        text += &format!(
            "[[pools]]\nname = \"{name}\"\nprovider = \"openai\"\naccounts = [\"{acct}\"]\n\
             fallback = [{fallback}]\n"
        );
    }
    let ps = pools(&text);
    let names: Vec<&str> = ps.all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["work", "personal", "spare"]);
    let fallback = |name: &str| ps.by_name(name).unwrap().fallback.clone();
    assert_eq!(fallback("work"), [2, 1]);
    assert_eq!(fallback("personal"), [2]);
    assert!(fallback("spare").is_empty());
}
