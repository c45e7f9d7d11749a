//! The shape of `usage.db`: one table, `answers`, versioned by `PRAGMA user_version` and
//! migrated by number. The writer and the queries both name its columns from here.

use rusqlite::Connection;
use std::path::Path;

/// The version this keypool writes. A database of a later version was written by a newer
/// keypool and is left alone.
pub const VERSION: i64 = 2;

/// Rows are found by time through `hours`, not through an index on `at_ms`: for each
/// hour of request time (`at_ms / HOUR_MS`), an id at or below every row of that hour.
/// An index was a second b-tree insert per row (about 1.5k of a row's 12k instructions,
/// `benches/ledger.rs`); `hours` takes one tiny insert per hour. Rows of one hour are
/// written close together, but a long stream's row is written when it ends, after the
/// rows of requests that came later, so an hour's first id is the least of its rows'.
pub const HOUR_MS: i64 = 3_600_000;

/// The hour `at_ms` belongs to, as SQLite's `at_ms / 3600000` has it (towards zero).
pub fn hour_of(at_ms: i64) -> i64 {
    at_ms / HOUR_MS
}

/// `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
const MIGRATIONS: [&str; VERSION as usize] = [
    // 1: one row per intercepted answer: the Record's fields, nothing else.
    "CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        provider TEXT NOT NULL,
        pool TEXT,
        account TEXT,
        kind TEXT,
        model TEXT,
        status INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        rotations INTEGER NOT NULL,
        rotation TEXT,
        ttfb_ms INTEGER,
        total_ms INTEGER NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        reasoning INTEGER NOT NULL,
        cost_usd REAL,
        stream INTEGER NOT NULL
    );
    CREATE INDEX answers_at ON answers (at_ms);",
    // 2: `hours` instead of the `at_ms` index (see HOUR_MS).
    "DROP INDEX answers_at;
    CREATE TABLE hours (hour INTEGER PRIMARY KEY, first_id INTEGER NOT NULL);
    INSERT INTO hours (hour, first_id) SELECT at_ms / 3600000, MIN(id) FROM answers GROUP BY 1;",
];

/// The columns of a row, in the order the inserts bind them (after the id) and
/// [`super::super::query`] reads them back.
pub const COLUMNS: &str = "at_ms, provider, pool, account, kind, model, status, attempts, \
    rotations, rotation, ttfb_ms, total_ms, input, output, cache_read, cache_write, \
    reasoning, cost_usd, stream";

/// How many columns [`COLUMNS`] names.
pub const COLUMN_COUNT: usize = 19;
/// Rows one multi-row insert binds: 32 × 19 parameters, far below SQLite's limit.
pub const ROWS_PER_INSERT: usize = 32;

/// `INSERT` of [`ROWS_PER_INSERT`] rows in one statement.
pub fn insert_many() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let row = format!("({})", vec!["?"; COLUMN_COUNT].join(", "));
        format!(
            "INSERT INTO answers ({COLUMNS}) VALUES {}",
            vec![row; ROWS_PER_INSERT].join(", ")
        )
    });
    &SQL
}

pub const INSERT: &str = "INSERT INTO answers (at_ms, provider, pool, account, kind, model, \
    status, attempts, rotations, rotation, ttfb_ms, total_ms, input, output, cache_read, \
    cache_write, reasoning, cost_usd, stream) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// The least first id of the hours from `?2` on: every row of those hours is at or above
/// it (no such hour: no such row).
macro_rules! first_id_since {
    () => {
        "(SELECT COALESCE(MIN(first_id), 9223372036854775807) FROM hours WHERE hour >= ?2)"
    };
}
pub(super) use first_id_since;

/// Records `id` as at or below every row of `hour`, unless the hour has a lower one.
pub const MARK_HOUR: &str = "INSERT INTO hours (hour, first_id) VALUES (?1, ?2) \
    ON CONFLICT (hour) DO UPDATE SET first_id = MIN(first_id, excluded.first_id)";

/// The highest id written so far (0 in an empty table): a later row's id is above it.
pub fn last_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM answers")?
        .query_row([], |r| r.get(0))
}

/// The `WHERE` clause of rows since `?1` (ms) for a database of `version`; `?2` is
/// [`hour_of`] `?1`. From version 2 on, the id range starts at the least first id of the
/// hours since (every row of those hours is at or above it); a version 1 file a newer
/// keypool has not migrated yet is read by `at_ms` alone.
pub fn since_clause(version: i64) -> &'static str {
    if version >= 2 {
        concat!("id >= ", first_id_since!(), " AND at_ms >= ?1")
    } else {
        "at_ms >= ?1 AND ?2 = ?2"
    }
}

/// How long a statement waits for another connection's lock before it gives up.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The fix printed with every error about the file itself.
fn fix(path: &Path) -> String {
    format!(
        "fix: move {} aside (keypool starts a new ledger; `keypool usage` can still read the \
         old file with KEYPOOL_HOME pointed at its directory), or restore it from a backup",
        path.display()
    )
}

/// Readies a connection the writer owns: checks the version before anything is written,
/// then WAL, and migrates an older database.
pub fn prepare(conn: &mut Connection, path: &Path) -> Result<(), String> {
    let unreadable = |e: rusqlite::Error| {
        format!(
            "{} is not a usage database keypool can read ({e})\n{}",
            path.display(),
            fix(path)
        )
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unreadable)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(unreadable)?;
    if version > VERSION {
        return Err(format!(
            "{} has schema version {version}, newer than this keypool's ({VERSION}): a newer \
             keypool wrote it\nfix: upgrade keypool, or move the file aside to start a new \
             ledger (nothing in it was changed)",
            path.display()
        ));
    }
    if version < 0 {
        return Err(format!(
            "{} has schema version {version}, which no keypool writes\n{}",
            path.display(),
            fix(path)
        ));
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(unreadable)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::debug!("usage.db journal mode is {mode}, not WAL");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(unreadable)?;
    migrate(conn, version).map_err(unreadable)
}

/// Runs the migrations after `from`, each in its own transaction with its version bump.
fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", n as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_as_sqlite_does() {
        assert_eq!(
            MIGRATIONS[1].matches(&format!("at_ms / {HOUR_MS}")).count(),
            1
        );
        assert_eq!(hour_of(HOUR_MS * 5 + 1), 5);
        assert_eq!(hour_of(-1), 0);
        assert_eq!(hour_of(-HOUR_MS - 1), -1);
    }

    #[test]
    fn a_version_1_file_gets_its_hours_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let h = HOUR_MS;
        // The third row ended late: its hour's least id is its own.
        for at in [5 * h, 5 * h + 9, 4 * h + 1, 7 * h] {
            conn.execute(
                "INSERT INTO answers (at_ms, provider, status, attempts, rotations, total_ms, \
                 input, output, cache_read, cache_write, reasoning, stream) \
                 VALUES (?1, 'openai', 200, 1, 0, 9, 1, 2, 0, 0, 0, 0)",
                [at],
            )
            .unwrap();
        }
        prepare(&mut conn, &path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let mut stmt = conn
            .prepare("SELECT hour, first_id FROM hours ORDER BY hour")
            .unwrap();
        let hours: Vec<(i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(hours, [(4, 3), (5, 1), (7, 4)]);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM answers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 4);
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'answers'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0, "the at_ms index is gone");
    }
}
