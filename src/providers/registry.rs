//! Which provider a host belongs to: exact names first, then placed providers' host
//! families; and the names the CA must cover.

use super::Provider;
use std::collections::HashMap;
use std::sync::Arc;

/// Host name → provider, for the built-in table plus the config's `[[providers]]`:
/// exact names first, then the host families of placed providers.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_id: HashMap<String, Arc<Provider>>,
    by_host: HashMap<String, Arc<Provider>>,
    /// Providers that own hosts by family (`*.openai.azure.com`), in insertion order.
    by_family: Vec<Arc<Provider>>,
    ids: Vec<String>,
    /// Hosts of configured accounts' places beyond a family's known values (a region
    /// keypool's table does not list yet), for the CA's name constraints.
    place_hosts: Vec<String>,
}

impl Registry {
    pub fn new(providers: impl IntoIterator<Item = Provider>) -> Registry {
        let mut r = Registry::default();
        for p in providers {
            r.insert(p);
        }
        r
    }

    /// Adds or replaces a provider (a config entry may override a built-in id). The
    /// replaced provider's hosts are keyed in lower case like every host, and one that a
    /// later provider took over stays with that provider.
    pub fn insert(&mut self, p: Provider) {
        let p = Arc::new(p);
        if let Some(old) = self.by_id.insert(p.id.clone(), p.clone()) {
            for h in &old.hosts {
                let h = h.to_ascii_lowercase();
                if self
                    .by_host
                    .get(&h)
                    .is_some_and(|now| Arc::ptr_eq(now, &old))
                {
                    self.by_host.remove(&h);
                }
            }
            self.by_family.retain(|f| !Arc::ptr_eq(f, &old));
        } else {
            self.ids.push(p.id.clone());
        }
        for h in &p.hosts {
            self.by_host.insert(h.to_ascii_lowercase(), p.clone());
        }
        if p.placement.host.is_some() {
            self.by_family.push(p.clone());
        }
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    pub fn for_host(&self, host: &str) -> Option<&Arc<Provider>> {
        let host = host.trim_end_matches('.');
        let exact = self.by_host.get(host).or_else(|| {
            // Host names are case-insensitive; only allocate when the fast path misses.
            host.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| self.by_host.get(&host.to_ascii_lowercase()))
                .flatten()
        });
        exact.or_else(|| {
            if self.by_family.is_empty() {
                return None;
            }
            // Every blind tunnel's host misses the exact names: no copy when it is
            // already lower case.
            let host = match host.bytes().any(|b| b.is_ascii_uppercase()) {
                true => std::borrow::Cow::Owned(host.to_ascii_lowercase()),
                false => std::borrow::Cow::Borrowed(host),
            };
            self.by_family.iter().find(|p| p.placement.owns_host(&host))
        })
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// Every provider host name, lower case (not the families: see
    /// [`Registry::constraint_names`]).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.by_host.keys().map(String::as_str)
    }

    /// The names a CA must be able to sign for beyond [`Registry::hosts`]: each family's
    /// subtree or listed hosts, and the hosts of configured accounts' places.
    pub fn constraint_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_family
            .iter()
            .flat_map(|p| p.placement.constraint_names())
            .collect();
        out.extend(self.place_hosts.iter().cloned());
        out
    }

    /// Records the hosts an account's place names, so the CA covers a value its family
    /// does not list (a new AWS region).
    pub fn note_place_hosts(&mut self, hosts: Vec<String>) {
        for h in hosts {
            if !self.place_hosts.contains(&h) {
                self.place_hosts.push(h);
            }
        }
    }
}
