//! How AWS's JSON protocols name an error: the `x-amzn-errortype` header first, else
//! `code` or `__type` in the body. Any of them may carry a namespace before `#` and a
//! suffix after `:` (`ThrottlingException:http://internal.amazon.com/coral/…`,
//! `com.amazon.bedrock#ValidationException`); what is left is the exception's name.

use http::HeaderMap;
use serde_json::Value;

/// The header AWS's REST-JSON services name the exception in.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// The exception's name (`ThrottlingException`), if the answer names one.
pub fn error_type(headers: &HeaderMap, body: &Value) -> Option<String> {
    let header = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    let field = || {
        ["code", "__type"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
    };
    let name = bare(header.or_else(field)?);
    // Names are identifiers; a longer or stranger value is no exception AWS sent.
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| name.to_string())
}

/// The bare name: before any `,` or `:`, after any `#`.
fn bare(raw: &str) -> &str {
    let raw = raw.split([',', ':']).next().unwrap_or("");
    raw.rsplit('#').next().unwrap_or("").trim()
}

/// Whether the body is an AWS error body: an object with a `message` (or `Message`).
pub fn has_message(body: &Value) -> bool {
    ["message", "Message"]
        .iter()
        .any(|k| body.get(*k).is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ERROR_TYPE_HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn the_header_wins_and_loses_its_namespace_and_suffix() {
        let none = HeaderMap::new();
        let body = json!({"message": "Too many requests", "__type": "ValidationException"});
        assert_eq!(
            error_type(
                &with_header(
                    "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
                ),
                &body
            )
            .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_type(&none, &body).as_deref(),
            Some("ValidationException")
        );
        let namespaced = json!({"__type": "com.amazon.bedrock.runtime#ModelNotReadyException"});
        assert_eq!(
            error_type(&none, &namespaced).as_deref(),
            Some("ModelNotReadyException")
        );
        assert_eq!(
            error_type(&none, &json!({"code": "AccessDeniedException"})).as_deref(),
            Some("AccessDeniedException")
        );
        assert_eq!(error_type(&none, &json!({"message": "x"})), None);
        assert_eq!(error_type(&with_header("<html>"), &json!({})), None);
        assert_eq!(error_type(&with_header(&"A".repeat(200)), &json!({})), None);
        assert!(has_message(&body));
        assert!(!has_message(&json!({"error": {"message": "x"}})));
    }
}
