//! When a limited account frees up, read from the many ways providers say it.
//!
//! Every wait returned here is at most [`bounds::MAX_HORIZON`]; none of these functions
//! panics on what a server sends (absurd, negative, NaN, infinite or overflowing values,
//! dates in year 9999).

use crate::bounds::{self, BareReset};
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return secs_f64(ms / 1000.0);
    }
    let v = header_str(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return secs_f64(secs);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(wait_until(at, now))
}

/// The reset announced by per-dimension rate-limit headers: OpenAI-style
/// `x-ratelimit-reset-<dim>` durations (`6m0s`), Anthropic `anthropic-ratelimit-<dim>-reset`
/// RFC 3339 timestamps, or a bare `x-ratelimit-reset` (epoch or seconds). A dimension
/// whose `remaining` is 0 is the one that binds; without one, the earliest reset is used.
pub fn parse_reset_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut exhausted: Option<Duration> = None;
    let mut any: Option<Duration> = None;
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        let name = name.as_str();
        let (reset, remaining_name) = if let Some(dim) = name.strip_prefix("x-ratelimit-reset-") {
            (
                parse_go_duration(value),
                format!("x-ratelimit-remaining-{dim}"),
            )
        } else if let Some(dim) = name
            .strip_prefix("anthropic-ratelimit-")
            .and_then(|r| r.strip_suffix("-reset"))
            .filter(|d| !d.starts_with("unified"))
        {
            (
                rfc3339_after(value, now),
                format!("anthropic-ratelimit-{dim}-remaining"),
            )
        } else if name == "x-ratelimit-reset" {
            (bare_reset(value, now), "x-ratelimit-remaining".to_string())
        } else {
            continue;
        };
        let Some(reset) = reset else { continue };
        any = Some(any.map_or(reset, |a| a.min(reset)));
        if header_str(headers, &remaining_name).is_some_and(|r| r.trim() == "0") {
            exhausted = Some(exhausted.map_or(reset, |e| e.max(reset)));
        }
    }
    exhausted.or(any)
}

/// Go's `time.Duration` text: `1h2m3.5s`, `6m0s`, `12ms`, `250us`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    secs_f64(total)
}

/// Protobuf JSON durations as in Google's `RetryInfo.retryDelay`: `"34.074824224s"`.
pub fn parse_proto_duration(s: &str) -> Option<Duration> {
    secs_f64(s.trim().strip_suffix('s')?.parse().ok()?)
}

fn rfc3339_after(v: &str, now: SystemTime) -> Option<Duration> {
    let at = time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    // Through epoch seconds: `OffsetDateTime` into `SystemTime` panics where the platform
    // cannot represent the date.
    let secs = u64::try_from(at.unix_timestamp()).ok();
    Some(
        secs.and_then(bounds::epoch_secs)
            .map_or(Duration::ZERO, |at| wait_until(at, now)),
    )
}

/// Bare `x-ratelimit-reset`: OpenRouter sends epoch milliseconds, others epoch seconds or
/// a number of seconds; the magnitude tells which ([`bounds::bare_reset`]).
fn bare_reset(v: &str, now: SystemTime) -> Option<Duration> {
    let n: f64 = v.trim().parse().ok()?;
    let epoch_secs = match bounds::bare_reset(n) {
        BareReset::EpochSecs(s) => s,
        BareReset::AfterSecs(s) => return secs_f64(s),
    };
    // `inf` and `1e300` parse as f64; neither may reach a panicking conversion.
    let at = bounds::epoch_secs_f64(epoch_secs)?;
    Some(wait_until(at, now))
}

fn secs_f64(s: f64) -> Option<Duration> {
    bounds::wait_from_secs_f64(s)
}

/// From `now` until `at`, zero when past, at most [`bounds::MAX_HORIZON`].
fn wait_until(at: SystemTime, now: SystemTime) -> Duration {
    bounds::horizon(bounds::until(at, now))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(&h(&[("retry-after", "30")]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(&h(&[("retry-after-ms", "1500"), ("retry-after", "9")]), now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&h(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_retry_after(&h(&[("retry-after", "-1")]), now), None);
    }

    #[test]
    fn reset_headers_pick_the_binding_dimension() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let openai = h(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-remaining-tokens", "1000"),
            ("x-ratelimit-reset-tokens", "1s"),
        ]);
        assert_eq!(
            parse_reset_headers(&openai, now),
            Some(Duration::from_secs(360))
        );
        let none_zero = h(&[
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-reset-tokens", "2s"),
        ]);
        assert_eq!(
            parse_reset_headers(&none_zero, now),
            Some(Duration::from_secs(2))
        );
        let anthropic = h(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:13:27Z"),
        ]);
        assert_eq!(
            parse_reset_headers(&anthropic, now),
            Some(Duration::from_secs(7))
        );
        let openrouter = h(&[
            ("x-ratelimit-reset", "1700000042000"),
            ("x-ratelimit-remaining", "0"),
        ]);
        assert_eq!(
            parse_reset_headers(&openrouter, now),
            Some(Duration::from_secs(42))
        );
        // Garbage from a server is skipped, never a panic.
        for v in ["inf", "1e300", "NaN", "-5"] {
            let garbage = h(&[("x-ratelimit-reset", v), ("x-ratelimit-remaining", "0")]);
            let _ = parse_reset_headers(&garbage, now);
        }
    }

    #[test]
    fn proto_durations() {
        assert_eq!(
            parse_proto_duration("34.5s"),
            Some(Duration::from_millis(34500))
        );
        assert_eq!(parse_proto_duration("34"), None);
    }

    #[test]
    fn go_durations_below_a_millisecond() {
        assert_eq!(parse_go_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_go_duration("3µs"), Some(Duration::from_micros(3)));
        assert_eq!(parse_go_duration("1s500ns"), Some(Duration::new(1, 500)));
    }

    #[test]
    fn a_bare_reset_is_seconds_or_an_epoch_by_its_size() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let bare = |v: &str| parse_reset_headers(&h(&[("x-ratelimit-reset", v)]), now);
        assert_eq!(
            bare("30"),
            Some(Duration::from_secs(30)),
            "seconds from now"
        );
        assert_eq!(
            bare("1700000042"),
            Some(Duration::from_secs(42)),
            "epoch seconds"
        );
        assert_eq!(
            bare("1700000042000"),
            Some(Duration::from_secs(42)),
            "epoch ms"
        );
        assert_eq!(bare("1699999000"), Some(Duration::ZERO), "already past");
        // The bounds themselves are the smaller unit: seconds from now, epoch seconds.
        let far = Some(crate::bounds::MAX_HORIZON);
        assert_eq!(bare("1000000000"), far, "10^9 seconds from now, clamped");
        assert_eq!(bare("1000000000000"), far, "epoch second 10^12, clamped");
    }
}

/// Seeded fuzzing: whatever a server writes in any reset field, parsing never panics
/// and never waits beyond the horizon.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::bounds::fuzz::{config, hostile_value};
    use crate::bounds::MAX_HORIZON;
    use proptest::prelude::*;

    const NAMES: [&str; 8] = [
        "retry-after",
        "retry-after-ms",
        "x-ratelimit-reset-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset",
        "x-ratelimit-remaining",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-tokens-remaining",
    ];

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn every_reset_form_is_bounded(v in hostile_value(), zero in any::<bool>(), secs in any::<u64>()) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs % 8_000_000_000);
            for d in [parse_go_duration(&v), parse_proto_duration(&v)].into_iter().flatten() {
                prop_assert!(d <= MAX_HORIZON, "{v}: {d:?}");
            }
            let mut h = HeaderMap::new();
            for name in NAMES {
                let value = if zero && name.contains("remaining") { "0" } else { v.as_str() };
                if let Ok(value) = http::HeaderValue::from_str(value) {
                    h.insert(name, value);
                }
            }
            for d in [parse_retry_after(&h, now), parse_reset_headers(&h, now)].into_iter().flatten() {
                prop_assert!(d <= MAX_HORIZON, "{v}: {d:?}");
            }
        }
    }
}
