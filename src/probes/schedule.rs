//! When each account may be probed next, and whether a failure is news. Pure
//! bookkeeping on keypool's clock, so a test moves a manual clock instead of waiting.
//!
//! - After a probe is sent, that account waits [`MIN_GAP`] whatever `[probes] every`
//!   says (Anthropic's budget is per access token and small).
//! - After a 429 it waits at least [`LIMITED_BACKOFF`], longer if `retry-after` says so:
//!   Anthropic answers `retry-after: 0` and keeps refusing for as long as it is asked.
//! - A failure is logged at info the first time, at debug while the same failure repeats.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The shortest time between two probes of one account.
pub const MIN_GAP: Duration = Duration::from_secs(60);

/// The shortest wait after a 429.
pub const LIMITED_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// The longest wait after a 429, whatever `retry-after` says.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default)]
struct Slot {
    not_before: Option<SystemTime>,
    /// The kind of the failure last logged at info, while it repeats.
    failing: Option<String>,
}

/// Per account (keyed by provider and name), its next allowed probe and its failure.
#[derive(Debug, Default)]
pub struct Schedule {
    slots: HashMap<String, Slot>,
}

impl Schedule {
    /// Whether `key` may be probed at `now`; when it may, it is booked: the next probe of
    /// it waits [`MIN_GAP`] (a 429 pushes that further with [`Schedule::limited`]).
    pub fn book(&mut self, key: &str, now: SystemTime) -> bool {
        let slot = self.slots.entry(key.to_string()).or_default();
        if slot.not_before.is_some_and(|t| now < t) {
            return false;
        }
        slot.not_before = Some(crate::bounds::after(now, MIN_GAP));
        true
    }

    /// `key` answered 429 at `now`, asking to wait `said` (0 when it did not say);
    /// returns the wait it gets.
    pub fn limited(&mut self, key: &str, now: SystemTime, said: Duration) -> Duration {
        let wait = said.clamp(LIMITED_BACKOFF, MAX_BACKOFF);
        let slot = self.slots.entry(key.to_string()).or_default();
        slot.not_before = Some(crate::bounds::after(now, wait));
        wait
    }

    /// When `key` may be probed next (`None`: now).
    pub fn next(&self, key: &str) -> Option<SystemTime> {
        self.slots.get(key)?.not_before
    }

    /// Records a failure of `kind`; `true` when it is news (log it at info).
    pub fn failed(&mut self, key: &str, kind: String) -> bool {
        let slot = self.slots.entry(key.to_string()).or_default();
        let news = slot.failing.as_deref() != Some(kind.as_str());
        slot.failing = Some(kind);
        news
    }

    /// Records a success; `true` when `key` was failing (its recovery is news).
    pub fn succeeded(&mut self, key: &str) -> bool {
        self.slots
            .get_mut(key)
            .is_some_and(|s| s.failing.take().is_some())
    }

    /// Forgets the accounts not in `keys` (a reload removed them).
    pub fn retain(&mut self, keys: &std::collections::HashSet<String>) {
        self.slots.retain(|k, _| keys.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    #[test]
    fn one_probe_a_minute_at_most() {
        let mut s = Schedule::default();
        assert!(s.book("a", at(0)));
        assert!(!s.book("a", at(59)));
        assert!(s.book("b", at(59)), "per account");
        assert!(s.book("a", at(60)));
    }

    #[test]
    fn a_429_backs_off_five_minutes_even_with_retry_after_zero() {
        let mut s = Schedule::default();
        assert!(s.book("a", at(0)));
        s.limited("a", at(0), Duration::ZERO);
        assert!(!s.book("a", at(299)));
        assert!(s.book("a", at(300)));
        // A longer retry-after is honoured, an absurd one capped.
        s.limited("a", at(300), Duration::from_secs(3600));
        assert!(!s.book("a", at(300 + 3599)));
        assert!(s.book("a", at(300 + 3600)));
        s.limited("a", at(0), Duration::from_secs(u64::MAX / 4));
        assert_eq!(s.next("a"), Some(at(24 * 3600)));
    }

    #[test]
    fn a_failure_is_news_once_until_it_changes_or_recovers() {
        let mut s = Schedule::default();
        assert!(s.failed("a", "500".into()));
        assert!(!s.failed("a", "500".into()));
        assert!(s.failed("a", "body".into()));
        assert!(s.succeeded("a"));
        assert!(!s.succeeded("a"));
        assert!(s.failed("a", "body".into()));
        let keep = ["b".to_string()].into_iter().collect();
        s.retain(&keep);
        assert_eq!(s.next("a"), None);
    }
}
