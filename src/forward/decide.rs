//! The retry decision: after each round, whether the request is replayed on the next
//! account, goes on in a fallback pool, waits for an account to free, or ends.

use super::*;

/// What one round (pick → credential → attempt) came to.
pub(super) enum Round {
    /// No account was picked.
    Unpicked(Unpicked),
    /// The picked account has no credential now (it was set aside).
    NoCredential,
    /// The account's attempt ended so; what it says of the account is recorded already.
    Turn(Arc<Account>, Turn),
}

/// Why the pick phase found no account to send on.
pub(super) enum Unpicked {
    /// No account of the pool is left to pick: why.
    Exhausted(Unavailable),
    /// The request continues state only one account holds, and that account is limited.
    PinnedElsewhere(Unavailable),
}

/// What the pipeline does next.
pub(super) enum Next {
    /// Another round in the same pool, with the same body.
    Replay,
    /// Every account here is limited: go on in this fallback pool.
    Fallback(Arc<Pool>),
    /// Wait this long for the first account to free, then start over in the first pool.
    Hold(Duration),
    /// The end: this answer goes to the client (the account that gave it, if any).
    Deliver(Response<ProxyBody>, Option<Arc<Account>>),
    /// The end: keypool answers itself (after trying this account, if any).
    GiveUp(KeypoolAnswer, Option<Arc<Account>>),
}

impl Exchange<'_> {
    /// Runs after every round, and is the only place that decides whether a request is
    /// tried again. Changes nothing: the loop acts on its answer.
    pub(super) fn decide(&self, round: Round) -> Next {
        let (account, turn) = match round {
            Round::Unpicked(Unpicked::Exhausted(why)) => return self.exhausted(why),
            Round::Unpicked(Unpicked::PinnedElsewhere(why)) => {
                let answer = KeypoolAnswer::PinnedLimited {
                    dialect: self.dialect,
                    pool: self.pool.name.clone(),
                    why,
                    attempts: self.attempts,
                };
                return Next::GiveUp(answer, None);
            }
            Round::NoCredential => return Next::Replay,
            Round::Turn(account, turn) => (account, turn),
        };
        let replayable = self.body.replayable();
        match turn {
            Turn::Answer(response) => Next::Deliver(response, Some(account)),
            Turn::Own(answer) => Next::GiveUp(answer, Some(account)),
            // Nothing reached the client, and a reset or a silence says nothing about
            // the account's quota: the next one is tried while the body can be sent again.
            Turn::Broke(_) if replayable => Next::Replay,
            Turn::Broke(_) => Next::GiveUp(self.broke(), Some(account)),
            Turn::Refused(..) if replayable => Next::Replay,
            // The body was streamed upstream and is gone; the client gets the answer as is.
            Turn::Refused(response, _) => {
                let response = decorate(response, Some(&account.name), self.attempts, false);
                Next::Deliver(response, Some(account))
            }
        }
    }

    /// No account of the pool is left. Every account left broke before answering: say
    /// so rather than "limited". Every one is limited: continue in a fallback pool, then
    /// (if the pool allows) hold for the first account to free, then answer 429.
    fn exhausted(&self, why: Unavailable) -> Next {
        if !self.broken.is_empty() {
            return Next::GiveUp(self.broke(), None);
        }
        let may_use = |p: &str| (self.live.clients).may_use(p, self.target.client.as_deref());
        let pools = &self.live.pools;
        if let Some(next) = next_fallback(pools, &self.visited, self.kind, &self.path, may_use) {
            return Next::Fallback(next);
        }
        if let Some(wait) = hold_for(&self.first_pool, &why, self.held, self.body.replayable()) {
            return Next::Hold(wait);
        }
        let answer = KeypoolAnswer::AllLimited {
            dialect: self.dialect,
            pool: self.pool.name.clone(),
            why,
            attempts: self.attempts,
        };
        Next::GiveUp(answer, None)
    }

    /// Every account tried broke before answering.
    fn broke(&self) -> KeypoolAnswer {
        KeypoolAnswer::Broke {
            dialect: self.dialect,
            host: self.target.host.clone(),
            port: self.target.port,
            tried: self.broken.clone(),
            read_timeout: self.state.upstream.read_timeout(),
            attempts: self.attempts,
        }
    }
}
