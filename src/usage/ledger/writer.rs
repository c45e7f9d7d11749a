//! The one thread that writes `usage.db`: it takes everything queued, writes it in one
//! transaction, and deletes rows past `[usage] keep` at start and about hourly.

use super::{file, schema, Msg, Record};
use rusqlite::types::{Null, ToSqlOutput};
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Messages taken for one transaction at most: a bound on one batch's memory and on how
/// long one transaction holds the write lock.
const MAX_BATCH: usize = 4096;
/// How often rows past `keep` are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long the writer rests after a batch: a killed keypool loses at most the rows of
/// this long (and never more than the queue holds).
const TICK: Duration = Duration::from_millis(50);
/// Hours [`Writer::marked`] remembers.
const MARKED_HOURS: usize = 48;
/// The longest text kept in a column; longer values (a model name off the wire) are cut.
const MAX_TEXT: usize = 200;

pub(super) struct Writer {
    conn: Connection,
    path: PathBuf,
    keep: Duration,
    dropped: Arc<AtomicU64>,
    /// The last write failed: its warning is out, the next one waits for a success.
    failing: bool,
    /// `-wal` and `-shm` were checked for their mode after the first write made them.
    companions_checked: bool,
    /// Hours of request time this writer has marked in `hours` (the latest few): a later
    /// row of one of them is above its mark already.
    marked: Vec<i64>,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        path: &Path,
        keep: Duration,
        dropped: Arc<AtomicU64>,
    ) -> Writer {
        Writer {
            marked: Vec::new(),
            conn,
            path: path.to_path_buf(),
            keep,
            dropped,
            failing: false,
            companions_checked: false,
        }
    }

    /// Writes until every sender is gone and the queue is empty.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        self.prune();
        let mut next_prune = Instant::now() + PRUNE_EVERY;
        loop {
            let wait = next_prune.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    self.batch(first, &rx);
                    // Rest before the next batch: rows queue up meanwhile, so under load
                    // the writer wakes once a tick rather than once a row (a wake-up per
                    // request cost the request path about a tenth of its throughput on
                    // two cores).
                    std::thread::sleep(TICK);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_prune {
                self.prune();
                next_prune = Instant::now() + PRUNE_EVERY;
            }
        }
    }

    /// `first` and whatever else is queued now, written together; then the flushes
    /// among them are answered.
    fn batch(&mut self, first: Msg, rx: &Receiver<Msg>) {
        let mut rows: Vec<Box<Record>> = Vec::new();
        let mut flushes: Vec<SyncSender<()>> = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(msg) = next {
            match msg {
                Msg::Row(r) => rows.push(r),
                Msg::Flush(reply) => flushes.push(reply),
            }
            taken += 1;
            next = if taken < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !rows.is_empty() {
            let result = insert(&mut self.conn, &rows, &mut self.marked);
            if result.is_err() {
                // The marks rolled back with the rows.
                self.marked.clear();
            }
            self.outcome(result, rows.len());
        }
        for reply in flushes {
            let _ = reply.send(());
        }
    }

    /// Counts the rows of a failed write as dropped, and says so once per failing spell.
    fn outcome(&mut self, result: rusqlite::Result<()>, rows: usize) {
        match result {
            Ok(()) => {
                if self.failing {
                    tracing::info!("usage ledger: writing to {} again", self.path.display());
                    self.failing = false;
                }
                if !self.companions_checked {
                    self.companions_checked = true;
                    if let Err(e) = file::companions_private(&self.path) {
                        tracing::warn!("usage ledger: {e}");
                    }
                }
            }
            Err(e) => {
                self.dropped.fetch_add(rows as u64, Ordering::Relaxed);
                if !self.failing {
                    tracing::warn!(
                        "usage ledger: cannot write to {} ({e}); rows are dropped and counted \
                         until a write works again",
                        self.path.display()
                    );
                    self.failing = true;
                }
            }
        }
    }

    /// Deletes the rows older than `keep`, by the rows' own timestamps, and the hours
    /// before it. A row written late (a long stream's) can outlast its hour by as long as
    /// it was late; it goes once later hours pass the cutoff.
    fn prune(&mut self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let keep_ms = i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(keep_ms);
        let deleted = self.conn.execute(
            concat!(
                "DELETE FROM answers WHERE id < ",
                schema::first_id_since!(),
                " AND at_ms < ?1"
            ),
            [cutoff, schema::hour_of(cutoff)],
        );
        let deleted = deleted.and_then(|n| {
            let hours = "DELETE FROM hours WHERE hour < ?1";
            self.conn.execute(hours, [schema::hour_of(cutoff)])?;
            Ok(n)
        });
        match deleted {
            Ok(0) => {}
            Ok(n) => tracing::debug!("usage ledger: deleted {n} rows older than [usage] keep"),
            Err(e) => tracing::warn!(
                "usage ledger: cannot delete old rows from {} ({e})",
                self.path.display()
            ),
        }
    }
}

/// The rows in one transaction: [`schema::ROWS_PER_INSERT`] at a time through one
/// multi-row statement (one statement start and halt per chunk instead of per row: about
/// 1k of a row's 14k instructions, `benches/ledger.rs`), the rest one by one.
/// The rows in one transaction, [`schema::ROWS_PER_INSERT`] at a time through one
/// multi-row statement (one statement start and halt per chunk instead of per row: about
/// 1k of a row's instructions, `benches/ledger.rs`), the rest one by one; then the hours
/// they belong to marked.
fn insert(
    conn: &mut Connection,
    rows: &[Box<Record>],
    marked: &mut Vec<i64>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let floor = schema::last_id(&tx)?.saturating_add(1);
    {
        let mut chunks = rows.chunks_exact(schema::ROWS_PER_INSERT);
        if chunks.len() > 0 {
            let mut many = tx.prepare_cached(schema::insert_many())?;
            for chunk in &mut chunks {
                for (i, r) in chunk.iter().enumerate() {
                    for (j, v) in values(r).iter().enumerate() {
                        many.raw_bind_parameter(i * schema::COLUMN_COUNT + j + 1, v)?;
                    }
                }
                many.raw_execute()?;
            }
        }
        let mut one = tx.prepare_cached(schema::INSERT)?;
        for r in chunks.remainder() {
            one.execute(values(r))?;
        }
    }
    mark_hours(&tx, rows, floor, marked)?;
    tx.commit()
}

/// Marks each hour of `rows` not marked yet at its first row's id. SQLite gave the rows
/// ids from `floor` up, one apart (the largest id plus one, as nothing else writes in
/// this transaction); should it not have, every hour is marked at `floor`, below them all.
fn mark_hours(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Box<Record>],
    floor: i64,
    marked: &mut Vec<i64>,
) -> rusqlite::Result<()> {
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let consecutive = tx.last_insert_rowid() == floor.saturating_add(n - 1);
    let mut mark = tx.prepare_cached(schema::MARK_HOUR)?;
    for (i, r) in rows.iter().enumerate() {
        let hour = schema::hour_of(r.at_ms);
        if marked.contains(&hour) {
            continue;
        }
        let id = if consecutive { floor + i as i64 } else { floor };
        mark.execute([hour, id])?;
        if marked.len() >= MARKED_HOURS {
            marked.remove(0);
        }
        marked.push(hour);
    }
    Ok(())
}

/// A row's values in [`schema::COLUMNS`] order.
fn values(r: &Record) -> [ToSqlOutput<'_>; schema::COLUMN_COUNT] {
    fn opt<'a, T: Into<ToSqlOutput<'a>>>(v: Option<T>) -> ToSqlOutput<'a> {
        v.map_or(ToSqlOutput::from(Null), Into::into)
    }
    fn opt_text(s: &Option<String>) -> ToSqlOutput<'_> {
        opt(s.as_deref().map(text))
    }
    [
        r.at_ms.into(),
        text(&r.provider).into(),
        opt_text(&r.pool),
        opt_text(&r.account),
        opt_text(&r.kind),
        opt_text(&r.model),
        r.status.into(),
        r.attempts.into(),
        r.rotations.into(),
        opt_text(&r.rotation),
        opt(r.ttfb_ms.map(int)),
        int(r.total_ms).into(),
        int(r.tokens.input).into(),
        int(r.tokens.output).into(),
        int(r.tokens.cache_read).into(),
        int(r.tokens.cache_write).into(),
        int(r.tokens.reasoning).into(),
        opt(r.cost_usd.filter(|c| c.is_finite() && *c >= 0.0)),
        r.stream.into(),
    ]
}

/// SQLite's integers are signed: a larger count is kept as the largest.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// At most [`MAX_TEXT`] bytes, cut at a character boundary.
fn text(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{query::Query, Tokens};

    fn row(i: i64) -> Box<Record> {
        Box::new(Record {
            at_ms: 1_700_000_000_000 + i,
            provider: "openai".into(),
            pool: Some(format!("pool{}", i % 3)),
            account: (i % 2 == 0).then(|| format!("acct{i}")),
            model: Some("gpt-4o".into()),
            status: 200 + (i % 5) as u16,
            attempts: 1 + (i % 2) as u32,
            ttfb_ms: (i % 4 != 0).then_some(i as u64),
            total_ms: 10 * i as u64,
            tokens: Tokens {
                input: i as u64,
                output: 2 * i as u64,
                ..Tokens::default()
            },
            cost_usd: (i % 3 == 0).then_some(i as f64 / 100.0),
            stream: i % 2 == 1,
            ..Record::default()
        })
    }

    #[test]
    fn a_batch_of_whole_chunks_and_a_remainder_reads_back_row_for_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let mut conn = Connection::open(&path).unwrap();
        schema::prepare(&mut conn, &path).unwrap();
        // Two multi-row statements and 6 rows one by one.
        let n = 2 * schema::ROWS_PER_INSERT as i64 + 6;
        let rows: Vec<Box<Record>> = (0..n).map(row).collect();
        insert(&mut conn, &rows, &mut Vec::new()).unwrap();
        let mut back = Query::new(&path).recent(1000).unwrap();
        back.sort_by_key(|r| r.at_ms);
        let want: Vec<Record> = rows.into_iter().map(|r| *r).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn a_row_written_late_is_still_found_by_its_own_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let mut conn = Connection::open(&path).unwrap();
        schema::prepare(&mut conn, &path).unwrap();
        let mut marked = Vec::new();
        let h = schema::HOUR_MS;
        let at = |hour: i64| {
            let mut r = row(0);
            r.at_ms = hour * h + 7;
            r
        };
        // A long stream of hour 10 ends after requests of hours 11 and 12, in a batch
        // with one of hour 12; then a writer that remembers no marks writes hour 11 again.
        insert(&mut conn, &[at(11)], &mut marked).unwrap();
        insert(&mut conn, &[at(12), at(10)], &mut marked).unwrap();
        insert(&mut conn, &[at(11)], &mut Vec::new()).unwrap();
        let q = Query::new(&path);
        let since = |hour: i64| q.totals(hour * h).unwrap().requests;
        assert_eq!(
            [since(0), since(10), since(11), since(12), since(13)],
            [4, 4, 3, 1, 0]
        );
        assert_eq!(q.totals(10 * h + 8).unwrap().requests, 3);
        let recent: Vec<i64> = q.recent(10).unwrap().iter().map(|r| r.at_ms / h).collect();
        assert_eq!(recent, [12, 11, 11, 10]);
    }

    #[test]
    fn pruning_deletes_the_rows_and_hours_past_keep_and_nothing_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let mut conn = Connection::open(&path).unwrap();
        schema::prepare(&mut conn, &path).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let h = schema::HOUR_MS;
        let at = |ms: i64| {
            let mut r = row(0);
            r.at_ms = ms;
            r
        };
        let mut marked = Vec::new();
        insert(&mut conn, &[at(now - 5 * h), at(now - 3 * h)], &mut marked).unwrap();
        insert(&mut conn, &[at(now - h), at(now)], &mut marked).unwrap();
        let mut w = Writer::new(conn, &path, Duration::from_secs(7200), Arc::default());
        w.prune();
        let q = Query::new(&path);
        assert_eq!(q.totals(0).unwrap().requests, 2);
        assert_eq!(q.totals(now - h).unwrap().requests, 2);
        let mut stmt = w
            .conn
            .prepare("SELECT hour FROM hours ORDER BY hour")
            .unwrap();
        let hours: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(hours, [schema::hour_of(now - h), schema::hour_of(now)]);
    }

    #[test]
    fn the_multi_row_statement_binds_every_column_of_every_row() {
        assert_eq!(schema::COLUMNS.split(',').count(), schema::COLUMN_COUNT);
        let sql = schema::insert_many();
        assert_eq!(
            sql.matches('?').count(),
            schema::COLUMN_COUNT * schema::ROWS_PER_INSERT
        );
    }
}
