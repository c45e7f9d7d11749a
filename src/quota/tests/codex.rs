//! Codex: `x-codex-primary-*` / `x-codex-secondary-*` and the per-limit families.

use super::*;

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

#[test]
fn a_blank_limit_name_leaves_the_limit_named_by_its_key() {
    let ws = learn_with(
        Dialect::Openai,
        &[
            ("x-codex-bengalfox-primary-used-percent", "80"),
            ("x-codex-bengalfox-primary-window-minutes", "300"),
            ("x-codex-bengalfox-limit-name", "  "),
        ],
    );
    assert_eq!(ws.len(), 1, "{ws:#?}");
    assert_eq!(get(&ws, "5h").scope.as_deref(), Some("codex-bengalfox"));
}
