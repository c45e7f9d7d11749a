//! Errors inside a successful stream. An overloaded or limited provider sometimes answers
//! `200 text/event-stream` and says so in the first event (Anthropic `event: error`,
//! OpenAI Responses `response.failed`, OpenRouter's and Gemini's `data: {"error":…}`).
//! Such an answer is held until its first event: an error there counts like the status it
//! stands for (the account sits out, the request goes to the next one); anything else goes
//! to the client with the held bytes first, then the rest of the stream, untouched.
//!
//! What ends the hold, whichever comes first:
//! - the first event. Comments (`: keep-alive`, `: OPENROUTER PROCESSING`) and blank lines
//!   are not events, nor are the ones that carry nothing for the client yet
//!   ([`is_preamble`]: Responses' `response.created`, Anthropic's `ping`);
//! - the bound, `[limits] first_event_timeout` counted from the response head. Comments do
//!   not extend it: DeepSeek keeps a request waiting with comments for minutes, and such a
//!   stream is passed on uninspected (comments first) when the bound is up, so the hold
//!   never delays a client by more than the bound;
//! - [`MAX_HELD`] bytes without a complete event, or the end of the stream: passed on as
//!   is;
//! - an upstream error (a reset, the read timeout, broken framing): returned as the error,
//!   and nothing of the answer goes anywhere. The pipeline answers for the upstream (a
//!   replay on the next account, or a 502/504), since a stream that broke before its
//!   first event must not reach a client as a short but clean answer.
//!
//! Nothing reaches the client while the answer is held, so a retry is invisible to it;
//! once the hold ends, the stream is the client's and is never retried.

use crate::body::{BoxError, ProxyBody};
use crate::providers::{classify_event, is_preamble, Dialect, Outcome};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

/// Held bytes without a complete event after which keypool stops looking.
pub const MAX_HELD: usize = 64 * 1024;

/// Whether an answer is held for its first event: a successful event stream, not
/// compressed (keypool does not decode bodies, and waiting for an event it cannot read
/// would only delay the client), with a non-zero bound (`0s` turns the hold off).
pub fn applies<B>(resp: &Response<B>, bound: Duration) -> bool {
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
    resp.status().is_success()
        && !bound.is_zero()
        && header(CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        && header(CONTENT_ENCODING).is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"))
}

/// A held answer, ready to go to the client as it came, and what its first event says
/// about the account (`Verdict::Ok` when it was no error, or was never seen).
pub struct Peeked {
    pub response: Response<ProxyBody>,
    pub outcome: Outcome,
    /// The bytes held before the answer went on (the preamble and first event): where a
    /// Responses stream names the id of the response it creates.
    pub head: Bytes,
}

/// Holds `resp` until its first event (or the bound) and classifies that event in
/// `dialect`; `now` dates any reset the event names. `Err`: the upstream body failed
/// before the first event, and nothing of it has gone to the client.
pub async fn first_event<B>(
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
    let mut parser = EventParser::default();
    let mut held_len = 0;
    let (resumed, outcome) = hold(body, bound, "event", |frame| {
        let events = frame.data_ref().map(|d| parser.feed(d)).unwrap_or_default();
        held_len += frame.data_ref().map_or(0, Bytes::len);
        if let Some(first) = events.iter().find(|e| !is_preamble(&e.name, &e.data)) {
            return Ok(Some(classify_event(dialect, &first.name, &first.data, now)));
        }
        if held_len > MAX_HELD {
            tracing::debug!("{held_len} bytes and no event; the stream goes on uninspected");
            return Ok(Some(Outcome::ok()));
        }
        Ok(None)
    })
    .await?;
    let mut first = bytes::BytesMut::with_capacity(held_len);
    for f in &resumed.held {
        if let Some(d) = f.data_ref() {
            first.extend_from_slice(d);
        }
    }
    Ok(Peeked {
        response: Response::from_parts(head, resumed.boxed_unsync()),
        outcome,
        head: first.freeze(),
    })
}

/// Holds `body`'s frames until `decide` names the outcome of what came so far, the body
/// ends, or `bound` passes (the last two: [`Outcome::ok`]). `what` names the awaited
/// piece in the log. `Err`: the upstream failed, or `decide` found the bytes broken,
/// before anything went to the client.
pub(crate) async fn hold<B>(
    mut body: B,
    bound: Duration,
    what: &str,
    mut decide: impl FnMut(&Frame<Bytes>) -> Result<Option<Outcome>, BoxError>,
) -> Result<(Resumed<B>, Outcome), BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let deadline = tokio::time::Instant::now() + bound;
    let mut held = VecDeque::new();
    let outcome = loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Ok((Resumed { held, rest: None }, Outcome::ok())),
            Err(_) => {
                tracing::debug!("no {what} within {bound:?}; the stream goes on uninspected");
                break Outcome::ok();
            }
        };
        let decided = decide(&frame)?;
        held.push_back(frame);
        if let Some(outcome) = decided {
            break outcome;
        }
    };
    Ok((
        Resumed {
            held,
            rest: Some(body),
        },
        outcome,
    ))
}

/// The held frames, then what the upstream body had left (`None`: it had ended cleanly,
/// so the held bytes are the whole body and its exact size).
pub(crate) struct Resumed<B> {
    pub(crate) held: VecDeque<Frame<Bytes>>,
    pub(crate) rest: Option<B>,
}

impl<B> Body for Resumed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(frame) = this.held.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held: u64 = (self.held.iter())
            .filter_map(|f| f.data_ref())
            .map(|d| d.len() as u64)
            .sum();
        let rest = self
            .rest
            .as_ref()
            .map_or(SizeHint::with_exact(0), B::size_hint);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + held);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

/// One server-sent event: its type (`message` when it named none) and its data lines
/// joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// The event-stream framing of the HTML standard, fed in pieces: lines end in CRLF, LF
/// or CR (a CRLF may be split across pieces); a blank line dispatches an event if it
/// has data; `:` starts a comment; `field: value` loses one space after the colon.
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    after_cr: bool,
    started: bool,
    name: Option<String>,
    data: Vec<u8>,
    has_data: bool,
}

impl EventParser {
    /// The events `bytes` completes, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue; // the LF of a CRLF
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                b'\n' => self.end_line(&mut out),
                _ => self.line.push(b),
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        if !std::mem::replace(&mut self.started, true) && line.starts_with(b"\xEF\xBB\xBF") {
            line.drain(..3); // a byte-order mark before the first line
        }
        if line.is_empty() {
            let name = self.name.take();
            if std::mem::take(&mut self.has_data) {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the `\n` after the last data line
                out.push(SseEvent {
                    name: name.unwrap_or_else(|| "message".into()),
                    data: String::from_utf8_lossy(&data).into_owned(),
                });
            }
            return;
        }
        if line[0] == b':' {
            return; // a comment
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &[][..]),
        };
        match field {
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
                self.has_data = true;
            }
            _ => {} // id, retry, and unknown fields decide nothing here
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Verdict;
    use futures_util::StreamExt;
    use http_body_util::StreamBody;
    use std::convert::Infallible;
    use tokio::sync::mpsc;

    fn ev(name: &str, data: &str) -> SseEvent {
        SseEvent {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn lf_and_crlf_framing_and_event_names() {
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"event: message_start\ndata: {\"a\":1}\n\ndata: plain\n\n"),
            vec![ev("message_start", "{\"a\":1}"), ev("message", "plain")]
        );
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"data: {\"x\":1}\r\n\r\nevent: e\r\ndata:no-space\r\n\r\n"),
            vec![ev("message", "{\"x\":1}"), ev("e", "no-space")]
        );
        // Lone CRs end lines too.
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"data: a\r\rdata: b\r\r"),
            vec![ev("message", "a"), ev("message", "b")]
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_only_is_dropped() {
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"\xEF\xBB\xBFdata: first\n\n"),
            vec![ev("message", "first")]
        );
        // Later, the same bytes are part of the line: not a field keypool knows.
        assert!(p.feed(b"\xEF\xBB\xBFdata: later\n\n").is_empty());
    }

    #[test]
    fn multi_line_data_and_empty_data() {
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"data: one\ndata:  two\ndata\n\n"),
            vec![ev("message", "one\n two\n")]
        );
        let mut p = EventParser::default();
        assert_eq!(p.feed(b"data:\n\n"), vec![ev("message", "")]);
    }

    #[test]
    fn comments_blank_lines_and_fields_without_data_are_no_events() {
        let mut p = EventParser::default();
        assert!(p
            .feed(b": keep-alive\n\n: OPENROUTER PROCESSING\r\n\r\n\n\nid: 7\nretry: 100\n\n")
            .is_empty());
        // An `event:` line without data is dropped with its block.
        assert!(p.feed(b"event: lonely\n\n").is_empty());
        assert_eq!(p.feed(b"data: x\n\n"), vec![ev("message", "x")]);
        // A comment inside an event does not end it.
        let mut p = EventParser::default();
        assert_eq!(
            p.feed(b"event: error\n: note\ndata: {}\n\n"),
            vec![ev("error", "{}")]
        );
    }

    #[test]
    fn pieces_split_anywhere_give_the_same_events() {
        let text: &[u8] = b"\xEF\xBB\xBF: hi\r\n\r\nevent: error\r\ndata: {\"type\":\"error\",\r\ndata: \"x\":1}\r\n\r\ndata: [DONE]\r\n\r\n";
        let whole = EventParser::default().feed(text);
        assert_eq!(
            whole,
            vec![
                ev("error", "{\"type\":\"error\",\n\"x\":1}"),
                ev("message", "[DONE]")
            ]
        );
        for split in 0..text.len() {
            let mut p = EventParser::default();
            let mut got = p.feed(&text[..split]);
            got.extend(p.feed(&text[split..]));
            assert_eq!(got, whole, "split at {split}");
        }
        let mut p = EventParser::default();
        let bytewise: Vec<_> = text.iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(bytewise, whole);
    }

    type Tx = mpsc::UnboundedSender<Bytes>;

    /// A streamed answer fed by the test, and the sender feeding it.
    fn stream(content_type: &str) -> (Tx, Response<ProxyBody>) {
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let frames = tokio_stream(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
        let body = StreamBody::new(frames)
            .map_err(BoxError::from)
            .boxed_unsync();
        let resp = Response::builder()
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .unwrap();
        (tx, resp)
    }

    fn tokio_stream(
        mut rx: mpsc::UnboundedReceiver<Bytes>,
    ) -> impl futures_util::Stream<Item = Bytes> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    const BOUND: Duration = Duration::from_secs(10);
    /// A held-back byte fails the test that waited for it instead of hanging the run.
    const GUARD: Duration = Duration::from_secs(30);

    async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(GUARD, fut)
            .await
            .unwrap_or_else(|_| panic!("waited {GUARD:?} for {what}; it never came"))
    }

    async fn peek(resp: Response<ProxyBody>, dialect: Dialect) -> Result<Peeked, BoxError> {
        let verdict = first_event(resp, dialect, BOUND, SystemTime::now());
        within("the first event's verdict", verdict).await
    }

    async fn collect(resp: Response<ProxyBody>) -> Vec<u8> {
        within("the whole streamed body", resp.into_body().collect())
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[test]
    fn only_successful_event_streams_are_held() {
        let r = |status: u16, ct: &str| {
            Response::builder()
                .status(status)
                .header(CONTENT_TYPE, ct)
                .body(())
                .unwrap()
        };
        assert!(applies(&r(200, "text/event-stream; charset=utf-8"), BOUND));
        assert!(applies(&r(200, "Text/Event-Stream"), BOUND));
        assert!(!applies(&r(200, "text/event-stream"), Duration::ZERO));
        assert!(!applies(&r(200, "application/json"), BOUND));
        assert!(!applies(&r(429, "text/event-stream"), BOUND));
        assert!(!applies(&r(101, "text/event-stream"), BOUND));
        let mut gzipped = r(200, "text/event-stream");
        gzipped
            .headers_mut()
            .insert(CONTENT_ENCODING, "gzip".parse().unwrap());
        assert!(!applies(&gzipped, BOUND));
    }

    #[tokio::test]
    async fn an_error_first_is_a_verdict_and_the_bytes_stay_whole() {
        let (tx, resp) = stream("text/event-stream");
        let error = "event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\r\n\r\n";
        tx.send(Bytes::from_static(b": keep-alive\r\n\r\n"))
            .unwrap();
        tx.send(Bytes::from(error)).unwrap();
        drop(tx);
        let p = peek(resp, Dialect::Anthropic).await.unwrap();
        assert_eq!(p.outcome.verdict, Verdict::Overloaded);
        let bytes = collect(p.response).await;
        assert_eq!(
            bytes,
            [b": keep-alive\r\n\r\n".as_slice(), error.as_bytes()].concat()
        );
    }

    #[tokio::test]
    async fn a_normal_first_event_passes_at_once_and_the_rest_follows() {
        let (tx, resp) = stream("text/event-stream");
        tx.send(Bytes::from_static(
            b"data: {\"choices\":[]}\n\ndata: {\"cho",
        ))
        .unwrap();
        // The rest is not sent yet: the verdict must not wait for it.
        let p = peek(resp, Dialect::Openai).await.unwrap();
        assert_eq!(p.outcome, Outcome::ok());
        tx.send(Bytes::from_static(b"ices\":[]}\n\ndata: [DONE]\n\n"))
            .unwrap();
        drop(tx);
        assert_eq!(
            collect(p.response).await,
            b"data: {\"choices\":[]}\n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn preamble_events_are_held_too() {
        let (tx, resp) = stream("text/event-stream");
        let created = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"error\":null}}\n\n";
        let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"x\"}}}\n\n";
        tx.send(Bytes::from(created)).unwrap();
        tx.send(Bytes::from(failed)).unwrap();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        assert_eq!(p.outcome.verdict, Verdict::RateLimited);
        assert_eq!(p.outcome.detail, "in-stream rate_limit_exceeded");
    }

    #[tokio::test(start_paused = true)]
    async fn comments_alone_past_the_bound_pass_uninspected() {
        let (tx, resp) = stream("text/event-stream");
        tx.send(Bytes::from_static(b": keep-alive\n\n")).unwrap();
        let keep_sending = {
            let tx = tx.clone();
            tokio::spawn(async move {
                // More comments than the bound lasts: they must not extend it.
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).is_err() {
                        return;
                    }
                }
            })
        };
        let started = tokio::time::Instant::now();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        assert_eq!(started.elapsed(), BOUND);
        assert_eq!(p.outcome, Outcome::ok());
        keep_sending.abort();
        tx.send(Bytes::from_static(
            b"data: {\"error\":{\"code\":429,\"message\":\"late\"}}\n\n",
        ))
        .unwrap();
        drop(tx);
        let bytes = collect(p.response).await;
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(": keep-alive\n\n"), "{text}");
        assert!(text.ends_with("\"late\"}}\n\n"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_without_events_is_passed_on_after_the_cap() {
        let (tx, resp) = stream("text/event-stream");
        let comment = Bytes::from(format!(": {}\n", "x".repeat(1000)));
        for _ in 0..=MAX_HELD / 1000 {
            tx.send(comment.clone()).unwrap();
        }
        let started = tokio::time::Instant::now();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        // The cap, not the time bound, let it go: no virtual time passed.
        assert!(started.elapsed() < BOUND, "held until the bound");
        assert_eq!(p.outcome, Outcome::ok());
        tx.send(Bytes::from_static(b"data: [DONE]\n\n")).unwrap();
        drop(tx);
        let bytes = collect(p.response).await;
        assert_eq!(bytes.len(), comment.len() * (MAX_HELD / 1000 + 1) + 14);
    }

    #[tokio::test]
    async fn an_error_after_exactly_the_cap_of_comments_is_still_seen() {
        let (tx, resp) = stream("text/event-stream");
        // 64 KiB of comments, in lines of 1024 bytes: still held, since only more than
        // the cap lets a stream go uninspected.
        let line = Bytes::from(format!(": {}\n", "x".repeat(1021)));
        for _ in 0..64 {
            tx.send(line.clone()).unwrap();
        }
        tx.send(Bytes::from_static(
            b"data: {\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"x\"}}\n\n",
        ))
        .unwrap();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        assert_eq!(p.outcome.verdict, Verdict::RateLimited, "{:?}", p.outcome);
    }

    #[tokio::test]
    async fn an_upstream_error_before_any_event_is_returned_and_nothing_goes_on() {
        let frames = futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b": hi\n\ndata: {\"cho"))),
            Err(BoxError::from("connection reset")),
        ]);
        let body = StreamBody::new(frames).boxed_unsync();
        let resp = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(body)
            .unwrap();
        let e = peek(resp, Dialect::Openai)
            .await
            .err()
            .expect("the reset is the result");
        assert_eq!(e.to_string(), "connection reset");
    }

    #[tokio::test]
    async fn a_stream_that_ended_cleanly_while_held_has_the_held_size_and_an_unended_one_does_not()
    {
        let ended = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(
            Bytes::from_static(b": only a comment\n\n"),
        ))]);
        let resp = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(StreamBody::new(ended).boxed_unsync())
            .unwrap();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        assert_eq!(p.response.body().size_hint().exact(), Some(18));

        let (tx, resp) = stream("text/event-stream");
        tx.send(Bytes::from_static(b"data: {}\n\n")).unwrap();
        let p = peek(resp, Dialect::Openai).await.unwrap();
        // Still streaming: no exact size, or hyper would frame the answer with a
        // content-length and end it cleanly whatever the upstream does next.
        assert_eq!(p.response.body().size_hint().exact(), None);
        drop(tx);
    }
}
