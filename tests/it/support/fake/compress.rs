//! `x-fake-compress: gzip` (or `deflate`) on a request: the fake's 200 answer comes
//! compressed with that `content-encoding`, as a CDN in front of a provider sends it.
//! Opt-in, so no other test sees its bodies change.

use std::io::Write;

use http::{header, HeaderValue, Response};
use http_body_util::BodyExt;

use crate::support::https::{full, Body};

/// `asked`: the request's `x-fake-compress`.
pub(super) async fn if_asked(
    asked: Option<HeaderValue>,
    response: Response<Body>,
) -> Response<Body> {
    let encoding = asked.as_ref().and_then(|v| v.to_str().ok());
    let Some(encoding) = encoding.map(str::to_ascii_lowercase) else {
        return response;
    };
    if response.status() != 200 {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The fake's answers are finite: the whole body is compressed at once.
    let plain = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let packed = match encoding.as_str() {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).expect("gzip into memory");
            e.finish().expect("gzip into memory")
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).expect("zlib into memory");
            e.finish().expect("zlib into memory")
        }
        other => panic!("x-fake-compress: {other} is not gzip or deflate"),
    };
    parts.headers.insert(
        header::CONTENT_ENCODING,
        encoding.parse().expect("a header value"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, full(packed))
}
