//! The screen phase: requests refused before anything is looked up or connected. A
//! request inside a tunnel that names another destination than the tunnel's (it must not
//! make keypool connect elsewhere), and a plain-HTTP request to a provider that would
//! carry a pooled key in cleartext. And `keypool doctor`'s reserved path, answered here
//! so it needs no upstream, no account and no credential.

use super::*;

/// Runs before everything else, once: the refusal for a request that must go nowhere,
/// or `None` to serve it.
pub(super) fn screen(
    req: &Request<ClientBody>,
    target: &Target,
    live: &crate::state::Live,
) -> Option<KeypoolAnswer> {
    if let Some(r) = misdirected(req, target) {
        return Some(r);
    }
    let provider = live.registry.for_host(&target.host)?;
    if let Some(nonce) = doctor_nonce(req) {
        return Some(KeypoolAnswer::Doctor {
            nonce,
            intercepted: target.scheme == "https",
            client: target.client.as_deref().map(str::to_string),
        });
    }
    if target.scheme == "http" && !provider.allow_http {
        return Some(KeypoolAnswer::PlainHttp {
            host: target.host.clone(),
            authority: target.authority(),
            path: req.uri().path().to_string(),
        });
    }
    None
}

/// Where `keypool doctor`'s check asks keypool to answer itself. Anything after the
/// nonce is ignored, so a client that appends its own path (git's `/info/refs`) is
/// answered too.
pub(super) const DOCTOR_PREFIX: &str = "/_keypool/doctor/";

/// The nonce of a `GET /_keypool/doctor/<nonce>[/…]`: up to 64 letters, digits, `-`, `_`
/// or `.`; anything else is no doctor request and goes its usual way.
fn doctor_nonce(req: &Request<ClientBody>) -> Option<String> {
    if req.method() != http::Method::GET {
        return None;
    }
    let rest = req.uri().path().strip_prefix(DOCTOR_PREFIX)?;
    let nonce = rest.split('/').next().unwrap_or("");
    let fits = (1..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    fits.then(|| nonce.to_string())
}

/// A request whose method or target does not belong inside this tunnel (or, for an
/// absolute-form request, whose URI is not what the target was made from).
fn misdirected(req: &Request<ClientBody>, target: &Target) -> Option<KeypoolAnswer> {
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
