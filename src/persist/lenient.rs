//! Reading `state.json` one entry at a time, so one bad entry costs only itself.
//!
//! The file is read as JSON first (a file that is not JSON at all is moved aside by the
//! caller); then each account, each quota window and each affinity entry is read on its
//! own. An entry that does not read, or holds a time keypool never writes (a cooldown
//! beyond [`bounds::MAX_COOLDOWN`], a reset or a last-seen beyond [`bounds::MAX_HORIZON`],
//! a number the platform cannot hold as an instant), is dropped and named in a warning;
//! every other entry keeps working. Warnings name the field, never its value.

use super::window::SavedWindow;
use super::{from_epoch_secs, AccountState, Persisted, SavedHealth};
use crate::bounds;
use crate::providers::Verdict;
use crate::serde_message::redact;
use crate::sticky::{AffinitySnapshot, SavedEntry, Snapshot};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;
use std::time::SystemTime;

/// Dropped entries named one by one in the log; beyond, only counted.
const NAMED: usize = 10;

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    version: Value,
    #[serde(default)]
    accounts: BTreeMap<String, Value>,
    #[serde(default)]
    affinity: Option<RawAffinity>,
}

#[derive(Deserialize, Default)]
struct RawAffinity {
    #[serde(default)]
    sticky: RawSnapshot,
    #[serde(default)]
    pins: RawSnapshot,
}

#[derive(Deserialize, Default)]
struct RawSnapshot {
    #[serde(default)]
    entries: Vec<Value>,
}

/// What was dropped while reading, for the warnings.
#[derive(Debug, Default)]
pub struct Dropped {
    named: Vec<String>,
    more: usize,
}

impl Dropped {
    fn add(&mut self, field: &str, problem: impl Display) {
        if self.named.len() < NAMED {
            self.named.push(format!("{field}: {problem}"));
        } else {
            self.more += 1;
        }
    }

    /// The dropped fields, as the warnings name them.
    #[cfg(test)]
    pub fn fields(&self) -> &[String] {
        &self.named
    }

    pub fn report(&self, path: &Path) {
        for d in &self.named {
            tracing::warn!(
                concat!(
                    "{}: {}; dropped that entry ",
                    "(the others are kept, and the file is rewritten without it)"
                ),
                path.display(),
                d
            );
        }
        if self.more > 0 {
            tracing::warn!(
                "{}: {} more entries dropped for the same kinds of reasons",
                path.display(),
                self.more
            );
        }
    }
}

/// The state in `bytes`, with what had to be dropped; an error only when `bytes` is not
/// a JSON object of the file's shape at all.
pub fn read(bytes: &[u8], now: SystemTime) -> Result<(Persisted, Dropped), serde_json::Error> {
    let raw: Raw = serde_json::from_slice(bytes)?;
    let mut dropped = Dropped::default();
    let mut p = Persisted {
        version: raw
            .version
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or_else(super::version),
        ..Persisted::default()
    };
    for (name, v) in raw.accounts {
        if let Some(a) = account(&name, v, now, &mut dropped) {
            p.accounts.insert(name, a);
        }
    }
    p.affinity = raw.affinity.map(|a| AffinitySnapshot {
        sticky: snapshot("affinity.sticky", a.sticky, now, &mut dropped),
        pins: snapshot("affinity.pins", a.pins, now, &mut dropped),
    });
    Ok((p, dropped))
}

fn account(
    name: &str,
    mut v: Value,
    now: SystemTime,
    dropped: &mut Dropped,
) -> Option<AccountState> {
    let at = format!("accounts.{name:?}");
    let quota = match v.as_object_mut().map(|o| o.remove("quota")) {
        Some(Some(Value::Array(q))) => q,
        Some(Some(other)) => {
            dropped.add(&format!("{at}.quota"), "not a list");
            drop(other);
            Vec::new()
        }
        _ => Vec::new(),
    };
    // A flattened health that does not read would silently become `None`: read it on
    // its own first, to say so. serde loses the path inside a tagged enum, so the number
    // and the verdict in it are checked by hand to name the field.
    let mut health_read = true;
    if v.get("state").is_some() {
        health_read = match (v.get("until"), v.get("verdict").map(cooling_verdict)) {
            (Some(u), _) if !u.is_u64() => {
                let kind = json_kind(u);
                let problem = format_args!("{kind}, expected epoch seconds (u64)");
                dropped.add(&format!("{at}.until"), problem);
                false
            }
            (_, Some(Err(problem))) => {
                dropped.add(&format!("{at}.verdict"), problem);
                false
            }
            _ => parse::<SavedHealth>(&at, v.clone(), dropped).is_some(),
        };
    }
    let mut a: AccountState = parse(&at, v, dropped)?;
    if !health_read {
        a.health = None;
    }
    a.quota = quota
        .into_iter()
        .enumerate()
        .filter_map(|(i, w)| window(&format!("{at}.quota[{i}]"), w, now, dropped))
        .collect();
    if let Some(SavedHealth::Cooling { until, .. }) = &a.health {
        let longest = bounds::cool_until(now, bounds::MAX_COOLDOWN);
        if from_epoch_secs(*until).is_none_or(|t| t > longest) {
            dropped.add(
                &format!("{at}.until"),
                format_args!(
                    "the cooldown ends more than {} days from now, longer than any keypool gives",
                    bounds::MAX_COOLDOWN.as_secs() / 86_400
                ),
            );
            a.health = None;
        }
    }
    Some(a)
}

fn window(at: &str, v: Value, now: SystemTime, dropped: &mut Dropped) -> Option<SavedWindow> {
    let w: SavedWindow = parse(at, v, dropped)?;
    if let Some(s) = w.resets_at {
        if !from_epoch_secs(s).is_some_and(|t| bounds::within_horizon(t, now)) {
            dropped.add(&format!("{at}.resets_at"), beyond_horizon());
            return None;
        }
    }
    Some(w)
}

fn snapshot<K: DeserializeOwned>(
    at: &str,
    raw: RawSnapshot,
    now: SystemTime,
    dropped: &mut Dropped,
) -> Snapshot<K> {
    let entries = raw
        .entries
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let at = format!("{at}.entries[{i}]");
            let e: SavedEntry<K> = parse(&at, v, dropped)?;
            if !from_epoch_secs(e.seen).is_some_and(|t| bounds::within_horizon(t, now)) {
                dropped.add(&format!("{at}.seen"), beyond_horizon());
                return None;
            }
            Some(e)
        })
        .collect();
    Snapshot { entries }
}

/// Whether a saved cooldown's verdict is one keypool cools an account for; why not, in
/// words that hold no value from the file.
fn cooling_verdict(v: &Value) -> Result<(), String> {
    match Verdict::deserialize(v) {
        Ok(verdict) if verdict.cools() => Ok(()),
        Ok(_) => Err(concat!(
            "a verdict keypool never cools an account for, ",
            "expected `rate_limited`, `overloaded` or `exhausted`"
        )
        .into()),
        Err(e) => Err(redact(&e.to_string())),
    }
}

/// What a JSON value is, without its content.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a floating point number",
        Value::Number(n) if n.is_i64() => "a negative integer",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn beyond_horizon() -> String {
    format!(
        "the time lies more than {} days ahead, further than keypool looks",
        bounds::MAX_HORIZON.as_secs() / 86_400
    )
}

/// `v` as a `T`; on failure the field that failed (under `at`) is added to `dropped`
/// with serde's message, values removed.
fn parse<T: DeserializeOwned>(at: &str, v: Value, dropped: &mut Dropped) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(v) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            let field = match path.as_str() {
                "" | "." => at.to_string(),
                p => format!("{at}.{p}"),
            };
            dropped.add(&field, redact(&e.inner().to_string()));
            None
        }
    }
}
