//! The request as it goes upstream.

use super::*;
use std::borrow::Cow;

pub(super) struct Edit<'a> {
    pub(super) provider: &'a Provider,
    pub(super) account: &'a Account,
    pub(super) cred: &'a Cred,
}

/// The request as it goes upstream: hop-by-hop headers gone, the client's credential
/// replaced by the account's, HTTP/1.1 with an absolute URI for the pooled client.
pub(super) fn upstream_request(
    parts: &Parts,
    target: &Target,
    edit: Option<Edit<'_>>,
    body: ProxyBody,
) -> Request<ProxyBody> {
    let mut headers = parts.headers.clone();
    let websocket = is_websocket_upgrade(&headers);
    strip_hop_by_hop(&mut headers);
    // keypool already answered the client's `Expect: 100-continue` by reading the body.
    headers.remove(http::header::EXPECT);
    if websocket {
        restore_websocket_upgrade(&mut headers);
    }
    let mut path = parts.uri.path().to_string();
    let mut query = parts.uri.query().map(str::to_string);
    // Copilot accounts live on different API hosts (individual, business, enterprise).
    let mut rehomed = None;
    if let Some(e) = edit {
        let (scheme, secret) = match e.cred {
            Cred::Key(k) => (&e.provider.auth, Cow::Borrowed(k.expose_secret())),
            Cred::OAuth(a) => (&AuthScheme::Bearer, a.bearer_token()),
        };
        match scheme.apply(&mut headers, query.as_deref(), &secret) {
            Ok(edited) => query = edited.query,
            Err(_) => {
                // resolve() refuses control characters, so this cannot happen; if it
                // did, sending without a credential is safer than sending the client's.
                let name = &e.account.name;
                tracing::warn!(account = %name, "the credential cannot be sent as an HTTP header");
            }
        }
        match e.cred {
            Cred::Key(_) => {
                edit::headers_for_key(&mut headers);
                if let Some(p) = e
                    .provider
                    .rewrite_path(&path, e.account.account_id.as_deref())
                {
                    path = p;
                }
            }
            Cred::OAuth(a) => {
                a.edit_headers(&mut headers);
                rehomed = rehome(a.api_base(), e.provider, target);
            }
        }
    }
    let target = rehomed.as_ref().unwrap_or(target);
    let authority = target.authority();
    if let Ok(h) = HeaderValue::from_str(&authority) {
        headers.insert(HOST, h);
    }
    let uri = match &query {
        Some(q) => format!("{}://{authority}{path}?{q}", target.scheme),
        None => format!("{}://{authority}{path}", target.scheme),
    };
    // An edited body may have changed length.
    if let Some(n) = http_body::Body::size_hint(&body).exact() {
        if headers.contains_key(CONTENT_LENGTH) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri.parse().unwrap_or_else(|_| parts.uri.clone());
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    req
}

/// The API host a subscription's token endpoint named for the account, when it differs
/// from the tunnel's. The token goes only to a host of this provider, and only over TLS.
fn rehome(api_base: Option<&str>, provider: &Provider, target: &Target) -> Option<Target> {
    api_base?
        .parse::<Uri>()
        .ok()
        .and_then(|u| Target::from_absolute_uri(&u))
        .filter(|t| {
            t.scheme == "https"
                && t.host != target.host
                && provider
                    .hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&t.host))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_rehomed_only_to_another_tls_host_of_its_provider() {
        let r = crate::providers::Registry::new(crate::providers::builtin());
        let copilot = r.by_id("github-copilot").unwrap();
        let t = Target {
            scheme: "https",
            host: "api.githubcopilot.com".into(),
            port: 443,
            client: None,
        };
        let moved = rehome(Some("https://api.business.githubcopilot.com"), copilot, &t).unwrap();
        assert_eq!(
            (moved.scheme, moved.host.as_str()),
            ("https", "api.business.githubcopilot.com")
        );
        assert!(
            rehome(Some("https://api.githubcopilot.com"), copilot, &t).is_none(),
            "same host"
        );
        assert!(
            rehome(Some("http://api.business.githubcopilot.com"), copilot, &t).is_none(),
            "no TLS"
        );
        assert!(
            rehome(Some("https://evil.example.com"), copilot, &t).is_none(),
            "not the provider's"
        );
        assert!(rehome(None, copilot, &t).is_none());
    }
}
