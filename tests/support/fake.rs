//! A fake LLM provider upstream: one HTTPS server (HTTP/1.1 + upgrades) that
//! answers for every provider host and routes by path, replying in the real
//! providers' wire shapes. What each request gets is decided per credential
//! with [`FakeProvider::set`]; every request is recorded for assertions.
//!
//! Test-control routes (`/v1/held`, `/v1/endless`) are driven by
//! Notify/watch/semaphores, never by sleeps.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role, Message};
use tokio_tungstenite::WebSocketStream;

use super::ca::TestCa;

/// The real host names the fake usually impersonates.
pub const PROVIDER_HOSTS: &[&str] = &[
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "llm.internal.example",
];

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
}

/// One request as the fake received it (recorded before any rejection).
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
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
    /// Listens on `127.0.0.1:0` with one leaf from `ca` valid for all `hosts`.
    pub async fn start(ca: &TestCa, hosts: &[&str]) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("fake addr");
        let state = Arc::new(State {
            behaviours: Mutex::default(),
            seen: Mutex::default(),
            sni: Mutex::default(),
            released: watch::channel(false).0,
            disconnects: Semaphore::new(0),
            disconnect_count: AtomicU64::new(0),
            detached: Mutex::default(),
        });
        let acceptor = TlsAcceptor::from(ca.server_config(hosts));
        let accept_loop = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
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
        let mut behaviours = self.state.behaviours.lock().unwrap();
        behaviours.insert(credential.to_string(), b);
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

    /// Lets every `/v1/held` stream finish, including ones that start later.
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
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA pem");
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca);
        for host in &self.hosts {
            builder = builder.resolve(host, self.addr);
        }
        builder.build().expect("reqwest client")
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

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let (acceptor, state) = (acceptor.clone(), state.clone());
        connections.spawn(async move {
            // A failed handshake is the client's business (e.g. an untrusted
            // CA); the fake just drops the connection.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            if let Some(sni) = tls.get_ref().1.server_name() {
                state.sni.lock().unwrap().push(sni.to_string());
            }
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Provider {
    OpenAi,
    Anthropic,
    Google,
}

impl Provider {
    fn for_path(path: &str) -> Provider {
        if path.starts_with("/v1/messages") {
            Provider::Anthropic
        } else if path.starts_with("/v1beta/") {
            Provider::Google
        } else {
            Provider::OpenAi
        }
    }
}

/// First credential found, in the order: `Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key`, `?key=`.
fn credential_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    bearer
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .map(str::to_string)
        .or_else(|| query_param(query, "key"))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
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
    let credential = credential_of(&parts.headers, query.as_deref());
    state.seen.lock().unwrap().push(SeenRequest {
        method: parts.method.to_string(),
        host: (parts.headers.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        credential: credential.clone(),
        body: body.clone(),
    });

    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ctx = Ctx::new(Provider::for_path(&path), &path, &json_body);

    let Some(credential) = credential else {
        return Ok(ctx.auth_error(None));
    };
    let behaviour = state.behaviours.lock().unwrap().get(&credential).cloned();
    match behaviour {
        None => return Ok(ctx.auth_error(Some(&credential))),
        Some(Behaviour::Ok) => {}
        Some(other) => return Ok(ctx.rejection(&other, &credential)),
    }

    let stream = json_body["stream"] == json!(true);
    let response = match (&parts.method, path.as_str()) {
        (&Method::POST, "/v1/chat/completions") if stream => {
            let usage = json_body["stream_options"]["include_usage"] == json!(true);
            ctx.sse(spawn_events(OpenAiStream::new(&ctx.model).events(usage)))
        }
        (&Method::POST, "/v1/chat/completions") => ctx.json(200, openai_completion(&ctx.model)),
        (&Method::POST, "/v1/messages") if stream => {
            ctx.sse(spawn_events(anthropic_events(&ctx.model)))
        }
        (&Method::POST, "/v1/messages") => ctx.json(200, anthropic_message(&ctx.model)),
        (&Method::POST, "/v1/held") => ctx.sse(held(&state, &ctx.model)),
        (&Method::POST, "/v1/endless") => ctx.sse(endless(&state, &ctx.model)),
        (&Method::GET, "/v1/responses") if is_websocket_upgrade(&parts.headers) => {
            websocket(&state, &ctx, &mut parts, credential)
        }
        (&Method::POST, p) if p.ends_with(":generateContent") => {
            ctx.json(200, gemini_response(&ctx.model, GEMINI_TEXT, true))
        }
        (&Method::POST, p) if p.ends_with(":streamGenerateContent") => {
            let chunks = gemini_chunks(&ctx.model);
            if query_param(query.as_deref(), "alt").as_deref() == Some("sse") {
                // The real API frames SSE events with CRLF: `data: {...}\r\n\r\n`
                // (Google's JS SDK matches `\n\n|\r\r|\r\n\r\n`), so a proxy
                // must not assume `\n\n`.
                let events = chunks
                    .iter()
                    .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")));
                ctx.sse(spawn_events(events.collect()))
            } else {
                // Without alt=sse the real API streams one JSON array.
                ctx.json(200, Value::Array(chunks))
            }
        }
        (method, path) => ctx.not_found(method, path),
    };
    Ok(response)
}

/// Per-request reply context: which provider shape to speak, the request id
/// (shared by header and, for Anthropic, body) and the model being "served".
struct Ctx {
    provider: Provider,
    request_id: String,
    model: String,
}

impl Ctx {
    fn new(provider: Provider, path: &str, body: &Value) -> Ctx {
        let model = match provider {
            Provider::OpenAi => body["model"].as_str().unwrap_or("gpt-4o"),
            Provider::Anthropic => body["model"].as_str().unwrap_or("claude-sonnet-4-20250514"),
            // /v1beta/models/{model}:{method}
            Provider::Google => path
                .strip_prefix("/v1beta/models/")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or("gemini-2.0-flash"),
        };
        let request_id = match provider {
            Provider::Anthropic => format!("req_011{}", fresh_id()),
            _ => format!("req_{}", fresh_id()),
        };
        Ctx {
            provider,
            request_id,
            model: model.to_string(),
        }
    }

    fn respond(
        &self,
        status: u16,
        content_type: &str,
        extra: &[(&str, String)],
        body: Body,
    ) -> Response<Body> {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(status).expect("status code"))
            .header(header::CONTENT_TYPE, content_type);
        builder = match self.provider {
            Provider::OpenAi => builder
                .header("x-request-id", &self.request_id)
                .header("openai-version", "2020-10-01")
                .header("openai-processing-ms", "42"),
            Provider::Anthropic => builder.header("request-id", &self.request_id),
            // Gemini sends no request id header.
            Provider::Google => builder,
        };
        for (name, value) in extra {
            builder = builder.header(*name, value);
        }
        builder.body(body).expect("response")
    }

    fn json_with(&self, status: u16, value: Value, extra: &[(&str, String)]) -> Response<Body> {
        let content_type = match self.provider {
            Provider::Google => "application/json; charset=UTF-8",
            _ => "application/json",
        };
        let body = Full::new(Bytes::from(value.to_string())).boxed();
        self.respond(status, content_type, extra, body)
    }

    fn json(&self, status: u16, value: Value) -> Response<Body> {
        let extra = match (self.provider, status) {
            // Real OpenAI successes carry rate-limit headers too; a proxy may
            // use them to rotate before hitting a 429.
            (Provider::OpenAi, 200) => openai_ratelimit_headers(499),
            _ => Vec::new(),
        };
        self.json_with(status, value, &extra)
    }

    fn sse(&self, body: Body) -> Response<Body> {
        let content_type = match self.provider {
            Provider::Google => "text/event-stream",
            _ => "text/event-stream; charset=utf-8",
        };
        self.respond(
            200,
            content_type,
            &[("cache-control", "no-cache".into())],
            body,
        )
    }

    fn openai_error(&self, status: u16, message: &str, kind: &str, code: Value) -> Response<Body> {
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        self.json_with(status, body, &[])
    }

    fn anthropic_error(&self, status: u16, kind: &str, message: &str) -> Response<Body> {
        let body = json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": self.request_id,
        });
        self.json_with(status, body, &[])
    }

    fn google_error(
        &self,
        code: u16,
        status: &str,
        message: &str,
        details: Value,
    ) -> Response<Body> {
        let mut error = json!({"code": code, "message": message, "status": status});
        if details != Value::Null {
            error["details"] = details;
        }
        self.json_with(code, json!({ "error": error }), &[])
    }

    /// Missing (`None`) or unknown/revoked credential.
    fn auth_error(&self, credential: Option<&str>) -> Response<Body> {
        match (self.provider, credential) {
            (Provider::OpenAi, None) => self.openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Value::Null,
            ),
            (Provider::OpenAi, Some(key)) => self.openai_error(
                401,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    redact(key)
                ),
                "invalid_request_error",
                json!("invalid_api_key"),
            ),
            (Provider::Anthropic, None) => {
                self.anthropic_error(401, "authentication_error", "x-api-key header is required")
            }
            (Provider::Anthropic, Some(_)) => {
                self.anthropic_error(401, "authentication_error", "invalid x-api-key")
            }
            (Provider::Google, None) => self.google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Value::Null,
            ),
            (Provider::Google, Some(_)) => self.google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }]),
            ),
        }
    }

    fn rejection(&self, behaviour: &Behaviour, credential: &str) -> Response<Body> {
        use Behaviour::*;
        match (self.provider, behaviour) {
            (_, Ok) => unreachable!("Ok is not a rejection"),
            (_, Unauthorized) => self.auth_error(Some(credential)),

            (Provider::OpenAi, RateLimited { retry_after_secs }) => {
                self.openai_rate_limited(*retry_after_secs)
            }
            (Provider::OpenAi, GoogleExhausted { .. }) => self.openai_rate_limited(None),
            (Provider::OpenAi, InsufficientQuota) => self.openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                json!("insufficient_quota"),
            ),
            (Provider::OpenAi, Overloaded) => self.openai_error(
                503,
                "The server is overloaded",
                "server_error",
                json!("server_is_overloaded"),
            ),

            (Provider::Anthropic, RateLimited { retry_after_secs }) => {
                self.anthropic_rate_limited(*retry_after_secs)
            }
            (Provider::Anthropic, GoogleExhausted { .. }) => self.anthropic_rate_limited(None),
            (Provider::Anthropic, InsufficientQuota) => self.anthropic_error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ),
            (Provider::Anthropic, Overloaded) => {
                self.anthropic_error(529, "overloaded_error", "Overloaded")
            }

            (Provider::Google, RateLimited { retry_after_secs }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                retry_after_secs.map(|s| format!("{s}s")),
            ),
            (Provider::Google, GoogleExhausted { retry_delay }) => self.google_exhausted(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some(retry_delay.clone()),
            ),
            (Provider::Google, InsufficientQuota) => {
                self.google_exhausted("GenerateRequestsPerDayPerProjectPerModel-FreeTier", None)
            }
            (Provider::Google, Overloaded) => self.google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                Value::Null,
            ),
        }
    }

    fn openai_rate_limited(&self, retry_after_secs: Option<u64>) -> Response<Body> {
        let mut headers = openai_ratelimit_headers(0);
        if let Some(secs) = retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        let message = format!(
            "Rate limit reached for {} in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
            self.model
        );
        let body = json!({"error": {
            "message": message, "type": "requests", "param": null, "code": "rate_limit_exceeded",
        }});
        self.json_with(429, body, &headers)
    }

    fn anthropic_rate_limited(&self, retry_after_secs: Option<u64>) -> Response<Body> {
        let reset = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let reset = reset
            .replace_nanosecond(0)
            .expect("zero nanos")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
        let mut headers = vec![
            ("anthropic-ratelimit-requests-limit", "50".to_string()),
            ("anthropic-ratelimit-requests-remaining", "0".to_string()),
            ("anthropic-ratelimit-requests-reset", reset),
        ];
        if let Some(secs) = retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        let body = json!({
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "This request would exceed your organization's rate limit of 50 requests per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
            },
            "request_id": self.request_id,
        });
        self.json_with(429, body, &headers)
    }

    fn google_exhausted(&self, quota_id: &str, retry_delay: Option<String>) -> Response<Body> {
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": self.model},
                "quotaValue": "15",
            }],
        })];
        if let Some(delay) = retry_delay {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": delay,
            }));
        }
        self.google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
            Value::Array(details),
        )
    }

    fn not_found(&self, method: &Method, path: &str) -> Response<Body> {
        match self.provider {
            Provider::OpenAi => self.openai_error(
                404,
                &format!("Invalid URL ({method} {path})"),
                "invalid_request_error",
                Value::Null,
            ),
            Provider::Anthropic => self.anthropic_error(404, "not_found_error", "Not Found"),
            Provider::Google => self.google_error(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
                Value::Null,
            ),
        }
    }
}

fn openai_ratelimit_headers(remaining_requests: u32) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit-requests", "500".into()),
        (
            "x-ratelimit-remaining-requests",
            remaining_requests.to_string(),
        ),
        ("x-ratelimit-reset-requests", "6m0s".into()),
        ("x-ratelimit-limit-tokens", "30000".into()),
        ("x-ratelimit-remaining-tokens", "29980".into()),
        ("x-ratelimit-reset-tokens", "1s".into()),
    ]
}

/// `sk-abc...wxyz` → `sk-ab*****wxyz`, like OpenAI's error message.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 9))
}

fn fresh_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!(
        "{nanos:016x}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A response body fed by a channel: each `send` becomes its own frame, and
/// hyper flushes it as soon as the body has nothing more ready. The sender
/// fails once hyper drops the body, i.e. the consumer went away.
fn channel_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(1);
    let frames = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok::<_, Infallible>(Frame::data(b))))
    });
    (tx, BodyExt::boxed(StreamBody::new(frames)))
}

/// Streams pre-rendered events, one frame each.
fn spawn_events(events: Vec<Bytes>) -> Body {
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    body
}

/// First event now; the rest once `release_held()` was called.
fn held(state: &State, model: &str) -> Body {
    let mut events = OpenAiStream::new(model).events(false);
    let first = events.remove(0);
    let mut released = state.released.subscribe();
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        let go = tokio::select! {
            r = released.wait_for(|r| *r) => r.is_ok(),
            _ = tx.closed() => false,
        };
        if go {
            for event in events {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    body
}

/// One OpenAI chunk every 50 ms until the consumer disconnects, which is
/// recorded for `wait_disconnect()`.
fn endless(state: &Arc<State>, model: &str) -> Body {
    let stream = OpenAiStream::new(model);
    let state = state.clone();
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        for n in 0u64.. {
            let delta = if n == 0 {
                json!({"role": "assistant", "content": ""})
            } else {
                json!({"content": format!(" tick{n}")})
            };
            let event = stream.event(delta, Value::Null);
            let sent = tokio::select! {
                _ = ticks.tick() => tx.send(event).await.is_ok(),
                _ = tx.closed() => false,
            };
            if !sent {
                break;
            }
        }
        state.disconnect_count.fetch_add(1, Ordering::SeqCst);
        state.disconnects.add_permits(1);
    });
    body
}

/// Codex-style Responses WebSocket: 101, then echo each text frame back with
/// the credential seen on the handshake.
fn websocket(
    state: &State,
    ctx: &Ctx,
    parts: &mut http::request::Parts,
    credential: String,
) -> Response<Body> {
    let key = parts
        .headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec());
    let on_upgrade = parts.extensions.remove::<OnUpgrade>();
    let (Some(key), Some(on_upgrade)) = (key, on_upgrade) else {
        return ctx.openai_error(
            400,
            "Invalid WebSocket handshake",
            "invalid_request_error",
            Value::Null,
        );
    };
    state.detached.lock().unwrap().spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        // Keep reading after a Close so tungstenite can send its Close reply.
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                // JSON text is embedded as JSON, anything else as a string.
                let data = serde_json::from_str::<Value>(text.as_str())
                    .unwrap_or_else(|_| Value::String(text.to_string()));
                let reply = json!({"type": "echo", "credential": credential, "data": data});
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut response = ctx.respond(101, "text/plain", &[], Empty::new().boxed());
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    headers.insert(header::UPGRADE, "websocket".parse().unwrap());
    headers.insert(header::CONNECTION, "Upgrade".parse().unwrap());
    let accept = derive_accept_key(&key);
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept.parse().unwrap());
    response
}

const OPENAI_FINGERPRINT: &str = "fp_fake0000";
const REPLY_PIECES: &[&str] = &["Hello", " from", " the", " fake", " provider", "."];
const GEMINI_TEXT: &str = "Hello from the fake provider.";

fn openai_completion(model: &str) -> Value {
    json!({
        "id": format!("chatcmpl-{}", fresh_id()),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": REPLY_PIECES.concat(),
                "refusal": null,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 6,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": OPENAI_FINGERPRINT,
    })
}

/// The shared envelope of one OpenAI `chat.completion.chunk` stream.
struct OpenAiStream {
    id: String,
    created: u64,
    model: String,
}

impl OpenAiStream {
    fn new(model: &str) -> OpenAiStream {
        OpenAiStream {
            id: format!("chatcmpl-{}", fresh_id()),
            created: unix_now(),
            model: model.to_string(),
        }
    }

    fn event(&self, delta: Value, finish_reason: Value) -> Bytes {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": OPENAI_FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    /// role chunk, content chunks, finish chunk, optional usage chunk, `[DONE]`.
    fn events(&self, include_usage: bool) -> Vec<Bytes> {
        let mut events = vec![self.event(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        )];
        for piece in REPLY_PIECES {
            events.push(self.event(json!({ "content": piece }), Value::Null));
        }
        events.push(self.event(json!({}), json!("stop")));
        if include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": OPENAI_FINGERPRINT,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
            });
            events.push(Bytes::from(format!("data: {chunk}\n\n")));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        events
    }
}

fn anthropic_message(model: &str) -> Value {
    json!({
        "id": format!("msg_01{}", fresh_id()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": REPLY_PIECES.concat()}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 6,
            "service_tier": "standard",
        },
    })
}

fn anthropic_events(model: &str) -> Vec<Bytes> {
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut start = anthropic_message(model);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);

    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": start}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        // The real ping's data carries a space: `{"type": "ping"}`.
        Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n"),
    ];
    for piece in REPLY_PIECES {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 6}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

fn gemini_response(model: &str, text: &str, last: bool) -> Value {
    let mut candidate = json!({
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
    });
    let mut usage = json!({"promptTokenCount": 5, "totalTokenCount": 5});
    if last {
        candidate["finishReason"] = json!("STOP");
        usage = json!({
            "promptTokenCount": 5,
            "candidatesTokenCount": 6,
            "totalTokenCount": 11,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
        });
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": fresh_id(),
    })
}

fn gemini_chunks(model: &str) -> Vec<Value> {
    let last = REPLY_PIECES.len() - 1;
    (REPLY_PIECES.iter().enumerate())
        .map(|(i, piece)| gemini_response(model, piece, i == last))
        .collect()
}
