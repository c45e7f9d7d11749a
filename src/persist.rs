//! `state.json`: what keypool learned about its accounts that should outlive a restart —
//! cooldowns and disabled flags (so a restart does not send requests straight back into
//! a known limit or a dead login). Written atomically with mode 0600 after changes and at
//! shutdown; a corrupt file is moved aside with a warning and never stops keypool.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub quota: Vec<SavedWindow>,
}

/// A learned quota window, with times as epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedWindow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
}

impl SavedWindow {
    pub fn from_window(w: &crate::quota::Window) -> SavedWindow {
        SavedWindow {
            name: w.name.clone(),
            scope: w.scope.clone(),
            limit: w.limit,
            remaining: w.remaining,
            utilization: w.utilization,
            resets_at: w.resets_at.map(epoch_secs),
            rejected: (w.status == Some(crate::quota::WindowStatus::Rejected)).then_some(true),
            minutes: w.minutes,
        }
    }

    pub fn to_window(&self) -> crate::quota::Window {
        crate::quota::Window {
            name: self.name.clone(),
            scope: self.scope.clone(),
            limit: self.limit,
            remaining: self.remaining,
            utilization: self.utilization,
            resets_at: self.resets_at.map(from_epoch_secs),
            status: self.rejected.map(|_| crate::quota::WindowStatus::Rejected),
            minutes: self.minutes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SavedHealth {
    Cooling {
        /// Epoch seconds.
        until: u64,
        /// `rate_limited`, `overloaded`, `exhausted`.
        verdict: String,
        detail: String,
    },
    Disabled {
        reason: String,
    },
}

pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn from_epoch_secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
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
    pub fn load(&self) -> Persisted {
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
        match serde_json::from_slice::<Persisted>(&bytes) {
            Ok(p) => p,
            Err(e) => {
                let aside = self
                    .path
                    .with_extension(format!("json.corrupt-{}", epoch_secs(SystemTime::now())));
                let moved = std::fs::rename(&self.path, &aside);
                tracing::warn!(
                    "{} is not valid state (line {}); {} and starting without saved cooldowns",
                    self.path.display(),
                    e.line(),
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
                    until: 1_800_000_000,
                    verdict: "rate_limited".into(),
                    detail: "429 rate_limit_exceeded".into(),
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
}
