//! Two byte streams joined until either side closes or both go quiet: blind tunnels and
//! WebSocket connections after `101`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// Once shutdown begins, a spliced connection closes after this much silence, so an idle
/// keep-alive tunnel does not hold the process for the whole grace period.
const IDLE_AFTER_SHUTDOWN: Duration = Duration::from_secs(2);

pub async fn splice<A, B>(a: A, b: B, idle: Duration, shutdown: CancellationToken)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Active {
        inner: a,
        start,
        last: last.clone(),
    };
    let mut b = Active {
        inner: b,
        start,
        last: last.clone(),
    };
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut a, &mut b) => {
            if let Err(e) = r {
                tracing::debug!("spliced connection ended: {e}");
            }
        }
        () = watchdog(start, &last, idle, &shutdown) => {
            tracing::debug!("spliced connection closed after being idle");
        }
    }
}

async fn watchdog(start: Instant, last: &AtomicU64, idle: Duration, shutdown: &CancellationToken) {
    loop {
        let limit = if shutdown.is_cancelled() {
            IDLE_AFTER_SHUTDOWN.min(idle)
        } else {
            idle
        };
        let quiet = start
            .elapsed()
            .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
        if quiet >= limit {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(limit - quiet) => {}
            () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
        }
    }
}

/// Records when bytes last moved in either direction.
struct Active<T> {
    inner: T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Active<T> {
    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Active<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Active<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
