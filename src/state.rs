//! What every connection of a running proxy shares.

use crate::ca::CertAuthority;
use crate::config::Limits;
use crate::home::Home;
use crate::oauth::store::Store;
use crate::pool::{Clock, Pools};
use crate::providers::Registry;
use crate::upstream::Upstream;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct State {
    pub home: Home,
    pub listen: SocketAddr,
    pub registry: Registry,
    pub pools: Pools,
    /// `credentials.json`, where refreshed tokens of stored accounts go.
    pub store: Store,
    /// `state.json`: cooldowns and disabled flags across restarts.
    pub state_file: crate::persist::StateFile,
    pub ca: Arc<CertAuthority>,
    pub tls: Arc<rustls::ServerConfig>,
    pub upstream: Upstream,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// Cancelled when shutdown begins: stop accepting, finish what is in flight.
    pub shutdown: CancellationToken,
    /// Every connection task, upgraded or not, so shutdown can wait for all of them.
    pub tasks: TaskTracker,
}
