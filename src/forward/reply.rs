//! keypool's own answers: every account limited, the upstream unreachable or broken
//! before answering, an error body too large to pass on.

use super::*;

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

/// The upstream could not be reached, or the request failed before any answer where no
/// other account can be tried: a 502, or a 504 when it was a timeout.
pub(super) fn bad_gateway(
    dialect: Option<Dialect>,
    target: &Target,
    e: &(dyn std::error::Error + 'static),
) -> Response<ProxyBody> {
    let reason = describe_error(e);
    tracing::warn!(host = %target.host, "upstream request failed: {reason}");
    let timed_out = crate::upstream::is_timeout(e);
    let message = format!(
        "keypool: cannot reach {}:{}: {reason}; fix: {}",
        target.host,
        target.port,
        if timed_out {
            "check the network; if the provider is only slow, raise [upstream] connect_timeout or read_timeout"
        } else {
            "check the network, a firewall or a corporate proxy (its CA goes in [upstream] extra_ca)"
        }
    );
    gateway_answer(dialect, timed_out, message)
}

/// Every account tried broke the same way before its answer began (a reset, the read
/// timeout, a broken stream before its first event): a 504 when the last was a timeout,
/// else a 502, saying what happened and what to do.
pub(super) fn broke(
    dialect: Dialect,
    target: &Target,
    tried: &[(String, Broken)],
    read_timeout: Duration,
) -> Response<ProxyBody> {
    let Some((_, last)) = tried.last() else {
        unreachable!("broke() is called after a failed attempt");
    };
    let accounts: Vec<&str> = tried.iter().map(|(a, _)| a.as_str()).collect();
    let (what, fix) = if last.timed_out {
        (
            format!("sent nothing for {}s", read_timeout.as_secs()),
            "if the provider is only slow, raise [upstream] read_timeout; else check the network",
        )
    } else {
        (
            "broke the connection".to_string(),
            "check the network and the provider's status, then retry",
        )
    };
    let message = format!(
        "keypool: {}:{} {what} before its answer began ({}); tried account{} {}; fix: {fix}",
        target.host,
        target.port,
        last.reason,
        if accounts.len() == 1 { "" } else { "s" },
        accounts.join(", "),
    );
    tracing::warn!(host = %target.host, "{message}");
    gateway_answer(Some(dialect), last.timed_out, message)
}

/// An error answer larger than keypool reads: no provider sends one, and replaying the
/// request elsewhere would only repeat it.
pub(super) fn oversized_error(
    dialect: Dialect,
    target: &Target,
    status: StatusCode,
) -> Response<ProxyBody> {
    let message = format!(
        "keypool: {}:{} answered {} with a body over {} KiB, which keypool does not pass on; fix: retry later, and report it to the provider if it persists",
        target.host,
        target.port,
        status.as_u16(),
        ERROR_BODY_CAP / 1024,
    );
    tracing::warn!(host = %target.host, "{message}");
    gateway_answer(Some(dialect), false, message)
}

/// keypool's own 502 (or 504) in the provider's error shape, plain text where the host
/// is no provider's.
fn gateway_answer(
    dialect: Option<Dialect>,
    timed_out: bool,
    message: String,
) -> Response<ProxyBody> {
    let (status, kind) = if timed_out {
        (StatusCode::GATEWAY_TIMEOUT, ErrorKind::GatewayTimeout)
    } else {
        (StatusCode::BAD_GATEWAY, ErrorKind::BadGateway)
    };
    let mut resp = match dialect {
        Some(d) => {
            let mut r = Response::new(full(error_response_body(d, kind, &message)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        None => crate::server::text(status, format!("{message}\n")),
    };
    *resp.status_mut() = status;
    resp
}
