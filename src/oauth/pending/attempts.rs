//! The bookkeeping of an unsaved write: when to try again (backoff), and what each
//! attempt tells the log (one warning at the first failure, one debug line per backoff
//! step, one line when it lands).

use super::failure::Failure;
use super::Unsaved;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The bookkeeping of one unsaved write.
pub(super) struct Attempts {
    /// Bumped by every newer write of the account, so an attempt that wrote an older
    /// snapshot does not clear the entry.
    pub(super) seq: u64,
    /// `None` until an attempt failed (the first attempt follows the record at once).
    pub(super) failure: Option<Failure>,
    pub(super) failures: u32,
    pub(super) next_try: Instant,
    pub(super) since: Instant,
    /// What brings the login back if the write never lands.
    pub(super) relogin: String,
}

/// When to try again after a failed attempt: `first`, doubling, never more than `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pace {
    pub(super) first: Duration,
    pub(super) cap: Duration,
}

impl Pace {
    pub(super) const DEFAULT: Pace = Pace {
        first: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    };

    pub(super) fn after(self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.cap)
    }

    /// `wait` after `now`, saturating (a test may set an absurd pace).
    pub(super) fn deadline(self, now: Instant, wait: Duration) -> Instant {
        now.checked_add(wait)
            .unwrap_or_else(|| now + Pace::DEFAULT.cap)
    }
}

/// What settling an attempt tells the log.
pub(super) enum Note {
    Quiet,
    /// Landed after `failures` failed attempts.
    Saved {
        failures: u32,
        since: Instant,
    },
    /// The first failure: the one warning.
    Failed(Failure),
    /// Failed again: one debug line per backoff step.
    Retrying {
        failures: u32,
        wait: Duration,
        failure: Failure,
    },
}

impl Note {
    pub(super) fn log(self, name: &str, path: &Path) {
        match self {
            Note::Quiet => {}
            Note::Saved { failures, since } => tracing::info!(
                account = %name,
                "saved the refreshed login to {} after {failures} failed attempt(s) over {}s",
                path.display(),
                since.elapsed().as_secs()
            ),
            Note::Failed(f) => tracing::warn!(
                account = %name,
                concat!(
                    "{} (keypool keeps the new tokens in memory, serves with them, ",
                    "and writes them to {} as soon as it can)"
                ),
                f.message,
                f.path.display()
            ),
            Note::Retrying {
                failures,
                wait,
                failure,
            } => tracing::debug!(
                account = %name,
                "{} (attempt {failures} failed; next in {})",
                failure.message,
                humantime::format_duration(wait)
            ),
        }
    }
}

/// Books the result of writing snapshot `seq` of `name`'s entry.
pub(super) fn settle<W>(
    map: &mut BTreeMap<String, Unsaved<W>>,
    name: &str,
    seq: u64,
    result: Result<(), Failure>,
    pace: Pace,
) -> Note {
    let Some(a) = map.get_mut(name).map(|u| &mut u.attempts) else {
        return Note::Quiet;
    };
    let now = Instant::now();
    match result {
        // A newer write came meanwhile and its own attempt follows; the retry task
        // waits a step rather than race it.
        Ok(()) if a.seq != seq => {
            a.next_try = pace.deadline(now, pace.first);
            Note::Quiet
        }
        Ok(()) => {
            let a = map.remove(name).expect("just seen").attempts;
            match a.failure {
                Some(_) => Note::Saved {
                    failures: a.failures,
                    since: a.since,
                },
                None => Note::Quiet,
            }
        }
        Err(failure) => {
            a.failures = a.failures.saturating_add(1);
            let wait = pace.after(a.failures);
            a.next_try = pace.deadline(now, wait);
            match a.failure.replace(failure.clone()) {
                None => Note::Failed(failure),
                Some(_) => Note::Retrying {
                    failures: a.failures,
                    wait,
                    failure,
                },
            }
        }
    }
}
