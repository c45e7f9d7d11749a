//! The (inflated) bytes of one answer, read in the way its content type calls for.

use super::json::{seen_in, Seen};
use super::sse::Sse;

/// A JSON answer larger than this is not parsed (its usage is not counted): no usage-bearing
/// answer is near it, and holding more would cost every large download memory.
const MAX_JSON: usize = 4 << 20;

pub(super) enum Body {
    /// A JSON document, buffered until its end; `None` once it outgrew [`MAX_JSON`].
    Json(Option<Vec<u8>>),
    Sse(Box<Sse>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Json(None)
    }
}

impl Body {
    pub fn json() -> Body {
        Body::Json(Some(Vec::new()))
    }

    pub fn sse() -> Body {
        Body::Sse(Box::default())
    }

    pub fn is_stream(&self) -> bool {
        matches!(self, Body::Sse(_))
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            Body::Json(slot) => {
                let fits = slot
                    .as_ref()
                    .is_some_and(|b| b.len().saturating_add(chunk.len()) <= MAX_JSON);
                match slot {
                    Some(buf) if fits => buf.extend_from_slice(chunk),
                    _ => *slot = None,
                }
            }
            Body::Sse(sse) => sse.feed(chunk),
        }
    }

    pub fn finish(self) -> Seen {
        match self {
            Body::Json(Some(buf)) => serde_json::from_slice(&buf)
                .map(|v| seen_in(&v))
                .unwrap_or_default(),
            Body::Json(None) => Seen::default(),
            Body::Sse(sse) => sse.finish(),
        }
    }
}
