//! Body types shared by the listener and the upstream client, and the request body
//! buffer that lets a request be replayed on another account.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn incoming(body: Incoming) -> ProxyBody {
    body.map_err(BoxError::from).boxed_unsync()
}

/// A request body, read once.
pub enum RequestBody {
    /// Small enough to keep: replayable on every attempt.
    Buffered(Bytes),
    /// Over the replay limit: forwarded once, as it arrives.
    Streaming(Option<ProxyBody>),
}

impl RequestBody {
    /// Buffers `body` up to `limit` bytes. A body announced or found larger is passed on as
    /// a stream (the bytes already read go first), so nothing is lost and nothing waits
    /// for a huge upload to finish.
    pub async fn read(
        body: Incoming,
        limit: usize,
        content_length: Option<u64>,
    ) -> Result<RequestBody, hyper::Error> {
        if content_length.is_some_and(|n| n > limit as u64) {
            return Ok(RequestBody::Streaming(Some(incoming(body))));
        }
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: LLM APIs define none, and a replay could not keep them
            };
            buf.extend_from_slice(&data);
            if buf.len() > limit {
                let head = futures_util::stream::once(async move {
                    Ok::<_, BoxError>(Frame::data(buf.freeze()))
                });
                let rest = body
                    .into_data_stream()
                    .map(|r| r.map(Frame::data).map_err(BoxError::from));
                return Ok(RequestBody::Streaming(Some(
                    StreamBody::new(head.chain(rest)).boxed_unsync(),
                )));
            }
        }
        Ok(RequestBody::Buffered(buf.freeze()))
    }

    /// The buffered bytes (empty for a streamed body), for reading without consuming.
    pub fn bytes(&self) -> &[u8] {
        match self {
            RequestBody::Buffered(b) => b,
            RequestBody::Streaming(_) => &[],
        }
    }

    pub fn replayable(&self) -> bool {
        matches!(self, RequestBody::Buffered(_))
    }

    /// The body for one attempt, through `edit` when it is buffered (an account-bound
    /// value rewritten; `None` keeps it as is). A streaming body can be taken once.
    pub fn for_attempt(&mut self, edit: impl FnOnce(&Bytes) -> Option<Bytes>) -> ProxyBody {
        match self {
            RequestBody::Buffered(b) if b.is_empty() => empty(),
            RequestBody::Buffered(b) => full(edit(b).unwrap_or_else(|| b.clone())),
            RequestBody::Streaming(s) => s.take().unwrap_or_else(empty),
        }
    }
}
