//! Errors at the head of an AWS event stream (`application/vnd.amazon.eventstream`), the
//! binary framing of Bedrock's ConverseStream and InvokeModelWithResponseStream. A
//! throttled Bedrock may answer `200` and send the exception as the stream's first
//! message; as with server-sent events ([`crate::stream_peek`]), the answer is held until
//! that message: an exception there counts like the HTTP answer it stands for, and
//! anything else goes to the client byte for byte, held bytes first.
//!
//! A message is a prelude (total length, headers length, the prelude's CRC32), headers,
//! the payload and the message's CRC32. `aws-smithy-eventstream` decodes it and checks
//! both checksums; keypool reads only the prelude itself, to refuse a declared length
//! before buffering towards it. What ends the hold:
//! - the first message: classified;
//! - a first message declared longer than [`MAX_HELD`] (but within the protocol's
//!   [`MAX_MESSAGE`]): passed on uninspected, as no exception is that long;
//! - the bound (`[limits] first_event_timeout`) or the end of the stream: passed on;
//! - broken framing (a bad checksum, a length below the minimum or above
//!   [`MAX_MESSAGE`]) or an upstream error: returned as the error, and nothing of the
//!   answer goes anywhere.

use crate::body::BoxError;
use crate::providers::{classify_stream_exception, Dialect, Outcome};
use crate::stream_peek::{hold, Peeked, MAX_HELD};
use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::Message;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::Response;
use http_body::Body;
use http_body_util::BodyExt;
use std::time::{Duration, SystemTime};

/// The content type of an AWS event stream.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The event-stream protocol's limit on one message (16 MiB); a prelude declaring more is
/// no event stream.
pub const MAX_MESSAGE: u32 = 16 * 1024 * 1024;

/// Prelude (12 bytes) and message CRC (4 bytes): the smallest message.
const MIN_MESSAGE: u32 = 16;

/// Framing that is no event stream: the answer is refused, not passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenFrame {
    #[error("the event stream's first message has a bad prelude checksum")]
    PreludeChecksum,
    #[error(
        "the event stream's first message declares {0} bytes, outside {MIN_MESSAGE}..={MAX_MESSAGE}"
    )]
    Length(u32),
    #[error("the event stream's first message does not decode: {0}")]
    Message(String),
}

/// Whether an answer is held for its first message: a successful, uncompressed event
/// stream, with a non-zero bound (`0s` turns the hold off).
pub fn applies<B>(resp: &Response<B>, bound: Duration) -> bool {
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
    resp.status().is_success()
        && !bound.is_zero()
        && header(CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(EVENT_STREAM))
        && header(CONTENT_ENCODING).is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"))
}

/// Holds `resp` until its first message (or the bound) and classifies that message in
/// `dialect`. `Err`: broken framing or an upstream failure before the first message;
/// nothing of the answer has gone to the client.
pub async fn first_message<B>(
    resp: Response<B>,
    dialect: Dialect,
    bound: Duration,
    now: SystemTime,
) -> Result<Peeked, BoxError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (head, body) = resp.into_parts();
    let mut first = FirstMessage::default();
    let (resumed, outcome) = hold(body, bound, "message", |frame| {
        let step = frame.data_ref().map(|d| first.feed(d)).transpose()?;
        Ok(match step.flatten() {
            Some(Step::Message(m)) => Some(classify(dialect, &m, now)),
            Some(Step::TooLong(n)) => {
                tracing::debug!("a first message of {n} bytes; the stream goes on uninspected");
                Some(Outcome::ok())
            }
            None => None,
        })
    })
    .await?;
    Ok(Peeked {
        response: Response::from_parts(head, resumed.boxed_unsync()),
        outcome,
        head: first.buf.freeze(),
    })
}

/// What the bytes so far say about the first message.
enum Step {
    Message(Message),
    /// Declared longer than keypool holds.
    TooLong(u32),
}

/// The first message's bytes, gathered up to its declared length and never past
/// [`MAX_HELD`].
#[derive(Default)]
struct FirstMessage {
    buf: BytesMut,
    declared: Option<u32>,
}

impl FirstMessage {
    fn feed(&mut self, data: &[u8]) -> Result<Option<Step>, BrokenFrame> {
        let want = self.declared.map_or(12, |n| n as usize);
        let take = want.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.declared.is_none() && self.buf.len() >= 12 {
            let total = prelude(&self.buf[..12])?;
            if total as usize > MAX_HELD {
                return Ok(Some(Step::TooLong(total)));
            }
            self.declared = Some(total);
            return self.feed(&data[take..]);
        }
        match self.declared {
            Some(total) if self.buf.len() >= total as usize => read_message_from(&self.buf[..])
                .map(|m| Some(Step::Message(m)))
                .map_err(|e| BrokenFrame::Message(e.to_string())),
            _ => Ok(None),
        }
    }
}

/// The total length a prelude declares, once its checksum and bounds hold.
fn prelude(bytes: &[u8]) -> Result<u32, BrokenFrame> {
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if crc32fast::hash(&bytes[..8]) != word(8) {
        return Err(BrokenFrame::PreludeChecksum);
    }
    let total = word(0);
    if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total) {
        return Err(BrokenFrame::Length(total));
    }
    Ok(total)
}

/// The message's verdict, by its `:message-type` and the exception or error it names.
fn classify(dialect: Dialect, m: &Message, now: SystemTime) -> Outcome {
    let header = |name: &str| {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str().to_string())
    };
    let kind = header(":message-type").unwrap_or_default();
    let name = header(":exception-type")
        .or_else(|| header(":error-code"))
        .unwrap_or_default();
    classify_stream_exception(dialect, &kind, &name, m.payload(), now)
}

#[cfg(test)]
mod tests;
