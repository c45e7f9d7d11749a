//! The end of a JSON answer too large to parse whole (an image's base64, a long
//! document): every provider puts `usage` (and mostly `model`) after the content, so
//! the last bytes are kept and the fields are looked for there.

use super::ends::{after_colon, value};
use super::json::{Fields, ObjectOr, Seen, Text, Usage, UsageMetadata};
use memchr::memmem;
use serde::de::DeserializeOwned;

/// Bytes of the answer's end kept once it outgrew the whole-body cap.
const TAIL: usize = 64 << 10;

#[derive(Default)]
pub(super) struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    /// Starts from the end of what was buffered.
    pub fn from_end(buffered: &[u8]) -> Tail {
        let mut t = Tail::default();
        t.push(buffered);
        t
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(TAIL)..];
        self.bytes.extend_from_slice(chunk);
        // Drained in steps of at least TAIL, so the copying stays linear.
        if self.bytes.len() >= 2 * TAIL {
            let cut = self.bytes.len() - TAIL;
            self.bytes.drain(..cut);
        }
    }

    pub fn finish(self) -> Seen {
        let b = &self.bytes;
        Fields {
            usage: ObjectOr(last_value(b, "usage", |u: ObjectOr<Usage>| u.0)),
            usage_metadata: ObjectOr(last_value(
                b,
                "usageMetadata",
                |u: ObjectOr<UsageMetadata>| u.0,
            )),
            model: Text(last_value(b, "model", |t: Text| t.0)),
            model_version: Text(last_value(b, "modelVersion", |t: Text| t.0)),
            ..Fields::default()
        }
        .seen()
    }
}

/// The value of the last `"key": value` in `bytes` that parses as `T` and that `some`
/// accepts (an object for usage, a string for a model).
fn last_value<T: DeserializeOwned, R>(
    bytes: &[u8],
    key: &str,
    some: impl Fn(T) -> Option<R>,
) -> Option<R> {
    let needle = format!("\"{key}\"");
    let finder = memmem::FinderRev::new(needle.as_bytes());
    let mut end = bytes.len();
    // Bounded: each step looks further back, and the tail is bounded.
    while let Some(at) = finder.rfind(&bytes[..end]) {
        end = at;
        let Some(rest) = after_colon(&bytes[at + needle.len()..]) else {
            continue;
        };
        if let Some(found) = value::<T>(rest).and_then(|(v, _)| some(v)) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::read::tests::tokens;

    #[test]
    fn usage_after_megabytes_of_content_is_found() {
        let mut t = Tail::from_end(br#"{"created":1,"data":[{"b64_json":""#);
        let pad = vec![b'A'; 1 << 20];
        for _ in 0..6 {
            t.push(&pad);
            assert!(t.bytes.len() < 2 * TAIL);
        }
        t.push(br#""}],"model":"gpt-image-1","usage":{"input_tokens":50,"output_tokens":4160,"input_tokens_details":{"text_tokens":50,"image_tokens":0}}}"#);
        let seen = t.finish();
        assert_eq!(seen.tokens(), Some(tokens(50, 4160, 0, 0, 0)));
        assert_eq!(seen.model.as_deref(), Some("gpt-image-1"));
    }

    #[test]
    fn a_key_inside_a_string_is_passed_over() {
        let t = Tail::from_end(br#"{"usage":{"prompt_tokens":3},"text":"see \"usage\": here"}"#);
        assert_eq!(t.finish().tokens(), Some(tokens(3, 0, 0, 0, 0)));
        assert_eq!(
            Tail::from_end(b"\"usage\": {broken").finish(),
            Seen::default()
        );
    }
}
