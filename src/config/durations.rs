//! The sane range of every duration in the config, and the check that names the field,
//! the limit and the fix. A typo like `read_timeout = "600d"` or `sticky_idle = "0s"`
//! is refused at load (and on reload, keeping the running config) instead of making a
//! connection wait for months or a feature silently off.

use super::validate::Validator;
use super::ConfigError;
use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// One duration field: where it lives, whether zero means something, its maximum and why.
pub(super) struct Range {
    pub section: &'static str,
    pub field: &'static str,
    /// `Some(meaning)` when `0s` is accepted (and what it does); `None` when it is refused.
    pub zero: Option<&'static str>,
    pub max: Duration,
    pub why: &'static str,
}

const fn range(
    section: &'static str,
    field: &'static str,
    zero: Option<&'static str>,
    max_secs: u64,
    why: &'static str,
) -> Range {
    Range {
        section,
        field,
        zero,
        max: Duration::from_secs(max_secs),
        why,
    }
}

pub(super) const CONNECT_TIMEOUT: Range = range(
    "upstream",
    "connect_timeout",
    None,
    5 * MINUTE,
    "a provider that does not accept a connection in minutes is down",
);
pub(super) const READ_TIMEOUT: Range = range(
    "upstream",
    "read_timeout",
    None,
    DAY,
    "it is the longest silence between bytes, not a deadline for the answer",
);
pub(super) const SHUTDOWN_GRACE: Range = range(
    "limits",
    "shutdown_grace",
    Some("stop at once"),
    HOUR,
    "a stop should not wait longer than that for open streams",
);
pub(super) const TUNNEL_IDLE: Range = range(
    "limits",
    "tunnel_idle_timeout",
    None,
    7 * DAY,
    "an idle tunnel holds a connection and a file descriptor",
);
pub(super) const FIRST_EVENT: Range = range(
    "limits",
    "first_event_timeout",
    Some("turns the hold off"),
    10 * MINUTE,
    "nothing reaches the client while the first event is held",
);
pub(super) const PARK_AFTER: Range = range(
    "limits",
    "park_after",
    Some("parks a connection as soon as its answer is out"),
    HOUR,
    "an idle connection keeps about 20 KiB until then",
);
pub(super) const HANDSHAKE: Range = range(
    "limits",
    "handshake_timeout",
    None,
    5 * MINUTE,
    "until then a silent client holds a connection and a file descriptor",
);
pub(super) const STICKY_IDLE: Range = range(
    "limits",
    "sticky_idle",
    None,
    30 * DAY,
    "a provider keeps a prompt cache for minutes to hours, not longer",
);
pub(super) const HOLD_MAX: Range = range(
    "pools",
    "hold_max",
    None,
    HOUR,
    "a held request keeps its client waiting; clients time out long before",
);
pub(super) const REFRESH_MARGIN: Range = range(
    "oauth",
    "refresh_margin",
    Some("refreshes a token when it expires"),
    15 * MINUTE,
    "Copilot tokens live about 30 minutes; a longer margin would refresh on every request",
);

impl Validator<'_> {
    /// Checks `value` of `r`; the error points at the field's line, searched from byte
    /// `block` (the start of its `[[pools]]` block) or else in its `[section]`.
    pub(super) fn duration(
        &self,
        r: &Range,
        value: Duration,
        block: Option<usize>,
    ) -> Result<(), ConfigError> {
        let problem = if value.is_zero() && r.zero.is_none() {
            format!("{} = 0s makes no sense", r.field)
        } else if value > r.max {
            format!(
                "{} is longer than its limit of {}",
                r.field,
                humantime::format_duration(r.max)
            )
        } else {
            return Ok(());
        };
        let at = key_offset(self.text, r, block);
        let fix = match r.zero {
            Some(zero) => format!(
                "set {} to at most {} ({}); 0s {zero}",
                r.field,
                humantime::format_duration(r.max),
                r.why
            ),
            None => format!(
                "set {} above 0s and at most {} ({})",
                r.field,
                humantime::format_duration(r.max),
                r.why
            ),
        };
        self.err(at..at, problem, fix)
    }
}

/// The byte offset of the line `field = …` after `block`, else after the `[section]`
/// header; where the search started when there is no such line (an inline table, say).
fn key_offset(text: &str, r: &Range, block: Option<usize>) -> usize {
    let from = block.unwrap_or_else(|| text.find(&format!("[{}]", r.section)).unwrap_or(0));
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if start < from {
            continue;
        }
        let rest = line.trim_start().strip_prefix(r.field);
        if rest.is_some_and(|r| r.trim_start().starts_with('=')) {
            return start;
        }
    }
    from.min(text.len())
}
