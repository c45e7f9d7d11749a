//! `credentials.json`: the tokens of accounts keypool owns (`oauth = "stored"`) and what
//! it learned about linked ones (plan, account id). 0600, written atomically, under the
//! same lock protocol as the native CLIs so `keypool login` and a running proxy never
//! lose each other's writes. The running proxy's writes that failed wait in the store's
//! [`Pending`] registry (see `pending.rs`) until they land.

use super::pending::Pending;
use super::tokens::{from_epoch_ms, to_epoch_ms, Identity, Tokens};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Clones share the pending writes: the proxy's `State` holds one store for its whole
/// life, so a config reload cannot drop a write that has not landed.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    pub(super) pending: Arc<Pending>,
}

pub(super) type Accounts = BTreeMap<String, Entry>;

#[derive(Default, Serialize, Deserialize)]
struct FileShape {
    #[serde(default = "version")]
    version: u32,
    #[serde(default)]
    accounts: Accounts,
}

fn version() -> u32 {
    1
}

/// One account in the file. Tokens are absent for linked accounts: their file owns them.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Epoch milliseconds. Any number reads (an absurd one is dropped when the file is
    /// read, with a warning), so one bad expiry does not make the whole file unreadable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_ms"
    )]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(flatten)]
    pub identity: Identity,
}

/// The tokens are plain strings here: a debug print shows only whether they are present.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("provider", &self.provider)
            .field("has_access_token", &self.access_token.is_some())
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("identity", &self.identity)
            .finish()
    }
}

impl Entry {
    pub fn new(provider: &str, tokens: Option<&Tokens>, identity: &Identity) -> Entry {
        let secret = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_string());
        Entry {
            provider: provider.to_string(),
            access_token: tokens.and_then(|t| secret(&t.access)),
            refresh_token: tokens.and_then(|t| secret(&t.refresh)),
            expires_at: tokens.and_then(|t| t.expires_at).map(to_epoch_ms),
            id_token: tokens.and_then(|t| secret(&t.id_token)),
            identity: identity.clone(),
        }
    }

    pub fn has_tokens(&self) -> bool {
        self.access_token.is_some() || self.refresh_token.is_some()
    }

    pub fn tokens(&self) -> Tokens {
        let secret = |s: &Option<String>| s.clone().map(SecretString::from);
        Tokens {
            access: secret(&self.access_token),
            refresh: secret(&self.refresh_token),
            expires_at: self.expires_at.and_then(from_epoch_ms),
            id_token: secret(&self.id_token),
            identity: self.identity.clone(),
        }
    }

    /// The refresh token, for telling whether two imports are the same login.
    pub fn refresh_secret(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }
}

/// Problems with the file, worded for the person who has to fix them. Never a token.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `detail` names the line, column and field, never the value.
    #[error("{path} is not valid credentials JSON ({detail}); fix it or move it aside and run `keypool login` / `keypool accounts import` again")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const LOCK_WAIT: Duration = Duration::from_secs(10);

impl Store {
    pub fn at(path: impl Into<PathBuf>) -> Store {
        Store {
            path: path.into(),
            pending: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry; an absent file is an empty store.
    pub fn load(&self) -> Result<BTreeMap<String, Entry>, StoreError> {
        Ok(self.read()?.accounts)
    }

    pub fn get(&self, name: &str) -> Result<Option<Entry>, StoreError> {
        Ok(self.read()?.accounts.remove(name))
    }

    /// Sets (or replaces) `name`'s entry. Read-modify-write under the lock.
    pub fn put(&self, name: &str, entry: Entry) -> Result<(), StoreError> {
        self.update(|accounts| {
            accounts.insert(name.to_string(), entry);
        })
    }

    /// Stores fresh tokens for `name`, keeping its provider and identity facts.
    pub fn put_tokens(
        &self,
        name: &str,
        provider: &str,
        tokens: &Tokens,
    ) -> Result<(), StoreError> {
        self.update(|accounts| insert_tokens(accounts, name, provider, tokens))
    }

    /// Records what was learned about a linked account (no tokens).
    pub fn put_identity(
        &self,
        name: &str,
        provider: &str,
        identity: &Identity,
    ) -> Result<(), StoreError> {
        self.update(|accounts| merge_identity(accounts, name, provider, identity))
    }

    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.update(|accounts| {
            accounts.remove(name);
        })
    }

    fn update(&self, f: impl FnOnce(&mut Accounts)) -> Result<(), StoreError> {
        self.update_if(|accounts| {
            f(accounts);
            true
        })
        .map(drop)
    }

    /// Read-modify-write under the lock; `f` says whether there is anything to write.
    /// Returns whether the file was written.
    pub(super) fn update_if(
        &self,
        f: impl FnOnce(&mut Accounts) -> bool,
    ) -> Result<bool, StoreError> {
        let write_err = |source| StoreError::Write {
            path: self.path.clone(),
            source,
        };
        let lock = self.pending.lock_for_write(&self.path, LOCK_WAIT);
        let _guard = lock.map_err(write_err)?;
        let mut file = self.read()?;
        if !f(&mut file.accounts) {
            return Ok(false);
        }
        file.version = version();
        let text = serde_json::to_vec_pretty(&file).expect("serialisable");
        crate::atomic_file::write(&self.path, &text, 0o600).map_err(write_err)?;
        Ok(true)
    }

    fn read(&self) -> Result<FileShape, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileShape::default()),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        // serde_json's message may quote the offending input (a token): the place, the
        // field and the kind of value expected are reported, never the value.
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let mut file: FileShape =
            serde_path_to_error::deserialize(&mut de).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                detail: crate::serde_message::json(e.inner(), Some(&e.path().to_string())),
            })?;
        self.drop_absurd_expiries(&mut file, std::time::SystemTime::now());
        Ok(file)
    }

    /// An expiry that is not an instant, or lies beyond [`crate::bounds::MAX_TOKEN_EXPIRY`],
    /// is read as unknown (the token is then refreshed when the provider refuses it), with
    /// a warning naming the field.
    fn drop_absurd_expiries(&self, file: &mut FileShape, now: std::time::SystemTime) {
        for (name, e) in &mut file.accounts {
            let sane = e.expires_at.is_none_or(|ms| {
                from_epoch_ms(ms).is_some_and(|t| crate::bounds::sane_token_expiry(t, now))
            });
            if !sane {
                tracing::warn!(
                    concat!(
                        "{}: accounts.{:?}.expires_at is not a time within 5 years; ignored it ",
                        "(the token is refreshed when the provider refuses it)"
                    ),
                    self.path.display(),
                    name
                );
                e.expires_at = None;
            }
        }
    }
}

/// Any JSON number as epoch milliseconds: beyond `i64` (or a fraction) saturates, so the
/// absurd-expiry check drops it instead of the whole file failing to read.
fn lenient_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    // `as` saturates: 1e300 is i64::MAX, which the check then drops.
    Ok(n.map(|n| {
        n.as_i64()
            .unwrap_or_else(|| n.as_f64().map_or(i64::MAX, |f| f as i64))
    }))
}

/// Sets `name`'s tokens, keeping the identity facts the file knew and the tokens lack.
pub(super) fn insert_tokens(accounts: &mut Accounts, name: &str, provider: &str, tokens: &Tokens) {
    let mut identity = tokens.identity.clone();
    if let Some(old) = accounts.get(name) {
        identity.merge(&old.identity);
    }
    accounts.insert(
        name.to_string(),
        Entry::new(provider, Some(tokens), &identity),
    );
}

/// Adds what `identity` knows to `name`'s entry (created without tokens if absent).
pub(super) fn merge_identity(
    accounts: &mut Accounts,
    name: &str,
    provider: &str,
    identity: &Identity,
) {
    let e = accounts
        .entry(name.to_string())
        .or_insert_with(|| Entry::new(provider, None, &Identity::default()));
    let mut merged = identity.clone();
    merged.merge(&e.identity);
    e.identity = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn round_trips_tokens_at_0600_and_keeps_identity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("credentials.json"));
        assert!(store.load().unwrap().is_empty());
        let t = Tokens {
            access: Some("acc".to_string().into()),
            refresh: Some("ref".to_string().into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_millis(1_760_000_000_000)),
            id_token: None,
            identity: Identity {
                plan: Some("max".into()),
                ..Identity::default()
            },
        };
        store.put_tokens("a", "anthropic", &t).unwrap();
        let mut t2 = t.clone();
        t2.identity = Identity::default();
        t2.refresh = Some("ref2".to_string().into());
        store.put_tokens("a", "anthropic", &t2).unwrap();
        let e = store.get("a").unwrap().unwrap();
        assert_eq!(e.identity.plan.as_deref(), Some("max"), "identity kept");
        assert_eq!(e.tokens().refresh.unwrap().expose_secret(), "ref2");
        assert_eq!(e.tokens().expires_at, t.expires_at);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = SystemTime::now();
    }

    /// A panic message or a debug log may format an entry, alone or in the loaded map.
    #[test]
    fn debug_of_an_entry_shows_whose_it_is_never_a_token() {
        let secrets = [
            "sk-ant-oat01-dbg-access",
            "sk-ant-ort01-dbg-refresh",
            "eyJ.dbg-id.token",
        ];
        let t = Tokens {
            access: Some(secrets[0].to_string().into()),
            refresh: Some(secrets[1].to_string().into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_millis(1_760_000_000_000)),
            id_token: Some(secrets[2].to_string().into()),
            identity: Identity {
                email: Some("max@example.com".into()),
                ..Identity::default()
            },
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("credentials.json"));
        store.put_tokens("max-work", "anthropic", &t).unwrap();
        let loaded = store.load().unwrap();
        let entry = Entry::new("anthropic", Some(&t), &t.identity);
        // The failure names the print, not its text: that would hold the token.
        for (what, shown) in [
            ("{entry:?}", format!("{entry:?}")),
            ("{entry:#?}", format!("{entry:#?}")),
            ("{loaded:?}", format!("{loaded:?}")),
            ("{loaded:#?}", format!("{loaded:#?}")),
            ("{store:?}", format!("{store:?}")),
        ] {
            for s in secrets {
                assert!(!shown.contains(s), "a token in the debug print {what}");
            }
            assert!(!shown.contains("dbg"), "part of a token in {what}");
        }
        let shown = format!("{loaded:#?}");
        for s in [
            "max-work",
            "anthropic",
            "max@example.com",
            "has_access_token: true",
        ] {
            assert!(shown.contains(s), "{s} missing from {shown}");
        }
    }

    #[test]
    fn corrupt_file_error_names_line_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("credentials.json");
        std::fs::write(&p, "{\n\"accounts\": {\"a\": sk-secret-123}}").unwrap();
        let e = Store::at(&p).load().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("sk-secret"), "{e}");
    }
}
