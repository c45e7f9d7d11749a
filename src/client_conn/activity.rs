//! What an HTTP/1.1 connection is in the middle of, as far as parking it needs to know:
//! an answer still being produced or written, request bytes read but not yet handed
//! out whole, bytes written but not flushed. hyper keeps these to itself; keypool
//! watches them at the edges it owns (the service, the bodies, the stream).

use crate::body::{BoxError, ProxyBody};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

/// One connection's activity. Every field is touched from the connection's own task
/// only (hyper polls the service, both bodies and the stream there), so relaxed atomics
/// suffice; they are atomics because the pipeline's types must be `Send`.
#[derive(Debug)]
pub struct Activity {
    /// Answers asked of the service whose body hyper has not finished with.
    answering: AtomicUsize,
    /// A request has arrived on the connection.
    asked: AtomicBool,
    /// No byte has been read since the last request was read whole: whatever hyper
    /// holds unparsed is in the read buffer it hands back when parked.
    quiet: AtomicBool,
    /// The last write was flushed: hyper's write buffer is empty.
    flushed: AtomicBool,
    /// Never parked again: a request body was dropped before its end (hyper drains the
    /// rest out of sight), or a request asked to switch protocols (the stream goes with
    /// the upgrade, which hyper completes only after the answer is out).
    kept: AtomicBool,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity {
            answering: AtomicUsize::new(0),
            asked: AtomicBool::new(false),
            quiet: AtomicBool::new(true),
            flushed: AtomicBool::new(true),
            kept: AtomicBool::new(false),
        }
    }
}

impl Activity {
    /// Whether hyper holds nothing that would be lost with it: no answer open, nothing
    /// unflushed, no request half read.
    pub fn idle(&self) -> bool {
        self.answering.load(Relaxed) == 0
            && self.quiet.load(Relaxed)
            && self.flushed.load(Relaxed)
            && !self.kept.load(Relaxed)
    }

    /// Whether a request has arrived yet (the first one has its own deadline).
    pub fn asked(&self) -> bool {
        self.asked.load(Relaxed)
    }

    /// The connection is never parked again.
    pub fn keep(&self) {
        self.kept.store(true, Relaxed);
    }

    pub fn read_some(&self) {
        self.quiet.store(false, Relaxed);
    }

    pub fn wrote(&self) {
        self.flushed.store(false, Relaxed);
    }

    pub fn flushed(&self) {
        self.flushed.store(true, Relaxed);
    }
}

/// A request body as the pipeline receives it: hyper's, watched on HTTP/1.1 so that the
/// connection knows when the request has been read whole.
pub struct ClientBody {
    inner: Incoming,
    /// Until the body has ended (`None` on HTTP/2, where nothing is parked).
    watch: Option<Arc<Activity>>,
}

impl ClientBody {
    pub(super) fn new(inner: Incoming, watch: Option<Arc<Activity>>) -> ClientBody {
        let mut body = ClientBody { inner, watch };
        if body.inner.is_end_stream() {
            body.ended();
        }
        body
    }

    fn ended(&mut self) {
        if let Some(a) = self.watch.take() {
            a.quiet.store(true, Relaxed);
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.ended();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ClientBody {
    fn drop(&mut self) {
        if let Some(a) = self.watch.take() {
            if self.inner.is_end_stream() {
                a.quiet.store(true, Relaxed);
            } else {
                a.keep();
            }
        }
    }
}

/// Counts one answer in [`Activity::answering`] from the request's arrival until hyper
/// drops the answer's body (written whole, or the connection gone).
pub(super) struct Answering(Arc<Activity>);

impl Answering {
    pub(super) fn begin(a: &Arc<Activity>) -> Answering {
        a.answering.fetch_add(1, Relaxed);
        a.asked.store(true, Relaxed);
        Answering(a.clone())
    }

    /// The answer's body, holding the count until hyper is done with it.
    pub(super) fn around(self, body: ProxyBody) -> ProxyBody {
        Counted {
            body,
            _answering: self,
        }
        .boxed_unsync()
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Relaxed);
    }
}

struct Counted {
    body: ProxyBody,
    _answering: Answering,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
