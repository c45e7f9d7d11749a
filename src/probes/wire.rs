//! One probe on the wire: the request a probe makes, sent through keypool's upstream
//! client (so `connect_to`, `extra_ca` and the egress rules apply, and never through
//! keypool's own proxy), its answer capped and timed, and what can go wrong with it.

use crate::body::{full, ProxyBody};
use crate::upstream::{describe_error, Upstream};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, SystemTime};

/// The most an answer may hold; a usage answer is a few KiB.
pub const BODY_CAP: usize = 256 * 1024;

/// The most windows one answer gives.
pub const MAX_WINDOWS: usize = 32;

/// How long one probe may take, connect to last byte.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Why a body gave no windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadBody {
    NotJson,
    /// JSON, but not the endpoint's shape.
    Shape(&'static str),
}

impl std::fmt::Display for BadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadBody::NotJson => f.write_str("the answer is not JSON"),
            BadBody::Shape(why) => write!(f, "the answer is {why}"),
        }
    }
}

/// Why a probe learned nothing. None of these touches the account: a probe is advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No token to probe with (the login needs attention; requests will say so).
    NoLogin(String),
    /// The endpoint could not be reached, or did not answer in time.
    Unreachable(String),
    /// 429: not again before `wait` has passed.
    Limited {
        wait: Duration,
    },
    /// Any other answer than 2xx (401, 403 for a token without `user:profile`, 5xx, …).
    Refused(StatusCode),
    BadBody(BadBody),
}

impl Failure {
    /// What stays the same while the same thing keeps failing, so it is logged once.
    pub fn kind(&self) -> String {
        match self {
            Failure::NoLogin(_) => "login".into(),
            Failure::Unreachable(_) => "unreachable".into(),
            Failure::Limited { .. } => "429".into(),
            Failure::Refused(s) => s.as_u16().to_string(),
            Failure::BadBody(_) => "body".into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoLogin(why) => write!(f, "no token to probe with: {why}"),
            Failure::Unreachable(why) => f.write_str(why),
            Failure::Limited { wait } => write!(
                f,
                "429 Too Many Requests; next probe in {}s at the earliest",
                wait.as_secs()
            ),
            Failure::Refused(StatusCode::FORBIDDEN) => f.write_str(
                "403 Forbidden (a token without the user:profile scope, such as one from \
                 `claude setup-token`, cannot read its usage)",
            ),
            Failure::Refused(s) => write!(f, "answered {s}"),
            Failure::BadBody(b) => write!(f, "{b}"),
        }
    }
}

/// A probe request being built.
pub struct Call {
    method: Method,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<String>,
    /// Set when a credential could not become a header value.
    unusable: bool,
}

impl Call {
    pub fn get(url: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            unusable: false,
        }
    }

    pub fn post_json(url: impl Into<String>, body: String) -> Call {
        Call {
            method: Method::POST,
            body: Some(body),
            ..Call::get(url)
        }
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &SecretString) -> Call {
        self.auth("Bearer", token)
    }

    /// `Authorization: <scheme> <token>`, marked sensitive so no debug print shows it.
    pub fn auth(mut self, scheme: &str, token: &SecretString) -> Call {
        match HeaderValue::try_from(format!("{scheme} {}", token.expose_secret())) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.headers.push((AUTHORIZATION, v));
            }
            Err(_) => self.unusable = true,
        }
        self
    }

    /// A header of the endpoint's own; a value that cannot be one is left out.
    pub fn header(mut self, name: &'static str, value: &str) -> Call {
        if let Ok(v) = HeaderValue::try_from(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    /// Headers the account's calls carry (Kimi's device headers).
    pub fn headers(mut self, headers: http::HeaderMap) -> Call {
        let mut name = None;
        for (n, v) in headers {
            name = n.or(name);
            if let Some(n) = &name {
                self.headers.push((n.clone(), v));
            }
        }
        self
    }

    fn request(self) -> Result<Request<ProxyBody>, Failure> {
        if self.unusable {
            return Err(Failure::NoLogin(
                "the token is not a valid header value".into(),
            ));
        }
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|_| Failure::Unreachable(format!("'{}' is not a valid URL", self.url)))?;
        let host = uri.authority().map(|a| a.as_str().to_string());
        let mut req = Request::new(full(self.body.clone().unwrap_or_default()));
        *req.method_mut() = self.method;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        if let Some(v) = host.and_then(|a| HeaderValue::try_from(a).ok()) {
            h.insert(HOST, v);
        }
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("keypool/", env!("CARGO_PKG_VERSION"))),
        );
        if self.body.is_some() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in self.headers {
            h.insert(name, value);
        }
        Ok(req)
    }

    /// Sends the call; a 2xx answer's body (at most [`BODY_CAP`]), else why not.
    pub async fn send(self, upstream: &Upstream, now: SystemTime) -> Result<Bytes, Failure> {
        let url = self.url.clone();
        let req = self.request()?;
        let answer = async {
            let resp = upstream.send(req).await.map_err(|e| {
                Failure::Unreachable(format!("cannot reach {url}: {}", describe_error(&e)))
            })?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let said = crate::providers::parse_retry_after(resp.headers(), now);
                return Err(Failure::Limited {
                    wait: said.unwrap_or_default(),
                });
            }
            if !status.is_success() {
                return Err(Failure::Refused(status));
            }
            let body = http_body_util::Limited::new(resp.into_body(), BODY_CAP)
                .collect()
                .await
                .map_err(|_| {
                    Failure::Unreachable(format!(
                        "{url}: the answer broke off or exceeded {} KiB",
                        BODY_CAP / 1024
                    ))
                })?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(DEADLINE, answer)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Unreachable(format!(
                    "{url} did not answer within {}s",
                    DEADLINE.as_secs()
                )))
            })
    }
}
