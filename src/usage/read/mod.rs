//! Tokens and the model, read off an answer's bytes as they pass to the client: a copy is
//! read, never the bytes the client gets, and never more than a bounded amount of it.
//! JSON bodies ([`body`], read off their two ends in [`ends`], the end of a huge one in
//! [`tail`]), event streams ([`sse`]), the Codex WebSocket ([`websocket`]),
//! compressed bodies ([`decode`]); the shapes of usage in [`json`].

mod body;
mod decode;
mod ends;
mod json;
mod model;
mod sse;
mod tail;
mod websocket;

pub use model::request_model;
pub use websocket::WsReader;

use super::Tokens;
use body::Body;
use decode::{Encoding, Inflate};
use http::{header, HeaderMap};

/// What an answer said it used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub model: Option<String>,
    pub tokens: Option<Tokens>,
}

impl From<json::Seen> for Found {
    fn from(seen: json::Seen) -> Found {
        Found {
            tokens: seen.tokens(),
            model: seen.model,
        }
    }
}

/// Reads one HTTP answer body, chunk by chunk, in bounded memory.
pub struct Reader {
    inner: Inner,
}

enum Inner {
    Plain(Body),
    Compressed(Box<Inflate>),
}

impl Reader {
    /// A reader for an answer with these headers; `None` when its body cannot carry usage
    /// keypool reads (another content type, an encoding keypool does not inflate).
    pub fn for_answer(headers: &HeaderMap) -> Option<Reader> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let content_type = text(header::CONTENT_TYPE)?;
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = if mime == "text/event-stream" {
            Body::sse()
        } else if mime == "application/json" || mime.ends_with("+json") {
            Body::json()
        } else {
            return None;
        };
        let inner = match Encoding::parse(text(header::CONTENT_ENCODING)).ok()? {
            None => Inner::Plain(body),
            Some(encoding) => Inner::Compressed(Box::new(Inflate::new(encoding, body))),
        };
        Some(Reader { inner })
    }

    /// The next piece of the body, as it went to the client.
    pub fn feed(&mut self, chunk: &[u8]) {
        match &mut self.inner {
            Inner::Plain(body) => body.feed(chunk),
            Inner::Compressed(inflate) => inflate.feed(chunk),
        }
    }

    /// Whether the answer is an event stream.
    pub fn is_stream(&self) -> bool {
        match &self.inner {
            Inner::Plain(body) => body.is_stream(),
            Inner::Compressed(inflate) => inflate.body().is_stream(),
        }
    }

    pub fn finish(self) -> Found {
        let body = match self.inner {
            Inner::Plain(body) => body,
            Inner::Compressed(inflate) => inflate.finish(),
        };
        body.finish().into()
    }
}

#[cfg(test)]
mod tests;
