//! The answers keypool gives the client: the upstream's (decorated, spliced for a
//! WebSocket), or its own when every account is limited or the upstream is unreachable.

use super::*;

/// The upstream answer on its way to the client, streamed as it arrives. A `101` also
/// joins the two upgraded connections.
pub(super) fn finish(
    mut resp: Response<Incoming>,
    account: Option<&str>,
    attempts: usize,
    client: Option<OnUpgrade>,
    state: &State,
) -> Response<ProxyBody> {
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switching {
        if let Some(client) = client {
            let upstream = hyper::upgrade::on(&mut resp);
            let (idle, shutdown) = (state.limits.tunnel_idle_timeout, state.shutdown.clone());
            state.tasks.spawn(async move {
                match tokio::try_join!(client, upstream) {
                    Ok((c, u)) => splice(TokioIo::new(c), TokioIo::new(u), idle, shutdown).await,
                    Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
                }
            });
        }
    }
    decorate(resp.map(incoming), account, attempts, switching)
}

pub(super) fn decorate(
    mut resp: Response<ProxyBody>,
    account: Option<&str>,
    attempts: usize,
    upgrade: bool,
) -> Response<ProxyBody> {
    let h = resp.headers_mut();
    strip_hop_by_hop(h);
    if upgrade {
        restore_websocket_upgrade(h);
    }
    if let Some(name) = account.and_then(|a| HeaderValue::from_str(a).ok()) {
        h.insert("x-keypool-account", name);
    }
    h.insert("x-keypool-attempts", HeaderValue::from(attempts));
    resp
}

/// Every account is cooling or disabled: answer in the provider's own error shape so
/// the client's SDK reports it like any limit, and say when to come back.
pub(super) fn all_limited(
    provider: &Provider,
    pool: &Pool,
    why: &Unavailable,
) -> Response<ProxyBody> {
    let (status, kind, message) = match why.first_free_in {
        Some(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RateLimit,
            format!(
                "keypool: every account in pool '{}' is limited: {}. The first frees in {}s.",
                pool.name,
                why.summary,
                ceil_secs(wait).max(1)
            ),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            ErrorKind::Auth,
            format!(
                "keypool: no usable account in pool '{}': {}. Do what each reason says (fix the key, or log in again), then `keypool reload`.",
                pool.name, why.summary
            ),
        ),
    };
    let mut resp = Response::new(full(error_response_body(provider.dialect, kind, &message)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(wait) = why.first_free_in {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(ceil_secs(wait).max(1)));
    }
    decorate(resp, None, 0, false)
}

pub(super) fn bad_gateway(
    dialect: Option<Dialect>,
    target: &Target,
    e: &(dyn std::error::Error + 'static),
) -> Response<ProxyBody> {
    let reason = describe_error(e);
    tracing::warn!(host = %target.host, "upstream request failed: {reason}");
    let message = format!(
        "keypool: cannot reach {}:{}: {reason}",
        target.host, target.port
    );
    let mut resp = match dialect {
        Some(d) => {
            let mut r = Response::new(full(error_response_body(
                d,
                ErrorKind::BadGateway,
                &message,
            )));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        None => crate::server::text(StatusCode::BAD_GATEWAY, format!("{message}\n")),
    };
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}

/// Error bodies are small; a cap keeps a misbehaving upstream from filling memory.
pub(super) const ERROR_BODY_CAP: usize = 1 << 20;

pub(super) async fn read_error_body(
    resp: Response<Incoming>,
) -> Result<(http::response::Parts, bytes::Bytes), crate::body::BoxError> {
    let (mut head, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, ERROR_BODY_CAP)
        .collect()
        .await?
        .to_bytes();
    // The body is now whole; its length replaces any transfer framing.
    head.headers.remove(http::header::TRANSFER_ENCODING);
    head.headers
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok((head, bytes))
}
