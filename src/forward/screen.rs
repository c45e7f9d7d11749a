//! The screen phase: requests refused before anything is looked up or connected. A
//! request inside a tunnel that names another destination than the tunnel's (it must not
//! make keypool connect elsewhere), and a plain-HTTP request to a provider that would
//! carry a pooled key in cleartext.

use super::*;

/// Runs before everything else, once: the refusal for a request that must go nowhere,
/// or `None` to serve it.
pub(super) fn screen(
    req: &Request<Incoming>,
    target: &Target,
    live: &crate::state::Live,
) -> Option<KeypoolAnswer> {
    if let Some(r) = misdirected(req, target) {
        return Some(r);
    }
    let provider = live.registry.for_host(&target.host)?;
    if target.scheme == "http" && !provider.allow_http {
        return Some(KeypoolAnswer::PlainHttp {
            host: target.host.clone(),
            authority: target.authority(),
            path: req.uri().path().to_string(),
        });
    }
    None
}

/// A request whose method or target does not belong inside this tunnel (or, for an
/// absolute-form request, whose URI is not what the target was made from).
fn misdirected(req: &Request<Incoming>, target: &Target) -> Option<KeypoolAnswer> {
    if req.method() == http::Method::CONNECT {
        return Some(KeypoolAnswer::ConnectInTunnel);
    }
    if !req.uri().path().starts_with('/') {
        return Some(KeypoolAnswer::NoPath {
            path: crate::echo::printable(req.uri().path(), 100),
            host: target.host.clone(),
        });
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
    Some(KeypoolAnswer::Misdirected {
        host: target.host.clone(),
        port: target.port,
        named: crate::echo::printable(host, 100),
    })
}
