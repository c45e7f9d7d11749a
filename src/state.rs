//! What every connection of a running proxy shares.

use crate::ca::Minting;
use crate::clock::Clock;
use crate::config::Limits;
use crate::home::Home;
use crate::oauth::store::Store;
use crate::pool::Pools;
use crate::providers::Registry;
use crate::upstream::Upstream;
use parking_lot::RwLock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a config reload replaces: the provider table and the pools. A request takes one
/// `Arc<Live>` when it starts and keeps it to the end, so a reload never changes the
/// accounts under a request in flight.
pub struct Live {
    pub registry: Registry,
    pub pools: Pools,
    pub clients: crate::clients::Clients,
    /// What a token costs, built-in and `[[prices]]`.
    pub prices: crate::usage::prices::Prices,
}

impl Live {
    /// The pool serving `provider` for `client`: its configured pool for that provider,
    /// or, when the request names no client, the provider's first pool that no password
    /// guards. `None`: the request is handled as for a provider without accounts.
    pub fn pool_for(
        &self,
        provider: &str,
        client: Option<&str>,
    ) -> Option<&Arc<crate::pool::Pool>> {
        match client {
            None => match self.pools.for_provider(provider) {
                Some(p) if !self.clients.guards(&p.name) => Some(p),
                _ => self
                    .pools
                    .all
                    .iter()
                    .find(|p| p.provider.id == provider && !self.clients.guards(&p.name)),
            },
            Some(c) => self
                .clients
                .pools(c)?
                .iter()
                .filter_map(|name| self.pools.by_name(name))
                .find(|p| p.provider.id == provider),
        }
    }
}

pub struct State {
    pub home: Home,
    pub listen: SocketAddr,
    pub(crate) live: RwLock<Arc<Live>>,
    /// The config file the proxy was started from, read again on reload.
    pub config_path: Option<PathBuf>,
    /// `credentials.json`, where refreshed tokens of stored accounts go.
    pub store: Store,
    /// Which account serves each conversation, and account-bound state pinned to one.
    /// Outside `Live`: a reload keeps it (pruned to the accounts that remain).
    pub affinity: crate::sticky::Affinity,
    /// `state.json`: cooldowns and disabled flags across restarts.
    pub state_file: crate::persist::StateFile,
    /// The CA and its TLS config; a reload that finds a rotated CA replaces them.
    pub(crate) minting: RwLock<Arc<Minting>>,
    pub upstream: Upstream,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// Cancelled when shutdown begins: stop accepting, finish what is in flight.
    pub shutdown: CancellationToken,
    /// Every connection task, upgraded or not, so shutdown can wait for all of them.
    pub tasks: TaskTracker,
    /// `usage.db`, written off the request path.
    pub ledger: crate::usage::ledger::Ledger,
    pub metrics: crate::metrics::Metrics,
}

impl State {
    /// The provider table and pools in force now.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().clone()
    }

    /// The CA in force now, with the TLS config that mints from it.
    pub fn minting(&self) -> Arc<Minting> {
        self.minting.read().clone()
    }

    /// Puts a rotated CA in force for connections that start from now on.
    pub fn set_minting(&self, minting: Arc<Minting>) {
        *self.minting.write() = minting;
    }

    /// Puts a reloaded config in force for requests that start from now on.
    pub fn replace(&self, live: Live) {
        *self.live.write() = Arc::new(live);
    }

    /// The subscription login named `name` in the pools in force now.
    pub fn oauth_account(&self, name: &str) -> Option<Arc<crate::oauth::account::OAuthAccount>> {
        let live = self.live();
        let account = live
            .pools
            .all
            .iter()
            .flat_map(|p| p.members.iter())
            .find(|a| a.name == name)?;
        match &account.credential {
            crate::pool::Credential::OAuth(o) => Some(o.clone()),
            crate::pool::Credential::Key(_) | crate::pool::Credential::Aws(_) => None,
        }
    }
}
