//! The Prometheus families keypool counts into, exposed at `GET /metrics` in the
//! OpenMetrics text format (prometheus-client's encoder). Off (`[metrics] enabled =
//! false`), every call is a no-op on a `None`.

mod families;
mod labels;
mod scrape;
mod series;

pub use labels::{sanitize, status_class, MAX_LABEL_CHARS, MAX_MODELS, OTHER};
pub use scrape::{AccountSnapshot, Snapshot, WindowSnapshot};

use crate::usage::Record;
use families::{AttemptLabels, Families, RotationLabels};
use prometheus_client::metrics::gauge::Gauge;

pub struct Metrics {
    on: Option<Box<On>>,
}

struct On {
    families: Families,
    models: labels::Models,
    series: series::Index,
}

impl Metrics {
    pub fn new(enabled: bool) -> Metrics {
        let on = enabled.then(|| {
            Box::new(On {
                families: Families::new(),
                models: labels::Models::default(),
                series: series::Index::default(),
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
        let pool = r.pool.as_deref().unwrap_or("");
        let account = r.account.as_deref().unwrap_or("");
        let s = on.series.get(f, &r.provider, pool, account);
        s.duration.observe(r.total_ms as f64 / 1000.0);
        if let Some(t) = r.ttfb_ms {
            s.ttfb.observe(t as f64 / 1000.0);
        }
        if let Some(c) = s.requests(f, status_class(r.status)) {
            c.inc();
        }
        if r.tokens.is_zero() && r.cost_usd.is_none() {
            return;
        }
        on.usage(r, &s);
    }

    /// One send upstream on `account` of `pool`, and how it came back: `ok`,
    /// `rate_limited`, `overloaded`, `exhausted`, `auth_failed`, `broken`,
    /// `unreachable` or `error` (another error status passed on).
    pub fn attempt(&self, provider: &str, pool: &str, account: &str, result: &str) {
        let Some(on) = &self.on else { return };
        let f = &on.families;
        let s = on.series.get(f, provider, pool, account);
        if let Some(c) = s.attempts(f, result) {
            c.inc();
            return;
        }
        let l = AttemptLabels {
            provider: sanitize(provider),
            pool: sanitize(pool),
            account: sanitize(account),
            result: sanitize(result),
        };
        f.attempts.get_or_create(&l).inc();
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
    fn usage(&self, r: &Record, s: &series::Account) {
        let f = &self.families;
        let m = s.model(r.model.as_deref(), &self.models);
        let t = &r.tokens;
        let counts = [t.input, t.output, t.cache_read, t.cache_write, t.reasoning];
        for (kind, n) in counts.into_iter().enumerate() {
            if n > 0 {
                s.tokens(f, &m, kind, n);
            }
        }
        if let Some(c) = r.cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            s.cost(f, &m, c);
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
    /// An idle HTTP/1.1 client connection held as its bare stream.
    Parked,
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

/// One open-things gauge, kept where the things open and close.
#[derive(Debug, Clone, Default)]
pub struct OpenGauge(Option<Gauge>);

impl OpenGauge {
    pub fn opened(&self) -> OpenGuard {
        if let Some(g) = &self.0 {
            g.inc();
        }
        OpenGuard {
            gauge: self.0.clone(),
        }
    }
}

impl Metrics {
    pub fn opened(&self, what: Open) -> OpenGuard {
        self.gauge(what).opened()
    }

    pub fn gauge(&self, what: Open) -> OpenGauge {
        OpenGauge(self.on.as_ref().map(|on| {
            let f = &on.families;
            let g = match what {
                Open::Connection => &f.open_connections,
                Open::Tunnel => &f.open_tunnels,
                Open::Intercepted => &f.open_intercepted,
                Open::WebSocket => &f.open_websockets,
                Open::Parked => &f.open_parked,
            };
            g.clone()
        }))
    }
}

#[cfg(test)]
mod tests;
