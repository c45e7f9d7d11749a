use super::*;
use crate::body::ProxyBody;
use crate::providers::Verdict;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue};
use http_body::Frame;
use http_body_util::StreamBody;
use std::convert::Infallible;
use tokio::sync::mpsc;

/// One message as Bedrock frames it: `:message-type`, then the event's or exception's
/// name, a JSON content type, and `payload`.
fn message(kind: &str, name: &str, payload: &str) -> Vec<u8> {
    let name_header = if kind == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    let m = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":message-type",
            EsValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            name_header,
            EsValue::String(name.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            EsValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&m, &mut out).unwrap();
    out
}

fn start() -> Vec<u8> {
    message(
        "event",
        "messageStart",
        r#"{"p":"abcd","role":"assistant"}"#,
    )
}

fn throttled() -> Vec<u8> {
    let payload = r#"{"message":"Too many requests, please wait before trying again."}"#;
    message("exception", "throttlingException", payload)
}

type Tx = mpsc::UnboundedSender<Bytes>;

fn stream() -> (Tx, Response<ProxyBody>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let body = StreamBody::new(frames)
        .map_err(BoxError::from)
        .boxed_unsync();
    let resp = Response::builder()
        .header(CONTENT_TYPE, EVENT_STREAM)
        .body(body)
        .unwrap();
    (tx, resp)
}

use futures_util::StreamExt;

const BOUND: Duration = Duration::from_secs(10);
/// A held-back byte fails the test that waited for it instead of hanging the run.
const GUARD: Duration = Duration::from_secs(30);

async fn peek(resp: Response<ProxyBody>) -> Result<Peeked, BoxError> {
    let held = first_message(resp, Dialect::Bedrock, BOUND, SystemTime::now());
    tokio::time::timeout(GUARD, held)
        .await
        .expect("the first message's verdict came")
}

async fn collect(resp: Response<ProxyBody>) -> Vec<u8> {
    tokio::time::timeout(GUARD, resp.into_body().collect())
        .await
        .expect("the whole body came")
        .unwrap()
        .to_bytes()
        .to_vec()
}

/// Sends `bytes` in pieces of `piece` bytes, then ends the stream.
fn send_in_pieces(tx: Tx, bytes: &[u8], piece: usize) {
    for chunk in bytes.chunks(piece) {
        tx.send(Bytes::copy_from_slice(chunk)).unwrap();
    }
}

#[tokio::test]
async fn a_good_stream_passes_byte_for_byte_whatever_its_pieces() {
    let mut whole = start();
    whole.extend(message(
        "event",
        "contentBlockDelta",
        r#"{"delta":{"text":"Hi"}}"#,
    ));
    whole.extend(message(
        "event",
        "messageStop",
        r#"{"stopReason":"end_turn"}"#,
    ));
    for piece in [1, 5, 12, 13, whole.len()] {
        let (tx, resp) = stream();
        send_in_pieces(tx, &whole, piece);
        let p = peek(resp).await.unwrap();
        assert_eq!(p.outcome.verdict, Verdict::Ok, "pieces of {piece}");
        assert_eq!(&p.head[..], &start()[..], "pieces of {piece}");
        assert_eq!(collect(p.response).await, whole, "pieces of {piece}");
    }
}

#[tokio::test]
async fn an_exception_as_the_first_message_classifies_without_waiting_for_the_end() {
    for piece in [1, 7, 4096] {
        let (tx, resp) = stream();
        send_in_pieces(tx.clone(), &throttled(), piece);
        // The stream stays open: the verdict comes from the message, not the end.
        let p = peek(resp).await.unwrap();
        assert_eq!(p.outcome.verdict, Verdict::RateLimited, "pieces of {piece}");
        assert_eq!(p.outcome.detail, "in-stream ThrottlingException");
        drop(tx);
    }
    let unavailable = message(
        "exception",
        "serviceUnavailableException",
        r#"{"message":"Bedrock is unable to process your request."}"#,
    );
    let (tx, resp) = stream();
    send_in_pieces(tx, &unavailable, 3);
    assert_eq!(
        peek(resp).await.unwrap().outcome.verdict,
        Verdict::Overloaded
    );
}

#[tokio::test]
async fn an_exception_after_the_first_data_message_is_the_clients() {
    let mut whole = start();
    whole.extend(throttled());
    let (tx, resp) = stream();
    send_in_pieces(tx, &whole, 9);
    let p = peek(resp).await.unwrap();
    assert_eq!(p.outcome.verdict, Verdict::Ok);
    assert_eq!(collect(p.response).await, whole);
}

#[tokio::test]
async fn a_bad_message_checksum_is_refused() {
    let mut bad = throttled();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let (tx, resp) = stream();
    send_in_pieces(tx, &bad, 10);
    let e = peek(resp).await.err().expect("refused");
    assert!(e.to_string().contains("does not decode"), "{e}");
    // A payload byte changed in flight fails the same way.
    let mut flipped = start();
    flipped[30] ^= 0x20;
    let (tx, resp) = stream();
    send_in_pieces(tx, &flipped, 64);
    assert!(peek(resp).await.is_err());
}

#[tokio::test]
async fn a_bad_prelude_is_refused_as_soon_as_its_twelve_bytes_are_in() {
    let mut bad = start();
    bad[9] ^= 0xff; // the prelude's CRC
    let (tx, resp) = stream();
    tx.send(Bytes::copy_from_slice(&bad[..12])).unwrap();
    // The sender stays alive: the refusal does not wait for more bytes.
    let e = peek(resp).await.err().expect("refused");
    assert!(e.to_string().contains("prelude checksum"), "{e}");
    drop(tx);
}

/// A prelude with a valid checksum declaring `total` bytes.
fn prelude_declaring(total: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

#[test]
fn an_absurd_length_is_refused_before_anything_is_buffered_towards_it() {
    for total in [u32::MAX, MAX_MESSAGE + 1, 0, 15] {
        let mut first = FirstMessage::default();
        let mut bytes = prelude_declaring(total);
        bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
        let e = first.feed(&bytes).err().expect("refused");
        assert_eq!(e, BrokenFrame::Length(total));
        // Only the prelude was kept, not the megabyte after it.
        assert!(first.buf.capacity() < 1024, "{}", first.buf.capacity());
    }
}

#[tokio::test]
async fn a_first_message_longer_than_keypool_holds_passes_uninspected() {
    let long = "x".repeat(MAX_HELD + 10);
    let big = message(
        "exception",
        "throttlingException",
        &format!(r#"{{"message":"{long}"}}"#),
    );
    let (tx, resp) = stream();
    send_in_pieces(tx, &big, 1000);
    let p = peek(resp).await.unwrap();
    assert_eq!(p.outcome.verdict, Verdict::Ok);
    assert!(p.head.len() <= 12 + 1000);
    assert_eq!(collect(p.response).await, big);
}

#[tokio::test]
async fn an_empty_stream_passes_as_it_is() {
    let (tx, resp) = stream();
    drop(tx);
    let p = peek(resp).await.unwrap();
    assert_eq!(p.outcome.verdict, Verdict::Ok);
    assert!(collect(p.response).await.is_empty());
}

#[test]
fn only_an_uncompressed_successful_event_stream_is_held() {
    let resp = |status: u16, ct: &str, ce: Option<&str>| {
        let mut b = Response::builder().status(status).header(CONTENT_TYPE, ct);
        if let Some(ce) = ce {
            b = b.header(CONTENT_ENCODING, ce);
        }
        b.body(()).unwrap()
    };
    assert!(applies(&resp(200, EVENT_STREAM, None), BOUND));
    assert!(applies(
        &resp(
            200,
            "application/vnd.amazon.eventstream; charset=x",
            Some("identity")
        ),
        BOUND
    ));
    assert!(!applies(&resp(200, EVENT_STREAM, None), Duration::ZERO));
    assert!(!applies(&resp(200, EVENT_STREAM, Some("gzip")), BOUND));
    assert!(!applies(&resp(429, EVENT_STREAM, None), BOUND));
    assert!(!applies(&resp(200, "text/event-stream", None), BOUND));
}
