//! `--since`: a span back from now (`7d`, `24h`, `90m`) or a UTC date (`2026-11-01`), as
//! milliseconds since the Unix epoch.

/// The longest span back: ten years, the longest `[usage] keep`.
const MAX_SPAN_SECS: i64 = 3650 * 86_400;

/// The forms `--since` accepts, for error messages.
pub const FORMS: &str = "a number of days, hours or minutes (7d, 24h, 90m) or a UTC date \
    (2026-11-01)";

/// The instant `text` names, relative to `now_ms` for a span.
pub fn parse(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let refused = || format!("--since {text:?} is not a time; write {FORMS}");
    if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        return date(t).ok_or_else(refused);
    }
    let unit = t.chars().last().ok_or_else(refused)?;
    let secs_per = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        _ => return Err(refused()),
    };
    let digits = &t[..t.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    let n: i64 = digits.parse().map_err(|_| refused())?;
    let secs = n.checked_mul(secs_per).filter(|s| *s <= MAX_SPAN_SECS);
    let Some(secs) = secs else {
        return Err(format!(
            "--since {text:?} reaches back more than ten years; write at most 3650d"
        ));
    };
    Ok(now_ms.saturating_sub(secs.saturating_mul(1000)))
}

/// Midnight UTC at the start of `YYYY-MM-DD`.
fn date(t: &str) -> Option<i64> {
    let format = time::format_description::parse_borrowed::<2>("[year]-[month]-[day]").ok()?;
    let d = time::Date::parse(t, &format).ok()?;
    let secs = d.midnight().assume_utc().unix_timestamp();
    secs.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    #[test]
    fn spans_count_back_from_now() {
        assert_eq!(parse("7d", NOW), Ok(NOW - 7 * 86_400_000));
        assert_eq!(parse("24h", NOW), Ok(NOW - 24 * 3_600_000));
        assert_eq!(parse("90m", NOW), Ok(NOW - 90 * 60_000));
        assert_eq!(parse("0d", NOW), Ok(NOW));
    }

    #[test]
    fn a_date_is_its_utc_midnight() {
        assert_eq!(parse("2026-11-01", NOW), Ok(1_793_491_200_000));
        assert_eq!(parse("1970-01-01", NOW), Ok(0));
    }

    #[test]
    fn anything_else_is_refused_naming_the_forms() {
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "-7d",
            "+7d",
            "7.5d",
            "7 d",
            "2026-13-01",
            "2026-02-30",
            "26-11-01x",
            "１d",
            "99999999999999999999d",
        ] {
            let e = parse(bad, NOW).unwrap_err();
            assert!(e.contains("--since"), "{bad:?}: {e}");
            assert!(e.contains("7d") || e.contains("3650d"), "{bad:?}: {e}");
        }
        assert!(parse("3651d", NOW).unwrap_err().contains("ten years"));
    }
}
