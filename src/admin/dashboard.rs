//! `GET /` for a browser: the live dashboard, and the JSON it polls. STUB.

use crate::body::{text, ProxyBody};
use crate::state::State;
use http::{HeaderMap, Response, StatusCode};

/// A browser's `Accept` (text/html first), not curl's `*/*` nor a script's JSON.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

pub(super) fn page() -> Response<ProxyBody> {
    text(StatusCode::OK, "keypool dashboard\n")
}

pub(super) async fn data(_state: &State) -> Response<ProxyBody> {
    text(
        StatusCode::NOT_FOUND,
        "keypool: the dashboard is not built yet\n",
    )
}
