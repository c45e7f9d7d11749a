//! CONNECT: intercept provider hosts, tunnel everything else blind.

use crate::body::text;
use crate::body::{empty, ProxyBody};
use crate::client_conn::ClientBody;
use crate::splice::splice;
use crate::state::State;
use crate::target::{plausible_host, Target};
use crate::{intercept, upstream};
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

pub async fn connect(
    req: Request<ClientBody>,
    state: Arc<State>,
    client: Option<Arc<str>>,
) -> Response<ProxyBody> {
    let Some(target) = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host(), a.port_u16()?)))
        .filter(|(host, port)| *port != 0 && plausible_host(host))
    else {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "keypool: CONNECT needs host:port (got '{}'); for HTTPS that is host:443\n",
                req.uri()
            ),
        );
    };
    let target = Target {
        scheme: "https",
        host: target.0.trim_matches(['[', ']']).to_string(),
        port: target.1,
        client: client.clone(),
    };
    // Decrypt only hosts keypool has accounts for: interception gains nothing elsewhere,
    // and a tool that does not trust keypool's CA yet keeps working for them. Nor hosts
    // the CA cannot sign for (keypool warns): clients would reject the leaf.
    let live = state.live();
    let intercept = live
        .registry
        .for_host(&target.host)
        .is_some_and(|p| live.pool_for(&p.id, client.as_deref()).is_some())
        && state.minting().ca.permits(&target.host);
    if intercept {
        let st = state.clone();
        state.tasks.spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    intercept::serve(TokioIo::new(upgraded), Arc::new(target), st).await
                }
                Err(e) => tracing::debug!("CONNECT upgrade failed: {e}"),
            }
        });
        return Response::new(empty());
    }

    blind(req, state, target).await
}

/// A tunnel keypool does not look into: connected first, so an unreachable host is a 502
/// with a reason rather than a dead tunnel, and a refused one names the rule.
async fn blind(req: Request<ClientBody>, state: Arc<State>, target: Target) -> Response<ProxyBody> {
    let upstream = match state.upstream.connect_tcp(&target.host, target.port).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(host = %target.host, port = target.port, "tunnel: cannot connect: {e}");
            if let Some(refused) = crate::egress::Refused::find(&e) {
                return text(refused.status(), format!("{refused}\n"));
            }
            return text(
                StatusCode::BAD_GATEWAY,
                format!(
                    "keypool: cannot connect to {}:{}: {}\n",
                    target.host,
                    target.port,
                    upstream::describe_error(&e)
                ),
            );
        }
    };
    tracing::debug!(host = %target.host, port = target.port, "tunnel: blind");
    let st = state.clone();
    let open = state.metrics.opened(crate::metrics::Open::Tunnel);
    state.tasks.spawn(async move {
        let _open = open;
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                splice(
                    TokioIo::new(upgraded),
                    upstream,
                    st.limits.tunnel_idle_timeout,
                    st.shutdown.clone(),
                )
                .await
            }
            Err(e) => tracing::debug!("CONNECT upgrade failed: {e}"),
        }
    });
    Response::new(empty())
}
