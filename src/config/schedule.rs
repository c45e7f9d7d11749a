//! Time windows for the `scheduled` strategy: `9-17 mon-fri`, `22-6 daily`,
//! `08:30-12:00,13:00-17:30 mon-fri, 10-14 sat`, read in local time.
//!
//! Grammar (case-insensitive; items inside a word are joined by commas without spaces):
//!
//! ```text
//! schedule = window { [","] window }          a comma between windows, then a space
//! window   = hours [days] | days
//! hours    = range { "," range }              9-17 | 9-12,13-17 | 08:30-17:45 | 22-6
//! range    = time "-" time                    end exclusive; start > end runs overnight
//! time     = H | HH | H:MM | HH:MM            0..23, and 24 (= 24:00) as an end
//! days     = day { "," day }                  mon-fri | sat,sun | fri-mon | daily
//! day      = mon | tue | … | sun | monday … | daily | day "-" day
//! ```
//!
//! A window without hours is the whole day; one without days is every day. The days of an
//! overnight window are the days it *starts*: `22-6 fri` runs from Friday 22:00 to
//! Saturday 06:00. A days-only window may come first (`sat,sun, 9-17 mon-fri`) but not after
//! a window with hours, where it could as well be more days of that window; see
//! [`Schedule::from_str`].

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::SystemTime;
use time::{OffsetDateTime, UtcOffset};

const DAY_MINUTES: u16 = 24 * 60;
const ALL_DAYS: u8 = 0x7f;
const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

/// When an account is meant to be used: one or more weekly time windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// As written, trimmed; for messages and the status view.
    text: String,
    windows: Vec<Window>,
}

/// `start..end` in minutes since local midnight on the days in `days` (bit 0 = Monday).
/// `start > end` runs overnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    start: u16,
    end: u16,
    days: u8,
}

/// A schedule string that does not parse: what is wrong (naming the bad part) and how to
/// write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for ScheduleError {}

const SYNTAX: &str = concat!(
    "write hours then days, like \"9-17 mon-fri\", \"08:30-12:00 sat,sun\", ",
    "\"22-6 daily\"; several windows separated by \", \""
);
const HOURS_FIX: &str = concat!(
    "write hours as H-H or HH:MM-HH:MM on a 24-hour clock, ",
    "like 9-17, 08:30-17:45 or 22-6 (overnight)"
);

fn bad(problem: String, fix: impl Into<String>) -> ScheduleError {
    ScheduleError {
        problem,
        fix: fix.into(),
    }
}

impl Schedule {
    /// Whether the schedule is on at `now`, read at `offset` from UTC.
    pub fn is_active(&self, now: SystemTime, offset: UtcOffset) -> bool {
        self.active_at(OffsetDateTime::from(now).to_offset(offset))
    }

    /// Whether the schedule is on at this local date and time.
    pub fn active_at(&self, t: OffsetDateTime) -> bool {
        let today = t.weekday().number_days_from_monday();
        let yesterday = (today + 6) % 7;
        let minute = u16::from(t.hour()) * 60 + u16::from(t.minute());
        let on = |days: u8, d: u8| days & (1 << d) != 0;
        self.windows.iter().any(|w| {
            if w.start < w.end {
                on(w.days, today) && (w.start..w.end).contains(&minute)
            } else {
                (on(w.days, today) && minute >= w.start)
                    || (on(w.days, yesterday) && minute < w.end)
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A word of the schedule, and whether a comma separates it from the next word.
struct Word<'a> {
    text: &'a str,
    comma_after: bool,
}

/// A window being read: its hour ranges and days so far, and the words they came from.
#[derive(Default)]
struct Partial<'a> {
    hours: Vec<(u16, u16)>,
    hour_word: &'a str,
    days: Option<u8>,
    day_words: Vec<&'a str>,
}

impl Partial<'_> {
    fn finish(self, windows: &mut Vec<Window>) {
        let days = self.days.unwrap_or(ALL_DAYS);
        if self.hours.is_empty() {
            windows.push(Window {
                start: 0,
                end: DAY_MINUTES,
                days,
            });
        }
        for (start, end) in self.hours {
            windows.push(Window { start, end, days });
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// Parses the grammar in the module docs. Refused rather than guessed:
    /// - a days-only window after a window with hours (`9-17 mon, sat`: more days for
    ///   9-17, or all of Saturday?);
    /// - hours after days (`mon-fri 9-17`), and two hour words in a row (`9-12 13-17`);
    /// - empty (`9-9`) or out-of-range times, unknown day names, stray commas.
    fn from_str(s: &str) -> Result<Schedule, ScheduleError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(bad("the schedule is empty".into(), SYNTAX));
        }
        let mut reader = Reader::default();
        for w in split_words(text)? {
            match classify(w.text)? {
                Item::Hours(ranges) => reader.hours(w.text, ranges)?,
                Item::Days(days) => reader.days(w.text, days)?,
            }
            reader.closed_with_hours = None;
            if w.comma_after {
                reader.close();
            }
        }
        if let Some(p) = reader.current.take() {
            p.finish(&mut reader.windows);
        }
        Ok(Schedule {
            text: text.to_string(),
            windows: reader.windows,
        })
    }
}

/// The schedule read so far, word by word.
#[derive(Default)]
struct Reader<'a> {
    windows: Vec<Window>,
    current: Option<Partial<'a>>,
    /// The last window closed by a comma, if it had hours: its hours and day words.
    closed_with_hours: Option<(&'a str, String)>,
}

impl<'a> Reader<'a> {
    /// An hour word starts a window, unless the open one has days but no hours, or
    /// hours but no days yet.
    fn hours(&mut self, word: &'a str, ranges: Vec<(u16, u16)>) -> Result<(), ScheduleError> {
        match self.current.take() {
            Some(p) if p.hours.is_empty() => Err(hours_after_days(word, &p)),
            Some(p) if p.days.is_none() => Err(two_hour_words(p.hour_word, word)),
            prev => {
                if let Some(p) = prev {
                    p.finish(&mut self.windows);
                }
                self.current = Some(Partial {
                    hours: ranges,
                    hour_word: word,
                    ..Partial::default()
                });
                Ok(())
            }
        }
    }

    /// A day word adds to the open window, or starts a days-only one (not right after a
    /// window with hours closed by a comma).
    fn days(&mut self, word: &'a str, days: u8) -> Result<(), ScheduleError> {
        if let Some(p) = &mut self.current {
            *p.days.get_or_insert(0) |= days;
            p.day_words.push(word);
            return Ok(());
        }
        if let Some((hours, day_words)) = &self.closed_with_hours {
            return Err(days_after_hours(word, hours, day_words));
        }
        self.current = Some(Partial {
            days: Some(days),
            day_words: vec![word],
            ..Partial::default()
        });
        Ok(())
    }

    /// A comma after a word closes the open window.
    fn close(&mut self) {
        if let Some(p) = self.current.take() {
            if !p.hours.is_empty() {
                self.closed_with_hours = Some((p.hour_word, p.day_words.join(",")));
            }
            p.finish(&mut self.windows);
        }
    }
}

fn hours_after_days(word: &str, p: &Partial<'_>) -> ScheduleError {
    let days = p.day_words.join(" ");
    bad(
        format!("'{word}' comes after the days '{days}'"),
        format!("write the hours first: \"{word} {days}\""),
    )
}

fn two_hour_words(prev: &str, word: &str) -> ScheduleError {
    bad(
        format!("'{prev}' and '{word}' are two hour words in a row"),
        format!(
            concat!(
                "join hours of the same days with a comma (\"{prev},{word}\"), ",
                "or give each its days (\"{prev} mon-fri, {word} sat\")"
            ),
            prev = prev,
            word = word
        ),
    )
}

fn days_after_hours(word: &str, hours: &str, day_words: &str) -> ScheduleError {
    let same = if day_words.is_empty() {
        format!("{hours} {word}")
    } else {
        format!("{hours} {day_words},{word}")
    };
    bad(
        format!("'{word}' after a comma could be more days for '{hours}' or whole days of its own"),
        format!(
            concat!(
                "for the same hours join the days without a space (\"{same}\"); ",
                "for whole days write \"0-24 {word}\" or put the days-only window first"
            ),
            same = same,
            word = word
        ),
    )
}

/// Splits on whitespace; a comma at the end of a word (or standing alone) separates
/// windows, a comma inside a word joins items.
fn split_words(text: &str) -> Result<Vec<Word<'_>>, ScheduleError> {
    let mut words: Vec<Word<'_>> = Vec::new();
    for raw in text.split_whitespace() {
        if raw.contains(",,") {
            return Err(bad(
                format!("'{raw}' has an empty item between commas"),
                "remove the extra comma",
            ));
        }
        let leading = raw.starts_with(',');
        let inner = raw.trim_matches(',');
        let trailing = raw.ends_with(',') && !inner.is_empty();
        if leading {
            match words.last_mut() {
                Some(prev) if !prev.comma_after => prev.comma_after = true,
                _ => {
                    return Err(bad(
                        format!("a comma with nothing before it in '{text}'"),
                        "remove the extra comma",
                    ))
                }
            }
        }
        if inner.is_empty() {
            continue;
        }
        words.push(Word {
            text: inner,
            comma_after: trailing,
        });
    }
    if words.last().is_some_and(|w| w.comma_after) {
        return Err(bad(
            format!("'{text}' ends with a comma"),
            "remove the trailing comma",
        ));
    }
    Ok(words)
}

enum Item {
    Hours(Vec<(u16, u16)>),
    Days(u8),
}

/// One word: a comma-joined list of hour ranges, or of days.
fn classify(word: &str) -> Result<Item, ScheduleError> {
    let items: Vec<&str> = word.split(',').collect();
    let is_hours = |i: &str| i.starts_with(|c: char| c.is_ascii_digit());
    let hours = items.iter().filter(|i| is_hours(i)).count();
    if hours > 0 && hours < items.len() {
        return Err(bad(
            format!("'{word}' mixes hours and days"),
            "put a space between the hours and the days, like \"9-17 mon-fri\"",
        ));
    }
    if hours > 0 {
        items
            .iter()
            .map(|i| range(i))
            .collect::<Result<_, _>>()
            .map(Item::Hours)
    } else {
        let mut days = 0;
        for i in items {
            days |= day_set(i)?;
        }
        Ok(Item::Days(days))
    }
}

/// `9-17`, `08:30-17:45`, `22-6` → minutes since midnight; `end` may be 24:00.
fn range(item: &str) -> Result<(u16, u16), ScheduleError> {
    let fix = HOURS_FIX;
    let Some((a, b)) = item.split_once('-') else {
        return Err(bad(format!("'{item}' is not a range of hours"), fix));
    };
    let start = time_of_day(a, item, false)?;
    let mut end = time_of_day(b, item, true)?;
    if end == 0 {
        end = DAY_MINUTES; // `22-0` and `0-0`: to midnight
    }
    if start == end {
        return Err(bad(
            format!("'{item}' is an empty window (it starts when it ends)"),
            "use 0-24 for the whole day",
        ));
    }
    Ok((start, end))
}

fn time_of_day(t: &str, item: &str, is_end: bool) -> Result<u16, ScheduleError> {
    let fix = HOURS_FIX;
    let (h, m) = match t.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return Err(bad(format!("'{t}' in '{item}' is not a time"), fix)),
        None => (t, "00"),
    };
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let (Some(h), Some(m)) = (num(h), num(m)) else {
        return Err(bad(format!("'{t}' in '{item}' is not a time"), fix));
    };
    let max_hour = if is_end { 24 } else { 23 };
    if h > max_hour || m > 59 || (h == 24 && m > 0) {
        return Err(bad(
            format!("'{t}' in '{item}' is not a time of day"),
            "hours go from 0 to 23 (24 only as an end, for midnight) and minutes from 00 to 59",
        ));
    }
    Ok(h * 60 + m)
}

/// `mon`, `monday`, `mon-fri`, `fri-mon` (wrapping), `daily` → bit set, Monday = bit 0.
fn day_set(item: &str) -> Result<u8, ScheduleError> {
    let lower = item.to_ascii_lowercase();
    if lower == "daily" {
        return Ok(ALL_DAYS);
    }
    match lower.split_once('-') {
        None => day(&lower, item).map(|d| 1 << d),
        Some((a, b)) => {
            let (a, b) = (day(a, item)?, day(b, item)?);
            let mut set = 0;
            let mut d = a;
            loop {
                set |= 1 << d;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
            Ok(set)
        }
    }
}

fn day(name: &str, item: &str) -> Result<u8, ScheduleError> {
    DAY_NAMES
        .iter()
        .position(|(short, long)| name == *short || name == *long)
        .map(|i| i as u8)
        .ok_or_else(|| {
            let what = if name == item.to_ascii_lowercase() {
                format!("'{item}' is not a day")
            } else {
                format!("'{name}' in '{item}' is not a day")
            };
            bad(
                what,
                concat!(
                    "days are mon, tue, wed, thu, fri, sat, sun; ranges like mon-fri; ",
                    "lists like sat,sun; or daily"
                ),
            )
        })
}

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// The local offset from UTC that schedules are read in, determined on first call (call
/// it once at startup, before the runtime starts threads) and kept for the process's life.
/// When the system's time zone cannot be determined, UTC, with a warning. A daylight-saving
/// change takes effect when keypool restarts.
pub fn local_offset() -> UtcOffset {
    *LOCAL_OFFSET.get_or_init(|| match UtcOffset::current_local_offset() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(
                "cannot determine the local time zone ({e}); account schedules are read in UTC"
            );
            UtcOffset::UTC
        }
    })
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
