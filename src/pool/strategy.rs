//! Which account of a pool serves the next request: a pure function of the usable
//! accounts' states, the strategy, the time and the soft threshold.
//!
//! Every strategy works on the *effective pressure* of an account: the utilization of its
//! tightest known quota window (0 = untouched, 1 = used up; may exceed 1), taken as 0 when
//! unknown or when that window's reset has passed. Unknown counts as fresh because keypool
//! learns quota only from answers: an account that has not answered yet (or whose provider
//! sends no quota headers) must still be tried, or it would never be learned about, and an
//! account whose window reset since its last answer has, as far as anyone knows, its full
//! quota back. A wrong guess costs one 429, which the pipeline rotates on anyway.
//!
//! The soft threshold applies to all strategies: an account whose effective pressure is at
//! or above it is chosen only when no candidate is below it, so a pool rotates before the
//! provider's hard 429. When every candidate is at or above it, the one with the lowest
//! pressure is chosen (ties by least recently used, then pool order), whatever the
//! strategy. For `scheduled`, "every candidate" means every account on schedule: an
//! account off schedule is a last resort, after the soft threshold.

use crate::config::schedule::Schedule;
use crate::config::{Role, Strategy};
use std::time::SystemTime;
use time::UtcOffset;

/// A usable account (not cooling, not disabled, not yet tried for this request) as the
/// strategy sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// What `choose` returns for this candidate (the caller's index, e.g. into the pool).
    pub idx: usize,
    /// Utilization of the tightest known window, 0..1 (or more); `None` when unknown.
    pub pressure: Option<f64>,
    /// When that window resets; once passed, the pressure counts as 0.
    pub resets_at: Option<SystemTime>,
    /// When the account last served a request of this pool; `None` when never.
    pub last_used: Option<SystemTime>,
    /// Position in the pool's account list.
    pub order: usize,
    /// `scheduled` only: when the account is meant to be used; `None` = always.
    pub schedule: Option<Schedule>,
    /// `scheduled` only.
    pub role: Role,
}

impl Candidate {
    /// The pressure the strategies compare: 0 when unknown, when the window has reset, or
    /// when not a number; never negative.
    pub fn effective_pressure(&self, now: SystemTime) -> f64 {
        if self.resets_at.is_some_and(|r| r <= now) {
            return 0.0;
        }
        match self.pressure {
            Some(p) if p > 0.0 => p,
            _ => 0.0,
        }
    }
}

/// The `idx` of the candidate that should serve the next request; `None` only when there
/// are no candidates. `local_offset` is the offset schedules are read in (see
/// [`crate::config::schedule::local_offset`]).
///
/// - `round-robin`: the least recently used (never used first), ties by pool order. Every
///   caller that records `last_used` gets plain rotation, without a cursor.
/// - `headroom`: the lowest pressure, ties by least recently used, then pool order.
/// - `priority` and `fill-first`: the first in pool order below the soft threshold.
/// - `scheduled`: accounts whose schedule is off are left out unless no other is left;
///   of the rest, preferred before default before overflow, each group in headroom order.
pub fn choose(
    strategy: &Strategy,
    candidates: &[Candidate],
    now: SystemTime,
    soft_threshold: f64,
    local_offset: UtcOffset,
) -> Option<usize> {
    let mut set: Vec<&Candidate> = candidates.iter().collect();
    if *strategy == Strategy::Scheduled {
        let on: Vec<&Candidate> = set
            .iter()
            .copied()
            .filter(|c| {
                c.schedule
                    .as_ref()
                    .is_none_or(|s| s.is_active(now, local_offset))
            })
            .collect();
        if !on.is_empty() {
            set = on;
        }
    }
    let p = |c: &Candidate| c.effective_pressure(now);
    let by_order = |a: &&Candidate, b: &&Candidate| (a.order, a.idx).cmp(&(b.order, b.idx));
    let by_lru = |a: &&Candidate, b: &&Candidate| a.last_used.cmp(&b.last_used);
    let by_headroom = |a: &&Candidate, b: &&Candidate| {
        p(a).total_cmp(&p(b))
            .then(by_lru(a, b))
            .then(by_order(a, b))
    };

    let below: Vec<&Candidate> = set
        .iter()
        .copied()
        .filter(|c| p(c) < soft_threshold)
        .collect();
    if below.is_empty() {
        return set.into_iter().min_by(by_headroom).map(|c| c.idx);
    }
    let best = match strategy {
        Strategy::RoundRobin => below
            .into_iter()
            .min_by(|a, b| by_lru(a, b).then(by_order(a, b))),
        Strategy::Headroom => below.into_iter().min_by(by_headroom),
        Strategy::Priority | Strategy::FillFirst => below.into_iter().min_by(by_order),
        Strategy::Scheduled => below
            .into_iter()
            .min_by(|a, b| a.role.cmp(&b.role).then_with(|| by_headroom(a, b))),
    };
    best.map(|c| c.idx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T: f64 = 0.95;

    fn now() -> SystemTime {
        // Monday 2024-06-03 12:00 UTC.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_416_000)
    }

    fn mins_ago(m: u64) -> Option<SystemTime> {
        Some(now() - Duration::from_secs(m * 60))
    }

    fn mins_ahead(m: u64) -> Option<SystemTime> {
        Some(now() + Duration::from_secs(m * 60))
    }

    /// A candidate in pool position `order`, with idx = 10 + order so the two cannot be
    /// confused.
    fn c(order: usize, pressure: Option<f64>) -> Candidate {
        Candidate {
            idx: 10 + order,
            pressure,
            resets_at: None,
            last_used: None,
            order,
            schedule: None,
            role: Role::Default,
        }
    }

    fn used(mut c: Candidate, at: Option<SystemTime>) -> Candidate {
        c.last_used = at;
        c
    }

    fn resets(mut c: Candidate, at: Option<SystemTime>) -> Candidate {
        c.resets_at = at;
        c
    }

    fn sched(mut c: Candidate, s: &str, role: Role) -> Candidate {
        c.schedule = (!s.is_empty()).then(|| s.parse().unwrap());
        c.role = role;
        c
    }

    fn run(strategy: Strategy, cs: &[Candidate]) -> Option<usize> {
        choose(&strategy, cs, now(), T, UtcOffset::UTC)
    }

    #[test]
    fn no_candidates_no_choice() {
        for s in Strategy::ALL {
            assert_eq!(run(s, &[]), None, "{}", s.as_str());
        }
    }

    #[test]
    fn round_robin_takes_the_least_recently_used() {
        use Strategy::RoundRobin as RR;
        // (case, candidates, chosen idx)
        let table: Vec<(&str, Vec<Candidate>, usize)> = vec![
            (
                "all fresh: pool order",
                vec![c(0, None), c(1, None), c(2, None)],
                10,
            ),
            (
                "never used first",
                vec![used(c(0, None), mins_ago(1)), c(1, None), c(2, None)],
                11,
            ),
            (
                "oldest use",
                vec![
                    used(c(0, None), mins_ago(1)),
                    used(c(1, None), mins_ago(3)),
                    used(c(2, None), mins_ago(2)),
                ],
                11,
            ),
            (
                "same time: pool order",
                vec![used(c(1, None), mins_ago(2)), used(c(0, None), mins_ago(2))],
                10,
            ),
            (
                "pressure does not matter below the threshold",
                vec![
                    used(c(0, Some(0.1)), mins_ago(1)),
                    used(c(1, Some(0.9)), mins_ago(2)),
                ],
                11,
            ),
            (
                "at the soft threshold: skipped",
                vec![
                    used(c(0, Some(0.1)), mins_ago(1)),
                    used(c(1, Some(0.95)), mins_ago(2)),
                ],
                10,
            ),
            (
                "all at or above: lowest pressure",
                vec![
                    used(c(0, Some(0.99)), mins_ago(5)),
                    used(c(1, Some(0.96)), mins_ago(1)),
                ],
                11,
            ),
            (
                "a passed reset counts as fresh",
                vec![
                    used(c(0, Some(0.2)), mins_ago(1)),
                    resets(used(c(1, Some(1.0)), mins_ago(9)), mins_ago(1)),
                ],
                11,
            ),
        ];
        for (case, cs, want) in table {
            assert_eq!(run(RR, &cs), Some(want), "{case}");
        }
    }

    #[test]
    fn round_robin_rotates_when_last_used_is_recorded() {
        let mut cs = vec![c(0, None), c(1, None), c(2, None)];
        let mut seen = Vec::new();
        for i in 0..6u64 {
            let t = now() + Duration::from_secs(i);
            let idx = choose(&Strategy::RoundRobin, &cs, t, T, UtcOffset::UTC).unwrap();
            seen.push(idx);
            cs.iter_mut().find(|c| c.idx == idx).unwrap().last_used = Some(t);
        }
        assert_eq!(seen, vec![10, 11, 12, 10, 11, 12]);
    }

    #[test]
    fn headroom_takes_the_lowest_pressure() {
        use Strategy::Headroom as H;
        let table: Vec<(&str, Vec<Candidate>, usize)> = vec![
            (
                "lowest",
                vec![c(0, Some(0.5)), c(1, Some(0.2)), c(2, Some(0.7))],
                11,
            ),
            (
                "unknown counts as 0",
                vec![c(0, Some(0.1)), c(1, None), c(2, Some(0.05))],
                11,
            ),
            (
                "tie: least recently used",
                vec![
                    used(c(0, Some(0.3)), mins_ago(1)),
                    used(c(1, Some(0.3)), mins_ago(5)),
                    c(2, Some(0.6)),
                ],
                11,
            ),
            (
                "tie, one never used: that one",
                vec![used(c(0, Some(0.3)), mins_ago(5)), c(1, Some(0.3))],
                11,
            ),
            (
                "unknown ties with 0",
                vec![
                    used(c(0, None), mins_ago(1)),
                    used(c(1, Some(0.0)), mins_ago(2)),
                ],
                11,
            ),
            (
                "full tie: pool order",
                vec![c(2, Some(0.3)), c(1, Some(0.3))],
                11,
            ),
            (
                "a passed reset counts as 0",
                vec![c(0, Some(0.1)), resets(c(1, Some(0.99)), Some(now()))],
                11,
            ),
            (
                "a future reset does not",
                vec![c(0, Some(0.1)), resets(c(1, Some(0.99)), mins_ahead(1))],
                10,
            ),
            (
                "negative and NaN read as 0",
                vec![c(0, Some(0.01)), c(1, Some(-0.5)), c(2, Some(f64::NAN))],
                11,
            ),
            (
                "all at or above: lowest",
                vec![c(0, Some(1.2)), c(1, Some(0.97)), c(2, Some(1.0))],
                11,
            ),
            // Read as 0, these tie with a fresh account and lose to it on recency.
            (
                "negative is not more headroom than none",
                vec![
                    used(c(0, None), mins_ago(5)),
                    used(c(1, Some(-0.5)), mins_ago(1)),
                ],
                10,
            ),
            (
                "-0 is not below 0",
                vec![
                    used(c(0, Some(0.0)), mins_ago(5)),
                    used(c(1, Some(-0.0)), mins_ago(1)),
                ],
                10,
            ),
            (
                "NaN is not above the threshold",
                vec![
                    used(c(0, Some(f64::NAN)), mins_ago(5)),
                    used(c(1, Some(0.0)), mins_ago(1)),
                ],
                10,
            ),
        ];
        for (case, cs, want) in table {
            assert_eq!(run(H, &cs), Some(want), "{case}");
        }
    }

    #[test]
    fn priority_and_fill_first_use_the_first_below_the_threshold() {
        let table: Vec<(&str, Vec<Candidate>, usize)> = vec![
            (
                "first in order, whatever the others' headroom",
                vec![c(1, Some(0.9)), c(0, Some(0.8)), c(2, None)],
                10,
            ),
            (
                "first at the threshold: the next",
                vec![c(0, Some(0.95)), c(1, Some(0.5)), c(2, Some(0.0))],
                11,
            ),
            (
                "first two above: the third",
                vec![c(0, Some(1.0)), c(1, Some(0.96)), c(2, Some(0.94))],
                12,
            ),
            (
                "all at or above: lowest pressure",
                vec![c(0, Some(1.0)), c(1, Some(0.96)), c(2, Some(0.99))],
                11,
            ),
            (
                "back to the first once its window reset",
                vec![
                    resets(used(c(0, Some(1.0)), mins_ago(60)), mins_ago(1)),
                    used(c(1, Some(0.3)), mins_ago(0)),
                ],
                10,
            ),
            (
                "not before it reset",
                vec![
                    resets(used(c(0, Some(1.0)), mins_ago(60)), mins_ahead(1)),
                    used(c(1, Some(0.3)), mins_ago(0)),
                ],
                11,
            ),
            (
                "recent use does not matter",
                vec![used(c(0, Some(0.2)), mins_ago(0)), c(1, None)],
                10,
            ),
            (
                "the first is not a candidate (cooling): the second",
                vec![c(1, Some(0.9)), c(2, Some(0.1))],
                11,
            ),
        ];
        for s in [Strategy::Priority, Strategy::FillFirst] {
            for (case, cs, want) in &table {
                assert_eq!(run(s, cs), Some(*want), "{}: {case}", s.as_str());
            }
        }
    }

    #[test]
    fn fill_first_moves_on_as_the_first_fills_up() {
        // One account's pressure rising over a window: it serves until 0.95, then the next.
        let mut cs = vec![c(0, Some(0.0)), c(1, Some(0.0))];
        let mut chosen = Vec::new();
        for step in 0..=10 {
            cs[0].pressure = Some(step as f64 / 10.0);
            chosen.push(run(Strategy::FillFirst, &cs).unwrap());
        }
        assert_eq!(chosen, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11]);
        cs[0].pressure = Some(0.949);
        assert_eq!(run(Strategy::FillFirst, &cs), Some(10));
    }

    #[test]
    fn scheduled_groups_by_role_and_skips_accounts_off_schedule() {
        use Role::{Default as D, Overflow as O, Preferred as P};
        // now() is Monday 12:00 UTC.
        let table: Vec<(&str, Vec<Candidate>, usize)> = vec![
            (
                "preferred on schedule first",
                vec![
                    sched(c(0, Some(0.1)), "", D),
                    sched(c(1, Some(0.8)), "9-17 mon-fri", P),
                ],
                11,
            ),
            (
                "preferred off schedule: default",
                vec![
                    sched(c(0, Some(0.8)), "", D),
                    sched(c(1, Some(0.0)), "9-17 sat,sun", P),
                ],
                10,
            ),
            (
                "preferred without a schedule is always on",
                vec![sched(c(0, Some(0.1)), "", D), sched(c(1, Some(0.5)), "", P)],
                11,
            ),
            (
                "default before overflow",
                vec![sched(c(0, Some(0.0)), "", O), sched(c(1, Some(0.9)), "", D)],
                11,
            ),
            (
                "default off schedule is skipped: overflow",
                vec![
                    sched(c(0, Some(0.0)), "22-6", D),
                    sched(c(1, Some(0.9)), "", O),
                ],
                11,
            ),
            (
                "within a group: headroom",
                vec![
                    sched(c(0, Some(0.6)), "9-17", P),
                    sched(c(1, Some(0.2)), "0-24 mon", P),
                    sched(c(2, Some(0.0)), "", D),
                ],
                11,
            ),
            (
                "within a group, tie: least recently used",
                vec![
                    used(sched(c(0, Some(0.2)), "", D), mins_ago(1)),
                    used(sched(c(1, Some(0.2)), "", D), mins_ago(2)),
                ],
                11,
            ),
            (
                "preferred at the soft threshold: default",
                vec![
                    sched(c(0, Some(0.96)), "9-17 mon-fri", P),
                    sched(c(1, Some(0.5)), "", D),
                ],
                11,
            ),
            (
                "all on-schedule at or above: lowest pressure, not the one off schedule",
                vec![
                    sched(c(0, Some(0.99)), "", P),
                    sched(c(1, Some(0.97)), "", O),
                    sched(c(2, Some(0.0)), "sat", D),
                ],
                11,
            ),
            (
                "nothing on schedule: the off-schedule ones, by role",
                vec![
                    sched(c(0, Some(0.0)), "sat,sun", O),
                    sched(c(1, Some(0.5)), "18-22", P),
                ],
                11,
            ),
            (
                "overnight window on from Sunday",
                vec![
                    sched(c(0, Some(0.0)), "", D),
                    sched(c(1, Some(0.5)), "22-13 sun", P),
                ],
                11,
            ),
            (
                "overnight window ended at 12:00",
                vec![
                    sched(c(0, Some(0.0)), "", D),
                    sched(c(1, Some(0.5)), "22-12 sun", P),
                ],
                10,
            ),
        ];
        for (case, cs, want) in table {
            assert_eq!(run(Strategy::Scheduled, &cs), Some(want), "{case}");
        }
    }

    #[test]
    fn scheduled_follows_the_clock_and_the_offset() {
        use Role::{Default as D, Preferred as P};
        let cs = vec![
            sched(c(0, Some(0.0)), "", D),
            sched(c(1, Some(0.5)), "9-17 mon-fri", P),
            sched(c(2, Some(0.5)), "22-6", P),
        ];
        let monday = now(); // 12:00 UTC
        let h = |n: u64| Duration::from_secs(n * 3600);
        let utc = UtcOffset::UTC;
        let tokyo = UtcOffset::from_hms(9, 0, 0).unwrap();
        let table: &[(&str, SystemTime, UtcOffset, usize)] = &[
            ("Monday noon", monday, utc, 11),
            ("Monday 20:00", monday + h(8), utc, 10),
            ("Monday 23:00: overnight", monday + h(11), utc, 12),
            ("Tuesday 05:00: still overnight", monday + h(17), utc, 12),
            ("Tuesday 06:00", monday + h(18), utc, 10),
            ("Saturday noon", monday + h(5 * 24), utc, 10),
            ("Monday 12:00 UTC is 21:00 in Tokyo", monday, tokyo, 10),
            (
                "Monday 14:00 UTC is 23:00 in Tokyo",
                monday + h(2),
                tokyo,
                12,
            ),
            (
                "Monday 01:00 UTC is 10:00 in Tokyo",
                monday - h(11),
                tokyo,
                11,
            ),
        ];
        for (case, at, offset, want) in table {
            assert_eq!(
                choose(&Strategy::Scheduled, &cs, *at, T, *offset),
                Some(*want),
                "{case}"
            );
        }
    }

    #[test]
    fn other_strategies_ignore_schedules_and_roles() {
        let cs = vec![
            sched(c(0, Some(0.5)), "sat", Role::Overflow),
            sched(c(1, Some(0.6)), "", Role::Preferred),
        ];
        assert_eq!(run(Strategy::Headroom, &cs), Some(10));
        assert_eq!(run(Strategy::Priority, &cs), Some(10));
        assert_eq!(run(Strategy::RoundRobin, &cs), Some(10));
    }

    #[test]
    fn the_soft_threshold_is_a_parameter() {
        let cs = vec![c(0, Some(0.8)), c(1, Some(0.1))];
        let at = |t: f64| choose(&Strategy::Priority, &cs, now(), t, UtcOffset::UTC);
        assert_eq!(at(0.95), Some(10));
        assert_eq!(at(0.8), Some(11), "at the threshold is not below it");
        assert_eq!(at(1.0), Some(10));
        let full = vec![c(0, Some(1.0)), c(1, Some(1.0))];
        assert_eq!(
            choose(&Strategy::Priority, &full, now(), 1.0, UtcOffset::UTC),
            Some(10),
            "all at 1.0 with threshold 1.0: lowest pressure, ties by order"
        );
    }
}
