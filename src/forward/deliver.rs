//! The deliver phase: the answer on its way to the client, decorated with the account
//! and attempts (spliced to the upstream for a WebSocket), and the conversation's account
//! remembered.

use super::*;

impl Exchange<'_> {
    /// Runs last, once: tells affinity which account served the conversation (or failed
    /// it), and hands the answer to the request log line.
    pub(super) fn deliver(
        &self,
        response: Response<ProxyBody>,
        account: Option<Arc<Account>>,
    ) -> Served {
        if let Some(account) = &account {
            let ok = response.status().is_success()
                || response.status() == StatusCode::SWITCHING_PROTOCOLS;
            let pool = &self.first_pool.name;
            let now = self.state.clock.now();
            let moved = (self.state.affinity).served(pool, &self.affinity, &account.name, ok, now);
            if let Some(m) = moved {
                tracing::info!("{m}");
            }
        }
        Served {
            response,
            provider: Some(self.provider.clone()),
            account,
            attempts: self.attempts,
            meta: Meta {
                pool: Some(self.pool.name.clone()),
                model: crate::usage::read::request_model(&self.path, Some(self.body.bytes())),
                refusals: self.refusals.clone(),
            },
        }
    }
}

/// The upstream answer on its way to the client, streamed as it arrives. A `101` also
/// joins the two upgraded connections.
pub(super) fn finish(
    mut resp: Response<Incoming>,
    account: Option<&str>,
    attempts: usize,
    client: Option<OnUpgrade>,
) -> Response<ProxyBody> {
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let splice = match client {
        Some(client) if switching => {
            let upstream = hyper::upgrade::on(&mut resp);
            let extensions = resp
                .headers()
                .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Some(PendingSplice::new(client, upstream, extensions))
        }
        _ => None,
    };
    let mut resp = decorate(resp.map(incoming), account, attempts, switching);
    // The count phase joins the two sides, once it can read the server's.
    if let Some(s) = splice {
        resp.extensions_mut().insert(s);
    }
    resp
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
