//! HTTP side of the fake OAuth server: route by Host and path, translate the
//! ledger's verdicts into each provider's wire shape.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::ledger::{CodeExchange, Poll, RefreshError};
use super::tokens::{anthropic_body, codex_body, google_body};
use super::{
    google_keys, missing_device_header, DeviceAnswer, Flavor, OAuthRequest, State,
    ANTHROPIC_CLIENT_ID, CODEX_CLIENT_ID, GITHUB_CLIENT_ID, GOOGLE_CLIENT_ID, KIMI_CLIENT_ID,
};
use crate::support::https::{full, Body};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const GITHUB_ERROR_URI: &str =
    "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow";

type Params = BTreeMap<String, String>;

pub(super) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let host = (parts.headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    let request = OAuthRequest {
        method: parts.method.to_string(),
        host: host.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body,
        at: Instant::now(),
    };
    state.requests.lock().unwrap().push(request.clone());
    let p = request.params();

    let response = match (&parts.method, host.as_str(), request.path.as_str()) {
        (&Method::POST, "platform.claude.com" | "console.anthropic.com", "/v1/oauth/token") => {
            count(&state, Flavor::Anthropic, &p);
            state.pass_gate().await;
            anthropic(&state, &p)
        }
        (&Method::POST, "auth.openai.com", "/oauth/token") => {
            count(&state, Flavor::Codex, &p);
            state.pass_gate().await;
            codex(&state, &p)
        }
        (&Method::POST, "oauth2.googleapis.com", "/token") => {
            count(&state, Flavor::Google, &p);
            state.pass_gate().await;
            google(&state, &p)
        }
        (&Method::POST, "auth.kimi.com", "/api/oauth/device_authorization") => {
            kimi_device_code(&state, &request, &p)
        }
        (&Method::POST, "auth.kimi.com", "/api/oauth/token") => {
            count(&state, Flavor::Kimi, &p);
            state.pass_gate().await;
            kimi_token(&state, &request, &p)
        }
        (&Method::POST, "github.com" | "ghe.example.com", "/login/device/code") => {
            device_code(&state, &host, &request, &p)
        }
        (&Method::POST, "github.com" | "ghe.example.com", "/login/oauth/access_token") => {
            device_poll(&state, &host, &request, &p)
        }
        (&Method::GET, "api.github.com" | "api.ghe.example.com", "/copilot_internal/v2/token") => {
            state.pass_gate().await;
            copilot(&state, &host, &request)
        }
        (&Method::GET, "api.github.com" | "api.ghe.example.com", "/user") => {
            github_user(&state, &host, &request)
        }
        (&Method::GET, "api.github.com" | "api.ghe.example.com", "/copilot_internal/user") => {
            match super::usage::copilot_user(&state, &host, &request) {
                Some(body) => json(200, body),
                None => json(
                    401,
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
                ),
            }
        }
        _ => json(404, json!({"error": "not_found"})),
    };
    Ok(response)
}

/// Token endpoint answers must not be cached (RFC 6749 §5.1).
fn json(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .body(full(body.to_string()))
        .expect("response")
}

/// RFC 6749 §5.2 error body.
fn oauth_error(status: u16, error: &str, description: &str) -> Response<Body> {
    json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn param<'p>(p: &'p Params, name: &str) -> &'p str {
    p.get(name).map(String::as_str).unwrap_or_default()
}

fn code_exchange(p: &Params, with_state: bool) -> CodeExchange<'_> {
    CodeExchange {
        code: param(p, "code"),
        verifier: param(p, "code_verifier"),
        redirect_uri: param(p, "redirect_uri"),
        state: with_state.then(|| param(p, "state")),
    }
}

/// Counts a grant on arrival, before the gate, so a held call is visible.
fn count(state: &State, flavor: Flavor, p: &Params) {
    let mut ledger = state.ledger.lock().unwrap();
    let counter = match param(p, "grant_type") {
        "refresh_token" => &mut ledger.refresh_calls,
        "authorization_code" => &mut ledger.code_calls,
        _ => return,
    };
    *counter.entry(flavor).or_default() += 1;
}

/// platform.claude.com (and the older console.anthropic.com).
fn anthropic(state: &State, p: &Params) -> Response<Body> {
    let grant_type = param(p, "grant_type");
    if param(p, "client_id") != ANTHROPIC_CLIENT_ID {
        return oauth_error(400, "invalid_client", "Invalid client_id");
    }
    let result = match grant_type {
        "refresh_token" => state
            .refresh(Flavor::Anthropic, param(p, "refresh_token"))
            .map_err(|_| "Refresh token not found or invalid".to_string()),
        "authorization_code" => state.exchange(Flavor::Anthropic, &code_exchange(p, true)),
        other => {
            let description = format!("Unsupported grant type: {other}");
            return oauth_error(400, "unsupported_grant_type", &description);
        }
    };
    match result {
        Ok((identity, grant)) => json(200, anthropic_body(&identity, &grant)),
        Err(description) => oauth_error(400, "invalid_grant", &description),
    }
}

/// auth.openai.com. Refresh failures come in the OpenAI API error shape with
/// the codes Codex classifies; other failures in the RFC 6749 shape.
fn codex(state: &State, p: &Params) -> Response<Body> {
    let grant_type = param(p, "grant_type");
    if param(p, "client_id") != CODEX_CLIENT_ID {
        return oauth_error(401, "invalid_client", "Unknown client");
    }
    match grant_type {
        "refresh_token" => match state.refresh(Flavor::Codex, param(p, "refresh_token")) {
            Ok((_, grant)) => json(200, codex_body(&grant)),
            Err(RefreshError::Reused) => codex_refresh_error(
                "Your refresh token has already been used to generate a new access token. Please try signing in again.",
                "refresh_token_reused",
            ),
            Err(RefreshError::Unknown | RefreshError::Revoked) => codex_refresh_error(
                "Your refresh token has been invalidated. Please try signing in again.",
                "refresh_token_invalidated",
            ),
        },
        "authorization_code" => match state.exchange(Flavor::Codex, &code_exchange(p, false)) {
            Ok((_, grant)) => json(200, codex_body(&grant)),
            Err(description) => oauth_error(400, "invalid_grant", &description),
        },
        other => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Unsupported grant type: {other}"),
        ),
    }
}

fn codex_refresh_error(message: &str, code: &str) -> Response<Body> {
    json(
        401,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}),
    )
}

/// oauth2.googleapis.com. Google never rotates: a refresh answer carries no
/// `refresh_token`, and the presented one keeps working.
fn google(state: &State, p: &Params) -> Response<Body> {
    let grant_type = param(p, "grant_type");
    if let Some(answer) = google_key(state, p) {
        return answer;
    }
    if param(p, "client_id") != GOOGLE_CLIENT_ID {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    if param(p, "client_secret").is_empty() {
        return oauth_error(400, "invalid_request", "client_secret is missing.");
    }
    match grant_type {
        "refresh_token" => match state.refresh(Flavor::Google, param(p, "refresh_token")) {
            Ok((_, grant)) => json(200, google_body(&grant, false)),
            Err(_) => oauth_error(400, "invalid_grant", "Token has been expired or revoked."),
        },
        "authorization_code" => match state.exchange(Flavor::Google, &code_exchange(p, false)) {
            Ok((_, grant)) => json(200, google_body(&grant, true)),
            Err(description) => oauth_error(400, "invalid_grant", &description),
        },
        other => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
    }
}

/// The grants of Vertex AI's credential files: a service account's assertion, or an
/// application-default login's refresh with gcloud's client. `None` for any other grant.
fn google_key(state: &State, p: &Params) -> Option<Response<Body>> {
    let mut keys = state.google_keys.lock().unwrap();
    let result = match param(p, "grant_type") {
        google_keys::JWT_BEARER => keys.assertion(param(p, "assertion")),
        "refresh_token" if keys.knows_client(param(p, "client_id")) => {
            keys.adc_refresh(param(p, "client_secret"), param(p, "refresh_token"))
        }
        _ => return None,
    };
    let behaviour = result.as_ref().ok().map(|(_, owner)| keys.behaviour(owner));
    drop(keys);
    Some(match result {
        Ok((body, owner)) => {
            let behaviour = behaviour.unwrap_or(crate::support::Behaviour::Ok);
            google_keys::register(state.registrar.as_ref(), &body, owner, behaviour);
            json(200, body)
        }
        Err((status, body)) => json(status, body),
    })
}

/// GitHub answers JSON only when asked (`Accept: application/json`), a form
/// otherwise; errors of the token endpoint come with HTTP 200.
fn github(status: u16, request: &OAuthRequest, body: Value) -> Response<Body> {
    let accept = (request.headers.get(header::ACCEPT))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("json") {
        return json(status, body);
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in body.as_object().expect("object") {
        match v {
            Value::String(s) => form.append_pair(k, s),
            other => form.append_pair(k, &other.to_string()),
        };
    }
    Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(full(form.finish()))
        .expect("response")
}

fn github_error(request: &OAuthRequest, error: &str, description: &str) -> Response<Body> {
    let body =
        json!({"error": error, "error_description": description, "error_uri": GITHUB_ERROR_URI});
    github(200, request, body)
}

fn device_code(state: &State, host: &str, request: &OAuthRequest, p: &Params) -> Response<Body> {
    if param(p, "client_id") != GITHUB_CLIENT_ID {
        let body = json!({
            "error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect.",
            "error_uri": GITHUB_ERROR_URI,
        });
        return github(400, request, body);
    }
    let mut ledger = state.ledger.lock().unwrap();
    let device_code = ledger.device_code(host);
    let body = json!({
        "device_code": device_code,
        "user_code": "ABCD-1234",
        "verification_uri": format!("https://{host}/login/device"),
        "expires_in": 900,
        "interval": ledger.device_interval,
    });
    github(200, request, body)
}

fn device_poll(state: &State, host: &str, request: &OAuthRequest, p: &Params) -> Response<Body> {
    let mut ledger = state.ledger.lock().unwrap();
    ledger.device_polls.push(request.at);
    if param(p, "client_id") != GITHUB_CLIENT_ID {
        return github_error(
            request,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    if param(p, "grant_type") != DEVICE_GRANT {
        return github_error(
            request,
            "unsupported_grant_type",
            "The grant type must be urn:ietf:params:oauth:grant-type:device_code.",
        );
    }
    match ledger.poll(host, param(p, "device_code")) {
        Poll::Granted(token) => {
            let body = json!({"access_token": token, "token_type": "bearer", "scope": "read:user"});
            github(200, request, body)
        }
        Poll::Answer(DeviceAnswer::Pending) => github_error(
            request,
            "authorization_pending",
            "The authorization request is still pending.",
        ),
        Poll::Answer(DeviceAnswer::SlowDown { interval }) => {
            let body = json!({
                "error": "slow_down",
                "error_description": "Too many requests have been made in the same timeframe.",
                "error_uri": GITHUB_ERROR_URI,
                "interval": interval,
            });
            github(200, request, body)
        }
        Poll::Answer(DeviceAnswer::Denied) => github_error(
            request,
            "access_denied",
            "The authorization request was denied.",
        ),
        Poll::Answer(DeviceAnswer::Expired) | Poll::AlreadyUsed => {
            github_error(request, "expired_token", "The device_code has expired.")
        }
        Poll::Answer(DeviceAnswer::Invalid) => github_error(
            request,
            "incorrect_device_code",
            "The device_code provided is not valid.",
        ),
        Poll::Answer(DeviceAnswer::Grant) | Poll::Issued(..) => {
            unreachable!("a grant comes as Poll::Granted")
        }
        Poll::UnknownCode => github_error(
            request,
            "incorrect_device_code",
            "The device_code provided is not valid.",
        ),
    }
}

fn github_token_of(request: &OAuthRequest) -> Option<String> {
    (request.headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")
        })
        .map(|(_, token)| token.trim().to_string())
}

/// `GET /user`: who a GitHub token belongs to.
fn github_user(state: &State, host: &str, request: &OAuthRequest) -> Response<Body> {
    match github_token_of(request).and_then(|t| state.github_user(&t, host)) {
        Some(body) => json(200, body),
        None => json(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
        ),
    }
}

/// api.github.com (or a GHE `api.` host): a GitHub token, sent as
/// `token gho_…` or `Bearer gho_…`, buys a fresh short-lived Copilot token.
fn copilot(state: &State, host: &str, request: &OAuthRequest) -> Response<Body> {
    let exchanged = github_token_of(request).and_then(|t| state.copilot(&t, host));
    let Some((_, body)) = exchanged else {
        let body = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"});
        return json(401, body);
    };
    state.ledger.lock().unwrap().copilot_exchanges += 1;
    json(200, body)
}

/// auth.kimi.com's device authorization (RFC 8628 §3.1), as kimi-cli asks for it: a
/// form with the client id, and the `X-Msh-*` device headers.
fn kimi_device_code(state: &State, request: &OAuthRequest, p: &Params) -> Response<Body> {
    if param(p, "client_id") != KIMI_CLIENT_ID {
        return oauth_error(400, "invalid_client", "unknown client");
    }
    if let Some(h) = missing_device_header(&request.headers) {
        return oauth_error(400, "invalid_request", &format!("missing header {h}"));
    }
    let mut ledger = state.ledger.lock().unwrap();
    let device_code = ledger.device_code("auth.kimi.com");
    json(
        200,
        json!({
            "device_code": device_code,
            "user_code": "KIMI-2468",
            "verification_uri": "https://www.kimi.com/code/authorize_device",
            "verification_uri_complete": "https://www.kimi.com/code/authorize_device?user_code=KIMI-2468",
            "expires_in": 1800,
            "interval": ledger.device_interval,
        }),
    )
}

/// auth.kimi.com's token endpoint: device polls and refreshes, forms both. Its quirk:
/// `authorization_pending`, `slow_down` and `invalid_grant` all come as HTTP 400.
fn kimi_token(state: &State, request: &OAuthRequest, p: &Params) -> Response<Body> {
    if param(p, "client_id") != KIMI_CLIENT_ID {
        return oauth_error(400, "invalid_client", "unknown client");
    }
    if let Some(h) = missing_device_header(&request.headers) {
        return oauth_error(400, "invalid_request", &format!("missing header {h}"));
    }
    let issued = |grant: &super::Grant| {
        json!({
            "access_token": grant.access, "refresh_token": grant.refresh,
            "expires_in": grant.expires_in, "scope": "kimi-code", "token_type": "Bearer",
        })
    };
    match param(p, "grant_type") {
        "refresh_token" => match state.refresh(Flavor::Kimi, param(p, "refresh_token")) {
            Ok((_, grant)) => json(200, issued(&grant)),
            Err(_) => oauth_error(400, "invalid_grant", "refresh token is invalid or expired"),
        },
        DEVICE_GRANT => {
            let mut ledger = state.ledger.lock().unwrap();
            ledger.device_polls.push(request.at);
            let answer = ledger.poll("auth.kimi.com", param(p, "device_code"));
            drop(ledger);
            match answer {
                Poll::Issued(boxed) => {
                    let (identity, grant) = *boxed;
                    state.register_grant(&identity, &grant);
                    json(200, issued(&grant))
                }
                Poll::Answer(DeviceAnswer::Pending) => {
                    oauth_error(400, "authorization_pending", "authorization pending")
                }
                Poll::Answer(DeviceAnswer::SlowDown { .. }) => {
                    oauth_error(400, "slow_down", "polling too fast")
                }
                Poll::Answer(DeviceAnswer::Denied) => {
                    oauth_error(400, "access_denied", "the user denied the request")
                }
                Poll::Answer(DeviceAnswer::Expired) => {
                    oauth_error(400, "expired_token", "the device code expired")
                }
                _ => oauth_error(400, "invalid_grant", "the device code is invalid"),
            }
        }
        other => oauth_error(400, "unsupported_grant_type", other),
    }
}
