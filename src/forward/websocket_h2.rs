//! A WebSocket opened over HTTP/2 (RFC 8441): the client's extended CONNECT
//! (`:protocol = websocket`) goes upstream as HTTP/1.1's `Upgrade: websocket` handshake,
//! with a key of keypool's own, and the upstream's `101` comes back as the `200` that opens
//! the client's stream. The frames are the same on both sides, so the splice between them
//! is the HTTP/1.1 one; every other phase sees an ordinary upgrade.

use super::*;
use base64::Engine;
use http::header::{SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION};
use http::Method;

/// RFC 6455 §1.3: the accept value is the key and this GUID, hashed.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The key keypool sent upstream for an RFC 8441 WebSocket.
pub(super) struct UpstreamKey(String);

/// Rewrites an extended CONNECT for a WebSocket into an HTTP/1.1 upgrade request, in
/// place; `None` (and `req` untouched) for any other request.
pub(super) fn as_upgrade(req: &mut Request<ClientBody>) -> Option<UpstreamKey> {
    let websocket = req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    if !websocket {
        return None;
    }
    let mut nonce = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).ok()?;
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    *req.method_mut() = Method::GET;
    let h = req.headers_mut();
    restore_websocket_upgrade(h);
    h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_str(&key).ok()?);
    if !h.contains_key(SEC_WEBSOCKET_VERSION) {
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    }
    Some(UpstreamKey(key))
}

/// The answer for the HTTP/2 client: the upstream's `101` as a `200` without the
/// HTTP/1.1 handshake's headers, once its accept value proves it answered keypool's key
/// (else keypool's 502, in `dialect`); any other answer as it is (a refusal, a limit,
/// keypool's own).
pub(super) fn answer(
    mut resp: Response<ProxyBody>,
    key: &UpstreamKey,
    target: &Target,
    dialect: Option<Dialect>,
) -> Response<ProxyBody> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    let accepted = resp
        .headers()
        .get(SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|v| v.as_bytes() == accept_for(&key.0).as_bytes());
    if !accepted {
        // The count phase's splice then finds the client's upgrade refused, and ends.
        return KeypoolAnswer::Unreachable {
            dialect,
            host: target.host.clone(),
            port: target.port,
            reason: "its WebSocket handshake answered with a wrong Sec-WebSocket-Accept".into(),
            timed_out: false,
        }
        .into_response();
    }
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    for name in [
        http::header::CONNECTION,
        http::header::UPGRADE,
        SEC_WEBSOCKET_ACCEPT,
    ] {
        h.remove(name);
    }
    resp
}

fn accept_for(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switching(accept: &str) -> Response<ProxyBody> {
        let mut r = Response::new(crate::body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        restore_websocket_upgrade(h);
        h.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(accept).unwrap());
        h.insert(
            "sec-websocket-extensions",
            HeaderValue::from_static("permessage-deflate"),
        );
        r
    }

    #[test]
    fn a_101_that_answered_the_key_opens_the_stream_and_any_other_is_a_502() {
        let key = UpstreamKey("dGhlIHNhbXBsZSBub25jZQ==".into());
        let target = Target {
            scheme: "https",
            host: "api.openai.com".into(),
            port: 443,
            client: None,
        };
        let answer = |r, key: &UpstreamKey| answer(r, key, &target, Some(Dialect::Openai));
        let ok = answer(switching("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), &key);
        assert_eq!(ok.status(), StatusCode::OK);
        for gone in ["connection", "upgrade", "sec-websocket-accept"] {
            assert!(!ok.headers().contains_key(gone), "{gone}");
        }
        assert_eq!(
            ok.headers()["sec-websocket-extensions"],
            "permessage-deflate"
        );
        let wrong = answer(switching("bm90IHRoZSBhY2NlcHQ="), &key);
        assert_eq!(wrong.status(), StatusCode::BAD_GATEWAY);
        let mut limited = Response::new(crate::body::empty());
        *limited.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            answer(limited, &key).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        // RFC 6455 §1.3's own example.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
