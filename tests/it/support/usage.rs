//! Reading the usage ledger a running keypool writes.

use super::keypool::Keypool;
use keypool::usage::query::Query;
use keypool::usage::Record;
use keypool::Home;
use std::time::{Duration, Instant};

/// Rows are written off the request path; this long is the most a loaded CI machine
/// takes to write one.
const ROWS_WAIT: Duration = Duration::from_secs(20);

/// The ledger's newest rows, newest first, once there are at least `n` of them: polled a
/// few ms apart (the writer thread commits on its own time) and bounded by [`ROWS_WAIT`].
pub async fn usage_rows(kp: &Keypool, n: usize) -> Vec<Record> {
    let query = Query::new(&Home::at(kp.home.path()).usage_db());
    let start = Instant::now();
    loop {
        let last = match query.recent(100) {
            Ok(rows) if rows.len() >= n => return rows,
            Ok(rows) => format!("{} rows: {rows:?}", rows.len()),
            // The database may not exist until the first row is written.
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < ROWS_WAIT,
            "waited {ROWS_WAIT:?} for {n} ledger rows; last saw {last}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
