//! Usage and model found in one parsed JSON value, by shape rather than by provider: the
//! same OpenAI-compatible shape comes from a dozen hosts, and subscription backends wrap
//! the API shapes (`{"response": …}`, `{"message": …}`).

use super::model::clean_model;
use crate::usage::Tokens;
use serde_json::{Map, Value};

/// No single answer uses a trillion tokens: a larger count is a hostile or broken number.
const ABSURD: u64 = 1_000_000_000_000;

/// Counts one JSON document stated; a field is `None` when it said nothing about it, so
/// that a later event (Anthropic's `message_delta`) refines an earlier one rather than
/// zeroing it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Seen {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub reasoning: Option<u64>,
    pub model: Option<String>,
}

impl Seen {
    /// Fields `later` states replace this one's (every provider's later counts are
    /// cumulative).
    pub fn merge(&mut self, later: Seen) {
        fn take(a: &mut Option<u64>, b: Option<u64>) {
            if b.is_some() {
                *a = b;
            }
        }
        take(&mut self.input, later.input);
        take(&mut self.output, later.output);
        take(&mut self.cache_read, later.cache_read);
        take(&mut self.cache_write, later.cache_write);
        take(&mut self.reasoning, later.reasoning);
        if later.model.is_some() {
            self.model = later.model;
        }
    }

    pub fn has_tokens(&self) -> bool {
        [
            self.input,
            self.output,
            self.cache_read,
            self.cache_write,
            self.reasoning,
        ]
        .iter()
        .any(Option::is_some)
    }

    pub fn tokens(&self) -> Option<Tokens> {
        self.has_tokens().then(|| Tokens {
            input: self.input.unwrap_or(0),
            output: self.output.unwrap_or(0),
            cache_read: self.cache_read.unwrap_or(0),
            cache_write: self.cache_write.unwrap_or(0),
            // Reasoning is a part of output: never more than it.
            reasoning: self.reasoning.unwrap_or(0).min(self.output.unwrap_or(0)),
        })
    }
}

/// The parts of an answer document usage and the model are read from; everything else
/// (the content: `choices`, `content`, `candidates`, `output`) is skipped by the parser
/// without being built, which is most of an answer's bytes.
#[derive(serde::Deserialize)]
struct Skim {
    usage: Option<Value>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<Value>,
    x_groq: Option<Value>,
    #[serde(rename = "modelVersion")]
    model_version: Option<Value>,
    model: Option<Value>,
    response: Option<Value>,
    message: Option<Value>,
}

/// A whole JSON answer, parsed only as far as [`seen_in`] reads it.
pub(super) fn parse(bytes: &[u8]) -> Option<Value> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        // Gemini's streamGenerateContent without `alt=sse`: an array of documents.
        return serde_json::from_slice(bytes).ok();
    }
    let skim: Skim = serde_json::from_slice(bytes).ok()?;
    let mut doc = Map::new();
    for (key, value) in [
        ("usage", skim.usage),
        ("usageMetadata", skim.usage_metadata),
        ("x_groq", skim.x_groq),
        ("modelVersion", skim.model_version),
        ("model", skim.model),
        ("response", skim.response),
        ("message", skim.message),
    ] {
        if let Some(v) = value {
            doc.insert(key.into(), v);
        }
    }
    Some(Value::Object(doc))
}

/// What `v` says: a document, or a JSON array of them (Gemini's streamGenerateContent
/// without `alt=sse`), later elements refining earlier ones.
pub(super) fn seen_in(v: &Value) -> Seen {
    let mut seen = Seen::default();
    match v {
        Value::Array(items) => items.iter().for_each(|i| seen.merge(seen_in_doc(i))),
        doc => seen = seen_in_doc(doc),
    }
    seen
}

/// One document, or the answer it wraps: Responses events and Code Assist put it under
/// `response`, Anthropic's `message_start` under `message`.
fn seen_in_doc(v: &Value) -> Seen {
    let Some(doc) = v.as_object() else {
        return Seen::default();
    };
    let mut seen = seen_in_object(doc);
    for key in ["response", "message"] {
        if let Some(inner) = doc.get(key).and_then(Value::as_object) {
            seen.merge(seen_in_object(inner));
        }
    }
    seen
}

fn seen_in_object(o: &Map<String, Value>) -> Seen {
    let mut seen = Seen::default();
    if let Some(usage) = o.get("usage").and_then(Value::as_object) {
        seen = from_usage(usage);
    } else if let Some(usage) = o.get("usageMetadata").and_then(Value::as_object) {
        seen = from_usage_metadata(usage);
    } else if let Some(usage) =
        (o.get("x_groq").and_then(|g| g.get("usage"))).and_then(Value::as_object)
    {
        // Groq's older streams put the final usage here.
        seen = from_usage(usage);
    }
    seen.model = (o.get("modelVersion").or_else(|| o.get("model")))
        .and_then(Value::as_str)
        .and_then(clean_model);
    seen
}

/// A token count: a non-negative integer below [`ABSURD`]; anything else is no count.
fn count(o: &Map<String, Value>, key: &str) -> Option<u64> {
    o.get(key)?.as_u64().filter(|n| *n < ABSURD)
}

fn nested(o: &Map<String, Value>, outer: &str, key: &str) -> Option<u64> {
    count(o.get(outer)?.as_object()?, key)
}

/// `usage`: the chat shape (`prompt_tokens`), or the Responses / Anthropic shape
/// (`input_tokens`).
fn from_usage(u: &Map<String, Value>) -> Seen {
    if u.contains_key("prompt_tokens") || u.contains_key("completion_tokens") {
        from_chat_usage(u)
    } else {
        from_input_usage(u)
    }
}

/// OpenAI chat and every OpenAI-compatible provider: `prompt_tokens` counts the cached
/// part too, so it is taken off `input`.
fn from_chat_usage(u: &Map<String, Value>) -> Seen {
    let prompt = count(u, "prompt_tokens");
    // DeepSeek states hits (and misses) beside the prompt rather than in its details.
    let cache_read = nested(u, "prompt_tokens_details", "cached_tokens")
        .or_else(|| count(u, "prompt_cache_hit_tokens"));
    let cache_write = nested(u, "prompt_tokens_details", "cache_write_tokens");
    let completion = count(u, "completion_tokens");
    let reasoning = nested(u, "completion_tokens_details", "reasoning_tokens");
    // OpenAI counts reasoning inside completion_tokens; xAI beside it, which shows as a
    // total of prompt + completion + reasoning.
    let beside = match (prompt, completion, reasoning, count(u, "total_tokens")) {
        (Some(p), Some(c), Some(r), Some(t)) => r > 0 && t == p.saturating_add(c).saturating_add(r),
        _ => false,
    };
    let output = match (completion, reasoning) {
        (Some(c), Some(r)) if beside => Some(c.saturating_add(r)),
        (c, _) => c,
    };
    let input = prompt.map(|p| {
        let cached = cache_read
            .unwrap_or(0)
            .saturating_add(cache_write.unwrap_or(0));
        p.saturating_sub(cached)
    });
    Seen {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
        model: None,
    }
}

/// Responses (`input_tokens_details.cached_tokens`, a part of `input_tokens`) and
/// Anthropic (`cache_*_input_tokens`, beside `input_tokens`) in one: each names only its
/// own fields.
fn from_input_usage(u: &Map<String, Value>) -> Seen {
    let responses_cached = nested(u, "input_tokens_details", "cached_tokens");
    let anthropic_read = count(u, "cache_read_input_tokens");
    let cache_read = match (responses_cached, anthropic_read) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    };
    Seen {
        input: count(u, "input_tokens").map(|i| i.saturating_sub(responses_cached.unwrap_or(0))),
        output: count(u, "output_tokens"),
        cache_read,
        cache_write: count(u, "cache_creation_input_tokens"),
        reasoning: nested(u, "output_tokens_details", "reasoning_tokens"),
        model: None,
    }
}

/// Gemini's `usageMetadata`: the prompt count includes the cached content; thinking is
/// beside the candidates (and billed as output).
fn from_usage_metadata(u: &Map<String, Value>) -> Seen {
    let cached = count(u, "cachedContentTokenCount");
    let prompt = count(u, "promptTokenCount");
    let tool_prompt = count(u, "toolUsePromptTokenCount");
    let input = match (prompt, tool_prompt) {
        (None, None) => None,
        (p, t) => Some(
            p.unwrap_or(0)
                .saturating_add(t.unwrap_or(0))
                .saturating_sub(cached.unwrap_or(0)),
        ),
    };
    let candidates = count(u, "candidatesTokenCount");
    let thoughts = count(u, "thoughtsTokenCount");
    let output = match (candidates, thoughts) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0).saturating_add(t.unwrap_or(0))),
    };
    Seen {
        input,
        output,
        cache_read: cached,
        cache_write: None,
        reasoning: thoughts,
        model: None,
    }
}
