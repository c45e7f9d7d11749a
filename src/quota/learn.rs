//! One pass over a response's headers, gathering the pieces of each window.

use super::values::{
    count, epoch_millis, fraction, go_reset, numeric_reset, rfc3339_reset, seconds_after, status,
};
use super::{Window, WindowStatus};
use crate::providers::Dialect;
use http::HeaderMap;
use std::time::SystemTime;

/// Every quota window the headers of one response describe (see the module docs for the
/// families read). Empty, without allocating, when there are none.
pub fn learn(dialect: Dialect, headers: &HeaderMap, now: SystemTime) -> Vec<Window> {
    let mut l = Learner {
        dialect,
        now,
        slots: Vec::new(),
        unified: Unified::default(),
        limit_names: Vec::new(),
    };
    for (name, value) in headers {
        let name = name.as_str();
        // Names first: most headers are of no interest and their values are never read.
        if !(name.starts_with("x-") || name.starts_with("anthropic-ratelimit-")) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        l.header(name, value);
    }
    l.finish()
}

/// Which header family a slot's pieces came from; windows of different families are
/// never merged, even under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `x-ratelimit-*-{dim}`; key: the dim.
    RateLimit,
    /// Bare `x-ratelimit-*`; key: empty.
    Bare,
    /// `anthropic-ratelimit-{dim}-*`; key: the dim.
    Anthropic,
    /// `anthropic-ratelimit-unified-{claim}-*`; key: the claim.
    Unified,
    /// `x-{limit}-primary-*` / `x-{limit}-secondary-*`; key: the limit (`codex`, …).
    CodexPrimary,
    CodexSecondary,
}

/// A window's pieces as they arrive, in whichever order the headers come.
struct Slot<'a> {
    family: Family,
    key: &'a str,
    w: Window,
    /// A relative reset used when the absolute one is absent: Codex's older
    /// `reset-after-seconds`, `x-ratelimit-reset-after`.
    reset_after: Option<SystemTime>,
}

/// The unified family's account-wide headers.
#[derive(Default)]
struct Unified<'a> {
    status: Option<WindowStatus>,
    reset: Option<SystemTime>,
    claim: Option<&'a str>,
}

struct Learner<'a> {
    dialect: Dialect,
    now: SystemTime,
    slots: Vec<Slot<'a>>,
    unified: Unified<'a>,
    /// Codex `x-{limit}-limit-name` values, by limit.
    limit_names: Vec<(&'a str, &'a str)>,
}

impl<'a> Learner<'a> {
    fn header(&mut self, name: &'a str, value: &'a str) {
        if let Some(rest) = name.strip_prefix("anthropic-ratelimit-") {
            match rest.strip_prefix("unified-") {
                Some(rest) => self.unified(rest, value),
                None => self.anthropic(rest, value),
            }
        } else if let Some(rest) = name.strip_prefix("x-ratelimit-") {
            self.x_ratelimit(rest, value);
        } else if let Some(rest) = name.strip_prefix("x-") {
            self.codex(rest, value);
        }
    }

    /// `x-ratelimit-{field}-{dim}` and bare `x-ratelimit-{field}`.
    fn x_ratelimit(&mut self, rest: &'a str, value: &str) {
        let now = self.now;
        let (field, dim) = rest.split_once('-').unwrap_or((rest, ""));
        let family = if dim.is_empty() {
            Family::Bare
        } else {
            Family::RateLimit
        };
        match field {
            "limit" => self.slot(family, dim).w.limit = count(value),
            "remaining" => self.slot(family, dim).w.remaining = count(value),
            "reset" if family == Family::Bare => {
                let at = if self.dialect == Dialect::Openrouter {
                    epoch_millis(value, now)
                } else {
                    numeric_reset(value, now)
                };
                self.slot(family, dim).w.resets_at = at;
            }
            "reset" if dim == "after" => {
                // `x-ratelimit-reset-after`: seconds, for the bare window, used when
                // there is no bare `x-ratelimit-reset`.
                self.slot(Family::Bare, "").reset_after = seconds_after(value, now);
            }
            "reset" => self.slot(family, dim).w.resets_at = go_reset(value, now),
            _ => {}
        }
    }

    /// `anthropic-ratelimit-{dim}-{limit,remaining,reset}`.
    fn anthropic(&mut self, rest: &'a str, value: &str) {
        let now = self.now;
        let Some((dim, field)) = rest.rsplit_once('-').filter(|(d, _)| !d.is_empty()) else {
            return;
        };
        match field {
            "limit" => self.slot(Family::Anthropic, dim).w.limit = count(value),
            "remaining" => self.slot(Family::Anthropic, dim).w.remaining = count(value),
            "reset" => self.slot(Family::Anthropic, dim).w.resets_at = rfc3339_reset(value, now),
            _ => {}
        }
    }

    /// `anthropic-ratelimit-unified-…`: account-wide `status`, `reset`,
    /// `representative-claim`, and per window `{claim}-{status,utilization,reset}` where
    /// a claim starts with its length (`5h`, `7d`, `7d_oi`, `7d-opus`).
    fn unified(&mut self, rest: &'a str, value: &'a str) {
        let now = self.now;
        match rest {
            "status" => self.unified.status = status(value),
            "reset" => self.unified.reset = numeric_reset(value, now),
            "representative-claim" => self.unified.claim = Some(value.trim()),
            _ => self.unified_window(rest, value),
        }
    }

    fn unified_window(&mut self, rest: &'a str, value: &str) {
        let now = self.now;
        let Some((claim, field)) = rest.rsplit_once('-') else {
            return;
        };
        if claim_minutes(claim).is_none() {
            return; // `overage-*`, `fallback-*` and whatever comes next
        }
        match field {
            "status" => self.slot(Family::Unified, claim).w.status = status(value),
            "utilization" => {
                self.slot(Family::Unified, claim).w.utilization = fraction(value, false)
            }
            "reset" => self.slot(Family::Unified, claim).w.resets_at = numeric_reset(value, now),
            _ => {}
        }
    }

    /// `x-{limit}-{primary,secondary}-{field}` and `x-{limit}-limit-name`. The field is
    /// stripped first and the slot next, so `x-codex-secondary-primary-used-percent` is the
    /// primary window of the limit `codex-secondary`, as Codex itself reads it.
    fn codex(&mut self, rest: &'a str, value: &'a str) {
        const FIELDS: [&str; 4] = [
            "-used-percent",
            "-window-minutes",
            "-reset-at",
            "-reset-after-seconds",
        ];
        if let Some(limit) = rest.strip_suffix("-limit-name") {
            let v = value.trim();
            if !limit.is_empty() && !v.is_empty() {
                self.limit_names.push((limit, v));
            }
            return;
        }
        let Some((head, field)) = FIELDS
            .iter()
            .find_map(|f| rest.strip_suffix(f).map(|h| (h, f)))
        else {
            return;
        };
        let (limit, family) = if let Some(l) = head.strip_suffix("-primary") {
            (l, Family::CodexPrimary)
        } else if let Some(l) = head.strip_suffix("-secondary") {
            (l, Family::CodexSecondary)
        } else {
            return;
        };
        if limit.is_empty() {
            return;
        }
        let now = self.now;
        let slot = self.slot(family, limit);
        match *field {
            "-used-percent" => slot.w.utilization = fraction(value, true),
            "-window-minutes" => slot.w.minutes = count(value).filter(|&m| m > 0),
            "-reset-at" => slot.w.resets_at = numeric_reset(value, now),
            _ => slot.reset_after = seconds_after(value, now),
        }
    }

    fn slot(&mut self, family: Family, key: &'a str) -> &mut Slot<'a> {
        let i = match self
            .slots
            .iter()
            .position(|s| s.family == family && s.key == key)
        {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    family,
                    key,
                    w: Window::named(String::new()),
                    reset_after: None,
                });
                self.slots.len() - 1
            }
        };
        &mut self.slots[i]
    }

    fn finish(mut self) -> Vec<Window> {
        self.apply_unified();
        let mut out = Vec::with_capacity(self.slots.len());
        for Slot {
            family,
            key,
            mut w,
            reset_after,
        } in self.slots
        {
            w.resets_at = w.resets_at.or(reset_after);
            let said_something = w.limit.is_some()
                || w.remaining.is_some()
                || w.utilization.is_some()
                || w.resets_at.is_some()
                || w.status.is_some();
            if !said_something {
                continue; // every value failed to parse
            }
            match family {
                Family::RateLimit | Family::Anthropic => w.name = key.to_string(),
                Family::Bare => {
                    w.name = match self.dialect {
                        Dialect::Openrouter => "requests",
                        _ => "ratelimit",
                    }
                    .to_string()
                }
                Family::Unified => {
                    w.name = key.to_string();
                    w.minutes = claim_minutes(key);
                    w.scope = claim_scope(key).map(str::to_string);
                }
                Family::CodexPrimary | Family::CodexSecondary => {
                    // Codex's own rule: a window is there when its used-percent is.
                    if w.utilization.is_none() {
                        continue;
                    }
                    let slot = if family == Family::CodexPrimary {
                        "primary"
                    } else {
                        "secondary"
                    };
                    w.name = match w.minutes {
                        Some(m) => minutes_name(m),
                        None => format!("{key}-{slot}"),
                    };
                    w.scope = self
                        .limit_names
                        .iter()
                        .find(|(l, _)| *l == key)
                        .map(|(_, n)| n.to_string())
                        .or_else(|| (key != "codex").then(|| key.to_string()));
                }
            }
            if w.utilization.is_none() {
                w.utilization = derived_utilization(w.limit, w.remaining);
            }
            w.learned_at = Some(self.now);
            out.push(w);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.scope.cmp(&b.scope)));
        out
    }

    /// The account-wide unified status and reset belong to the window the representative
    /// claim names (filling what its own headers left out), else to a `unified` window.
    fn apply_unified(&mut self) {
        let Unified {
            status,
            reset,
            claim,
        } = std::mem::take(&mut self.unified);
        if status.is_none() && reset.is_none() {
            return;
        }
        let key = claim.and_then(claim_window).unwrap_or("unified");
        let slot = self.slot(Family::Unified, key);
        slot.w.status = slot.w.status.or(status);
        slot.w.resets_at = slot.w.resets_at.or(reset);
    }
}

/// The unified header key of a representative claim: `five_hour` → `5h`,
/// `seven_day_opus` → `7d-opus`, `seven_day_overage_included` → `7d_oi`.
fn claim_window(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "five_hour" => "5h",
        "seven_day" => "7d",
        "seven_day_opus" => "7d-opus",
        "seven_day_sonnet" => "7d-sonnet",
        "seven_day_overage_included" => "7d_oi",
        _ => return None,
    })
}

/// The length a unified claim starts with: `5h` → 300, `7d-opus` → 10080. `unified`
/// itself (the account-wide status) has none.
fn claim_minutes(claim: &str) -> Option<u64> {
    let digits = claim.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = claim[..digits].parse().ok()?;
    let unit = match claim[digits..].chars().next()? {
        'm' => 1,
        'h' => 60,
        'd' => 24 * 60,
        _ => return None,
    };
    let rest = &claim[digits + 1..];
    (rest.is_empty() || rest.starts_with(['-', '_'])).then(|| n.saturating_mul(unit))
}

/// The model family a unified claim is scoped to: `7d-opus` → `opus`. `7d_oi` (likely
/// "overage included") is a variant of the account-wide window, not a model.
fn claim_scope(claim: &str) -> Option<&str> {
    claim_minutes(claim)?;
    let (_, scope) = claim.split_once('-')?;
    (!scope.is_empty()).then_some(scope)
}

/// `300` → `5h`, `10080` → `7d`, `90` → `90m`: a window named by its length, as every
/// source names it (headers and probes feed the same windows).
pub fn minutes_name(m: u64) -> String {
    if m % (24 * 60) == 0 {
        format!("{}d", m / (24 * 60))
    } else if m % 60 == 0 {
        format!("{}h", m / 60)
    } else {
        format!("{m}m")
    }
}

fn derived_utilization(limit: Option<u64>, remaining: Option<u64>) -> Option<f64> {
    let (limit, remaining) = (limit?, remaining?);
    if limit == 0 {
        return Some(1.0);
    }
    Some(1.0 - remaining.min(limit) as f64 / limit as f64)
}
