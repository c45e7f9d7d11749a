use super::*;
use crate::usage::{Record, Tokens};

fn record(model: &str) -> Record {
    Record {
        provider: "openai".into(),
        pool: Some("main".into()),
        account: Some("b".into()),
        model: Some(model.into()),
        status: 200,
        ttfb_ms: Some(120),
        total_ms: 1500,
        tokens: Tokens {
            input: 10,
            output: 5,
            ..Tokens::default()
        },
        cost_usd: Some(0.25),
        ..Record::default()
    }
}

#[test]
fn disabled_metrics_count_nothing_and_render_nothing() {
    let m = Metrics::new(false);
    assert!(!m.enabled());
    m.answered(&record("gpt-4o"));
    m.attempt("openai", "main", "a", "ok");
    m.rotation("openai", "main", "rate_limited");
    let guard = m.opened(Open::Connection);
    assert!(guard.gauge.is_none());
    assert_eq!(m.render(&Snapshot::default(), Format::OpenMetrics), None);
}

#[test]
fn answered_feeds_requests_tokens_cost_and_latency() {
    let m = Metrics::new(true);
    m.answered(&record("gpt-4o"));
    m.answered(&record("gpt-4o"));
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    for line in [
        r#"keypool_requests_total{provider="openai",pool="main",account="b",status_class="2xx"} 2"#,
        r#"keypool_tokens_total{provider="openai",account="b",model="gpt-4o",kind="input"} 20"#,
        r#"keypool_tokens_total{provider="openai",account="b",model="gpt-4o",kind="output"} 10"#,
        r#"keypool_cost_usd_total{provider="openai",account="b",model="gpt-4o"} 0.5"#,
        r#"keypool_request_duration_seconds_count{provider="openai",pool="main"} 2"#,
        r#"keypool_time_to_first_byte_seconds_bucket{le="0.25",provider="openai",pool="main"} 2"#,
        r#"keypool_build_info{version=""#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // A kind that counted nothing has no series.
    assert!(!text.contains(r#"kind="reasoning""#), "{text}");
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn hostile_models_cannot_forge_series_or_grow_without_bound() {
    let m = Metrics::new(true);
    m.answered(&record("evil\"} 1\nkeypool_fake_total 9\n"));
    for i in 0..MAX_MODELS + 50 {
        m.answered(&record(&format!("m{i}-{}", "x".repeat(200))));
    }
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("keypool_fake")),
        "{text}"
    );
    assert!(
        text.contains(r#"model="evil} 1keypool_fake_total 9""#),
        "{text}"
    );
    let models: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("keypool_tokens_total{") && l.contains(r#"kind="input""#))
        .filter_map(|l| l.split("model=\"").nth(1)?.split("\",kind").next())
        .collect();
    assert_eq!(models.len(), MAX_MODELS + 1, "the cap plus other");
    assert!(models.contains(OTHER));
    assert!(models.iter().all(|m| m.len() <= MAX_LABEL_CHARS + 8));
}

#[test]
fn open_guards_count_until_dropped() {
    let m = Metrics::new(true);
    let gauge = |m: &Metrics| {
        let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("keypool_open_tunnels "))
            .unwrap()
            .to_string()
    };
    let a = m.opened(Open::Tunnel);
    let b = m.opened(Open::Tunnel);
    assert_eq!(gauge(&m), "2");
    drop(a);
    assert_eq!(gauge(&m), "1");
    drop(b);
    assert_eq!(gauge(&m), "0");
}

#[test]
fn scrape_time_families_come_from_the_snapshot() {
    let m = Metrics::new(true);
    let window = |name: &str, u: f64| WindowSnapshot {
        name: name.into(),
        scope: String::new(),
        source: "probe",
        utilization: Some(u),
        resets_at: Some(1.9e9),
    };
    let s = Snapshot {
        accounts: vec![AccountSnapshot {
            pool: "main".into(),
            account: "a".into(),
            cooling_seconds: 42.0,
            disabled: false,
            terminal: None,
            windows: vec![window("5h", 1.7), window("5h", 0.1), window("7d", f64::NAN)],
        }],
        leaf_cache_entries: 3,
        ledger_dropped: 4,
        oauth_refreshes: vec![("anthropic", "ok", 2)],
    };
    let text = m.render(&s, Format::OpenMetrics).unwrap();
    for line in [
        r#"keypool_account_cooling_seconds{pool="main",account="a"} 42.0"#,
        r#"keypool_account_disabled{pool="main",account="a"} 0"#,
        // Clamped to 0–1; the duplicate 5h is dropped; a NaN is 0.
        r#"keypool_window_utilization{pool="main",account="a",window="5h",scope="",source="probe"} 1.0"#,
        r#"keypool_window_utilization{pool="main",account="a",window="7d",scope="",source="probe"} 0.0"#,
        r#"keypool_window_reset_timestamp_seconds{pool="main",account="a",window="5h",scope="",source="probe"} 1900000000.0"#,
        "keypool_leaf_cache_entries 3",
        "keypool_ledger_dropped_total 4",
        r#"keypool_oauth_refreshes_total{provider="anthropic",result="ok"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert_eq!(text.matches(r#"window="5h""#).count(), 2, "{text}");
    // An account gone from the next snapshot has no series left.
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    assert!(!text.contains(r#"account="a""#), "{text}");
}

#[test]
fn kept_series_and_uncached_ones_count_into_the_same_families() {
    let m = Metrics::new(true);
    m.attempt("openai", "main", "b", "ok");
    m.attempt("openai", "main", "b", "ok");
    // A result outside the known set still counts, through the family itself.
    m.attempt("openai", "main", "b", "new_result");
    m.answered(&record("gpt-4o"));
    // Names a label would sanitise to the same value share one series.
    m.answered(&Record {
        account: Some("b\n".into()),
        ..record("gpt-4o")
    });
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    for line in [
        r#"keypool_upstream_attempts_total{provider="openai",pool="main",account="b",result="ok"} 2"#,
        r#"keypool_upstream_attempts_total{provider="openai",pool="main",account="b",result="new_result"} 1"#,
        r#"keypool_requests_total{provider="openai",pool="main",account="b",status_class="2xx"} 2"#,
        r#"keypool_tokens_total{provider="openai",account="b",model="gpt-4o",kind="input"} 20"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[test]
fn past_the_kept_accounts_answers_still_count() {
    let m = Metrics::new(true);
    for i in 0..series::MAX_ACCOUNTS + 2 {
        m.attempt("openai", "main", &format!("acct{i}"), "ok");
    }
    let last = format!("acct{}", series::MAX_ACCOUNTS + 1);
    m.attempt("openai", "main", &last, "ok");
    m.answered(&Record {
        account: Some(last.clone()),
        ..record("gpt-4o")
    });
    let kept: usize = (m.on.as_ref().unwrap().series.by.read().values())
        .flat_map(|p| p.values())
        .map(|a| a.len())
        .sum();
    assert_eq!(kept, series::MAX_ACCOUNTS);
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    for line in [
        format!(
            r#"keypool_upstream_attempts_total{{provider="openai",pool="main",account="{last}",result="ok"}} 2"#
        ),
        format!(
            r#"keypool_requests_total{{provider="openai",pool="main",account="{last}",status_class="2xx"}} 1"#
        ),
    ] {
        assert!(text.contains(&line), "missing {line}");
    }
}

#[test]
fn names_that_sanitise_alike_count_into_one_series() {
    let m = Metrics::new(true);
    m.answered(&record("gpt-4o"));
    m.answered(&record("gpt-4o\n"));
    m.answered(&record("gpt-4o"));
    let text = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
    let line =
        r#"keypool_tokens_total{provider="openai",account="b",model="gpt-4o",kind="input"} 30"#;
    assert!(text.contains(line), "missing {line} in\n{text}");
    assert_eq!(text.matches(r#"model="gpt-4o",kind="input""#).count(), 1);
}
