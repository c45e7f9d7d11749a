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
#[path = "key_tests.rs"]
mod tests;
