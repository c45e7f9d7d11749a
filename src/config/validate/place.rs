//! An account's place keys (`resource`/`endpoint`, `deployments`, `region`,
//! `account_id`, `gateway_id`, `project`, `location`) and a gateway's `provider_key`: the
//! keys its provider's placement needs (and those it may take), each value of the form a
//! host or a path segment takes.

use super::*;
use crate::providers::{Place, PlaceKey};
use std::collections::BTreeMap;

impl Validator<'_> {
    /// The account's place, checked against what its provider's placement names.
    pub(super) fn place(&self, a: &RawAccount, provider: &Provider) -> Result<Place, ConfigError> {
        let required = provider.placement.required();
        let accepted = provider.placement.keys();
        let mut place = Place::default();
        let mut written = Vec::new();
        // A key the provider does not take is named before a missing one: `region` on
        // Vertex is `location` misnamed, not a missing location.
        for key in PlaceKey::ALL {
            let raw = self.raw_key(a, key, provider)?;
            if let (false, Some((_, span))) = (accepted.contains(&key), &raw) {
                return self.unused_key(span.clone(), key, &accepted, provider);
            }
            written.push((key, raw));
        }
        for (key, raw) in written {
            match (accepted.contains(&key), raw) {
                (true, None) if !required.contains(&key) => {}
                (true, None) => {
                    return self.err(
                        a.name.span(),
                        format!(
                            "account '{}' of provider '{}' needs {}",
                            a.name.get_ref(),
                            provider.id,
                            key.name()
                        ),
                        format!("add {}", key.example()),
                    )
                }
                (true, Some((v, span))) => {
                    if let Err(why) = key.check(&v) {
                        return self.err(
                            span,
                            format!(
                                "account '{}': {} = \"{v}\" is not valid",
                                a.name.get_ref(),
                                key.name()
                            ),
                            format!("{why}; write it like {}", key.example()),
                        );
                    }
                    place.values.insert(key, v);
                }
                (false, _) => {}
            }
        }
        place.deployments = self.deployments(a, provider)?;
        Ok(place)
    }

    /// The value written for `key`: Azure's `resource` may come from `endpoint` instead.
    fn raw_key(
        &self,
        a: &RawAccount,
        key: PlaceKey,
        provider: &Provider,
    ) -> Result<Option<(String, std::ops::Range<usize>)>, ConfigError> {
        let field = match key {
            PlaceKey::Resource => &a.resource,
            PlaceKey::Region => &a.region,
            PlaceKey::AccountId => &a.account_id,
            PlaceKey::GatewayId => &a.gateway_id,
            PlaceKey::Project => &a.project,
            PlaceKey::Location => &a.location,
        };
        let written = field
            .as_ref()
            .map(|s| (s.get_ref().trim().to_string(), s.span()));
        if key != PlaceKey::Resource {
            return Ok(written);
        }
        let Some(e) = &a.endpoint else {
            return Ok(written);
        };
        if !provider.placement.required().contains(&key) {
            return self.unused(e.span(), "endpoint", provider);
        }
        let Some(from_endpoint) = azure_resource(e.get_ref()) else {
            return self.err(
                e.span(),
                format!(
                    "account '{}': endpoint = \"{}\" is not an Azure resource endpoint",
                    a.name.get_ref(),
                    e.get_ref()
                ),
                "write it like endpoint = \"https://NAME.openai.azure.com/\" (or \
                 .cognitiveservices.azure.com, .services.ai.azure.com), or write \
                 resource = \"NAME\" instead"
                    .into(),
            );
        };
        match written {
            Some((r, span)) if r != from_endpoint => self.err(
                span,
                format!(
                    "account '{}': resource = \"{r}\" and endpoint name resource '{from_endpoint}'",
                    a.name.get_ref()
                ),
                "keep one of resource and endpoint, or make them name the same resource".into(),
            ),
            _ => Ok(Some((from_endpoint, e.span()))),
        }
    }

    /// `deployments`: the client's deployment name → this account's, for a provider
    /// whose paths name deployments.
    fn deployments(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
        let Some(d) = &a.deployments else {
            return Ok(None);
        };
        if !provider.placement.takes_deployments() {
            return self.unused(d.span(), "deployments", provider);
        }
        for (from, to) in d.get_ref() {
            if !is_deployment(from) || !is_deployment(to) {
                return self.err(
                    d.span(),
                    format!(
                        "account '{}': deployments maps \"{from}\" to \"{to}\", and a deployment \
                         name is 1 to 64 letters, digits, '-', '_' and '.'",
                        a.name.get_ref()
                    ),
                    "write it like deployments = { \"gpt-4o\" = \"my-gpt-4o\" } (the name the \
                     client sends = this resource's deployment)"
                        .into(),
                );
            }
        }
        Ok(Some(d.get_ref().clone()))
    }

    /// `provider_key`: for a gateway provider (one whose key is its gateway token).
    pub(super) fn provider_key(
        &self,
        a: &RawAccount,
        provider: &Provider,
    ) -> Result<Option<SecretString>, ConfigError> {
        let Some(k) = &a.provider_key else {
            return Ok(None);
        };
        if provider.auth != AuthScheme::CfAig {
            return self.unused(k.span(), "provider_key", provider);
        }
        let v = k.get_ref().trim();
        if v.is_empty() || v == "env:" || v == "!" {
            return self.err(
                k.span(),
                format!("account '{}' has an empty provider_key", a.name.get_ref()),
                "set provider_key to the provider's key, \"env:VAR\" or \"!command\", or remove \
                 it for BYOK or unified billing"
                    .into(),
            );
        }
        Ok(Some(SecretString::from(k.get_ref().clone())))
    }

    /// A place key the provider does not take; where it takes the other name for the
    /// same thing (AWS's `region`, GCP's `location`), the fix names that one.
    fn unused_key<T>(
        &self,
        span: std::ops::Range<usize>,
        key: PlaceKey,
        accepted: &[PlaceKey],
        provider: &Provider,
    ) -> Result<T, ConfigError> {
        let instead = match key {
            PlaceKey::Region => Some(PlaceKey::Location),
            PlaceKey::Location => Some(PlaceKey::Region),
            _ => None,
        };
        match instead.filter(|k| accepted.contains(k)) {
            Some(k) => self.err(
                span,
                format!("provider '{}' does not use {}", provider.id, key.name()),
                format!("it calls it {}: write {}", k.name(), k.example()),
            ),
            None => self.unused(span, key.name(), provider),
        }
    }

    fn unused<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        provider: &Provider,
    ) -> Result<T, ConfigError> {
        self.err(
            span,
            format!("provider '{}' does not use {key}", provider.id),
            format!("remove the {key} line"),
        )
    }
}

/// `NAME` of `https://NAME.openai.azure.com[/…]` (and the other Azure AI hosts).
fn azure_resource(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.trim().parse().ok()?;
    if uri.scheme_str() != Some("https") || uri.port().is_some() {
        return None;
    }
    let host = uri.host()?.to_ascii_lowercase();
    let name = [
        ".openai.azure.com",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
    ]
    .iter()
    .find_map(|s| host.strip_suffix(s))?;
    PlaceKey::Resource.check(name).ok()?;
    Some(name.to_string())
}

fn is_deployment(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v != "."
        && v != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_names_its_resource_only_on_azure_hosts() {
        assert_eq!(
            azure_resource("https://my-res.openai.azure.com/").as_deref(),
            Some("my-res")
        );
        assert_eq!(
            azure_resource("https://My-Res.services.ai.azure.com/models").as_deref(),
            Some("my-res")
        );
        for bad in [
            "http://my-res.openai.azure.com/",
            "https://my-res.openai.azure.com.evil.com/",
            "https://a.b.openai.azure.com/",
            "https://my-res.openai.azure.com:8443/",
            "my-res",
        ] {
            assert_eq!(azure_resource(bad), None, "{bad}");
        }
        assert!(is_deployment("gpt-4o.mini_1") && !is_deployment("..") && !is_deployment("a/b"));
    }
}
