//! The pick phase: which account of the pool takes the request next, and how the
//! exchange moves on to another pool or waits for one to free.

use super::*;

impl Exchange<'_> {
    /// Runs at the start of every round. Picks the pool's preferred usable account not
    /// tried yet (the conversation's, when it can) and adds it to `tried`. `Err`: no send
    /// this round, because the pool has no account left, or the request is
    /// pinned to an account that is limited.
    pub(super) fn pick(&mut self, now: SystemTime) -> Result<(usize, Arc<Account>), Unpicked> {
        let prefer = self.affinity.first_choice();
        let (pool, kind, path) = (&self.pool, self.kind, &self.path);
        let (idx, account) =
            (pool.pick(&self.tried, now, kind, path, prefer)).map_err(Unpicked::Exhausted)?;
        if let Some(why) = pinned_elsewhere(pool, &self.affinity, &account, now) {
            return Err(Unpicked::PinnedElsewhere(why));
        }
        self.tried.push(idx);
        Ok((idx, account))
    }

    /// After the decision to go on in a fallback pool: every account of `next` is
    /// untried; the pools visited grow by it.
    pub(super) fn fall_back(&mut self, next: Arc<Pool>) {
        tracing::info!(
            pool = %self.pool.name,
            "every account is limited; continuing in pool '{}'",
            next.name
        );
        self.visited.push(next.index);
        self.pool = next;
        self.tried.clear();
    }

    /// After the decision to hold: waits `wait`, then starts over in the first pool with
    /// every account untried. `held` grows by the wait.
    pub(super) async fn hold(&mut self, wait: Duration) {
        tracing::info!(
            pool = %self.first_pool.name,
            "every account is limited; holding the request {}s",
            ceil_secs(wait)
        );
        tokio::time::sleep(wait).await;
        self.held += wait;
        self.pool = self.first_pool.clone();
        self.visited.truncate(1);
        self.tried.clear();
    }
}
