//! Passive quota learning: what a provider's response says about the account's headroom.
//!
//! Pure parsing, no state: [`learn`] turns one response's headers into [`Window`]s,
//! [`learn_error_body`] reads the quota details some providers put only in an error body,
//! and [`tightest`] picks the window that binds. Keeping the windows per account (and
//! deciding what to do with them) is the pool's business.
//!
//! # Header families read
//!
//! Section numbers refer to `PROVIDERS.md` in the project's shared docs. Every family is
//! read whatever the dialect (the names cannot be confused, and compatible endpoints mix
//! them); the dialect only settles the bare `x-ratelimit-*` family, which OpenRouter
//! documents (window `requests`, reset in epoch milliseconds).
//!
//! | Family | Example | Window | Source |
//! |---|---|---|---|
//! | `x-ratelimit-{limit,remaining,reset}-{dim}` | `x-ratelimit-reset-tokens: 6m0s` | `{dim}` (`requests`, `tokens`, …, any suffix kept as is) | §3 OpenAI, §9 Groq |
//! | `x-ratelimit-{limit,remaining,reset}`, `x-ratelimit-reset-after` | `X-RateLimit-Reset: 1741305600000` | `requests` (OpenRouter), else `ratelimit` | §9 OpenRouter; `-reset-after` §7 |
//! | `anthropic-ratelimit-{dim}-{limit,remaining,reset}` | `anthropic-ratelimit-tokens-reset: 2026-03-01T12:00:30Z` | `{dim}`: `requests`, `tokens`, `input-tokens`, `output-tokens` | §1 |
//! | `anthropic-ratelimit-unified-{claim}-{status,utilization,reset}` | `anthropic-ratelimit-unified-7d-opus-utilization: 0.82` | `{claim}`: `5h`, `7d`, `7d_oi`, `7d-sonnet`, `7d-opus` | §2 |
//! | `anthropic-ratelimit-unified-{status,reset,representative-claim}` | `anthropic-ratelimit-unified-representative-claim: five_hour` | the claimed window (`5h`), else `unified` | §2 |
//! | `x-codex-{primary,secondary}-{used-percent,window-minutes,reset-at,reset-after-seconds}` | `x-codex-secondary-window-minutes: 10080` | by window length: `5h`, `7d`, `{n}m` | §4 |
//! | `x-{limit}-{primary,secondary}-…` with `x-{limit}-limit-name` | `x-codex-bengalfox-primary-used-percent: 80` | as above, `scope` = the limit name | §4 |
//! | Google error body: `QuotaFailure` violations and `RetryInfo.retryDelay` | `"retryDelay": "34.074824224s"` | the `quotaId` | §6, §7 |
//!
//! Units, as each source documents them:
//!
//! * Resets: OpenAI-style Go durations (`6m0s`, `12ms`, `2m59.56s`) counted from `now`;
//!   Anthropic RFC 3339 timestamps; unified and Codex `reset-at` epoch seconds; Codex
//!   `reset-after-seconds` seconds from `now`. A bare number is read by magnitude: above
//!   10¹² epoch milliseconds (OpenRouter), above 10⁹ epoch seconds, else seconds from
//!   `now`; under the OpenRouter dialect a bare `x-ratelimit-reset` is always milliseconds.
//! * Utilization is a fraction: unified utilization is one already (values above 1.0
//!   happen and are kept); Codex `used-percent` is a percent and is divided by 100; so is
//!   any value written with a `%` sign. Where only `limit` and `remaining` are given,
//!   utilization is `1 - remaining / limit`.
//! * Groq's `requests` window counts requests per day and its `tokens` window tokens per
//!   minute (§9), but the headers do not say so (nor OpenAI's), so `minutes` stays empty.
//! * `x-ratelimit-reset-after` is only known from pi's reader (§7); it is taken as seconds.
//! * The representative claim `seven_day_overage_included` is taken to be the `7d_oi`
//!   window; the other claims (`five_hour`, `seven_day`, `seven_day_opus`,
//!   `seven_day_sonnet`) match their windows by name.
//!
//! Deliberately not read: `anthropic-ratelimit-unified-overage-*` and `-fallback-*` (the
//! pay-as-you-go budget beyond the windows, not a window: its status is `rejected` on
//! every account without extra usage, which would make them all look exhausted), the Codex
//! credits headers and `x-codex-active-limit` (which family a 429 refers to; every
//! family's windows are returned, each with its limit as `scope`), and `retry-after` (a per-response wait, which
//! `providers::classify` reads). Unknown fields of a known family and values that do not
//! parse are skipped; nothing here panics on what a server sends.

mod google;
mod learn;
#[cfg(test)]
mod tests;
mod values;

pub use google::learn_error_body;
pub use learn::{learn, minutes_name};

use std::time::SystemTime;

/// One quota window of one account, as a single response described it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// `requests`, `tokens`, `input-tokens`, `5h`, `7d`, `7d-opus`, `codex-primary`, …
    pub name: String,
    /// The model family when the provider scopes the limit to one (`opus`, `sonnet`, a
    /// Codex limit name, a Gemini model); `None` when it covers the whole account.
    pub scope: Option<String>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// How full the window is, as a fraction (1.0 = used up; can exceed 1.0).
    pub utilization: Option<f64>,
    pub resets_at: Option<SystemTime>,
    /// The provider's verdict on the window (Anthropic unified, Google quota errors).
    pub status: Option<WindowStatus>,
    /// The window's length, when the provider says (Codex `window-minutes`, unified
    /// `5h`/`7d`, Gemini `PerMinute`/`PerDay` quotas).
    pub minutes: Option<u64>,
    /// Where keypool learned it: an answer's headers (or error body), or a quota probe.
    pub source: Source,
    /// When keypool learned it, on its clock; `None` for a window saved by a keypool
    /// that did not record it.
    pub learned_at: Option<SystemTime>,
}

/// Where a window was learned. Both kinds feed the same windows: the newest word on a
/// (name, scope) wins, whichever way it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Passively, from an answer to a request (its headers or its error body).
    #[default]
    Headers,
    /// Actively, from a provider's free quota endpoint (`crate::probes`).
    Probe,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Headers => "headers",
            Source::Probe => "probe",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStatus {
    Allowed,
    /// Allowed, but close to the limit (`allowed_warning`).
    AllowedWarning,
    Rejected,
}

impl Window {
    /// A window of that name, learned from headers at an unknown time, that says nothing
    /// else yet.
    pub fn named(name: impl Into<String>) -> Window {
        Window {
            name: name.into(),
            scope: None,
            limit: None,
            remaining: None,
            utilization: None,
            resets_at: None,
            status: None,
            minutes: None,
            source: Source::Headers,
            learned_at: None,
        }
    }

    /// The same window, stamped as learned from `source` at `at`.
    pub fn learned(self, source: Source, at: SystemTime) -> Window {
        Window {
            source,
            learned_at: Some(at),
            ..self
        }
    }

    /// How full the window is, from everything it says: its utilization, else 1.0 when
    /// nothing remains; a rejected window counts as at least 1.0. `None` when the window
    /// says nothing about its fill (only a reset time, say).
    pub fn pressure(&self) -> Option<f64> {
        let fill = self
            .utilization
            .or_else(|| (self.remaining == Some(0)).then_some(1.0));
        if self.status == Some(WindowStatus::Rejected) {
            return Some(fill.map_or(1.0, |f| f.max(1.0)));
        }
        fill
    }
}

/// The window that binds: the highest [`Window::pressure`], ties going to the later reset
/// (an unknown reset counts as the earliest). Windows that say nothing about their fill
/// rank below all others. Filter by `scope` first when the request's model is known, so a
/// used-up `7d-opus` window does not count against a Sonnet request.
pub fn tightest(windows: &[Window]) -> Option<&Window> {
    tightest_of(windows)
}

/// [`tightest`] over any selection of windows (a filter over a locked list, say).
pub fn tightest_of<'a>(windows: impl IntoIterator<Item = &'a Window>) -> Option<&'a Window> {
    windows.into_iter().max_by(|a, b| {
        let rank = |w: &Window| w.pressure().unwrap_or(f64::NEG_INFINITY);
        rank(a)
            .total_cmp(&rank(b))
            .then_with(|| a.resets_at.cmp(&b.resets_at))
    })
}
