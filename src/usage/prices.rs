//! What a token costs: a built-in table per model, overridden and extended by
//! `[[prices]]`. STUB: the real table replaces this.

use super::Tokens;
use crate::config::PriceConfig;

pub struct Prices {
    _configured: Vec<PriceConfig>,
}

impl Prices {
    pub fn new(configured: &[PriceConfig]) -> Prices {
        Prices {
            _configured: configured.to_vec(),
        }
    }

    /// USD for `tokens` of `model` served by `provider`; `None`: no price known.
    pub fn cost(&self, _provider: &str, _model: &str, _tokens: &Tokens) -> Option<f64> {
        None
    }
}
