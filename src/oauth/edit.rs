//! What a request needs changed, besides its token, when an OAuth account serves it:
//! account-bound headers and the few account-bound values inside bodies. Each edit
//! touches exactly one value and leaves every other byte as the client sent it.

use super::account::Access;
use super::Identity;
use crate::providers::Flavor;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The beta flag Anthropic requires on requests made with a subscription token.
pub const ANTHROPIC_OAUTH_BETA: &str = "oauth-2025-04-20";
const ANTHROPIC_BETA: &str = "anthropic-beta";
const CHATGPT_ACCOUNT_ID: HeaderName = HeaderName::from_static("chatgpt-account-id");

/// Account-bound headers for an OAuth account of `flavor` (the token itself is set by
/// the provider's auth scheme).
pub fn headers(flavor: Flavor, headers: &mut HeaderMap, access: &Access) {
    (flavor.steps().edit_headers)(headers, &access.identity);
}

/// Claude Code sends `x-api-key`-less requests with its own betas; keep them all.
pub(super) fn anthropic_headers(headers: &mut HeaderMap, _: &Identity) {
    let merged = merge_beta(headers.get(ANTHROPIC_BETA), ANTHROPIC_OAUTH_BETA);
    headers.insert(ANTHROPIC_BETA, merged);
}

/// The Codex backend checks the header against the token's account.
pub(super) fn codex_headers(headers: &mut HeaderMap, identity: &Identity) {
    headers.remove(&CHATGPT_ACCOUNT_ID);
    if let Some(v) = identity
        .account_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert(CHATGPT_ACCOUNT_ID, v);
    }
}

/// Kimi: the account's device headers (see `msh.rs`).
pub(super) fn kimi_headers(headers: &mut HeaderMap, identity: &Identity) {
    super::msh::edit(headers, identity);
}

/// Kilo: its editor headers and the account's organization (see `editor_headers.rs`).
pub(super) fn kilo_headers(headers: &mut HeaderMap, identity: &Identity) {
    super::editor_headers::kilo(headers, identity);
}

/// Cline: its referer and title.
pub(super) fn cline_headers(headers: &mut HeaderMap, identity: &Identity) {
    super::editor_headers::cline(headers, identity);
}

pub(super) fn no_header_edit(_: &mut HeaderMap, _: &Identity) {}

/// For an API-key account serving a request written for a subscription (a pool with
/// `mix_kinds`): the subscription-only beta would make the API refuse the key.
pub fn headers_for_key(headers: &mut HeaderMap) {
    let Some(v) = headers.get(ANTHROPIC_BETA).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let kept: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != ANTHROPIC_OAUTH_BETA)
        .collect();
    if kept.is_empty() {
        headers.remove(ANTHROPIC_BETA);
    } else if let Ok(v) = HeaderValue::from_str(&kept.join(",")) {
        headers.insert(ANTHROPIC_BETA, v);
    }
}

fn merge_beta(existing: Option<&HeaderValue>, flag: &str) -> HeaderValue {
    let current = existing.and_then(|v| v.to_str().ok()).unwrap_or("");
    if current.split(',').any(|b| b.trim() == flag) {
        return existing
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(""));
    }
    let joined = if current.trim().is_empty() {
        flag.to_string()
    } else {
        format!("{current},{flag}")
    };
    HeaderValue::from_str(&joined)
        .unwrap_or_else(|_| HeaderValue::from_static(ANTHROPIC_OAUTH_BETA))
}

/// The body with its account-bound value replaced, or `None` when nothing changes.
pub fn body(flavor: Flavor, body: &Bytes, access: &Access) -> Option<Bytes> {
    (flavor.steps().edit_body)(body, &access.identity)
}

pub(super) fn anthropic_body(body: &Bytes, identity: &Identity) -> Option<Bytes> {
    account_uuid(body, identity.account_id.as_deref()?)
}

pub(super) fn gemini_body(body: &Bytes, identity: &Identity) -> Option<Bytes> {
    project(body, identity.project.as_deref()?)
}

pub(super) fn no_body_edit(_: &Bytes, _: &Identity) -> Option<Bytes> {
    None
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    project: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    user_id: Option<&'a RawValue>,
}

/// Claude Code's `metadata.user_id` is a JSON *string* holding JSON with the logged-in
/// `account_uuid`. Rewrites that one value, same length, in place; an `account_uuid`
/// anywhere else (in user content, say) stays as it is.
fn account_uuid(body: &Bytes, new: &str) -> Option<Bytes> {
    let top: Top = serde_json::from_slice(body).ok()?;
    let user_id = top
        .metadata
        .and_then(|m| serde_json::from_str::<Metadata>(m.get()).ok()?.user_id)?;
    let inner: String = serde_json::from_str(user_id.get()).ok()?;
    let inner: serde_json::Value = serde_json::from_str(&inner).ok()?;
    let old = inner.get("account_uuid")?.as_str()?;
    if old == new
        || old.len() != new.len()
        || old.is_empty()
        || needs_escape(old)
        || needs_escape(new)
    {
        return None;
    }
    let literal = user_id.get();
    let start = offset(body, literal)?;
    // The value follows `account_uuid` (escaped quotes, colon, maybe spaces) in the literal.
    let mut from = 0;
    while let Some(i) = literal[from..].find(old) {
        let at = from + i;
        let before = literal[..at].trim_end_matches(['\\', '"', ' ', ':']);
        if before.ends_with("account_uuid") {
            let mut out = body.to_vec();
            out[start + at..start + at + old.len()].copy_from_slice(new.as_bytes());
            return Some(Bytes::from(out));
        }
        from = at + old.len();
    }
    None
}

/// Code Assist requests name the account's Cloud project at the top level.
fn project(body: &Bytes, new: &str) -> Option<Bytes> {
    let top: Top = serde_json::from_slice(body).ok()?;
    let raw = top.project?;
    if serde_json::from_str::<String>(raw.get()).ok()? == new {
        return None;
    }
    let start = offset(body, raw.get())?;
    let encoded = serde_json::to_string(new).ok()?;
    let mut out = Vec::with_capacity(body.len() + encoded.len());
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(&body[start + raw.get().len()..]);
    Some(Bytes::from(out))
}

fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// Where `part` (borrowed from `whole`) starts in `whole`.
fn offset(whole: &[u8], part: &str) -> Option<usize> {
    let base = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= base && p + part.len() <= base + whole.len()).then(|| p - base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn access(account_id: Option<&str>, project: Option<&str>) -> Access {
        let identity = Identity {
            account_id: account_id.map(str::to_string),
            project: project.map(str::to_string),
            ..Identity::default()
        };
        Access::new(
            Flavor::Anthropic,
            SecretString::from("t".to_string()),
            identity,
            None,
        )
    }

    const OLD: &str = "11111111-1111-4111-8111-111111111111";
    const NEW: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn account_uuid_only_inside_metadata_user_id() {
        let user_id = format!(r#"{{"device_id":"d1","account_uuid":"{OLD}","session_id":"s1"}}"#);
        let body = serde_json::json!({
            "model": "claude-x",
            "messages": [{"role": "user", "content": format!("my account_uuid is {OLD}")}],
            "metadata": {"user_id": user_id},
        })
        .to_string();
        let out = account_uuid(&Bytes::from(body.clone()), NEW).unwrap();
        assert_eq!(out.len(), body.len());
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.contains(&format!("my account_uuid is {OLD}")),
            "user content untouched"
        );
        assert_eq!(text.matches(NEW).count(), 1);
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let inner: serde_json::Value =
            serde_json::from_str(v["metadata"]["user_id"].as_str().unwrap()).unwrap();
        assert_eq!(inner["account_uuid"], NEW);
        assert_eq!(inner["session_id"], "s1");
        // Every other byte as sent.
        let diff = body
            .bytes()
            .zip(out.iter())
            .filter(|(a, b)| a != *b)
            .count();
        assert!(diff <= NEW.len());
        assert!(super::body(
            Flavor::Anthropic,
            &Bytes::from(body.clone()),
            &access(None, None)
        )
        .is_none());
        assert!(account_uuid(&Bytes::from_static(b"{\"metadata\":{}}"), NEW).is_none());
        assert!(account_uuid(&Bytes::from_static(b"not json"), NEW).is_none());
    }

    #[test]
    fn project_rewritten_at_top_level_only() {
        let body = Bytes::from_static(
            br#"{"model":"gemini-x","project":"old-proj","request":{"project":"keep"}}"#,
        );
        let out = super::body(
            Flavor::GeminiCli,
            &body,
            &access(None, Some("new-project-1")),
        )
        .unwrap();
        assert_eq!(
            &out[..],
            br#"{"model":"gemini-x","project":"new-project-1","request":{"project":"keep"}}"#
        );
    }

    #[test]
    fn beta_merged_and_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            ANTHROPIC_BETA,
            HeaderValue::from_static("claude-code-20250219,interleaved-thinking-2025-05-14"),
        );
        headers(Flavor::Anthropic, &mut h, &access(None, None));
        assert_eq!(
            h[ANTHROPIC_BETA],
            "claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20"
        );
        headers(Flavor::Anthropic, &mut h, &access(None, None));
        assert_eq!(
            h[ANTHROPIC_BETA].to_str().unwrap().matches("oauth").count(),
            1
        );
        headers_for_key(&mut h);
        assert_eq!(
            h[ANTHROPIC_BETA],
            "claude-code-20250219,interleaved-thinking-2025-05-14"
        );
        let mut h = HeaderMap::new();
        headers(Flavor::Anthropic, &mut h, &access(None, None));
        assert_eq!(h[ANTHROPIC_BETA], "oauth-2025-04-20");
        let mut h = HeaderMap::new();
        h.insert(
            "ChatGPT-Account-ID",
            HeaderValue::from_static("client-acct"),
        );
        headers(Flavor::Codex, &mut h, &access(Some("pool-acct"), None));
        assert_eq!(h["chatgpt-account-id"], "pool-acct");
    }
}
