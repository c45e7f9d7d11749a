//! The (inflated) bytes of one answer, read in the way its content type calls for.

use super::ends::seen_at_ends;
use super::json::{seen_in_bytes, Seen};
use super::sse::Sse;
use super::tail::Tail;

/// A JSON answer larger than this is not parsed whole: only its last bytes are kept, and
/// its usage looked for there ([`Tail`]).
const MAX_JSON: usize = 4 << 20;

pub(super) enum Body {
    /// A JSON document, buffered until its end.
    Json(Vec<u8>),
    /// A JSON document that outgrew [`MAX_JSON`].
    JsonTail(Box<Tail>),
    Sse(Box<Sse>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Json(Vec::new())
    }
}

impl Body {
    pub fn json() -> Body {
        Body::Json(Vec::new())
    }

    pub fn sse() -> Body {
        Body::Sse(Box::default())
    }

    pub fn is_stream(&self) -> bool {
        matches!(self, Body::Sse(_))
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            Body::Json(buf) if buf.len().saturating_add(chunk.len()) <= MAX_JSON => {
                buf.extend_from_slice(chunk)
            }
            Body::Json(buf) => {
                let mut tail = Tail::from_end(buf);
                tail.push(chunk);
                *self = Body::JsonTail(Box::new(tail));
            }
            Body::JsonTail(tail) => tail.push(chunk),
            Body::Sse(sse) => sse.feed(chunk),
        }
    }

    pub fn finish(self) -> Seen {
        match self {
            Body::Json(buf) => seen_at_ends(&buf)
                .or_else(|| seen_in_bytes(&buf))
                .unwrap_or_default(),
            Body::JsonTail(tail) => tail.finish(),
            Body::Sse(sse) => sse.finish(),
        }
    }
}
