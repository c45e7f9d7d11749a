//! What an answer does to an account: cooldowns, disabling, learned windows.

use super::*;

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
        ending: None,
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
            ending: None,
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

#[test]
fn a_rejected_key_is_reported_once_when_it_is_disabled() {
    let p = pool(&["sk-test-rejected"]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let rejected = Outcome {
        ending: None,
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
