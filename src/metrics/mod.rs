//! The Prometheus families keypool counts into, exposed at `GET /metrics` in the
//! OpenMetrics text format (prometheus-client's encoder). Off (`[metrics] enabled =
//! false`), every call is a no-op on a `None`.

mod families;
mod labels;
mod scrape;

pub use labels::{sanitize, status_class, MAX_LABEL_CHARS, MAX_MODELS, OTHER};
pub use scrape::{AccountSnapshot, Snapshot, WindowSnapshot};

use crate::usage::Record;
use families::{
    AttemptLabels, CostLabels, Families, PoolLabels, RequestLabels, RotationLabels, TokenLabels,
};
use prometheus_client::metrics::gauge::Gauge;

pub struct Metrics {
    on: Option<Box<On>>,
}

struct On {
    families: Families,
    models: labels::Models,
}

impl Metrics {
    pub fn new(enabled: bool) -> Metrics {
        let on = enabled.then(|| {
            Box::new(On {
                families: Families::new(),
                models: labels::Models::default(),
            })
        });
        Metrics { on }
    }

    pub fn enabled(&self) -> bool {
        self.on.is_some()
    }

    /// One intercepted answer, ended (the ledger's row for it).
    pub fn answered(&self, r: &Record) {
        let Some(on) = &self.on else { return };
        let f = &on.families;
        let provider = sanitize(&r.provider);
        let pool = sanitize(r.pool.as_deref().unwrap_or(""));
        let account = sanitize(r.account.as_deref().unwrap_or(""));
        let pl = PoolLabels { provider, pool };
        f.duration
            .get_or_create(&pl)
            .observe(r.total_ms as f64 / 1000.0);
        if let Some(t) = r.ttfb_ms {
            f.ttfb.get_or_create(&pl).observe(t as f64 / 1000.0);
        }
        let PoolLabels { provider, pool } = pl;
        let rl = RequestLabels {
            provider,
            pool,
            account,
            status_class: status_class(r.status),
        };
        f.requests.get_or_create(&rl).inc();
        if r.tokens.is_zero() && r.cost_usd.is_none() {
            return;
        }
        let RequestLabels {
            provider, account, ..
        } = rl;
        on.usage(r, provider, account);
    }

    /// One send upstream on `account` of `pool`, and how it came back: `ok`,
    /// `rate_limited`, `overloaded`, `exhausted`, `auth_failed`, `broken`,
    /// `unreachable` or `error` (another error status passed on).
    pub fn attempt(&self, provider: &str, pool: &str, account: &str, result: &str) {
        let Some(on) = &self.on else { return };
        let l = AttemptLabels {
            provider: sanitize(provider),
            pool: sanitize(pool),
            account: sanitize(account),
            result: sanitize(result),
        };
        on.families.attempts.get_or_create(&l).inc();
    }

    /// An account of `pool` passed over for `reason` (one of `attempt`'s results) and the
    /// request replayed on the next.
    pub fn rotation(&self, provider: &str, pool: &str, reason: &str) {
        let Some(on) = &self.on else { return };
        let l = RotationLabels {
            provider: sanitize(provider),
            pool: sanitize(pool),
            reason: sanitize(reason),
        };
        on.families.rotations.get_or_create(&l).inc();
    }

    /// The exposition in `format`: the live families, then those of `snapshot`; `None`
    /// when metrics are off.
    pub fn render(&self, snapshot: &Snapshot, format: Format) -> Option<String> {
        let on = self.on.as_ref()?;
        let scraped = scrape::registry(snapshot);
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = match format {
            Format::OpenMetrics => {
                use prometheus_client::encoding::text::{encode_eof, encode_registry};
                encode_registry(&mut out, &on.families.registry)
                    .and_then(|()| encode_registry(&mut out, &scraped))
                    .and_then(|()| encode_eof(&mut out))
            }
            // 0.0.4 has no end marker: two registries' text one after the other is one
            // exposition.
            Format::Prometheus => {
                use prometheus_client::encoding::prometheus_text::encode;
                encode(&mut out, &on.families.registry).and_then(|()| encode(&mut out, &scraped))
            }
        };
        Some(out)
    }
}

/// Which exposition format a scraper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text`).
    OpenMetrics,
    /// The older Prometheus text format 0.0.4 (`text/plain`).
    Prometheus,
}

impl On {
    /// Tokens by kind and cost, for an answer that reported any.
    fn usage(&self, r: &Record, provider: String, account: String) {
        let model = self.models.label(r.model.as_deref());
        let f = &self.families;
        let t = &r.tokens;
        let mut tl = TokenLabels {
            provider,
            account,
            model,
            kind: "input",
        };
        for (kind, n) in [
            ("input", t.input),
            ("output", t.output),
            ("cache_read", t.cache_read),
            ("cache_write", t.cache_write),
            ("reasoning", t.reasoning),
        ] {
            if n > 0 {
                tl.kind = kind;
                f.tokens.get_or_create(&tl).inc_by(n);
            }
        }
        if let Some(c) = r.cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            let TokenLabels {
                provider,
                account,
                model,
                ..
            } = tl;
            let cl = CostLabels {
                provider,
                account,
                model,
            };
            f.cost.get_or_create(&cl).inc_by(c);
        }
    }
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
    gauge: Option<Gauge>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

impl Metrics {
    pub fn opened(&self, what: Open) -> OpenGuard {
        let gauge = self.on.as_ref().map(|on| {
            let f = &on.families;
            let g = match what {
                Open::Connection => &f.open_connections,
                Open::Tunnel => &f.open_tunnels,
                Open::Intercepted => &f.open_intercepted,
                Open::WebSocket => &f.open_websockets,
            };
            g.inc();
            g.clone()
        });
        OpenGuard { gauge }
    }
}

#[cfg(test)]
mod tests;
