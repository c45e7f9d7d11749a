//! A TCP relay on loopback that puts an upstream one round-trip time away.

use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A TCP relay on loopback in front of `target` that puts it `rtt` away, like a provider
/// across a real network. Every chunk, in either direction, is delivered `rtt / 2` after
/// the relay read it, and a new connection's first bytes wait one more `rtt` first, as
/// TCP's SYN and SYN-ACK would make them. No bandwidth limit, no loss.
pub async fn start_relay(target: SocketAddr, rtt: Duration, lag: Arc<Lag>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    let one_way = rtt / 2;
    tokio::spawn(async move {
        loop {
            let Ok((near, _)) = listener.accept().await else {
                continue;
            };
            let lag = lag.clone();
            tokio::spawn(async move {
                // The handshake: nothing is read from the client (its bytes wait in the
                // socket) until a round trip has passed.
                tokio::time::sleep(rtt).await;
                let Ok(far) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = near.set_nodelay(true);
                let _ = far.set_nodelay(true);
                let (near_r, near_w) = near.into_split();
                let (far_r, far_w) = far.into_split();
                tokio::spawn(delayed_copy(near_r, far_w, one_way, lag.clone()));
                tokio::spawn(delayed_copy(far_r, near_w, one_way, lag));
            });
        }
    });
    addr
}

/// Copies one direction of a relayed connection, writing each chunk `delay` after it was
/// read. Reading and writing are separate tasks, so a chunk's delay starts when it is
/// read, not when the previous chunk was written: the delays overlap instead of adding
/// up. The end of the stream (or a read error) is delayed like data, then passed on as a
/// write shutdown.
async fn delayed_copy(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    lag: Arc<Lag>,
) {
    // Unbounded: the bench's flows are a few KB, and a bound could hold the reader back.
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Bytes)>();
    let writer = tokio::spawn(async move {
        while let Some((read_at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(read_at + delay).await;
            lag.record(read_at.elapsed());
            if chunk.is_empty() {
                break; // the end of the stream
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        if tx.send((tokio::time::Instant::now(), chunk)).is_err() || n == 0 {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// The one-way delays the relay actually applied: tokio's timer has a resolution of
/// 1 ms and rounds up, so they are a little longer than asked for.
#[derive(Default)]
pub struct Lag {
    pub chunks: AtomicU64,
    total_ns: AtomicU64,
}

impl Lag {
    fn record(&self, d: Duration) {
        self.total_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.chunks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn mean(&self) -> Duration {
        let n = self.chunks.load(Ordering::Relaxed).max(1);
        Duration::from_nanos(self.total_ns.load(Ordering::Relaxed) / n)
    }
}
