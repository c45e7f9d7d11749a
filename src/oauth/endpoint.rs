//! Calls to the vendors' token endpoints: refresh, authorization-code exchange, the
//! Copilot token exchange and Code Assist project discovery. They go through keypool's
//! own upstream client, so `connect_to` and extra roots apply to them as to requests.
//! Response bodies hold tokens: nothing here logs or quotes them; errors carry only the
//! status and the vendor's error code.

use super::flavor::{Encoding, LoginForm, TokenWire};
use super::tokens::Identity;
use crate::body::full;
use crate::bounds;
use crate::providers::Flavor;
use crate::upstream::{describe_error, Upstream};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Why a token call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The login is dead (revoked, reused, expired): only a new login fixes it.
    #[error("{0}")]
    Permanent(String),
    /// The endpoint could not be reached or failed; a later try may work.
    #[error("{0}")]
    Transient(String),
    /// The login's own call got a terminal answer (`providers/terminal.rs`: a ban), which
    /// ends the account's turn as the same answer to a request would.
    #[error("{}", .0.detail)]
    Ended(Box<crate::providers::Outcome>),
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Granted {
    pub access: SecretString,
    /// Present when the vendor rotated the refresh token.
    pub refresh: Option<SecretString>,
    pub expires_in: Option<Duration>,
    pub id_token: Option<SecretString>,
    pub identity: Identity,
}

/// A short-lived API token a login's long-lived credential was exchanged for (a Copilot
/// token for a GitHub token, a Google access token for a service-account key), and when
/// to renew it. It lives in memory only.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub token: SecretString,
    /// Seconds until the issuer wants it renewed (Copilot's `refresh_in`).
    pub refresh_in: Option<Duration>,
    /// Epoch seconds when it stops working.
    pub expires_at: Option<i64>,
    /// The API base for this account (Copilot's `endpoints.api`), e.g. individual vs
    /// business.
    pub api: Option<String>,
}

impl ApiToken {
    /// When to exchange the login's credential again: when the issuer asks (`refresh_in`), and never
    /// later than `margin` before `expires_at`; twenty minutes when it says neither. Both
    /// come from the wire, so the result is checked and at most [`bounds::MAX_HORIZON`]
    /// ahead.
    pub fn renew_at(&self, now: SystemTime, margin: Duration) -> SystemTime {
        let by_refresh_in = self.refresh_in.map(|d| bounds::after(now, d));
        let by_expiry = self
            .expires_at
            .and_then(bounds::epoch_secs_i64)
            .map(|at| bounds::clamp_to_horizon(at, now))
            .map(|at| at.checked_sub(margin).unwrap_or(at));
        match (by_refresh_in, by_expiry) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => bounds::after(now, Duration::from_secs(20 * 60)),
        }
    }
}

const BODY_CAP: usize = 1 << 20;

/// Redeems `refresh` for new tokens.
pub async fn refresh(
    upstream: &Upstream,
    flavor: Flavor,
    refresh: &SecretString,
    identity: &Identity,
) -> Result<Granted, TokenError> {
    let spec = flavor.spec();
    let mut fields = match spec.wire {
        TokenWire::Rfc6749 => vec![
            ("grant_type", "refresh_token"),
            ("client_id", spec.client_id),
        ],
        TokenWire::Cline => vec![("grantType", "refresh_token")],
    };
    if let Some(secret) = spec.client_secret {
        fields.push(("client_secret", secret));
    }
    let name = match spec.wire {
        TokenWire::Rfc6749 => "refresh_token",
        TokenWire::Cline => "refreshToken",
    };
    fields.push((name, refresh.expose_secret()));
    let url = flavor.token_url(identity.domain.as_deref());
    let mut headers = HeaderMap::new();
    (spec.steps.edit_auth_headers)(&mut headers, identity);
    let (status, body) = post_with(upstream, &url, spec.refresh_encoding, &fields, headers).await?;
    granted(flavor, status, &body)
}

/// Trades an authorization code (PKCE) of a browser login for tokens.
pub async fn exchange_code(
    upstream: &Upstream,
    flavor: Flavor,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<Granted, TokenError> {
    let LoginForm::Browser(browser) = &flavor.spec().login else {
        let name = flavor.login_name();
        return Err(TokenError::Permanent(format!(
            "{name} logins have no authorization code"
        )));
    };
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("client_id", flavor.client_id()),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    if browser.code_sends_state {
        fields.push(("state", state));
    }
    let url = flavor.token_url(None);
    let (status, body) = post(upstream, &url, browser.code_encoding, &fields).await?;
    granted(flavor, status, &body)
}

/// Trades the code of a vendor's own browser login (Cline's) for tokens, as the vendor's
/// extension asks for them.
pub async fn exchange_app_code(
    upstream: &Upstream,
    flavor: Flavor,
    code: &str,
    redirect_uri: &str,
    provider: Option<&str>,
) -> Result<Granted, TokenError> {
    let LoginForm::AppCallback(app) = &flavor.spec().login else {
        let name = flavor.login_name();
        return Err(TokenError::Permanent(format!(
            "{name} logins have no vendor callback"
        )));
    };
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_type", "extension"),
        ("redirect_uri", redirect_uri),
    ];
    fields.extend(provider.map(|p| ("provider", p)));
    let (status, body) = post(upstream, app.exchange, Encoding::Json, &fields).await?;
    granted(flavor, status, &body)
}

/// Trades a GitHub token for a Copilot API token.
pub async fn copilot_token(
    upstream: &Upstream,
    github_token: &SecretString,
    domain: Option<&str>,
) -> Result<ApiToken, TokenError> {
    let url = copilot_token_url(domain);
    let mut req = Request::new(full(bytes::Bytes::new()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = url.parse().map_err(|_| bad_url(&url))?;
    let mut auth = HeaderValue::try_from(format!("token {}", github_token.expose_secret()))
        .map_err(|_| {
            TokenError::Permanent("the GitHub token is not a valid header value".into())
        })?;
    auth.set_sensitive(true);
    let h = req.headers_mut();
    h.insert(AUTHORIZATION, auth);
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static("GitHubCopilotChat/0.35.0"),
    );
    h.insert("editor-version", HeaderValue::from_static("vscode/1.107.0"));
    h.insert(
        "editor-plugin-version",
        HeaderValue::from_static("copilot-chat/0.35.0"),
    );
    let (status, body) = send(upstream, req, &url).await?;
    if !status.is_success() {
        let what = format!("{url} answered {status}");
        return Err(match status {
            StatusCode::UNAUTHORIZED => TokenError::Permanent(format!(
                "{what}: GitHub no longer accepts this login's token"
            )),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                TokenError::Permanent(format!("{what}: this GitHub account has no Copilot access"))
            }
            _ => TokenError::Transient(what),
        });
    }
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        TokenError::Transient(format!("{url} answered with something other than JSON"))
    })?;
    copilot_grant(&v)
        .ok_or_else(|| TokenError::Transient(format!("{url} answered without a token")))
}

/// GitHub's endpoint that trades a GitHub token for a Copilot token.
fn copilot_token_url(domain: Option<&str>) -> String {
    format!(
        "https://api.{}/copilot_internal/v2/token",
        domain.unwrap_or("github.com")
    )
}

/// The Copilot token answer's fields; `None` without a token. `refresh_in` is clamped
/// (see [`ApiToken::renew_at`] for `expires_at`).
fn copilot_grant(v: &Value) -> Option<ApiToken> {
    let token = v["token"].as_str().filter(|t| !t.is_empty())?;
    Some(ApiToken {
        token: SecretString::from(token.to_string()),
        refresh_in: v["refresh_in"].as_u64().map(bounds::wait_from_secs),
        expires_at: v["expires_at"].as_i64(),
        api: v["endpoints"]["api"].as_str().map(str::to_string),
    })
}

/// The GitHub login name a GitHub token belongs to (`GET /user`), to name the account.
pub async fn github_user(
    upstream: &Upstream,
    github_token: &SecretString,
    domain: Option<&str>,
) -> Option<String> {
    let url = format!("https://api.{}/user", domain.unwrap_or("github.com"));
    let mut req = Request::new(full(bytes::Bytes::new()));
    *req.uri_mut() = url.parse().ok()?;
    let mut auth = HeaderValue::try_from(format!("token {}", github_token.expose_secret())).ok()?;
    auth.set_sensitive(true);
    req.headers_mut().insert(AUTHORIZATION, auth);
    req.headers_mut().insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    req.headers_mut().insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("keypool/", env!("CARGO_PKG_VERSION"))),
    );
    let (status, body) = send(upstream, req, &url).await.ok()?;
    if !status.is_success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&body).ok()?;
    v["login"].as_str().map(str::to_string)
}

/// Asks Code Assist which Cloud project the account's requests must name.
pub async fn code_assist_project(
    upstream: &Upstream,
    access: &SecretString,
) -> Result<String, TokenError> {
    let url = "https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist";
    let body = json!({"metadata": {
        "ideType": "IDE_UNSPECIFIED",
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    }});
    let mut req = Request::new(full(body.to_string()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = url.parse().map_err(|_| bad_url(url))?;
    let mut auth =
        HeaderValue::try_from(format!("Bearer {}", access.expose_secret())).map_err(|_| {
            TokenError::Permanent("the access token is not a valid header value".into())
        })?;
    auth.set_sensitive(true);
    req.headers_mut().insert(AUTHORIZATION, auth);
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (status, body) = send(upstream, req, url).await?;
    if !status.is_success() {
        // A banned account is told so here first, before any request names its project.
        let provider = Flavor::GeminiCli.provider_id();
        let none = http::HeaderMap::new();
        let ended =
            crate::providers::terminal::judge(provider, status.as_u16(), &none, &body, None)
                .filter(|o| o.verdict == crate::providers::Verdict::Terminal);
        return Err(match ended {
            Some(o) => TokenError::Ended(Box::new(o)),
            None => TokenError::Transient(format!("{url} answered {status}")),
        });
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let project = &v["cloudaicompanionProject"];
    project
        .as_str()
        .or_else(|| project["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            TokenError::Permanent(
                concat!(
                    "Code Assist names no Cloud project for this account: only paid Code Assist ",
                    "works through keypool; set GOOGLE_CLOUD_PROJECT and import again"
                )
                .into(),
            )
        })
}

/// Posts `fields` to `url`; returns the status and the (capped) body.
pub async fn post(
    upstream: &Upstream,
    url: &str,
    encoding: Encoding,
    fields: &[(&str, &str)],
) -> Result<(StatusCode, bytes::Bytes), TokenError> {
    post_with(upstream, url, encoding, fields, HeaderMap::new()).await
}

/// [`post`] with the login's own headers (Kimi's device headers) besides keypool's.
pub async fn post_with(
    upstream: &Upstream,
    url: &str,
    encoding: Encoding,
    fields: &[(&str, &str)],
    extra: HeaderMap,
) -> Result<(StatusCode, bytes::Bytes), TokenError> {
    let (body, ctype) = match encoding {
        Encoding::Json => {
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            (Value::Object(map).to_string(), "application/json")
        }
        Encoding::Form => (
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish(),
            "application/x-www-form-urlencoded",
        ),
    };
    let mut req = Request::new(full(body));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = url.parse().map_err(|_| bad_url(url))?;
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("keypool/", env!("CARGO_PKG_VERSION"))),
    );
    h.extend(extra);
    send(upstream, req, url).await
}

/// `GET url` with `extra` headers besides keypool's; the status, headers and capped body.
pub async fn get_with(
    upstream: &Upstream,
    url: &str,
    extra: HeaderMap,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), TokenError> {
    let mut req = Request::new(full(bytes::Bytes::new()));
    *req.uri_mut() = url.parse().map_err(|_| bad_url(url))?;
    let h = req.headers_mut();
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("keypool/", env!("CARGO_PKG_VERSION"))),
    );
    h.extend(extra);
    send_keeping_headers(upstream, req, url).await
}

async fn send(
    upstream: &Upstream,
    req: Request<crate::body::ProxyBody>,
    url: &str,
) -> Result<(StatusCode, bytes::Bytes), TokenError> {
    let (status, _, body) = send_keeping_headers(upstream, req, url).await?;
    Ok((status, body))
}

async fn send_keeping_headers(
    upstream: &Upstream,
    mut req: Request<crate::body::ProxyBody>,
    url: &str,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), TokenError> {
    if let Some(host) = req.uri().authority().map(|a| a.as_str().to_string()) {
        if let Ok(v) = HeaderValue::try_from(host) {
            req.headers_mut().insert(http::header::HOST, v);
        }
    }
    let resp = upstream.send(req).await.map_err(|e| {
        TokenError::Transient(format!("cannot reach {url}: {}", describe_error(&e)))
    })?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = http_body_util::Limited::new(resp.into_body(), BODY_CAP)
        .collect()
        .await
        .map_err(|_| TokenError::Transient(format!("{url}: the answer broke off")))?
        .to_bytes();
    Ok((status, headers, body))
}

fn bad_url(url: &str) -> TokenError {
    TokenError::Permanent(format!("'{url}' is not a valid URL"))
}

/// Error codes that mean the refresh token is dead for good.
const DEAD_LOGIN: [&str; 6] = [
    "invalid_grant",
    "refresh_token_reused",
    "refresh_token_expired",
    "refresh_token_invalidated",
    "invalid_client",
    "unauthorized_client",
];

/// The vendor's error code: `{"error":"code"}` (RFC 6749) or `{"error":{"code":…}}` (OpenAI).
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = &v["error"];
    e.as_str()
        .or_else(|| e["code"].as_str())
        .or_else(|| e["type"].as_str())
        .map(str::to_string)
}

/// A token endpoint's answer: the grant, or why there is none (read as `flavor` reads
/// who logged in).
pub fn granted(flavor: Flavor, status: StatusCode, body: &[u8]) -> Result<Granted, TokenError> {
    if flavor.spec().wire == TokenWire::Cline {
        return super::cline_grant::granted(flavor, status, body, SystemTime::now());
    }
    if !status.is_success() {
        let code = error_code(body);
        let what = match &code {
            Some(c) => format!("the token endpoint answered {status} {c}"),
            None => format!("the token endpoint answered {status}"),
        };
        let dead = code.as_deref().is_some_and(|c| DEAD_LOGIN.contains(&c))
            || status == StatusCode::UNAUTHORIZED;
        return Err(if dead {
            TokenError::Permanent(what)
        } else {
            TokenError::Transient(what)
        });
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        TokenError::Transient("the token endpoint answered with something other than JSON".into())
    })?;
    if let Some(code) = error_code(body) {
        // GitHub answers device-flow errors with 200.
        return Err(TokenError::Permanent(format!(
            "the token endpoint answered {code}"
        )));
    }
    let secret = |k: &str| {
        v[k].as_str()
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
    };
    let access = secret("access_token").ok_or_else(|| {
        TokenError::Transient("the token endpoint answered without an access token".into())
    })?;
    let identity = (flavor.spec().identity)(&v, &access);
    Ok(Granted {
        access,
        refresh: secret("refresh_token"),
        expires_in: v["expires_in"].as_u64().map(bounds::wait_from_secs),
        id_token: secret("id_token"),
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copilot_token_url_names_the_enterprise_domain() {
        assert_eq!(
            copilot_token_url(Some("ghe.example.com")),
            "https://api.ghe.example.com/copilot_internal/v2/token"
        );
    }

    #[test]
    fn classifies_token_errors() {
        let e = granted(
            Flavor::Codex,
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"used","type":"invalid_request_error","code":"refresh_token_reused"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            TokenError::Permanent(
                "the token endpoint answered 401 Unauthorized refresh_token_reused".into()
            )
        );
        let e = granted(
            Flavor::Anthropic,
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}"#,
        )
        .unwrap_err();
        assert!(matches!(e, TokenError::Permanent(m) if m.contains("invalid_grant")));
        let e = granted(Flavor::Anthropic, StatusCode::SERVICE_UNAVAILABLE, b"busy").unwrap_err();
        assert!(matches!(e, TokenError::Transient(_)));
    }

    #[test]
    fn reads_anthropic_grant() {
        let g = granted(
            Flavor::Anthropic,
            StatusCode::OK,
            br#"{"access_token":"sk-ant-oat01-x","refresh_token":"sk-ant-ort01-y","expires_in":28800,"account":{"uuid":"u-1","email_address":"a@b.c"}}"#,
        )
        .unwrap();
        assert_eq!(g.access.expose_secret(), "sk-ant-oat01-x");
        assert_eq!(g.refresh.unwrap().expose_secret(), "sk-ant-ort01-y");
        assert_eq!(g.expires_in, Some(Duration::from_secs(28800)));
        assert_eq!(g.identity.account_id.as_deref(), Some("u-1"));
    }

    /// Token endpoint and Copilot numbers at their most absurd: no panic, and nothing
    /// further out than the horizon.
    #[test]
    fn absurd_lifetimes_are_clamped() {
        use crate::bounds::MAX_HORIZON;
        for n in ["18446744073709551615", "9223372036854775807", "0"] {
            let body = format!(r#"{{"access_token":"a","expires_in":{n}}}"#);
            let g = granted(Flavor::Anthropic, StatusCode::OK, body.as_bytes()).unwrap();
            assert!(g.expires_in.is_some_and(|d| d <= MAX_HORIZON), "{n}");
        }
        for n in ["-1", "1e308", "\"soon\""] {
            let body = format!(r#"{{"access_token":"a","expires_in":{n}}}"#);
            let g = granted(Flavor::Anthropic, StatusCode::OK, body.as_bytes()).unwrap();
            assert_eq!(g.expires_in, None, "{n}");
        }
        let now = SystemTime::now();
        let margin = Duration::from_secs(300);
        for (refresh_in, expires_at) in [
            ("18446744073709551615", "9223372036854775807"),
            ("0", "-9223372036854775808"),
            ("1e308", "0"),
            ("null", "18446744073709551615"),
            ("-1", "null"),
        ] {
            let v: Value = serde_json::from_str(&format!(
                r#"{{"token":"tid=1","refresh_in":{refresh_in},"expires_at":{expires_at}}}"#
            ))
            .unwrap();
            let at = copilot_grant(&v).unwrap().renew_at(now, margin);
            let ahead = at.duration_since(now).unwrap_or_default();
            assert!(ahead <= MAX_HORIZON, "{refresh_in} {expires_at}: {ahead:?}");
        }
        assert!(copilot_grant(&json!({"token": ""})).is_none());
    }
}
