//! `usage.db`: rows written by one thread off the request path, through a bounded queue.
//!
//! A request never waits for the ledger: [`Ledger::record`] hands the row to a queue of
//! `[usage] queue` places and returns; when the queue is full the row is dropped and
//! counted ([`Ledger::dropped`]). One writer thread owns the SQLite connection and writes
//! whatever is queued in one transaction, so a killed keypool loses at most the queued
//! rows. The schema is in [`schema`], the thread in [`writer`], the file modes in [`file`].

mod file;
pub mod schema;
mod writer;

use super::Record;
use crate::config::UsageConfig;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the writer thread is sent.
enum Msg {
    /// Boxed: the queue's places are allocated up front, and a large queue of whole
    /// records would cost its full size even when idle.
    Row(Box<Record>),
    /// Answered once every message sent before it is written.
    Flush(SyncSender<()>),
}

pub struct Ledger {
    queue: Option<SyncSender<Msg>>,
    dropped: Arc<AtomicU64>,
    writer: Option<JoinHandle<()>>,
}

impl Ledger {
    /// Records nothing (`[usage] ledger = false`).
    pub fn off() -> Ledger {
        Ledger {
            queue: None,
            dropped: Arc::new(AtomicU64::new(0)),
            writer: None,
        }
    }

    /// Opens (or creates) the database at `path` and starts its writer. Refuses a file
    /// that is not a usage database, or one of a newer schema, leaving it as it is.
    pub fn open(path: &Path, cfg: &UsageConfig) -> Result<Ledger, String> {
        file::ready(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        schema::prepare(&mut conn, path)?;
        file::companions_private(path)?;
        let (queue, rx) = mpsc::sync_channel(cfg.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = writer::Writer::new(conn, path, cfg.keep, dropped.clone());
        let writer = std::thread::Builder::new()
            .name("keypool-ledger".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| format!("cannot start the usage ledger's writer: {e}"))?;
        Ok(Ledger {
            queue: Some(queue),
            dropped,
            writer: Some(writer),
        })
    }

    /// The ledger `cfg` asks for at `path`; when it cannot be opened, one warning (the
    /// file and the fix) and no ledger: keypool serves without recording.
    pub fn open_or_off(path: &Path, cfg: &UsageConfig) -> Ledger {
        if !cfg.ledger {
            return Ledger::off();
        }
        match Ledger::open(path, cfg) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("usage ledger off, nothing is recorded: {e}");
                Ledger::off()
            }
        }
    }

    /// Whether rows are written somewhere.
    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `r` for the writer; never waits. A full queue drops it and counts the drop.
    pub fn record(&self, r: Record) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(Msg::Row(Box::new(r))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Rows dropped: the queue was full, or the database refused the write.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Blocks until every row recorded before the call is written (or dropped). For
    /// shutdown, and for tests, which may call it to read what they recorded; never on
    /// the request path.
    pub fn flush(&self) {
        let Some(queue) = &self.queue else { return };
        let (tx, rx) = mpsc::sync_channel(1);
        if queue.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Drop for Ledger {
    /// Closes the queue and waits for the writer to write what is in it and close the
    /// database, so a ledger opened again next sees every row.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
