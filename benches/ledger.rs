//! What the usage ledger's writer costs per row: `cargo bench --bench ledger -- [--rows N]
//! [--batch B]`. Records N rows in batches of B (each batch then flushed, as the writer
//! takes everything queued at once) and prints the process's CPU time per row. Under
//! callgrind, two runs with different N give the instructions per row (see bench/README).

#[path = "support/cpu.rs"]
#[allow(dead_code)]
mod cpu;

use cpu::process_cpu;
use keypool::config::UsageConfig;
use keypool::usage::ledger::Ledger;
use keypool::usage::{Record, Tokens};
use std::time::Instant;

fn main() {
    let (mut rows, mut batch) = (20_000usize, 400usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> usize {
            let v = args.next().unwrap_or_default();
            v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                eprintln!("{name} {v}: not a positive count\nusage: ledger [--rows N] [--batch B]");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--rows" => rows = value("--rows"),
            "--batch" => batch = value("--batch"),
            "--bench" => {}
            other => {
                eprintln!("unknown option {other}\nusage: ledger [--rows N] [--batch B]");
                std::process::exit(2)
            }
        }
    }
    let dir = tempfile::tempdir().expect("a scratch directory");
    let ledger = Ledger::open(&dir.path().join("usage.db"), &UsageConfig::default())
        .expect("open the ledger");
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    let mut written = 0;
    while written < rows {
        let n = batch.min(rows - written);
        for i in written..written + n {
            ledger.record(row(i));
        }
        ledger.flush();
        written += n;
    }
    let (cpu, wall) = (process_cpu() - cpu0, wall0.elapsed());
    assert_eq!(
        ledger.dropped(),
        0,
        "the queue dropped rows: raise [usage] queue"
    );
    println!(
        "rows {rows} in batches of {batch}: {:.2} us CPU per row, {:.0} rows/s wall",
        cpu.as_secs_f64() * 1e6 / rows as f64,
        rows as f64 / wall.as_secs_f64()
    );
}

/// A row like an answered chat request's.
fn row(i: usize) -> Record {
    Record {
        at_ms: 1_800_000_000_000 + i as i64,
        provider: "openai".into(),
        pool: Some("openai".into()),
        account: Some(format!("acct-{}", i % 4)),
        kind: Some("key".into()),
        model: Some("gpt-4o-mini-2024-07-18".into()),
        status: 200,
        attempts: 1,
        ttfb_ms: Some(180),
        total_ms: 950,
        tokens: Tokens {
            input: 1200 + i as u64 % 97,
            output: 310,
            cache_read: 1024,
            ..Tokens::default()
        },
        cost_usd: Some(0.000_42),
        ..Record::default()
    }
}
