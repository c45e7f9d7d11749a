//! Units, gaps and garbage, across the families.

use super::*;

#[test]
fn percents_and_fractions() {
    let codex = |v: &str| {
        learn_with(Dialect::Openai, &[("x-codex-primary-used-percent", v)])
            .first()
            .and_then(|w| w.utilization)
    };
    approx(codex("45"), 0.45);
    approx(codex("45%"), 0.45);
    approx(codex("0.5"), 0.005);
    approx(codex("104"), 1.04);
    let unified = |v: &str| {
        learn_with(
            Dialect::Anthropic,
            &[("anthropic-ratelimit-unified-5h-utilization", v)],
        )
        .first()
        .and_then(|w| w.utilization)
    };
    approx(unified("0.45"), 0.45);
    approx(unified(" 45 % "), 0.45);
    approx(unified("1.02"), 1.02);
    approx(unified("0"), 0.0);
}

#[test]
fn missing_pieces_leave_gaps() {
    // Remaining without a limit: no utilization, but an empty window still binds.
    let ws = learn_with(Dialect::Openai, &[("x-ratelimit-remaining-requests", "0")]);
    let w = get(&ws, "requests");
    assert_eq!((w.limit, w.utilization, w.resets_at), (None, None, None));
    assert_eq!(w.pressure(), Some(1.0));
    let ws = learn_with(Dialect::Openai, &[("x-ratelimit-remaining-requests", "7")]);
    assert_eq!(get(&ws, "requests").pressure(), None);
    // A limit alone.
    let ws = learn_with(Dialect::Openai, &[("x-ratelimit-limit-tokens", "30000")]);
    let w = get(&ws, "tokens");
    assert_eq!(
        (w.limit, w.remaining, w.utilization),
        (Some(30000), None, None)
    );
    // A limit of zero is used up; more remaining than the limit is empty, not negative.
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-requests", "0"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-limit-tokens", "100"),
            ("x-ratelimit-remaining-tokens", "250"),
        ],
    );
    approx(get(&ws, "requests").utilization, 1.0);
    approx(get(&ws, "tokens").utilization, 0.0);
    // A reset alone.
    let ws = learn_with(
        Dialect::Anthropic,
        &[("anthropic-ratelimit-unified-7d-reset", "1800345600")],
    );
    let w = get(&ws, "7d");
    assert_eq!((w.resets_at, w.utilization), (at(1_800_345_600), None));
}

#[test]
fn garbage_is_skipped_without_panicking() {
    let junk = [
        "",
        " ",
        "soon",
        "-5",
        "-1s",
        "NaN",
        "inf",
        "-inf",
        "1e400",
        "1e300",
        "1e30",
        "99999999999999999999999999",
        "6m0",
        "5x",
        "0x10",
        "1h2m3",
        "1.2.3s",
        "2027-13-45T99:00:00Z",
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "18446744073709551616",
        "💥",
    ];
    let names = [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-unified-status",
        "anthropic-ratelimit-unified-reset",
        "anthropic-ratelimit-unified-representative-claim",
        "anthropic-ratelimit-unified-5h-status",
        "anthropic-ratelimit-unified-5h-utilization",
        "anthropic-ratelimit-unified-5h-reset",
        "x-codex-primary-used-percent",
        "x-codex-primary-window-minutes",
        "x-codex-primary-reset-at",
        "x-codex-primary-reset-after-seconds",
        "x-codex-limit-name",
    ];
    for dialect in [
        Dialect::Openai,
        Dialect::Anthropic,
        Dialect::Google,
        Dialect::Openrouter,
    ] {
        for v in junk {
            let mut m = HeaderMap::new();
            for n in names {
                // Values a server can send but `to_str` rejects are skipped too.
                let value = HeaderValue::from_bytes(v.as_bytes()).unwrap();
                m.append(HeaderName::from_static(n), value);
            }
            for w in learn(dialect, &m, now()) {
                if let Some(u) = w.utilization {
                    assert!(u.is_finite() && u >= 0.0, "{v:?}: {w:#?}");
                }
            }
            // Far in the future too: no overflow.
            let late = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40);
            learn(dialect, &m, late);
        }
    }
    // Nothing usable at all: nothing learnt.
    for v in ["soon", "NaN", "inf", "-5"] {
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, v)).collect();
        let ws = learn_with(Dialect::Openai, &pairs);
        assert!(ws.is_empty(), "{v}: {ws:#?}");
    }
    let mut opaque = HeaderMap::new();
    opaque.insert(
        "anthropic-ratelimit-unified-5h-utilization",
        HeaderValue::from_bytes(b"0.5\xff").unwrap(),
    );
    assert!(learn(Dialect::Anthropic, &opaque, now()).is_empty());
}

#[test]
fn unrelated_headers_learn_nothing() {
    assert!(learn(Dialect::Openai, &HeaderMap::new(), now()).is_empty());
    let ws = learn_with(
        Dialect::Anthropic,
        &[
            ("content-type", "application/json"),
            ("x-request-id", "req_1"),
            ("x-should-retry", "false"),
            ("retry-after", "30"),
            ("anthropic-ratelimit-unified", "allowed"),
            ("anthropic-ratelimit-requests", "5"),
            ("anthropic-ratelimit--limit", "5"),
            ("anthropic-ratelimit-unified-5h", "0.5"),
            ("x-ratelimit-", "5"),
            ("x-ratelimit-burst-requests", "5"),
            ("x-primary-used-percent", "5"),
        ],
    );
    assert!(ws.is_empty(), "{ws:#?}");
}

#[test]
fn families_are_read_whatever_the_dialect() {
    // Anthropic-compatible endpoints (Kimi Coding) under another dialect, and the reverse.
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "25"),
        ],
    );
    approx(get(&ws, "requests").utilization, 0.5);
    let ws = learn_with(Dialect::Anthropic, &[("x-ratelimit-remaining-tokens", "0")]);
    assert_eq!(get(&ws, "tokens").remaining, Some(0));
}

#[test]
fn a_bare_reset_at_exactly_ten_to_the_nine_or_twelve_is_the_smaller_unit() {
    // "Above 10⁹" means epoch seconds and "above 10¹²" epoch milliseconds; the bounds
    // themselves read as seconds from now and as epoch seconds, both far off (clamped),
    // never as an instant in 2001.
    let far = Some(crate::bounds::after(now(), crate::bounds::MAX_HORIZON));
    for v in ["1000000000", "1000000000000"] {
        let ws = learn_with(
            Dialect::Anthropic,
            &[("anthropic-ratelimit-unified-reset", v)],
        );
        assert_eq!(get(&ws, "unified").resets_at, far, "{v}");
    }
}

/// Azure's Responses API answers `x-ratelimit-*-tokens: -1` (and no `retry-after`):
/// `-1` is "unknown", never a window with nothing left, nor a parse error that loses
/// the dimensions that did say something.
#[test]
fn minus_one_is_unknown_not_an_empty_window() {
    let windows = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "99"),
        ],
    );
    let names: Vec<&str> = windows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["requests"],
        "the -1 dimension says nothing: {windows:?}"
    );
    assert_eq!(windows[0].remaining, Some(99));
    let only_unknown = learn_with(
        Dialect::Openai,
        &[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
            ("x-ratelimit-remaining-requests", "-1"),
        ],
    );
    assert!(only_unknown.is_empty(), "{only_unknown:?}");
    let h = |pairs: &[(&'static str, &str)]| {
        let mut m = http::HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    };
    let now = std::time::SystemTime::now();
    let ms = crate::providers::parse_retry_after(&h(&[("retry-after-ms", "2500")]), now);
    assert_eq!(ms, Some(std::time::Duration::from_millis(2500)));
    let s = crate::providers::parse_retry_after(&h(&[("retry-after", "7")]), now);
    assert_eq!(s, Some(std::time::Duration::from_secs(7)));
}
