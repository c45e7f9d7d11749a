//! Success bodies in the real providers' shapes.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::https::{fresh_id, unix_now};

pub(super) const OPENAI_FINGERPRINT: &str = "fp_fake0000";
pub(super) const REPLY_PIECES: &[&str] = &["Hello", " from", " the", " fake", " provider", "."];
pub(super) const GEMINI_TEXT: &str = "Hello from the fake provider.";

/// Usage as OpenAI states it for a reasoning model with a cached prompt: 1920 of the 2006
/// prompt tokens cached, 256 of the 300 completion tokens spent reasoning.
pub(super) fn chat_usage() -> Value {
    json!({
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 256,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

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
        "usage": chat_usage(),
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
                "usage": chat_usage(),
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
        // 12 uncached prompt tokens, 1500 written to the cache, 9000 read from it.
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 1500,
            "cache_read_input_tokens": 9000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 80,
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
        // Cumulative: the real API restates the prompt counts beside the final output count.
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {
            "input_tokens": 12, "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 9000, "output_tokens": 80,
        }}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

pub(super) fn gemini_response(model: &str, text: &str, last: bool) -> Value {
    let mut candidate = json!({
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
    });
    // 4000 of the 5000 prompt tokens from a cached context; 400 thinking tokens beside
    // the 60 of the answer. Earlier chunks state the prompt only (the counts are cumulative).
    let mut usage = json!({"promptTokenCount": 5000, "totalTokenCount": 5000});
    if last {
        candidate["finishReason"] = json!("STOP");
        usage = json!({
            "promptTokenCount": 5000,
            "candidatesTokenCount": 60,
            "cachedContentTokenCount": 4000,
            "thoughtsTokenCount": 400,
            "totalTokenCount": 5460,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5000}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 4000}],
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

/// 2048 of 3000 input tokens cached; 320 of 400 output tokens spent reasoning.
pub(super) fn responses_usage() -> Value {
    json!({
        "input_tokens": 3000, "input_tokens_details": {"cached_tokens": 2048},
        "output_tokens": 400, "output_tokens_details": {"reasoning_tokens": 320},
        "total_tokens": 3400,
    })
}

/// A non-streamed Responses answer: what `response.completed` carries.
pub(super) fn responses_object(model: &str) -> Value {
    let events = responses_events(model);
    let completed = events.iter().find(|e| e["type"] == "response.completed");
    completed.map_or(Value::Null, |e| e["response"].clone())
}

/// The Responses API event sequence for one text reply, as the Codex backend
/// streams it (SSE `event:` names equal each payload's `type`).
pub(super) fn responses_events(model: &str) -> Vec<Value> {
    let id = format!("resp_{}", fresh_id());
    let item_id = format!("msg_{}", fresh_id());
    let created_at = unix_now();
    let response = |status: &str, output: Value, usage: Value| {
        json!({
            "id": id, "object": "response", "created_at": created_at, "status": status,
            "model": model, "output": output, "usage": usage, "error": null,
            "incomplete_details": null, "instructions": null, "store": false,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        })
    };
    let item = |status: &str, text: &str| {
        let content = match text {
            "" => json!([]),
            t => json!([{"type": "output_text", "text": t, "annotations": []}]),
        };
        json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content})
    };
    let full_text = REPLY_PIECES.concat();
    let mut events = vec![
        json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.in_progress", "response": response("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": item("in_progress", "")}),
    ];
    for piece in REPLY_PIECES {
        events.push(json!({
            "type": "response.output_text.delta", "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": piece,
        }));
    }
    let done = item("completed", &full_text);
    events.push(json!({
        "type": "response.output_text.done", "item_id": item_id,
        "output_index": 0, "content_index": 0, "text": full_text,
    }));
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": done}));
    let usage = responses_usage();
    events.push(json!({"type": "response.completed", "response": response("completed", json!([done]), usage)}));
    for (n, event) in events.iter_mut().enumerate() {
        event["sequence_number"] = json!(n);
    }
    events
}

/// Copilot's `GET /models`: the OpenAI list shape plus Copilot's capability
/// metadata.
pub(super) fn copilot_models() -> Value {
    let model = |id: &str, family: &str, vendor: &str| {
        json!({
            "id": id, "object": "model", "name": id, "vendor": vendor, "version": id,
            "preview": false, "model_picker_enabled": true,
            "capabilities": {
                "family": family, "type": "chat", "tokenizer": "o200k_base",
                "limits": {"max_context_window_tokens": 128000, "max_output_tokens": 16384},
                "supports": {"streaming": true, "tool_calls": true, "parallel_tool_calls": true},
            },
        })
    };
    json!({"object": "list", "data": [
        model("gpt-4o", "gpt-4o", "Azure OpenAI"),
        model("claude-sonnet-4", "claude-sonnet-4", "Anthropic"),
    ]})
}

/// Cloud Code wraps each Gemini response and adds a trace id.
pub(super) fn cloud_code_wrap(response: Value) -> Value {
    json!({"response": response, "traceId": fresh_id()})
}
