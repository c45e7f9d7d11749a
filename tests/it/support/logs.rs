//! Searching a captured log for secrets. A failure names the secret's kind and the
//! line it appeared on, never the secret or the line: a failing test must not print
//! what it caught leaking.

use serde_json::Value;

/// The secrets one test handled, each with a label saying what it is.
#[derive(Default)]
pub struct Secrets {
    items: Vec<(String, String)>,
}

impl Secrets {
    /// Adds `value` as a `label`; empty values are refused (they would match anything).
    pub fn add(&mut self, label: &str, value: &str) {
        assert!(!value.is_empty(), "an empty {label}");
        if !self.items.iter().any(|(_, v)| v == value) {
            self.items.push((label.to_string(), value.to_string()));
        }
    }

    /// Every token of every entry in a `credentials.json` text, labelled by account.
    pub fn add_credentials_file(&mut self, text: &str) {
        let v: Value = serde_json::from_str(text).expect("credentials.json is JSON");
        for (name, entry) in v["accounts"].as_object().expect("accounts").iter() {
            for field in ["access_token", "refresh_token", "id_token"] {
                if let Some(s) = entry[field].as_str() {
                    self.add(&format!("{name}'s {field}"), s);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Fails when any secret appears in `log` (what `source` captured).
    pub fn assert_absent_from(&self, source: &str, log: &str) {
        for (label, value) in &self.items {
            if let Some(n) = log.lines().position(|l| l.contains(value.as_str())) {
                panic!(
                    "{label} ({} chars) reached {source}, line {} of {}",
                    value.len(),
                    n + 1,
                    log.lines().count()
                );
            }
        }
    }
}

/// Fails unless `log` holds a line of `level` (e.g. `TRACE`), so a search that finds
/// nothing is known to have looked at the most talkative log.
pub fn assert_level_seen(source: &str, log: &str, level: &str) {
    assert!(
        log.lines().any(|l| l.contains(level)),
        "no {level} line in {source} ({} lines): was the level set?",
        log.lines().count()
    );
}
