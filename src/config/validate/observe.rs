//! `[usage]`, `[probes]` and `[[prices]]`: numbers a person can mean.

use super::*;
use crate::config::{PriceConfig, ProbesConfig, UsageConfig};

/// The ledger keeps at least a day and at most ten years.
const KEEP: std::ops::RangeInclusive<u64> = 86_400..=3650 * 86_400;
/// Probes are free but limited per token (Anthropic's at most once a minute).
const PROBE_EVERY: std::ops::RangeInclusive<u64> = 60..=86_400;
const QUEUE: std::ops::RangeInclusive<usize> = 16..=1_000_000;
/// No model costs more than this per million tokens; a larger number is a typo.
const MAX_PRICE: f64 = 100_000.0;

impl Validator<'_> {
    pub(super) fn observe(&self, u: &UsageConfig, p: &ProbesConfig) -> Result<(), ConfigError> {
        let at = |section: &str| {
            let i = self.text.find(section).unwrap_or(0);
            i..i
        };
        if !KEEP.contains(&u.keep.as_secs()) {
            return self.err(
                at("[usage]"),
                format!("[usage] keep = {:?} is out of range", u.keep),
                "write a duration from 1d to 3650d, e.g. keep = \"90d\"".into(),
            );
        }
        if !QUEUE.contains(&u.queue) {
            return self.err(
                at("[usage]"),
                format!("[usage] queue = {} is out of range", u.queue),
                format!("write a number from {} to {}", QUEUE.start(), QUEUE.end()),
            );
        }
        if !PROBE_EVERY.contains(&p.every.as_secs()) {
            return self.err(
                at("[probes]"),
                format!("[probes] every = {:?} is out of range", p.every),
                concat!(
                    "write a duration from 60s to 24h, e.g. every = \"5m\"; ",
                    "enabled = false turns probes off"
                )
                .into(),
            );
        }
        Ok(())
    }

    /// `[[prices]]`: a model prefix, a known provider when one is named, and prices that
    /// are finite, not negative and not absurd.
    pub(super) fn prices(
        &self,
        raw: Vec<Spanned<PriceConfig>>,
        registry: &Registry,
    ) -> Result<Vec<PriceConfig>, ConfigError> {
        let mut out = Vec::with_capacity(raw.len());
        for p in raw {
            let span = p.span();
            let price = p.into_inner();
            if price.model.trim().is_empty() || price.model.len() > 200 {
                return self.err(
                    span,
                    "[[prices]] model is empty or too long".into(),
                    "write the model id or its start, e.g. model = \"claude-sonnet-4\"".into(),
                );
            }
            if let Some(id) = &price.provider {
                if registry.by_id(id).is_none() {
                    return self.err(
                        span,
                        format!("[[prices]] provider {id:?} is not a known provider"),
                        concat!(
                            "use a provider id from `keypool accounts add --help`, ",
                            "or leave provider out"
                        )
                        .into(),
                    );
                }
            }
            let numbers = [
                ("input", Some(price.input)),
                ("output", Some(price.output)),
                ("cache_read", price.cache_read),
                ("cache_write", price.cache_write),
            ];
            for (field, value) in numbers {
                if let Some(v) = value {
                    if !(v.is_finite() && (0.0..=MAX_PRICE).contains(&v)) {
                        return self.err(
                            span,
                            format!(
                                "[[prices]] {field} = {v} for {:?} is not a price",
                                price.model
                            ),
                            format!("write USD per million tokens, from 0 to {MAX_PRICE}"),
                        );
                    }
                }
            }
            out.push(price);
        }
        Ok(out)
    }
}
