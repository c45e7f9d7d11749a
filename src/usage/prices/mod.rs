//! What a token costs: the built-in [`table`], overridden and extended by `[[prices]]`.
//!
//! An entry matches the models whose id starts with its `model`, compared after
//! [`normalise`] (case, a routing prefix, `.` against `-`). Configured entries are asked
//! before built-in ones; among one kind, the longest match wins, and a provider-specific
//! entry beats an any-provider one of the same length.

pub mod table;

pub use table::PRICES_CHECKED;

use super::Tokens;
use crate::config::PriceConfig;
use table::{Row, ROWS};

/// One entry, its model id normalised once.
#[derive(Debug, Clone)]
struct Entry {
    provider: Option<String>,
    model: String,
    rates: Rates,
    /// Prompts over `.0` tokens are billed at `.1`.
    long: Option<(u64, Rates)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rates {
    input: f64,
    output: f64,
    cache_read: f64,
    cache_write: f64,
}

impl Rates {
    fn of(input: f64, output: f64, read: Option<f64>, write: Option<f64>) -> Rates {
        Rates {
            input,
            output,
            cache_read: read.unwrap_or(input),
            cache_write: write.unwrap_or(input),
        }
    }

    /// USD: Σ tokens × rate / 1e6. Reasoning is a part of `output`, not billed again.
    fn cost(&self, t: &Tokens) -> f64 {
        let usd = t.input as f64 * self.input
            + t.output as f64 * self.output
            + t.cache_read as f64 * self.cache_read
            + t.cache_write as f64 * self.cache_write;
        usd / 1e6
    }
}

impl Entry {
    fn built_in(row: &Row) -> Entry {
        let rates = |r: &Row| Rates::of(r.input, r.output, r.cache_read, r.cache_write);
        Entry {
            provider: row.provider.map(str::to_string),
            model: normalise(row.model),
            rates: rates(row),
            long: row.long.map(|(over, r)| (over, rates(r))),
        }
    }

    fn configured(p: &PriceConfig) -> Entry {
        Entry {
            provider: p.provider.clone(),
            model: normalise(&p.model),
            rates: Rates::of(p.input, p.output, p.cache_read, p.cache_write),
            long: None,
        }
    }
}

/// Most (provider, model) pairs whose entry is remembered; past it (model names off the
/// wire that never repeat) the tables are searched each time.
const MAX_REMEMBERED: usize = 1024;

/// Which entry a (provider, model) pair found: one of `configured`, one of `built_in`, or
/// none.
#[derive(Debug, Clone, Copy)]
enum Found {
    Configured(usize),
    BuiltIn(usize),
    Unpriced,
}

pub struct Prices {
    configured: Vec<Entry>,
    built_in: Vec<Entry>,
    /// The search's answer per (provider, model as the answer named it): a search walks
    /// every entry (about 4k instructions), and an answer is priced once per request.
    remembered: parking_lot::RwLock<Remembered>,
}

/// By provider, then by model; `len` counts the pairs.
#[derive(Default)]
struct Remembered {
    by: foldhash::HashMap<String, foldhash::HashMap<String, Found>>,
    len: usize,
}

impl Prices {
    pub fn new(configured: &[PriceConfig]) -> Prices {
        Prices {
            configured: configured.iter().map(Entry::configured).collect(),
            built_in: ROWS.iter().map(Entry::built_in).collect(),
            remembered: parking_lot::RwLock::default(),
        }
    }

    /// The entry for `model` of `provider`, remembered.
    fn entry(&self, provider: &str, model: &str) -> Option<&Entry> {
        let known = (self.remembered.read().by.get(provider))
            .and_then(|models| models.get(model))
            .copied();
        let found = known.unwrap_or_else(|| {
            let found = self.search(provider, model);
            let mut r = self.remembered.write();
            if r.len < MAX_REMEMBERED {
                let models = r.by.entry(provider.to_owned()).or_default();
                if models.insert(model.to_owned(), found).is_none() {
                    r.len += 1;
                }
            }
            found
        });
        match found {
            Found::Configured(i) => self.configured.get(i),
            Found::BuiltIn(i) => self.built_in.get(i),
            Found::Unpriced => None,
        }
    }

    fn search(&self, provider: &str, model: &str) -> Found {
        let model = normalise(model);
        if model.is_empty() {
            return Found::Unpriced;
        }
        if let Some(i) = best(&self.configured, provider, &model) {
            return Found::Configured(i);
        }
        best(&self.built_in, provider, &model).map_or(Found::Unpriced, Found::BuiltIn)
    }

    /// USD for `tokens` of `model` served by `provider`; `None`: no price known.
    pub fn cost(&self, provider: &str, model: &str, tokens: &Tokens) -> Option<f64> {
        let entry = self.entry(provider, model)?;
        let rates = match entry.long {
            Some((over, long)) if tokens.prompt() > over => long,
            _ => entry.rates,
        };
        let usd = rates.cost(tokens);
        usd.is_finite().then_some(usd.max(0.0))
    }
}

/// The index of the longest matching entry, a provider's own first among equally long
/// ones.
fn best(entries: &[Entry], provider: &str, model: &str) -> Option<usize> {
    let matching = entries.iter().enumerate().filter(|(_, e)| {
        let for_provider = e
            .provider
            .as_deref()
            .is_none_or(|p| p.eq_ignore_ascii_case(provider));
        for_provider && !e.model.is_empty() && model.starts_with(&e.model)
    });
    matching
        .max_by_key(|(_, e)| (e.model.len(), e.provider.is_some()))
        .map(|(i, _)| i)
}

/// A model id as entries are compared: lower case, without a routing prefix
/// (`anthropic/claude-sonnet-4.5`, `models/gemini-2.5-pro`, `meta-llama/…`), with `.`
/// and `_` read as `-` (`claude-sonnet-4.5` is `claude-sonnet-4-5`).
pub fn normalise(model: &str) -> String {
    let model = model.trim();
    let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
    let bare = bare.rsplit_once(':').map_or(bare, |(m, _)| m);
    bare.chars()
        .map(|c| match c {
            '.' | '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
