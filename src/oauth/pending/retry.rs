//! Trying unsaved writes again: the proxy's retry task (each write when its backoff step
//! is due), and the last attempt at shutdown.

use super::{Failure, Store};
use crate::oauth::account::OAuthAccount;
use crate::oauth::link::LOCK_WAIT;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Finds the live account of a name, to hand it the tokens its CLI wrote meanwhile.
pub type FindAccount = Arc<dyn Fn(&str) -> Option<Arc<OAuthAccount>> + Send + Sync>;

impl Store {
    /// The proxy's retry task: tries each failing write again when its backoff step is
    /// due, until shutdown. Sleeps while nothing is due; a new failure wakes it.
    pub async fn retry_unsaved(self, shutdown: CancellationToken, find: FindAccount) {
        let mut changes = self.pending.failing.subscribe();
        loop {
            let due = self.next_due();
            let wait = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
                () = wait => {}
            }
            let (store, find) = (self.clone(), find.clone());
            if let Err(e) = tokio::task::spawn_blocking(move || store.retry_due(&find)).await {
                tracing::error!("the credentials retry task failed: {e}");
            }
        }
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        let e = self.pending.entries.lock();
        e.all()
            .filter(|(_, a)| a.failure.is_some())
            .map(|(_, a)| a.next_try)
            .min()
    }

    pub(super) fn retry_due(&self, find: &FindAccount) {
        let now = Instant::now();
        let (store, link) =
            (self.pending.entries.lock()).names(|a| a.failure.is_some() && a.next_try <= now);
        for n in store {
            self.write_store_entry(&n);
        }
        for n in link {
            self.retry_write_back(&n, Some(find));
        }
    }

    /// At shutdown, after requests drained: one more attempt for every write that has not
    /// landed, and an error naming the fix for each that still cannot.
    pub fn flush_unsaved(&self) {
        let (store, link) = self.pending.entries.lock().names(|_| true);
        for n in store {
            self.write_store_entry(&n);
        }
        for n in link {
            // Whatever the CLI wrote stays in its file; no request is left to use it.
            self.retry_write_back(&n, None);
        }
        let lost = self.pending.entries.lock().failures();
        for (name, f, relogin) in lost {
            tracing::error!(
                account = %name,
                concat!(
                    "{}; keypool is stopping, so this refreshed login is lost ",
                    "({} still holds the spent token): once the file can be written, {}"
                ),
                f.message,
                f.path.display(),
                relogin
            );
        }
    }

    /// Tries a pending write-back again under the CLI's lock protocol: take the lock and
    /// read the file again. If the CLI wrote since keypool's write failed, its tokens are
    /// the newer ones: they stay, the live account takes them (before the entry goes, so
    /// whoever sees it gone sees the account on them), keypool's are dropped.
    fn retry_write_back(&self, name: &str, find: Option<&FindAccount>) {
        let Some((linked, seq)) = (self.pending.entries.lock().link.get(name))
            .map(|u| (u.write.linked.clone(), u.attempts.seq))
        else {
            return;
        };
        let guard = match self
            .pending
            .lock_for_write(&linked.lock_target(), LOCK_WAIT)
        {
            Ok(g) => g,
            Err(err) => {
                self.settle_link(name, seq, Err(Failure::io(&linked.path, &err)));
                return;
            }
        };
        let on_disk = match linked.read() {
            Ok(t) => t,
            Err(err) => {
                self.settle_link(name, seq, Err(Failure::problem(&linked.path, err)));
                return;
            }
        };
        // The entry as it is now that the lock is held: nobody records a write-back
        // without holding it.
        let Some((write, seq)) =
            (self.pending.entries.lock().link.get(name)).map(|u| (u.write.clone(), u.attempts.seq))
        else {
            return;
        };
        if !write.base.matches(&on_disk) {
            if let Some(account) = find.and_then(|f| f(name)) {
                account.adopt(on_disk, &write.tokens);
            }
            drop(guard);
            self.drop_unsaved_write_back(name);
            return;
        }
        let result = self.write_back_now(&linked, &write.tokens);
        // Released before the entry goes, so whoever sees it gone finds the file free.
        drop(guard);
        self.settle_link(name, seq, result);
    }
}
