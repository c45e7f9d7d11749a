//! The value forms quota endpoints answer with, checked: every reader returns `None` for
//! what is missing, not a number, negative, NaN or absurdly large, and never panics.
//! Kimi sends its numbers as strings, so a numeric string reads like a number.

use crate::bounds;
use serde_json::Value;
use std::time::SystemTime;

/// A utilization beyond this (in percent) is garbage rather than an overrun: Anthropic's
/// go a little past 100, not a hundred times past it.
const MAX_PERCENT: f64 = 10_000.0;

/// A count beyond this is garbage (a quota of 10¹⁵ requests is no quota).
const MAX_COUNT: f64 = 1e15;

/// A finite number, of either sign: a JSON number or a numeric string.
pub(super) fn signed(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// A finite, non-negative number.
pub(super) fn number(v: &Value) -> Option<f64> {
    signed(v).filter(|f| *f >= 0.0)
}

/// A non-negative count, whole.
pub(super) fn count(v: &Value) -> Option<u64> {
    let f = number(v).filter(|f| *f <= MAX_COUNT)?;
    Some(f.floor() as u64)
}

/// A percentage (0–100, more when over) as a fraction.
pub(super) fn percent(v: &Value) -> Option<f64> {
    number(v).filter(|p| *p <= MAX_PERCENT).map(|p| p / 100.0)
}

/// A fraction that cannot exceed 1 (Code Assist's `remainingFraction`).
pub(super) fn unit_fraction(v: &Value) -> Option<f64> {
    number(v).filter(|f| *f <= 1.0)
}

/// An RFC 3339 timestamp (`2026-03-01T12:00:30.123456+00:00`), clamped to the horizon.
pub(super) fn rfc3339(v: &Value, now: SystemTime) -> Option<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(v.as_str()?.trim(), &Rfc3339).ok()?;
    let far = bounds::after(now, bounds::MAX_HORIZON);
    // Before 1970 is no reset to wait for.
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(bounds::epoch_secs(secs).map_or(far, |at| bounds::clamp_to_horizon(at, now)))
}

/// Epoch seconds, clamped to the horizon (so is one beyond what the platform holds).
pub(super) fn epoch(v: &Value, now: SystemTime) -> Option<SystemTime> {
    let secs = number(v)?;
    let far = bounds::after(now, bounds::MAX_HORIZON);
    Some(bounds::epoch_secs_f64(secs).map_or(far, |at| bounds::clamp_to_horizon(at, now)))
}

/// Seconds from `now`, clamped to the horizon.
pub(super) fn after(v: &Value, now: SystemTime) -> Option<SystemTime> {
    let wait = bounds::wait_from_secs_f64(number(v)?)?;
    Some(bounds::after(now, bounds::horizon(wait)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn numbers_from_outside_are_checked() {
        assert_eq!(number(&json!("74")), Some(74.0));
        assert_eq!(number(&json!(" 7.5 ")), Some(7.5));
        for bad in [
            json!(-1),
            json!("-3"),
            json!("NaN"),
            json!("inf"),
            json!(null),
            json!("soon"),
            json!([1]),
            json!(true),
        ] {
            assert_eq!(number(&bad), None, "{bad}");
        }
        assert_eq!(signed(&json!("-3")), Some(-3.0));
        assert_eq!(count(&json!(1e300)), None);
        assert_eq!(count(&json!("100")), Some(100));
        assert_eq!(percent(&json!(104.5)), Some(1.045));
        assert_eq!(percent(&json!(1e9)), None);
        assert_eq!(unit_fraction(&json!(1.5)), None);
    }

    #[test]
    fn times_are_clamped_to_the_horizon() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let far = bounds::after(now, bounds::MAX_HORIZON);
        assert_eq!(rfc3339(&json!("9999-12-31T23:59:59Z"), now), Some(far));
        assert_eq!(epoch(&json!(1e300), now), Some(far));
        assert_eq!(after(&json!(1e300), now), Some(far));
        // 1_800_000_000 is 2027-01-15T08:00:00Z; fractions and offsets read.
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            rfc3339(&json!("2027-01-15T08:00:00.123456+00:00"), now),
            Some(base)
        );
        assert_eq!(
            rfc3339(&json!("2027-01-15T09:00:00+01:00"), now),
            Some(base)
        );
        assert_eq!(rfc3339(&json!("tomorrow"), now), None);
        assert_eq!(rfc3339(&json!("1960-01-01T00:00:00Z"), now), None);
        assert_eq!(rfc3339(&json!(12), now), None);
    }
}
