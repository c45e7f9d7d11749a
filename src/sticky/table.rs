//! Which account holds each conversation, per pool: forgotten after an idle time, bounded
//! in size (the least recently seen go first), saved and restored with the state file.
//! Time is always passed in, so tests move a manual clock instead of sleeping.

use super::key::ConversationKey;
use lru::LruCache;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a conversation keeps its account without a request.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60 * 60);
/// How many conversations are remembered, over all pools.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Expired entries dropped per insert, so memory follows use without a sweeper task.
const PRUNE_PER_INSERT: usize = 8;

/// A conversation that changed account, for the caller to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub pool: String,
    pub key: ConversationKey,
    pub from: String,
    pub to: String,
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conversation {} in pool '{}' moved from '{}' to '{}'",
            self.key, self.pool, self.from, self.to
        )
    }
}

/// What the state file keeps of a table: live entries, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "K: Serialize", deserialize = "K: Deserialize<'de>"))]
pub struct Snapshot<K> {
    #[serde(default)]
    pub entries: Vec<SavedEntry<K>>,
}

impl<K> Default for Snapshot<K> {
    fn default() -> Self {
        Snapshot {
            entries: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry<K> {
    pub pool: String,
    pub key: K,
    pub account: String,
    /// Last seen, in seconds since the Unix epoch.
    pub seen: u64,
}

pub type StickySnapshot = Snapshot<ConversationKey>;

/// Pool and account names are few and repeat in every entry: each is stored once.
#[derive(Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    fn get(&self, s: &str) -> Option<Arc<str>> {
        self.0.get(s).cloned()
    }
}

struct Entry {
    account: Arc<str>,
    seen: SystemTime,
}

struct Inner<K: Hash + Eq> {
    /// Unbounded to the crate: a bounded `LruCache` allocates its whole capacity at once
    /// (about 2 MiB for the default), so [`Inner::cap`] is kept here and the map grows
    /// only as conversations come.
    map: LruCache<(Arc<str>, K), Entry>,
    cap: NonZeroUsize,
    names: Names,
    idle: Duration,
}

impl<K: Hash + Eq> Inner<K> {
    fn expired(&self, seen: SystemTime, now: SystemTime) -> bool {
        // A clock that went back leaves entries alive rather than dropping them all.
        now.duration_since(seen).is_ok_and(|d| d >= self.idle)
    }

    /// Drops expired entries from the least recently seen end, at most `max` of them.
    fn prune(&mut self, now: SystemTime, max: usize) -> usize {
        let mut dropped = 0;
        while dropped < max {
            match self.map.peek_lru() {
                Some((_, e)) if self.expired(e.seen, now) => {
                    self.map.pop_lru();
                    dropped += 1;
                }
                _ => break,
            }
        }
        dropped
    }

    /// Adds `k`, dropping the least recently seen entries past the cap.
    fn push(&mut self, k: (Arc<str>, K), e: Entry) {
        self.map.push(k, e);
        self.trim();
    }

    fn trim(&mut self) {
        // Bounded: each turn removes one entry.
        while self.map.len() > self.cap.get() {
            self.map.pop_lru();
        }
    }
}

/// `(pool, key) → (account, last seen)`, the engine under [`Sticky`] and
/// [`super::Pins`].
pub(crate) struct Table<K: Hash + Eq> {
    inner: Mutex<Inner<K>>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    pub(crate) fn new(idle: Duration, capacity: usize) -> Self {
        Table {
            inner: Mutex::new(Inner {
                map: LruCache::unbounded(),
                cap: cap(capacity),
                names: Names::default(),
                idle,
            }),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner<K>> {
        // A panic elsewhere cannot leave the map half-updated in a way that matters.
        self.inner.lock()
    }

    pub(crate) fn set_limits(&self, idle: Duration, capacity: usize) {
        let mut t = self.lock();
        t.idle = idle;
        t.cap = cap(capacity);
        t.trim();
    }

    pub(crate) fn idle(&self) -> Duration {
        self.lock().idle
    }

    /// The live account for `key`, marked as seen `now`.
    pub(crate) fn get(&self, pool: &str, key: &K, now: SystemTime) -> Option<String> {
        let mut t = self.lock();
        let k = (t.names.get(pool)?, key.clone());
        let seen = t.map.peek(&k)?.seen;
        if t.expired(seen, now) {
            t.map.pop(&k);
            return None;
        }
        let e = t.map.get_mut(&k)?;
        e.seen = e.seen.max(now);
        Some(e.account.to_string())
    }

    /// The live account for `key`, without marking it seen.
    pub(crate) fn peek(&self, pool: &str, key: &K, now: SystemTime) -> Option<String> {
        let t = self.lock();
        let e = t.map.peek(&(t.names.get(pool)?, key.clone()))?;
        (!t.expired(e.seen, now)).then(|| e.account.to_string())
    }

    /// Sets `key` to `account`, seen `now`; the live account it had before, if another.
    pub(crate) fn put(
        &self,
        pool: &str,
        key: &K,
        account: &str,
        now: SystemTime,
    ) -> Option<String> {
        let mut t = self.lock();
        t.prune(now, PRUNE_PER_INSERT);
        let pool = t.names.intern(pool);
        let account = t.names.intern(account);
        let k = (pool, key.clone());
        let before = match t.map.peek(&k) {
            Some(e) if !t.expired(e.seen, now) && e.account != account => {
                Some(e.account.to_string())
            }
            _ => None,
        };
        // At capacity, `push` drops the least recently seen entry.
        t.push(k, Entry { account, seen: now });
        before
    }

    pub(crate) fn remove(&self, pool: &str, key: &K) -> Option<String> {
        let mut t = self.lock();
        let k = (t.names.get(pool)?, key.clone());
        t.map.pop(&k).map(|e| e.account.to_string())
    }

    /// Keeps only the entries `keep(pool, account)` accepts (after a config reload, the
    /// accounts that still exist); how many were dropped.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) -> usize {
        let mut t = self.lock();
        let gone: Vec<_> = t
            .map
            .iter()
            .filter(|((pool, _), e)| !keep(pool, &e.account))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            t.map.pop(k);
        }
        gone.len()
    }

    pub(crate) fn prune(&self, now: SystemTime) -> usize {
        let mut t = self.lock();
        // Recency order is seen order while the clock only moves forward; a full pass
        // also catches entries a clock step back left out of order.
        let expired: Vec<_> = t
            .map
            .iter()
            .filter(|(_, e)| t.expired(e.seen, now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            t.map.pop(k);
        }
        expired.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Live entries per pool and account.
    pub(crate) fn counts(&self, now: SystemTime) -> BTreeMap<String, BTreeMap<String, usize>> {
        let t = self.lock();
        let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for ((pool, _), e) in t.map.iter() {
            if !t.expired(e.seen, now) {
                *out.entry(pool.to_string())
                    .or_default()
                    .entry(e.account.to_string())
                    .or_default() += 1;
            }
        }
        out
    }

    pub(crate) fn snapshot(&self, now: SystemTime) -> Snapshot<K> {
        let t = self.lock();
        // Least recently seen first, so a restore rebuilds the same order.
        let entries = t
            .map
            .iter()
            .rev()
            .filter(|(_, e)| !t.expired(e.seen, now))
            .map(|((pool, key), e)| SavedEntry {
                pool: pool.to_string(),
                key: key.clone(),
                account: e.account.to_string(),
                seen: e.seen.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            })
            .collect();
        Snapshot { entries }
    }

    /// Adds the live entries of `snap`; one the table already saw later is kept as it
    /// is. How many entries were taken.
    pub(crate) fn restore(&self, snap: Snapshot<K>, now: SystemTime) -> usize {
        let mut entries = snap.entries;
        entries.sort_by_key(|e| e.seen);
        let mut t = self.lock();
        let mut taken = 0;
        for e in entries {
            // Never seen later than now: a saved time in the future would otherwise keep
            // the entry until then. An unrepresentable one is skipped (the state file's
            // reader warned about it).
            let Some(seen) = crate::bounds::epoch_secs(e.seen).map(|s| s.min(now)) else {
                continue;
            };
            if t.expired(seen, now) || e.pool.is_empty() || e.account.is_empty() {
                continue;
            }
            let pool = t.names.intern(&e.pool);
            let k = (pool, e.key);
            if t.map.peek(&k).is_some_and(|old| old.seen >= seen) {
                continue;
            }
            let account = t.names.intern(&e.account);
            t.push(k, Entry { account, seen });
            taken += 1;
        }
        taken
    }
}

fn cap(capacity: usize) -> NonZeroUsize {
    NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)
}

/// Sticky conversations: which account serves each conversation of a pool, so the
/// provider's prompt cache for it stays warm. A conversation keeps its account while it
/// is used; after [`DEFAULT_IDLE`] without a request it is forgotten.
pub struct Sticky {
    table: Table<ConversationKey>,
}

impl Default for Sticky {
    fn default() -> Self {
        Sticky::new(DEFAULT_IDLE, DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for Sticky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sticky")
            .field("len", &self.len())
            .field("idle", &self.idle())
            .finish()
    }
}

impl Sticky {
    /// `idle`: how long an unused conversation keeps its account; `capacity`: how many
    /// conversations are remembered (beyond it, the least recently seen is forgotten).
    pub fn new(idle: Duration, capacity: usize) -> Sticky {
        Sticky {
            table: Table::new(idle, capacity),
        }
    }

    /// New limits from a reloaded config; entries are kept (shrinking drops the least
    /// recently seen).
    pub fn set_limits(&self, idle: Duration, capacity: usize) {
        self.table.set_limits(idle, capacity)
    }

    pub fn idle(&self) -> Duration {
        self.table.idle()
    }

    /// The account holding `key` in `pool`, and the conversation seen `now`. `None` when
    /// it has none or was idle too long.
    pub fn get(&self, pool: &str, key: &ConversationKey, now: SystemTime) -> Option<String> {
        self.table.get(pool, key, now)
    }

    /// Like [`Sticky::get`], without marking the conversation seen.
    pub fn peek(&self, pool: &str, key: &ConversationKey, now: SystemTime) -> Option<String> {
        self.table.peek(pool, key, now)
    }

    /// Records that `account` served `key` `now`. When the conversation was held by
    /// another account, returns the [`Move`] for the caller to log.
    pub fn assign(
        &self,
        pool: &str,
        key: &ConversationKey,
        account: &str,
        now: SystemTime,
    ) -> Option<Move> {
        let from = self.table.put(pool, key, account, now)?;
        Some(Move {
            pool: pool.to_string(),
            key: *key,
            from,
            to: account.to_string(),
        })
    }

    /// Moves `key` from `from` (limited) to `to`, whatever the table held; the [`Move`]
    /// to log.
    pub fn moved(
        &self,
        pool: &str,
        key: &ConversationKey,
        from: &str,
        to: &str,
        now: SystemTime,
    ) -> Move {
        self.table.put(pool, key, to, now);
        Move {
            pool: pool.to_string(),
            key: *key,
            from: from.to_string(),
            to: to.to_string(),
        }
    }

    /// Forgets one conversation; the account it had.
    pub fn forget(&self, pool: &str, key: &ConversationKey) -> Option<String> {
        self.table.remove(pool, key)
    }

    /// Keeps the conversations whose `(pool, account)` `keep` accepts, e.g. after a
    /// reload removed accounts; how many were forgotten.
    pub fn retain(&self, keep: impl FnMut(&str, &str) -> bool) -> usize {
        self.table.retain(keep)
    }

    /// Forgets every conversation idle too long at `now`; how many.
    pub fn prune(&self, now: SystemTime) -> usize {
        self.table.prune(now)
    }

    /// Entries held, including expired ones not yet pruned.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live conversations per pool and account, for the status page.
    pub fn counts(&self, now: SystemTime) -> BTreeMap<String, BTreeMap<String, usize>> {
        self.table.counts(now)
    }

    /// Live conversations of one pool.
    pub fn pool_count(&self, pool: &str, now: SystemTime) -> usize {
        self.counts(now)
            .get(pool)
            .map_or(0, |accounts| accounts.values().sum())
    }

    /// The live assignments, for the state file.
    pub fn snapshot(&self, now: SystemTime) -> StickySnapshot {
        self.table.snapshot(now)
    }

    /// Takes back a [`Sticky::snapshot`] (expired entries are skipped); how many entries.
    pub fn restore(&self, snap: StickySnapshot, now: SystemTime) -> usize {
        self.table.restore(snap, now)
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
