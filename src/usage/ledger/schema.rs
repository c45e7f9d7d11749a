//! The shape of `usage.db`: one table, `answers`, versioned by `PRAGMA user_version` and
//! migrated by number. The writer and the queries both name its columns from here.

use rusqlite::Connection;
use std::path::Path;

/// The version this keypool writes. A database of a later version was written by a newer
/// keypool and is left alone.
pub const VERSION: i64 = 1;

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
];

/// The columns of a row, in the order [`INSERT`] binds them and [`super::super::query`]
/// reads them back.
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
