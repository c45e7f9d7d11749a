//! A client that writes exact bytes: what a hostile or broken client sends, which real
//! HTTP clients would normalise or refuse to send. Every read is bounded and guarded by a
//! timeout that fails the test.

use super::guard::Within;
use base64::Engine;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one answer may take before the test fails.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// `Basic base64(user_pass)`.
pub fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// Opens a connection to `addr`, sends `bytes`, and reads one answer.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr)
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    s.write_all(bytes)
        .within("keypool taking the raw request")
        .await
        .unwrap();
    read_answer(&mut s).await
}

/// One HTTP answer: status code, head (lower-cased names kept as sent) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads an answer's head and, by `content-length`, its body (keypool's own answers
/// have one); an answer without one is read to the close. Fails the test on a hang.
pub async fn read_answer<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Answer {
    async {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
            if s.read(&mut b).await.unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut answer = Answer {
            status,
            head,
            body: String::new(),
        };
        let mut body = Vec::new();
        match answer
            .header("content-length")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) => {
                let _ = s.take(n.min(1 << 20)).read_to_end(&mut body).await;
            }
            None if status != 200 => {
                let _ = s.take(1 << 20).read_to_end(&mut body).await;
            }
            None => {}
        }
        answer.body = String::from_utf8_lossy(&body).into_owned();
        answer
    }
    .within_for(ANSWER_WITHIN, "an answer's head and body")
    .await
}
