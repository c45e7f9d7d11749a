//! A fake Amazon Bedrock runtime over real TLS, for `bedrock-runtime.{region}.amazonaws.com`
//! in any number of regions. Every request's SigV4 signature is checked by the independent
//! verifier (support/sigv4.rs) for the account it names, in the region of the host it
//! reached, against the fake's own clock: a wrong secret, another region, a stale date or
//! a changed body is refused as Bedrock refuses it (403 InvalidSignatureException).
//!
//! Each account (by access key id) is told what to answer: Converse JSON and a
//! ConverseStream event stream, a 429 ThrottlingException, or a `200` event stream whose
//! first message is a `throttlingException`. Errors as Bedrock sends them: `{"message"}`
//! with the exception named in `x-amzn-errortype`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::https::{accept_loop, full, Body};
use super::sigv4::{Refusal, Verifier};
use super::TestCa;

/// The signing name of Bedrock's APIs.
pub const SERVICE: &str = "bedrock";

/// An IAM account the fake knows.
#[derive(Clone, Debug)]
pub struct IamAccount {
    pub id: &'static str,
    pub secret: &'static str,
    /// The session token a request signed with temporary credentials must carry.
    pub token: Option<&'static str>,
}

/// What the fake answers an account's verified requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Converse's JSON; ConverseStream's event stream ([`good_stream`]).
    Serve,
    /// `429` ThrottlingException, on every path.
    Throttle,
    /// ConverseStream: `200` and a `throttlingException` as the first message.
    ThrottleInStream,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub host: String,
    pub path: String,
    /// The account whose signature verified, or why it did not.
    pub signed_by: Result<String, Refusal>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct FakeBedrock {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    acts: Arc<Mutex<HashMap<String, Act>>>,
    _task: JoinHandle<()>,
}

/// `bedrock-runtime.{region}.amazonaws.com`.
pub fn host(region: &str) -> String {
    format!("bedrock-runtime.{region}.amazonaws.com")
}

struct Shared {
    accounts: HashMap<String, (String, Option<String>)>,
    seen: Arc<Mutex<Vec<Seen>>>,
    acts: Arc<Mutex<HashMap<String, Act>>>,
}

impl FakeBedrock {
    /// Serves the runtime hosts of `regions`, knowing `accounts` (each answered with
    /// [`Act::Serve`] until told otherwise).
    pub async fn start(ca: &TestCa, regions: &[&str], accounts: &[IamAccount]) -> FakeBedrock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hosts: Vec<String> = regions.iter().map(|r| host(r)).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let acceptor = TlsAcceptor::from(ca.server_config(&names));
        let seen = Arc::<Mutex<Vec<Seen>>>::default();
        let acts = Arc::new(Mutex::new(
            accounts
                .iter()
                .map(|a| (a.id.to_string(), Act::Serve))
                .collect::<HashMap<_, _>>(),
        ));
        let shared = Arc::new(Shared {
            accounts: accounts
                .iter()
                .map(|a| {
                    let token = a.token.map(str::to_string);
                    (a.id.to_string(), (a.secret.to_string(), token))
                })
                .collect(),
            seen: seen.clone(),
            acts: acts.clone(),
        });
        let handler = move |req: Request<Incoming>| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(answer(req, &shared).await) }
        };
        let task = tokio::spawn(accept_loop(listener, acceptor, |_| {}, handler));
        FakeBedrock {
            addr,
            seen,
            acts,
            _task: task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, id: &str, act: Act) {
        self.acts.lock().unwrap().insert(id.to_string(), act);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The region the signature must be scoped to is the one of the host it reached.
    let region = host
        .strip_prefix("bedrock-runtime.")
        .and_then(|r| r.strip_suffix(".amazonaws.com"))
        .unwrap_or("")
        .to_string();
    let verifier = Verifier {
        accounts: shared.accounts.clone(),
        region,
        service: SERVICE.into(),
    };
    let uri: http::Uri = format!("https://{host}{}", parts.uri).parse().unwrap();
    let verified = verifier.verify(
        &parts.method,
        &uri,
        &parts.headers,
        &body,
        SystemTime::now(),
    );
    let signed_by = verified.map(|v| v.access_key_id);
    shared.seen.lock().unwrap().push(Seen {
        host,
        path: parts.uri.path().to_string(),
        signed_by: signed_by.clone(),
        headers: parts.headers.clone(),
        body,
    });
    let id =
        match signed_by {
            Ok(id) => id,
            Err(_) => return error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            ),
        };
    let act = shared.acts.lock().unwrap().get(&id).copied();
    let streaming = parts.uri.path().ends_with("/converse-stream");
    match (act.unwrap_or(Act::Serve), streaming) {
        (Act::Throttle, _) => error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        (Act::ThrottleInStream, true) => event_stream(vec![throttled()]),
        (_, true) => event_stream(split(&good_stream())),
        (_, false) => Response::builder()
            .header("content-type", "application/json")
            .body(full(CONVERSE))
            .unwrap(),
    }
}

/// Converse's answer.
pub const CONVERSE: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4},"metrics":{"latencyMs":12}}"#;

fn error(status: u16, exception: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(
            "x-amzn-errortype",
            format!("{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )
        .header("x-amzn-requestid", "3f1c6a1e-0000-4000-8000-000000000000")
        .body(full(serde_json::json!({ "message": message }).to_string()))
        .unwrap()
}

/// A `200` event stream sent as these chunks, one frame each.
fn event_stream(chunks: Vec<Bytes>) -> Response<Body> {
    let frames = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(c))),
    );
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", "3f1c6a1e-0000-4000-8000-000000000001")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

/// One message as Bedrock frames it: `:message-type`, the event's or exception's name, a
/// JSON content type, and `payload`.
pub fn message(kind: &str, name: &str, payload: &str) -> Bytes {
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
    out.into()
}

/// ConverseStream's first message when the account is throttled.
pub fn throttled() -> Bytes {
    let payload = r#"{"message":"Too many requests, please wait before trying again."}"#;
    message("exception", "throttlingException", payload)
}

/// A whole ConverseStream answer: start, two deltas, stop, metadata.
pub fn good_stream() -> Bytes {
    let events = [
        ("messageStart", r#"{"p":"abcd","role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hel"},"p":"ab"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"lo"},"p":"abcdef"}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0,"p":"a"}"#),
        ("messageStop", r#"{"p":"abc","stopReason":"end_turn"}"#),
        (
            "metadata",
            r#"{"metrics":{"latencyMs":80},"p":"ab","usage":{"inputTokens":9,"outputTokens":2,"totalTokens":11}}"#,
        ),
    ];
    let mut out = Vec::new();
    for (name, payload) in events {
        out.extend_from_slice(&message("event", name, payload));
    }
    out.into()
}

/// `bytes` in uneven chunks, the first message split inside its prelude, as TCP may
/// deliver it.
fn split(bytes: &Bytes) -> Vec<Bytes> {
    let cuts = [5usize, 40, 97, 160];
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        if c < bytes.len() && c > at {
            out.push(bytes.slice(at..c));
            at = c;
        }
    }
    out.push(bytes.slice(at..));
    out
}
