//! Turning the parsed file into a `Config`, in the order the sections depend on each
//! other: providers, then the accounts that name them, the pools that hold the accounts,
//! the clients that name pools; then `[upstream]` and the limits. Every error names the
//! line and the fix.

mod accounts;
mod aws;
mod clients;
mod limits;
mod observe;
mod place;
mod pools;
mod providers;

use accounts::ScheduledOnly;

use super::durations;
use super::{
    AccountConfig, ClientConfig, Config, ConfigError, CredentialConfig, Limits, OAuthConfig,
    OAuthSource, PoolConfig, RawAccount, RawClient, RawConfig, RawPool, RawProvider, Strategy,
    UpstreamConfig, DEFAULT_LISTEN, DEFAULT_SOFT_THRESHOLD,
};
use crate::config::ConnectTo;
use crate::config::{Role, Schedule};
use crate::providers::{builtin, AuthScheme, Flavor, Provider, Registry, Scope};
use crate::secret::SecretRef;
use secrecy::SecretString;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use toml::Spanned;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Validator<'_> {
    pub(super) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        problem: String,
        fix: String,
    ) -> Result<T, ConfigError> {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        Err(ConfigError(format!(
            "{}:{line}: {problem}\nfix: {fix}",
            self.path.display()
        )))
    }

    /// One method per section, in dependency order: each later section is checked
    /// against the ones before it.
    pub(super) fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = self.listen(raw.listen.as_ref())?;
        let mut registry = self.registry(raw.providers)?;
        let (accounts, scheduled_only) = self.accounts(raw.accounts, &registry)?;
        for a in &accounts {
            let placement = &registry.by_id(&a.provider).expect("validated").placement;
            let hosts = placement.hosts_for(&a.place);
            registry.note_place_hosts(hosts);
        }
        let pools = self.pools(raw.pools, &registry, &accounts, scheduled_only)?;
        let upstream = self.upstream(raw.upstream)?;
        self.durations(&upstream, &raw.limits, &raw.oauth)?;
        let clients = self.clients(raw.clients, &pools)?;
        let prices = self.prices(raw.prices, &registry)?;
        self.observe(&raw.usage, &raw.probes)?;
        Ok(Config {
            listen,
            accounts,
            pools,
            registry,
            upstream,
            limits: raw.limits,
            oauth: raw.oauth,
            clients,
            usage: raw.usage,
            metrics: raw.metrics,
            probes: raw.probes,
            prices,
        })
    }

    /// `listen`: an IP address and port; the default when absent.
    fn listen(&self, raw: Option<&Spanned<String>>) -> Result<SocketAddr, ConfigError> {
        let Some(l) = raw else {
            return Ok(DEFAULT_LISTEN.parse().expect("valid default"));
        };
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Ok(a),
            Err(_) => self.err(
                l.span(),
                "listen is not an IP address and port".to_string(),
                format!("write it like \"{DEFAULT_LISTEN}\""),
            ),
        }
    }
}
