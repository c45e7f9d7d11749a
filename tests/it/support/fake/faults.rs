//! Event streams that go wrong the way real providers' do ([`StreamFault`]),
//! and a fixed stream with awkward framing for byte-for-byte checks.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::bodies::responses_events;
use super::reply::Ctx;
use super::{State, StreamFault};
use crate::support::https::{channel_body, fresh_id, spawn_events, unix_now, Body};

/// The wire shape of an event stream, which decides its in-stream error.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wire {
    Anthropic,
    /// OpenAI Responses, on the API and on the Codex backend.
    Responses,
    /// Chat completions; the in-stream error is OpenRouter's.
    ChatCompletions,
    Gemini,
}

impl Wire {
    /// Leading events without output: the Responses lifecycle
    /// (`response.created`, `response.in_progress`). An in-stream limit
    /// comes after them.
    fn lead(self) -> usize {
        match self {
            Wire::Responses => 2,
            _ => 0,
        }
    }

    /// The provider's limit error as one event; `seq` events went before it.
    fn error_event(self, ctx: &Ctx, seq: usize) -> Bytes {
        let text = match self {
            Wire::Anthropic => {
                let data = json!({
                    "type": "error",
                    "error": {"details": null, "type": "overloaded_error", "message": "Overloaded"},
                    "request_id": ctx.request_id,
                });
                format!("event: error\ndata: {data}\n\n")
            }
            Wire::Responses => {
                let message = format!(
                    "Rate limit reached for {} in organization org-fake on tokens per min (TPM): Limit 30000, Used 30000, Requested 812. Please try again in 1.624s. Visit https://platform.openai.com/account/rate-limits to learn more.",
                    ctx.model
                );
                let data = json!({
                    "type": "response.failed",
                    "sequence_number": seq,
                    "response": {
                        "id": format!("resp_{}", fresh_id()), "object": "response",
                        "created_at": unix_now(), "status": "failed", "model": ctx.model,
                        "output": [], "usage": null, "incomplete_details": null,
                        "error": {"code": "rate_limit_exceeded", "message": message},
                    },
                });
                format!("event: response.failed\ndata: {data}\n\n")
            }
            Wire::ChatCompletions => {
                let data = json!({
                    "error": {
                        "code": 429,
                        "message": "Rate limit exceeded: free-models-per-min. ",
                        "metadata": {"headers": {
                            "X-RateLimit-Limit": "20",
                            "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": ((unix_now() + 30) * 1000).to_string(),
                        }},
                    },
                    "user_id": "user_fake",
                });
                format!("data: {data}\n\n")
            }
            Wire::Gemini => {
                let data = json!({"error": {
                    "code": 429,
                    "message": "You exceeded your current quota, please check your plan and billing details.",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"}],
                }});
                format!("data: {data}\r\n\r\n")
            }
        };
        Bytes::from(text)
    }
}

/// `events` (each one whole SSE event) as `fault` has them go wrong.
pub(super) fn event_stream(
    state: &State,
    ctx: &Ctx,
    wire: Wire,
    mut events: Vec<Bytes>,
    fault: Option<StreamFault>,
) -> Body {
    let keep = match fault {
        None => return spawn_events(events),
        Some(StreamFault::CommentsUntilReleased) => return comments_then(state, events),
        Some(StreamFault::ErrorAsFirstEvent) => wire.lead(),
        Some(StreamFault::ErrorAfterFirstEvent) => wire.lead() + 1,
    };
    events.truncate(keep);
    events.push(wire.error_event(ctx, keep));
    spawn_events(events)
}

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A keep-alive comment at once and every 50 ms until `release_held()`, then
/// `events`. Already released: one comment, then the events.
fn comments_then(state: &State, events: Vec<Bytes>) -> Body {
    let mut released = state.released.subscribe();
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        if tx.send(Bytes::from_static(KEEP_ALIVE)).await.is_err() {
            return;
        }
        let every = Duration::from_millis(50);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            let go = tokio::select! {
                biased;
                r = released.wait_for(|r| *r) => Some(r.is_ok()),
                _ = ticks.tick() => None,
            };
            match go {
                Some(true) => break,
                Some(false) => return,
                None => {
                    if tx.send(Bytes::from_static(KEEP_ALIVE)).await.is_err() {
                        return;
                    }
                }
            }
        }
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    body
}

/// The Responses stream as the API and the Codex backend send it: `event:`
/// names equal to each payload's `type`.
pub(super) fn responses_sse(model: &str) -> Vec<Bytes> {
    responses_events(model)
        .into_iter()
        .map(|e: Value| {
            let name = e["type"].as_str().unwrap_or("message").to_string();
            Bytes::from(format!("event: {name}\ndata: {e}\n\n"))
        })
        .collect()
}

/// `POST /v1/raw-sse`: fixed pieces, one frame each, with every framing a
/// proxy must pass on as is: a comment first, `retry:` and `id:` fields,
/// an event name, a data field split across frames, a CRLF split between
/// frames, two data lines in one event, LF-only and CR-only events.
pub const RAW_SSE: &[&str] = &[
    ": keep-alive\r\n\r\n",
    "retry: 3000\r\nid: 1\r\nevent: chunk\r\ndata: {\"choices\":[{\"delta\":",
    "{\"content\":\"Hel\"}}]}\r",
    "\ndata: {\"note\":\"second line\"}\r\n\r\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n: between\n\n",
    "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\r\r",
    "data: [DONE]\n\n",
];

pub(super) fn raw_sse() -> Body {
    spawn_events(
        RAW_SSE
            .iter()
            .map(|p| Bytes::from_static(p.as_bytes()))
            .collect(),
    )
}
