//! Body types shared by the listener and the upstream client, and the request body
//! buffer that lets a request be replayed on another account.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body::{Body, SizeHint};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body as hyper hands one over (a client's request, an upstream's answer).
pub trait HyperBody: Body<Data = Bytes, Error = hyper::Error> + Unpin + Send + 'static {}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin + Send + 'static> HyperBody for B {}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A plain-text answer: keypool's own words where there is no provider's error shape.
pub fn text(status: http::StatusCode, body: impl Into<String>) -> http::Response<ProxyBody> {
    let mut r = http::Response::new(full(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn incoming<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
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
    /// for a huge upload to finish. Either way the client may not go silent for longer
    /// than `idle` in the middle of it ([`Stalled`]).
    pub async fn read<B: HyperBody>(
        body: B,
        limit: usize,
        content_length: Option<u64>,
        idle: Duration,
    ) -> Result<RequestBody, BoxError> {
        let mut body = IdleBound::new(body, idle);
        if content_length.is_some_and(|n| n > limit as u64) {
            return Ok(RequestBody::Streaming(Some(body.boxed_unsync())));
        }
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
                let rest = body.into_data_stream().map(|r| r.map(Frame::data));
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

/// A client went silent in the middle of its request body for longer than allowed
/// (`[limits] handshake_timeout`): a slow-body client must not hold a connection forever.
#[derive(Debug, thiserror::Error)]
#[error(
    "the client sent no part of the request body for {0}s; fix: send the body without pauses, \
     or raise [limits] handshake_timeout"
)]
pub struct Stalled(pub u64);

/// A request body that fails with [`Stalled`] when no frame arrives for `idle`. The timer
/// exists only while the body waits on the client: a body that came whole with its head
/// (most requests) never starts one.
struct IdleBound<B> {
    inner: B,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A frame arrived since the timer was last set.
    progressed: bool,
}

impl<B> IdleBound<B> {
    fn new(inner: B, idle: Duration) -> IdleBound<B> {
        IdleBound {
            inner,
            idle,
            timer: None,
            progressed: false,
        }
    }
}

impl<B: HyperBody> Body for IdleBound<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.progressed = true;
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        let next = tokio::time::Instant::now() + this.idle;
        let timer = match &mut this.timer {
            Some(t) => {
                if std::mem::take(&mut this.progressed) {
                    t.as_mut().reset(next);
                }
                t
            }
            None => {
                this.progressed = false;
                this.timer.insert(Box::pin(tokio::time::sleep_until(next)))
            }
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Stalled(this.idle.as_secs()).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
