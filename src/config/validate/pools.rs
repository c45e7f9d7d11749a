//! `[[pools]]` blocks and the default pool of each provider: members of the pool's own
//! provider, fallbacks within the provider, and schedules only where a pool reads them.

use super::*;

impl Validator<'_> {
    /// The configured pools, then one default pool per provider that has accounts and no
    /// pool; fallbacks and schedules checked against the result.
    pub(super) fn pools(
        &self,
        raw: Vec<RawPool>,
        registry: &Registry,
        accounts: &[AccountConfig],
        scheduled_only: ScheduledOnly,
    ) -> Result<Vec<PoolConfig>, ConfigError> {
        let mut pools = Vec::new();
        let mut fallbacks = Vec::new();
        let mut pool_names = HashSet::new();
        for p in raw {
            let name = p.name.get_ref();
            if !pool_names.insert(name.clone()) {
                return self.err(
                    p.name.span(),
                    format!("duplicate pool name '{name}'"),
                    "pool names must be unique".into(),
                );
            }
            pools.push(self.pool(&p, registry, accounts)?);
            fallbacks.push(p.fallback);
        }
        self.default_pools(accounts, &pool_names, &mut pools)?;
        self.fallbacks(&pools, &fallbacks)?;
        self.scheduled_only(&pools, &pool_names, scheduled_only)?;
        Ok(pools)
    }

    /// One `[[pools]]` block whose name is already checked; its fallbacks are checked
    /// once every pool exists.
    fn pool(
        &self,
        p: &RawPool,
        registry: &Registry,
        accounts: &[AccountConfig],
    ) -> Result<PoolConfig, ConfigError> {
        let name = p.name.get_ref();
        let provider = self.provider(registry, &p.provider)?;
        if p.accounts.is_empty() {
            return self.err(
                p.name.span(),
                format!("pool '{name}' lists no accounts"),
                "add accounts = [\"name\", …] or remove the pool".into(),
            );
        }
        let members = self.members(p, &provider.id, accounts)?;
        if let Some(hold) = p.hold_max {
            let block = self.text[..p.name.span().start].rfind("[[pools]]");
            self.duration(&durations::HOLD_MAX, hold, block)?;
        }
        Ok(PoolConfig {
            name: name.clone(),
            provider: provider.id.clone(),
            accounts: members,
            strategy: p.strategy,
            soft_threshold: self.soft_threshold(p)?,
            mix_kinds: p.mix_kinds,
            fallback: p.fallback.iter().map(|f| f.get_ref().clone()).collect(),
            hold_max: p.hold_max,
        })
    }

    /// A pool's `accounts`: each an account of the pool's own provider, listed once.
    fn members(
        &self,
        p: &RawPool,
        provider: &str,
        accounts: &[AccountConfig],
    ) -> Result<Vec<String>, ConfigError> {
        let name = p.name.get_ref();
        let mut members = Vec::new();
        for m in &p.accounts {
            let Some(acct) = accounts.iter().find(|a| &a.name == m.get_ref()) else {
                return self.err(
                    m.span(),
                    format!(
                        "pool '{name}' lists '{}', which is not an account",
                        m.get_ref()
                    ),
                    format!(
                        "add an [[accounts]] block named '{}' or fix the name",
                        m.get_ref()
                    ),
                );
            };
            if acct.provider != provider {
                return self.err(
                    m.span(),
                    format!(
                        "account '{}' is a '{}' account, but pool '{name}' is for '{provider}'",
                        acct.name, acct.provider
                    ),
                    "a pool holds accounts of its own provider only".into(),
                );
            }
            if members.contains(&acct.name) {
                return self.err(
                    m.span(),
                    format!("pool '{name}' lists '{}' twice", acct.name),
                    "list each account once".into(),
                );
            }
            members.push(acct.name.clone());
        }
        Ok(members)
    }

    /// Default pools: one per provider that has accounts and no explicit pool.
    fn default_pools(
        &self,
        accounts: &[AccountConfig],
        pool_names: &HashSet<String>,
        pools: &mut Vec<PoolConfig>,
    ) -> Result<(), ConfigError> {
        let mut seen_providers: Vec<String> = Vec::new();
        for a in accounts {
            if pools.iter().any(|p| p.provider == a.provider)
                || seen_providers.contains(&a.provider)
            {
                continue;
            }
            seen_providers.push(a.provider.clone());
            if pool_names.contains(&a.provider) {
                return Err(ConfigError(format!(
                    concat!(
                        "{}: a pool is named '{}' but holds another provider's accounts, ",
                        "so the default pool for '{}' accounts cannot take that name\n",
                        "fix: add a [[pools]] block for provider '{}'",
                    ),
                    self.path.display(),
                    a.provider,
                    a.provider,
                    a.provider
                )));
            }
            pools.push(PoolConfig {
                name: a.provider.clone(),
                provider: a.provider.clone(),
                accounts: accounts
                    .iter()
                    .filter(|b| b.provider == a.provider)
                    .map(|b| b.name.clone())
                    .collect(),
                strategy: Strategy::default(),
                soft_threshold: DEFAULT_SOFT_THRESHOLD,
                mix_kinds: false,
                fallback: Vec::new(),
                hold_max: None,
            });
        }

        Ok(())
    }

    /// A fallback names a pool of the same provider (the request's host and wire format
    /// stay), and never its own pool.
    fn fallbacks(
        &self,
        pools: &[PoolConfig],
        fallbacks: &[Vec<Spanned<String>>],
    ) -> Result<(), ConfigError> {
        for (p, names) in pools.iter().zip(fallbacks) {
            for f in names {
                let Some(target) = pools.iter().find(|q| &q.name == f.get_ref()) else {
                    return self.err(
                        f.span(),
                        format!(
                            "pool '{}' falls back to '{}', which is not a pool",
                            p.name,
                            f.get_ref()
                        ),
                        concat!(
                            "name a [[pools]] block (or a provider's default pool) ",
                            "of the same provider",
                        )
                        .into(),
                    );
                };
                if target.name == p.name || target.provider != p.provider {
                    return self.err(
                        f.span(),
                        format!(
                            "pool '{}' ({}) cannot fall back to '{}' ({})",
                            p.name, p.provider, target.name, target.provider
                        ),
                        "fall back to another pool of the same provider".into(),
                    );
                }
            }
        }

        Ok(())
    }

    /// A schedule or role only means something to a `scheduled` pool: say so rather
    /// than ignore it.
    fn scheduled_only(
        &self,
        pools: &[PoolConfig],
        pool_names: &HashSet<String>,
        scheduled_only: ScheduledOnly,
    ) -> Result<(), ConfigError> {
        for (name, (span, what)) in scheduled_only {
            let holding: Vec<&PoolConfig> = pools
                .iter()
                .filter(|p| p.accounts.contains(&name))
                .collect();
            let Some(first) = holding.first() else {
                continue;
            };
            if holding.iter().any(|p| p.strategy == Strategy::Scheduled) {
                continue;
            }
            let explicit = pool_names.contains(&first.name);
            return self.err(
                span,
                format!(
                    concat!(
                        "account '{}' has a {}, but its pool '{}' uses strategy '{}', ",
                        "which ignores schedules and roles",
                    ),
                    name,
                    what,
                    first.name,
                    first.strategy.as_str()
                ),
                if explicit {
                    format!(
                        concat!(
                            "set strategy = \"scheduled\" in the [[pools]] block '{}', ",
                            "or remove the {} line",
                        ),
                        first.name, what
                    )
                } else {
                    format!(
                        concat!(
                            "add a [[pools]] block for provider '{}' with ",
                            "strategy = \"scheduled\", or remove the {} line",
                        ),
                        first.provider, what
                    )
                },
            );
        }

        Ok(())
    }

    /// `soft_threshold`: a fraction of the window, 0 < x ≤ 1; the default when absent.
    fn soft_threshold(&self, p: &RawPool) -> Result<f64, ConfigError> {
        let Some(t) = &p.soft_threshold else {
            return Ok(DEFAULT_SOFT_THRESHOLD);
        };
        let x = *t.get_ref();
        if x > 0.0 && x <= 1.0 {
            return Ok(x);
        }
        let fix = if (2.0..=100.0).contains(&x) {
            format!(
                "it is a fraction of the window, not a percentage: soft_threshold = {}",
                x / 100.0
            )
        } else {
            format!(
                "use a fraction of the window above 0 and at most 1, like {} (the default)",
                DEFAULT_SOFT_THRESHOLD
            )
        };
        self.err(
            t.span(),
            format!(
                "soft_threshold = {x} in pool '{}' is not between 0 and 1",
                p.name.get_ref()
            ),
            fix,
        )
    }
}
