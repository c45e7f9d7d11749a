//! `usage.db`: rows written off the request path and read back, across restarts; a full
//! queue drops instead of blocking; old rows go; the files stay private; a file keypool
//! cannot read, or of a newer schema, is left as it is and the ledger is off.

use crate::support;

use keypool::config::UsageConfig;
use keypool::usage::ledger::Ledger;
use keypool::usage::query::{By, Query};
use keypool::usage::{Record, Tokens};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::binary::{keypool, Served};
use support::scenario::Scenario;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn row(at_ms: i64, account: &str, model: &str, input: u64, cost: Option<f64>) -> Record {
    Record {
        at_ms,
        provider: "anthropic".into(),
        pool: Some("claude".into()),
        account: Some(account.into()),
        kind: Some("subscription".into()),
        model: Some(model.into()),
        status: 200,
        attempts: 1,
        rotations: 0,
        rotation: None,
        ttfb_ms: Some(120),
        total_ms: 900,
        tokens: Tokens {
            input,
            output: 50,
            cache_read: 300,
            cache_write: 100,
            reasoning: 20,
        },
        cost_usd: cost,
        stream: true,
    }
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("usage.db")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn written(db: &Path) -> u64 {
    Query::new(db).totals(i64::MIN).unwrap().requests
}

#[test]
fn rows_are_read_back_while_written_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let cfg = UsageConfig::default();
    let now = now_ms();
    let ledger = Ledger::open(&db, &cfg).unwrap();
    let mut refused = row(now - 2000, "work", "claude-sonnet-4-5", 0, None);
    (refused.status, refused.rotations, refused.rotation) = (429, 1, Some("rate_limited".into()));
    refused.tokens = Tokens::default();
    let rows = [
        row(now - 3000, "work", "claude-sonnet-4-5", 1000, Some(0.25)),
        refused,
        row(now - 1000, "home", "claude-opus-4-1", 10, None),
    ];
    for r in rows.clone() {
        ledger.record(r);
    }
    ledger.flush();

    // Read while the writer still holds its connection (WAL).
    let q = Query::new(&db);
    let recent = q.recent(10).unwrap();
    let newest_first: Vec<Record> = rows.iter().rev().cloned().collect();
    assert_eq!(recent, newest_first, "every field comes back as written");
    let groups = q.summary(now - DAY_MS, By::Account).unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["work", "home"], "largest cost first");
    let work = &groups[0];
    assert_eq!((work.requests, work.errors, work.rotations), (2, 1, 1));
    assert_eq!(work.tokens.input, 1000);
    assert_eq!((work.cost_usd, work.unpriced), (0.25, 0));
    let ratio = work.cache_hit_ratio.unwrap();
    assert!((ratio - 300.0 / 1400.0).abs() < 1e-9, "{ratio}");
    assert_eq!(groups[1].unpriced, 1, "tokens without a price");

    drop(ledger);
    let total = q.totals(now - DAY_MS).unwrap();
    assert_eq!(total.requests, 3, "the rows outlive the writer");
    let ledger = Ledger::open(&db, &cfg).unwrap();
    ledger.record(row(now, "home", "claude-opus-4-1", 5, Some(0.01)));
    ledger.flush();
    let total = q.totals(now - DAY_MS).unwrap();
    assert_eq!(
        total.requests, 4,
        "a ledger opened again adds to what was there"
    );
    assert_eq!(total.tokens.input, 1015);
    assert_eq!(total.unpriced, 1);
    assert!((total.cost_usd - 0.26).abs() < 1e-9, "{}", total.cost_usd);
    assert!(
        q.totals(now + 1).unwrap().requests == 0,
        "since_ms bounds the rows"
    );
}

#[test]
fn days_models_pools_and_the_series_group_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    // 2026-11-01 00:00 UTC, and an hour before: two UTC days.
    let midnight = 1_793_491_200_000;
    let ledger = Ledger::open(&db, &UsageConfig::default()).unwrap();
    ledger.record(row(midnight - 3_600_000, "a", "m1", 1, Some(1.0)));
    ledger.record(row(midnight + 60_000, "a", "m2", 2, Some(2.0)));
    let mut own = row(midnight + 120_000, "a", "m2", 0, None);
    (own.account, own.model, own.pool) = (None, None, None);
    ledger.record(own);
    ledger.flush();
    let q = Query::new(&db);
    let keys = |by| -> Vec<String> {
        q.summary(0, by)
            .unwrap()
            .into_iter()
            .map(|g| g.key)
            .collect()
    };
    assert_eq!(
        keys(By::Day),
        ["2026-10-31", "2026-11-01"],
        "UTC days in order"
    );
    assert_eq!(keys(By::Model), ["m2", "m1", "(unknown)"]);
    assert_eq!(keys(By::Pool), ["claude", "(none)"]);
    assert_eq!(keys(By::Account), ["a", "(none)"]);
    let hours = q.series(midnight - 2 * 3_600_000, 3600).unwrap();
    let got: Vec<(i64, u64)> = hours.iter().map(|b| (b.start_ms, b.requests)).collect();
    assert_eq!(got, [(midnight - 3_600_000, 1), (midnight, 2)]);
    assert_eq!(hours[1].tokens, 2 + 50 + 300 + 100 + 450);
    assert_eq!(hours[1].cost_usd, 2.0);
    let gaps = q.series(0, 60).unwrap();
    assert_eq!(gaps.len(), 63, "an hour and two minutes of minute slices");
    assert_eq!(gaps.iter().map(|b| b.requests).sum::<u64>(), 3);
}

#[test]
fn a_missing_or_empty_database_reads_as_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let q = Query::new(&dir.path().join("absent/usage.db"));
    assert!(q.summary(0, By::Account).unwrap().is_empty());
    assert_eq!(q.totals(0).unwrap().requests, 0);
    assert!(q.recent(5).unwrap().is_empty());
    assert!(q.series(0, 60).unwrap().is_empty());
    assert!(!q.has_rows().unwrap());
    assert!(
        !dir.path().join("absent").exists(),
        "reading creates nothing"
    );
    std::fs::write(dir.path().join("empty.db"), b"").unwrap();
    let q = Query::new(&dir.path().join("empty.db"));
    assert!(q.summary(0, By::Model).unwrap().is_empty());
}

#[test]
fn a_full_queue_drops_rows_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let cfg = UsageConfig {
        queue: 16,
        ..UsageConfig::default()
    };
    let ledger = Ledger::open(&db, &cfg).unwrap();
    ledger.flush();
    // Another connection holds the write lock: the writer waits on its first batch.
    let mut other = rusqlite::Connection::open(&db).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let sent = 1000;
    let mut slowest = Duration::ZERO;
    for i in 0..sent {
        let started = Instant::now();
        ledger.record(row(now_ms(), "a", "m", i, None));
        slowest = slowest.max(started.elapsed());
    }
    // Blocking would mean waiting out the 5 s busy timeout; a scheduling hiccup is far less.
    assert!(
        slowest < Duration::from_millis(500),
        "record waited {slowest:?}"
    );
    assert!(ledger.dropped() > 0, "16 places cannot hold 1000 rows");
    drop(lock);
    ledger.flush();
    assert_eq!(
        written(&db) + ledger.dropped(),
        sent,
        "every row written or counted"
    );
}

#[test]
fn a_write_the_database_refuses_counts_its_rows_as_dropped_and_writing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let ledger = Ledger::open(&db, &UsageConfig::default()).unwrap();
    ledger.flush();
    let mut other = rusqlite::Connection::open(&db).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    for i in 0..3 {
        ledger.record(row(now_ms(), "a", "m", i, None));
    }
    // The writer gives up after its busy timeout (5 s) and counts the batch as dropped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.dropped() < 3 {
        assert!(
            Instant::now() < deadline,
            "the failed batch was never counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(lock);
    ledger.record(row(now_ms(), "b", "m", 1, None));
    ledger.flush();
    assert_eq!(ledger.dropped(), 3);
    assert_eq!(written(&db), 1, "the next batch is written");
}

#[test]
fn rows_older_than_keep_are_deleted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let cfg = UsageConfig {
        keep: Duration::from_secs(30 * 86_400),
        ..UsageConfig::default()
    };
    let now = now_ms();
    let ledger = Ledger::open(&db, &cfg).unwrap();
    ledger.record(row(now - 31 * DAY_MS, "old", "m", 1, None));
    ledger.record(row(now - 29 * DAY_MS, "kept", "m", 1, None));
    ledger.flush();
    assert_eq!(
        written(&db),
        2,
        "deletion runs at start and hourly, not per row"
    );
    drop(ledger);
    let ledger = Ledger::open(&db, &cfg).unwrap();
    ledger.flush();
    let left = Query::new(&db).summary(i64::MIN, By::Account).unwrap();
    let keys: Vec<&str> = left.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["kept"]);
}

#[test]
fn the_database_and_its_wal_files_are_private() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("new/home");
    let db = home.join("usage.db");
    let ledger = Ledger::open(&db, &UsageConfig::default()).unwrap();
    ledger.record(row(now_ms(), "a", "m", 1, None));
    ledger.flush();
    assert_eq!(mode(&home), 0o700);
    for f in ["usage.db", "usage.db-wal", "usage.db-shm"] {
        assert_eq!(mode(&home.join(f)), 0o600, "{f}");
    }
    drop(ledger);
    // A file a looser hand made is tightened, its rows kept.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ledger = Ledger::open(&db, &UsageConfig::default()).unwrap();
    assert_eq!(mode(&db), 0o600);
    ledger.flush();
    assert_eq!(written(&db), 1);
}

#[test]
fn numbers_past_sqlite_s_range_are_kept_as_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let ledger = Ledger::open(&db, &UsageConfig::default()).unwrap();
    let mut huge = row(now_ms(), "a", &"m".repeat(10_000), u64::MAX, Some(f64::NAN));
    huge.ttfb_ms = Some(u64::MAX);
    ledger.record(huge.clone());
    ledger.record(Record {
        cost_usd: Some(f64::INFINITY),
        ..huge
    });
    ledger.flush();
    let back = Query::new(&db).recent(1).unwrap().remove(0);
    assert_eq!(back.tokens.input, i64::MAX as u64);
    assert_eq!(back.ttfb_ms, Some(i64::MAX as u64));
    assert_eq!(back.cost_usd, None, "not a price");
    assert_eq!(
        back.model.as_deref().map(str::len),
        Some(200),
        "a model name is cut"
    );
    let total = Query::new(&db).totals(0).unwrap();
    // Summed as a float: neither an overflow error nor a wrap, at most the largest u64.
    assert!(
        total.tokens.input >= 2 * i64::MAX as u64,
        "{}",
        total.tokens.input
    );
    assert_eq!(total.unpriced, 2);

    // Values no keypool writes, put there by hand, read back clamped.
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute(
            "UPDATE answers SET input = -5, status = 99999, cost_usd = -1.0",
            [],
        )
        .unwrap();
    let back = Query::new(&db).recent(1).unwrap().remove(0);
    assert_eq!((back.tokens.input, back.status), (0, u16::MAX));
    let total = Query::new(&db).totals(0).unwrap();
    assert_eq!((total.tokens.input, total.cost_usd), (0, 0.0));
}

#[test]
fn a_file_that_is_not_a_database_is_left_alone_and_the_ledger_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &junk).unwrap();
    let e = Ledger::open(&db, &UsageConfig::default()).err().unwrap();
    assert!(e.contains(&db.display().to_string()), "{e}");
    assert!(e.contains("fix: move"), "{e}");
    let ledger = Ledger::open_or_off(&db, &UsageConfig::default());
    assert!(!ledger.is_on());
    ledger.record(row(now_ms(), "a", "m", 1, None));
    ledger.flush();
    assert_eq!(std::fs::read(&db).unwrap(), junk, "not a byte changed");
    let q = Query::new(&db).totals(0).unwrap_err();
    assert!(q.0.contains("usage.db"), "{q}");
}

#[test]
fn a_newer_schema_is_refused_naming_the_version_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 7;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let e = Ledger::open(&db, &UsageConfig::default()).err().unwrap();
    assert!(e.contains("schema version 7"), "{e}");
    assert!(e.contains("fix: upgrade keypool"), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing overwritten");
    assert!(
        !Path::new(&format!("{}-wal", db.display())).exists(),
        "not switched to WAL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keypool_serves_with_one_warning_when_its_ledger_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("usage.db");
    let junk = vec![0x5a_u8; 4096];
    std::fs::write(&db, &junk).unwrap();
    let cmd = keypool(home.path());
    let log = tokio::task::spawn_blocking(move || Served::log_of_a_start(cmd))
        .await
        .unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("usage ledger")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains(&db.display().to_string()), "{log}");
    assert!(log.contains("fix: move"), "{log}");
    assert_eq!(std::fs::read(&db).unwrap(), junk, "the file is kept");
}

#[tokio::test]
async fn the_proxy_opens_its_ledger_and_writes_what_is_queued_at_shutdown() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-good"])
        .keys("openai", &[("good", "sk-good")]);
    let kp = s.start().await;
    let db = kp.home_path("usage.db");
    assert!(kp.state().ledger.is_on());
    assert_eq!(mode(&db), 0o600);
    kp.state()
        .ledger
        .record(row(now_ms(), "good", "gpt-4o", 7, None));
    let kp = kp.restart().await;
    assert_eq!(written(&db), 1, "shutdown flushed the queue");
    assert!(
        kp.state().ledger.is_on(),
        "and the next start opened it again"
    );
}
