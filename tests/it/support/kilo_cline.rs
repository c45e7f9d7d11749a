//! A fake api.kilo.ai and api.cline.bot over real TLS, speaking their wire as Kilo Code
//! and Cline see it (Kilo-Org/kilocode `device-auth`, cline/cline `ClineAuthProvider`):
//!
//! - Kilo: `POST /api/device-auth/codes` → `{code, verificationUrl, expiresIn}`; each
//!   `GET /api/device-auth/codes/{code}` takes the next scripted answer (202 pending,
//!   429 too many, 403 denied, 410 expired), then `{status: "approved", token,
//!   userEmail}`; the gateway (`/api/gateway/…`, `/api/openrouter/…`) answers a chat
//!   completion for a token it handed out and 401 for anything else, or OpenRouter's 402
//!   for a token whose credits are spent.
//! - Cline: `POST /api/v1/auth/token` trades a code the test minted for tokens,
//!   `POST /api/v1/auth/refresh` rotates them (a spent refresh token is refused with
//!   400 `{error}`), both in the `{success, data: {…, expiresAt (RFC 3339)}}` envelope;
//!   `/api/v1/chat/completions` wants `Bearer workos:<access>` and may be told to answer
//!   429 for one token.
//!
//! Every request is recorded. Nothing here waits on a timer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::ca::TestCa;
use super::https::{self, full, Body};

pub const HOSTS: &[&str] = &["api.kilo.ai", "kilocode.ai", "api.cline.bot"];
pub const KILO_CODE: &str = "KILO-7731";
pub const KILO_EMAIL: &str = "dev@kilo.example";

/// One scripted answer to a Kilo poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KiloPoll {
    Pending,
    /// 429 with `Retry-After` seconds.
    TooMany {
        retry_after: u64,
    },
    Denied,
    Expired,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub host: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    kilo_script: VecDeque<KiloPoll>,
    kilo_tokens: HashSet<String>,
    /// Kilo tokens whose gateway requests answer 402 (credits used up).
    kilo_spent: HashSet<String>,
    /// Cline: codes the test minted → the user they log in.
    cline_codes: HashMap<String, String>,
    /// Live access tokens → user; live refresh tokens → user.
    cline_access: HashMap<String, String>,
    cline_refresh: HashMap<String, String>,
    /// Seconds from issue until a Cline access token expires.
    cline_lifetime: u64,
    /// Access tokens whose chat requests answer 429.
    cline_limited: HashSet<String>,
    /// Every Cline (access, refresh) pair handed out, oldest first.
    cline_issued: Vec<(String, String)>,
    issued: u64,
}

pub struct FakeKiloCline {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept_loop: JoinHandle<()>,
}

impl Drop for FakeKiloCline {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl FakeKiloCline {
    pub async fn start(ca: &TestCa) -> FakeKiloCline {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            cline_lifetime: 600,
            ..State::default()
        }));
        let acceptor = TlsAcceptor::from(ca.server_config(HOSTS));
        let s = state.clone();
        let accept_loop = tokio::spawn(https::accept_loop(
            listener,
            acceptor,
            |_| {},
            move |req| handle(s.clone(), req),
        ));
        FakeKiloCline {
            addr,
            state,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connect_to(&self) -> Vec<String> {
        HOSTS
            .iter()
            .map(|h| format!("{h}:443:127.0.0.1:{}", self.addr.port()))
            .collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn kilo_script(&self, answers: &[KiloPoll]) {
        self.state.lock().unwrap().kilo_script = answers.iter().copied().collect();
    }

    /// A token the Kilo gateway takes (as if a login had handed it out).
    pub fn kilo_token(&self, token: &str) {
        self.state.lock().unwrap().kilo_tokens.insert(token.into());
    }

    /// A code the Cline authorize page would hand the browser for `user`.
    /// The gateway answers this token's requests as OpenRouter does a key without credits.
    pub fn kilo_spend(&self, token: &str) {
        self.state.lock().unwrap().kilo_spent.insert(token.into());
    }

    pub fn cline_code(&self, user: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.issued += 1;
        let code = format!("cline-code-{}-{user}", s.issued);
        s.cline_codes.insert(code.clone(), user.into());
        code
    }

    /// Tokens for `user` as a login would have left them: (access, refresh).
    pub fn cline_login(&self, user: &str) -> (String, String) {
        let mut s = self.state.lock().unwrap();
        let (a, r, _) = issue(&mut s, user);
        (a, r)
    }

    /// The newest Cline tokens it handed out: (access, refresh).
    pub fn cline_newest(&self) -> (String, String) {
        self.state
            .lock()
            .unwrap()
            .cline_issued
            .last()
            .cloned()
            .unwrap()
    }

    pub fn cline_lifetime(&self, secs: u64) {
        self.state.lock().unwrap().cline_lifetime = secs;
    }

    pub fn cline_limit(&self, access: &str) {
        self.state
            .lock()
            .unwrap()
            .cline_limited
            .insert(access.into());
    }
}

/// New Cline tokens for `user`: access, refresh and the expiry as RFC 3339.
fn issue(s: &mut State, user: &str) -> (String, String, String) {
    s.issued += 1;
    let n = s.issued;
    let access = format!("eyJ-cline-access-{n}-{user}");
    let refresh = format!("cline-refresh-{n}-{user}");
    s.cline_access.insert(access.clone(), user.into());
    s.cline_refresh.insert(refresh.clone(), user.into());
    s.cline_issued.push((access.clone(), refresh.clone()));
    let at = SystemTime::now() + std::time::Duration::from_secs(s.cline_lifetime);
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(
        at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128,
    )
    .unwrap()
    .format(&time::format_description::well_known::Rfc3339)
    .unwrap();
    (access, refresh, at)
}

fn envelope(access: &str, refresh: &str, expires_at: &str, user: &str) -> Value {
    json!({"success": true, "data": {
        "accessToken": access, "refreshToken": refresh, "tokenType": "Bearer",
        "expiresAt": expires_at,
        "userInfo": {"subject": null, "email": format!("{user}@cline.example"),
                     "name": user, "clineUserId": format!("usr-{user}"), "accounts": null}
    }})
}

fn reply(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .unwrap()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::to_string)
}

fn completion(model: &str) -> Value {
    json!({"id": "gen-1", "object": "chat.completion", "model": model,
           "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "hello"}}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    let path = parts.uri.path().to_string();
    let method = parts.method.to_string();
    let mut s = state.lock().unwrap();
    s.seen.push(Seen {
        method: method.clone(),
        host: host.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = bearer(&parts.headers);
    Ok(match (method.as_str(), host.as_str(), path.as_str()) {
        ("POST", "api.kilo.ai", "/api/device-auth/codes") => reply(
            200,
            json!({"code": KILO_CODE,
                   "verificationUrl": format!("https://app.kilo.ai/device-auth?code={KILO_CODE}"),
                   "expiresIn": 600}),
        ),
        ("GET", "api.kilo.ai", p) if p == format!("/api/device-auth/codes/{KILO_CODE}") => {
            match s.kilo_script.pop_front() {
                Some(KiloPoll::Pending) => reply(202, json!({"status": "pending"})),
                Some(KiloPoll::TooMany { retry_after }) => Response::builder()
                    .status(429)
                    .header("retry-after", retry_after.to_string())
                    .body(full(r#"{"error":"Too many requests"}"#))
                    .unwrap(),
                Some(KiloPoll::Denied) => reply(403, json!({"status": "denied"})),
                Some(KiloPoll::Expired) => reply(410, json!({"status": "expired"})),
                None => {
                    s.issued += 1;
                    let t = format!("eyJ-kilo-device-token-{}", s.issued);
                    s.kilo_tokens.insert(t.clone());
                    reply(
                        200,
                        json!({"status": "approved", "token": t, "userEmail": KILO_EMAIL}),
                    )
                }
            }
        }
        ("POST", "api.kilo.ai" | "kilocode.ai", p)
            if p.starts_with("/api/gateway/") || p.starts_with("/api/openrouter/") =>
        {
            match token.filter(|t| s.kilo_tokens.contains(t)) {
                Some(t) if s.kilo_spent.contains(&t) => reply(
                    402,
                    json!({"error": {"code": 402, "message": "Insufficient credits. Add more \
                        using https://kilocode.ai/profile", "metadata": {"limit_source":
                        "openrouter_credits"}}}),
                ),
                Some(_) => reply(200, completion(v["model"].as_str().unwrap_or("x"))),
                None => reply(
                    401,
                    json!({"error": {"code": 401, "message": "Invalid token"}}),
                ),
            }
        }
        ("POST", "api.cline.bot", "/api/v1/auth/token") => {
            let code = v["code"].as_str().unwrap_or("");
            match s.cline_codes.remove(code) {
                Some(user) if v["grant_type"] == "authorization_code" => {
                    let (a, r, at) = issue(&mut s, &user);
                    reply(200, envelope(&a, &r, &at, &user))
                }
                _ => reply(
                    400,
                    json!({"error": "invalid_grant", "error_description": "bad code"}),
                ),
            }
        }
        ("POST", "api.cline.bot", "/api/v1/auth/refresh") => {
            let old = v["refreshToken"].as_str().unwrap_or("");
            match s.cline_refresh.remove(old) {
                Some(user) if v["grantType"] == "refresh_token" => {
                    let (a, r, at) = issue(&mut s, &user);
                    reply(200, envelope(&a, &r, &at, &user))
                }
                _ => reply(400, json!({"error": "Invalid or expired refresh token"})),
            }
        }
        ("POST", "api.cline.bot", "/api/v1/chat/completions") => {
            let access = token.and_then(|t| t.strip_prefix("workos:").map(str::to_string));
            match access.filter(|a| s.cline_access.contains_key(a)) {
                Some(a) if s.cline_limited.contains(&a) => Response::builder()
                    .status(429)
                    .header("content-type", "application/json")
                    .header("retry-after", "30")
                    .body(full(
                        r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
                    ))
                    .unwrap(),
                Some(_) => reply(200, completion(v["model"].as_str().unwrap_or("x"))),
                None => reply(
                    401,
                    json!({"error": {"code": 401, "message": "Unauthorized"}}),
                ),
            }
        }
        _ => reply(404, json!({"error": "not found"})),
    })
}
