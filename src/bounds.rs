//! How far keypool lets a number from outside reach: the bounds, and the only arithmetic
//! that turns such a number into an instant or a wait.
//!
//! Every time keypool learns comes from someone else: a `retry-after` header, a Codex
//! `resets_at`, a token endpoint's `expires_in`, a JWT `exp`, a saved `state.json`. Plain
//! `now + d` panics when `d` is absurd (`overflow when adding duration to instant`) and a
//! merely large `d` keeps an account out for decades. So nothing else in the crate adds
//! an outside number to a time: it calls these helpers, which never panic and clamp.
//!
//! A leaf module: it imports nothing from the crate, so every layer may use it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: u64 = 24 * 60 * 60;

/// The longest an account sits out for one refusal. The longest window a provider names
/// in a refusal is a week (Anthropic's and Codex's weekly limits); a day more is margin
/// for a reset announced late in the window. A longer `retry-after` or reset is clamped
/// to this: the account does sit out, for at most eight days.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(8 * DAY);

/// The furthest future instant keypool keeps for anything it learned: a quota window's
/// reset (Copilot's premium requests reset monthly, the longest window known), a token's
/// expiry. Beyond it a value from the wire is clamped to it, and a value from a saved
/// file is dropped with a warning (keypool never writes one that far).
pub const MAX_HORIZON: Duration = Duration::from_secs(32 * DAY);

/// The furthest ahead a token expiry read from a file (`credentials.json`, a linked CLI
/// file) may lie. Longer than [`MAX_HORIZON`] because real logins outlive it: Claude
/// Code's `setup-token` logins last a year. Further out (or not an instant at all), the
/// expiry is dropped with a warning and the token is refreshed when the provider refuses
/// it, as for any login whose expiry is unknown.
pub const MAX_TOKEN_EXPIRY: Duration = Duration::from_secs(5 * 365 * DAY);

/// `d`, at most [`MAX_COOLDOWN`].
pub fn cooldown(d: Duration) -> Duration {
    d.min(MAX_COOLDOWN)
}

/// `d`, at most [`MAX_HORIZON`].
pub fn horizon(d: Duration) -> Duration {
    d.min(MAX_HORIZON)
}

/// `now + d`, with `d` clamped to [`MAX_HORIZON`]; never panics (a `now` so late that
/// even that overflows gives `now`).
pub fn after(now: SystemTime, d: Duration) -> SystemTime {
    now.checked_add(horizon(d)).unwrap_or(now)
}

/// When a cooldown of `d` from `now` ends: `d` clamped to [`MAX_COOLDOWN`].
pub fn cool_until(now: SystemTime, d: Duration) -> SystemTime {
    after(now, cooldown(d))
}

/// `at`, or [`MAX_HORIZON`] from `now` when it lies further: for instants from the wire.
pub fn clamp_to_horizon(at: SystemTime, now: SystemTime) -> SystemTime {
    at.min(after(now, MAX_HORIZON))
}

/// Whether `at` lies within [`MAX_HORIZON`] of `now` (any past instant does): for saved
/// instants, which keypool never writes further out.
pub fn within_horizon(at: SystemTime, now: SystemTime) -> bool {
    at <= after(now, MAX_HORIZON)
}

/// Whether a token expiry read from a file is one keypool keeps (see [`MAX_TOKEN_EXPIRY`]).
pub fn sane_token_expiry(at: SystemTime, now: SystemTime) -> bool {
    now.checked_add(MAX_TOKEN_EXPIRY)
        .is_none_or(|last| at <= last)
}

/// How long from `now` until `at`; zero when `at` has passed.
pub fn until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or_default()
}

/// Epoch seconds as an instant; `None` when the platform cannot represent it.
pub fn epoch_secs(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Signed epoch seconds (JWT `exp`, Copilot `expires_at`); `None` before 1970 or when
/// not representable.
pub fn epoch_secs_i64(secs: i64) -> Option<SystemTime> {
    epoch_secs(u64::try_from(secs).ok()?)
}

/// Signed epoch milliseconds (Claude Code, pi and google-auth-library expiries).
pub fn epoch_millis(ms: i64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))
}

/// Fractional epoch seconds; `None` for NaN, infinities, negatives and the unrepresentable.
pub fn epoch_secs_f64(secs: f64) -> Option<SystemTime> {
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// A wait of `secs` seconds: `None` for NaN, infinities and negatives; a finite wait
/// longer than [`MAX_HORIZON`] (`1e308`) is clamped to it.
pub fn wait_from_secs_f64(secs: f64) -> Option<Duration> {
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    Some(horizon(
        Duration::try_from_secs_f64(secs).unwrap_or(MAX_HORIZON),
    ))
}

/// A wait of `secs` whole seconds, clamped to [`MAX_HORIZON`].
pub fn wait_from_secs(secs: u64) -> Duration {
    horizon(Duration::from_secs(secs))
}

/// An instant as epoch seconds, for a saved file; 0 before 1970.
pub fn to_epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a bare reset number of unknown unit means (a `x-ratelimit-reset: 1760000000`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BareReset {
    /// Epoch seconds (converted from milliseconds when it was given in them).
    EpochSecs(f64),
    /// Seconds from now.
    AfterSecs(f64),
}

/// Tells a bare reset number's unit by its magnitude: epoch milliseconds above 10¹²
/// (OpenRouter), epoch seconds above 10⁹, else seconds from now. Only the unit is told
/// here; each caller bounds the value as its own form requires.
pub fn bare_reset(n: f64) -> BareReset {
    if n > 1e12 {
        BareReset::EpochSecs(n / 1000.0)
    } else if n > 1e9 {
        BareReset::EpochSecs(n)
    } else {
        BareReset::AfterSecs(n)
    }
}

/// What the seeded fuzz tests beside each parser share: a deterministic config (fixed
/// seed, no failure files written into the source tree) and the numbers a hostile server
/// writes.
#[cfg(test)]
pub(crate) mod fuzz {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

    pub fn config(cases: u32) -> Config {
        Config {
            cases,
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed: RngSeed::Fixed(0x6b65_7970_6f6f_6c38),
            failure_persistence: None,
            max_shrink_iters: 256,
            ..Config::default()
        }
    }

    /// Absurd numbers, number-like garbage, and anything at all.
    pub fn hostile_value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "18446744073709551615",
                "18446744073709551616",
                "9223372036854775808",
                "-9223372036854775809",
                "-1",
                "0",
                "1e308",
                "-1e308",
                "1e-308",
                "inf",
                "-inf",
                "NaN",
                "99999999999999999999",
                "9999-12-31T23:59:59Z",
                "Fri, 31 Dec 9999 23:59:59 GMT",
                "0000-01-01T00:00:00Z",
                "1970-01-01T00:00:00-23:59",
            ])
            .prop_map(str::to_string),
            "[-+0-9.eEinfNa]{0,30}",
            "([0-9]{1,25}(\\.[0-9]{0,5})?(h|m|s|ms|us|µs|ns)){1,4}",
            "\\PC{0,40}",
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_reset_s_unit_is_told_by_its_magnitude() {
        assert_eq!(
            bare_reset(1_760_000_000_000.0),
            BareReset::EpochSecs(1_760_000_000.0)
        );
        assert_eq!(
            bare_reset(1_760_000_000.0),
            BareReset::EpochSecs(1_760_000_000.0)
        );
        assert_eq!(bare_reset(1e12), BareReset::EpochSecs(1e12));
        assert_eq!(bare_reset(1e9), BareReset::AfterSecs(1e9));
        assert_eq!(bare_reset(30.0), BareReset::AfterSecs(30.0));
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn waits_are_clamped_and_never_panic() {
        let n = now();
        assert_eq!(cool_until(n, Duration::MAX), n + MAX_COOLDOWN);
        assert_eq!(
            cool_until(n, Duration::from_secs(30)),
            n + Duration::from_secs(30)
        );
        assert_eq!(after(n, Duration::MAX), n + MAX_HORIZON);
        // 31 years of `retry-after: 1000000000` is eight days.
        assert_eq!(cooldown(Duration::from_secs(1_000_000_000)), MAX_COOLDOWN);
        let last = UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2);
        assert!(after(last, Duration::MAX) >= last);
    }

    #[test]
    fn epochs_are_checked() {
        assert_eq!(epoch_secs(0), Some(UNIX_EPOCH));
        assert_eq!(epoch_secs(u64::MAX), None);
        assert_eq!(epoch_secs_i64(-1), None);
        assert_eq!(epoch_secs_i64(i64::MIN), None);
        assert!(epoch_secs_i64(i64::MAX).is_none_or(|t| t > now()));
        assert_eq!(epoch_millis(-1), None);
        assert!(epoch_millis(i64::MAX).is_some());
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e308] {
            assert_eq!(epoch_secs_f64(bad), None, "{bad}");
        }
        assert_eq!(
            epoch_secs_f64(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(to_epoch_secs(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }

    #[test]
    fn fractional_waits() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, -1e308] {
            assert_eq!(wait_from_secs_f64(bad), None, "{bad}");
        }
        assert_eq!(wait_from_secs_f64(1e308), Some(MAX_HORIZON));
        assert_eq!(wait_from_secs_f64(2.5), Some(Duration::from_millis(2500)));
        assert_eq!(wait_from_secs(u64::MAX), MAX_HORIZON);
    }

    #[test]
    fn horizon_checks() {
        let n = now();
        let far = n + MAX_HORIZON + Duration::from_secs(1);
        assert!(!within_horizon(far, n));
        assert!(within_horizon(n + MAX_HORIZON, n));
        assert!(within_horizon(UNIX_EPOCH, n));
        assert_eq!(clamp_to_horizon(far, n), n + MAX_HORIZON);
        assert_eq!(until(UNIX_EPOCH, n), Duration::ZERO);
    }
}
