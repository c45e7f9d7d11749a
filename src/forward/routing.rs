//! Which pool and account when the first choice cannot serve: fallback pools, holding
//! for an account to free, and requests pinned to the account that holds their state.

use super::*;

/// When the request continues state held by one account (a `previous_response_id`, say)
/// and the pick landed elsewhere because that account is limited: why the client gets
/// that account's limit rather than a confusing error from another account.
pub(super) fn pinned_elsewhere(
    pool: &Pool,
    affinity: &crate::sticky::Route,
    picked: &Account,
    now: std::time::SystemTime,
) -> Option<Unavailable> {
    let pin = affinity.pinned.as_ref()?;
    if pin.account == picked.name {
        return None;
    }
    let held_by = pool.members.iter().find(|a| a.name == pin.account)?;
    let (first_free_in, state) = match held_by.health(now) {
        crate::pool::Health::Cooling { until, cause } => (
            Some(until.duration_since(now).unwrap_or_default()),
            format!("limited ({})", cause.detail()),
        ),
        crate::pool::Health::Disabled { reason } | crate::pool::Health::Ended { reason, .. } => {
            (None, format!("disabled: {reason}"))
        }
        crate::pool::Health::Ok => (Some(Duration::from_secs(1)), "busy".to_string()),
    };
    Some(Unavailable {
        first_free_in,
        summary: format!(
            "this request continues state that only account '{}' holds ({:?}), and it is {state}",
            pin.account, pin.reason
        ),
    })
}

/// The next pool of the fallback chain not yet visited that can serve the request: the
/// first pool's fallbacks in order, then theirs (breadth first). A pool the client may
/// not use (a password guards it) is never a fallback. The chain is walked by the
/// indices resolved when `pools` were built; `visited` holds the indices of the pools
/// tried so far, the first pool's first.
pub(super) fn next_fallback(
    pools: &crate::pool::Pools,
    visited: &[usize],
    kind: Option<crate::providers::Kind>,
    path: &str,
    may_use: impl Fn(&str) -> bool,
) -> Option<Arc<Pool>> {
    visited
        .iter()
        .filter_map(|&v| pools.all.get(v))
        .flat_map(|p| p.fallback.iter())
        .filter(|i| !visited.contains(i))
        .filter_map(|&i| pools.all.get(i))
        .filter(|p| may_use(&p.name))
        .find(|p| p.serves(kind, path))
        .cloned()
}

/// How long to hold a request whose pool is all limited, if the pool holds at all and the
/// first account frees within what is left of `hold_max`.
pub(super) fn hold_for(
    pool: &Pool,
    why: &Unavailable,
    held: Duration,
    replayable: bool,
) -> Option<Duration> {
    let max = pool.hold_max?;
    let wait = why.first_free_in?.max(Duration::from_millis(10));
    (replayable && held.saturating_add(wait) <= max).then_some(wait)
}
