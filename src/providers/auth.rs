//! How a credential travels to a provider, and how the client's is replaced by the
//! account's.

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer KEY`
    Bearer,
    /// `x-api-key: KEY` (Anthropic and its dialect)
    XApiKey,
    /// `x-api-key: KEY` when the client sent its key that way (an Anthropic SDK on a
    /// gateway's Anthropic-compatible API), else `Authorization: Bearer KEY`: for hosts
    /// that take either.
    BearerOrXApiKey,
    /// `Authorization: Bearer KEY` when the client sent its key that way (Azure's v1 API
    /// with a plain OpenAI SDK), else `api-key: KEY` (Azure's own header, which both its
    /// APIs take).
    ApiKeyOrBearer,
    /// `cf-aig-authorization: Bearer KEY`: a Cloudflare AI Gateway token.
    CfAig,
    /// `x-goog-api-key: KEY`, or `?key=KEY` when the client put it in the query.
    GoogApiKey,
    /// `?NAME=KEY` in the query string.
    Query(String),
}

impl std::str::FromStr for AuthScheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bearer" => Ok(AuthScheme::Bearer),
            "x-api-key" => Ok(AuthScheme::XApiKey),
            "bearer-or-x-api-key" => Ok(AuthScheme::BearerOrXApiKey),
            "api-key-or-bearer" => Ok(AuthScheme::ApiKeyOrBearer),
            "cf-aig-authorization" => Ok(AuthScheme::CfAig),
            "x-goog-api-key" => Ok(AuthScheme::GoogApiKey),
            _ => match s.strip_prefix("query:") {
                Some(name) if !name.is_empty() => Ok(AuthScheme::Query(name.to_string())),
                _ => Err(format!(
                    concat!(
                        "unknown auth scheme '{}'; ",
                        "use one of: bearer, x-api-key, bearer-or-x-api-key, api-key-or-bearer, ",
                        "cf-aig-authorization, x-goog-api-key, ",
                        "query:NAME"
                    ),
                    s
                )),
            },
        }
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthScheme::Bearer => f.write_str("bearer"),
            AuthScheme::XApiKey => f.write_str("x-api-key"),
            AuthScheme::BearerOrXApiKey => f.write_str("bearer-or-x-api-key"),
            AuthScheme::ApiKeyOrBearer => f.write_str("api-key-or-bearer"),
            AuthScheme::CfAig => f.write_str("cf-aig-authorization"),
            AuthScheme::GoogApiKey => f.write_str("x-goog-api-key"),
            AuthScheme::Query(n) => write!(f, "query:{n}"),
        }
    }
}

/// Every header that carries a client credential to some provider. All are removed,
/// whatever the provider, so a client's own key never travels upstream.
/// A SigV4 client's session token (`x-amz-security-token`) is one: it would otherwise
/// ride along beside the account's Bearer key.
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cf-aig-authorization",
    "x-amz-security-token",
];

/// Removes every client credential header, for an account whose credential is not a
/// header keypool sets (a SigV4 signature, added after this).
pub fn strip_client_credentials(headers: &mut HeaderMap) {
    for name in CREDENTIAL_HEADERS {
        headers.remove(name);
    }
}

/// The outcome of swapping the credential: the new query string, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct CredentialEdit {
    pub query: Option<String>,
}

impl AuthScheme {
    fn query_name(&self) -> Option<&str> {
        match self {
            AuthScheme::GoogApiKey => Some("key"),
            AuthScheme::Query(n) => Some(n),
            _ => None,
        }
    }

    /// Removes the client's credential from `headers` and `query` and adds `secret`.
    /// Fails only when the secret cannot be an HTTP header value.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        query: Option<&str>,
        secret: &str,
    ) -> Result<CredentialEdit, http::header::InvalidHeaderValue> {
        self.put(headers, query, secret, true)
    }

    /// Adds `secret` beside the credentials already there (a gateway's token beside the
    /// provider key an earlier [`AuthScheme::apply`] set).
    pub fn add(
        &self,
        headers: &mut HeaderMap,
        query: Option<&str>,
        secret: &str,
    ) -> Result<CredentialEdit, http::header::InvalidHeaderValue> {
        self.put(headers, query, secret, false)
    }

    fn put(
        &self,
        headers: &mut HeaderMap,
        query: Option<&str>,
        secret: &str,
        strip: bool,
    ) -> Result<CredentialEdit, http::header::InvalidHeaderValue> {
        // Read before the client's credentials go: only the form it used survives them.
        let client_x_api_key =
            headers.contains_key("x-api-key") && !headers.contains_key(AUTHORIZATION);
        let client_bearer = headers.contains_key(AUTHORIZATION) && !headers.contains_key("api-key");
        for name in CREDENTIAL_HEADERS.iter().filter(|_| strip) {
            headers.remove(*name);
        }
        let (mut query, client_used_query) = match self.query_name() {
            Some(name) => strip_query_param(query, name),
            None => (query.map(str::to_string), false),
        };
        let header = |v: String| -> Result<HeaderValue, _> {
            let mut v = HeaderValue::try_from(v)?;
            v.set_sensitive(true);
            Ok(v)
        };
        match self {
            AuthScheme::BearerOrXApiKey if client_x_api_key => {
                headers.insert(HeaderName::from_static("x-api-key"), header(secret.into())?);
            }
            AuthScheme::Bearer | AuthScheme::BearerOrXApiKey => {
                headers.insert(AUTHORIZATION, header(format!("Bearer {secret}"))?);
            }
            AuthScheme::XApiKey => {
                headers.insert(HeaderName::from_static("x-api-key"), header(secret.into())?);
            }
            AuthScheme::ApiKeyOrBearer if client_bearer => {
                headers.insert(AUTHORIZATION, header(format!("Bearer {secret}"))?);
            }
            AuthScheme::ApiKeyOrBearer => {
                headers.insert(HeaderName::from_static("api-key"), header(secret.into())?);
            }
            AuthScheme::CfAig => {
                headers.insert(
                    HeaderName::from_static("cf-aig-authorization"),
                    header(format!("Bearer {secret}"))?,
                );
            }
            AuthScheme::GoogApiKey if !client_used_query => {
                headers.insert(
                    HeaderName::from_static("x-goog-api-key"),
                    header(secret.into())?,
                );
            }
            AuthScheme::GoogApiKey | AuthScheme::Query(_) => {
                let name = self.query_name().unwrap_or("key");
                let pair: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, secret)
                    .finish();
                query = Some(match query {
                    Some(q) if !q.is_empty() => format!("{q}&{pair}"),
                    _ => pair,
                });
            }
        }
        Ok(CredentialEdit { query })
    }
}

/// Drops every `name=…` pair from a raw query, leaving the other pairs byte for byte
/// (re-encoding them could change what the provider sees). Returns whether one was there.
fn strip_query_param(query: Option<&str>, name: &str) -> (Option<String>, bool) {
    let Some(q) = query else {
        return (None, false);
    };
    let mut found = false;
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let is_it = form_urlencoded::parse(key.as_bytes())
                .next()
                .is_some_and(|(k, _)| k == name);
            found |= is_it;
            !is_it && !pair.is_empty()
        })
        .collect();
    let rest = (!kept.is_empty()).then(|| kept.join("&"));
    (rest, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_replaces_and_strips_other_credentials() {
        let mut h = headers(&[("authorization", "Bearer client"), ("x-api-key", "client2")]);
        let e = AuthScheme::Bearer
            .apply(&mut h, Some("a=1"), "sk-acct")
            .unwrap();
        assert_eq!(h["authorization"], "Bearer sk-acct");
        assert!(h["authorization"].is_sensitive());
        assert!(!h.contains_key("x-api-key"));
        assert_eq!(e.query.as_deref(), Some("a=1"));
    }

    #[test]
    fn google_key_stays_where_the_client_put_it() {
        let mut h = headers(&[]);
        let e = AuthScheme::GoogApiKey
            .apply(&mut h, Some("alt=sse&key=client"), "AIza+acct")
            .unwrap();
        assert_eq!(e.query.as_deref(), Some("alt=sse&key=AIza%2Bacct"));
        assert!(!h.contains_key("x-goog-api-key"));

        let mut h = headers(&[("x-goog-api-key", "client")]);
        let e = AuthScheme::GoogApiKey
            .apply(&mut h, Some("alt=sse"), "AIza-acct")
            .unwrap();
        assert_eq!(h["x-goog-api-key"], "AIza-acct");
        assert_eq!(e.query.as_deref(), Some("alt=sse"));
    }

    #[test]
    fn query_scheme_and_parse() {
        let mut h = headers(&[]);
        let e = AuthScheme::Query("api_key".into())
            .apply(&mut h, Some("api_key=old&x=%20y"), "k")
            .unwrap();
        assert_eq!(e.query.as_deref(), Some("x=%20y&api_key=k"));
        assert_eq!(
            "query:token".parse::<AuthScheme>().unwrap(),
            AuthScheme::Query("token".into())
        );
        assert!("basic"
            .parse::<AuthScheme>()
            .unwrap_err()
            .contains("bearer"));
    }

    #[test]
    fn a_secret_with_a_newline_is_refused() {
        let mut h = headers(&[]);
        assert!(AuthScheme::Bearer.apply(&mut h, None, "a\nb").is_err());
    }

    #[test]
    fn every_scheme_reads_back_from_its_config_name() {
        for scheme in [
            AuthScheme::Bearer,
            AuthScheme::XApiKey,
            AuthScheme::BearerOrXApiKey,
            AuthScheme::ApiKeyOrBearer,
            AuthScheme::CfAig,
            AuthScheme::GoogApiKey,
            AuthScheme::Query("api_key".into()),
        ] {
            let name = scheme.to_string();
            assert_eq!(name.parse::<AuthScheme>(), Ok(scheme), "{name}");
        }
        assert_eq!(AuthScheme::XApiKey.to_string(), "x-api-key");
        assert!(
            "query:".parse::<AuthScheme>().is_err(),
            "a query scheme names its parameter"
        );
    }

    #[test]
    fn x_api_key_replaces_every_client_credential() {
        let mut h = headers(&[("authorization", "Bearer client"), ("api-key", "client2")]);
        let e = AuthScheme::XApiKey
            .apply(&mut h, None, "sk-ant-acct")
            .unwrap();
        assert_eq!(h["x-api-key"], "sk-ant-acct");
        assert!(!h.contains_key("authorization") && !h.contains_key("api-key"));
        assert_eq!(e.query, None);
    }

    #[test]
    fn bearer_or_x_api_key_keeps_the_form_the_client_used() {
        for (sent, want) in [
            (&[("x-api-key", "client")][..], "x-api-key"),
            (&[("authorization", "Bearer client")][..], "authorization"),
            // Both sent, or neither: the documented default, Bearer.
            (
                &[("x-api-key", "client"), ("authorization", "Bearer c2")][..],
                "authorization",
            ),
            (&[][..], "authorization"),
        ] {
            let mut h = headers(sent);
            AuthScheme::BearerOrXApiKey
                .apply(&mut h, None, "sk-acct")
                .unwrap();
            let other = if want == "x-api-key" {
                "authorization"
            } else {
                "x-api-key"
            };
            assert!(!h.contains_key(other), "{sent:?}: the other form is gone");
            let v = h[want].to_str().unwrap();
            assert!(v == "sk-acct" || v == "Bearer sk-acct", "{sent:?}: {v}");
            assert!(h[want].is_sensitive());
            assert!(!v.contains("client") && !v.contains("c2"));
        }
    }

    #[test]
    fn api_key_or_bearer_keeps_the_form_the_client_used() {
        for (sent, want) in [
            (&[("api-key", "client")][..], "api-key"),
            (&[("authorization", "Bearer client")][..], "authorization"),
            // Both sent, or neither: Azure's own header, which its APIs all take.
            (
                &[("api-key", "client"), ("authorization", "Bearer c2")][..],
                "api-key",
            ),
            (&[("x-api-key", "client")][..], "api-key"),
            (&[][..], "api-key"),
        ] {
            let mut h = headers(sent);
            AuthScheme::ApiKeyOrBearer
                .apply(&mut h, None, "az-acct")
                .unwrap();
            let other = if want == "api-key" {
                "authorization"
            } else {
                "api-key"
            };
            assert!(!h.contains_key(other), "{sent:?}: the other form is gone");
            assert!(!h.contains_key("x-api-key"), "{sent:?}");
            let v = h[want].to_str().unwrap();
            assert!(v == "az-acct" || v == "Bearer az-acct", "{sent:?}: {v}");
            assert!(h[want].is_sensitive());
        }
    }

    #[test]
    fn a_gateway_token_replaces_the_clients_and_every_other_credential() {
        let mut h = headers(&[
            ("cf-aig-authorization", "Bearer client-cf"),
            ("authorization", "Bearer client"),
        ]);
        AuthScheme::CfAig.apply(&mut h, None, "cf-acct").unwrap();
        assert_eq!(h["cf-aig-authorization"], "Bearer cf-acct");
        assert!(h["cf-aig-authorization"].is_sensitive());
        assert!(!h.contains_key("authorization"));
    }
}
