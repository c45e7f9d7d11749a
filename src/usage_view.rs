//! `keypool usage`: the ledger's sums as a table a person reads in an 80-column terminal.

use crate::usage::query::{By, Group};
use std::path::Path;

/// What one `keypool usage` shows.
pub struct View<'a> {
    pub since_ms: i64,
    pub by: By,
    pub groups: &'a [Group],
    pub total: &'a Group,
    pub db: &'a Path,
    /// The ledger has rows, older than `since_ms`.
    pub older_rows: bool,
}

/// The widest line the table aims for; the first column gives way first.
const WIDTH: usize = 80;
/// The first column is never cut shorter than this.
const MIN_KEY: usize = 8;

/// The table, or one sentence when there is nothing to show.
pub fn render(v: &View<'_>) -> String {
    let since = when(v.since_ms);
    if v.total.requests == 0 {
        return if v.older_rows {
            format!(
                "Nothing recorded since {since}; {} holds only older rows (try --since 30d).\n",
                v.db.display()
            )
        } else {
            format!(
                "Nothing recorded yet: keypool writes one row per answer it intercepts to {}.\n",
                v.db.display()
            )
        };
    }
    let mut out = format!("Usage since {since}, by {}:\n", v.by.name());
    // The words `unpriced` give way before any name is cut.
    let (mut lines, cut_names) = table(v, Unpriced::Words);
    let short = cut_names || lines.iter().any(|l| l.chars().count() > WIDTH);
    if short {
        lines = table(v, Unpriced::Count).0;
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(LEGEND);
    if short {
        out.push_str(
            "COST $x + n: n requests had no price for their model ([[prices]] adds one).\n",
        );
    }
    out
}

/// What the short headers mean.
const LEGEND: &str = "Tokens: IN input (uncached), OUT output, C.RD/C.WR cache read/write,\n\
    RSN reasoning (part of OUT). HIT: cache reads over all prompt tokens.\n";

/// How the cost column names requests without a price.
#[derive(Clone, Copy, PartialEq)]
enum Unpriced {
    /// `$1.23 + 2 unpriced`
    Words,
    /// `$1.23 + 2`, for a table that is too wide otherwise.
    Count,
}

/// The lines, and whether a name in the first column had to be cut.
fn table(v: &View<'_>, unpriced: Unpriced) -> (Vec<String>, bool) {
    let mut rows = vec![header(v.by)];
    rows.extend(v.groups.iter().map(|g| cells(&g.key, g, unpriced)));
    rows.push(cells("TOTAL", v.total, unpriced));
    aligned(&rows)
}

fn header(by: By) -> Vec<String> {
    let first = by.name().to_uppercase();
    let rest = [
        "REQ", "ERR", "ROT", "IN", "OUT", "C.RD", "C.WR", "RSN", "COST", "HIT",
    ];
    std::iter::once(first)
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

fn cells(key: &str, g: &Group, unpriced: Unpriced) -> Vec<String> {
    let t = &g.tokens;
    vec![
        key.to_string(),
        human(g.requests),
        human(g.errors),
        human(g.rotations),
        human(t.input),
        human(t.output),
        human(t.cache_read),
        human(t.cache_write),
        human(t.reasoning),
        cost(g, unpriced),
        g.cache_hit_ratio.map_or("-".into(), |r| {
            format!("{:.0}%", (r * 100.0).clamp(0.0, 100.0))
        }),
    ]
}

/// Lines of `rows` with the first column left-aligned and the others right-aligned, one
/// space apart; the first column is cut (with `…`) to keep lines within [`WIDTH`], and
/// whether it was.
fn aligned(rows: &[Vec<String>]) -> (Vec<String>, bool) {
    let mut widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let others: usize = widths[1..].iter().map(|w| w + 1).sum();
    let key = widths[0].min(WIDTH.saturating_sub(others).max(MIN_KEY));
    let cut_names = key < widths[0];
    widths[0] = key;
    let lines = rows
        .iter()
        .map(|r| {
            let mut line = format!("{:<w$}", cut(&r[0], widths[0]), w = widths[0]);
            for (c, w) in r[1..].iter().zip(&widths[1..]) {
                line.push_str(&format!(" {c:>w$}"));
            }
            line.trim_end().to_string()
        })
        .collect();
    (lines, cut_names)
}

/// `s` in at most `width` characters, the cut marked with `…`.
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `$1.23`; `no price` when no row had one; `$1.23 + 2 unpriced` when some had none.
fn cost(g: &Group, unpriced: Unpriced) -> String {
    let usd = if g.cost_usd > 0.0 && g.cost_usd < 0.005 {
        "<$0.01".to_string()
    } else {
        format!("${:.2}", g.cost_usd)
    };
    match g.unpriced {
        0 => usd,
        _ if g.cost_usd <= 0.0 => "no price".into(),
        n if unpriced == Unpriced::Words => format!("{usd} + {n} unpriced"),
        n => format!("{usd} + {n}"),
    }
}

/// `999`, `12.3k`, `123k`, `4.5M`, `1.2B`: three significant figures at most.
pub fn human(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let units = ["k", "M", "B", "T", "P", "E"];
    let mut value = n as f64;
    for unit in units {
        value /= 1000.0;
        // Round as printed, so 999_950 reads `1.0M`, not `1000k`.
        let shown = if value < 100.0 {
            (value * 10.0).round() / 10.0
        } else {
            value.round()
        };
        if shown < 1000.0 {
            return if shown < 100.0 {
                format!("{shown:.1}{unit}")
            } else {
                format!("{shown:.0}{unit}")
            };
        }
    }
    format!("{value:.0}E")
}

/// `2026-11-25 14:49 UTC`.
fn when(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::format_description::parse_borrowed::<2>("[year]-[month]-[day] [hour]:[minute] UTC");
    format
        .ok()
        .and_then(|f| at.format(&f).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Tokens;

    #[test]
    fn numbers_read_as_a_person_says_them() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1.0k"),
            (12_345, "12.3k"),
            (99_960, "100k"),
            (123_456, "123k"),
            (999_950, "1.0M"),
            (4_500_000, "4.5M"),
            (1_200_000_000, "1.2B"),
            (u64::MAX, "18.4E"),
        ];
        for (n, want) in cases {
            assert_eq!(human(n), want, "{n}");
        }
    }

    fn group(key: &str, cost_usd: f64, unpriced: u64) -> Group {
        Group {
            key: key.into(),
            requests: 123_456,
            errors: 12_000,
            rotations: 999,
            tokens: Tokens {
                input: 123_456_789,
                output: 98_765_432,
                cache_read: 555_555_555,
                cache_write: 44_444_444,
                reasoning: 3_333_333,
            },
            cost_usd,
            unpriced,
            cache_hit_ratio: Some(0.37),
        }
    }

    #[test]
    fn cost_says_what_had_no_price() {
        let words = Unpriced::Words;
        assert_eq!(cost(&group("a", 1.234, 0), words), "$1.23");
        assert_eq!(cost(&group("a", 0.0, 4), words), "no price");
        assert_eq!(cost(&group("a", 1.234, 2), words), "$1.23 + 2 unpriced");
        assert_eq!(cost(&group("a", 1.234, 2), Unpriced::Count), "$1.23 + 2");
        assert_eq!(cost(&group("a", 0.001, 0), words), "<$0.01");
    }

    fn view<'a>(groups: &'a [Group], total: &'a Group) -> View<'a> {
        View {
            since_ms: 0,
            by: By::Account,
            groups,
            total,
            db: Path::new("/h/usage.db"),
            older_rows: false,
        }
    }

    fn assert_fits(text: &str) {
        for line in text.lines() {
            let n = line.chars().count();
            assert!(n <= WIDTH, "{n} columns: {line}\n{text}");
        }
    }

    #[test]
    fn unpriced_rows_are_named_in_words_when_the_table_fits() {
        let groups = [group("work", 12_345.67, 1234), group("b", 0.0, 3)];
        let text = render(&view(&groups, &group("", 12_345.67, 1237)));
        assert_fits(&text);
        assert!(text.contains("$12345.67 + 1234 unpriced"), "{text}");
        assert!(!text.contains("n requests had no price"), "{text}");
    }

    #[test]
    fn a_wide_table_fits_80_columns_by_cutting_the_name() {
        let long = "an-account-name-far-longer-than-any-terminal-column-would-hold";
        let groups = [group(long, 12_345.67, 1234), group("b", 0.0, 3)];
        let text = render(&view(&groups, &group("", 12_345.67, 1237)));
        assert_fits(&text);
        assert!(text.contains("an-account-name-…"), "{text}");
        assert!(
            text.contains("$12345.67 + 1234 "),
            "words give way first: {text}"
        );
        assert!(text.contains("no price"), "{text}");
        assert!(text.contains("37%"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("TOTAL ")), "{text}");
    }

    #[test]
    fn a_table_still_too_wide_names_unpriced_rows_in_a_note() {
        let groups = [group("a", 1_234_567.89, 123_456)];
        let text = render(&view(&groups, &group("", 1_234_567.89, 123_456)));
        assert_fits(&text);
        assert!(text.contains("$1234567.89 + 123456 "), "{text}");
        assert!(text.contains("n requests had no price"), "{text}");
    }

    #[test]
    fn an_empty_ledger_is_one_sentence_naming_the_file() {
        let empty = Group::default();
        let text = render(&view(&[], &empty));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("Nothing recorded yet") && text.contains("/h/usage.db"));
    }
}
