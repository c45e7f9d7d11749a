//! `usage.db`: rows written by one thread off the request path, through a bounded queue.
//! STUB: the SQLite writer replaces this.

use super::Record;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Ledger {
    dropped: AtomicU64,
}

impl Ledger {
    /// Records nothing (`[usage] ledger = false`).
    pub fn off() -> Ledger {
        Ledger {
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues `r` for the writer; never waits. A full queue drops it and counts the drop.
    pub fn record(&self, _r: Record) {}

    /// Rows dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
