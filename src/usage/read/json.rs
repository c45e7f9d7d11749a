//! Usage and model found in one parsed JSON value, by shape rather than by provider: the
//! same OpenAI-compatible shape comes from a dozen hosts, and subscription backends wrap
//! the API shapes (`{"response": …}`, `{"message": …}`).

use super::model::clean_model;
use crate::usage::Tokens;
use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// What one JSON text states: a document, or an array of them (Gemini's
/// streamGenerateContent without `alt=sse`), later elements refining earlier ones.
/// `None` when it is not JSON (or repeats a field the reader looks at).
pub(super) fn seen_in_bytes(bytes: &[u8]) -> Option<Seen> {
    Some(doc_in_bytes(bytes)?.1)
}

/// [`seen_in_bytes`] and the document's `type` (a Responses event's).
pub(super) fn doc_in_bytes(bytes: &[u8]) -> Option<(Option<String>, Seen)> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'[' {
        let docs: Vec<ObjectOr<Doc>> = serde_json::from_slice(bytes).ok()?;
        let mut seen = Seen::default();
        for doc in docs.into_iter().filter_map(|d| d.0) {
            seen.merge(doc.seen());
        }
        return Some((None, seen));
    }
    let doc: Doc = serde_json::from_slice(bytes).ok()?;
    let kind = doc.kind.0.clone();
    Some((kind, doc.seen()))
}

/// The fields of an answer document usage and the model are read from, typed: the
/// content (`choices`, `content`, `candidates`, `output`), most of an answer's bytes, is
/// skipped by the parser without being built, and so are the counts' own neighbours.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    // Fields' own, spelled out: `#[serde(flatten)]` would buffer every other field (the
    // content) to hand it on.
    usage: ObjectOr<Usage>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: ObjectOr<UsageMetadata>,
    x_groq: ObjectOr<Groq>,
    #[serde(rename = "modelVersion")]
    model_version: Text,
    model: Text,
    /// Responses events and Code Assist put the answer here.
    response: ObjectOr<Fields>,
    /// Anthropic's `message_start`.
    message: ObjectOr<Fields>,
    #[serde(rename = "type")]
    kind: Text,
}

impl Doc {
    fn seen(self) -> Seen {
        let own = Fields {
            usage: self.usage,
            usage_metadata: self.usage_metadata,
            x_groq: self.x_groq,
            model_version: self.model_version,
            model: self.model,
        };
        let mut seen = own.seen();
        for inner in [self.response.0, self.message.0].into_iter().flatten() {
            seen.merge(inner.seen());
        }
        seen
    }
}

/// A document's own usage and model (or those of the answer it wraps).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Fields {
    pub usage: ObjectOr<Usage>,
    #[serde(rename = "usageMetadata")]
    pub usage_metadata: ObjectOr<UsageMetadata>,
    /// Groq's older streams put the final usage here.
    pub(super) x_groq: ObjectOr<Groq>,
    #[serde(rename = "modelVersion")]
    pub model_version: Text,
    pub model: Text,
}

impl Fields {
    pub fn seen(self) -> Seen {
        let mut seen = match (self.usage.0, self.usage_metadata.0, self.x_groq.0) {
            (Some(u), _, _) => u.seen(),
            (None, Some(u), _) => u.seen(),
            (
                None,
                None,
                Some(Groq {
                    usage: ObjectOr(Some(u)),
                }),
            ) => u.seen(),
            _ => Seen::default(),
        };
        seen.model = (self.model_version.0.or(self.model.0))
            .as_deref()
            .and_then(clean_model);
        seen
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Groq {
    usage: ObjectOr<Usage>,
}

/// `usage` in every shape: chat (`prompt_tokens`), Responses and Anthropic
/// (`input_tokens`), each naming only its own fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Usage {
    prompt_tokens: Count,
    completion_tokens: Count,
    total_tokens: Count,
    prompt_tokens_details: ObjectOr<Details>,
    completion_tokens_details: ObjectOr<Details>,
    /// DeepSeek states hits beside the prompt rather than in its details.
    prompt_cache_hit_tokens: Count,
    input_tokens: Count,
    output_tokens: Count,
    input_tokens_details: ObjectOr<Details>,
    output_tokens_details: ObjectOr<Details>,
    cache_read_input_tokens: Count,
    cache_creation_input_tokens: Count,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Details {
    cached_tokens: Count,
    cache_write_tokens: Count,
    reasoning_tokens: Count,
}

fn detail(d: &ObjectOr<Details>, of: fn(&Details) -> Count) -> Option<u64> {
    d.0.as_ref().and_then(|d| of(d).value)
}

/// Gemini's `usageMetadata`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    cached_content_token_count: Count,
    prompt_token_count: Count,
    tool_use_prompt_token_count: Count,
    candidates_token_count: Count,
    thoughts_token_count: Count,
}

/// A token count as the wire gave it: whether the field was there at all, and its value
/// when it is a non-negative integer below [`ABSURD`] (anything else is no count).
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    present: bool,
    value: Option<u64>,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        let value = d.deserialize_any(Lenient(|v: Any| match v {
            Any::Unsigned(n) => Some(n).filter(|n| *n < ABSURD),
            Any::Signed(n) => u64::try_from(n).ok().filter(|n| *n < ABSURD),
            _ => None,
        }))?;
        Ok(Count {
            present: true,
            value,
        })
    }
}

/// A string field; anything else reads as none.
#[derive(Debug, Default, Clone)]
pub(super) struct Text(pub Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        d.deserialize_any(Lenient(|v: Any| match v {
            Any::Str(s) => Some(s),
            _ => None,
        }))
        .map(Text)
    }
}

/// An object read as `T`; anything else (null, a number, an array) reads as none.
#[derive(Debug, Clone)]
pub(super) struct ObjectOr<T>(pub Option<T>);

impl<T> Default for ObjectOr<T> {
    fn default() -> Self {
        ObjectOr(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOr<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ObjectOr<T>, D::Error> {
        d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
            .map(ObjectOr)
    }
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
}

/// A scalar as [`Lenient`] hands it on.
enum Any {
    Unsigned(u64),
    Signed(i64),
    Str(String),
    Other,
}

/// Accepts any JSON value (draining arrays and objects) and maps scalars through `.0`.
struct Lenient<F>(F);

impl<'de, R, F: FnOnce(Any) -> Option<R>> Visitor<'de> for Lenient<F> {
    type Value = Option<R>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E>(self, n: u64) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Unsigned(n)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Signed(n)))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Other))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Other))
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Str(s.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Option<R>, E> {
        Ok((self.0)(Any::Other))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<R>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((self.0)(Any::Other))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<R>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok((self.0)(Any::Other))
    }
}

impl Usage {
    fn seen(&self) -> Seen {
        if self.prompt_tokens.present || self.completion_tokens.present {
            self.chat()
        } else {
            self.input()
        }
    }

    /// OpenAI chat and every OpenAI-compatible provider: `prompt_tokens` counts the cached
    /// part too, so it is taken off `input`.
    fn chat(&self) -> Seen {
        let prompt = self.prompt_tokens.value;
        let cache_read = detail(&self.prompt_tokens_details, |d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens.value);
        let cache_write = detail(&self.prompt_tokens_details, |d| d.cache_write_tokens);
        let completion = self.completion_tokens.value;
        let reasoning = detail(&self.completion_tokens_details, |d| d.reasoning_tokens);
        // OpenAI counts reasoning inside completion_tokens; xAI beside it, which shows as a
        // total of prompt + completion + reasoning.
        let beside = match (prompt, completion, reasoning, self.total_tokens.value) {
            (Some(p), Some(c), Some(r), Some(t)) => {
                r > 0 && t == p.saturating_add(c).saturating_add(r)
            }
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
    /// Anthropic (`cache_*_input_tokens`, beside `input_tokens`) in one.
    fn input(&self) -> Seen {
        let responses_cached = detail(&self.input_tokens_details, |d| d.cached_tokens);
        let anthropic_read = self.cache_read_input_tokens.value;
        let cache_read = match (responses_cached, anthropic_read) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        Seen {
            input: (self.input_tokens.value)
                .map(|i| i.saturating_sub(responses_cached.unwrap_or(0))),
            output: self.output_tokens.value,
            cache_read,
            cache_write: self.cache_creation_input_tokens.value,
            reasoning: detail(&self.output_tokens_details, |d| d.reasoning_tokens),
            model: None,
        }
    }
}

impl UsageMetadata {
    /// The prompt count includes the cached content; thinking is beside the candidates
    /// (and billed as output).
    fn seen(&self) -> Seen {
        let cached = self.cached_content_token_count.value;
        let input = match (
            self.prompt_token_count.value,
            self.tool_use_prompt_token_count.value,
        ) {
            (None, None) => None,
            (p, t) => Some(
                p.unwrap_or(0)
                    .saturating_add(t.unwrap_or(0))
                    .saturating_sub(cached.unwrap_or(0)),
            ),
        };
        let thoughts = self.thoughts_token_count.value;
        let output = match (self.candidates_token_count.value, thoughts) {
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
}
