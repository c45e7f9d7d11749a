//! `GET /` for a browser: the live dashboard (a static page whose script polls
//! [`DASHBOARD_DATA_PATH`](super::DASHBOARD_DATA_PATH)), its script and style, and that
//! JSON. The assets are compiled in: the page works offline and loads nothing from
//! anywhere but keypool, which the content security policy enforces in the browser.

mod data;

use crate::body::{full, ProxyBody};
use crate::state::State;
use http::header::{HeaderName, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response};

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Where the page's script and style are served, on keypool's own address.
pub const ASSETS_PATH: &str = "/_keypool/assets/";

/// Only keypool's own script, style and images (plus `data:` images); no inline code,
/// so a name or model that slipped into the markup still could not run.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

/// A browser's `Accept` (text/html first), not curl's `*/*` nor a script's JSON.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

pub(super) fn page() -> Response<ProxyBody> {
    guarded(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /_keypool/assets/NAME`: the page's script or style; `None` for any other path.
pub(super) fn asset(path: &str) -> Option<Response<ProxyBody>> {
    let (body, kind) = match path.strip_prefix(ASSETS_PATH)? {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(guarded(body, kind))
}

/// `GET /_keypool/dashboard`: the JSON the page polls.
pub(super) async fn data(state: &State) -> Response<ProxyBody> {
    let report = data::report(state).await;
    guarded(crate::status_report::to_json(&report), "application/json")
}

/// `body` as `content_type` with the headers every dashboard answer carries: the policy,
/// no type sniffing, no framing by another page, and nothing cached (the data is live, and
/// a new keypool's page must not run an old script).
fn guarded(body: impl Into<bytes::Bytes>, content_type: &'static str) -> Response<ProxyBody> {
    let mut r = Response::new(full(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    r
}
