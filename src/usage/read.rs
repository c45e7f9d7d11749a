//! Tokens and the model, read off an answer's bytes as they pass to the client.
//! STUB: the real readers (JSON, SSE, WebSocket, compressed bodies) replace this.

use super::Tokens;
use http::HeaderMap;

/// What an answer said it used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub model: Option<String>,
    pub tokens: Option<Tokens>,
}

/// Reads one HTTP answer body, chunk by chunk, in bounded memory.
pub struct Reader {
    _private: (),
}

impl Reader {
    /// A reader for an answer with these headers; `None` when its body cannot carry usage
    /// keypool reads.
    pub fn for_answer(_headers: &HeaderMap) -> Option<Reader> {
        None
    }

    /// The next piece of the body, as it went to the client.
    pub fn feed(&mut self, _chunk: &[u8]) {}

    /// Whether the answer is an event stream.
    pub fn is_stream(&self) -> bool {
        false
    }

    pub fn finish(self) -> Found {
        Found::default()
    }
}

/// Reads the server's side of a WebSocket (Codex's Responses API): one [`Found`] per
/// `response.completed`.
pub struct WsReader {
    _private: (),
}

impl WsReader {
    /// `extensions`: the `sec-websocket-extensions` the server's `101` agreed.
    pub fn new(_extensions: Option<&str>) -> WsReader {
        WsReader { _private: () }
    }

    /// Bytes the server sent, as they went to the client; what completed in them.
    pub fn feed(&mut self, _bytes: &[u8]) -> Vec<Found> {
        Vec::new()
    }
}

/// The model a request asks for: its JSON body's `model`, or Gemini's `models/{model}:…`
/// path.
pub fn request_model(_path: &str, _body: Option<&[u8]>) -> Option<String> {
    None
}
