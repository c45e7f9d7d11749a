//! `keypool usage`: the ledger summed per account, model, day or pool, read straight from
//! `$KEYPOOL_HOME/usage.db` (whether or not keypool runs).

use crate::failure::Failure;
use crate::home::Home;
use crate::usage::query::{By, Query};
use crate::usage_view::View;
use clap::{Args, ValueEnum};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// How far back: 7d, 24h, 90m, or a UTC date such as 2026-11-01
    #[arg(long, default_value = "7d", value_name = "WHEN")]
    pub since: String,
    /// What one line of the table sums
    #[arg(long, value_enum, default_value = "account")]
    pub by: UsageBy,
    /// Print JSON for scripts instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum UsageBy {
    Account,
    Model,
    Day,
    Pool,
}

impl From<UsageBy> for By {
    fn from(b: UsageBy) -> By {
        match b {
            UsageBy::Account => By::Account,
            UsageBy::Model => By::Model,
            UsageBy::Day => By::Day,
            UsageBy::Pool => By::Pool,
        }
    }
}

pub(super) fn usage(home: &Home, args: UsageArgs) -> Result<ExitCode, Failure> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let since_ms = crate::usage::since::parse(&args.since, now_ms).map_err(Failure::Usage)?;
    let by = By::from(args.by);
    let db = home.usage_db();
    let query = Query::new(&db);
    let read = |e: crate::usage::query::QueryError| Failure::Runtime(e.0);
    let groups = query.summary(since_ms, by).map_err(read)?;
    let total = query.totals(since_ms).map_err(read)?;
    if args.json {
        let v = serde_json::json!({
            "since_ms": since_ms,
            "by": by.name(),
            "groups": groups,
            "total": total,
            "db": db.display().to_string(),
        });
        return out(&format!("{v:#}\n"));
    }
    let older_rows = total.requests == 0 && query.has_rows().map_err(read)?;
    let view = View {
        since_ms,
        by,
        groups: &groups,
        total: &total,
        db: &db,
        older_rows,
    };
    out(&crate::usage_view::render(&view))
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
fn out(text: &str) -> Result<ExitCode, Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::Runtime(format!("cannot write to stdout: {e}"))),
    }
}
