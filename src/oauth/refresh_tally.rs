//! How the token refreshes (and Copilot token exchanges) since start ended, per flavor:
//! the metrics read it at scrape time. Process-wide rather than per account, so a reload
//! that rebuilds the accounts does not send the counters back to zero.

use crate::providers::Flavor;
use std::sync::atomic::{AtomicU64, Ordering};

/// How one call to a token endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New tokens.
    Ok,
    /// The endpoint failed for now (network, 5xx, a garbled answer): tried again later.
    Failed,
    /// The endpoint refused the login for good: the account needs `keypool login`.
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Failed, Outcome::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }
}

const FLAVORS: usize = Flavor::ALL.len();
const OUTCOMES: usize = Outcome::ALL.len();

static COUNTS: [[AtomicU64; OUTCOMES]; FLAVORS] =
    [const { [const { AtomicU64::new(0) }; OUTCOMES] }; FLAVORS];

fn slot(flavor: Flavor) -> usize {
    Flavor::ALL.iter().position(|f| *f == flavor).unwrap_or(0)
}

/// Counts one call of `flavor`'s token endpoint.
pub fn count(flavor: Flavor, outcome: Outcome) {
    COUNTS[slot(flavor)][outcome as usize].fetch_add(1, Ordering::Relaxed);
}

/// Every (provider, result, count) with a count above zero.
pub fn snapshot() -> Vec<(&'static str, &'static str, u64)> {
    let mut out = Vec::new();
    for f in Flavor::ALL {
        for o in Outcome::ALL {
            let n = COUNTS[slot(f)][o as usize].load(Ordering::Relaxed);
            if n > 0 {
                out.push((f.provider_id(), o.as_str(), n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_flavor_and_outcome() {
        let before = |f: Flavor, o: Outcome| {
            snapshot()
                .iter()
                .find(|(p, r, _)| *p == f.provider_id() && *r == o.as_str())
                .map_or(0, |x| x.2)
        };
        let (ok0, refused0) = (
            before(Flavor::Codex, Outcome::Ok),
            before(Flavor::Copilot, Outcome::Refused),
        );
        count(Flavor::Codex, Outcome::Ok);
        count(Flavor::Codex, Outcome::Ok);
        count(Flavor::Copilot, Outcome::Refused);
        assert_eq!(before(Flavor::Codex, Outcome::Ok), ok0 + 2);
        assert_eq!(before(Flavor::Copilot, Outcome::Refused), refused0 + 1);
    }
}
