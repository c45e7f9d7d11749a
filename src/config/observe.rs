//! The sections about seeing what keypool does: `[usage]` (the ledger), `[metrics]`,
//! `[probes]` (active quota probes) and `[[prices]]` (what a token costs).

use serde::Deserialize;
use std::time::Duration;

/// `[usage]`: the usage ledger at `$KEYPOOL_HOME/usage.db`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageConfig {
    /// Record each intercepted answer (`false`: nothing is written, `keypool usage` reads
    /// what is there).
    #[serde(default = "yes")]
    pub ledger: bool,
    /// Rows older than this are deleted.
    #[serde(default = "default_keep", with = "humantime_serde")]
    pub keep: Duration,
    /// Rows waiting for the writer; beyond it rows are dropped (and counted), never waited
    /// for.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            ledger: true,
            keep: default_keep(),
            queue: default_queue(),
        }
    }
}

/// `[metrics]`: `GET /metrics` on keypool's own address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}

/// `[probes]`: the free quota endpoints of subscriptions, asked at start and then every
/// `every`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            enabled: true,
            every: default_every(),
        }
    }
}

/// One `[[prices]]` entry: USD per million tokens of each kind for the models whose id
/// starts with `model` (the longest matching entry wins; configured ones before built-in).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// A provider id; absent: any provider.
    pub provider: Option<String>,
    pub model: String,
    pub input: f64,
    pub output: f64,
    /// Absent: the input price.
    pub cache_read: Option<f64>,
    /// Absent: the input price.
    pub cache_write: Option<f64>,
}

fn yes() -> bool {
    true
}
fn default_keep() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn default_queue() -> usize {
    4096
}
fn default_every() -> Duration {
    Duration::from_secs(300)
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
