//! An IAM account's `access_key_id`, `secret_access_key` and optional `session_token`:
//! only for a provider that signs with SigV4, the first two together, each a literal,
//! `env:VAR` or `!command`. A literal is checked for its form now; a reference when
//! keypool resolves it. Errors name the account and the key, never the value.

use super::*;
use crate::config::AwsKeys;
use crate::sigv4::{self, CredentialError};

/// The three keys' names, for errors.
const ID: &str = "access_key_id";
const SECRET: &str = "secret_access_key";
const TOKEN: &str = "session_token";

impl Validator<'_> {
    /// The account's IAM keys, when it has any.
    pub(super) fn aws_keys(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<Option<AwsKeys>, ConfigError> {
        let name = a.name.get_ref();
        let written = [
            (ID, &a.access_key_id),
            (SECRET, &a.secret_access_key),
            (TOKEN, &a.session_token),
        ];
        let Some((first, span)) = written
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v.span())))
        else {
            return Ok(None);
        };
        if provider.sigv4.is_none() {
            return self.err(
                span,
                format!(
                    "provider '{}' does not take IAM credentials ({first})",
                    provider.id
                ),
                "remove the access_key_id, secret_access_key and session_token lines; use \
                 api_key for this provider"
                    .into(),
            );
        }
        let (Some(id), Some(secret)) = (&a.access_key_id, &a.secret_access_key) else {
            let missing = if a.access_key_id.is_none() {
                ID
            } else {
                SECRET
            };
            return self.err(
                span,
                format!("account '{name}' has IAM credentials without {missing}"),
                format!(
                    "add {missing} = \"env:{}\" (or the value, or \"!command\"); an IAM \
                     account needs access_key_id and secret_access_key",
                    if missing == ID {
                        "AWS_ACCESS_KEY_ID"
                    } else {
                        "AWS_SECRET_ACCESS_KEY"
                    }
                ),
            );
        };
        Ok(Some(AwsKeys {
            access_key_id: self.aws_part(name, ID, id, sigv4::check_access_key_id)?,
            secret_access_key: self.aws_part(
                name,
                SECRET,
                secret,
                sigv4::check_secret_access_key,
            )?,
            session_token: match &a.session_token {
                Some(t) => Some(self.aws_part(name, TOKEN, t, sigv4::check_session_token)?),
                None => None,
            },
        }))
    }

    /// One part: not empty, and (a literal) of the form `check` wants.
    fn aws_part(
        &self,
        name: &str,
        key: &str,
        v: &Spanned<String>,
        check: fn(&str) -> Result<(), CredentialError>,
    ) -> Result<SecretString, ConfigError> {
        let raw = v.get_ref().trim();
        if raw.is_empty() || raw == "env:" || raw == "!" {
            return self.err(
                v.span(),
                format!("account '{name}' has an empty {key}"),
                format!("set {key} to the value, \"env:VAR\" or \"!command\""),
            );
        }
        if SecretRef::parse(raw) == SecretRef::Literal {
            if let Err(why) = check(raw) {
                let why = why.to_string();
                let (problem, fix) = why.split_once("; fix: ").unwrap_or((&why, "copy it again"));
                return self.err(
                    v.span(),
                    format!("account '{name}': {key}: {problem}"),
                    fix.to_string(),
                );
            }
        }
        Ok(SecretString::from(raw.to_string()))
    }
}
