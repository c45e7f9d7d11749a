//! Anthropic: `anthropic-ratelimit-{dim}-*` (API keys) and `anthropic-ratelimit-unified-*`
//! (subscriptions).

use super::*;

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

#[test]
fn each_representative_claim_names_its_window() {
    for (claim, key, minutes, scope) in [
        ("five_hour", "5h", 300, None),
        ("seven_day", "7d", 10080, None),
        ("seven_day_opus", "7d-opus", 10080, Some("opus")),
        ("seven_day_sonnet", "7d-sonnet", 10080, Some("sonnet")),
        ("seven_day_overage_included", "7d_oi", 10080, None),
    ] {
        // The account-wide status alone, without a reset, is enough to land on it.
        let ws = learn_with(
            Dialect::Anthropic,
            &[
                ("anthropic-ratelimit-unified-status", "rejected"),
                ("anthropic-ratelimit-unified-representative-claim", claim),
            ],
        );
        assert_eq!(ws.len(), 1, "{claim}: {ws:#?}");
        let w = get(&ws, key);
        assert_eq!(w.status, Some(WindowStatus::Rejected), "{claim}");
        assert_eq!(
            (w.minutes, w.scope.as_deref()),
            (Some(minutes), scope),
            "{claim}"
        );
    }
}

#[test]
fn a_unified_window_measured_in_minutes() {
    let ws = learn_with(
        Dialect::Anthropic,
        &[("anthropic-ratelimit-unified-30m-utilization", "0.5")],
    );
    let w = get(&ws, "30m");
    assert_eq!(w.minutes, Some(30));
    approx(w.utilization, 0.5);
}
