//! Credential writes of the running proxy that did not land (a full disk, a read-only
//! home), kept until they do.
//!
//! Claude and ChatGPT refresh tokens are single-use: once keypool has redeemed one, only
//! the token it got back works, and a restart that reads the spent one back has lost the
//! login. So a write that fails is kept here, keyed by account name, retried with backoff
//! (`pending/retry.rs`), tried once more at shutdown, and shown to whoever looks: the log
//! once, the status JSON, `keypool status`, `keypool accounts list`.
//!
//! The registry lives in the [`Store`], not in the account: a config reload rebuilds
//! every account from the files, but the proxy keeps one store for its whole life, and
//! the rebuild takes the unsaved tokens back from it ([`Store::overlay_unsaved`]) instead
//! of the spent ones on disk.

mod attempts;
mod failure;
mod retry;
#[cfg(all(test, unix))]
mod tests;

pub use retry::FindAccount;

use super::link::{Linked, WriteBackError};
use super::store::{insert_tokens, merge_identity, Accounts, Store};
use super::{Identity, Tokens};
use crate::file_lock::LockGuard;
use attempts::{settle, Attempts, Pace};
use failure::{no_space, Failure};
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub(super) struct Pending {
    entries: Mutex<Entries>,
    /// How many writes are failing now. The retry task wakes on its changes.
    failing: watch::Sender<usize>,
    /// The test hook: while set, every write fails as on a full disk.
    fail_writes: AtomicBool,
    pace: Mutex<Pace>,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            entries: Mutex::default(),
            failing: watch::channel(0).0,
            fail_writes: AtomicBool::new(false),
            pace: Mutex::new(Pace::DEFAULT),
        }
    }
}

/// Counts only: the entries hold tokens.
impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("failing", &*self.failing.borrow())
            .finish()
    }
}

impl Pending {
    /// The error a write meets while the test hook is set.
    pub(super) fn injected_fault(&self) -> Option<io::Error> {
        self.fail_writes.load(Ordering::Relaxed).then(no_space)
    }

    /// Takes the lock on `target` that a write needs. While the test hook is set it is
    /// refused the way a full disk refuses the lock directory's `mkdir`: before anything
    /// is created, so a write that cannot land never holds a lock the CLI (or a test
    /// looking for leftovers) could run into.
    pub(super) fn lock_for_write(&self, target: &Path, wait: Duration) -> io::Result<LockGuard> {
        match self.injected_fault() {
            Some(fault) => Err(fault),
            None => crate::file_lock::acquire(target, wait),
        }
    }

    fn publish(&self, entries: &Entries) {
        let n = entries.failing();
        self.failing
            .send_if_modified(|old| std::mem::replace(old, n) != n);
    }
}

#[derive(Default)]
struct Entries {
    /// Writes to `credentials.json`.
    store: BTreeMap<String, Unsaved<StoreWrite>>,
    /// Write-backs to a linked CLI's file.
    link: BTreeMap<String, Unsaved<LinkWrite>>,
}

impl Entries {
    /// Both maps' bookkeeping, store writes first.
    fn all(&self) -> impl Iterator<Item = (&String, &Attempts)> {
        bookkeeping(&self.store).chain(bookkeeping(&self.link))
    }

    fn failing(&self) -> usize {
        self.all().filter(|(_, a)| a.failure.is_some()).count()
    }

    /// Every failing write: its account, why, and what brings the login back.
    fn failures(&self) -> Vec<(String, Failure, String)> {
        self.all()
            .filter_map(|(n, a)| Some((n.clone(), a.failure.clone()?, a.relogin.clone())))
            .collect()
    }

    /// The names whose bookkeeping `pick` wants: store writes, then write-backs.
    fn names(&self, pick: impl Fn(&Attempts) -> bool) -> (Vec<String>, Vec<String>) {
        (picked(&self.store, &pick), picked(&self.link, &pick))
    }
}

fn bookkeeping<W>(m: &BTreeMap<String, Unsaved<W>>) -> impl Iterator<Item = (&String, &Attempts)> {
    m.iter().map(|(n, u)| (n, &u.attempts))
}

fn picked<W>(m: &BTreeMap<String, Unsaved<W>>, pick: &impl Fn(&Attempts) -> bool) -> Vec<String> {
    let names = bookkeeping(m).filter(|(_, a)| pick(a));
    names.map(|(n, _)| n.clone()).collect()
}

/// One account's write that has not landed yet.
struct Unsaved<W> {
    write: W,
    attempts: Attempts,
}

impl<W> Unsaved<W> {
    fn new(write: W, relogin: &str) -> Unsaved<W> {
        let now = Instant::now();
        Unsaved {
            write,
            attempts: Attempts {
                seq: 0,
                failure: None,
                failures: 0,
                next_try: now,
                since: now,
                relogin: relogin.to_string(),
            },
        }
    }
}

/// A `credentials.json` entry to write: tokens (stored accounts) and what is known of
/// whose they are.
#[derive(Clone)]
struct StoreWrite {
    provider: String,
    tokens: Option<Tokens>,
    identity: Identity,
}

impl StoreWrite {
    fn apply(&self, name: &str, accounts: &mut Accounts) {
        match &self.tokens {
            Some(t) => {
                let mut t = t.clone();
                t.identity.clone_from(&self.identity);
                insert_tokens(accounts, name, &self.provider, &t);
            }
            None => merge_identity(accounts, name, &self.provider, &self.identity),
        }
    }
}

#[derive(Clone)]
struct LinkWrite {
    linked: Linked,
    tokens: Tokens,
    base: Base,
}

/// What a linked file held (read under its lock) when keypool last wrote it. Anything
/// else in it later means its CLI wrote since, and the CLI's tokens are then the newer.
#[derive(Clone)]
struct Base {
    access: Option<SecretString>,
    refresh: Option<SecretString>,
}

impl Base {
    fn of(t: &Tokens) -> Base {
        Base {
            access: t.access.clone(),
            refresh: t.refresh.clone(),
        }
    }

    fn matches(&self, t: &Tokens) -> bool {
        let same = |a: &Option<SecretString>, b: &Option<SecretString>| {
            a.as_ref().map(ExposeSecret::expose_secret)
                == b.as_ref().map(ExposeSecret::expose_secret)
        };
        same(&self.access, &t.access) && same(&self.refresh, &t.refresh)
    }
}

impl Store {
    /// Saves `name`'s refreshed tokens (a stored account). A write that fails stays
    /// pending and is retried; the caller goes on with the tokens either way.
    /// Blocking: async callers run it on `spawn_blocking`.
    pub fn save_tokens(&self, name: &str, provider: &str, tokens: &Tokens, relogin: &str) {
        self.record_store(name, provider, relogin, Some(tokens), &tokens.identity);
        self.write_store_entry(name);
    }

    /// Saves what was learned of `name` (plan, project). Pending like [`Store::save_tokens`].
    pub fn save_identity(&self, name: &str, provider: &str, identity: &Identity, relogin: &str) {
        self.record_store(name, provider, relogin, None, identity);
        self.write_store_entry(name);
    }

    fn record_store(
        &self,
        name: &str,
        provider: &str,
        relogin: &str,
        tokens: Option<&Tokens>,
        identity: &Identity,
    ) {
        let mut e = self.pending.entries.lock();
        let u = e.store.entry(name.to_string()).or_insert_with(|| {
            let w = StoreWrite {
                provider: provider.to_string(),
                tokens: None,
                identity: Identity::default(),
            };
            Unsaved::new(w, relogin)
        });
        u.attempts.seq += 1;
        let mut merged = identity.clone();
        merged.merge(&u.write.identity);
        u.write.identity = merged;
        if let Some(t) = tokens {
            u.write.tokens = Some(t.clone());
        }
    }

    /// Writes the latest snapshot of `name`'s entry. The snapshot is taken under the
    /// file's lock, so an older one can never land after a newer one.
    fn write_store_entry(&self, name: &str) {
        let before = self
            .pending
            .entries
            .lock()
            .store
            .get(name)
            .map(|u| u.attempts.seq);
        let Some(before) = before else {
            return;
        };
        let mut taken = None;
        let result = self.update_if(|accounts| {
            let e = self.pending.entries.lock();
            let Some(u) = e.store.get(name) else {
                return false;
            };
            taken = Some(u.attempts.seq);
            u.write.apply(name, accounts);
            true
        });
        let result = result
            .map(drop)
            .map_err(|err| Failure::of_store(&err, self.path()));
        let pace = *self.pending.pace.lock();
        let mut e = self.pending.entries.lock();
        let note = settle(&mut e.store, name, taken.unwrap_or(before), result, pace);
        self.pending.publish(&e);
        drop(e);
        note.log(name, self.path());
    }

    /// Writes refreshed tokens back to `linked`. The caller holds the CLI's lock and read
    /// `on_disk` under it; a write that fails stays pending. Returns whether it landed.
    pub fn save_write_back(
        &self,
        name: &str,
        linked: &Linked,
        tokens: &Tokens,
        on_disk: &Tokens,
        relogin: &str,
    ) -> bool {
        let seq = {
            let mut e = self.pending.entries.lock();
            let write = LinkWrite {
                linked: linked.clone(),
                tokens: tokens.clone(),
                base: Base::of(on_disk),
            };
            let u = (e.link)
                .entry(name.to_string())
                .or_insert_with(|| Unsaved::new(write.clone(), relogin));
            u.write = write;
            u.attempts.seq += 1;
            u.attempts.seq
        };
        let result = self.write_back_now(linked, tokens);
        let landed = result.is_ok();
        self.settle_link(name, seq, result);
        landed
    }

    fn write_back_now(&self, linked: &Linked, tokens: &Tokens) -> Result<(), Failure> {
        let result = match self.pending.injected_fault() {
            Some(source) => Err(WriteBackError::Write {
                path: linked.path.clone(),
                source,
            }),
            None => linked.write_back(tokens),
        };
        result.map_err(|e| Failure::of_write_back(&e, &linked.path))
    }

    fn settle_link(&self, name: &str, seq: u64, result: Result<(), Failure>) {
        let pace = *self.pending.pace.lock();
        let mut e = self.pending.entries.lock();
        let path = e.link.get(name).map(|u| u.write.linked.path.clone());
        let note = settle(&mut e.link, name, seq, result, pace);
        self.pending.publish(&e);
        drop(e);
        if let Some(p) = path {
            note.log(name, &p);
        }
    }

    /// Whether `on_disk` is still what `linked` held when a write-back of `name` failed;
    /// `None` when none is pending for that file. While it is, the file is behind
    /// keypool, and only another content means the CLI wrote.
    pub fn unsaved_write_back_matches(
        &self,
        name: &str,
        linked: &Linked,
        on_disk: &Tokens,
    ) -> Option<bool> {
        let e = self.pending.entries.lock();
        let u = (e.link.get(name)).filter(|u| u.write.linked.path == linked.path)?;
        Some(u.write.base.matches(on_disk))
    }

    /// Drops a pending write-back: the CLI wrote newer tokens, which win.
    pub fn drop_unsaved_write_back(&self, name: &str) {
        let mut e = self.pending.entries.lock();
        let Some(u) = e.link.remove(name) else {
            return;
        };
        self.pending.publish(&e);
        drop(e);
        tracing::info!(
            account = %name,
            concat!(
                "{} changed since keypool's write to it failed: its CLI wrote newer tokens, ",
                "which keypool uses now (dropping its own unsaved ones)"
            ),
            u.write.linked.path.display()
        );
    }

    /// What the user is told while a write of `name` has not landed.
    pub fn unsaved(&self, name: &str) -> Option<String> {
        let e = self.pending.entries.lock();
        let link = e.link.get(name).and_then(|u| u.attempts.failure.as_ref());
        let store = e.store.get(name).and_then(|u| u.attempts.failure.as_ref());
        link.or(store).map(|f| f.message.clone())
    }

    /// Puts what has not landed for `name` over `tokens` just read from its file (the
    /// store, or `linked` for a linked account): the unsaved tokens are the newer ones.
    pub fn overlay_unsaved(&self, name: &str, linked: Option<&Linked>, tokens: &mut Tokens) {
        let e = self.pending.entries.lock();
        if let Some(l) = linked {
            let behind = (e.link.get(name))
                .filter(|u| u.write.linked.path == l.path && u.write.base.matches(tokens));
            if let Some(u) = behind {
                *tokens = u.write.tokens.clone();
            }
        }
        if let Some(u) = e.store.get(name) {
            if let (Some(t), None) = (&u.write.tokens, linked) {
                *tokens = t.clone();
            }
            let mut identity = u.write.identity.clone();
            identity.merge(&tokens.identity);
            tokens.identity = identity;
        }
    }

    /// Test hook: while `on`, every write of this store (and its write-backs to linked
    /// files) fails with "No space left on device". Only code holding the running
    /// proxy's `State` can reach it; no flag, file or environment variable sets it.
    #[doc(hidden)]
    pub fn fail_writes(&self, on: bool) {
        self.pending.fail_writes.store(on, Ordering::Relaxed);
    }

    /// Test hook: the retry backoff (default 1 s doubling to 60 s).
    #[doc(hidden)]
    pub fn pace_retries(&self, first: Duration, cap: Duration) {
        *self.pending.pace.lock() = Pace { first, cap };
    }

    /// Test hook: how many writes are failing now, as it changes.
    #[doc(hidden)]
    pub fn watch_unsaved(&self) -> watch::Receiver<usize> {
        self.pending.failing.subscribe()
    }
}
