//! A fake LLM provider upstream: one HTTPS server (HTTP/1.1 + upgrades) that
//! answers for every provider host and routes by path, replying in the real
//! providers' wire shapes. What each request gets is decided per credential
//! with [`FakeService::set`]; every request is recorded for assertions.
//!
//! Test-control routes (`/v1/held`, `/v1/endless`) and the comment-only
//! stream of [`StreamFault::CommentsUntilReleased`] are driven by
//! Notify/watch/semaphores, never by sleeps.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::https::{self, form_param, is_websocket_upgrade, Body};
use bodies::{
    anthropic_events, anthropic_message, gemini_chunks, gemini_response, openai_completion,
    responses_object, OpenAiStream, GEMINI_TEXT,
};
use faults::{event_stream, Wire};
use reply::Ctx;
use streams::{echo_websocket, endless, held};

pub use faults::RAW_SSE;

mod bodies;
mod compress;
mod faults;
mod reply;
mod streams;
mod sub_errors;
mod subscription;
pub mod usage;
pub mod vertex;

use super::ca::TestCa;
use super::guard::Within;

/// The real host names the fake usually impersonates.
pub const PROVIDER_HOSTS: &[&str] = &[
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "llm.internal.example",
];

/// Hosts of the subscription backends (ChatGPT Codex, Copilot, Cloud Code),
/// which the fake recognises by host rather than by path.
pub const SUBSCRIPTION_HOSTS: &[&str] = &[
    "chatgpt.com",
    "api.githubcopilot.com",
    "api.individual.githubcopilot.com",
    "api.business.githubcopilot.com",
    "api.enterprise.githubcopilot.com",
    "cloudcode-pa.googleapis.com",
];

/// Vertex AI's global host and a few regional ones (keypool owns every
/// `{region}-aiplatform.googleapis.com` by family; tests add the others they use).
pub const VERTEX_HOSTS: &[&str] = &[
    "aiplatform.googleapis.com",
    "us-central1-aiplatform.googleapis.com",
    "us-east5-aiplatform.googleapis.com",
    "europe-west1-aiplatform.googleapis.com",
    "europe-west4-aiplatform.googleapis.com",
    "asia-southeast1-aiplatform.googleapis.com",
];
/// Kimi For Coding's API host (`/coding/v1/messages`, `/coding/v1/usages`).
pub const KIMI_HOST: &str = "api.kimi.com";

/// `PROVIDER_HOSTS` and `SUBSCRIPTION_HOSTS` together.
pub fn every_host() -> Vec<&'static str> {
    PROVIDER_HOSTS
        .iter()
        .chain(SUBSCRIPTION_HOSTS)
        .copied()
        .collect()
}

/// Which backend a request is for; decides routes and wire shapes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    OpenAi,
    Anthropic,
    Google,
    /// `chatgpt.com/backend-api/...`
    Codex,
    /// `api.*githubcopilot.com`
    Copilot,
    /// `cloudcode-pa.googleapis.com/v1internal:...`
    CloudCode,
    /// `aiplatform.googleapis.com` and its regional hosts
    Vertex,
}

impl Service {
    /// Subscription backends by host; the API-key providers by path, so a
    /// test may send any of them to any host.
    fn for_request(host: Option<&str>, path: &str) -> Service {
        let host = host.map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
        match host.as_deref() {
            Some("chatgpt.com") => return Service::Codex,
            Some("cloudcode-pa.googleapis.com") => return Service::CloudCode,
            Some(h)
                if h == "aiplatform.googleapis.com"
                    || h.ends_with("-aiplatform.googleapis.com") =>
            {
                return Service::Vertex
            }
            Some(h) if h.ends_with(".githubcopilot.com") => return Service::Copilot,
            // Kimi For Coding: Anthropic's Messages API, its usage route beside it.
            Some(KIMI_HOST) => return Service::Anthropic,
            _ => {}
        }
        let path = api_path(path);
        if path.starts_with("/v1/messages") || path.starts_with("/api/oauth/") {
            Service::Anthropic
        } else if path.starts_with("/v1beta/") {
            Service::Google
        } else {
            Service::OpenAi
        }
    }
}

/// The bases gateways and plans put before their OpenAI- and Anthropic-compatible APIs
/// (`/anthropic/v1/messages` at MiniMax and Xiaomi MiMo, `/zen/v1/…` at OpenCode Zen,
/// `/zen/go/v1/…` at OpenCode Go, `/openai/v1/…` at Azure's v1 API and Bedrock's
/// OpenAI-compatible one, `/coding/v1/messages` at Kimi For Coding): the fake answers
/// below them as at the root, in the same wire shapes. Longest first.
const COMPAT_BASES: &[&str] = &["/zen/go", "/zen", "/anthropic", "/openai", "/coding"];

/// `path` as the fake routes it: without a [`COMPAT_BASES`] base before its `/v1/`,
/// Azure's legacy `/openai/deployments/{dep}/X` as `/v1/X`, and Cloudflare AI Gateway's
/// `/v1/{account}/{gateway}/{provider}/X` as the provider's own path (`openai/X` and
/// `compat/X` as `/v1/X`, `anthropic/v1/messages` as `/v1/messages`).
fn api_path(path: &str) -> std::borrow::Cow<'_, str> {
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        if let Some((_, op)) = rest.split_once('/') {
            return format!("/v1/{op}").into();
        }
    }
    if let Some(behind) = gateway_rest(path) {
        let (provider, rest) = behind.split_once('/').unwrap_or((behind, ""));
        return match provider {
            "anthropic" | "google-ai-studio" => format!("/{rest}").into(),
            _ => format!("/v1/{rest}").into(),
        };
    }
    COMPAT_BASES
        .iter()
        .find_map(|base| {
            path.strip_prefix(base)
                .filter(|rest| rest.starts_with("/v1/"))
        })
        .unwrap_or(path)
        .into()
}

/// What follows `/v1/{account}/{gateway}/` on Cloudflare AI Gateway, when there are
/// four segments or more (`/v1/chat/completions` is not a gateway path).
fn gateway_rest(path: &str) -> Option<&str> {
    let mut parts = path.strip_prefix("/v1/")?.splitn(3, '/');
    let (account, gateway, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let known = [
        "chat",
        "messages",
        "responses",
        "held",
        "endless",
        "raw-sse",
        "models",
    ];
    (!known.contains(&account) && !account.is_empty() && !gateway.is_empty() && rest.contains('/'))
        .then_some(rest)
}

/// Who a credential belongs to, for the checks real subscription backends
/// make beyond "is this token valid". Every field is optional: an unset one
/// is not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// The credential works only here (an Anthropic OAuth token is refused by
    /// chatgpt.com): elsewhere it gets that service's auth error.
    pub service: Option<Service>,
    /// Codex: a `ChatGPT-Account-ID` request header must equal it. Anthropic:
    /// the account uuid `/api/oauth/profile` reports.
    pub account_id: Option<String>,
    pub email: Option<String>,
    /// ChatGPT plan type / Claude subscription type, echoed by metadata routes.
    pub plan: Option<String>,
    /// Cloud Code: what `loadCodeAssist` reports, and the only `project` a
    /// generate call may name.
    pub project: Option<String>,
    /// Kimi: every call must carry the `X-Msh-*` device headers (a subscription token
    /// is refused without them).
    pub device_headers: bool,
}

/// A cheap handle for registering credentials from elsewhere (the fake OAuth
/// server registers every token it issues). Outlives the fake harmlessly.
#[derive(Clone)]
pub struct Registrar {
    state: Arc<State>,
}

impl Registrar {
    pub fn set(&self, credential: &str, b: Behaviour) {
        let mut behaviours = self.state.behaviours.lock().unwrap();
        behaviours.insert(credential.to_string(), b);
    }

    pub fn set_owner(&self, credential: &str, owner: Owner) {
        let mut owners = self.state.owners.lock().unwrap();
        owners.insert(credential.to_string(), owner);
    }
}

/// What the fake does for requests carrying a given credential. Each variant
/// is rendered in the wire shape of the provider the request path belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Ok,
    /// OpenAI/Anthropic: 429 with `retry-after` when set. Google: 429
    /// RESOURCE_EXHAUSTED with a RetryInfo of `"{secs}s"` when set.
    RateLimited {
        retry_after_secs: Option<u64>,
    },
    /// OpenAI 503, Anthropic 529, Google 503 UNAVAILABLE.
    Overloaded,
    /// OpenAI 429 `insufficient_quota`, Anthropic 400 "credit balance is too
    /// low", Google 429 RESOURCE_EXHAUSTED on a per-day quota without RetryInfo.
    InsufficientQuota,
    /// Google 429 RESOURCE_EXHAUSTED with `RetryInfo.retryDelay` verbatim
    /// (e.g. "34.5s"). On OpenAI/Anthropic paths: a plain 429 without `retry-after`.
    GoogleExhausted {
        retry_delay: String,
    },
    /// The provider's auth error, as for an unknown credential.
    Unauthorized,
    /// `200 text/event-stream` that goes wrong inside the stream. Requests
    /// that ask for no stream are answered as for `Ok`.
    Stream(StreamFault),
    /// Exactly this answer on every route: the status, the headers and the body
    /// as given, nothing added. For hostile upstreams (absurd reset numbers in
    /// headers, bodies or in-stream events).
    Verbatim {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// How a [`Behaviour::Stream`] stream goes wrong. The in-stream error is the
/// provider's limit error in the wire shape of the route: Anthropic
/// `event: error` with `overloaded_error`; Responses (`/v1/responses`, Codex)
/// `response.failed` with `rate_limit_exceeded`, after `response.created` and
/// `response.in_progress` as the real API sends them; chat completions
/// OpenRouter's `data: {"error":{"code":429,…}}`; Gemini
/// `data: {"error":{"code":429,"status":"RESOURCE_EXHAUSTED",…}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFault {
    /// The error is the first event (after the Responses lifecycle events).
    ErrorAsFirstEvent,
    /// The first event (with Responses: the first output event) as normal,
    /// then the error, then the end of the stream.
    ErrorAfterFirstEvent,
    /// `: keep-alive` comments (as DeepSeek sends while a request waits),
    /// one at once and one every 50 ms, until `release_held()`; then the
    /// normal stream.
    CommentsUntilReleased,
}

/// One request as the fake received it (recorded before any rejection).
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub version: http::Version,
    /// The `Host` header.
    pub host: Option<String>,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub credential: Option<String>,
    pub body: Bytes,
}

pub struct FakeProvider {
    addr: SocketAddr,
    ca_pem: String,
    hosts: Vec<String>,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

struct State {
    behaviours: Mutex<HashMap<String, Behaviour>>,
    owners: Mutex<HashMap<String, Owner>>,
    seen: Mutex<Vec<SeenRequest>>,
    sni: Mutex<Vec<String>>,
    /// Latch: once `true`, every held stream (current and future) completes.
    released: watch::Sender<bool>,
    /// One permit per noticed disconnect of an endless stream's consumer.
    disconnects: Semaphore,
    disconnect_count: AtomicU64,
    /// Tasks that outlive their HTTP connection (WebSockets); aborted on drop.
    detached: Mutex<JoinSet<()>>,
}

impl FakeProvider {
    /// Listens on `127.0.0.1:0` with one leaf from `ca` valid for all `hosts`, speaking
    /// HTTP/1.1 only.
    pub async fn start(ca: &TestCa, hosts: &[&str]) -> FakeProvider {
        FakeProvider::start_with(ca, hosts, ca.server_config(hosts)).await
    }

    /// As [`FakeProvider::start`], offering `h2` before `http/1.1`, as the providers'
    /// own front ends do.
    pub async fn start_offering_h2(ca: &TestCa, hosts: &[&str]) -> FakeProvider {
        let mut config = (*ca.server_config(hosts)).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        FakeProvider::start_with(ca, hosts, Arc::new(config)).await
    }

    async fn start_with(
        ca: &TestCa,
        hosts: &[&str],
        config: Arc<rustls::ServerConfig>,
    ) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("fake addr");
        let state = Arc::new(State {
            behaviours: Mutex::default(),
            owners: Mutex::default(),
            seen: Mutex::default(),
            sni: Mutex::default(),
            released: watch::channel(false).0,
            disconnects: Semaphore::new(0),
            disconnect_count: AtomicU64::new(0),
            detached: Mutex::default(),
        });
        let acceptor = TlsAcceptor::from(config);
        let (sni_state, handler_state) = (state.clone(), state.clone());
        let accept_loop = tokio::spawn(https::accept_loop(
            listener,
            acceptor,
            move |sni| sni_state.sni.lock().unwrap().push(sni.to_string()),
            move |req| handle(handler_state.clone(), req),
        ));
        FakeProvider {
            addr,
            ca_pem: ca.cert_pem(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            state,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, credential: &str, b: Behaviour) {
        self.registrar().set(credential, b);
    }

    pub fn set_owner(&self, credential: &str, owner: Owner) {
        self.registrar().set_owner(credential, owner);
    }

    /// The Cloud Code project of `credential`, keeping the rest of its owner.
    pub fn set_project(&self, credential: &str, project: &str) {
        let mut owners = self.state.owners.lock().unwrap();
        owners.entry(credential.to_string()).or_default().project = Some(project.to_string());
    }

    pub fn registrar(&self) -> Registrar {
        Registrar {
            state: self.state.clone(),
        }
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Credentials of all requests that carried one, in arrival order.
    pub fn credentials_seen(&self) -> Vec<String> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter().filter_map(|r| r.credential.clone()).collect()
    }

    /// SNI names of completed TLS handshakes, in order.
    pub fn sni_seen(&self) -> Vec<String> {
        self.state.sni.lock().unwrap().clone()
    }

    /// Lets every `/v1/held` stream finish, and every `CommentsUntilReleased` stream
    /// start its events, including ones that start later.
    pub fn release_held(&self) {
        self.state.released.send_replace(true);
    }

    /// Resolves once the fake noticed that the consumer of an endless stream
    /// went away. Each call consumes one such disconnect.
    pub async fn wait_disconnect(&self) {
        let permit = self
            .state
            .disconnects
            .acquire()
            .within("the fake noticing its stream's consumer went away")
            .await
            .expect("never closed");
        permit.forget();
    }

    /// Total endless-stream disconnects noticed so far.
    pub fn disconnects(&self) -> u64 {
        self.state.disconnect_count.load(Ordering::SeqCst)
    }

    /// A reqwest client that reaches this fake directly: every host resolves
    /// to `addr()` (reqwest uses the override's port when the URL has none)
    /// and only the test CA is trusted. System proxies are ignored.
    pub fn direct_client(&self) -> reqwest::Client {
        crate::support::https::direct_client(&self.ca_pem, self.addr, &self.hosts)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which closes every open
        // connection: the upstream vanishes as a whole.
        self.accept_loop.abort();
        self.state.detached.lock().unwrap().abort_all();
    }
}

/// First credential found, in the order: `Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key`, Azure's `api-key`, `?key=`, then a Cloudflare AI
/// Gateway token (`cf-aig-authorization: Bearer`) for a gateway without a provider key.
fn credential_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    bearer
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| header("api-key"))
        .map(str::to_string)
        .or_else(|| form_param(query, "key"))
        .or_else(|| {
            header("cf-aig-authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string)
        })
}

/// Cloudflare AI Gateway refuses a request to an authenticated gateway without
/// `cf-aig-authorization` (every gateway made since 2026-11-03), in the Cloudflare API's
/// envelope.
fn gateway_unauthorized(host: Option<&str>, headers: &HeaderMap) -> Option<Response<Body>> {
    let host = host?.split(':').next()?;
    if !host.eq_ignore_ascii_case("gateway.ai.cloudflare.com")
        || headers.contains_key("cf-aig-authorization")
    {
        return None;
    }
    let body = json!({"success": false, "result": [], "messages": [],
                      "error": [{"code": 2009, "message": "Unauthorized"}]});
    Some(Ctx::verbatim(
        401,
        &[("content-type".into(), "application/json".into())],
        &body.to_string(),
    ))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let host = (parts.headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let credential = credential_of(&parts.headers, query.as_deref());
    state.seen.lock().unwrap().push(SeenRequest {
        method: parts.method.to_string(),
        version: parts.version,
        host: host.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        credential: credential.clone(),
        body: body.clone(),
    });

    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let service = Service::for_request(host.as_deref(), &path);
    let ctx = Ctx::new(service, &path, &json_body);

    if let Some(refusal) = gateway_unauthorized(host.as_deref(), &parts.headers) {
        return Ok(refusal);
    }
    let Some(credential) = credential else {
        return Ok(ctx.auth_error(None));
    };
    if let Some(refusal) = ctx.misplaced_oauth_token(&parts.headers, &credential) {
        return Ok(refusal);
    }
    let behaviour = state.behaviours.lock().unwrap().get(&credential).cloned();
    let fault = match behaviour {
        None => return Ok(ctx.auth_error(Some(&credential))),
        Some(Behaviour::Ok) => None,
        Some(Behaviour::Stream(fault)) => Some(fault),
        Some(Behaviour::Verbatim {
            status,
            headers,
            body,
        }) => return Ok(Ctx::verbatim(status, &headers, &body)),
        Some(other) => return Ok(ctx.rejection(&other, &credential)),
    };
    let owner = (state.owners.lock().unwrap().get(&credential).cloned()).unwrap_or_default();
    if owner.service.is_some_and(|s| s != service) {
        return Ok(ctx.auth_error(Some(&credential)));
    }

    let compress = parts.headers.get("x-fake-compress").cloned();
    let req = subscription::Req {
        parts: &mut parts,
        query: query.as_deref(),
        body: &json_body,
        credential,
        owner,
        fault,
    };
    let response = match service {
        Service::Codex => subscription::codex(&state, &ctx, req),
        Service::Copilot => subscription::copilot(&ctx, req),
        Service::CloudCode => subscription::cloud_code(&ctx, req),
        Service::Vertex => vertex::route(&state, &ctx, req),
        _ if host_is(host.as_deref(), KIMI_HOST) => subscription::kimi(&state, &ctx, req),
        _ if path.starts_with("/api/oauth/") => subscription::anthropic_oauth(&ctx, req),
        _ => api_route(&state, &ctx, req),
    };
    Ok(compress::if_asked(compress, response).await)
}

/// Whether the `Host` header names `host` (with or without a port).
fn host_is(header: Option<&str>, host: &str) -> bool {
    header.is_some_and(|h| h.split(':').next().unwrap_or(h).eq_ignore_ascii_case(host))
}

/// The API-key providers' routes, which any host answers.
fn api_route(state: &Arc<State>, ctx: &Ctx, req: subscription::Req) -> Response<Body> {
    let stream = req.body["stream"] == json!(true);
    let method = req.parts.method.clone();
    let path = api_path(req.parts.uri.path()).into_owned();
    let sse = |wire, events| ctx.sse(event_stream(state, ctx, wire, events, req.fault));
    match (&method, path.as_str()) {
        // OpenRouter serves the same shape under `/api/v1`.
        (&Method::POST, "/v1/chat/completions" | "/api/v1/chat/completions") if stream => {
            let usage = req.body["stream_options"]["include_usage"] == json!(true);
            let events = OpenAiStream::new(&ctx.model).events(usage);
            sse(Wire::ChatCompletions, events)
        }
        (&Method::POST, "/v1/chat/completions" | "/api/v1/chat/completions") => {
            ctx.json(200, openai_completion(&ctx.model))
        }
        (&Method::POST, "/v1/messages") if stream => {
            sse(Wire::Anthropic, anthropic_events(&ctx.model))
        }
        (&Method::POST, "/v1/messages") => ctx.json(200, anthropic_message(&ctx.model)),
        (&Method::POST, "/v1/responses") if stream => {
            sse(Wire::Responses, faults::responses_sse(&ctx.model))
        }
        (&Method::POST, "/v1/responses") => ctx.json(200, responses_object(&ctx.model)),
        (&Method::POST, "/v1/held") => ctx.sse(held(state, &ctx.model)),
        (&Method::POST, "/v1/endless") => ctx.sse(endless(state, &ctx.model)),
        (&Method::POST, "/v1/raw-sse") => ctx.sse(faults::raw_sse()),
        (&Method::GET, "/v1/responses") if is_websocket_upgrade(&req.parts.headers) => {
            echo_websocket(state, ctx, req.parts, req.credential)
        }
        (&Method::POST, p) if p.ends_with(":generateContent") => {
            ctx.json(200, gemini_response(&ctx.model, GEMINI_TEXT, true))
        }
        (&Method::POST, p) if p.ends_with(":streamGenerateContent") => {
            let chunks = gemini_chunks(&ctx.model);
            if form_param(req.query, "alt").as_deref() == Some("sse") {
                sse(Wire::Gemini, gemini_sse(chunks))
            } else {
                // Without alt=sse the real API streams one JSON array.
                ctx.json(200, Value::Array(chunks))
            }
        }
        (method, path) => ctx.not_found(method, path),
    }
}

/// The real API frames SSE events with CRLF: `data: {...}\r\n\r\n` (Google's
/// JS SDK matches `\n\n|\r\r|\r\n\r\n`), so a proxy must not assume `\n\n`.
pub(super) fn gemini_sse(chunks: Vec<Value>) -> Vec<Bytes> {
    let events = chunks
        .iter()
        .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")));
    events.collect()
}
