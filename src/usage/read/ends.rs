//! A whole JSON answer's usage and model read off its two ends, without parsing the
//! content between them, which is most of an answer's bytes (a 2 KB chat completion:
//! about 20k instructions parsed whole, 14k this way, most of it the usage object's own
//! parse). Every provider puts `usage` (Gemini `usageMetadata`, then `modelVersion`)
//! after the content and `model` before it.
//!
//! Each end is parsed as JSON, so a key counts only where the document's top level holds
//! it: what follows the usage must close the outermost object and end the text, and the
//! text up to the model must open that object. Anything else returns `None` and the caller
//! parses the whole document: usage not near the end, an array, a wrapped answer (Code
//! Assist's `response`), a key an end states twice. What lies between the ends is not
//! checked to be valid JSON.

use super::json::{Fields, ObjectOr, Seen, Text, Usage, UsageMetadata};
use memchr::memmem;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

/// How far from its end an answer's usage key is looked for, and from its start its model.
const WINDOW: usize = 4 << 10;

/// What an answer's top level states, read from its two ends; `None` when they do not
/// show it (see the module's comment).
pub(super) fn seen_at_ends(bytes: &[u8]) -> Option<Seen> {
    let (key_at, value_at, metadata) = last_usage_key(bytes)?;
    let (mut fields, value_len) = if metadata {
        let (u, len) = value::<ObjectOr<UsageMetadata>>(&bytes[value_at..])?;
        (
            Fields {
                usage_metadata: ObjectOr(Some(u.0?)),
                ..Fields::default()
            },
            len,
        )
    } else {
        let (u, len) = value::<ObjectOr<Usage>>(&bytes[value_at..])?;
        (
            Fields {
                usage: ObjectOr(Some(u.0?)),
                ..Fields::default()
            },
            len,
        )
    };
    let end = closing(&bytes[value_at + value_len..])?;
    if end.model.0.is_some() || end.model_version.0.is_some() {
        (fields.model, fields.model_version) = (end.model, end.model_version);
    } else {
        let head = opening(&bytes[..key_at])?;
        (fields.model, fields.model_version) = (head.model, head.model_version);
    }
    Some(fields.seen())
}

/// The top-level fields an end is read for; the others are skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Edge {
    model: Text,
    #[serde(rename = "modelVersion")]
    model_version: Text,
    /// Keys that make the whole document worth parsing after all: a second usage, or
    /// an answer wrapped in another.
    usage: Option<IgnoredAny>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<IgnoredAny>,
    response: Option<IgnoredAny>,
    message: Option<IgnoredAny>,
}

impl Edge {
    fn plain(self) -> Option<Edge> {
        let stated_elsewhere = [
            &self.usage,
            &self.usage_metadata,
            &self.response,
            &self.message,
        ];
        stated_elsewhere.iter().all(|f| f.is_none()).then_some(self)
    }
}

/// The last `"usage"` or `"usageMetadata"` key in the end window: where the key starts,
/// where its value starts, and which of the two it is.
fn last_usage_key(bytes: &[u8]) -> Option<(usize, usize, bool)> {
    let from = bytes.len().saturating_sub(WINDOW);
    let finder = memmem::FinderRev::new(b"\"usage");
    let mut end = bytes.len();
    // Bounded: each step looks further back, within the window.
    while let Some(found) = finder.rfind(&bytes[from..end]) {
        let at = from + found;
        end = at;
        let rest = &bytes[at + b"\"usage".len()..];
        let (metadata, rest) = match rest.strip_prefix(b"\"") {
            Some(rest) => (false, rest),
            None => match rest.strip_prefix(b"Metadata\"") {
                Some(rest) => (true, rest),
                None => continue,
            },
        };
        if let Some(value) = after_colon(rest) {
            return Some((at, bytes.len() - value.len(), metadata));
        }
    }
    None
}

/// What follows `:` (and the spaces around it), when `rest` starts with one.
pub(super) fn after_colon(rest: &[u8]) -> Option<&[u8]> {
    Some(
        rest.trim_ascii_start()
            .strip_prefix(b":")?
            .trim_ascii_start(),
    )
}

/// The JSON value at the start of `bytes`, and how many bytes it took.
pub(super) fn value<T: DeserializeOwned>(bytes: &[u8]) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
    let v = values.next()?.ok()?;
    Some((v, values.byte_offset()))
}

/// The fields after the usage value, which must be the rest of the outermost object:
/// `, "key": value …}` and nothing but spaces after.
fn closing(rest: &[u8]) -> Option<Edge> {
    let rest = rest.trim_ascii_start();
    let inner = match rest.first()? {
        b',' => &rest[1..],
        b'}' => rest,
        _ => return None,
    };
    if inner.len() > WINDOW {
        return None;
    }
    let mut object = Vec::with_capacity(inner.len() + 1);
    object.push(b'{');
    object.extend_from_slice(inner);
    serde_json::from_slice::<Edge>(&object).ok()?.plain()
}

/// The fields of the outermost object up to and including its first `"model"` or
/// `"modelVersion"` key, which must lie in the start window of `head` (the text before
/// the usage key).
fn opening(head: &[u8]) -> Option<Edge> {
    let head = &head[..head.len().min(WINDOW)];
    // Bounded: each step looks further on, within the window.
    for at in memmem::find_iter(head, b"\"model") {
        let rest = &head[at + b"\"model".len()..];
        let Some(rest) = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"Version\""))
        else {
            continue;
        };
        let Some(value_at) = after_colon(rest).map(|v| head.len() - v.len()) else {
            continue;
        };
        let (_, len) = value::<IgnoredAny>(&head[value_at..])?;
        let mut object = Vec::with_capacity(value_at + len + 1);
        object.extend_from_slice(&head[..value_at + len]);
        object.push(b'}');
        return serde_json::from_slice::<Edge>(&object).ok()?.plain();
    }
    None
}

#[cfg(test)]
mod tests;
