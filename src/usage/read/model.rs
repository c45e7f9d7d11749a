//! Model ids: the one a request asks for, and the check every id passes before keypool
//! keeps it (it becomes a ledger column and a metric label).

use serde::Deserialize;
use std::borrow::Cow;

/// Longer ids are not model ids; no provider's is near this.
const MAX_MODEL: usize = 128;
/// A request body beyond this is not scanned for its `model`.
const MAX_REQUEST_BODY: usize = 32 << 20;

/// `raw` trimmed when it looks like a model id: short, printable, no spaces or quotes.
pub(super) fn clean_model(raw: &str) -> Option<String> {
    let id = raw.trim();
    let printable = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '<' | '>');
    (!id.is_empty() && id.len() <= MAX_MODEL && id.chars().all(printable)).then(|| id.to_string())
}

/// The model a request asks for: its JSON body's `model` (OpenAI, Anthropic, Code Assist),
/// else the `models/{model}:{method}` of a Gemini path.
pub fn request_model(path: &str, body: Option<&[u8]>) -> Option<String> {
    body.and_then(body_model).or_else(|| path_model(path))
}

fn body_model(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct OnlyModel<'a> {
        // Everything else in the body (the prompt) is skipped unread.
        #[serde(borrow, default)]
        model: Option<Cow<'a, str>>,
    }
    // A derived struct also reads from a JSON array: only an object is a body with a model.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if body.len() > MAX_REQUEST_BODY || first != Some(&b'{') {
        return None;
    }
    let parsed: OnlyModel = serde_json::from_slice(body).ok()?;
    clean_model(parsed.model.as_deref()?)
}

/// `…/models/{model}:generateContent` (Gemini, Vertex's `publishers/google/models/…`).
fn path_model(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let (_, rest) = path.rsplit_once("/models/")?;
    let (model, _method) = rest.split_once(':')?;
    if model.contains('/') {
        return None;
    }
    clean_model(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_model_from_body_path_and_neither() {
        let body = br#"{"messages":[{"role":"user","content":"model: nope"}],"model":"gpt-4o"}"#;
        assert_eq!(
            request_model("/v1/chat/completions", Some(body)),
            Some("gpt-4o".into())
        );
        let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
        assert_eq!(
            request_model(path, Some(b"{\"contents\":[]}")),
            Some("gemini-2.5-flash".into())
        );
        assert_eq!(
            request_model("/v1beta/models/gemini-2.5-pro:generateContent", None),
            Some("gemini-2.5-pro".into())
        );
        let ca = br#"{"model":"gemini-2.5-pro","project":"p","request":{"contents":[]}}"#;
        assert_eq!(
            request_model("/v1internal:generateContent", Some(ca)),
            Some("gemini-2.5-pro".into())
        );
        assert_eq!(
            request_model("/v1/chat/completions", Some(b"not json")),
            None
        );
        assert_eq!(
            request_model("/v1/chat/completions", Some(b"{\"model\":7}")),
            None
        );
        assert_eq!(
            request_model("/v1/chat/completions", Some(b"{\"model\":\"a b\"}")),
            None
        );
        let long = format!("{{\"model\":\"{}\"}}", "m".repeat(500));
        assert_eq!(request_model("/v1/x", Some(long.as_bytes())), None);
        assert_eq!(request_model("/v1/models", None), None);
        assert_eq!(request_model("/v1/x", Some(b"[\"gpt-4o\"]")), None);
    }

    #[test]
    fn escaped_model_ids_are_read() {
        let body = br#"{"model":"claude\u002dsonnet-4-5"}"#;
        assert_eq!(
            request_model("/v1/messages", Some(body)),
            Some("claude-sonnet-4-5".into())
        );
    }
}
