//! Requests refused before anything is looked up or connected: a request inside a tunnel
//! that names another destination than the tunnel's (it must not make keypool connect
//! elsewhere), and a plain-HTTP request to a provider that would carry a pooled key in
//! cleartext.

use super::*;

/// The refusal for a request that must go nowhere, or `None` to serve it.
pub(super) fn refusal(
    req: &Request<Incoming>,
    target: &Target,
    live: &crate::state::Live,
) -> Option<Response<ProxyBody>> {
    if let Some(r) = misdirected(req, target) {
        return Some(r);
    }
    let provider = live.registry.for_host(&target.host)?;
    if target.scheme == "http" && !provider.allow_http {
        return Some(crate::server::text(
            StatusCode::BAD_REQUEST,
            format!(
                "keypool: refused to send a request to {} over plain HTTP: API keys would travel unencrypted; fix: use https://{}{} (set the client's base URL to https)\n",
                target.host,
                target.authority(),
                req.uri().path()
            ),
        ));
    }
    None
}

/// A request whose method or target does not belong inside this tunnel (or, for an
/// absolute-form request, whose URI is not what the target was made from).
fn misdirected(req: &Request<Incoming>, target: &Target) -> Option<Response<ProxyBody>> {
    if req.method() == http::Method::CONNECT {
        return Some(crate::server::text(
            StatusCode::BAD_REQUEST,
            "keypool: CONNECT inside a tunnel is refused; fix: send CONNECT to keypool itself, on a connection of its own\n",
        ));
    }
    if !req.uri().path().starts_with('/') {
        return Some(crate::server::text(
            StatusCode::BAD_REQUEST,
            format!(
                "keypool: a request for '{}' names no path on {}; fix: send requests for a path such as /v1/…\n",
                crate::echo::printable(req.uri().path(), 100),
                target.host
            ),
        ));
    }
    // Absolute form names the destination in the URI (its Host header is replaced, as
    // RFC 9112 says); origin form, the only form inside a tunnel, in the Host header.
    let named = match req.uri().authority() {
        Some(a) => {
            let default = if req.uri().scheme_str() == Some("http") {
                80
            } else {
                443
            };
            let same_scheme = req.uri().scheme_str() == Some(target.scheme);
            Some((
                a.host().to_string(),
                a.port_u16().unwrap_or(default),
                same_scheme,
            ))
        }
        None => {
            let mut hosts = req.headers().get_all(HOST).iter();
            match (hosts.next(), hosts.next()) {
                (None, _) => None,
                (Some(h), None) => Some(
                    h.to_str()
                        .ok()
                        .and_then(|h| h.parse::<http::uri::Authority>().ok())
                        .filter(|a| !a.as_str().contains('@'))
                        .map_or((String::new(), 0, false), |a| {
                            (
                                a.host().to_string(),
                                a.port_u16().unwrap_or(target.port),
                                true,
                            )
                        }),
                ),
                (Some(_), Some(_)) => Some((String::new(), 0, false)),
            }
        }
    };
    let (host, port, same_scheme) = named?;
    let host = host.trim_matches(['[', ']']).trim_end_matches('.');
    // Host names compare without case or a trailing dot, as DNS does.
    let tunnel_host = target.host.trim_end_matches('.');
    if same_scheme && port == target.port && host.eq_ignore_ascii_case(tunnel_host) {
        return None;
    }
    let mut r = crate::server::text(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "keypool: this connection goes to {}:{}, and the request names another destination ('{}'); nothing was sent; fix: open a connection (CONNECT) to that host for it\n",
            target.host,
            target.port,
            crate::echo::printable(host, 100),
        ),
    );
    r.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    Some(r)
}

/// The answer when the upstream could not be reached: a refused destination names the
/// rule and its fix (508 for a loop, 403 for a private address), anything else is a 502.
pub(super) fn unreachable(
    dialect: Option<Dialect>,
    target: &Target,
    e: &(dyn std::error::Error + 'static),
) -> Response<ProxyBody> {
    match crate::egress::Refused::find(e) {
        Some(refused) => {
            tracing::info!(host = %target.host, port = target.port, "{refused}");
            crate::server::text(refused.status(), format!("{refused}\n"))
        }
        None => bad_gateway(dialect, target, e),
    }
}
