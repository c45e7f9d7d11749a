//! Native CLI credential files holding a login the fake issued, as the CLIs write them.

use super::{Grant, Identity};
use serde_json::json;

/// Codex's `auth.json` in ChatGPT mode, with a field no keypool version knows (a
/// write-back must keep it).
pub fn codex_auth_json(g: &Grant, id: &Identity) -> String {
    json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": g.id_token,
            "access_token": g.access,
            "refresh_token": g.refresh,
            "account_id": id.account_id,
        },
        "last_refresh": "2026-11-01T00:00:00.000Z",
        "agent_identity": null,
        "future_field": {"keep": [1, 2, 3]},
    })
    .to_string()
}
