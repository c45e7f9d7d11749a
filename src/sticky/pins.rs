//! Account-bound state: requests that only the account that created some state can
//! serve. Sending them elsewhere gets a 400 that tells the user nothing about limits, so
//! they are pinned to that account, and when it is limited the client gets its 429 with
//! retry-after instead.
//!
//! What is pinned, and how soundly:
//! * **`previous_response_id`** (OpenAI Responses, `store: true`): exact. The response id
//!   is read from the answer's first chunk ([`created_response_id`]) and pinned to the
//!   account that answered; a request naming it ([`referenced_response`]) goes there.
//! * **`encrypted_content`** (Responses reasoning and compaction items, which Codex always
//!   sends back): bound to the organization that encrypted it; another one answers 400
//!   `invalid_encrypted_content` ("organization_id did not match the target
//!   organization"). keypool does not see which account made each blob without reading
//!   whole streamed answers, so the rule is per conversation: a request carrying such
//!   items stays on the account that served its conversation ([`Pins::conversation`],
//!   kept long like response pins, else the sticky assignment). Sound while the
//!   conversation never moved since the blobs were made, which the pin itself ensures;
//!   not when keypool forgot the conversation (expired, or a key it could not derive).
//! * **Anthropic thinking `signature`s / `redacted_thinking`**: detected
//!   ([`BoundState::thinking_signature`]) but not pinned by default. Whether a signature
//!   from one account fails on another is not established (the known `Invalid
//!   signature` errors come from edited bytes or another provider's blocks), and Claude
//!   Code sends signatures in nearly every turn, so pinning them would stop its
//!   conversations from ever moving off a limited account.
//! * **Not pinned:** Gemini `thoughtSignature`s (not known to be account-bound), Codex's
//!   encrypted tool payloads other than `encrypted_content` items, and blobs in
//!   conversations keypool never saw (made before it ran, or under another key).
//!
//! The trade-off: a pinned request whose account is limited waits for that account (the
//! provider's 429 and retry-after) even when others have headroom. Moving it would fail
//! anyway, with a 400 that clients do not retry and users cannot read as "limited".

use super::key::{hex, unhex, ConversationKey};
use super::table::{Snapshot, Table};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// How long a pin lasts without use: OpenAI keeps stored responses 30 days.
pub const DEFAULT_PIN_IDLE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How many pins are remembered, over all pools.
pub const DEFAULT_PIN_CAPACITY: usize = 100_000;

/// How far into an answer's first chunk [`created_response_id`] looks.
const ID_SCAN_BYTES: usize = 64 * 1024;

/// The `previous_response_id` a Responses request (or a WebSocket `response.create`
/// frame) continues from. Bodies without the field are not parsed.
pub fn referenced_response(body: &[u8]) -> Option<String> {
    if !mentions(body, [b"previous_response_id"])[0] {
        return None;
    }
    #[derive(Deserialize)]
    struct Top<'a> {
        #[serde(borrow, default)]
        previous_response_id: Option<&'a RawValue>,
    }
    let top: Top = serde_json::from_slice(body).ok()?;
    let id: String = serde_json::from_str(top.previous_response_id?.get()).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The id of the response an answer creates: the top-level `"id":"resp_…"` of a
/// Responses JSON answer, or the `response.id` of the `response.created` event that
/// opens a stream. Works on a truncated first chunk: it looks for the first `"id"` key
/// with a `resp_` value (a key can only be a key: quotes inside strings are escaped, and
/// `previous_response_id` does not match), within the first 64 KB.
pub fn created_response_id(chunk: &[u8]) -> Option<String> {
    let chunk = &chunk[..chunk.len().min(ID_SCAN_BYTES)];
    let mut from = 0;
    while let Some(at) = find(&chunk[from..], b"\"id\"") {
        let mut i = from + at + 4;
        from = i;
        let skip_ws = |i: &mut usize| {
            while chunk.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if chunk.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        skip_ws(&mut i);
        if chunk.get(i) != Some(&b'"') {
            continue;
        }
        let start = i + 1;
        let len = chunk[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        let id = &chunk[start..start + len];
        if chunk.get(start + len) == Some(&b'"') && id.starts_with(b"resp_") && len <= 200 {
            return std::str::from_utf8(id).ok().map(str::to_string);
        }
    }
    None
}

/// What account-bound state a request carries back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundState {
    /// A Responses `input` item with `encrypted_content` (reasoning, compaction).
    pub encrypted_content: bool,
    /// An Anthropic `thinking` block with a `signature`, or a `redacted_thinking` block.
    pub thinking_signature: bool,
}

impl BoundState {
    pub fn any(&self) -> bool {
        self.encrypted_content || self.thinking_signature
    }
}

/// Looks for account-bound state in a request body. Only bodies that mention the fields
/// at all are parsed (Codex's `include: ["reasoning.encrypted_content"]` does not count).
pub fn bound_state(body: &[u8]) -> BoundState {
    detect(body, true, true)
}

/// [`bound_state`], looking only for what the caller will use: Claude Code sends
/// signatures in nearly every request, and finding them means parsing its messages.
pub(crate) fn detect(body: &[u8], encrypted: bool, signed: bool) -> BoundState {
    let [e, s, r] = mentions(
        body,
        [b"encrypted_content", b"signature", b"redacted_thinking"],
    );
    let maybe_encrypted = encrypted && e;
    let maybe_signed = signed && (s || r);
    if !maybe_encrypted && !maybe_signed {
        return BoundState::default();
    }
    #[derive(Deserialize)]
    struct Top<'a> {
        #[serde(borrow, default)]
        input: Option<&'a RawValue>,
        #[serde(borrow, default)]
        messages: Option<&'a RawValue>,
    }
    let Ok(top) = serde_json::from_slice::<Top>(body) else {
        return BoundState::default();
    };
    BoundState {
        encrypted_content: maybe_encrypted && top.input.is_some_and(has_encrypted_item),
        thinking_signature: maybe_signed && top.messages.is_some_and(has_signed_thinking),
    }
}

fn has_encrypted_item(input: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Item<'a> {
        #[serde(borrow, default)]
        encrypted_content: Option<&'a RawValue>,
    }
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(input.get()) else {
        return false;
    };
    items.iter().any(|raw| {
        serde_json::from_str::<Item>(raw.get())
            .ok()
            .and_then(|i| i.encrypted_content)
            .is_some_and(non_empty_string)
    })
}

fn has_signed_thinking(messages: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(borrow, default)]
        content: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Block<'a> {
        #[serde(borrow, default, rename = "type")]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        signature: Option<&'a RawValue>,
        #[serde(borrow, default)]
        data: Option<&'a RawValue>,
    }
    let Ok(messages) = serde_json::from_str::<Vec<&RawValue>>(messages.get()) else {
        return false;
    };
    messages.iter().any(|raw| {
        let Some(content) = serde_json::from_str::<Message>(raw.get())
            .ok()
            .and_then(|m| m.content)
        else {
            return false;
        };
        let Ok(blocks) = serde_json::from_str::<Vec<&RawValue>>(content.get()) else {
            return false; // a string: no blocks
        };
        blocks.iter().any(|raw| {
            let Ok(b) = serde_json::from_str::<Block>(raw.get()) else {
                return false;
            };
            match b.kind.as_deref() {
                Some("thinking") => b.signature.is_some_and(non_empty_string),
                Some("redacted_thinking") => b.data.is_some_and(non_empty_string),
                _ => false,
            }
        })
    })
}

fn non_empty_string(raw: &RawValue) -> bool {
    let s = raw.get();
    s.starts_with('"') && s.len() > 2
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which of `names` occur in `body` quoted (`"name"`, as a key or a string), in one pass
/// over its quotes.
fn mentions<const N: usize>(body: &[u8], names: [&[u8]; N]) -> [bool; N] {
    let mut found = [false; N];
    let mut rest = body;
    while let Some(i) = rest.iter().position(|&b| b == b'"') {
        rest = &rest[i + 1..];
        for (f, name) in found.iter_mut().zip(names) {
            if !*f && rest.starts_with(name) && rest.get(name.len()) == Some(&b'"') {
                *f = true;
            }
        }
        if found.iter().all(|f| *f) {
            break;
        }
    }
    found
}

/// What a pin is keyed by: a response id (as a digest) or a conversation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PinKey {
    Response([u8; 16]),
    Conversation(ConversationKey),
}

impl PinKey {
    pub fn response(id: &str) -> PinKey {
        let mut h = Sha256::new();
        h.update(b"response\0");
        h.update(id.trim().as_bytes());
        let mut d = [0u8; 16];
        d.copy_from_slice(&h.finalize()[..16]);
        PinKey::Response(d)
    }
}

impl fmt::Display for PinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinKey::Response(d) => write!(f, "response:{}", hex(d)),
            PinKey::Conversation(k) => write!(f, "conversation:{k}"),
        }
    }
}

impl fmt::Debug for PinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a pin key (want response:<hex> or conversation:<key>): {0:?}")]
pub struct BadPinKey(String);

impl FromStr for PinKey {
    type Err = BadPinKey;
    fn from_str(s: &str) -> Result<Self, BadPinKey> {
        let bad = || BadPinKey(s.chars().take(80).collect());
        match s.split_once(':').ok_or_else(bad)? {
            ("response", d) => Ok(PinKey::Response(unhex(d).ok_or_else(bad)?)),
            ("conversation", k) => Ok(PinKey::Conversation(k.parse().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for PinKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PinKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub type PinsSnapshot = Snapshot<PinKey>;

/// Pins per pool: response id or conversation → the account holding its state.
pub struct Pins {
    table: Table<PinKey>,
}

impl Default for Pins {
    fn default() -> Self {
        Pins::new(DEFAULT_PIN_IDLE, DEFAULT_PIN_CAPACITY)
    }
}

impl fmt::Debug for Pins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pins")
            .field("len", &self.len())
            .field("idle", &self.table.idle())
            .finish()
    }
}

impl Pins {
    pub fn new(idle: Duration, capacity: usize) -> Pins {
        Pins {
            table: Table::new(idle, capacity),
        }
    }

    /// `account` answered with response `id` (from [`created_response_id`]).
    pub fn pin_response(&self, pool: &str, id: &str, account: &str, now: SystemTime) {
        self.table.put(pool, &PinKey::response(id), account, now);
    }

    /// The account holding response `id` (from [`referenced_response`]), the pin
    /// refreshed.
    pub fn response(&self, pool: &str, id: &str, now: SystemTime) -> Option<String> {
        self.table.get(pool, &PinKey::response(id), now)
    }

    /// `account` served a turn of `key` that carried bound state; the account pinned
    /// before, if another.
    pub fn pin_conversation(
        &self,
        pool: &str,
        key: &ConversationKey,
        account: &str,
        now: SystemTime,
    ) -> Option<String> {
        self.table
            .put(pool, &PinKey::Conversation(*key), account, now)
    }

    /// The account holding `key`'s bound state, the pin refreshed.
    pub fn conversation(
        &self,
        pool: &str,
        key: &ConversationKey,
        now: SystemTime,
    ) -> Option<String> {
        self.table.get(pool, &PinKey::Conversation(*key), now)
    }

    pub fn retain(&self, keep: impl FnMut(&str, &str) -> bool) -> usize {
        self.table.retain(keep)
    }

    pub fn prune(&self, now: SystemTime) -> usize {
        self.table.prune(now)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live pins per pool and account.
    pub fn counts(&self, now: SystemTime) -> BTreeMap<String, BTreeMap<String, usize>> {
        self.table.counts(now)
    }

    pub fn snapshot(&self, now: SystemTime) -> PinsSnapshot {
        self.table.snapshot(now)
    }

    pub fn restore(&self, snap: PinsSnapshot, now: SystemTime) -> usize {
        self.table.restore(snap, now)
    }
}

#[cfg(test)]
#[path = "pins_tests.rs"]
mod tests;
