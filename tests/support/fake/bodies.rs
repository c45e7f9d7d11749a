//! Success bodies in the real providers' shapes.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::https::{fresh_id, unix_now};

pub(super) const OPENAI_FINGERPRINT: &str = "fp_fake0000";
pub(super) const REPLY_PIECES: &[&str] = &["Hello", " from", " the", " fake", " provider", "."];
pub(super) const GEMINI_TEXT: &str = "Hello from the fake provider.";

pub(super) fn openai_completion(model: &str) -> Value {
    json!({
        "id": format!("chatcmpl-{}", fresh_id()),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": REPLY_PIECES.concat(),
                "refusal": null,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 6,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": OPENAI_FINGERPRINT,
    })
}

/// The shared envelope of one OpenAI `chat.completion.chunk` stream.
pub(super) struct OpenAiStream {
    id: String,
    created: u64,
    model: String,
}

impl OpenAiStream {
    pub(super) fn new(model: &str) -> OpenAiStream {
        OpenAiStream {
            id: format!("chatcmpl-{}", fresh_id()),
            created: unix_now(),
            model: model.to_string(),
        }
    }

    pub(super) fn event(&self, delta: Value, finish_reason: Value) -> Bytes {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": OPENAI_FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    /// role chunk, content chunks, finish chunk, optional usage chunk, `[DONE]`.
    pub(super) fn events(&self, include_usage: bool) -> Vec<Bytes> {
        let mut events = vec![self.event(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        )];
        for piece in REPLY_PIECES {
            events.push(self.event(json!({ "content": piece }), Value::Null));
        }
        events.push(self.event(json!({}), json!("stop")));
        if include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": OPENAI_FINGERPRINT,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
            });
            events.push(Bytes::from(format!("data: {chunk}\n\n")));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        events
    }
}

pub(super) fn anthropic_message(model: &str) -> Value {
    json!({
        "id": format!("msg_01{}", fresh_id()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": REPLY_PIECES.concat()}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 6,
            "service_tier": "standard",
        },
    })
}

pub(super) fn anthropic_events(model: &str) -> Vec<Bytes> {
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut start = anthropic_message(model);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);

    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": start}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        // The real ping's data carries a space: `{"type": "ping"}`.
        Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n"),
    ];
    for piece in REPLY_PIECES {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 6}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

pub(super) fn gemini_response(model: &str, text: &str, last: bool) -> Value {
    let mut candidate = json!({
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
    });
    let mut usage = json!({"promptTokenCount": 5, "totalTokenCount": 5});
    if last {
        candidate["finishReason"] = json!("STOP");
        usage = json!({
            "promptTokenCount": 5,
            "candidatesTokenCount": 6,
            "totalTokenCount": 11,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
        });
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": fresh_id(),
    })
}

pub(super) fn gemini_chunks(model: &str) -> Vec<Value> {
    let last = REPLY_PIECES.len() - 1;
    (REPLY_PIECES.iter().enumerate())
        .map(|(i, piece)| gemini_response(model, piece, i == last))
        .collect()
}
