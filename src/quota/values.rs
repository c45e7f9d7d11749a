//! The value forms quota headers use. Each returns `None` for anything that does not
//! parse (or parses to a nonsensical number) and never panics. A reset further out than
//! [`bounds::MAX_HORIZON`] from `now` is clamped to it.

use super::WindowStatus;
use crate::bounds::{self, BareReset};
use crate::providers::parse_go_duration;
use std::time::SystemTime;

/// A non-negative count: `1000`, or `999.0` from providers that print floats.
pub(super) fn count(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>().ok().or_else(|| {
        let f = number(v)?;
        // Saturating cast: counts beyond u64 are garbage anyway.
        Some(f.floor() as u64)
    })
}

/// A fraction; `percent` (or a trailing `%`) says the value is out of 100.
pub(super) fn fraction(v: &str, percent: bool) -> Option<f64> {
    let v = v.trim();
    let (v, percent) = match v.strip_suffix('%') {
        Some(v) => (v.trim_end(), true),
        None => (v, percent),
    };
    let f = number(v)?;
    Some(if percent { f / 100.0 } else { f })
}

pub(super) fn status(v: &str) -> Option<WindowStatus> {
    let v = v.trim();
    [
        ("allowed", WindowStatus::Allowed),
        ("allowed_warning", WindowStatus::AllowedWarning),
        ("rejected", WindowStatus::Rejected),
    ]
    .into_iter()
    .find(|(s, _)| v.eq_ignore_ascii_case(s))
    .map(|(_, st)| st)
}

/// A bare number of unknown unit, told apart by magnitude ([`bounds::bare_reset`]).
pub(super) fn numeric_reset(v: &str, now: SystemTime) -> Option<SystemTime> {
    match bounds::bare_reset(number(v)?) {
        BareReset::EpochSecs(secs) => epoch(secs, now),
        BareReset::AfterSecs(secs) => after(now, secs),
    }
}

/// Epoch milliseconds, whatever the magnitude.
pub(super) fn epoch_millis(v: &str, now: SystemTime) -> Option<SystemTime> {
    epoch(number(v)? / 1000.0, now)
}

/// Seconds from `now`.
pub(super) fn seconds_after(v: &str, now: SystemTime) -> Option<SystemTime> {
    after(now, number(v)?)
}

/// A Go duration from `now` (`6m0s`, `12ms`, `2m59.56s`); a bare number by magnitude.
pub(super) fn go_reset(v: &str, now: SystemTime) -> Option<SystemTime> {
    match parse_go_duration(v) {
        Some(d) => Some(bounds::after(now, d)),
        None => numeric_reset(v, now),
    }
}

/// An RFC 3339 timestamp (`2026-03-01T12:00:30Z`); a bare number by magnitude.
pub(super) fn rfc3339_reset(v: &str, now: SystemTime) -> Option<SystemTime> {
    let v = v.trim();
    match time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        Ok(at) => {
            let at = at.unix_timestamp_nanos();
            let secs = u64::try_from(at.div_euclid(1_000_000_000)).ok()?;
            let nanos = u32::try_from(at.rem_euclid(1_000_000_000)).ok()?;
            let at = SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos));
            // A year-9999 reset is as far as keypool looks ahead.
            Some(at.map_or(bounds::after(now, bounds::MAX_HORIZON), |at| {
                bounds::clamp_to_horizon(at, now)
            }))
        }
        Err(_) => numeric_reset(v, now),
    }
}

/// A finite, non-negative number.
fn number(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
}

/// Epoch seconds; beyond the horizon (or beyond what the platform represents) clamped.
fn epoch(secs: f64, now: SystemTime) -> Option<SystemTime> {
    let far = bounds::after(now, bounds::MAX_HORIZON);
    Some(bounds::epoch_secs_f64(secs).map_or(far, |at| at.min(far)))
}

fn after(now: SystemTime, secs: f64) -> Option<SystemTime> {
    Some(bounds::after(now, bounds::wait_from_secs_f64(secs)?))
}
