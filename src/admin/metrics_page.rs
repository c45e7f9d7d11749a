//! `GET /metrics`: the Prometheus exposition. STUB.

use crate::body::{text, ProxyBody};
use crate::state::State;
use http::{Response, StatusCode};

pub(super) fn answer(_state: &State) -> Response<ProxyBody> {
    text(
        StatusCode::NOT_FOUND,
        "keypool: metrics are not built yet\n",
    )
}
