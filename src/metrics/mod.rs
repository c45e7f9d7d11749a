//! The Prometheus families keypool counts into, exposed at `GET /metrics`.
//! STUB: the prometheus-client registry replaces this.

use crate::usage::Record;

pub struct Metrics {
    _enabled: bool,
}

impl Metrics {
    pub fn new(enabled: bool) -> Metrics {
        Metrics { _enabled: enabled }
    }

    /// One intercepted answer, ended (the ledger's row for it).
    pub fn answered(&self, _r: &Record) {}

    /// One send upstream on `account` of `pool`, and how it came back: `ok`,
    /// `rate_limited`, `overloaded`, `exhausted`, `auth_failed`, `broken`,
    /// `unreachable` or `error` (another error status passed on).
    pub fn attempt(&self, _provider: &str, _pool: &str, _account: &str, _result: &str) {}

    /// An account of `pool` passed over for `reason` (one of `attempt`'s results) and the
    /// request replayed on the next.
    pub fn rotation(&self, _provider: &str, _pool: &str, _reason: &str) {}
}

/// What an open-things gauge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A client connection to keypool's listener.
    Connection,
    /// A blind CONNECT tunnel.
    Tunnel,
    /// An intercepted (TLS-terminated) connection.
    Intercepted,
    /// A spliced WebSocket.
    WebSocket,
}

/// Counts one open thing until dropped.
pub struct OpenGuard {
    _private: (),
}

impl Metrics {
    pub fn opened(&self, _what: Open) -> OpenGuard {
        OpenGuard { _private: () }
    }
}
