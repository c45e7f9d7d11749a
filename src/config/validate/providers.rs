//! `[[providers]]` blocks on top of the built-in table: simple ids, one block per id,
//! bare host names, a known auth scheme, and `paths` that are path prefixes.

use super::*;

impl Validator<'_> {
    /// The provider table: the built-ins, replaced or extended by the config's blocks.
    pub(super) fn registry(&self, raw: Vec<RawProvider>) -> Result<Registry, ConfigError> {
        let mut registry = Registry::new(builtin());
        let mut custom_ids = HashSet::new();
        for p in raw {
            let id = p.id.get_ref();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return self.err(
                    p.id.span(),
                    format!("provider id '{id}' is not a simple name"),
                    "use letters, digits, '-' and '_'".into(),
                );
            }
            if let Some(why) = crate::providers::refused::refused(id) {
                return self.err(
                    p.id.span(),
                    format!("provider '{id}' is refused: {why}"),
                    "remove the block (another service of the same vendor can take another id)"
                        .into(),
                );
            }
            if !custom_ids.insert(id.clone()) {
                return self.err(
                    p.id.span(),
                    format!("provider '{id}' is declared twice"),
                    "keep one [[providers]] block per id".into(),
                );
            }
            registry.insert(self.custom_provider(&p)?);
        }

        Ok(registry)
    }

    /// One `[[providers]]` block whose id is already checked.
    fn custom_provider(&self, p: &RawProvider) -> Result<Provider, ConfigError> {
        let id = p.id.get_ref();
        let auth: AuthScheme = match p.auth.get_ref().parse() {
            Ok(a) => a,
            Err(e) => {
                return self.err(
                    p.auth.span(),
                    e,
                    "set auth to one of the schemes listed".into(),
                )
            }
        };
        self.provider_hosts(id, &p.hosts)?;
        let scope = self.provider_paths(id, p.paths.as_ref())?;
        Ok(Provider {
            id: id.clone(),
            hosts: p
                .hosts
                .get_ref()
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            auth,
            dialect: p.dialect,
            scope,
            oauth: None,
            placement: crate::providers::Placement::NONE,
            allow_http: p.allow_http,
            path_dialects: &[],
            sigv4: None,
        })
    }

    /// A `[[providers]]` entry's `hosts`: at least one, each a bare host name.
    fn provider_hosts(&self, id: &str, hosts: &Spanned<Vec<String>>) -> Result<(), ConfigError> {
        if hosts.get_ref().is_empty() {
            return self.err(
                hosts.span(),
                format!("provider '{id}' has no hosts"),
                "list the API host names, e.g. hosts = [\"llm.example.com\"]".into(),
            );
        }
        for h in hosts.get_ref() {
            if h.is_empty() || h.contains(['/', ':', ' ']) {
                return self.err(
                    hosts.span(),
                    format!("'{h}' is not a host name"),
                    "write bare host names, without scheme, port or path".into(),
                );
            }
        }
        Ok(())
    }

    /// A `[[providers]]` entry's `paths`: absolute path prefixes; absent means every path.
    fn provider_paths(
        &self,
        id: &str,
        paths: Option<&Spanned<Vec<String>>>,
    ) -> Result<Scope, ConfigError> {
        let Some(paths) = paths else {
            return Ok(Scope::All);
        };
        if paths.get_ref().is_empty() {
            return self.err(
                paths.span(),
                format!("provider '{id}' has paths = [], so no request would get a pooled key"),
                concat!(
                    "list the API's path prefixes, e.g. paths = [\"/v1/\"], ",
                    "or remove the line to cover every path",
                )
                .into(),
            );
        }
        for p in paths.get_ref() {
            if !p.starts_with('/') || p.contains(['?', '#', ' ']) || p.split('/').any(|s| s == "..")
            {
                return self.err(
                    paths.span(),
                    format!("'{p}' in paths of provider '{id}' is not a path prefix"),
                    "write absolute path prefixes such as \"/v1/\"".into(),
                );
            }
        }
        Ok(Scope::Prefixes(paths.get_ref().clone()))
    }

    pub(super) fn provider<'r>(
        &self,
        registry: &'r Registry,
        id: &Spanned<String>,
    ) -> Result<&'r Provider, ConfigError> {
        if let Some(p) = registry.by_id(id.get_ref()) {
            return Ok(p);
        }
        if let Some(why) = crate::providers::refused::refused(id.get_ref()) {
            return self.err(
                id.span(),
                format!("provider '{}' is refused: {why}", id.get_ref()),
                "remove the account (and its pool) naming it".into(),
            );
        }
        let known: Vec<&str> = registry.ids().collect();
        let guess = known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, id.get_ref()), *k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!("did you mean '{k}'? "))
            .unwrap_or_default();
        self.err(
            id.span(),
            format!("unknown provider '{}'", id.get_ref()),
            format!(
                "{guess}known providers: {}; or declare your own in a [[providers]] block",
                known.join(", ")
            ),
        )
    }
}
