//! The schedule's parser and its windows, as a user writes them.

use super::*;
use time::macros::datetime;

fn sched(s: &str) -> Schedule {
    s.parse()
        .unwrap_or_else(|e: ScheduleError| panic!("{s}: {e}"))
}

/// 2024-06-03 is a Monday.
fn at(day: u8, hh: u8, mm: u8) -> OffsetDateTime {
    datetime!(2024-06-03 00:00 UTC)
        + time::Duration::days(i64::from(day))
        + time::Duration::hours(i64::from(hh))
        + time::Duration::minutes(i64::from(mm))
}
const MON: u8 = 0;
const TUE: u8 = 1;
const FRI: u8 = 4;
const SAT: u8 = 5;
const SUN: u8 = 6;

#[test]
fn windows_by_time_and_day() {
    // (schedule, day, hh, mm, active)
    let table: &[(&str, u8, u8, u8, bool)] = &[
        ("9-17 mon-fri", MON, 9, 0, true),
        ("9-17 mon-fri", MON, 8, 59, false),
        ("9-17 mon-fri", FRI, 16, 59, true),
        ("9-17 mon-fri", FRI, 17, 0, false),
        ("9-17 mon-fri", SAT, 12, 0, false),
        ("9-17", SUN, 12, 0, true),
        ("09:30-17:45 MON-FRI", TUE, 9, 29, false),
        ("09:30-17:45 MON-FRI", TUE, 9, 30, true),
        ("09:30-17:45 MON-FRI", TUE, 17, 44, true),
        ("09:30-17:45 MON-FRI", TUE, 17, 45, false),
        ("sat,sun", SAT, 0, 0, true),
        ("sat,sun", SUN, 23, 59, true),
        ("sat,sun", MON, 0, 0, false),
        ("daily", TUE, 3, 0, true),
        ("0-24 daily", TUE, 23, 59, true),
        // overnight: the days are the days the window starts
        ("22-6", MON, 22, 0, true),
        ("22-6", TUE, 5, 59, true),
        ("22-6", TUE, 6, 0, false),
        ("22-6", TUE, 21, 59, false),
        ("22-6 fri", FRI, 23, 0, true),
        ("22-6 fri", SAT, 5, 0, true),
        ("22-6 fri", FRI, 5, 0, false),
        ("22-6 fri", SAT, 22, 30, false),
        ("22-6 sun", MON, 1, 0, true),
        ("22-0 mon", MON, 23, 59, true),
        ("22-0 mon", TUE, 0, 0, false),
        ("22-24 mon", MON, 23, 59, true),
        ("08:59-17:59", MON, 17, 58, true),
        ("08:59-17:59", MON, 17, 59, false),
        ("0-0 sat", SAT, 0, 0, true),
        ("0-0 sat", SAT, 23, 59, true),
        ("0-0 sat", SUN, 0, 0, false),
        // wrapping day range
        ("fri-mon", SUN, 12, 0, true),
        ("fri-mon", TUE, 12, 0, false),
        // several windows
        ("9-12,13-17 mon-fri", MON, 12, 30, false),
        ("9-12,13-17 mon-fri", MON, 13, 0, true),
        ("9-17 mon-fri, 10-14 sat", SAT, 10, 0, true),
        ("9-17 mon-fri, 10-14 sat", SAT, 15, 0, false),
        ("9-17 mon-fri 10-14 sat,sun", SUN, 11, 0, true),
        ("sat,sun, 9-17 mon-fri", SUN, 20, 0, true),
        ("sat,sun, 9-17 mon-fri", MON, 20, 0, false),
        ("sat, sun", SUN, 20, 0, true),
        ("9-17 mon-fri sat", SAT, 9, 0, true),
        ("9-17 monday,Wednesday", TUE, 9, 0, false),
        ("9-17 monday,Wednesday", 2, 9, 0, true),
    ];
    for (s, day, hh, mm, want) in table {
        assert_eq!(
            sched(s).active_at(at(*day, *hh, *mm)),
            *want,
            "{s} on day {day} at {hh}:{mm:02}"
        );
    }
}

#[test]
fn local_offset_shifts_the_window() {
    let s = sched("9-17 mon-fri");
    // Monday 07:30 UTC is 09:30 at +02:00 and 02:30 at -05:00.
    let now: SystemTime = at(MON, 7, 30).into();
    assert!(s.is_active(now, UtcOffset::from_hms(2, 0, 0).unwrap()));
    assert!(!s.is_active(now, UtcOffset::UTC));
    assert!(!s.is_active(now, UtcOffset::from_hms(-5, 0, 0).unwrap()));
    // Saturday 01:00 UTC is still Friday 20:00 at -05:00: not a weekday window...
    let sat: SystemTime = at(SAT, 1, 0).into();
    assert!(!s.is_active(sat, UtcOffset::from_hms(-5, 0, 0).unwrap()));
    // ...but inside Friday's overnight window.
    assert!(sched("18-2 fri").is_active(sat, UtcOffset::from_hms(-5, 0, 0).unwrap()));
}

#[test]
fn errors_name_the_bad_part() {
    // (schedule, words the problem must contain)
    let table: &[(&str, &[&str])] = &[
        ("", &["empty"]),
        ("9-17 mon-fry", &["'fry' in 'mon-fry' is not a day"]),
        ("9-17 weekdays", &["'weekdays' is not a day"]),
        ("9-25", &["'25' in '9-25'", "not a time of day"]),
        ("24-6", &["'24' in '24-6'"]),
        ("9:5-17", &["'9:5' in '9:5-17' is not a time"]),
        ("9:60-17", &["'9:60'"]),
        ("9", &["'9' is not a range of hours"]),
        ("9-9", &["'9-9' is an empty window"]),
        ("9-17,mon", &["'9-17,mon' mixes hours and days"]),
        ("mon-fri 9-17", &["'9-17' comes after the days 'mon-fri'"]),
        ("9-12 13-17 mon", &["'9-12' and '13-17' are two hour words"]),
        ("9-17 mon, sat", &["'sat' after a comma", "'9-17'"]),
        (
            "09:00-17:00, sat",
            &["'sat' after a comma", "for '09:00-17:00'"],
        ),
        ("22-0 9-17", &["'22-0' and '9-17' are two hour words"]),
        ("9-17 mon-fri,", &["ends with a comma"]),
        (", 9-17", &["nothing before it"]),
        ("9-17,,10-12", &["empty item"]),
        ("9-17 ,, 10-12", &["',,' has an empty item"]),
        ("9-17 , , 10-12", &["a comma with nothing before it"]),
        ("9-17 @", &["'@' is not a day"]),
        ("9am-5pm", &["'9am' in '9am-5pm' is not a time"]),
        ("009-17", &["'009' in '009-17' is not a time"]),
        ("9:+5-17", &["'9:+5' in '9:+5-17' is not a time"]),
        ("9-24:30", &["'24:30' in '9-24:30' is not a time of day"]),
    ];
    for (s, wanted) in table {
        let e = s.parse::<Schedule>().expect_err(s);
        for w in *wanted {
            assert!(e.problem.contains(w), "{s:?}: {} (wanted {w:?})", e.problem);
        }
        assert!(!e.fix.is_empty());
    }
    let e = "mon-fri 9-17".parse::<Schedule>().unwrap_err();
    assert!(e.fix.contains("\"9-17 mon-fri\""), "{}", e.fix);
    // As a std error it reads as its problem alone.
    assert_eq!(e.to_string(), "'9-17' comes after the days 'mon-fri'");
}

#[test]
fn keeps_the_text_as_written() {
    let s = sched("  9-17 mon-fri ");
    assert_eq!(s.to_string(), "9-17 mon-fri");
    assert_eq!(s.as_str(), "9-17 mon-fri");
    // Another spelling reads as the same windows, but keeps its own text.
    let spelled = sched("09:00-17:00 Monday-Friday");
    assert_eq!(spelled.windows, s.windows);
    assert_eq!(spelled.as_str(), "09:00-17:00 Monday-Friday");
    assert_ne!(sched("9-18 mon-fri").windows, s.windows);
    // The comma between windows may stand alone or lead the next window.
    let two = sched("9-17 mon-fri, 10-14 sat").windows;
    assert_eq!(sched("9-17 mon-fri , 10-14 sat").windows, two);
    assert_eq!(sched("9-17 mon-fri ,10-14 sat").windows, two);
    assert_ne!(sched("9-17 mon-sat").windows, s.windows);
}
