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

/// How long an OAuth account sits out when its token endpoint fails for a while.
const TOKEN_ENDPOINT_COOLDOWN: Duration = Duration::from_secs(30);

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

pub async fn handle(
    req: Request<Incoming>,
    target: Arc<Target>,
    state: Arc<State>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string(); // never the query: it may hold a key
    let served = pipeline(req, &target, &state).await;
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

async fn pipeline(mut req: Request<Incoming>, target: &Target, state: &State) -> Served {
    let client_upgrade = is_websocket_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let live = state.live();
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
            Err(e) => bad_gateway(provider.as_ref().map(|p| p.dialect), target, &e),
        };
        return Served {
            response,
            provider,
            account: None,
            attempts: 1,
        };
    };

    let limit = state.limits.replay_body_bytes();
    let mut body = match RequestBody::read(body, limit, content_length(&parts)).await {
        Ok(b) => b,
        Err(e) => {
            let response = crate::server::text(
                StatusCode::BAD_REQUEST,
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
            Err(why) => {
                // Every account here is limited: continue in a fallback pool, then (if the
                // pool allows) hold for the first account to free, then answer 429.
                if let Some(next) = next_fallback(&live.pools, &visited, kind, &path) {
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
        let Some(mut cred) = credential(&account, state).await else {
            continue;
        };
        let mut refreshed = false;
        // One account: sent once, or twice when its token was refused and refreshed.
        let (resp, outcome) = loop {
            attempts += 1;
            let edit = Edit {
                provider: &provider,
                account: &account,
                cred: &cred,
            };
            let req = upstream_request(
                &parts,
                target,
                Some(edit),
                body.for_attempt(|b| cred.edit_body(b)),
            );
            account.stats.sent();
            let resp = match state.upstream.send(req).await {
                Ok(r) => r,
                Err(e) => {
                    let response = bad_gateway(Some(provider.dialect), target, &e);
                    return served(response, provider, account, attempts);
                }
            };
            let status = resp.status();
            account.learn(crate::quota::learn(provider.dialect, resp.headers(), now));
            if !needs_body(provider.dialect, status) {
                let bound = state.limits.first_event_timeout;
                if !stream_peek::applies(&resp, bound) {
                    let response =
                        finish(resp, Some(&account.name), attempts, client_upgrade, state);
                    return served(response, provider, account, attempts);
                }
                // Peek: a successful event stream is held until its first event, which
                // may still be a limit; that counts like the status it stands for.
                let peeked = stream_peek::first_event(resp, provider.dialect, bound, now).await;
                if !peeked.outcome.verdict.rotates() {
                    // A Responses stream names the response it creates: continuing it
                    // later (previous_response_id) must come back to this account.
                    state.affinity.answered(&first_pool.name, &account.name, &peeked.head, now);
                    let response = decorate(peeked.response, Some(&account.name), attempts, false);
                    return served(response, provider, account, attempts);
                }
                break (peeked.response, Some(peeked.outcome));
            }
            // An error status: read its (small) body to tell a limit from any other error.
            let (head, bytes) = match read_error_body(resp).await {
                Ok(x) => x,
                Err(e) => {
                    let response = bad_gateway(Some(provider.dialect), target, &*e);
                    return served(response, provider, account, attempts);
                }
            };
            account.learn(crate::quota::learn_error_body(
                provider.dialect,
                &bytes,
                now,
            ));
            let mut outcome = classify(provider.dialect, status, &head.headers, &bytes, now);
            if status == StatusCode::UNAUTHORIZED && matches!(cred, Cred::OAuth(_)) {
                // Subscription backends answer an expired token with bodies in no error
                // dialect (`{"detail":…}`, plain text); a 401 is enough.
                outcome.verdict = Verdict::AuthFailed;
                if outcome.detail == "401" {
                    outcome.detail = "401 token refused".into();
                }
            }
            let resp = Response::from_parts(head, full(bytes));
            // A refused subscription token: refresh once and send again on this account.
            if let (Verdict::AuthFailed, Cred::OAuth(used), Credential::OAuth(o)) =
                (outcome.verdict, &cred, &account.credential)
            {
                if !refreshed && body.replayable() {
                    refreshed = true;
                    let ctx = ctx(state);
                    match o.after_unauthorized(&ctx, &used.token).await {
                        Ok(fresh) => {
                            tracing::info!(account = %account.name, "{}: refreshed the token, sending again", outcome.detail);
                            cred = Cred::OAuth(fresh);
                            continue;
                        }
                        Err(e) => {
                            give_up(&account, e, state);
                            break (resp, None);
                        }
                    }
                }
            }
            break (resp, Some(outcome));
        };
        let Some(outcome) = outcome else {
            if !body.replayable() {
                let response = decorate(resp, Some(&account.name), attempts, false);
                return served(response, provider, account, attempts);
            }
            continue;
        };
        if !outcome.verdict.rotates() {
            let response = decorate(resp, Some(&account.name), attempts, false);
            return served(response, provider, account, attempts);
        }
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

/// When the request continues state held by one account (a `previous_response_id`, say)
/// and the pick landed elsewhere because that account is limited: why the client gets
/// that account's limit rather than a confusing error from another account.
fn pinned_elsewhere(
    pool: &Pool,
    affinity: &crate::sticky::Route,
    picked: &Account,
    now: std::time::SystemTime,
) -> Option<Unavailable> {
    let pin = affinity.pinned.as_ref()?;
    if pin.account == picked.name {
        return None;
    }
    let held_by = pool.members.iter().find(|a| a.name == pin.account)?;
    let (first_free_in, state) = match held_by.health(now) {
        crate::pool::Health::Cooling { until, detail, .. } => (
            Some(until.duration_since(now).unwrap_or_default()),
            format!("limited ({detail})"),
        ),
        crate::pool::Health::Disabled { reason } => (None, format!("disabled: {reason}")),
        crate::pool::Health::Ok => (Some(Duration::from_secs(1)), "busy".to_string()),
    };
    Some(Unavailable {
        first_free_in,
        summary: format!(
            "this request continues state that only account '{}' holds ({:?}), and it is {state}",
            pin.account, pin.reason
        ),
    })
}

/// The next pool of the fallback chain not yet visited that can serve the request: the
/// first pool's fallbacks in order, then theirs (breadth first).
fn next_fallback(
    pools: &crate::pool::Pools,
    visited: &[String],
    kind: Option<crate::providers::Kind>,
    path: &str,
) -> Option<Arc<Pool>> {
    visited
        .iter()
        .filter_map(|v| pools.by_name(v))
        .flat_map(|p| p.fallback.iter())
        .filter(|n| !visited.contains(n))
        .filter_map(|n| pools.by_name(n))
        .find(|p| p.serves(kind, path))
        .cloned()
}

/// How long to hold a request whose pool is all limited, if the pool holds at all and the
/// first account frees within what is left of `hold_max`.
fn hold_for(pool: &Pool, why: &Unavailable, held: Duration, replayable: bool) -> Option<Duration> {
    let max = pool.hold_max?;
    let wait = why.first_free_in?.max(Duration::from_millis(10));
    (replayable && held + wait <= max).then_some(wait)
}

/// The credential one attempt sends.
enum Cred {
    Key(SecretString),
    OAuth(Access),
}

impl Cred {
    fn edit_body(&self, body: &bytes::Bytes) -> Option<bytes::Bytes> {
        match self {
            Cred::Key(_) => None,
            Cred::OAuth(a) => edit::body(a.flavor, body, a),
        }
    }
}

fn ctx(state: &State) -> Ctx<'_> {
    Ctx {
        upstream: &state.upstream,
        clock: &*state.clock,
        store: &state.store,
    }
}

/// The account's credential for this attempt; `None` (and the account set aside) when it
/// has none now.
async fn credential(account: &Account, state: &State) -> Option<Cred> {
    match &account.credential {
        Credential::Key(k) => k.clone().map(Cred::Key),
        Credential::OAuth(o) => match o.access(&ctx(state)).await {
            Ok(a) => Some(Cred::OAuth(a)),
            Err(e) => {
                give_up(account, e, state);
                None
            }
        },
    }
}

fn give_up(account: &Account, e: AccessError, state: &State) {
    match e {
        AccessError::NeedsLogin(reason) => account.disable(reason),
        AccessError::Unavailable(reason) => {
            tracing::warn!(account = %account.name, "cannot get a token now: {reason}");
            account.cool(TOKEN_ENDPOINT_COOLDOWN, state.clock.now(), reason);
        }
    }
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

struct Edit<'a> {
    provider: &'a Provider,
    account: &'a Account,
    cred: &'a Cred,
}

/// The request as it goes upstream: hop-by-hop headers gone, the client's credential
/// replaced by the account's, HTTP/1.1 with an absolute URI for the pooled client.
fn upstream_request(
    parts: &Parts,
    target: &Target,
    edit: Option<Edit<'_>>,
    body: ProxyBody,
) -> Request<ProxyBody> {
    let mut headers = parts.headers.clone();
    let websocket = is_websocket_upgrade(&headers);
    strip_hop_by_hop(&mut headers);
    // keypool already answered the client's `Expect: 100-continue` by reading the body.
    headers.remove(http::header::EXPECT);
    if websocket {
        restore_websocket_upgrade(&mut headers);
    }
    let mut path = parts.uri.path().to_string();
    let mut query = parts.uri.query().map(str::to_string);
    // Copilot accounts live on different API hosts (individual, business, enterprise).
    let mut rehomed = None;
    if let Some(e) = edit {
        let (scheme, secret) = match e.cred {
            Cred::Key(k) => (&e.provider.auth, k.expose_secret()),
            Cred::OAuth(a) => (&AuthScheme::Bearer, a.token.expose_secret()),
        };
        match scheme.apply(&mut headers, query.as_deref(), secret) {
            Ok(edited) => query = edited.query,
            Err(_) => {
                // resolve() refuses control characters, so this cannot happen; if it
                // did, sending without a credential is safer than sending the client's.
                tracing::warn!(account = %e.account.name, "the credential cannot be sent as an HTTP header");
            }
        }
        match e.cred {
            Cred::Key(_) => {
                edit::headers_for_key(&mut headers);
                if let Some(p) = e
                    .provider
                    .rewrite_path(&path, e.account.account_id.as_deref())
                {
                    path = p;
                }
            }
            Cred::OAuth(a) => {
                edit::headers(a.flavor, &mut headers, a);
                rehomed = a
                    .api_base
                    .as_deref()
                    .and_then(|b| b.parse::<Uri>().ok())
                    .and_then(|u| Target::from_absolute_uri(&u))
                    .filter(|t| t.host != target.host);
            }
        }
    }
    let target = rehomed.as_ref().unwrap_or(target);
    let authority = target.authority();
    if let Ok(h) = HeaderValue::from_str(&authority) {
        headers.insert(HOST, h);
    }
    let uri = match &query {
        Some(q) => format!("{}://{authority}{path}?{q}", target.scheme),
        None => format!("{}://{authority}{path}", target.scheme),
    };
    // An edited body may have changed length.
    if let Some(n) = http_body::Body::size_hint(&body).exact() {
        if headers.contains_key(CONTENT_LENGTH) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri.parse().unwrap_or_else(|_| parts.uri.clone());
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    req
}

/// The upstream answer on its way to the client, streamed as it arrives. A `101` also
/// joins the two upgraded connections.
fn finish(
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

fn decorate(
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
fn all_limited(provider: &Provider, pool: &Pool, why: &Unavailable) -> Response<ProxyBody> {
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

fn bad_gateway(
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
const ERROR_BODY_CAP: usize = 1 << 20;

async fn read_error_body(
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

fn content_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
