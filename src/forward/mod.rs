//! The request pipeline, as named phases over one [`Exchange`], in the order a request
//! meets them:
//!
//! 1. **screen** (screen.rs): refuse what must go nowhere, before anything is looked up.
//! 2. **open** (open.rs): route to the provider's pool, read the body so it can be
//!    replayed, ask affinity which account it belongs with. A request no pool serves
//!    goes out here once, with the client's own credential.
//! 3. **pick** (pick.rs): the next account of the pool, unless the request is pinned to a
//!    limited one.
//! 4. **credential** (credential.rs): the account's key, or its subscription token.
//! 5. **attempt** (attempt.rs): rewrite and send, learn the quota, classify the answer (an
//!    error status, or a held stream's first event) and record what it says of the account.
//! 6. **decide** (decide.rs): the one retry decision: replay on the next account, go on in
//!    a fallback pool, hold for an account to free, deliver, or give up with keypool's
//!    own answer.
//! 7. **deliver** (deliver.rs): the answer on its way to the client, decorated.
//! 8. **count** (meter.rs): what the answer used, read as it passes, written to the
//!    ledger and the metrics when it ends.

use crate::body::{full, incoming, text, ProxyBody, RequestBody};
use crate::client_conn::ClientBody;
use crate::headers::{is_websocket_upgrade, restore_websocket_upgrade, strip_hop_by_hop};
use crate::oauth::account::{Access, AccessError, Ctx};
use crate::oauth::edit;
use crate::pool::{ceil_secs, Account, Credential, Pool, Unavailable};
use crate::providers::{
    classify, error_response_body, error_type_header, needs_body, AuthScheme, Dialect, ErrorKind,
    Provider, Verdict,
};
use crate::splice::splice;
use crate::state::State;
use crate::stream_peek;
use crate::target::Target;
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
use std::time::{Duration, Instant, SystemTime};

mod attempt;
mod credential;
mod decide;
mod deliver;
mod keypool_answer;
mod meter;
mod open;
mod pick;
mod request;
mod routing;
mod screen;
mod websocket_h2;

use attempt::{Broken, Turn, ERROR_BODY_CAP};
use credential::{credential, ctx, give_up, Cred};
use decide::{Next, Round, Unpicked};
use deliver::{decorate, finish};
use keypool_answer::KeypoolAnswer;
use meter::PendingSplice;
use open::Opened;
use request::{upstream_request, Edit};
use routing::{hold_for, next_fallback, pinned_elsewhere};

pub async fn handle(
    mut req: Request<ClientBody>,
    target: Arc<Target>,
    state: Arc<State>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let h2_websocket = websocket_h2::as_upgrade(&mut req);
    let method = req.method().clone();
    // Never the query: it may hold a key.
    let path = req.uri().path().to_string();
    // One provider table and set of pools for the whole request, reload or not.
    let live = state.live();
    let served = match screen::screen(&req, &target, &live) {
        Some(answer) => Served {
            response: answer.into_response(),
            provider: None,
            account: None,
            attempts: 0,
            meta: Meta::default(),
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
    let dialect = (h2_websocket.as_ref())
        .and(served.provider.as_ref())
        .map(|p| p.dialect_for(&path));
    let response = meter::count(served, &state, started);
    Ok(match h2_websocket {
        Some(key) => websocket_h2::answer(response, &key, &target, dialect),
        None => response,
    })
}

/// The answer for the client, and what the request log line says about it.
struct Served {
    response: Response<ProxyBody>,
    provider: Option<Arc<Provider>>,
    account: Option<Arc<Account>>,
    attempts: usize,
    meta: Meta,
}

/// What the ledger row says of the request beyond its answer.
#[derive(Default)]
struct Meta {
    pool: Option<String>,
    /// The model the request asked for (the answer's own name for it wins).
    model: Option<String>,
    /// Why each account passed over before the answer was passed over.
    refusals: Vec<&'static str>,
}

/// One pooled request on its way through the phases: what it asks, where it may go, and
/// what the rounds so far found. `open` makes it; every later phase takes it.
struct Exchange<'a> {
    state: &'a State,
    /// One provider table and set of pools for the whole request, reload or not.
    live: Arc<crate::state::Live>,
    target: &'a Target,
    /// The request head as the client sent it; each attempt rewrites a copy.
    parts: Parts,
    provider: Arc<Provider>,
    /// The dialect the provider's answers to this path speak.
    dialect: Dialect,
    kind: Option<crate::providers::Kind>,
    path: String,
    body: RequestBody,
    /// The client's side of a WebSocket upgrade, for the answer that switches protocols.
    client_upgrade: Option<OnUpgrade>,
    /// Sticky conversations and account-bound state: which account the request goes to.
    affinity: crate::sticky::Route,
    /// The pool the request started in: holding waits for it, pins are kept in it.
    first_pool: Arc<Pool>,
    /// The pool picked from now: the first, or a fallback.
    pool: Arc<Pool>,
    /// The pools entered so far, as indices into `live.pools.all`, the first one first.
    visited: Vec<usize>,
    /// How long the request has been held for an account to free.
    held: Duration,
    /// The accounts of `pool` picked already (by index).
    tried: Vec<usize>,
    /// Every send upstream, refreshed-token resends included.
    attempts: usize,
    /// The accounts whose connection broke before an answer began, and how.
    broken: Vec<(String, Broken)>,
    /// Why each account that refused (or broke) was passed over, in order.
    refusals: Vec<&'static str>,
}

async fn pipeline(
    req: Request<ClientBody>,
    target: &Target,
    state: &State,
    live: Arc<crate::state::Live>,
) -> Served {
    let mut x = match Exchange::open(req, target, state, live).await {
        Opened::Pooled(x) => x,
        Opened::Answered(served) => return *served,
    };
    loop {
        let round = x.round().await;
        match x.decide(round) {
            Next::Replay => {}
            Next::Fallback(pool) => x.fall_back(pool),
            Next::Hold(wait) => x.hold(wait).await,
            Next::Deliver(response, account) => return x.deliver(response, account),
            Next::GiveUp(answer, account) => return x.deliver(answer.into_response(), account),
        }
    }
}

impl Exchange<'_> {
    /// One account's round: pick it, get its credential, attempt the request on it.
    async fn round(&mut self) -> Round {
        let now = self.state.clock.now();
        let (idx, account) = match self.pick(now) {
            Ok(picked) => picked,
            Err(why) => return Round::Unpicked(why),
        };
        let Some(cred) = credential(&account, self.state).await else {
            return Round::NoCredential;
        };
        let turn = self.attempt(idx, &account, cred, now).await;
        Round::Turn(account, turn)
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
