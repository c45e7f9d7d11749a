//! The open phase: where a request goes, its body read so it can be replayed, and the
//! account its conversation belongs with.

use super::*;

/// What opening a request found: an exchange for the pool's accounts, or an answer
/// already (no pool serves it, or its body could not be read).
pub(super) enum Opened<'a> {
    Pooled(Box<Exchange<'a>>),
    Answered(Box<Served>),
}

impl<'a> Exchange<'a> {
    /// Runs first, once per request. Routes it to the pool that serves its provider, kind
    /// and path; a request no pool serves (not a provider, outside the swap scope, no
    /// accounts) goes out here once with the client's own credential.
    pub(super) async fn open(
        mut req: Request<ClientBody>,
        target: &'a Target,
        state: &'a State,
        live: Arc<crate::state::Live>,
    ) -> Opened<'a> {
        let client_upgrade =
            is_websocket_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let provider = live.registry.for_host(&target.host).cloned();
        let kind = provider.as_ref().and_then(|p| p.client_kind(req.headers()));
        let path = req.uri().path().to_string();
        let route = provider.as_ref().and_then(|p| {
            live.pool_for(&p.id, target.client.as_deref())
                .filter(|pool| pool.serves(kind, &path))
                .map(|pool| (p.clone(), pool.clone()))
        });
        let (parts, body) = req.into_parts();
        let Some((provider, pool)) = route else {
            let served = passthrough(parts, body, provider, target, state, client_upgrade);
            return Opened::Answered(Box::new(served.await));
        };
        let body = match read_body(body, &parts, state).await {
            Ok(body) => body,
            Err(answer) => {
                return Opened::Answered(Box::new(Served {
                    response: answer.into_response(),
                    provider: Some(provider),
                    account: None,
                    attempts: 0,
                    meta: Meta::default(),
                }))
            }
        };
        let dialect = provider.dialect_for(&path);
        let affinity = state.affinity.route(
            &pool.name,
            dialect,
            &parts.headers,
            body.bytes(),
            state.clock.now(),
        );
        Opened::Pooled(Box::new(Exchange {
            state,
            live,
            target,
            parts,
            provider,
            dialect,
            kind,
            path,
            body,
            client_upgrade,
            affinity,
            first_pool: pool.clone(),
            visited: vec![pool.index],
            tried: Vec::with_capacity(pool.members.len()),
            pool,
            held: Duration::ZERO,
            attempts: 0,
            broken: Vec::new(),
            refusals: Vec::new(),
        }))
    }
}

/// A request no pool serves: sent once as the client made it, answered as it comes.
async fn passthrough(
    parts: Parts,
    body: ClientBody,
    provider: Option<Arc<Provider>>,
    target: &Target,
    state: &State,
    client_upgrade: Option<OnUpgrade>,
) -> Served {
    let req = upstream_request(&parts, target, None, incoming(body));
    let response = match state.upstream.send(req).await {
        Ok(r) => finish(r, None, 1, client_upgrade),
        Err(e) => {
            let dialect = provider.as_ref().map(|p| p.dialect_for(parts.uri.path()));
            KeypoolAnswer::not_sent(dialect, target, &e).into_response()
        }
    };
    Served {
        response,
        provider,
        account: None,
        attempts: 1,
        meta: Meta::default(),
    }
}

/// The request body, buffered up to the replay limit (streamed beyond it); the client's
/// answer when it cannot be read.
async fn read_body(
    body: ClientBody,
    parts: &Parts,
    state: &State,
) -> Result<RequestBody, KeypoolAnswer> {
    let limit = state.limits.replay_body_bytes();
    let idle = state.limits.handshake_timeout;
    RequestBody::read(body, limit, content_length(parts), idle)
        .await
        .map_err(|e| KeypoolAnswer::BodyUnreadable {
            stalled: e.is::<crate::body::Stalled>(),
            reason: e.to_string(),
        })
}
