//! OpenAI, Groq, OpenRouter: `x-ratelimit-*`.

use super::*;

#[test]
fn openai_windows_with_go_duration_resets() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("x-request-id", "req_abc"),
            ("openai-processing-ms", "344"),
        ],
    );
    assert_eq!(ws.len(), 2, "{ws:#?}");
    let r = get(&ws, "requests");
    assert_eq!((r.limit, r.remaining), (Some(60), Some(59)));
    approx(r.utilization, 1.0 / 60.0);
    assert_eq!(r.resets_at, in_ms(1000));
    assert_eq!(
        (r.scope.as_deref(), r.status, r.minutes),
        (None, None, None)
    );
    let t = get(&ws, "tokens");
    approx(t.utilization, 16.0 / 150_000.0);
    assert_eq!(t.resets_at, in_ms(360_000));
}

#[test]
fn groq_windows_with_fractional_and_millisecond_resets() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-limit-tokens", "18000"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-reset-tokens", "12ms"),
            ("retry-after", "1"),
        ],
    );
    let r = get(&ws, "requests");
    assert_eq!(r.resets_at, in_ms(179_560));
    approx(r.utilization, 30.0 / 14400.0);
    let t = get(&ws, "tokens");
    assert_eq!(t.resets_at, in_ms(12));
    approx(t.utilization, 1.0);
    assert_eq!(tightest(&ws).unwrap().name, "tokens");
}

#[test]
fn any_x_ratelimit_suffix_is_a_window_of_its_own() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-tokens_usage_based", "40000"),
            ("x-ratelimit-remaining-tokens_usage_based", "10000"),
            ("x-ratelimit-reset-tokens_usage_based", "1m30s"),
            ("x-ratelimit-limit-requests-day", "14400"),
            ("x-ratelimit-remaining-requests-day", "14399"),
            // A bare number of seconds where a Go duration was expected.
            ("x-ratelimit-reset-requests-day", "33011.5"),
        ],
    );
    let u = get(&ws, "tokens_usage_based");
    approx(u.utilization, 0.75);
    assert_eq!(u.resets_at, in_ms(90_000));
    assert_eq!(get(&ws, "requests-day").resets_at, in_ms(33_011_500));
}

#[test]
fn openrouter_bare_family_resets_in_epoch_milliseconds() {
    let ws = learn_with(
        Dialect::Openrouter,
        &[
            ("X-RateLimit-Limit", "20"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1800000042000"),
        ],
    );
    assert_eq!(ws.len(), 1);
    let w = get(&ws, "requests");
    assert_eq!((w.limit, w.remaining), (Some(20), Some(0)));
    approx(w.utilization, 1.0);
    assert_eq!(w.resets_at, at(NOW_SECS + 42));
    // OpenRouter documents milliseconds, so a small value is still read as such.
    let ws = learn_with(Dialect::Openrouter, &[("x-ratelimit-reset", "42000")]);
    assert_eq!(get(&ws, "requests").resets_at, at(42));
}

#[test]
fn bare_reset_unit_is_told_by_magnitude() {
    let reset = |v: &str| {
        let ws = learn_with(Dialect::Openai, &[("x-ratelimit-reset", v)]);
        get(&ws, "ratelimit").resets_at
    };
    assert_eq!(reset("1800000042000"), at(NOW_SECS + 42)); // epoch ms
    assert_eq!(reset("1800000042"), at(NOW_SECS + 42)); // epoch s
    assert_eq!(reset("42"), at(NOW_SECS + 42)); // seconds from now
    assert_eq!(reset("1.5"), in_ms(1500));
    // `x-ratelimit-reset-after` (seconds) fills in when the bare reset is missing...
    let ws = learn_with(Dialect::Google, &[("x-ratelimit-reset-after", "30")]);
    assert_eq!(get(&ws, "ratelimit").resets_at, at(NOW_SECS + 30));
    // ...and yields to it otherwise, whichever header comes first.
    for pairs in [
        [
            ("x-ratelimit-reset-after", "30"),
            ("x-ratelimit-reset", "60"),
        ],
        [
            ("x-ratelimit-reset", "60"),
            ("x-ratelimit-reset-after", "30"),
        ],
    ] {
        let ws = learn_with(Dialect::Openai, &pairs);
        assert_eq!(ws.len(), 1, "{ws:#?}");
        assert_eq!(get(&ws, "ratelimit").resets_at, at(NOW_SECS + 60));
    }
}
