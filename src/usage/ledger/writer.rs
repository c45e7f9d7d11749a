//! The one thread that writes `usage.db`: it takes everything queued, writes it in one
//! transaction, and deletes rows past `[usage] keep` at start and about hourly.

use super::{file, schema, Msg, Record};
use rusqlite::{params, Connection, TransactionBehavior};
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
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        path: &Path,
        keep: Duration,
        dropped: Arc<AtomicU64>,
    ) -> Writer {
        Writer {
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
            let result = insert(&mut self.conn, &rows);
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

    /// Deletes the rows older than `keep`, by the rows' own timestamps.
    fn prune(&mut self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let keep_ms = i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(keep_ms);
        match self
            .conn
            .execute("DELETE FROM answers WHERE at_ms < ?1", [cutoff])
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!("usage ledger: deleted {n} rows older than [usage] keep"),
            Err(e) => tracing::warn!(
                "usage ledger: cannot delete old rows from {} ({e})",
                self.path.display()
            ),
        }
    }
}

/// The rows in one transaction, through one prepared statement.
fn insert(conn: &mut Connection, rows: &[Box<Record>]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(schema::INSERT)?;
        for r in rows {
            stmt.execute(params![
                r.at_ms,
                text(&r.provider),
                r.pool.as_deref().map(text),
                r.account.as_deref().map(text),
                r.kind.as_deref().map(text),
                r.model.as_deref().map(text),
                r.status,
                r.attempts,
                r.rotations,
                r.rotation.as_deref().map(text),
                r.ttfb_ms.map(int),
                int(r.total_ms),
                int(r.tokens.input),
                int(r.tokens.output),
                int(r.tokens.cache_read),
                int(r.tokens.cache_write),
                int(r.tokens.reasoning),
                r.cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
                r.stream,
            ])?;
        }
    }
    tx.commit()
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
