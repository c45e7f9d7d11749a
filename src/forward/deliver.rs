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
