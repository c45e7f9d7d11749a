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
            let c = c.into_inner();
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
                        format!("client '{name}' uses pool '{}', which is not a pool", p.get_ref()),
                        "name a [[pools]] block, or a provider's default pool (named after the provider)".into(),
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
            out.push(ClientConfig {
                name,
                pools: c.pools.into_iter().map(Spanned::into_inner).collect(),
                password: c.password.map(|p| SecretString::from(p.into_inner())),
            });
            spans.push(span);
        }
        // A password guards the pools of its client. Another client naming one of them
        // without a password would open it to anyone who types that client's name.
        for (open, span) in out.iter().zip(&spans).filter(|(c, _)| c.password.is_none()) {
            let guarded = out.iter().filter(|c| c.password.is_some()).find_map(|g| {
                let pool = open.pools.iter().find(|p| g.pools.contains(p))?;
                Some((g, pool))
            });
            if let Some((guard, pool)) = guarded {
                return self.err(
                    span.clone(),
                    format!(
                        "client '{}' uses pool '{pool}' without a password, but client '{}' guards that pool with one",
                        open.name, guard.name
                    ),
                    format!(
                        "give [clients.{}] a password too, or give it a pool of its own",
                        open.name
                    ),
                );
            }
        }
        Ok(out)
    }
}
