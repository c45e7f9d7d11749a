//! The count phase, after deliver: what the answer used, read off its bytes as they pass
//! to the client, and written to the ledger and the metrics when it ends (or the client
//! leaves). No byte is held back or changed: each frame goes on as it came, and the reader
//! looks at it after.

use super::*;
use crate::usage::read::{Found, Reader, WsReader};
use crate::usage::Record;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the pipeline knew of an answer when it left: the ledger row but for what the
/// body tells (tokens, model, time to first byte, end).
pub(super) struct Pending {
    state: Arc<State>,
    record: Record,
    started: Instant,
}

impl Pending {
    /// `None` for answers no provider gave (keypool's refusals before routing), and for
    /// every answer when neither the ledger nor the metrics are on: then nothing reads the
    /// answer's bytes or prices it.
    pub(super) fn of(served: &mut Served, state: &Arc<State>, started: Instant) -> Option<Pending> {
        if !state.ledger.is_on() && !state.metrics.enabled() {
            return None;
        }
        let provider = served.provider.as_ref()?;
        let meta = std::mem::take(&mut served.meta);
        let at_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .saturating_sub(i64::try_from(started.elapsed().as_millis()).unwrap_or(0));
        let record = Record {
            at_ms,
            provider: provider.id.clone(),
            pool: meta.pool,
            account: served.account.as_ref().map(|a| a.name.clone()),
            kind: served.account.as_ref().map(|a| kind_name(a.kind()).into()),
            model: meta.model,
            status: served.response.status().as_u16(),
            attempts: u32::try_from(served.attempts).unwrap_or(u32::MAX),
            rotations: u32::try_from(meta.refusals.len()).unwrap_or(u32::MAX),
            rotation: meta.refusals.first().map(|r| r.to_string()),
            ..Record::default()
        };
        Some(Pending {
            state: state.clone(),
            record,
            started,
        })
    }

    /// Writes the row: the tokens and model `found` (the request's model when the answer
    /// named none), priced.
    fn close(mut self, found: Found, ttfb: Option<Duration>) {
        let r = &mut self.record;
        r.total_ms = millis(self.started.elapsed());
        r.ttfb_ms = ttfb.map(millis);
        if found.model.is_some() {
            r.model = found.model;
        }
        // An answer that reported no usage (an error, a stream without
        // `include_usage`) has no cost to tell, rather than a cost of $0.
        r.cost_usd = match (&found.tokens, &r.model) {
            (Some(t), Some(m)) => self.state.live().prices.cost(&r.provider, m, t),
            _ => None,
        };
        r.tokens = found.tokens.unwrap_or_default();
        self.state.metrics.answered(r);
        self.state.ledger.record(self.record);
    }
}

fn kind_name(k: crate::providers::Kind) -> &'static str {
    match k {
        crate::providers::Kind::ApiKey => "key",
        crate::providers::Kind::OAuth => "subscription",
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Puts the count phase on `served`'s answer: its body read as it passes, a WebSocket's
/// server side read as it is spliced.
pub(super) fn count(
    mut served: Served,
    state: &Arc<State>,
    started: Instant,
) -> Response<ProxyBody> {
    let pending = Pending::of(&mut served, state, started);
    let mut response = served.response;
    if let Some(splice) = response.extensions_mut().remove::<PendingSplice>() {
        splice.start(state, pending);
        return response;
    }
    let Some(pending) = pending else {
        return response;
    };
    let reader = Reader::for_answer(response.headers());
    let mut pending = pending;
    pending.record.stream = reader.as_ref().is_some_and(Reader::is_stream);
    response.map(|inner| {
        Metered {
            inner,
            reader,
            ttfb: None,
            pending: Some(pending),
        }
        .boxed_unsync()
    })
}

/// An answer's body with its usage read as it passes.
struct Metered {
    inner: ProxyBody,
    reader: Option<Reader>,
    ttfb: Option<Duration>,
    pending: Option<Pending>,
}

impl Metered {
    fn close(&mut self) {
        if let Some(p) = self.pending.take() {
            let found = self.reader.take().map(Reader::finish).unwrap_or_default();
            p.close(found, self.ttfb);
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.ttfb.is_none() {
                        if let Some(p) = &this.pending {
                            this.ttfb = Some(p.started.elapsed());
                        }
                    }
                    if let Some(r) = &mut this.reader {
                        r.feed(data);
                    }
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.close(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    /// The client left before the end: the row says what passed until then.
    fn drop(&mut self) {
        self.close();
    }
}

/// A `101` whose two sides are joined once the answer has gone to the client: the count
/// phase starts the splice, so it can read the server's side.
#[derive(Clone)]
pub(super) struct PendingSplice(Arc<parking_lot::Mutex<Option<SpliceEnds>>>);

struct SpliceEnds {
    client: OnUpgrade,
    upstream: OnUpgrade,
    extensions: Option<String>,
}

impl PendingSplice {
    pub(super) fn new(client: OnUpgrade, upstream: OnUpgrade, extensions: Option<String>) -> Self {
        let ends = SpliceEnds {
            client,
            upstream,
            extensions,
        };
        PendingSplice(Arc::new(parking_lot::Mutex::new(Some(ends))))
    }

    /// Joins the two sides; with `pending`, every `response.completed` the server sends
    /// is a ledger row.
    fn start(self, state: &Arc<State>, pending: Option<Pending>) {
        let Some(ends) = self.0.lock().take() else {
            return;
        };
        let (idle, shutdown) = (state.limits.tunnel_idle_timeout, state.shutdown.clone());
        let open = state.metrics.opened(crate::metrics::Open::WebSocket);
        state.tasks.spawn(async move {
            let _open = open;
            let (c, u) = match tokio::try_join!(ends.client, ends.upstream) {
                Ok(x) => x,
                Err(e) => return tracing::debug!("websocket upgrade failed: {e}"),
            };
            let upstream = TokioIo::new(u);
            match pending {
                None => splice(TokioIo::new(c), upstream, idle, shutdown).await,
                Some(p) => {
                    let tap = WsTap::new(upstream, ends.extensions.as_deref(), p);
                    splice(TokioIo::new(c), tap, idle, shutdown).await
                }
            }
        });
    }
}

/// The upstream side of a spliced WebSocket, its server frames read as they pass.
struct WsTap<U> {
    inner: U,
    reader: WsReader,
    /// The handshake's row, copied for each completed response.
    pending: Pending,
    counted: u32,
    /// When the last response was completed (the next one's latency counts from there).
    last: Instant,
}

impl<U> WsTap<U> {
    fn new(inner: U, extensions: Option<&str>, pending: Pending) -> Self {
        WsTap {
            inner,
            reader: WsReader::new(extensions),
            last: pending.started,
            pending,
            counted: 0,
        }
    }

    fn completed(&mut self, found: Vec<Found>) {
        for f in found {
            let now = Instant::now();
            let row = Pending {
                state: self.pending.state.clone(),
                record: Record {
                    at_ms: self.pending.record.at_ms.saturating_add(
                        i64::try_from(self.last.duration_since(self.pending.started).as_millis())
                            .unwrap_or(0),
                    ),
                    stream: true,
                    ..self.pending.record.clone()
                },
                started: self.last,
            };
            self.last = now;
            self.counted = self.counted.saturating_add(1);
            row.close(f, None);
        }
    }
}

impl<U> Drop for WsTap<U> {
    /// A WebSocket that completed no response is still one row (the handshake's).
    fn drop(&mut self) {
        if self.counted == 0 {
            let row = Pending {
                state: self.pending.state.clone(),
                record: self.pending.record.clone(),
                started: self.pending.started,
            };
            row.close(Found::default(), None);
        }
    }
}

impl<U: AsyncRead + Unpin> AsyncRead for WsTap<U> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let found = self.reader.feed(&buf.filled()[before..]);
            if !found.is_empty() {
                self.completed(found);
            }
        }
        polled
    }
}

impl<U: AsyncWrite + Unpin> AsyncWrite for WsTap<U> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
