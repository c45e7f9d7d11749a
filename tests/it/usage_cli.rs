//! `keypool usage`, the real binary over rows written with the ledger's own API: the table
//! a person reads, the JSON a script reads, `--by`, and a `--since` it cannot read.

use crate::support;
use crate::usage_ledger::row;

use keypool::config::UsageConfig;
use keypool::usage::ledger::Ledger;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};
use support::binary::{keypool, run_ok};
use support::guard::OutputWithin;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The UTC day of `ms`, as `--by day` names it.
fn day(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
    format!("{:04}-{:02}-{:02}", at.year(), at.month() as u8, at.day())
}

/// Three accounts over three days: `work` priced, `home` partly, `copilot` not at all,
/// and a row from before the default week.
fn ledger_in(home: &Path, now: i64) -> Ledger {
    let ledger = Ledger::open(&home.join("usage.db"), &UsageConfig::default()).unwrap();
    ledger.record(row(
        now - 2 * DAY_MS,
        "work",
        "claude-sonnet-4-5",
        12_345,
        Some(1.5),
    ));
    ledger.record(row(
        now - DAY_MS,
        "work",
        "claude-sonnet-4-5",
        1_000,
        Some(0.25),
    ));
    ledger.record(row(
        now - DAY_MS,
        "home",
        "claude-opus-4-1",
        2_000_000,
        Some(30.0),
    ));
    ledger.record(row(now - 1000, "home", "mystery-model", 10, None));
    ledger.record(row(now - 500, "copilot", "mystery-model", 10, None));
    ledger.record(row(
        now - 30 * DAY_MS,
        "work",
        "claude-sonnet-4-5",
        1,
        Some(99.0),
    ));
    ledger.flush();
    ledger
}

fn usage(home: &Path, args: &[&str]) -> String {
    let out = run_ok(keypool(home).arg("usage").args(args));
    String::from_utf8(out.stdout).unwrap()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&usage(home, &all)).unwrap()
}

#[test]
fn the_table_sums_each_account_within_80_columns() {
    let home = tempfile::tempdir().unwrap();
    // The writer stays open while the command reads: keypool may be running.
    let _ledger = ledger_in(home.path(), now_ms());
    let text = usage(home.path(), &[]);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}\n{text}");
    }
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no line for {key}:\n{text}"))
            .to_string()
    };
    let home_line = line("home");
    assert!(home_line.contains("$30.00 + 1 unpriced"), "{text}");
    assert!(home_line.contains(" 2.0M "), "human numbers: {text}");
    assert!(line("copilot").contains("no price"), "{text}");
    let work = line("work");
    assert!(work.contains("$1.75") && work.contains(" 13.3k "), "{text}");
    assert!(
        !work.contains("$100"),
        "the month-old row is outside the week: {text}"
    );
    assert!(
        work.ends_with(" 4%") || work.contains(" 4% "),
        "cache hit ratio: {text}"
    );
    let total = line("TOTAL");
    assert!(total.contains("$31.75 + 2 unpriced"), "{text}");
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|k| ["home", "work", "copilot"].contains(k))
        .collect();
    assert_eq!(
        order,
        ["home", "work", "copilot"],
        "largest cost first:\n{text}"
    );
}

#[test]
fn json_has_the_groups_the_total_and_the_file() {
    let home = tempfile::tempdir().unwrap();
    drop(ledger_in(home.path(), now_ms()));
    let v = json(home.path(), &["--since", "90d"]);
    assert_eq!(v["by"], "account");
    let since = v["since_ms"].as_i64().unwrap();
    assert!((since - (now_ms() - 90 * DAY_MS)).abs() < 60_000, "{since}");
    assert_eq!(v["db"], home.path().join("usage.db").display().to_string());
    let groups = v["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["work", "home", "copilot"]);
    let work = &groups[0];
    assert_eq!(work["requests"], 3);
    assert_eq!(work["errors"], 0);
    assert_eq!(work["rotations"], 0);
    assert_eq!(work["unpriced"], 0);
    assert_eq!(work["tokens"]["input"], 13_346);
    assert_eq!(work["tokens"]["cache_read"], 900);
    assert_eq!(work["tokens"]["reasoning"], 60);
    assert!((work["cost_usd"].as_f64().unwrap() - 100.75).abs() < 1e-9);
    assert!(work["cache_hit_ratio"].as_f64().unwrap() > 0.0);
    let total = &v["total"];
    assert_eq!(total["key"], "");
    assert_eq!(total["requests"], 6);
    assert_eq!(total["unpriced"], 2);
}

#[test]
fn by_day_and_by_model() {
    let home = tempfile::tempdir().unwrap();
    let now = now_ms();
    drop(ledger_in(home.path(), now));
    let v = json(home.path(), &["--by", "day", "--since", "3d"]);
    assert_eq!(v["by"], "day");
    let keys: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    let mut days: Vec<String> = [2 * DAY_MS, DAY_MS, 1000, 500]
        .map(|ago| day(now - ago))
        .to_vec();
    days.dedup();
    assert_eq!(keys, days, "oldest day first");
    let table = usage(home.path(), &["--by", "day", "--since", "3d"]);
    assert!(table.lines().any(|l| l.starts_with("DAY ")), "{table}");
    assert!(table.lines().any(|l| l.starts_with(&days[0])), "{table}");

    let v = json(home.path(), &["--by", "model"]);
    let groups = v["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["claude-opus-4-1", "claude-sonnet-4-5", "mystery-model"]
    );
    assert_eq!(groups[2]["unpriced"], 2);
    let table = usage(home.path(), &["--by", "model"]);
    assert!(table.lines().any(|l| l.starts_with("MODEL ")), "{table}");
    let mystery = table
        .lines()
        .find(|l| l.starts_with("mystery-model"))
        .unwrap();
    assert!(mystery.contains("no price"), "{table}");
    let v = json(home.path(), &["--by", "pool"]);
    assert_eq!(v["groups"][0]["key"], "claude");
}

#[test]
fn since_a_date_counts_from_its_utc_midnight() {
    let home = tempfile::tempdir().unwrap();
    drop(ledger_in(home.path(), now_ms()));
    let v = json(home.path(), &["--since", "2000-01-01"]);
    assert_eq!(v["since_ms"], 946_684_800_000_i64);
    assert_eq!(v["total"]["requests"], 6);
}

fn failed(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_since_exits_2_naming_it_and_the_accepted_forms() {
    let home = tempfile::tempdir().unwrap();
    for bad in ["7x", "yesterday", "2026-02-31", "-3d"] {
        let out = keypool(home.path())
            .args(["usage", &format!("--since={bad}")])
            .output_within();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", failed(&out));
        let err = failed(&out);
        assert!(err.contains(bad), "{bad}: {err}");
        assert!(
            err.contains("7d, 24h, 90m") && err.contains("2026-11-01"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = keypool(home.path())
        .args(["usage", "--by", "week"])
        .output_within();
    assert_eq!(out.status.code(), Some(2), "{}", failed(&out));
    assert!(failed(&out).contains("account"), "{}", failed(&out));
}

#[test]
fn an_empty_ledger_says_so_and_where_it_lives() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("usage.db").display().to_string();
    let text = usage(home.path(), &[]);
    assert!(
        text.starts_with("Nothing recorded yet") && text.contains(&db),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let v = json(home.path(), &[]);
    assert_eq!(v["groups"], serde_json::json!([]));
    assert_eq!(v["total"]["requests"], 0);

    let ledger = Ledger::open(&home.path().join("usage.db"), &UsageConfig::default()).unwrap();
    ledger.record(row(now_ms() - 2 * DAY_MS, "work", "m", 1, None));
    drop(ledger);
    let text = usage(home.path(), &["--since", "1d"]);
    assert!(
        text.contains("Nothing recorded since") && text.contains(&db),
        "{text}"
    );
}
