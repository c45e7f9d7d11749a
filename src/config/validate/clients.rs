//! `[clients.NAME]` tables: proxy-URL user names, one pool per provider each, and no
//! passwordless client on a pool a password guards.

use super::*;

impl Validator<'_> {
    /// `[clients.NAME]`: each names existing pools, at most one per provider.
    pub(super) fn clients(
        &self,
        raw: std::collections::BTreeMap<String, Spanned<RawClient>>,
        pools: &[PoolConfig],
    ) -> Result<Vec<ClientConfig>, ConfigError> {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        for (name, c) in raw {
            let span = c.span();
            out.push(self.client(name, c.into_inner(), span.clone(), pools)?);
            spans.push(span);
        }
        self.guarded_pools(&out, &spans)?;
        Ok(out)
    }

    /// One `[clients.NAME]` table, written at `span`.
    fn client(
        &self,
        name: String,
        c: RawClient,
        span: std::ops::Range<usize>,
        pools: &[PoolConfig],
    ) -> Result<ClientConfig, ConfigError> {
        if name.is_empty() || name.contains([':', '@', '/']) {
            return self.err(
                span,
                format!("client name '{name}' cannot be a proxy URL user name"),
                "use letters, digits, '-' and '_'".into(),
            );
        }
        let mut providers: Vec<&str> = Vec::new();
        for p in &c.pools {
            let Some(pool) = pools.iter().find(|q| &q.name == p.get_ref()) else {
                return self.err(
                    p.span(),
                    format!(
                        "client '{name}' uses pool '{}', which is not a pool",
                        p.get_ref()
                    ),
                    concat!(
                        "name a [[pools]] block, or a provider's default pool ",
                        "(named after the provider)",
                    )
                    .into(),
                );
            };
            if providers.contains(&pool.provider.as_str()) {
                return self.err(
                    p.span(),
                    format!(
                        "client '{name}' names two pools of provider '{}'",
                        pool.provider
                    ),
                    "give a client one pool per provider (chain others with fallback = [...])"
                        .into(),
                );
            }
            providers.push(&pool.provider);
        }
        Ok(ClientConfig {
            name,
            pools: c.pools.into_iter().map(Spanned::into_inner).collect(),
            password: c.password.map(|p| SecretString::from(p.into_inner())),
        })
    }

    /// A password guards the pools of its client. Another client naming one of them
    /// without a password would open it to anyone who types that client's name.
    fn guarded_pools(
        &self,
        clients: &[ClientConfig],
        spans: &[std::ops::Range<usize>],
    ) -> Result<(), ConfigError> {
        let open = clients
            .iter()
            .zip(spans)
            .filter(|(c, _)| c.password.is_none());
        for (open, span) in open {
            let guarded = clients
                .iter()
                .filter(|c| c.password.is_some())
                .find_map(|g| {
                    let pool = open.pools.iter().find(|p| g.pools.contains(p))?;
                    Some((g, pool))
                });
            if let Some((guard, pool)) = guarded {
                return self.err(
                    span.clone(),
                    format!(
                        concat!(
                            "client '{}' uses pool '{}' without a password, ",
                            "but client '{}' guards that pool with one",
                        ),
                        open.name, pool, guard.name
                    ),
                    format!(
                        "give [clients.{}] a password too, or give it a pool of its own",
                        open.name
                    ),
                );
            }
        }
        Ok(())
    }
}
