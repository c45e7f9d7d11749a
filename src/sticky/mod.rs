//! Sticky conversations and account-bound state: which account a request should go to
//! so the provider's prompt cache stays warm ([`Sticky`]), and which account it must go
//! to because only that one holds state it refers to ([`Pins`]).
//!
//! [`Affinity`] puts both behind three calls for the request pipeline:
//! 1. [`Affinity::route`] once per request, with the buffered body: the conversation
//!    key, the account to prefer (sticky), and maybe the account it is pinned to;
//! 2. [`Affinity::served`] when an account's answer goes to the client: records the
//!    assignment and returns a [`Move`] to log when the conversation changed account;
//! 3. [`Affinity::answered`] with the first chunk of a 2xx answer: pins the Responses id
//!    it creates to the account that made it.
//!
//! Everything takes `now` from the caller's clock; nothing here sleeps or spawns.

pub mod key;
pub mod pins;
pub mod table;

pub use key::{conversation_key, BadKey, ConversationKey, KeySource};
pub use pins::{
    bound_state, created_response_id, referenced_response, BadPinKey, BoundState, PinKey, Pins,
    PinsSnapshot, DEFAULT_PIN_CAPACITY, DEFAULT_PIN_IDLE,
};
pub use table::{
    Move, SavedEntry, Snapshot, Sticky, StickySnapshot, DEFAULT_CAPACITY, DEFAULT_IDLE,
};

use crate::providers::Dialect;
use http::HeaderMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Which account-bound state in a request pins its conversation ([`pins`] says why the
/// defaults are what they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    /// Responses items with `encrypted_content` (organization-bound). Default on.
    pub encrypted_content: bool,
    /// Anthropic thinking signatures (binding not established). Default off.
    pub thinking_signatures: bool,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            encrypted_content: true,
            thinking_signatures: false,
        }
    }
}

impl PinPolicy {
    fn reason(&self, bound: BoundState) -> Option<PinReason> {
        if self.encrypted_content && bound.encrypted_content {
            Some(PinReason::EncryptedContent)
        } else if self.thinking_signatures && bound.thinking_signature {
            Some(PinReason::ThinkingSignature)
        } else {
            None
        }
    }
}

/// Why a request must go to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinReason {
    /// It names a `previous_response_id` that account created.
    PreviousResponse,
    /// It carries `encrypted_content` its conversation's account made.
    EncryptedContent,
    /// It carries thinking signatures its conversation's account made.
    ThinkingSignature,
}

impl PinReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::PreviousResponse => "previous_response_id",
            PinReason::EncryptedContent => "encrypted_content",
            PinReason::ThinkingSignature => "thinking signature",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub account: String,
    pub reason: PinReason,
}

/// Where one request should go, from [`Affinity::route`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The conversation, when the request names or implies one.
    pub key: Option<ConversationKey>,
    /// The account serving the conversation: use it while it has headroom, else any
    /// (and log the [`Move`] that [`Affinity::served`] returns).
    pub preferred: Option<String>,
    /// The account the request must go to. When it is limited, answer with its limit
    /// (429 and its retry-after), do not rotate. When it is no longer in the pool
    /// (config reload), ignore the pin and route as usual.
    pub pinned: Option<Pinned>,
    /// The `previous_response_id` the request continues from.
    pub previous_response: Option<String>,
    /// The account-bound state the request carries, of the kinds the [`PinPolicy`] pins.
    pub bound: BoundState,
}

impl Route {
    /// The account to try first: the pinned one, else the preferred one.
    pub fn first_choice(&self) -> Option<&str> {
        self.pinned
            .as_ref()
            .map(|p| p.account.as_str())
            .or(self.preferred.as_deref())
    }

    /// Whether another account may serve the request when the first choice is limited.
    pub fn may_move(&self) -> bool {
        self.pinned.is_none()
    }
}

/// What the state file keeps of an [`Affinity`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffinitySnapshot {
    #[serde(default)]
    pub sticky: StickySnapshot,
    #[serde(default)]
    pub pins: PinsSnapshot,
}

/// Sticky assignments and pins, shared by every connection (one per running proxy).
#[derive(Debug, Default)]
pub struct Affinity {
    pub sticky: Sticky,
    pub pins: Pins,
    policy: Mutex<PinPolicy>,
}

impl Affinity {
    pub fn new(sticky: Sticky, pins: Pins, policy: PinPolicy) -> Affinity {
        Affinity {
            sticky,
            pins,
            policy: Mutex::new(policy),
        }
    }

    pub fn policy(&self) -> PinPolicy {
        *self.policy.lock()
    }

    pub fn set_policy(&self, policy: PinPolicy) {
        *self.policy.lock() = policy;
    }

    /// Where a request to `pool` should go. `headers` are the client's request headers
    /// and `body` its buffered body (empty for a WebSocket upgrade, whose `session_id`
    /// header still names the conversation). Marks the conversation and any pin as
    /// seen.
    pub fn route(
        &self,
        pool: &str,
        dialect: Dialect,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Route {
        let key = conversation_key(dialect, headers, body);
        let previous_response = referenced_response(body);
        let policy = self.policy();
        let bound = pins::detect(body, policy.encrypted_content, policy.thinking_signatures);
        let mut pinned = previous_response
            .as_deref()
            .and_then(|id| self.pins.response(pool, id, now))
            .map(|account| Pinned {
                account,
                reason: PinReason::PreviousResponse,
            });
        if pinned.is_none() {
            if let (Some(reason), Some(k)) = (policy.reason(bound), &key) {
                pinned = self
                    .pins
                    .conversation(pool, k, now)
                    .or_else(|| self.sticky.peek(pool, k, now))
                    .map(|account| Pinned { account, reason });
            }
        }
        let preferred = key.as_ref().and_then(|k| self.sticky.get(pool, k, now));
        Route {
            key,
            preferred,
            pinned,
            previous_response,
            bound,
        }
    }

    /// `account` answered the request `route` was made for, and the answer goes to the
    /// client; `success` when it was a 2xx. The conversation is now `account`'s; when
    /// it was another's, the [`Move`] to log. On success the state the request referred
    /// to is known to live on `account` and is pinned there.
    pub fn served(
        &self,
        pool: &str,
        route: &Route,
        account: &str,
        success: bool,
        now: SystemTime,
    ) -> Option<Move> {
        if success {
            if let Some(id) = &route.previous_response {
                self.pins.pin_response(pool, id, account, now);
            }
        }
        let key = route.key.as_ref()?;
        if success && self.policy().reason(route.bound).is_some() {
            self.pins.pin_conversation(pool, key, account, now);
        }
        self.sticky.assign(pool, key, account, now)
    }

    /// The first chunk of a 2xx answer from `account`: when it opens a Responses answer,
    /// its id is pinned to `account` and returned. Feed the next chunk too when this one
    /// ended before the id (an SSE `event:` line alone).
    pub fn answered(
        &self,
        pool: &str,
        account: &str,
        first_chunk: &[u8],
        now: SystemTime,
    ) -> Option<String> {
        let id = created_response_id(first_chunk)?;
        self.pins.pin_response(pool, &id, account, now);
        Some(id)
    }

    /// Forgets assignments and pins whose `(pool, account)` `keep` rejects.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) -> usize {
        self.sticky.retain(&mut keep) + self.pins.retain(&mut keep)
    }

    /// Drops whatever has expired at `now`. Only the tests ask for a full pass: inserts
    /// prune as they go, and nothing outside sticky calls this.
    #[cfg(test)]
    fn prune(&self, now: SystemTime) -> usize {
        self.sticky.prune(now) + self.pins.prune(now)
    }

    pub fn snapshot(&self, now: SystemTime) -> AffinitySnapshot {
        AffinitySnapshot {
            sticky: self.sticky.snapshot(now),
            pins: self.pins.snapshot(now),
        }
    }

    /// Takes back a snapshot; how many entries (assignments and pins).
    pub fn restore(&self, snap: AffinitySnapshot, now: SystemTime) -> usize {
        self.sticky.restore(snap.sticky, now) + self.pins.restore(snap.pins, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use http::HeaderValue;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn clock() -> ManualClock {
        ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_750_000_000))
    }

    fn codex_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "session_id",
            HeaderValue::from_static("0199c0de-0000-7000-8000-000000000001"),
        );
        h
    }

    fn codex_body(reasoning: bool) -> Vec<u8> {
        let mut input = vec![json!({"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "refactor"}]})];
        if reasoning {
            input.push(json!({"type": "reasoning", "summary": [],
                "encrypted_content": "gAAAAABo-account-a"}));
            input.push(json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "continue"}]}));
        }
        json!({"model": "gpt-5-codex", "instructions": "You are Codex.", "input": input,
            "store": false, "stream": true, "include": ["reasoning.encrypted_content"]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_conversation_sticks_and_moves_only_when_served_elsewhere() {
        let c = clock();
        let a = Affinity::default();
        let h = codex_headers();
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(false), c.now());
        assert!(r.key.is_some() && r.preferred.is_none() && r.may_move());
        assert_eq!(a.served("codex", &r, "alice", true, c.now()), None);
        c.advance(Duration::from_secs(60));
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(false), c.now());
        assert_eq!(r.preferred.as_deref(), Some("alice"));
        assert_eq!(r.first_choice(), Some("alice"));
        // Alice was limited and bob served it: a move to log.
        let m = a.served("codex", &r, "bob", true, c.now()).unwrap();
        assert_eq!((m.from.as_str(), m.to.as_str()), ("alice", "bob"));
        assert_eq!(a.sticky.counts(c.now())["codex"]["bob"], 1);
    }

    #[test]
    fn encrypted_content_pins_the_conversation_beyond_the_sticky_idle() {
        let c = clock();
        let a = Affinity::default();
        let h = codex_headers();
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(false), c.now());
        a.served("codex", &r, "alice", true, c.now());
        // Turn two sends alice's reasoning back: it must stay on alice.
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        assert!(r.bound.encrypted_content);
        assert_eq!(
            r.pinned,
            Some(Pinned {
                account: "alice".into(),
                reason: PinReason::EncryptedContent
            })
        );
        assert!(!r.may_move());
        a.served("codex", &r, "alice", true, c.now());
        // The next day the sticky assignment is gone, the pin is not.
        c.advance(Duration::from_secs(24 * 3600));
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        assert_eq!(r.preferred, None);
        assert_eq!(r.first_choice(), Some("alice"));
        // A policy that does not pin encrypted content leaves it free to move.
        a.set_policy(PinPolicy {
            encrypted_content: false,
            thinking_signatures: false,
        });
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        assert!(r.may_move());
    }

    #[test]
    fn previous_response_id_goes_to_the_account_that_made_it() {
        let c = clock();
        let a = Affinity::default();
        let first = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_abc123\",\"object\":\"response\"}}\n\n";
        assert_eq!(
            a.answered("openai", "carol", first, c.now()).as_deref(),
            Some("resp_abc123")
        );
        assert_eq!(
            a.answered("openai", "carol", b"event: response.created\n", c.now()),
            None
        );
        let body = json!({"model": "gpt-5", "previous_response_id": "resp_abc123",
            "input": [{"role": "user", "content": "and?"}]})
        .to_string();
        let r = a.route(
            "openai",
            Dialect::Openai,
            &HeaderMap::new(),
            body.as_bytes(),
            c.now(),
        );
        assert_eq!(r.previous_response.as_deref(), Some("resp_abc123"));
        assert_eq!(
            r.pinned,
            Some(Pinned {
                account: "carol".into(),
                reason: PinReason::PreviousResponse
            })
        );
        // An unknown id pins nothing, but a success teaches where it lives.
        let body = body.replace("resp_abc123", "resp_made_before_keypool");
        let r = a.route(
            "openai",
            Dialect::Openai,
            &HeaderMap::new(),
            body.as_bytes(),
            c.now(),
        );
        assert!(r.pinned.is_none());
        a.served("openai", &r, "dave", true, c.now());
        let r = a.route(
            "openai",
            Dialect::Openai,
            &HeaderMap::new(),
            body.as_bytes(),
            c.now(),
        );
        assert_eq!(r.first_choice(), Some("dave"));
        assert!(!r.may_move());
    }

    #[test]
    fn thinking_signatures_pin_only_when_the_policy_says_so() {
        let c = clock();
        let a = Affinity::default();
        let mut h = HeaderMap::new();
        h.insert("x-claude-code-session-id", HeaderValue::from_static("cc-1"));
        let body = json!({"model": "claude-opus-4-1", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "…", "signature": "EqQBCkgI"},
                {"type": "text", "text": "hello"}]},
            {"role": "user", "content": "more"}]})
        .to_string();
        let r = a.route("claude", Dialect::Anthropic, &h, body.as_bytes(), c.now());
        a.served("claude", &r, "alice", true, c.now());
        let r = a.route("claude", Dialect::Anthropic, &h, body.as_bytes(), c.now());
        assert!(r.may_move(), "not pinned by default");
        assert!(!r.bound.thinking_signature, "not even looked for");
        assert_eq!(r.preferred.as_deref(), Some("alice"));
        a.set_policy(PinPolicy {
            encrypted_content: true,
            thinking_signatures: true,
        });
        let r = a.route("claude", Dialect::Anthropic, &h, body.as_bytes(), c.now());
        assert!(r.bound.thinking_signature);
        assert_eq!(
            r.pinned.map(|p| (p.account, p.reason)),
            Some(("alice".into(), PinReason::ThinkingSignature))
        );
    }

    #[test]
    fn a_reload_that_stops_pinning_signatures_applies_to_requests_in_flight() {
        let c = clock();
        let a = Affinity::new(
            Sticky::default(),
            Pins::default(),
            PinPolicy {
                encrypted_content: true,
                thinking_signatures: true,
            },
        );
        let mut h = HeaderMap::new();
        h.insert("x-claude-code-session-id", HeaderValue::from_static("cc-2"));
        let body = json!({"model": "claude-opus-4-1", "messages": [
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "…", "signature": "EqQBCkgI"}]},
            {"role": "user", "content": "more"}]})
        .to_string();
        let r = a.route("claude", Dialect::Anthropic, &h, body.as_bytes(), c.now());
        assert!(r.bound.thinking_signature);
        // The reload lands while alice answers.
        a.set_policy(PinPolicy::default());
        a.served("claude", &r, "alice", true, c.now());
        let k = r.key.unwrap();
        assert_eq!(a.pins.conversation("claude", &k, c.now()), None);
        assert_eq!(
            a.sticky.peek("claude", &k, c.now()).as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn only_a_successful_turn_with_bound_state_pins_its_conversation() {
        let c = clock();
        let a = Affinity::default();
        let h = codex_headers();
        let plain = a.route("codex", Dialect::Openai, &h, &codex_body(false), c.now());
        a.served("codex", &plain, "alice", true, c.now());
        assert!(a.pins.is_empty(), "nothing bound: sticky only");
        let bound = a.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        // Bob answered with an error: the state is not his.
        a.served("codex", &bound, "bob", false, c.now());
        assert!(a.pins.is_empty(), "a failed answer pins nothing");
        a.served("codex", &bound, "alice", true, c.now());
        let k = bound.key.unwrap();
        assert_eq!(
            a.pins.conversation("codex", &k, c.now()).as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn pruning_drops_expired_assignments_and_pins_and_counts_both() {
        let c = clock();
        let a = Affinity::default();
        for id in ["s1", "s2"] {
            let k = ConversationKey::from_session(KeySource::Codex, id);
            a.sticky.assign("codex", &k, "alice", c.now());
        }
        a.pins.pin_response("codex", "resp_1", "alice", c.now());
        assert_eq!(a.prune(c.now()), 0, "nothing expired yet");
        // Past the sticky idle, within the pin idle: only the assignments go.
        c.advance(DEFAULT_IDLE);
        assert_eq!(a.prune(c.now()), 2);
        assert!(a.sticky.is_empty() && !a.pins.is_empty());
        a.sticky.assign(
            "codex",
            &ConversationKey::from_session(KeySource::Codex, "s3"),
            "bob",
            c.now(),
        );
        c.advance(DEFAULT_PIN_IDLE);
        assert_eq!(a.prune(c.now()), 2, "one assignment and one pin");
        assert!(a.sticky.is_empty() && a.pins.is_empty());
    }

    #[test]
    fn snapshot_survives_a_restart() {
        let c = clock();
        let a = Affinity::default();
        let h = codex_headers();
        let r = a.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        a.served("codex", &r, "alice", true, c.now());
        a.answered(
            "codex",
            "alice",
            br#"{"id":"resp_1","object":"response"}"#,
            c.now(),
        );
        let json = serde_json::to_string_pretty(&a.snapshot(c.now())).unwrap();
        let restarted = Affinity::default();
        let snap: AffinitySnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(restarted.restore(snap, c.now()), 3);
        let r = restarted.route("codex", Dialect::Openai, &h, &codex_body(true), c.now());
        assert_eq!(r.preferred.as_deref(), Some("alice"));
        assert_eq!(r.first_choice(), Some("alice"));
        assert_eq!(
            restarted
                .pins
                .response("codex", "resp_1", c.now())
                .as_deref(),
            Some("alice")
        );
        // Removing alice from the config forgets her assignments and pins.
        assert_eq!(restarted.retain(|_, account| account != "alice"), 3);
        assert!(restarted.sticky.is_empty() && restarted.pins.is_empty());
        assert_eq!(
            serde_json::from_str::<AffinitySnapshot>("{}").unwrap(),
            AffinitySnapshot::default()
        );
    }
}
