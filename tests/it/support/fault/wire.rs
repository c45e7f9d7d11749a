//! HTTP/1.1 as raw bytes, for the fault server: reading a request head and body off
//! the wire, and rendering answers byte by byte (so a script can break them anywhere).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Heads and bodies the fault server accepts from keypool; more is a test bug.
const MAX_HEAD: usize = 1 << 20;
const MAX_BODY: usize = 64 << 20;

/// One request as it arrived: the head exactly as sent, and the decoded body.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// `(name, value)` in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub head: String,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        (self.headers.iter())
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Authorization: Bearer …`, else `x-api-key`, else `x-goog-api-key`.
    pub fn credential(&self) -> Option<&str> {
        let bearer = self.header("authorization").and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
        bearer
            .or_else(|| self.header("x-api-key"))
            .or_else(|| self.header("x-goog-api-key"))
    }
}

/// Reads one request; `None` when the peer closed (or sent something unreadable)
/// before a whole one arrived. `buf` carries bytes read past the request (pipelining).
pub async fn read_request<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> Option<Request> {
    let head_len = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD || r.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let head = buf.split_to(head_len).freeze();
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(&head).ok()?;
    let headers: Vec<(String, String)> = (parsed.headers.iter())
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).into_owned();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect();
    let mut req = Request {
        method: parsed.method?.to_string(),
        path: parsed.path?.to_string(),
        headers,
        head: String::from_utf8_lossy(&head).into_owned(),
        body: Bytes::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    req.body = if chunked {
        read_chunked(r, buf).await?
    } else {
        let len: usize = req
            .header("content-length")
            .map_or(Some(0), |v| v.trim().parse().ok())?;
        read_exact(r, buf, len.min(MAX_BODY)).await?
    };
    Some(req)
}

async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut, want: usize) -> Option<()> {
    while buf.len() < want {
        if r.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
    Some(())
}

async fn read_exact<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    len: usize,
) -> Option<Bytes> {
    fill(r, buf, len).await?;
    Some(buf.split_to(len).freeze())
}

async fn read_line<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        if let Some(i) = find(buf, b"\r\n") {
            let line = buf.split_to(i + 2).freeze();
            return Some(line.slice(..i));
        }
        if buf.len() > MAX_HEAD || r.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

async fn read_chunked<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> Option<Bytes> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(r, buf).await?;
        let size = std::str::from_utf8(&line).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while !read_line(r, buf).await?.is_empty() {}
            return Some(body.freeze());
        }
        if body.len() + size > MAX_BODY {
            return None;
        }
        body.extend_from_slice(&read_exact(r, buf, size).await?);
        read_exact(r, buf, 2).await?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response head: status line, `headers` as given, blank line.
pub fn head(status: u16, headers: &[(&str, &str)]) -> Bytes {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    Bytes::from(out)
}

/// A whole answer with a correct `content-length`, headers and body verbatim.
pub fn respond(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Bytes {
    let len = body.len().to_string();
    let mut all = headers.to_vec();
    all.push(("content-length", &len));
    let mut out = BytesMut::from(&head(status, &all)[..]);
    out.extend_from_slice(body);
    out.freeze()
}

/// `200 text/event-stream`, chunked, as the providers send streams.
pub fn sse_head() -> Bytes {
    head(
        200,
        &[
            ("content-type", "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "no-cache"),
        ],
    )
}

/// One chunk of a chunked body.
pub fn chunk(data: &[u8]) -> Bytes {
    let mut out = BytesMut::from(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// The chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// An OpenAI chat completion as JSON.
pub fn openai_completion() -> String {
    serde_json::json!({
        "id": "chatcmpl-fault", "object": "chat.completion", "created": 1_700_000_000u64,
        "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello from the fault server."}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    })
    .to_string()
}

/// One OpenAI chat-completions stream event carrying `content`.
pub fn openai_event(content: &str) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}

/// An OpenAI error body (`{"error":{…}}`).
pub fn openai_error(message: &str, kind: &str, code: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        .to_string()
}
