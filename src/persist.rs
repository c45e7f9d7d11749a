//! `state.json`: what keypool learned about its accounts that should outlive a restart —
//! cooldowns and disabled flags (so a restart does not send requests straight back into
//! a known limit or a dead login). Written atomically with mode 0600 after changes and at
//! shutdown; a corrupt file is moved aside with a warning and never stops keypool, and an
//! entry that does not read (or holds an absurd time) is dropped with a warning naming
//! the field while the other entries are kept.

mod lenient;
pub mod window;

use crate::bounds;
use crate::providers::Cause;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    #[serde(default = "version")]
    pub version: u32,
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountState>,
    /// Conversation assignments and pins (hashed keys, account names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<crate::sticky::AffinitySnapshot>,
}

fn version() -> u32 {
    1
}

// Not derived: a derived default would write `"version": 0` into every saved file.
impl Default for Persisted {
    fn default() -> Persisted {
        Persisted {
            version: version(),
            accounts: BTreeMap::new(),
            affinity: None,
        }
    }
}

/// One account's state. `credential` is a fingerprint (never the secret) of the
/// credential the state was learned with: a disabled flag is dropped when the key or
/// login has changed since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub credential: String,
    #[serde(flatten)]
    pub health: Option<SavedHealth>,
    /// The quota windows learned from the provider's answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota: Vec<window::SavedWindow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SavedHealth {
    Cooling {
        /// Epoch seconds.
        until: u64,
        /// `"verdict"` (`rate_limited`, `overloaded`, `exhausted`) and `"detail"`, or
        /// `"token_endpoint"` with its reason.
        #[serde(flatten)]
        cause: Cause,
    },
    Disabled {
        reason: String,
        /// The rule of a terminal answer (`providers/terminal.rs`) that ended the
        /// account's turn; a reload clears such an account. Absent for any other reason
        /// (and in files of keypools before it, which read the same).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminal: Option<String>,
    },
}

pub fn epoch_secs(t: SystemTime) -> u64 {
    bounds::to_epoch_secs(t)
}

/// Saved epoch seconds as an instant; `None` when the platform cannot represent it.
pub fn from_epoch_secs(s: u64) -> Option<SystemTime> {
    bounds::epoch_secs(s)
}

/// A short, one-way fingerprint of a credential (SHA-256, first 16 hex digits): enough
/// to tell "same key as when it was disabled" without keeping the key.
pub fn fingerprint(secret: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn at(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; empty when there is none. A file that cannot be read as state is
    /// renamed to `state.json.corrupt-<epoch>` and reported, and keypool starts fresh.
    /// Entries that do not read, or hold times keypool never writes, are dropped one by
    /// one with a warning (see [`lenient`]).
    pub fn load(&self) -> Persisted {
        self.load_at(SystemTime::now())
    }

    /// [`StateFile::load`], judging saved times against `now`.
    pub fn load_at(&self, now: SystemTime) -> Persisted {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Persisted::default(),
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; starting without saved state",
                    self.path.display()
                );
                return Persisted::default();
            }
        };
        match lenient::read(&bytes, now) {
            Ok((p, dropped)) => {
                dropped.report(&self.path);
                p
            }
            Err(e) => {
                let aside = self
                    .path
                    .with_extension(format!("json.corrupt-{}", epoch_secs(SystemTime::now())));
                let moved = std::fs::rename(&self.path, &aside);
                tracing::warn!(
                    "{} is not valid state ({}); {} and starting without saved cooldowns",
                    self.path.display(),
                    crate::serde_message::json(&e, None),
                    match moved {
                        Ok(()) => format!("moved it to {}", aside.display()),
                        Err(m) => format!("could not move it aside ({m})"),
                    }
                );
                Persisted::default()
            }
        }
    }

    pub fn save(&self, state: &Persisted) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(state).expect("serialisable");
        crate::atomic_file::write(&self.path, &text, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        assert_eq!(f.load(), Persisted::default());
        let mut p = Persisted::default();
        p.accounts.insert(
            "a".into(),
            AccountState {
                credential: fingerprint("sk-a"),
                health: Some(SavedHealth::Cooling {
                    until: epoch_secs(SystemTime::now()) + 600,
                    cause: Cause::Provider {
                        verdict: crate::providers::Verdict::RateLimited,
                        detail: "429 rate_limit_exceeded".into(),
                    },
                }),
                quota: Vec::new(),
            },
        );
        f.save(&p).unwrap();
        assert_eq!(f.load(), p);
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(!text.contains("sk-a"), "a fingerprint, never the key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        std::fs::write(f.path(), "{ not json").unwrap();
        assert_eq!(f.load(), Persisted::default());
        assert!(!f.path().exists(), "moved aside");
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn a_missing_file_is_silent_and_an_unreadable_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        let logs = crate::test_logs::logs_of(|| assert_eq!(f.load(), Persisted::default()));
        assert_eq!(logs, "", "a first start has no state yet");
        std::fs::create_dir(f.path()).unwrap();
        let logs = crate::test_logs::logs_of(|| assert_eq!(f.load(), Persisted::default()));
        assert!(logs.contains("WARN"), "{logs}");
        assert!(
            logs.contains("cannot read") && logs.contains("state.json"),
            "{logs}"
        );
        assert!(f.path().is_dir(), "what cannot be read is left where it is");
    }

    #[test]
    fn the_file_says_its_version_and_one_without_it_is_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        f.save(&Persisted::default()).unwrap();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
        assert_eq!(saved["version"], 1);
        std::fs::write(f.path(), r#"{"accounts":{}}"#).unwrap();
        assert_eq!(f.load().version, 1);
    }

    #[test]
    fn ten_dropped_entries_are_named_and_the_rest_counted() {
        let accounts: Vec<String> = (0..12)
            .map(|i| {
                let entry = r#"{"credential":"f","state":"cooling","until":-1,"verdict":"x"}"#;
                format!(r#""a{i:02}":{entry}"#)
            })
            .collect();
        let text = format!(r#"{{"version":1,"accounts":{{{}}}}}"#, accounts.join(","));
        let (_, dropped) = lenient::read(text.as_bytes(), at_1_8e9()).unwrap();
        assert_eq!(dropped.fields().len(), 10, "{:#?}", dropped.fields());
        let logs = crate::test_logs::logs_of(|| dropped.report(Path::new("state.json")));
        assert!(logs.contains("a09") && !logs.contains("a10"), "{logs}");
        assert!(logs.contains("2 more entries dropped"), "{logs}");

        let (_, dropped) = lenient::read(
            br#"{"version":7,"accounts":{"q":{"credential":"f","quota":"5h"}}}"#,
            at_1_8e9(),
        )
        .unwrap();
        assert_eq!(dropped.fields(), [r#"accounts."q".quota: not a list"#]);
        let logs = crate::test_logs::logs_of(|| dropped.report(Path::new("state.json")));
        assert_eq!(
            logs.lines().count(),
            1,
            "no count when none is left over: {logs}"
        );
    }

    #[test]
    fn a_saved_version_is_kept_and_the_longest_cooldown_is_not_too_long() {
        let now = at_1_8e9();
        let longest = epoch_secs(bounds::cool_until(now, bounds::MAX_COOLDOWN));
        let text = format!(
            r#"{{"version":7,"accounts":{{"a":{{"credential":"f","state":"cooling","until":{longest},"verdict":"rate_limited","detail":"x"}}}}}}"#
        );
        let (p, dropped) = lenient::read(text.as_bytes(), now).unwrap();
        assert_eq!(p.version, 7);
        assert!(dropped.fields().is_empty(), "{:?}", dropped.fields());
        assert!(
            p.accounts["a"].health.is_some(),
            "a cooldown of exactly the longest is kept"
        );
    }

    /// Every saved time at 2^64−1, beyond u64, negative, a float or a string: each entry
    /// that holds one is dropped and named; the sane entries beside them are kept.
    #[test]
    fn absurd_saved_values_drop_only_their_entry() {
        let now = at_1_8e9();
        let sane_until = 1_800_000_600u64;
        let key = format!("codex:{}", "cd".repeat(16));
        let text = format!(
            r#"{{"version":1,"accounts":{{
  "max":   {{"credential":"f1","state":"cooling","until":18446744073709551615,"verdict":"rate_limited","detail":"x"}},
  "over":  {{"credential":"f2","state":"cooling","until":18446744073709551616,"verdict":"rate_limited","detail":"x"}},
  "neg":   {{"credential":"f3","state":"cooling","until":-1,"verdict":"rate_limited","detail":"x"}},
  "float": {{"credential":"f4","state":"cooling","until":1e308,"verdict":"rate_limited","detail":"x"}},
  "text":  {{"credential":"f5","state":"cooling","until":"sk-live-SECRET","verdict":"rate_limited","detail":"x"}},
  "far":   {{"credential":"f6","state":"cooling","until":1900000000,"verdict":"rate_limited","detail":"x"}},
  "sane":  {{"credential":"f7","state":"cooling","until":{sane_until},"verdict":"exhausted","detail":"429 ok"}},
  "win":   {{"credential":"f8","quota":[
      {{"name":"5h","resets_at":18446744073709551615}},
      {{"name":"7d","resets_at":1800003600,"utilization":0.5}},
      {{"name":"bad","resets_at":"soon"}}]}}
}},"affinity":{{"sticky":{{"entries":[
  {{"pool":"p","key":"{key}","account":"a","seen":18446744073709551615}},
  {{"pool":"p","key":"{key}","account":"b","seen":1799999000}},
  {{"pool":"p","key":"not a key","account":"c","seen":1799999000}}
]}},"pins":{{"entries":[{{"pool":"p","key":"response:resp_1","account":"a","seen":99999999999999999999}}]}}}}}}"#
        );
        let (p, dropped) = lenient::read(text.as_bytes(), now).unwrap();
        let health = |n: &str| p.accounts.get(n).map(|a| a.health.clone());
        for n in ["max", "far", "over", "neg", "float", "text"] {
            assert_eq!(
                health(n),
                Some(None),
                "{n}: the cooldown is dropped, the account kept"
            );
        }
        assert!(matches!(
            health("sane"),
            Some(Some(SavedHealth::Cooling { until, .. })) if until == sane_until
        ));
        let names: Vec<&str> = p.accounts["win"]
            .quota
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        assert_eq!(names, ["7d"]);
        let aff = p.affinity.unwrap();
        assert_eq!(aff.sticky.entries.len(), 1);
        assert_eq!(aff.sticky.entries[0].account, "b");
        assert!(aff.pins.entries.is_empty());
        let fields = dropped.fields().join("\n");
        for f in [
            "accounts.\"max\".until",
            "accounts.\"over\".until",
            "accounts.\"over\".until: a floating point number, expected",
            "accounts.\"neg\".until: a negative integer, expected",
            "accounts.\"float\".until: a floating point number, expected",
            "accounts.\"text\".until: a string, expected epoch seconds",
            "accounts.\"far\".until: the cooldown ends more than",
            "accounts.\"win\".quota[0].resets_at: the time lies more than 32 days ahead",
            "accounts.\"win\".quota[2].resets_at",
            "affinity.sticky.entries[0].seen",
            "affinity.sticky.entries[2].key",
        ] {
            assert!(fields.contains(f), "{f} not named in:\n{fields}");
        }
        assert!(
            !fields.contains("SECRET"),
            "a value reached a warning:\n{fields}"
        );
    }

    #[test]
    fn a_file_of_absurd_values_loads_and_is_kept_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        std::fs::write(
            f.path(),
            concat!(
                r#"{"accounts":{"a":{"credential":"x","state":"cooling","#,
                r#""until":18446744073709551615,"verdict":"rate_limited","detail":"d"}}}"#,
            ),
        )
        .unwrap();
        let p = f.load_at(at_1_8e9());
        assert_eq!(p.accounts["a"].health, None);
        assert!(f.path().exists(), "a readable file is not moved aside");
    }

    /// A file written before verdicts were serde-typed (hand-mapped names) reads the same.
    #[test]
    fn a_state_file_in_the_format_of_before_still_loads() {
        use crate::providers::Verdict;
        let text = r#"{
  "version": 1,
  "accounts": {
    "a": {"credential": "f1", "state": "cooling", "until": 1800000600,
          "verdict": "rate_limited", "detail": "429 rate_limit_exceeded"},
    "b": {"credential": "f2", "state": "cooling", "until": 1800000600,
          "verdict": "overloaded", "detail": "529 overloaded_error"},
    "c": {"credential": "f3", "state": "cooling", "until": 1800000600,
          "verdict": "exhausted", "detail": "429 insufficient_quota",
          "quota": [{"name": "5h", "utilization": 1.0, "resets_at": 1800003600}]},
    "d": {"credential": "f4", "state": "disabled", "reason": "key rejected"}
  }
}"#;
        let (p, dropped) = lenient::read(text.as_bytes(), at_1_8e9()).unwrap();
        assert!(dropped.fields().is_empty(), "{:?}", dropped.fields());
        let cooling = |verdict, detail: &str| {
            Some(SavedHealth::Cooling {
                until: 1_800_000_600,
                cause: Cause::Provider {
                    verdict,
                    detail: detail.into(),
                },
            })
        };
        let health = |n: &str| p.accounts[n].health.clone();
        assert_eq!(
            health("a"),
            cooling(Verdict::RateLimited, "429 rate_limit_exceeded")
        );
        assert_eq!(
            health("b"),
            cooling(Verdict::Overloaded, "529 overloaded_error")
        );
        assert_eq!(
            health("c"),
            cooling(Verdict::Exhausted, "429 insufficient_quota")
        );
        assert_eq!(p.accounts["c"].quota.len(), 1);
        let disabled = SavedHealth::Disabled {
            reason: "key rejected".into(),
            terminal: None,
        };
        assert_eq!(health("d"), Some(disabled));
        // A terminal answer's rule reads back; a file without one reads as before.
        let ended = SavedHealth::Disabled {
            reason: "402 membership".into(),
            terminal: Some("kimi-membership".into()),
        };
        let json = serde_json::to_value(&ended).unwrap();
        assert_eq!(json["terminal"], "kimi-membership");
        assert_eq!(serde_json::from_value::<SavedHealth>(json).unwrap(), ended);
        // Written back, a provider's cooldown has the same fields as before.
        let again = serde_json::to_value(&p.accounts["a"]).unwrap();
        let before: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(again, before["accounts"]["a"]);
    }

    /// A token endpoint's outage is saved as such and comes back as such, never as a
    /// provider's verdict.
    #[test]
    fn a_token_endpoint_cooldown_is_saved_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        let mut p = Persisted::default();
        let cause = Cause::TokenEndpoint {
            reason: "https://auth.example/token answered 503".into(),
        };
        p.accounts.insert(
            "login".into(),
            AccountState {
                credential: fingerprint("rt-1"),
                health: Some(SavedHealth::Cooling {
                    until: epoch_secs(SystemTime::now()) + 30,
                    cause: cause.clone(),
                }),
                quota: Vec::new(),
            },
        );
        f.save(&p).unwrap();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
        let entry = &saved["accounts"]["login"];
        assert_eq!(entry["state"], "cooling");
        assert_eq!(
            entry["token_endpoint"],
            "https://auth.example/token answered 503"
        );
        assert!(entry.get("verdict").is_none(), "{entry}");
        assert_eq!(f.load(), p);
    }

    /// A verdict keypool does not know (or never cools for) drops that cooldown with a
    /// warning naming the field; the account's credential and quota, and the other
    /// accounts, are kept.
    #[test]
    fn an_unknown_verdict_drops_only_its_cooldown() {
        let text = r#"{"version":1,"accounts":{
  "odd":  {"credential":"f1","state":"cooling","until":1800000600,"verdict":"sk-VERDICT",
           "detail":"x","quota":[{"name":"5h","utilization":0.5,"resets_at":1800003600}]},
  "ok":   {"credential":"f2","state":"cooling","until":1800000600,"verdict":"ok","detail":"x"},
  "num":  {"credential":"f3","state":"cooling","until":1800000600,"verdict":7,"detail":"x"},
  "none": {"credential":"f4","state":"cooling","until":1800000600},
  "sane": {"credential":"f5","state":"cooling","until":1800000600,"verdict":"exhausted",
           "detail":"429"}
}}"#;
        let (p, dropped) = lenient::read(text.as_bytes(), at_1_8e9()).unwrap();
        for n in ["odd", "ok", "num", "none"] {
            assert_eq!(p.accounts[n].health, None, "{n}: the cooldown is dropped");
        }
        assert_eq!(p.accounts["odd"].credential, "f1");
        assert_eq!(p.accounts["odd"].quota.len(), 1, "its quota is kept");
        assert!(p.accounts["sane"].health.is_some());
        let fields = dropped.fields().join("\n");
        for f in [
            "accounts.\"odd\".verdict: unknown variant, expected one of",
            "accounts.\"ok\".verdict: a verdict keypool never cools an account for",
            "accounts.\"num\".verdict: invalid type: an integer",
            "accounts.\"none\"",
        ] {
            assert!(fields.contains(f), "{f} not named in:\n{fields}");
        }
        assert_eq!(dropped.fields().len(), 4, "{fields}");
        assert!(
            !fields.contains("sk-VERDICT"),
            "a value reached a warning:\n{fields}"
        );
    }

    fn at_1_8e9() -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
    }
}
