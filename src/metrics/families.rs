//! The families counted as things happen (requests, attempts, tokens, open things), in
//! one registry for the life of the process.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Latency buckets for LLM calls: a cached answer's first byte in tens of milliseconds,
/// a long reasoning stream in minutes.
pub const SECONDS_BUCKETS: [f64; 16] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub provider: String,
    pub pool: String,
    pub account: String,
    pub status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub provider: String,
    pub pool: String,
    pub account: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    pub provider: String,
    pub pool: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub provider: String,
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub provider: String,
    pub account: String,
    pub model: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    pub provider: String,
    pub account: String,
    pub model: String,
}

type Histograms = Family<PoolLabels, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS_BUCKETS)
}

/// Every live family, registered once in `registry`.
pub struct Families {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub rotations: Family<RotationLabels, Counter>,
    pub duration: Histograms,
    pub ttfb: Histograms,
    pub tokens: Family<TokenLabels, Counter>,
    pub cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    pub open_connections: Gauge,
    pub open_tunnels: Gauge,
    pub open_intercepted: Gauge,
    pub open_websockets: Gauge,
    pub open_parked: Gauge,
}

impl Families {
    pub fn new() -> Families {
        let f = Families {
            registry: Registry::with_prefix("keypool"),
            requests: Family::default(),
            attempts: Family::default(),
            rotations: Family::default(),
            duration: Family::new_with_constructor(seconds_histogram),
            ttfb: Family::new_with_constructor(seconds_histogram),
            tokens: Family::default(),
            cost: Family::default(),
            open_connections: Gauge::default(),
            open_tunnels: Gauge::default(),
            open_intercepted: Gauge::default(),
            open_websockets: Gauge::default(),
            open_parked: Gauge::default(),
        };
        f.register()
    }

    fn register(mut self) -> Families {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Answers keypool passed to clients, by the account that served them",
            self.requests.clone(),
        );
        r.register(
            "upstream_attempts",
            "Sends upstream and how each came back",
            self.attempts.clone(),
        );
        r.register(
            "rotations",
            "Accounts passed over and the request replayed on the next",
            self.rotations.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Request arrival to the end of the answer",
            Unit::Seconds,
            self.duration.clone(),
        );
        r.register_with_unit(
            "time_to_first_byte",
            "Request arrival to the first byte of the answer's body",
            Unit::Seconds,
            self.ttfb.clone(),
        );
        r.register(
            "tokens",
            "Tokens answers used, by kind",
            self.tokens.clone(),
        );
        r.register_with_unit(
            "cost",
            "Cost at API prices (for a subscription, what it would have cost)",
            Unit::Other("usd".into()),
            self.cost.clone(),
        );
        self.register_open();
        self.registry.register(
            "build",
            "The running keypool",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        self
    }

    fn register_open(&mut self) {
        let r = &mut self.registry;
        for (name, help, g) in [
            (
                "open_connections",
                "Client connections to keypool's listener",
                &self.open_connections,
            ),
            ("open_tunnels", "Blind CONNECT tunnels", &self.open_tunnels),
            (
                "open_intercepted",
                "Intercepted (TLS-terminated) connections",
                &self.open_intercepted,
            ),
            (
                "open_websockets",
                "Spliced WebSockets",
                &self.open_websockets,
            ),
            (
                "open_parked",
                "Idle HTTP/1.1 client connections held as their bare stream",
                &self.open_parked,
            ),
        ] {
            r.register(name, help, g.clone());
        }
    }
}
