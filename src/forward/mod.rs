//! The request pipeline, read top to bottom: route → buffer → pick an account → rewrite
//! → send → classify (an error status, or a stream's first event) → (rotate and replay)
//! or stream the answer back.

use crate::body::{full, incoming, ProxyBody, RequestBody};
use crate::headers::{is_websocket_upgrade, restore_websocket_upgrade, strip_hop_by_hop};
use crate::oauth::account::{Access, AccessError, Ctx};
use crate::oauth::edit;
use crate::pool::{ceil_secs, Account, Credential, Pool, Unavailable};
use crate::providers::{
    classify, error_response_body, needs_body, AuthScheme, Dialect, ErrorKind, Provider, Verdict,
};
use crate::splice::splice;
use crate::state::State;
use crate::stream_peek;
use crate::upstream::describe_error;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod attempt;
mod credential;
mod reply;
mod request;
mod routing;
mod target;

use attempt::{Broken, Job, Turn};
use credential::{credential, ctx, give_up, Cred};
use reply::{all_limited, bad_gateway, broke, decorate, finish, oversized_error, read_error_body};
use request::{upstream_request, Edit};
use routing::{hold_for, next_fallback, pinned_elsewhere};

/// Where a request goes: the CONNECT target, or the host of an absolute-form URI.
#[derive(Debug, Clone)]
pub struct Target {
    pub scheme: &'static str,
    pub host: String,
    pub port: u16,
    /// The client the proxy URL named (`http://work@…`), selecting its pools.
    pub client: Option<Arc<str>>,
}

impl Target {
    pub fn from_absolute_uri(uri: &Uri) -> Option<Target> {
        let scheme = match uri.scheme_str()? {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let host = uri.host()?.trim_matches(['[', ']']).to_string();
        if !plausible_host(&host) {
            return None;
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Some(Target {
            scheme,
            host,
            port,
            client: None,
        })
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A host name or IP address, nothing else: a target with other bytes in it is refused
/// before any lookup.
pub fn plausible_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && !host.starts_with(['.', '-'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
}

pub async fn handle(
    req: Request<Incoming>,
    target: Arc<Target>,
    state: Arc<State>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string(); // never the query: it may hold a key
                                             // One provider table and set of pools for the whole request, reload or not.
    let live = state.live();
    let served = match target::refusal(&req, &target, &live) {
        Some(response) => Served {
            response,
            provider: None,
            account: None,
            attempts: 0,
        },
        None => pipeline(req, &target, &state, live).await,
    };
    tracing::info!(
        target: "keypool::request",
        provider = served.provider.as_ref().map_or("-", |p| p.id.as_str()),
        account = served.account.as_ref().map_or("-", |a| a.name.as_str()),
        status = served.response.status().as_u16(),
        attempts = served.attempts,
        ms = started.elapsed().as_millis() as u64,
        "{method} {}{path}",
        target.host,
    );
    Ok(served.response)
}

/// The answer for the client, and what the request log line says about it.
struct Served {
    response: Response<ProxyBody>,
    provider: Option<Arc<Provider>>,
    account: Option<Arc<Account>>,
    attempts: usize,
}

async fn pipeline(
    mut req: Request<Incoming>,
    target: &Target,
    state: &State,
    live: Arc<crate::state::Live>,
) -> Served {
    let client_upgrade = is_websocket_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
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
        // Not a provider, outside the swap scope, or no accounts for it: the request goes
        // out once with the client's own credential.
        let req = upstream_request(&parts, target, None, incoming(body));
        let response = match state.upstream.send(req).await {
            Ok(r) => finish(r, None, 1, client_upgrade, state),
            Err(e) => target::unreachable(provider.as_ref().map(|p| p.dialect), target, &e),
        };
        return Served {
            response,
            provider,
            account: None,
            attempts: 1,
        };
    };

    let limit = state.limits.replay_body_bytes();
    let idle = state.limits.handshake_timeout;
    let mut body = match RequestBody::read(body, limit, content_length(&parts), idle).await {
        Ok(b) => b,
        Err(e) => {
            let status = match e.is::<crate::body::Stalled>() {
                true => StatusCode::REQUEST_TIMEOUT,
                false => StatusCode::BAD_REQUEST,
            };
            let response = crate::server::text(
                status,
                format!("keypool: could not read the request body: {e}\n"),
            );
            return Served {
                response,
                provider: Some(provider),
                account: None,
                attempts: 0,
            };
        }
    };

    // Sticky conversations and account-bound state: which account this request should go to.
    let affinity = state.affinity.route(
        &pool.name,
        provider.dialect,
        &parts.headers,
        body.bytes(),
        state.clock.now(),
    );
    let first_pool = pool.clone();
    let served = async {
    let mut pool = pool;
    let mut visited = vec![pool.name.clone()];
    let mut held = Duration::ZERO;
    let mut tried = Vec::with_capacity(pool.members.len());
    let mut attempts = 0;
    let mut broken_on: Vec<(String, Broken)> = Vec::new();
    let mut client_upgrade = client_upgrade;
    let mut job = Job {
        parts: &parts,
        target,
        provider: &provider,
        state,
        first_pool: &first_pool.name,
        client_upgrade: &mut client_upgrade,
    };
    loop {
        let now = state.clock.now();
        let (idx, account) = match pool.pick(&tried, now, kind, &path, affinity.first_choice()) {
            Ok((idx, account)) => {
                if let Some(why) = pinned_elsewhere(&pool, &affinity, &account, now) {
                    return Served {
                        response: all_limited(&provider, &pool, &why),
                        attempts,
                        provider: Some(provider),
                        account: None,
                    };
                }
                (idx, account)
            }
            Err(_) if !broken_on.is_empty() => {
                // Every account left broke before answering: say so rather than "limited".
                let read_timeout = state.upstream.read_timeout();
                let response = broke(provider.dialect, target, &broken_on, read_timeout);
                return Served {
                    response: decorate(response, None, attempts, false),
                    attempts,
                    provider: Some(provider),
                    account: None,
                };
            }
            Err(why) => {
                // Every account here is limited: continue in a fallback pool, then (if the
                // pool allows) hold for the first account to free, then answer 429.
                let may_use = |p: &str| live.clients.may_use(p, target.client.as_deref());
                if let Some(next) = next_fallback(&live.pools, &visited, kind, &path, may_use) {
                    tracing::info!(pool = %pool.name, "every account is limited; continuing in pool '{}'", next.name);
                    visited.push(next.name.clone());
                    pool = next;
                    tried.clear();
                    continue;
                }
                if let Some(wait) = hold_for(&first_pool, &why, held, body.replayable()) {
                    tracing::info!(pool = %first_pool.name, "every account is limited; holding the request {}s", ceil_secs(wait));
                    tokio::time::sleep(wait).await;
                    held += wait;
                    pool = first_pool.clone();
                    visited.truncate(1);
                    tried.clear();
                    continue;
                }
                return Served {
                    response: all_limited(&provider, &pool, &why),
                    attempts,
                    provider: Some(provider),
                    account: None,
                };
            }
        };
        tried.push(idx);
        let Some(cred) = credential(&account, state).await else {
            continue;
        };
        let (resp, outcome) = match job.turn(&account, cred, &mut body, &mut attempts, now).await {
            Turn::Answer(response) => return served(response, provider, account, attempts),
            Turn::Refused(resp, outcome) => (resp, outcome),
            Turn::Broke(broken) => {
                // Nothing reached the client yet, and a reset or a silence says nothing
                // about this account's quota: it is not marked, the next one is tried.
                let why = format!("upstream failed before answering: {}", broken.reason);
                tracing::info!(account = %account.name, "{why}");
                account.stats.failed(now, &why);
                broken_on.push((account.name.clone(), broken));
                if !body.replayable() {
                    let read_timeout = state.upstream.read_timeout();
                    let response = broke(provider.dialect, target, &broken_on, read_timeout);
                    let response = decorate(response, None, attempts, false);
                    return served(response, provider, account, attempts);
                }
                continue;
            }
        };
        let Some(outcome) = outcome else {
            if !body.replayable() {
                let response = decorate(resp, Some(&account.name), attempts, false);
                return served(response, provider, account, attempts);
            }
            continue;
        };
        pool.mark(idx, &outcome, now);
        tracing::info!(
            provider = %provider.id,
            account = %account.name,
            "{}: account sits out {}s ({:?})",
            outcome.detail,
            ceil_secs(outcome.cooldown()),
            outcome.verdict,
        );
        if !body.replayable() {
            // The body was streamed upstream and is gone; the client gets the answer as is.
            let response = decorate(resp, Some(&account.name), attempts, false);
            return served(response, provider, account, attempts);
        }
    }
    }
    .await;
    if let Some(account) = &served.account {
        let ok = served.response.status().is_success()
            || served.response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let Some(m) = state.affinity.served(
            &first_pool.name,
            &affinity,
            &account.name,
            ok,
            state.clock.now(),
        ) {
            tracing::info!("{m}");
        }
    }
    served
}

fn served(
    response: Response<ProxyBody>,
    provider: Arc<Provider>,
    account: Arc<Account>,
    attempts: usize,
) -> Served {
    Served {
        response,
        provider: Some(provider),
        account: Some(account),
        attempts,
    }
}

fn content_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
