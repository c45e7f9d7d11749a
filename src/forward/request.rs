//! The request as it goes upstream.

use super::*;
use crate::providers::{Place, PlaceKey};
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
    // Copilot accounts live on different API hosts (individual, business, enterprise);
    // placed accounts on their resource's or region's.
    let mut rehomed = None;
    if let Some(e) = edit {
        match e.cred {
            // The signature is added once the request is whole (attempt.rs): here the
            // client's credentials go, a presigned query's included.
            Cred::Aws(_) => {
                crate::providers::strip_client_credentials(&mut headers);
                query = without_amz_query(query);
            }
            _ => query = credentials(&e, &path, &mut headers, query),
        }
        match e.cred {
            Cred::Key(_) | Cred::Aws(_) => {
                edit::headers_for_key(&mut headers);
                rehomed = place(e.provider, &e.account.place, &mut path, target);
            }
            Cred::OAuth(a) => {
                a.edit_headers(&mut headers);
                // A login that names a project (a Vertex key file's `project_id`) is
                // placed there unless the config placed it elsewhere.
                let project = a.identity.project.as_deref();
                let placement = &e.provider.placement;
                let placed =
                    placement.fill_from_login(&e.account.place, PlaceKey::Project, project);
                rehomed = place(e.provider, &placed, &mut path, target)
                    .or_else(|| rehome(a.api_base(), e.provider, target));
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

/// The account's place applied: the path's place segments made the account's, and the
/// host its own when the provider's accounts each have one (`None`: the client's).
fn place(provider: &Provider, place: &Place, path: &mut String, target: &Target) -> Option<Target> {
    let placement = &provider.placement;
    // pick() passed over an account that cannot serve the path: never here.
    if let Ok(Some(p)) = placement.repath(path, place) {
        *path = p;
    }
    placement.rehost(&target.host, place).map(|host| Target {
        host,
        ..target.clone()
    })
}

/// The client's credentials replaced by the account's: its key or token in the form the
/// provider takes and, behind a gateway, the provider key in the header of the provider
/// the path names. Returns the query as it goes upstream.
fn credentials(
    e: &Edit<'_>,
    path: &str,
    headers: &mut http::HeaderMap,
    query: Option<String>,
) -> Option<String> {
    let (scheme, secret) = match e.cred {
        Cred::Key(k) => (&e.provider.auth, Cow::Borrowed(k.expose_secret())),
        Cred::OAuth(a) => (&AuthScheme::Bearer, a.bearer_token()),
        Cred::Aws(_) => return query,
    };
    let name = &e.account.name;
    let mut query = query;
    let mut add = false;
    // Behind a gateway the provider key goes first, in the form its provider takes; the
    // gateway's token is then added beside it. Without one (BYOK, unified billing) the
    // client's provider key is stripped all the same: the gateway holds the keys.
    if let (Cred::Key(_), AuthScheme::CfAig, Some(k)) = (e.cred, scheme, &e.account.provider_key) {
        let behind = crate::providers::gateway_key_scheme(&e.provider.placement, path);
        match behind.apply(headers, query.as_deref(), k.expose_secret()) {
            Ok(edited) => (query, add) = (edited.query, true),
            Err(_) => {
                tracing::warn!(account = %name, "the provider key cannot be sent as an HTTP header")
            }
        }
    }
    let result = if add {
        scheme.add(headers, query.as_deref(), &secret)
    } else {
        scheme.apply(headers, query.as_deref(), &secret)
    };
    match result {
        Ok(edited) => edited.query,
        Err(_) => {
            // resolve() refuses control characters, so this cannot happen; if it did,
            // sending without a credential is safer than sending the client's.
            tracing::warn!(account = %name, "the credential cannot be sent as an HTTP header");
            headers.remove("cf-aig-authorization");
            query
        }
    }
}

/// The query without SigV4's query parameters (`X-Amz-Credential`, `X-Amz-Signature`,
/// `X-Amz-Security-Token`, …): a presigned client request's credential stays here.
fn without_amz_query(query: Option<String>) -> Option<String> {
    let q = query?;
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !name.to_ascii_lowercase().starts_with("x-amz-")
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
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
