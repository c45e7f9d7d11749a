//! Which conversation a request belongs to, so its turns can go to one account and keep
//! the provider's prompt cache warm.
//!
//! Sources, first match wins:
//! 1. `x-claude-code-session-id` (Claude Code, any dialect: the name is its own);
//! 2. the `session_id` inside Anthropic's `metadata.user_id` (a JSON string holding JSON;
//!    older Claude Code sent `user_…_account_…_session_<uuid>`);
//! 3. Codex's `session_id` header, then `prompt_cache_key` in the body (Codex sets both to
//!    its conversation id; other clients set the cache key to what shares a cache);
//! 4. Gemini CLI's `request.session_id` (Code Assist bodies);
//! 5. else a hash of the first system prompt and the first user message, which later turns
//!    of the same conversation repeat.
//!
//! Every source becomes a 128-bit digest: no session id or message text is kept. Sources
//! of one client share a tag, so Claude Code's header and its `metadata` session give the
//! same key, as do Codex's header and cache key when they hold the same id.

use crate::providers::Dialect;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Where a conversation key came from; part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeySource {
    /// `x-claude-code-session-id` or `metadata.user_id`'s `session_id`.
    ClaudeCode,
    /// Codex's `session_id` header or the body's `prompt_cache_key`.
    Codex,
    /// Gemini CLI's `request.session_id`.
    GeminiCli,
    /// A hash of the first system prompt and first user message.
    Content,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::ClaudeCode => "claude-code",
            KeySource::Codex => "codex",
            KeySource::GeminiCli => "gemini-cli",
            KeySource::Content => "content",
        }
    }

    fn parse(s: &str) -> Option<KeySource> {
        [
            KeySource::ClaudeCode,
            KeySource::Codex,
            KeySource::GeminiCli,
            KeySource::Content,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One conversation: its source and a digest of what identified it. Shown (and
/// serialized) as `source:32 hex digits`, e.g. `claude-code:3f2a…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey {
    source: KeySource,
    digest: [u8; 16],
}

impl ConversationKey {
    /// The key of a session id a client declared (also what [`conversation_key`] makes
    /// of a header), for tests and for callers that learn a session id elsewhere.
    pub fn from_session(source: KeySource, id: &str) -> ConversationKey {
        let mut h = Hasher::new(source);
        h.piece(id.trim().as_bytes());
        h.finish()
    }

    pub fn source(&self) -> KeySource {
        self.source
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source.as_str(), hex(&self.digest))
    }
}

impl fmt::Debug for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a conversation key (want source:32 hex digits): {0:?}")]
pub struct BadKey(String);

impl FromStr for ConversationKey {
    type Err = BadKey;
    fn from_str(s: &str) -> Result<Self, BadKey> {
        let bad = || BadKey(s.chars().take(80).collect());
        let (source, digest) = s.split_once(':').ok_or_else(bad)?;
        Ok(ConversationKey {
            source: KeySource::parse(source).ok_or_else(bad)?,
            digest: unhex(digest).ok_or_else(bad)?,
        })
    }
}

impl serde::Serialize for ConversationKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ConversationKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

pub(crate) fn unhex(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != 32 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 16];
    for (i, pair) in s.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// SHA-256 over the source's tag and length-prefixed pieces, cut to 128 bits.
struct Hasher {
    h: Sha256,
    source: KeySource,
    pieces: usize,
}

impl Hasher {
    fn new(source: KeySource) -> Hasher {
        let mut h = Sha256::new();
        h.update(source.as_str().as_bytes());
        Hasher {
            h,
            source,
            pieces: 0,
        }
    }

    fn piece(&mut self, bytes: &[u8]) {
        self.h.update((bytes.len() as u64).to_be_bytes());
        self.h.update(bytes);
        self.pieces += 1;
    }

    /// Ends one section (the system prompt) so its pieces cannot pass for the next's.
    fn section(&mut self) {
        self.h.update(u64::MAX.to_be_bytes());
    }

    fn finish(self) -> ConversationKey {
        let full = self.h.finalize();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        ConversationKey {
            source: self.source,
            digest,
        }
    }
}

const CLAUDE_CODE_SESSION: &str = "x-claude-code-session-id";
const CODEX_SESSION: &str = "session_id";

/// The conversation `body` (with `headers`) belongs to; `None` when nothing identifies
/// one (no session, no system prompt or user text, or a body that is not JSON).
///
/// Headers cost nothing; the body is parsed only when the first header is missing, and
/// then once, borrowing: what is not needed (tools, later messages) is skipped, not
/// copied. `dialect` says which body shapes to expect: [`Dialect::Google`] bodies are
/// Gemini's (`systemInstruction`, `contents`, Code Assist's `request` wrapper), the
/// others OpenAI chat (`messages`), Anthropic (`system`, `messages`) or Responses
/// (`instructions`, `input`).
pub fn conversation_key(
    dialect: Dialect,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<ConversationKey> {
    if let Some(id) = header(headers, CLAUDE_CODE_SESSION) {
        return Some(ConversationKey::from_session(KeySource::ClaudeCode, id));
    }
    let top: Option<Top> = parse_top(body);
    if let Some(id) = top.as_ref().and_then(claude_metadata_session) {
        return Some(ConversationKey::from_session(KeySource::ClaudeCode, &id));
    }
    if let Some(id) = header(headers, CODEX_SESSION) {
        return Some(ConversationKey::from_session(KeySource::Codex, id));
    }
    let top = top?;
    if let Some(id) = top.prompt_cache_key.and_then(string).filter(|s| !blank(s)) {
        return Some(ConversationKey::from_session(KeySource::Codex, &id));
    }
    if dialect == Dialect::Google {
        // Code Assist wraps a Gemini request: `{"model","project","request":{…}}`.
        let inner: Option<Top> = top.request.and_then(|r| parse_top(r.get().as_bytes()));
        let gemini = inner.as_ref().unwrap_or(&top);
        if let Some(id) = gemini.session_id.and_then(string).filter(|s| !blank(s)) {
            return Some(ConversationKey::from_session(KeySource::GeminiCli, &id));
        }
        return content_key(gemini.system_instruction, gemini.contents);
    }
    let system = top.system.or(top.instructions);
    content_key(system, top.messages.or(top.input))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The top-level fields any source needs, each left unparsed until used.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt_cache_key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    system: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename = "systemInstruction",
        alias = "system_instruction"
    )]
    system_instruction: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contents: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    session_id: Option<&'a RawValue>,
}

fn parse_top(body: &[u8]) -> Option<Top<'_>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// A JSON string's value; `None` for anything else.
fn string(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    user_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UserId {
    #[serde(default)]
    session_id: Option<String>,
}

/// Claude Code's `metadata.user_id`: a JSON string holding `{"device_id", "account_uuid",
/// "session_id"}`, or in older versions `user_<hash>_account_<uuid>_session_<uuid>`.
fn claude_metadata_session(top: &Top<'_>) -> Option<String> {
    let meta: Metadata = serde_json::from_str(top.metadata?.get()).ok()?;
    let user_id = string(meta.user_id?)?;
    let session = match serde_json::from_str::<UserId>(&user_id) {
        Ok(inner) => inner.session_id?,
        Err(_) => user_id.rsplit_once("_session_")?.1.to_string(),
    };
    (!blank(&session)).then_some(session)
}

/// One element of `messages` (chat, Anthropic), `input` (Responses) or `contents`
/// (Gemini); only what tells its role and where its text is.
#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parts: Option<&'a RawValue>,
}

/// The hash of the first system prompt (`system` when the body has one at the top) and
/// the first user message of `turns`.
fn content_key(system: Option<&RawValue>, turns: Option<&RawValue>) -> Option<ConversationKey> {
    let mut in_list_system = None;
    let mut user = None;
    if let Some(turns) = turns {
        if is_string(turns) {
            // Responses `input` may be one string: the user's message.
            user = Some(turns);
        } else if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(turns.get()) {
            for raw in items {
                let Ok(item) = serde_json::from_str::<Item>(raw.get()) else {
                    continue;
                };
                let text = item.content.or(item.parts);
                match item.role.as_deref() {
                    Some("system" | "developer") => {
                        in_list_system = in_list_system.or(text);
                    }
                    Some("user") if text.is_some() => {
                        user = text;
                        break;
                    }
                    // Gemini contents may leave out the role of a user turn.
                    None if item.parts.is_some() => {
                        user = item.parts;
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    let mut h = Hasher::new(KeySource::Content);
    if let Some(s) = system.or(in_list_system) {
        texts(s, 0, &mut |t| h.piece(t));
    }
    h.section();
    if let Some(u) = user {
        texts(u, 0, &mut |t| h.piece(t));
    }
    (h.pieces > 0).then(|| h.finish())
}

fn is_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parts: Option<&'a RawValue>,
}

/// Calls `f` with each text of a content value, as the JSON string literal the client
/// wrote (a client writes one text the same way on every turn, so no unescaping and no
/// copy). A string is one text; an array, its elements' texts; an object, its `text`
/// (a content block, a part) or its `parts` (a Gemini Content). Other fields, like
/// `cache_control` markers that move to the newest message each turn, are not hashed.
fn texts<'a>(raw: &'a RawValue, depth: u8, f: &mut impl FnMut(&'a [u8])) {
    let s = raw.get();
    match s.as_bytes().first() {
        Some(b'"') => f(s.as_bytes()),
        Some(b'[') if depth < 4 => {
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(s) {
                for item in items {
                    texts(item, depth + 1, f);
                }
            }
        }
        Some(b'{') if depth < 4 => {
            if let Ok(block) = serde_json::from_str::<Block>(s) {
                match (block.text, block.parts) {
                    (Some(t), _) if is_string(t) => f(t.get().as_bytes()),
                    (_, Some(p)) => texts(p, depth + 1, f),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn key(dialect: Dialect, h: &HeaderMap, body: &serde_json::Value) -> Option<ConversationKey> {
        conversation_key(dialect, h, body.to_string().as_bytes())
    }

    const SESSION: &str = "4b1e7c2a-9d3f-4e8a-b6c5-0f1e2d3c4b5a";

    /// What Claude Code sends: a big system prompt in blocks, tool schemas, the user's
    /// turn with `cache_control`, and `metadata.user_id` holding JSON.
    fn claude_code_body(turns: &[serde_json::Value], session: &str) -> serde_json::Value {
        let user_id = json!({
            "device_id": "d3adb33f",
            "account_uuid": "11111111-1111-4111-8111-111111111111",
            "session_id": session,
        })
        .to_string();
        let tools: Vec<_> = (0..40)
            .map(|i| {
                json!({"name": format!("Tool{i}"), "description": "x".repeat(1500),
                "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}})
            })
            .collect();
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "stream": true,
            "system": [
                {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                 "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "You are an interactive CLI tool...\n\"quoted\" and\ttabbed"},
            ],
            "tools": tools,
            "messages": turns,
            "metadata": {"user_id": user_id},
        })
    }

    #[test]
    fn claude_code_header_first_then_metadata_session() {
        let turns = [
            json!({"role": "user", "content": [{"type": "text", "text": "fix the bug",
            "cache_control": {"type": "ephemeral"}}]}),
        ];
        let body = claude_code_body(&turns, SESSION);
        assert!(body.to_string().len() > 60_000, "a realistic size");
        let from_header = key(
            Dialect::Anthropic,
            &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
            &body,
        )
        .unwrap();
        let from_metadata = key(Dialect::Anthropic, &no_headers(), &body).unwrap();
        assert_eq!(from_header.source(), KeySource::ClaudeCode);
        // Same session, same key, whichever carried it.
        assert_eq!(from_header, from_metadata);
        assert_eq!(
            from_header,
            ConversationKey::from_session(KeySource::ClaudeCode, SESSION)
        );
        // The header wins over a body of another session.
        let other = claude_code_body(&turns, "another-session");
        assert_eq!(
            key(
                Dialect::Anthropic,
                &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
                &other
            ),
            Some(from_header)
        );
        assert_ne!(
            key(Dialect::Anthropic, &no_headers(), &other),
            Some(from_header)
        );
        // The header needs no body at all.
        assert_eq!(
            conversation_key(
                Dialect::Anthropic,
                &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
                b""
            ),
            Some(from_header)
        );
    }

    #[test]
    fn older_claude_code_user_id_format() {
        let body = json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}],
            "metadata": {"user_id": format!("user_abc123_account_{}_session_{SESSION}",
                "11111111-1111-4111-8111-111111111111")}});
        assert_eq!(
            key(Dialect::Anthropic, &no_headers(), &body),
            Some(ConversationKey::from_session(
                KeySource::ClaudeCode,
                SESSION
            ))
        );
    }

    #[test]
    fn anthropic_content_hash_ignores_cache_control_and_later_turns() {
        // An Anthropic client without a session: the system prompt and first user turn.
        let mut body = claude_code_body(
            &[
                json!({"role": "user", "content": [{"type": "text", "text": "fix the bug",
                "cache_control": {"type": "ephemeral"}}]}),
            ],
            SESSION,
        );
        body.as_object_mut().unwrap().remove("metadata");
        let first = key(Dialect::Anthropic, &no_headers(), &body).unwrap();
        assert_eq!(first.source(), KeySource::Content);
        // Turn two: the first message lost its marker (and became a string), the new
        // one has it, thinking and tool use came between.
        body["messages"] = json!([
            {"role": "user", "content": "fix the bug"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "EqQB..."},
                {"type": "text", "text": "Done."}]},
            {"role": "user", "content": [{"type": "text", "text": "thanks, now the tests",
                "cache_control": {"type": "ephemeral"}}]},
        ]);
        assert_eq!(key(Dialect::Anthropic, &no_headers(), &body), Some(first));
        // Another first message is another conversation.
        body["messages"] = json!([{"role": "user", "content": "write a poem"}]);
        assert_ne!(key(Dialect::Anthropic, &no_headers(), &body), Some(first));
    }

    #[test]
    fn codex_session_header_then_prompt_cache_key() {
        let body = json!({
            "model": "gpt-5-codex",
            "instructions": "You are Codex, based on GPT-5. You are running as a coding agent...",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text",
                    "text": "<permissions instructions>workspace-write</permissions instructions>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text",
                    "text": "<environment_context><cwd>/src</cwd></environment_context>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text",
                    "text": "add a test"}]},
            ],
            "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": SESSION,
        });
        let codex = ConversationKey::from_session(KeySource::Codex, SESSION);
        assert_eq!(
            key(Dialect::Openai, &headers(&[("session_id", SESSION)]), &body),
            Some(codex)
        );
        assert_eq!(key(Dialect::Openai, &no_headers(), &body), Some(codex));
        // A WebSocket upgrade carries the header and no body.
        assert_eq!(
            conversation_key(Dialect::Openai, &headers(&[("session_id", SESSION)]), b""),
            Some(codex)
        );
        // No session at all: the Responses content (instructions + first user item).
        let mut plain = body.clone();
        plain.as_object_mut().unwrap().remove("prompt_cache_key");
        let content = key(Dialect::Openai, &no_headers(), &plain).unwrap();
        assert_eq!(content.source(), KeySource::Content);
        plain["input"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Added."}]}));
        assert_eq!(key(Dialect::Openai, &no_headers(), &plain), Some(content));
    }

    #[test]
    fn responses_string_input_and_empty_values() {
        let a = json!({"model": "gpt-5", "instructions": "be brief", "input": "hello"});
        let b = json!({"model": "gpt-5", "instructions": "be brief",
            "input": [{"role": "user", "content": "hello"}]});
        let ka = key(Dialect::Openai, &no_headers(), &a).unwrap();
        assert_eq!(key(Dialect::Openai, &no_headers(), &b), Some(ka));
        // Blank session values fall through to the content.
        let blank = json!({"instructions": "be brief", "input": "hello", "prompt_cache_key": " "});
        assert_eq!(
            key(Dialect::Openai, &headers(&[("session_id", " ")]), &blank),
            Some(ka)
        );
    }

    #[test]
    fn openai_chat_second_turn_repeats_the_first() {
        let turn1 = json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is a monad?"},
            ],
        });
        let turn2 = json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is a monad?"},
                {"role": "assistant", "content": "A monoid in the category of endofunctors."},
                {"role": "user", "content": [{"type": "text", "text": "Simpler, please."}]},
            ],
            "stream": true,
        });
        let k1 = key(Dialect::Openai, &no_headers(), &turn1).unwrap();
        assert_eq!(k1.source(), KeySource::Content);
        assert_eq!(key(Dialect::Openrouter, &no_headers(), &turn2), Some(k1));
        // The system prompt is part of the key.
        let mut other = turn1.clone();
        other["messages"][0]["content"] = json!("You are a pirate.");
        assert_ne!(key(Dialect::Openai, &no_headers(), &other), Some(k1));
        // A developer message counts as the system prompt.
        let mut dev = turn1.clone();
        dev["messages"][0]["role"] = json!("developer");
        assert_eq!(key(Dialect::Openai, &no_headers(), &dev), Some(k1));
    }

    #[test]
    fn gemini_contents_and_code_assist_session() {
        let turn1 = json!({
            "systemInstruction": {"parts": [{"text": "You are a concise assistant."}]},
            "contents": [{"role": "user", "parts": [{"text": "Name three rivers."}]}],
            "generationConfig": {"temperature": 0.2},
        });
        let turn2 = json!({
            "system_instruction": {"parts": [{"text": "You are a concise assistant."}]},
            "contents": [
                {"parts": [{"text": "Name three rivers."}]},
                {"role": "model", "parts": [{"text": "Nile, Amazon, Danube."}]},
                {"role": "user", "parts": [{"text": "Longest?"}]},
            ],
        });
        let k = key(Dialect::Google, &no_headers(), &turn1).unwrap();
        assert_eq!(k.source(), KeySource::Content);
        assert_eq!(key(Dialect::Google, &no_headers(), &turn2), Some(k));
        // Code Assist wraps the same request and names its session.
        let wrapped = json!({"model": "gemini-2.5-pro", "project": "proj-1",
            "user_prompt_id": "p1", "request": turn1});
        assert_eq!(key(Dialect::Google, &no_headers(), &wrapped), Some(k));
        let mut with_session = wrapped.clone();
        with_session["request"]["session_id"] = json!(SESSION);
        assert_eq!(
            key(Dialect::Google, &no_headers(), &with_session),
            Some(ConversationKey::from_session(KeySource::GeminiCli, SESSION))
        );
    }

    #[test]
    fn nothing_to_go_by() {
        for body in [
            &b""[..],
            b"not json",
            b"[1,2]",
            b"{}",
            br#"{"model":"text-embedding-3-small","input":[1,2,3]}"#,
            br#"{"messages":[{"role":"assistant","content":"only me"}]}"#,
        ] {
            assert_eq!(conversation_key(Dialect::Openai, &no_headers(), body), None);
        }
    }

    #[test]
    fn display_round_trips_and_keeps_no_text() {
        let k = key(
            Dialect::Openai,
            &no_headers(),
            &json!({"messages": [{"role": "user", "content": "my secret plan"}]}),
        )
        .unwrap();
        let shown = k.to_string();
        assert!(shown.starts_with("content:") && shown.len() == "content:".len() + 32);
        assert!(!shown.contains("secret"));
        assert_eq!(shown.parse::<ConversationKey>().unwrap(), k);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<ConversationKey>(&json).unwrap(), k);
        assert!("content:xyz".parse::<ConversationKey>().is_err());
        assert!("nope:00112233445566778899aabbccddeeff"
            .parse::<ConversationKey>()
            .is_err());
    }
}
