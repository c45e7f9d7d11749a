//! Vertex AI on `aiplatform.googleapis.com` and `{region}-aiplatform.googleapis.com`:
//! Gemini on `…/publishers/google/models/{m}:generateContent` and
//! `:streamGenerateContent`, Claude on `…/publishers/anthropic/models/{m}:rawPredict` and
//! `:streamRawPredict` (Anthropic's Messages bodies with `anthropic_version:
//! "vertex-2023-10-16"` and no `model`). Errors as Vertex sends them: Google's envelope
//! for auth and quota (Claude's quota errors too), Anthropic's for an overloaded Claude.
//! A model call names its project and location: a token serves only its own project
//! (403 PERMISSION_DENIED elsewhere), and a location only on its own host (`global` on
//! `aiplatform.googleapis.com`, region R on `R-aiplatform.googleapis.com`).

use http::{Method, Response};
use serde_json::{json, Value};

use super::bodies::{anthropic_events, anthropic_message, gemini_chunks, gemini_response};
use super::faults::{event_stream, Wire};
use super::reply::Ctx;
use super::{gemini_sse, subscription, Behaviour, State};
use crate::support::https::{form_param, Body};

/// The Claude body version Vertex requires.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The model a Vertex path names (`…/models/{model}:{method}`).
pub(super) fn model_of(path: &str) -> Option<&str> {
    let (_, rest) = path.rsplit_once("/models/")?;
    rest.split(':').next()
}

/// The `projects/{p}/locations/{l}` a model call names.
fn place_of(path: &str) -> Option<(&str, &str)> {
    let mut segs = path.split('/').skip(1);
    let _version = segs.next()?;
    match (segs.next()?, segs.next()?, segs.next()?, segs.next()?) {
        ("projects", p, "locations", l) => Some((p, l)),
        _ => None,
    }
}

/// The host that serves `location`.
pub fn host_of(location: &str) -> String {
    if location == "global" {
        "aiplatform.googleapis.com".into()
    } else {
        format!("{location}-aiplatform.googleapis.com")
    }
}

/// Vertex's refusal of a call outside the token's project or off the location's host.
fn misplaced(ctx: &Ctx, req: &subscription::Req, path: &str) -> Option<Response<Body>> {
    let Some((project, location)) = place_of(path) else {
        return Some(ctx.google_error(
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument: no project and location in the resource",
            Value::Null,
        ));
    };
    let host = (req.parts.headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
    if host.as_deref() != Some(host_of(location).as_str()) {
        return Some(ctx.google_error(
            400,
            "INVALID_ARGUMENT",
            &format!("Location {location} is not supported on this endpoint"),
            Value::Null,
        ));
    }
    if req
        .owner
        .project
        .as_deref()
        .is_some_and(|own| own != project)
    {
        return Some(ctx.google_error(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'aiplatform.endpoints.predict' denied on resource \
                 '//aiplatform.googleapis.com/projects/{project}/locations/{location}' (or it \
                 may not exist)."
            ),
            Value::Null,
        ));
    }
    None
}

fn is_claude(path: &str) -> bool {
    path.contains("/publishers/anthropic/models/")
}

pub(super) fn route(
    state: &std::sync::Arc<State>,
    ctx: &Ctx,
    req: subscription::Req,
) -> Response<Body> {
    let path = req.parts.uri.path().to_string();
    let call = path.rsplit_once(':').map_or("", |(_, m)| m);
    if req.parts.method != Method::POST {
        return ctx.not_found(&req.parts.method, &path);
    }
    if let Some(refusal) = misplaced(ctx, &req, &path) {
        return refusal;
    }
    let sse = |wire, events| ctx.sse(event_stream(state, ctx, wire, events, req.fault));
    match (is_claude(&path), call) {
        (false, "generateContent") => ctx.json(200, gemini_response(&ctx.model, "Hi.", true)),
        (false, "streamGenerateContent") => {
            let chunks = gemini_chunks(&ctx.model);
            if form_param(req.query, "alt").as_deref() == Some("sse") {
                sse(Wire::Gemini, gemini_sse(chunks))
            } else {
                ctx.json(200, Value::Array(chunks))
            }
        }
        (true, "rawPredict" | "streamRawPredict") if !claude_body_ok(req.body) => ctx.google_error(
            400,
            "INVALID_ARGUMENT",
            "anthropic_version: vertex-2023-10-16 is required and model is not allowed",
            Value::Null,
        ),
        (true, "rawPredict") => ctx.json(200, anthropic_message(&ctx.model)),
        (true, "streamRawPredict") => sse(Wire::Anthropic, anthropic_events(&ctx.model)),
        _ => ctx.not_found(&req.parts.method, &path),
    }
}

fn claude_body_ok(body: &Value) -> bool {
    body["anthropic_version"] == json!(ANTHROPIC_VERSION) && body.get("model").is_none()
}

impl Ctx {
    /// What Vertex answers a missing, unknown or expired token.
    pub(super) fn vertex_auth_error(&self) -> Response<Body> {
        self.google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
            Value::Null,
        )
    }

    /// Vertex's refusals for a known token: Gemini's and Claude's quota in Google's
    /// shape (Claude's names the base model's quota metric), Claude's overload in
    /// Anthropic's.
    pub(super) fn vertex_rejection(&self, behaviour: &Behaviour) -> Response<Body> {
        let claude = self.model.starts_with("claude");
        match behaviour {
            Behaviour::Unauthorized => self.vertex_auth_error(),
            Behaviour::Overloaded if claude => {
                self.anthropic_error(529, "overloaded_error", "Overloaded")
            }
            Behaviour::Overloaded => self.google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                Value::Null,
            ),
            _ if claude => self.google_error(
                429,
                "RESOURCE_EXHAUSTED",
                &format!(
                    "Quota exceeded for aiplatform.googleapis.com/\
                     online_prediction_requests_per_base_model with base model: anthropic-{}. \
                     Please submit a quota increase request. \
                     https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.",
                    self.model.split('@').next().unwrap_or_default()
                ),
                Value::Null,
            ),
            _ => self.google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource exhausted. Please try again later. Please refer to \
                 https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for \
                 more details.",
                Value::Null,
            ),
        }
    }
}
