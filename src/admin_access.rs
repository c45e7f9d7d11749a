//! Who may use keypool's own pages and endpoints (`GET /`, `/_keypool/status`,
//! `/_keypool/reload`). A web page in the user's browser can send requests to
//! 127.0.0.1: it must neither read account states nor trigger a reload. So a request is
//! refused when its Host is not keypool's own address (DNS rebinding: a name the page
//! controls pointing at 127.0.0.1), when the browser says it comes from another site
//! (`Origin`, `Sec-Fetch-Site`), when a POST is not `application/json` (a type a page can
//! only send after a CORS preflight, which keypool never approves), and, when clients
//! have passwords or the listener is reachable from other machines, without a client's
//! name and password.

use crate::state::State;
use http::header::{CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderMap, Method, StatusCode};
use std::net::{IpAddr, SocketAddr};

/// Why a request to keypool itself is refused, worded with the fix.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// The answer asks for credentials (`WWW-Authenticate: Basic`).
    pub ask_login: bool,
}

fn refuse(status: StatusCode, message: String) -> Option<Refusal> {
    Some(Refusal {
        status,
        message,
        ask_login: status == StatusCode::UNAUTHORIZED,
    })
}

/// The refusal to send, or `None` when the request may be served.
pub fn refusal(method: &Method, headers: &HeaderMap, state: &State) -> Option<Refusal> {
    let listen = state.listen;
    let port = listen.port();
    let own = |authority: &str| is_own(authority, listen);
    let single = |name| {
        let mut all = headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (v, None) => Ok(v.and_then(|v| v.to_str().ok())),
            _ => Err(()),
        }
    };
    if !single(HOST).is_ok_and(|h| h.is_some_and(own)) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "keypool: refused: the Host header is not keypool's own address (a web page \
                can make a name it controls point at this machine); fix: address keypool as \
                http://127.0.0.1:{port}/"
            ),
        );
    }
    let cross_origin = match single(ORIGIN) {
        Ok(None) => false,
        Ok(Some(o)) => !o
            .strip_prefix("http://")
            .is_some_and(|rest| own(rest.trim_end_matches('/'))),
        Err(()) => true,
    };
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes().to_ascii_lowercase());
    let cross_site = fetch_site.is_some_and(|s| s != b"same-origin" && s != b"none");
    if cross_origin || cross_site {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "keypool: refused a request a web page on another site sent; keypool's pages \
                and endpoints serve only this machine's own tools; fix: open \
                http://127.0.0.1:{port}/ directly, or use `keypool status`"
            ),
        );
    }
    if method == Method::POST && !is_json(headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "keypool: a POST to keypool needs Content-Type: application/json; fix: use \
                `keypool reload`, or curl -X POST -H 'content-type: application/json' \
                http://127.0.0.1:{port}/_keypool/reload"
            ),
        );
    }
    let live = state.live();
    let needs_login = live.clients.any_password() || !listen.ip().to_canonical().is_loopback();
    if needs_login && !live.clients.admin(headers) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!(
                "keypool: keypool's pages and endpoints need the name and password of a \
                [clients] entry that has one (clients have passwords, or keypool listens beyond \
                this machine); fix: `keypool status` and `keypool reload` send them from the \
                config; with curl: curl -u NAME:PASSWORD http://127.0.0.1:{port}/"
            ),
        );
    }
    None
}

fn is_json(headers: &HeaderMap) -> bool {
    let mut all = headers.get_all(CONTENT_TYPE).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return false;
    };
    v.to_str().ok().is_some_and(|v| {
        let media = v.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json")
    })
}

/// Whether `authority` (`host:port`) names keypool listening on `listen`: a loopback name
/// or address, or the listen address itself; any IP address when keypool listens on every
/// interface. A DNS name other than `localhost` never is: that is what rebinding uses.
pub fn is_own(authority: &str, listen: SocketAddr) -> bool {
    let Ok(a) = authority.parse::<http::uri::Authority>() else {
        return false;
    };
    if a.as_str().contains('@') {
        return false;
    }
    let port_ok = match a.port_u16() {
        Some(p) => p == listen.port(),
        None => listen.port() == 80 && !authority.ends_with(':'),
    };
    if !port_ok {
        return false;
    }
    let host = a.host().trim_matches(['[', ']']);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let Ok(ip) = host.parse::<IpAddr>() else {
        return false;
    };
    let (ip, own) = (ip.to_canonical(), listen.ip().to_canonical());
    ip == own
        || own.is_unspecified()
        || (own.is_loopback()
            && (ip == IpAddr::from([127, 0, 0, 1])
                || ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses() {
        let lo: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        for ok in [
            "127.0.0.1:8787",
            "localhost:8787",
            "LocalHost:8787",
            "[::1]:8787",
        ] {
            assert!(is_own(ok, lo), "{ok}");
        }
        for bad in [
            "127.0.0.1:8788",
            "evil.example:8787",
            "127.0.0.1",
            "localhost.evil.example:8787",
            "user@127.0.0.1:8787",
            "192.168.1.2:8787",
            "",
            "127.0.0.1:8787:1",
        ] {
            assert!(!is_own(bad, lo), "{bad}");
        }
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert!(is_own("192.168.1.2:9000", any));
        assert!(!is_own("keypool.lan:9000", any));
    }
}
