use super::*;
use crate::providers::Dialect;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

/// 2027-01-15T08:00:00Z.
const NOW_SECS: u64 = 1_800_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn at(epoch_secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(epoch_secs))
}

fn in_ms(ms: u64) -> Option<SystemTime> {
    Some(now() + Duration::from_millis(ms))
}

/// Header names as servers spell them (any case); `HeaderMap` lower-cases them.
fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn learn_with(dialect: Dialect, pairs: &[(&str, &str)]) -> Vec<Window> {
    learn(dialect, &h(pairs), now())
}

fn get<'a>(ws: &'a [Window], name: &str) -> &'a Window {
    ws.iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no window {name} in {ws:#?}"))
}

fn approx(a: Option<f64>, b: f64) {
    let a = a.expect("a utilization");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

// ---- OpenAI / Groq / OpenRouter: x-ratelimit-* ----

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

// ---- Anthropic API keys: anthropic-ratelimit-{dim}-* ----

#[test]
fn anthropic_api_windows_with_rfc3339_resets() {
    let ws = learn_with(
        Dialect::Anthropic,
        &[
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "3999"),
            ("anthropic-ratelimit-requests-reset", "2027-01-15T08:00:01Z"),
            ("anthropic-ratelimit-tokens-limit", "2800000"),
            ("anthropic-ratelimit-tokens-remaining", "2800000"),
            ("anthropic-ratelimit-tokens-reset", "2027-01-15T08:00:00Z"),
            ("anthropic-ratelimit-input-tokens-limit", "2000000"),
            ("anthropic-ratelimit-input-tokens-remaining", "1500000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2027-01-15T08:00:30.5+00:00",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "400000"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2027-01-15T09:00:12+01:00",
            ),
            ("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"),
            ("anthropic-organization-id", "0a1b2c"),
            ("retry-after", "12"),
        ],
    );
    let names: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["input-tokens", "output-tokens", "requests", "tokens"],
        "sorted by name"
    );
    assert_eq!(get(&ws, "requests").resets_at, at(NOW_SECS + 1));
    approx(get(&ws, "tokens").utilization, 0.0);
    let input = get(&ws, "input-tokens");
    approx(input.utilization, 0.25);
    assert_eq!(input.resets_at, in_ms(30_500));
    let output = get(&ws, "output-tokens");
    assert_eq!(output.resets_at, at(NOW_SECS + 12));
    assert_eq!(tightest(&ws).unwrap().name, "output-tokens");
}

// ---- Anthropic subscriptions: anthropic-ratelimit-unified-* ----

#[test]
fn unified_windows_with_scopes_lengths_and_statuses() {
    let ws = learn_with(
        Dialect::Anthropic,
        &[
            ("anthropic-ratelimit-unified-status", "allowed_warning"),
            ("anthropic-ratelimit-unified-reset", "1800003600"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "seven_day",
            ),
            ("anthropic-ratelimit-unified-5h-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.42"),
            ("anthropic-ratelimit-unified-5h-reset", "1800003600"),
            ("anthropic-ratelimit-unified-5h-surpassed-threshold", "0.9"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.91"),
            ("anthropic-ratelimit-unified-7d-reset", "1800345600"),
            ("anthropic-ratelimit-unified-7d_oi-status", "allowed"),
            ("anthropic-ratelimit-unified-7d_oi-utilization", "0.3"),
            ("anthropic-ratelimit-unified-7d_oi-reset", "1800345600"),
            ("anthropic-ratelimit-unified-7d-sonnet-status", "allowed"),
            ("anthropic-ratelimit-unified-7d-sonnet-utilization", "0.02"),
            ("anthropic-ratelimit-unified-7d-sonnet-reset", "1800345600"),
            ("anthropic-ratelimit-unified-7d-opus-status", "rejected"),
            ("anthropic-ratelimit-unified-7d-opus-utilization", "1.04"),
            ("anthropic-ratelimit-unified-7d-opus-reset", "1800172800"),
            ("anthropic-ratelimit-unified-fallback-percentage", "0.5"),
            ("anthropic-ratelimit-unified-overage-status", "rejected"),
            (
                "anthropic-ratelimit-unified-overage-disabled-reason",
                "out_of_credits",
            ),
            ("anthropic-ratelimit-unified-overage-utilization", "1.0"),
            ("anthropic-ratelimit-unified-overage-in-use", "false"),
            ("anthropic-ratelimit-unified-brand-new-thing", "7"),
        ],
    );
    let names: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["5h", "7d", "7d-opus", "7d-sonnet", "7d_oi"]);

    let five = get(&ws, "5h");
    approx(five.utilization, 0.42);
    assert_eq!(five.status, Some(WindowStatus::Allowed));
    assert_eq!(five.resets_at, at(1_800_003_600));
    assert_eq!((five.minutes, five.scope.as_deref()), (Some(300), None));
    assert_eq!((five.limit, five.remaining), (None, None));

    // The representative claim gets the account-wide status it lacked.
    let week = get(&ws, "7d");
    assert_eq!(week.status, Some(WindowStatus::AllowedWarning));
    assert_eq!(week.resets_at, at(1_800_345_600));
    assert_eq!(week.minutes, Some(7 * 24 * 60));

    let opus = get(&ws, "7d-opus");
    assert_eq!(opus.scope.as_deref(), Some("opus"));
    approx(opus.utilization, 1.04); // above 1.0 is kept
    assert_eq!(opus.status, Some(WindowStatus::Rejected));
    assert_eq!(opus.minutes, Some(10080));
    assert_eq!(get(&ws, "7d-sonnet").scope.as_deref(), Some("sonnet"));
    let oi = get(&ws, "7d_oi");
    assert_eq!((oi.scope.as_deref(), oi.minutes), (None, Some(10080)));

    assert_eq!(tightest(&ws).unwrap().name, "7d-opus");
    // A Sonnet request is bound by the account-wide weekly window instead.
    let sonnet: Vec<Window> = ws
        .iter()
        .filter(|w| w.scope.as_deref().is_none_or(|s| s == "sonnet"))
        .cloned()
        .collect();
    assert_eq!(tightest(&sonnet).unwrap().name, "7d");
}

#[test]
fn unified_account_wide_headers_alone() {
    // A 429 that carries only the account-wide headers: they land on the claimed window.
    let ws = learn_with(
        Dialect::Anthropic,
        &[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", "1800002094"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour",
            ),
            ("retry-after", "2094"),
        ],
    );
    assert_eq!(ws.len(), 1, "{ws:#?}");
    let w = get(&ws, "5h");
    assert_eq!(w.status, Some(WindowStatus::Rejected));
    assert_eq!(w.resets_at, at(1_800_002_094));
    assert_eq!(w.minutes, Some(300));
    assert_eq!(w.utilization, None);
    assert_eq!(w.pressure(), Some(1.0));

    // The window's own headers win over the account-wide ones.
    let ws = learn_with(
        Dialect::Anthropic,
        &[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", "1800002094"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "seven_day_opus",
            ),
            ("anthropic-ratelimit-unified-7d-opus-status", "allowed"),
            ("anthropic-ratelimit-unified-7d-opus-reset", "1800009999"),
        ],
    );
    let w = get(&ws, "7d-opus");
    assert_eq!(w.status, Some(WindowStatus::Allowed));
    assert_eq!(w.resets_at, at(1_800_009_999));

    // No claim, or one that is not a window: a `unified` window of its own.
    for claim in [None, Some("overage")] {
        let mut pairs = vec![
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-ratelimit-unified-reset", "1800002094"),
        ];
        pairs.extend(claim.map(|c| ("anthropic-ratelimit-unified-representative-claim", c)));
        let ws = learn_with(Dialect::Anthropic, &pairs);
        assert_eq!(ws.len(), 1, "{ws:#?}");
        let w = get(&ws, "unified");
        assert_eq!(w.status, Some(WindowStatus::Allowed));
        assert_eq!((w.minutes, w.scope.as_deref()), (None, None));
    }
    // A claim alone says nothing.
    let ws = learn_with(
        Dialect::Anthropic,
        &[(
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour",
        )],
    );
    assert!(ws.is_empty(), "{ws:#?}");
}

// ---- Codex: x-codex-primary-* / x-codex-secondary-* and per-limit families ----

#[test]
fn codex_windows_are_named_by_length_not_slot() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-primary-used-percent", "12.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1800003600"),
            ("x-codex-secondary-used-percent", "45"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-at", "1800345600"),
            ("x-codex-plan-type", "plus"),
            ("x-codex-credits-has-credits", "false"),
            ("x-codex-credits-unlimited", "false"),
            ("x-codex-credits-balance", "0"),
            ("x-codex-promo-message", "Upgrade to Pro"),
            ("x-codex-active-limit", "codex"),
        ],
    );
    assert_eq!(ws.len(), 2, "{ws:#?}");
    let five = get(&ws, "5h");
    approx(five.utilization, 0.125);
    assert_eq!(five.minutes, Some(300));
    assert_eq!(five.resets_at, at(1_800_003_600));
    assert_eq!(five.scope, None);
    let week = get(&ws, "7d");
    approx(week.utilization, 0.45);
    assert_eq!(week.resets_at, at(1_800_345_600));
    assert_eq!(tightest(&ws).unwrap().name, "7d");

    // Captures show the primary slot carrying the weekly window.
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-window-minutes", "10080"),
            ("x-codex-secondary-used-percent", "3"),
            ("x-codex-secondary-window-minutes", "90"),
        ],
    );
    approx(get(&ws, "7d").utilization, 1.0);
    approx(get(&ws, "90m").utilization, 0.03);
}

#[test]
fn codex_window_names_for_other_lengths() {
    let name = |minutes: Option<&str>| {
        let mut pairs = vec![("x-codex-secondary-used-percent", "1")];
        pairs.extend(minutes.map(|m| ("x-codex-secondary-window-minutes", m)));
        learn_with(Dialect::Openai, &pairs)[0].name.clone()
    };
    assert_eq!(name(Some("60")), "1h");
    assert_eq!(name(Some("1440")), "1d");
    assert_eq!(name(Some("45")), "45m");
    assert_eq!(name(None), "codex-secondary");
    assert_eq!(name(Some("0")), "codex-secondary");
    assert_eq!(name(Some("weekly")), "codex-secondary");
}

#[test]
fn codex_older_reset_after_seconds() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-primary-used-percent", "97"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-after-seconds", "1234"),
            ("x-codex-secondary-used-percent", "40"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-after-seconds", "500000"),
            ("x-codex-secondary-reset-at", "1800400000"),
            ("x-codex-primary-over-secondary-limit-percent", "0"),
            ("x-codex-rate-limit-reached-type", "primary"),
        ],
    );
    assert_eq!(ws.len(), 2, "{ws:#?}");
    assert_eq!(get(&ws, "5h").resets_at, at(NOW_SECS + 1234));
    // Both forms: the absolute one wins.
    assert_eq!(get(&ws, "7d").resets_at, at(1_800_400_000));
}

#[test]
fn codex_per_limit_families_are_scoped() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-primary-used-percent", "10"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-bengalfox-primary-used-percent", "80"),
            ("x-codex-bengalfox-primary-window-minutes", "300"),
            ("x-codex-bengalfox-primary-reset-at", "1800001800"),
            ("x-codex-bengalfox-secondary-used-percent", "20"),
            ("x-codex-bengalfox-secondary-window-minutes", "10080"),
            ("x-codex-bengalfox-limit-name", "gpt-5.2-codex-sonic"),
            // The limit `codex-secondary`, primary slot (as Codex itself parses it).
            ("x-codex-secondary-primary-used-percent", "55"),
            ("x-codex-secondary-primary-window-minutes", "1440"),
            ("x-codex-active-limit", "codex_bengalfox"),
        ],
    );
    assert_eq!(ws.len(), 4, "{ws:#?}");
    let scoped = |name: &str, scope: Option<&str>| {
        ws.iter()
            .find(|w| w.name == name && w.scope.as_deref() == scope)
            .unwrap_or_else(|| panic!("no {name} {scope:?} in {ws:#?}"))
    };
    approx(scoped("5h", None).utilization, 0.10);
    let sonic = scoped("5h", Some("gpt-5.2-codex-sonic"));
    approx(sonic.utilization, 0.80);
    assert_eq!(sonic.resets_at, at(1_800_001_800));
    approx(scoped("7d", Some("gpt-5.2-codex-sonic")).utilization, 0.20);
    approx(scoped("1d", Some("codex-secondary")).utilization, 0.55);
    assert_eq!(tightest(&ws).unwrap(), sonic);
}

#[test]
fn codex_window_needs_its_used_percent() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1800003600"),
            ("x-codex-secondary-used-percent", "lots"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-limit-name", ""),
            ("x--primary-used-percent", "5"),
        ],
    );
    assert!(ws.is_empty(), "{ws:#?}");
}

// ---- Units, gaps and garbage ----

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

// ---- tightest ----

fn win(name: &str, utilization: Option<f64>, resets_in: Option<u64>) -> Window {
    Window {
        utilization,
        resets_at: resets_in.and_then(|s| at(NOW_SECS + s)),
        ..Window::named(name)
    }
}

#[test]
fn tightest_is_the_fullest_then_the_latest_reset() {
    assert_eq!(tightest(&[]), None);
    let ws = [
        win("a", Some(0.2), Some(10)),
        win("b", Some(0.9), Some(10)),
        win("c", Some(0.5), Some(1000)),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "b");
    // Ties: the later reset binds longer.
    let ws = [
        win("early", Some(1.0), Some(60)),
        win("late", Some(1.0), Some(600)),
        win("unknown", Some(1.0), None),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "late");
    // Above 1.0 beats 1.0.
    let ws = [
        win("over", Some(1.03), Some(1)),
        win("full", Some(1.0), Some(9)),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "over");
    // A rejected window binds even without a utilization; a window that says nothing
    // about its fill ranks last but is still returned.
    let rejected = Window {
        status: Some(WindowStatus::Rejected),
        ..win("rejected", None, Some(5))
    };
    let ws = [win("half", Some(0.5), Some(50)), rejected];
    assert_eq!(tightest(&ws).unwrap().name, "rejected");
    let ws = [win("blank", None, Some(99)), win("low", Some(0.0), Some(1))];
    assert_eq!(tightest(&ws).unwrap().name, "low");
    let ws = [win("blank", None, Some(99))];
    assert_eq!(tightest(&ws).unwrap().name, "blank");
}

#[test]
fn pressure_combines_utilization_remaining_and_status() {
    let mut w = win("w", Some(0.4), None);
    assert_eq!(w.pressure(), Some(0.4));
    w.status = Some(WindowStatus::AllowedWarning);
    assert_eq!(w.pressure(), Some(0.4));
    w.status = Some(WindowStatus::Rejected);
    assert_eq!(w.pressure(), Some(1.0));
    w.utilization = Some(1.2);
    assert_eq!(w.pressure(), Some(1.2));
    let w = Window {
        remaining: Some(0),
        ..win("w", None, None)
    };
    assert_eq!(w.pressure(), Some(1.0));
    assert_eq!(win("w", None, Some(1)).pressure(), None);
}

// ---- Google: QuotaFailure / RetryInfo in the error body ----

const GEMINI_429: &str = r#"{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
            "quotaValue": "100"
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
            "quotaValue": 250000
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.074824224s"}
    ]
  }
}"#;

#[test]
fn gemini_quota_failures_become_rejected_windows() {
    let ws = learn_error_body(Dialect::Google, GEMINI_429.as_bytes(), now());
    assert_eq!(ws.len(), 2, "{ws:#?}");
    let reset = Some(now() + Duration::from_secs_f64(34.074824224));
    let day = get(&ws, "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
    assert_eq!(day.scope.as_deref(), Some("gemini-2.5-pro"));
    assert_eq!((day.limit, day.remaining), (Some(100), Some(0)));
    assert_eq!(day.minutes, Some(1440));
    assert_eq!(day.status, Some(WindowStatus::Rejected));
    assert_eq!(day.resets_at, reset);
    approx(day.utilization, 1.0);
    let minute = get(&ws, "GenerateContentInputTokensPerModelPerMinute-FreeTier");
    assert_eq!((minute.limit, minute.minutes), (Some(250000), Some(1)));

    // Streaming endpoints wrap the error in an array.
    let wrapped = format!("[{GEMINI_429}]");
    assert_eq!(
        learn_error_body(Dialect::Google, wrapped.as_bytes(), now()),
        ws
    );
}

#[test]
fn gemini_retry_info_alone_and_non_quota_errors() {
    let body = r#"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#;
    let ws = learn_error_body(Dialect::Google, body.as_bytes(), now());
    assert_eq!(ws.len(), 1);
    let w = get(&ws, "quota");
    assert_eq!(w.resets_at, at(NOW_SECS + 20));
    assert_eq!(w.status, Some(WindowStatus::Rejected));
    assert_eq!(w.scope, None);

    let bad_key = r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
    for (dialect, body) in [
        (Dialect::Google, bad_key),
        (Dialect::Google, "<html>502</html>"),
        (Dialect::Google, ""),
        (Dialect::Google, r#"{"error":{"details":"nope"}}"#),
        (
            Dialect::Google,
            r#"{"error":{"details":[{"retryDelay":"soon"}]}}"#,
        ),
        (
            Dialect::Google,
            r#"{"error":{"details":[{"violations":[{"quotaValue":"5"}]}]}}"#,
        ),
        (Dialect::Openai, GEMINI_429),
        (Dialect::Anthropic, GEMINI_429),
    ] {
        let ws = learn_error_body(dialect, body.as_bytes(), now());
        assert!(ws.is_empty(), "{dialect:?} {body}: {ws:#?}");
    }
    // A violation without a usable RetryInfo or quota value still names the window.
    let body = r#"{"error":{"details":[{"violations":[{"quotaId":"PerDay","quotaValue":"lots"}]},{"retryDelay":"-3s"}]}}"#;
    let ws = learn_error_body(Dialect::Google, body.as_bytes(), now());
    let w = get(&ws, "PerDay");
    assert_eq!((w.limit, w.remaining, w.resets_at), (None, None, None));
    assert_eq!(w.pressure(), Some(1.0));
}
