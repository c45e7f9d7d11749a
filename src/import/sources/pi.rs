//! pi: every entry of `auth.json`. pi's provider ids are keypool's, so an entry's key is
//! the account's provider (pi's `opencode-go` is keypool's `opencode`). An `api_key`
//! entry is resolved the way pi resolves it: `!cmd` runs a command, a value naming a set
//! environment variable reads that variable, and anything else is the key itself.

use super::{named, Ctx};
use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::{read_json, Linked};
use crate::providers::Flavor;
use serde_json::Value;
use std::path::Path;

pub(super) fn scan(ctx: &Ctx) -> Scan {
    let m = ctx.machine;
    let mut scan = Scan::new(Source::Pi);
    let path = m.pi_auth();
    scan.looked.push(m.display(&path));
    if !path.exists() {
        return scan;
    }
    let v = match read_json(&path, Flavor::Anthropic) {
        Ok(v) => v,
        Err(e) => {
            scan.problem(&path, &e);
            return scan;
        }
    };
    for (id, entry) in v.as_object().into_iter().flatten() {
        // A config's own `[[providers]]` id wins over a built-in alias of the same name.
        let provider = match ctx.api_providers.contains(id) {
            true => id.as_str(),
            false => crate::providers::canonical_id(id),
        };
        let refused = crate::providers::refused::refused(id);
        let (kind, what) = match entry.get("type").and_then(Value::as_str) {
            Some("oauth") => match refused {
                Some(why) => ("oauth", Err(why.to_string())),
                None => ("oauth", login(&path, id)),
            },
            Some("api_key") => ("api key", key(m, ctx, provider, entry)),
            _ => (
                "entry",
                Err("pi entry of a type keypool does not know".to_string()),
            ),
        };
        scan.found.push(Found {
            source: Source::Pi,
            provider: provider.to_string(),
            what: what.unwrap_or_else(|reason| What::Skipped { kind, reason }),
            origin: Origin::File(path.clone()),
            default_name: named("pi", Some(id)),
        });
    }
    scan
}

fn login(path: &Path, id: &str) -> Result<What, String> {
    let flavor = Flavor::for_provider(id)
        .ok_or_else(|| format!("keypool has no subscription login for '{id}'"))?;
    let tokens = Linked::open(path, flavor)
        .and_then(|l| l.read())
        .map_err(|e| e.problem(path).to_string())?;
    Ok(What::OAuth {
        tokens,
        link: Linkable::Yes,
    })
}

fn key(m: &Machine, ctx: &Ctx, id: &str, entry: &Value) -> Result<What, String> {
    if !ctx.api_providers.contains(id) {
        return Err(format!(
            "keypool has no provider '{id}' (declare it in a [[providers]] block to import this \
            key)"
        ));
    }
    let raw = entry
        .get("key")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or("the entry has no key")?;
    let key = config_form(m, raw)?;
    // pi reads a placed provider's place from the environment, as its SDKs do.
    let place = super::placed::from_env(m, id)?;
    Ok(match place.is_empty() {
        true => What::ApiKey(key.into()),
        false => What::PlacedKey {
            key: key.into(),
            place,
        },
    })
}

/// pi's key value in keypool's `api_key` form.
fn config_form(m: &Machine, raw: &str) -> Result<String, String> {
    if raw.starts_with('!') {
        return Ok(raw.to_string());
    }
    // pi reads the variable at run time; a key that looks like a variable name is one,
    // even when it is not set in the shell running the import (no real key looks so).
    if m.var(raw).is_some() || looks_like_var(raw) {
        return Ok(format!("env:{raw}"));
    }
    if raw.starts_with("env:") {
        return Err("the key starts with 'env:', which keypool would read as a variable".into());
    }
    Ok(raw.to_string())
}

fn looks_like_var(s: &str) -> bool {
    s.len() >= 3
        && s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi_key_forms() {
        let m = Machine::new("/h", [("MY_KEY", "sk-x"), ("lower", "v")]);
        assert_eq!(config_form(&m, "!pass show x").unwrap(), "!pass show x");
        assert_eq!(config_form(&m, "MY_KEY").unwrap(), "env:MY_KEY");
        assert_eq!(config_form(&m, "lower").unwrap(), "env:lower");
        assert_eq!(
            config_form(&m, "OPENAI_API_KEY").unwrap(),
            "env:OPENAI_API_KEY"
        );
        assert_eq!(config_form(&m, "sk-or-v1-abc").unwrap(), "sk-or-v1-abc");
        assert_eq!(config_form(&m, "ABCDEF").unwrap(), "ABCDEF");
        assert!(config_form(&m, "env:X").is_err());
    }
}
