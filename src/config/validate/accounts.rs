//! `[[accounts]]` blocks: unique names, a known provider, exactly one credential of a
//! kind the provider takes, the place keys its provider needs (validate/place.rs),
//! schedules.

use super::*;

/// Accounts with a `schedule` or `role`, and where it is written: a `scheduled` pool must
/// hold them, or the setting would be ignored.
pub(super) type ScheduledOnly = Vec<(String, (std::ops::Range<usize>, &'static str))>;

impl Validator<'_> {
    /// `[[accounts]]`: every block checked in file order, names unique across them.
    pub(super) fn accounts(
        &self,
        raw: Vec<RawAccount>,
        registry: &Registry,
    ) -> Result<(Vec<AccountConfig>, ScheduledOnly), ConfigError> {
        let mut names = HashSet::new();
        let mut accounts = Vec::new();
        let mut scheduled_only = Vec::new();
        for a in raw {
            self.account_name(&a, &mut names)?;
            // Where this account's schedule and role are written, for the check that a
            // `scheduled` pool reads them.
            let first_span = a
                .schedule
                .as_ref()
                .map(|s| (s.span(), "schedule"))
                .or_else(|| a.role.as_ref().map(|r| (r.span(), "role")));
            if let Some(at) = first_span {
                scheduled_only.push((a.name.get_ref().clone(), at));
            }
            accounts.push(self.account(&a, registry)?);
        }

        Ok((accounts, scheduled_only))
    }

    /// An account's `name`: not empty, and not one an earlier block took.
    fn account_name(&self, a: &RawAccount, names: &mut HashSet<String>) -> Result<(), ConfigError> {
        let name = a.name.get_ref();
        if name.trim().is_empty() {
            return self.err(
                a.name.span(),
                "an account has an empty name".into(),
                "give every account a unique name".into(),
            );
        }
        if !names.insert(name.clone()) {
            return self.err(
                a.name.span(),
                format!("duplicate account name '{name}'"),
                "account names must be unique; rename one of them".into(),
            );
        }
        Ok(())
    }

    /// One `[[accounts]]` block whose name is already checked.
    fn account(&self, a: &RawAccount, registry: &Registry) -> Result<AccountConfig, ConfigError> {
        let provider = self.provider(registry, &a.provider)?;
        let place = self.place(a, provider)?;
        let organization_id = self.organization_id(a, provider)?;
        let credential = self.credential(a, provider)?;
        let provider_key = self.provider_key(a, provider)?;
        Ok(AccountConfig {
            name: a.name.get_ref().clone(),
            provider: provider.id.clone(),
            credential,
            place,
            provider_key,
            organization_id,
            schedule: self.schedule(a.schedule.as_ref())?,
            role: a.role.as_ref().map_or(Role::Default, |r| *r.get_ref()),
        })
    }

    /// `organization_id`: only where the provider's logins bill to organizations (Kilo),
    /// and a value a header can carry (a Kilo organization id is a UUID).
    fn organization_id(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<Option<String>, ConfigError> {
        let Some(s) = &a.organization_id else {
            return Ok(None);
        };
        let takes = provider
            .oauth
            .as_ref()
            .is_some_and(|o| o.flavor.spec().organization);
        if !takes {
            return self.err(
                s.span(),
                format!("provider '{}' does not use organization_id", provider.id),
                "remove the organization_id line".into(),
            );
        }
        let id = s.get_ref().trim();
        let fits = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !fits {
            return self.err(
                s.span(),
                format!(
                    "account '{}' has an organization_id that is not an organization id",
                    a.name.get_ref()
                ),
                "copy the id from the organization's page on app.kilo.ai (letters, digits, \
                '-' and '_'), or remove the line for the personal account"
                    .into(),
            );
        }
        Ok(Some(id.to_string()))
    }

    /// `schedule`: the hours an account may be used, parsed now so a typo fails the load.
    fn schedule(&self, raw: Option<&Spanned<String>>) -> Result<Option<Schedule>, ConfigError> {
        let Some(s) = raw else {
            return Ok(None);
        };
        match s.get_ref().parse::<Schedule>() {
            Ok(sched) => Ok(Some(sched)),
            Err(e) => self.err(
                s.span(),
                format!("schedule = \"{}\": {}", s.get_ref(), e.problem),
                e.fix,
            ),
        }
    }

    /// The account's `api_key` or `oauth`, exactly one of them, checked against what its
    /// provider takes.
    fn credential(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<CredentialConfig, ConfigError> {
        let name = a.name.get_ref();
        let oauth_only = provider.oauth.as_ref().is_some_and(|o| o.only);
        if let Some(keys) = self.aws_keys(a, provider)? {
            let other = a.api_key.as_ref().map(|k| ("api_key", k.span()));
            let other = other.or_else(|| a.oauth.as_ref().map(|o| ("oauth", o.span())));
            if let Some((other, span)) = other {
                return self.err(
                    span,
                    format!("account '{name}' has both {other} and IAM credentials"),
                    format!(
                        "keep one: a {} account is either a Bearer API key (api_key) or IAM \
                         credentials (access_key_id, secret_access_key); make two accounts \
                         for both",
                        provider.id
                    ),
                );
            }
            return Ok(CredentialConfig::Aws(keys));
        }
        match (&a.api_key, &a.oauth) {
            (Some(_), Some(o)) => self.err(
                o.span(),
                format!("account '{name}' has both api_key and oauth"),
                "keep one: an account is either an API key or a subscription login".into(),
            ),
            (None, None) => self.err(
                a.name.span(),
                format!("account '{name}' has neither api_key nor oauth"),
                if oauth_only {
                    format!(
                        concat!(
                            "add oauth = \"stored\" and run `keypool login {} --name {}`, ",
                            "or import a login with `keypool accounts import`",
                        ),
                        provider.id, name
                    )
                } else if provider.sigv4.is_some() {
                    concat!(
                        "add api_key = \"<key>\" (or \"env:VAR\", \"!command\"), or IAM ",
                        "credentials: access_key_id = \"env:AWS_ACCESS_KEY_ID\" and ",
                        "secret_access_key = \"env:AWS_SECRET_ACCESS_KEY\""
                    )
                    .into()
                } else {
                    "add api_key = \"<key>\" (or \"env:VAR\", \"!command\")".into()
                },
            ),
            (Some(k), None) => self.api_key(name, k, provider, oauth_only),
            (None, Some(o)) => self.oauth(o, provider),
        }
    }

    /// `api_key`: a key, `env:VAR` or `!command`, for a provider that takes keys.
    fn api_key(
        &self,
        name: &str,
        k: &Spanned<String>,
        provider: &Provider,
        oauth_only: bool,
    ) -> Result<CredentialConfig, ConfigError> {
        if oauth_only {
            return self.err(
                k.span(),
                format!(
                    "provider '{}' takes subscription logins, not API keys",
                    provider.id
                ),
                format!(
                    concat!(
                        "replace api_key with oauth = \"stored\" and run ",
                        "`keypool login {} --name {}`",
                    ),
                    provider.id, name
                ),
            );
        }
        let key = k.get_ref();
        if key.trim().is_empty() || key.trim() == "env:" || key.trim() == "!" {
            return self.err(
                k.span(),
                format!("account '{name}' has an empty api_key"),
                "set api_key to the key, \"env:VAR\" or \"!command\"".into(),
            );
        }
        Ok(CredentialConfig::ApiKey {
            source: SecretRef::parse(key),
            raw: SecretString::from(key.clone()),
        })
    }

    /// `oauth`: `stored` or `link:PATH`, for a provider with a subscription login.
    fn oauth(
        &self,
        o: &Spanned<String>,
        provider: &Provider,
    ) -> Result<CredentialConfig, ConfigError> {
        let Some(flavor) = Flavor::for_provider(&provider.id) else {
            let with: Vec<&str> = Flavor::ALL.iter().map(|f| f.provider_id()).collect();
            return self.err(
                o.span(),
                format!("provider '{}' has no subscription login", provider.id),
                format!("use api_key for it; oauth works with {}", with.join(", ")),
            );
        };
        let v = o.get_ref().trim();
        if v == "stored" && !flavor.stores() {
            return self.err(
                o.span(),
                format!(
                    "provider '{}' takes a credential file, which keypool never copies",
                    provider.id
                ),
                "write oauth = \"link:PATH\" with the path of the file".into(),
            );
        }
        if v == "stored" {
            return Ok(CredentialConfig::OAuth(OAuthSource::Stored));
        }
        match v.strip_prefix("link:").map(str::trim) {
            Some(p) if !p.is_empty() => {
                Ok(CredentialConfig::OAuth(OAuthSource::Linked(expand_home(p))))
            }
            _ => self.err(
                o.span(),
                // Not the value: a token pasted here by mistake stays out of the log.
                "oauth is neither \"stored\" nor \"link:PATH\"".to_string(),
                concat!(
                    "write oauth = \"stored\" (tokens kept by keypool) or ",
                    "oauth = \"link:~/.codex/auth.json\" (shared with the CLI)",
                )
                .into(),
            ),
        }
    }
}

/// `~/x` → `$HOME/x`; other paths as written.
fn expand_home(p: &str) -> std::path::PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(p),
    }
}
