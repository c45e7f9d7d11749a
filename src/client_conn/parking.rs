//! An idle HTTP/1.1 connection held as its bare stream. Between requests hyper keeps a
//! read buffer, a write buffer and room for the service's future (about 20 KiB); a
//! keep-alive connection spends most of its life idle, so keypool hands hyper the stream
//! only while a request is on it, and otherwise waits for the client's next byte itself.

use super::activity::Activity;
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Past this many HTTP/1.1 connections holding hyper's buffers at once, an idle one is
/// parked as soon as its answer is out, not after `[limits] park_after`: a few busy
/// connections keep their buffers between requests (taking a connection apart and
/// building it again costs more CPU than the request's own parse), many connections at
/// once, as a burst of clients opens, do not add up to their buffers' worth of memory.
const CROWD: usize = 256;

/// HTTP/1.1 connections of the process that hold hyper's buffers now.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Counts one connection in [`HELD`] while hyper has it.
pub struct Held(());

impl Held {
    pub fn new() -> Held {
        HELD.fetch_add(1, Ordering::Relaxed);
        Held(())
    }

    /// More connections hold hyper's buffers than [`CROWD`].
    pub fn crowded() -> bool {
        HELD.load(Ordering::Relaxed) > CROWD
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client stream, with the bytes read while parked (or left unparsed by hyper) put
/// back in front, and its reads, writes and flushes told to the connection's [`Activity`].
pub struct Parked<I> {
    io: I,
    prefix: Bytes,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Parked<I> {
    pub fn new(io: I, activity: Arc<Activity>) -> Parked<I> {
        Parked {
            io,
            prefix: Bytes::new(),
            activity,
        }
    }

    /// Puts back what hyper had read and not parsed, ahead of what it never read.
    pub fn unread(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.prefix = match self.prefix.is_empty() {
            true => bytes,
            false => {
                let mut both = BytesMut::with_capacity(bytes.len() + self.prefix.len());
                both.extend_from_slice(&bytes);
                both.extend_from_slice(&self.prefix);
                both.freeze()
            }
        };
    }

    /// Waits for the client's next byte without holding a buffer for it: `false` when
    /// the client closed (or the stream failed) first.
    pub async fn wait_for_bytes(&mut self) -> bool {
        if !self.prefix.is_empty() {
            return true;
        }
        let mut first = [0u8; 1];
        match self.io.read(&mut first).await {
            Ok(1) => {
                self.prefix = Bytes::copy_from_slice(&first);
                true
            }
            _ => false,
        }
    }

    pub fn get_mut(&mut self) -> &mut I {
        &mut self.io
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Parked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            this.activity.read_some();
            // What else has come goes in the same read: hyper sizes its next read to a
            // whole buffer free, so a read of the one waking byte alone would make it
            // double its buffer (16 KiB per connection instead of 8). An error is left
            // for the next read, which meets it again.
            if this.prefix.is_empty() && buf.remaining() > 0 {
                let _ = Pin::new(&mut this.io).poll_read(cx, buf);
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.activity.read_some();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Parked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.wrote();
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.wrote();
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        this.activity.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.activity.wrote();
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_waking_byte_comes_with_what_followed_and_unread_bytes_go_first() {
        let (client, server) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::default());
        let mut parked = Parked::new(server, activity.clone());
        let mut client = client;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(parked.wait_for_bytes().await);
        assert!(activity.idle(), "waiting read nothing hyper would hold");

        // One read hands over the waking byte and what came after it.
        let mut buf = [0u8; 64];
        let n = parked.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n");
        assert!(!activity.idle(), "bytes read and not yet a whole request");

        // hyper's unparsed bytes go back in front of what it never read.
        client.write_all(b"Z").await.unwrap();
        assert!(parked.wait_for_bytes().await);
        parked.unread(Bytes::from_static(b"xy"));
        let mut all = Vec::new();
        while all.len() < 3 {
            let n = parked.read(&mut buf).await.unwrap();
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, b"xyZ");

        drop(client);
        assert!(!parked.wait_for_bytes().await, "the client closed");
    }
}
