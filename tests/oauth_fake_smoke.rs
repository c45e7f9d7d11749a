//! Talks to the fake OAuth server and the fake provider's subscription routes
//! directly (no keypool in between), to prove the fakes speak the wire shapes
//! the OAuth tests rely on.

mod support;

#[path = "oauth_fake_smoke/routes.rs"]
mod routes;

use serde_json::Value;

pub async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).expect("JSON body")
}

/// `(event name, data)` of an SSE body framed with `\n\n`.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    assert!(body.ends_with("\n\n"), "unterminated SSE body: {body:?}");
    (body.split("\n\n").filter(|e| !e.is_empty()))
        .map(|event| {
            let field = |name: &str| {
                (event.lines())
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {event:?}"))
            };
            let data = serde_json::from_str(field("data: ")).expect("JSON data");
            (field("event: ").to_string(), data)
        })
        .collect()
}
